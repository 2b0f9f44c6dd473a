"""Full-reference image metrics: PSNR and two SSIM variants, batched and vectorised in torch.

Conventions (REFERENCE.md section 2; each function names the scikit-image call it reproduces):

- ``psnr``: ``skimage.metrics.peak_signal_noise_ratio(gt, pred, data_range=R)``, per image over
  all channels and pixels.
- ``ssim``: ``structural_similarity(gt, pred, channel_axis=2, data_range=R)``: 7x7 uniform
  window, K1=0.01, K2=0.03, sample covariance (N/(N-1), N=49), mean of the SSIM map over the
  valid region (a border of 3 px cropped) per channel, then averaged over channels. This is the
  convention of DMSHN/BRViT on EBB! Val294.
- ``ssim_gauss``: the same call with ``gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False``: the Wang et al. 2004 definition (11x11 Gaussian window,
  truncate 3.5 => radius 5, border of 5 px cropped), as in piq/torchmetrics/TensorFlow.

Inputs (``as_batch``): a torch tensor (B, C, H, W) or (C, H, W) (channel-first), or a numpy array
H x W x C or B x H x W x C (channel-last, e.g. an RGB uint8 image as read from disk); a 2-D
array or tensor is one grey image. Any dtype; values are compared as numbers in [0, data_range]
(nothing is rescaled). ``data_range`` is keyword-only and required: the metrics refuse to guess
it (255 for uint8 images, 1.0 for float images in [0, 1]).

Everything is computed in float64 by default, which matches scikit-image to ~1e-12. The
filters run only on the valid region: scikit-image filters the whole image (mode='reflect') and
then crops a border of the window radius, so boundary handling never reaches the mean.
The work is done in row strips so that temporaries stay in cache: vertical filtering is a banded
matrix product, horizontal filtering a sum of shifted slices. On the CPU the strips are shared
among ``torch.get_num_threads()`` Python threads while torch's intra-op thread count is set to 1
(restored afterwards, see ``bokeh.threads``; concurrent metric calls wait for each other): per-op
thread barriers made 2-thread torch up to 10x slower whenever another process used a core.

The metrics are not differentiable (they run under ``torch.no_grad``); use a loss module for
training.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bokeh.threads import single_threaded_torch, thread_budget

__all__ = [
    "as_batch",
    "lpips_available",
    "psnr",
    "as_batch_native",
    "ssim",
    "ssim_gauss",
]

K1 = 0.01
K2 = 0.03
UNIFORM_WIN = 7
GAUSS_SIGMA = 1.5
GAUSS_TRUNCATE = 3.5  # scikit-image's choice: radius int(3.5 * 1.5 + 0.5) = 5, an 11-tap window

# Elements per map and strip: 512 KiB of float64 keeps a CPU strip's temporaries in cache
# (measured best on 2 cores at 1024 x 1536). A GPU prefers few large launches.
_STRIP_ELEMENTS = 1 << 16
_STRIP_ELEMENTS_GPU = 1 << 24
_STRIP_ROWS = 16


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------


def shape_of(x: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in getattr(x, "shape", ()))


def as_batch_native(x: Any, name: str = "image") -> torch.Tensor:
    """Like :func:`as_batch` but keeps the dtype (uint8 stays uint8) to save memory."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
        if t.ndim == 2:
            t = t[None, None]
        elif t.ndim == 3:
            t = t[None]
        elif t.ndim != 4:
            raise ValueError(
                f"{name} must be a tensor of shape (B, C, H, W), (C, H, W) or (H, W); "
                f"got shape {shape_of(x)}."
            )
    elif isinstance(x, np.ndarray):
        if x.ndim == 2:
            a = x[None, :, :, None]
        elif x.ndim == 3:
            a = x[None]
        elif x.ndim == 4:
            a = x
        else:
            raise ValueError(
                f"{name} must be a numpy array of shape (H, W, C), (B, H, W, C) or (H, W); "
                f"got shape {shape_of(x)}."
            )
        if a.shape[-1] > 4:
            # numpy arrays are read channel-last; (3, H, W) would silently become W channels
            raise ValueError(
                f"{name}: numpy arrays are read as (H, W, C) or (B, H, W, C) with C <= 4; got "
                f"shape {shape_of(x)}. Pass a torch tensor for channel-first data."
            )
        if a.dtype == np.bool_ or a.dtype.kind not in "uif":
            raise ValueError(f"{name} must hold numbers; got numpy dtype {a.dtype}.")
        if a.dtype in (np.uint16, np.uint32, np.uint64):
            a = a.astype(np.int64)  # torch lacks full support for these unsigned types
        # channel-first copy in numpy: several times faster than a strided torch permute
        t = torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
    else:
        raise TypeError(
            f"{name} must be a torch.Tensor or a numpy.ndarray; got {type(x).__name__}."
        )
    if t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"{name} must hold real numbers; got dtype {t.dtype}.")
    return t


def as_batch(x: Any, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Convert an image or a batch of images to a (B, C, H, W) float tensor.

    Args:
        x: torch tensor (B, C, H, W), (C, H, W) or (H, W) (channel-first), or numpy array
            (H, W, C), (B, H, W, C) or (H, W) (channel-last, C <= 4), any real dtype.
            Values are kept as they are (a uint8 image stays in [0, 255]).
        dtype: floating dtype of the result.

    Returns:
        Tensor (B, C, H, W) of ``dtype`` on the input's device (CPU for numpy input).

    Raises:
        ValueError: on an unsupported number of dimensions or a non-numeric dtype.
        TypeError: if ``x`` is neither a tensor nor an array.
    """
    return as_batch_native(x).to(dtype)


def _check_data_range(data_range: Any) -> float:
    if isinstance(data_range, bool) or not isinstance(data_range, (int, float, np.number)):
        raise TypeError(f"data_range must be a number (e.g. 255 or 1.0); got {data_range!r}.")
    value = float(data_range)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"data_range must be a positive finite number; got {data_range!r}.")
    return value


def _check_dtype(dtype: torch.dtype) -> None:
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64; got {dtype}.")


def _pair(pred: Any, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
    p = as_batch_native(pred, "pred")
    t = as_batch_native(target, "target")
    if p.shape != t.shape:
        raise ValueError(
            "pred and target must have the same shape; got pred "
            f"{shape_of(pred)} and target {shape_of(target)}."
        )
    if p.device != t.device:
        raise ValueError(f"pred and target are on different devices ({p.device}, {t.device}).")
    return p, t


_THREADS_LOCK = threading.Lock()


def _run_parallel(run: Callable[[list], torch.Tensor], items: list, dev: torch.device):
    """``run(items)``, split over ``torch.get_num_threads()`` Python threads on the CPU.

    Each strip is small, so torch's own intra-op threads would meet at a barrier after every
    one of thousands of small ops, and one busy core then stalls them all. Whole strips per
    thread instead, with torch single-threaded meanwhile (ops release the GIL), through
    :func:`bokeh.threads.single_threaded_torch`, which the lens renderer also uses: the
    process-wide setting comes back whatever order such blocks close in.
    """
    workers = min(thread_budget(), len(items)) if dev.type == "cpu" else 1
    if workers <= 1:
        return run(items)
    with _THREADS_LOCK, single_threaded_torch(), ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(run, [items[i::workers] for i in range(workers)]))
    return torch.stack(parts).sum(dim=0)


# --------------------------------------------------------------------------------------------
# PSNR
# --------------------------------------------------------------------------------------------


def psnr(
    pred: Any, target: Any, *, data_range: float, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, in dB.

    ``10 * log10(data_range**2 / MSE)`` with the MSE over all channels and pixels of each image;
    equal to ``skimage.metrics.peak_signal_noise_ratio(target, pred, data_range=data_range)``.

    Args:
        pred, target: images of the same shape, see :func:`as_batch` (B, C, H, W) / (H, W, C)...
            Values in [0, data_range].
        data_range: the span of possible values (255 for uint8, 1.0 for float in [0, 1]).
            Keyword-only and required.
        dtype: computation dtype (float64 by default, float32 allowed).

    Returns:
        Tensor (B,) of ``dtype``, in dB. Identical images give ``+inf`` (zero error), with no
        warning.
    """
    dr = _check_data_range(data_range)
    _check_dtype(dtype)
    p, t = _pair(pred, target)
    with torch.no_grad():
        b = p.shape[0]
        x = p.reshape(b, -1)
        y = t.reshape(b, -1)
        size = x.shape[1]
        step = 2 * _STRIP_ELEMENTS  # chunks keep the float temporaries in cache
        items = [(j, i) for j in range(b) for i in range(0, size, step)]

        def run(part: list[tuple[int, int]]) -> torch.Tensor:
            sse = torch.zeros(b, dtype=dtype, device=p.device)
            for j, i in part:
                d = x[j, i : i + step].to(dtype, copy=True).sub_(y[j, i : i + step])
                sse[j] += torch.dot(d, d)
            return sse

        sse = _run_parallel(run, items, p.device) if items else x.new_zeros(b, dtype=dtype)
        return 10.0 * torch.log10(dr * dr / (sse / max(size, 1)))


# --------------------------------------------------------------------------------------------
# SSIM
# --------------------------------------------------------------------------------------------


def _uniform_taps(win: int) -> tuple[list[float], float]:
    """Taps of the box window and the covariance normalisation N/(N-1) (sample covariance)."""
    n = win * win
    return [1.0 / win] * win, n / (n - 1)


def _gauss_taps(sigma: float, truncate: float) -> tuple[list[float], float]:
    """Taps of scipy.ndimage.gaussian_filter's kernel (sum 1) and population covariance."""
    radius = int(truncate * sigma + 0.5)
    xs = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 / (sigma * sigma) * xs**2)
    w /= w.sum()
    return [float(v) for v in w], 1.0


class _Strip:
    """Work buffers for one strip of ``n`` images x ``r`` output rows x ``w`` columns; the
    filtering in ``mdtype``, the SSIM formula in ``dtype``."""

    def __init__(
        self, n: int, r: int, k: int, w: int, dtype: torch.dtype, mdtype: torch.dtype, dev
    ) -> None:
        wo = w - k + 1
        opts = {"dtype": mdtype, "device": dev}
        self.maps = torch.empty(4, n, r + k - 1, w, **opts)  # x, y, x^2 + y^2, x y
        self.vert = torch.empty(4, n, r, w, **opts)  # after the vertical pass
        self.horz = torch.empty(4, n, r, wo, **opts)  # after the horizontal pass
        self.pairs = torch.empty(4, n, r, w - 1, **opts)  # box window partial sums
        self.quads = torch.empty(4, n, r, w - 3, **opts)
        self.sums = torch.empty(4, n, r, wo, dtype=dtype, device=dev) if mdtype != dtype else None
        self.a1 = torch.empty(n, r, wo, dtype=dtype, device=dev)
        self.b1 = torch.empty(n, r, wo, dtype=dtype, device=dev)


def _filter_rows(v: torch.Tensor, taps: list[float], box: bool, st: _Strip) -> torch.Tensor:
    """Valid 1-D correlation of ``v`` (4, n, r, W) with ``taps`` along the last axis.

    Returns ``st.horz`` (4, n, r, W-k+1). For the box window the result is the plain window
    *sum* (the 1/k factor is folded into the vertical matrix); for k = 7 it takes 4 slice
    additions instead of 6.
    """
    k = len(taps)
    w = v.shape[-1]
    wo = w - k + 1
    out = st.horz
    if box and k == 7:
        p = torch.add(v[..., : w - 1], v[..., 1:], out=st.pairs)  # p[j] = v[j] + v[j+1]
        q = torch.add(p[..., : w - 3], p[..., 2:], out=st.quads)  # q[j] = v[j..j+3]
        torch.add(q[..., :wo], p[..., 4 : 4 + wo], out=out)  # v[j..j+5]
        return out.add_(v[..., 6 : 6 + wo])
    if box:
        out.copy_(v[..., :wo])
        for i in range(1, k):
            out.add_(v[..., i : i + wo])
        return out
    torch.mul(v[..., :wo], taps[0], out=out)
    for i in range(1, k):
        out.add_(v[..., i : i + wo], alpha=taps[i])
    return out


def _strips(
    n: int, ho: int, w: int, taps: list[float], *, box: bool, exact: bool, dtype: torch.dtype, dev
) -> tuple[int, torch.Tensor, list[tuple[int, int, int, int]]]:
    """(strip height, banded vertical matrix, work items (n0, n1, r0, rows)) for ``n`` maps of
    ``ho`` valid output rows and ``w`` columns."""
    k = len(taps)
    # Strip height (output rows): short strips keep the banded vertical matrix product from
    # multiplying mostly zeros (16 rows measured best on one CPU thread; with more threads,
    # twice that, as each op then also waits for the GIL). Images per chunk so that one map of
    # a strip has about `budget` elements.
    budget = _STRIP_ELEMENTS if dev.type == "cpu" else _STRIP_ELEMENTS_GPU
    if dev.type == "cpu":
        rows = min(ho, _STRIP_ROWS * (2 if thread_budget() > 1 else 1))
    else:
        rows = max(16, min(ho, budget // w))
    per_chunk = max(1, min(n, budget // (w * (rows + k - 1))))
    # Banded vertical matrix: out[j] = sum_i taps[i] * in[j + i]. For the box window it holds
    # 1/k^2 so that, with the horizontal window sums, the result is the window mean (or 1, for
    # exact sums).
    vert = torch.zeros(rows, rows + k - 1, dtype=dtype, device=dev)
    for i, tap in enumerate(taps):
        vert.diagonal(i).fill_((1.0 if exact else 1.0 / (k * k)) if box else tap)
    items = [
        (n0, min(n, n0 + per_chunk), r0, min(rows, ho - r0))
        for n0 in range(0, n, per_chunk)
        for r0 in range(0, ho, rows)
    ]
    return rows, vert, items


def _filtering(
    p: torch.Tensor, t: torch.Tensor, *, box: bool, dtype: torch.dtype
) -> tuple[bool, float, torch.dtype]:
    """(exact, shift, filtering dtype) of :func:`_ssim_core`.

    uint8 images under the box window: the window sums of x, y, x^2 + y^2 and x y are integers
    below 2^24, exact in float32 whatever the order of the additions (``exact``); only the
    formula needs ``dtype``. Under the Gaussian window they are filtered in float32 around 128
    (x - 128, y - 128: second moments below 2^14, so variances keep ~1e-3 of a grey level
    squared) and moved back (:func:`_unshift`) before the formula in ``dtype``.
    """
    uint8 = p.dtype == torch.uint8 and t.dtype == torch.uint8 and dtype == torch.float64
    shift = 128.0 if uint8 and not box else 0.0
    return box and uint8, shift, torch.float32 if uint8 else dtype


def _unshift(ux, uy, uq, uxy, shift: float) -> None:
    """In place: local moments of ``x - shift``, ``y - shift`` to those of x and y."""
    uq.add_(ux + uy, alpha=2.0 * shift).add_(2.0 * shift * shift)
    uxy.add_(ux + uy, alpha=shift).add_(shift * shift)
    ux.add_(shift)
    uy.add_(shift)


def _ssim_core(
    p: torch.Tensor,
    t: torch.Tensor,
    *,
    taps: list[float],
    cov_norm: float,
    box: bool,
    data_range: float,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Mean SSIM over the valid region, per image, averaged over channels -> (B,)."""
    b, c, h, w = p.shape
    k = len(taps)
    if h < k or w < k:
        raise ValueError(
            f"images must be at least {k}x{k} pixels for this SSIM window; got {h}x{w} (H x W)."
        )
    n = b * c
    ho, wo = h - k + 1, w - k + 1
    dev = p.device
    if n == 0:
        return torch.zeros(0, dtype=dtype, device=dev)
    x = p.reshape(n, h, w)
    y = t.reshape(n, h, w)

    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    c1_t = torch.tensor(c1, dtype=dtype, device=dev)
    # With A1 = 2 ux uy + C1 and B1 = ux^2 + uy^2 + C1 (cov = cov_norm):
    #   A2 = 2 cov (E[xy] - ux uy) + C2   = 2 cov (E[xy] - A1 / 2 + a_shift)
    #   B2 = cov (E[x^2 + y^2] - ux^2 - uy^2) + C2 = cov (E[x^2 + y^2] - B1 + b_shift)
    # so S = A1 A2 / (B1 B2) = 2 * A1 (...) / (B1 (...)): cov cancels and each costs 2 ops.
    a_shift = 0.5 * c1 + 0.5 * c2 / cov_norm
    b_shift = c1 + c2 / cov_norm

    exact, shift, mdtype = _filtering(p, t, box=box, dtype=dtype)
    scale = 1.0 / (k * k) if exact else 1.0

    rows, vert, items = _strips(n, ho, w, taps, box=box, exact=exact, dtype=mdtype, dev=dev)

    def run(part: list[tuple[int, int, int, int]]) -> torch.Tensor:
        """Sum of the SSIM-map numerators/2 over the strips in ``part``, per channel map."""
        total = torch.zeros(n, dtype=torch.float64, device=dev)
        strips: dict[tuple[int, int], _Strip] = {}
        for n0, n1, r0, r in part:
            hi = r + k - 1
            st = strips.get((n1 - n0, r))
            if st is None:
                st = strips[(n1 - n0, r)] = _Strip(n1 - n0, r, k, w, dtype, mdtype, dev)
            xs, ys, sq, xy = st.maps.unbind(0)
            xs.copy_(x[n0:n1, r0 : r0 + hi])
            ys.copy_(y[n0:n1, r0 : r0 + hi])
            if shift:
                xs.sub_(shift)
                ys.sub_(shift)
            torch.mul(xs, xs, out=sq).addcmul_(ys, ys)  # x^2 + y^2: only vx + vy is needed
            torch.mul(xs, ys, out=xy)

            v = torch.matmul(vert if r == rows else vert[:r, :hi], st.maps, out=st.vert)
            f = _filter_rows(v, taps, box, st)  # local means (or sums)
            ux, uy, uq, uxy = (f if st.sums is None else st.sums.copy_(f)).unbind(0)
            if shift:
                _unshift(ux, uy, uq, uxy, shift)
            a1 = torch.addcmul(c1_t, ux, uy, value=2.0 * scale * scale, out=st.a1)
            b1 = torch.addcmul(c1_t, ux, ux, value=scale * scale, out=st.b1)
            b1.addcmul_(uy, uy, value=scale * scale)
            if scale != 1.0:
                uxy.mul_(scale)
                uq.mul_(scale)
            a2 = uxy.sub_(a1, alpha=0.5).add_(a_shift)
            b2 = uq.sub_(b1).add_(b_shift)
            s = a1.mul_(a2).div_(b1.mul_(b2))
            total[n0:n1] += s.sum(dim=(1, 2), dtype=torch.float64)
        return total

    total = _run_parallel(run, items, dev)
    return (2.0 * total / (ho * wo)).view(b, c).mean(dim=1).to(dtype)


def ssim(
    pred: Any, target: Any, *, data_range: float, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Structural similarity with scikit-image's default window, per image.

    Equal to ``skimage.metrics.structural_similarity(target, pred, channel_axis=2,
    data_range=data_range)`` for each image: 7x7 uniform window, K1=0.01, K2=0.03, sample
    covariance (49/48), SSIM map averaged over the valid region (border of 3 px cropped) of each
    channel, then over channels. Symmetric in ``pred`` and ``target``.

    Args:
        pred, target: images of the same shape, at least 7x7, see :func:`as_batch`
            ((B, C, H, W) / (C, H, W) tensors, (H, W, C) / (B, H, W, C) numpy arrays).
            Values in [0, data_range].
        data_range: span of possible values (255 for uint8). Keyword-only and required.
        dtype: computation dtype (float64 by default; float32 is faster but not exact).

    Returns:
        Tensor (B,) of ``dtype``, values in [-1, 1]; identical images give 1.

    Raises:
        ValueError: shapes differ, an image is smaller than 7x7, or data_range is not positive.
        TypeError: data_range missing or not a number.
    """
    dr = _check_data_range(data_range)
    _check_dtype(dtype)
    p, t = _pair(pred, target)
    taps, cov = _uniform_taps(UNIFORM_WIN)
    with torch.no_grad():
        return _ssim_core(p, t, taps=taps, cov_norm=cov, box=True, data_range=dr, dtype=dtype)


def ssim_gauss(
    pred: Any, target: Any, *, data_range: float, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Structural similarity of Wang et al. (Gaussian window), per image.

    Equal to ``skimage.metrics.structural_similarity(target, pred, channel_axis=2,
    data_range=data_range, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``:
    11x11 Gaussian window (sigma 1.5, truncated at 3.5 sigma => radius 5), population
    covariance, SSIM map averaged over the valid region (border of 5 px cropped) of each
    channel, then over channels. Symmetric in ``pred`` and ``target``.

    Args:
        pred, target: images of the same shape, at least 11x11, see :func:`as_batch`.
            Values in [0, data_range].
        data_range: span of possible values (255 for uint8). Keyword-only and required.
        dtype: computation dtype (float64 by default).

    Returns:
        Tensor (B,) of ``dtype``, values in [-1, 1]; identical images give 1.

    Raises:
        ValueError: shapes differ, an image is smaller than 11x11, or data_range is not positive.
        TypeError: data_range missing or not a number.
    """
    dr = _check_data_range(data_range)
    _check_dtype(dtype)
    p, t = _pair(pred, target)
    taps, cov = _gauss_taps(GAUSS_SIGMA, GAUSS_TRUNCATE)
    with torch.no_grad():
        return _ssim_core(p, t, taps=taps, cov_norm=cov, box=False, data_range=dr, dtype=dtype)


# --------------------------------------------------------------------------------------------
# LPIPS availability (no dependency, no download)
# --------------------------------------------------------------------------------------------


def lpips_available() -> bool:
    """True only if LPIPS (AlexNet) can run offline here.

    Requires the ``lpips`` package, its linear-layer weights (``weights/v0.1/alex.pth`` inside
    the package) and torchvision's AlexNet checkpoint already in the torch hub cache
    (``torch.hub.get_dir()/checkpoints/alexnet-*.pth``). Nothing is imported from ``lpips`` and
    nothing is downloaded; otherwise the LPIPS column is shown as n/a.
    """
    try:
        spec = importlib.util.find_spec("lpips")
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    pkg = Path(next(iter(spec.submodule_search_locations)))
    if not (pkg / "weights" / "v0.1" / "alex.pth").is_file():
        return False
    ckpt_dir = Path(torch.hub.get_dir()) / "checkpoints"  # honours TORCH_HOME
    return ckpt_dir.is_dir() and any(ckpt_dir.glob("alexnet-*.pth"))

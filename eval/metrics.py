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

Everything is computed in float64 by default, which matches scikit-image to ~1e-12, except
where float32 is exact or nearly so: uint8 images' box-window sums are exact integers in float32,
and their Gaussian SSIM runs in float32 on x and y moved by each channel's mean level (within
1e-7 of float64 on photos, 5e-5 at worst seen; see :mod:`eval.ssim_strips`). The filters run
only on the valid region: scikit-image filters the whole image (mode='reflect') and then crops a border of the window radius, so boundary handling
never reaches the mean. The work is done in row strips so that temporaries stay in cache
(:mod:`eval.ssim_strips`; uint8 images on the CPU, what scoring reads from disk, take the same
computation as compiled loops, :mod:`eval.ssim_native`, whose strips run on as many threads
without holding the GIL). On the CPU the strips are shared among ``torch.get_num_threads()``
Python threads while torch's intra-op thread count is set to 1 (restored afterwards, see
``bokeh.threads``; concurrent metric calls wait for each other): per-op thread barriers made
2-thread torch up to 10x slower whenever another process used a core.

The metrics are not differentiable (they run under ``torch.no_grad``, their strips under
``torch.inference_mode``; the results are ordinary tensors); use a loss module for training.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bokeh.threads import thread_budget
from eval import ssim_native, ssim_strips
from eval.ssim_strips import run_parallel

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
_PSNR_CHUNK = 1 << 17  # elements per PSNR chunk: 1 MiB of float64 temporaries


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
        if p.device.type == "cpu" and p.dtype == t.dtype == torch.uint8:  # exact, compiled
            sse = ssim_native.squared_error_uint8(x.contiguous().numpy(), y.contiguous().numpy(),
                                                  threads=thread_budget())  # fmt: skip
            mse = torch.from_numpy(sse).to(dtype) / max(size, 1)
            return 10.0 * torch.log10(dr * dr / mse)
        step = _PSNR_CHUNK  # chunks keep the float temporaries in cache
        items = [(j, i) for j in range(b) for i in range(0, size, step)]

        def make_work():
            def work(item: tuple[int, int]) -> float:
                j, i = item
                d = x[j, i : i + step].to(dtype, copy=True).sub_(y[j, i : i + step])
                return float(torch.dot(d, d))

            return work

        sums = [0.0] * b
        for (j, _), part in zip(items, run_parallel(make_work, items, p.device), strict=True):
            sums[j] += part  # in a fixed order: the same result whatever the threads
        sse = torch.tensor(sums, dtype=dtype, device=p.device)
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
    if n == 0:
        return torch.zeros(0, dtype=dtype, device=p.device)
    x = p.reshape(n, h, w)
    y = t.reshape(n, h, w)
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    if x.device.type == "cpu" and x.dtype == torch.uint8 and y.dtype == torch.uint8:
        sums = ssim_native.ssim_sums_uint8(x.numpy(), y.numpy(), taps=taps, box=box,
                                           cov_norm=cov_norm, c1=c1, c2=c2,
                                           threads=thread_budget())  # fmt: skip
        total = torch.from_numpy(sums)
    else:
        how = ssim_strips.plan(x, y, taps=taps, box=box, cov_norm=cov_norm, c1=c1, c2=c2,
                               dtype=dtype)  # fmt: skip
        total = ssim_strips.ssim_sums(x, y, how)
    return (total / ((h - k + 1) * (w - k + 1))).view(b, c).mean(dim=1).to(dtype)


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
        dtype: computation dtype (float64 by default). uint8 images are filtered and scored
            in float32 around each channel's mean level whatever ``dtype`` (see the module
            docstring for how close that stays to float64).

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

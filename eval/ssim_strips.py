"""The strip engine behind :func:`eval.metrics.ssim` and :func:`eval.metrics.ssim_gauss`.

The SSIM map is summed over the valid region of each channel map, a strip of rows at a time, so
that no whole-image temporary is ever made (on a shared CPU the whole-image ops were bound by
memory bandwidth). Per strip: the four maps x, y, (x - y)^2 and x y in one stacked buffer, a
vertical pass as one banded matrix product, a horizontal pass (box: four shifted additions;
Gaussian: matrix products over blocks of 16 columns, in under half the time of eleven shifted
multiply-adds), then the SSIM formula.

Precision paths (:func:`plan`):

- uint8 images under the box window: the window *sums* of x, y, (x - y)^2 and x y are integers
  below 2^24, exact in float32; the formula then runs in ``dtype`` (float64 by default), so
  the result equals scikit-image to ~1e-12.
- uint8 images under the Gaussian window: x - sx and y - sy (sx, sy: each channel's mean level,
  rounded) are filtered in float32, with taps that sum to exactly 1, and the formula runs on
  these shifted moments in float32 too (variances and covariance are shift-invariant; only the
  means are moved back). float32 rounds a variance by ~1e-7 of the local squared mean (of the
  shifted values), against C2 = 58.5 for uint8: measured within 3e-7 of scikit-image on
  constant images of every pair of levels and within 1e-7 on photos; images made of large flat
  areas of distant levels are the worst case (up to 5e-5 seen on two-level images, as with the
  earlier float32 filtering around 128).
- any other input: filtering and formula in ``dtype``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from bokeh.threads import single_threaded_torch, thread_budget

# Elements per map and strip on the CPU: the three channels of 16 rows at 1536 columns (a tenth
# faster than one channel per strip: a third of the ops, each still in L3); a GPU prefers few
# large launches.
STRIP_ELEMENTS = 1 << 17
STRIP_ELEMENTS_GPU = 1 << 24
STRIP_ROWS = 16
# Output columns per block of the horizontal matrix product (measured best of 8..32 on a CPU).
BLOCK = 16

_THREADS_LOCK = threading.Lock()
T = TypeVar("T")


class _Shared:
    """One iterator drawn from by several threads."""

    def __init__(self, n: int) -> None:
        self._it = iter(range(n))
        self._lock = threading.Lock()

    def __iter__(self) -> _Shared:
        return self

    def __next__(self) -> int:
        with self._lock:
            return next(self._it)


def run_parallel(
    make_work: Callable[[], Callable[[Any], T]], items: list, dev: torch.device
) -> list[T]:
    """``[work(item) for item in items]``, over ``torch.get_num_threads()`` Python threads on
    the CPU, each with its own ``work = make_work()`` (its buffers), under inference_mode.

    Each item is small, so torch's own intra-op threads would meet at a barrier after every
    one of thousands of small ops, and one busy core then stalls them all. Whole items per
    thread instead, with torch single-threaded meanwhile (ops release the GIL), through
    :func:`bokeh.threads.single_threaded_torch`, which the lens renderer also uses: the
    process-wide setting comes back whatever order such blocks close in. Threads take the
    next item when done with one, so a thread slowed by another process (a shared machine)
    takes fewer, instead of every other thread waiting for its fixed share. The results come
    back in the items' order, whoever computed them.
    """
    results: list = [None] * len(items)

    @torch.inference_mode()  # per thread; a fifth less dispatch overhead than no_grad
    def drain(indices) -> None:
        work = make_work()
        for i in indices:
            results[i] = work(items[i])

    workers = min(thread_budget(), len(items)) if dev.type == "cpu" else 1
    if workers <= 1:
        drain(range(len(items)))
        return results
    shared = _Shared(len(items))
    with _THREADS_LOCK, single_threaded_torch(), ThreadPoolExecutor(workers) as pool:
        for done in [pool.submit(drain, shared) for _ in range(workers)]:
            done.result()
    return results


@dataclass(frozen=True)
class Plan:
    """How one SSIM call is computed (see the module docstring); built by :func:`plan`."""

    taps: tuple[float, ...]
    box: bool  # all taps equal: window sums by additions (k = 7) and a 0/1 vertical matrix
    # (2, n, 1, 1) float32: subtracted from each map of x (first) and y before filtering
    shifts: torch.Tensor | None
    mdtype: torch.dtype  # filtering dtype
    tdtype: torch.dtype  # dtype of the SSIM formula
    scale: float  # filtered value -> local mean (1/k^2 for exact window sums)
    cov_norm: float  # N/(N-1) for the sample covariance, 1 for the population one
    c1: float
    c2: float
    rows: int  # output rows per strip
    per_chunk: int  # channel maps per strip
    block: int  # output columns per horizontal block product; 0: shifted additions
    vert: torch.Tensor  # (rows, rows + k - 1) banded vertical matrix
    # The (block + k - 1, block) banded horizontal matrix as its first `block` rows and the rest
    horz: tuple[torch.Tensor, torch.Tensor] | None

    @property
    def k(self) -> int:
        return len(self.taps)


def plan(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    taps: list[float],
    box: bool,
    cov_norm: float,
    c1: float,
    c2: float,
    dtype: torch.dtype,
) -> Plan:
    """The :class:`Plan` for maps ``x``, ``y`` of shape (n, H, W), H and W at least len(taps)."""
    n, h, w = x.shape
    k = len(taps)
    uint8 = x.dtype == torch.uint8 and y.dtype == torch.uint8
    exact = box and uint8  # window sums of integers below 2^24: exact in float32
    mdtype = torch.float32 if uint8 else dtype
    tdtype = torch.float32 if uint8 and not box else dtype
    dev = x.device
    # Strip height: short strips keep the banded vertical product from multiplying mostly
    # zeros (also with two threads: 32 rows measured slower). Maps per strip so that one map
    # of a strip has about `budget` elements.
    budget = STRIP_ELEMENTS if dev.type == "cpu" else STRIP_ELEMENTS_GPU
    ho = h - k + 1
    rows = min(ho, STRIP_ROWS) if dev.type == "cpu" else max(16, min(ho, budget // w))
    per_chunk = max(1, min(n, budget // (w * (rows + k - 1))))
    if not box and mdtype == torch.float32:
        taps = unit_sum_taps(taps)
    # Box window: the horizontal pass makes window sums; the vertical matrix holds 1 for exact
    # sums (scaled to means in the formula) or 1/k^2 (means straight away).
    vtaps = [1.0 if exact else 1.0 / (k * k)] * k if box else taps
    vert = torch.zeros(rows, rows + k - 1, dtype=mdtype, device=dev)
    for i, tap in enumerate(vtaps):  # out[j] = sum_i taps[i] in[j + i]
        vert.diagonal(i).fill_(tap)
    block = 0 if box and k == 7 else max(BLOCK, k - 1)
    horz = None
    if block:
        horz = torch.zeros(block + k - 1, block, dtype=mdtype, device=dev)
        for i, tap in enumerate(taps):  # out[j] = sum_i taps[i] in[j + i]
            horz.diagonal(-i).fill_(1.0 if box else tap)
        horz = (horz[:block].contiguous(), horz[block:].contiguous())
    return Plan(
        taps=tuple(taps),
        box=box,
        shifts=mean_levels(x, y) if uint8 and not box else None,
        mdtype=mdtype,
        tdtype=tdtype,
        scale=1.0 / (k * k) if exact else 1.0,
        cov_norm=cov_norm,
        c1=c1,
        c2=c2,
        rows=rows,
        per_chunk=per_chunk,
        block=block,
        vert=vert,
        horz=horz,
    )


def mean_levels(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(2, n, 1, 1) float32: about the mean of each uint8 map of ``x`` and ``y`` (n, H, W), from
    every 8th row and column, rounded to an integer (so that x - level stays exact in float32;
    any level is correct, one near the values keeps float32's rounding small)."""
    means = [a[:, ::8, ::8].to(torch.float64).mean(dim=(1, 2)) for a in (x, y)]
    return torch.stack(means).round_().float().view(2, -1, 1, 1)


def unit_sum_taps(taps: list[float]) -> list[float]:
    """``taps`` (summing to 1) on a grid of 2^-25, the largest made up so that they sum to 1
    exactly: each is a float32, and a constant image keeps its value through the filter but for
    rounding (a float32 sum off by 1e-7 would move a variance by 1e-7 of the squared mean)."""
    grid = float(1 << 25)
    q = [round(t * grid) for t in taps]
    q[max(range(len(q)), key=q.__getitem__)] += int(grid) - sum(q)
    return [v / grid for v in q]


class Strip:
    """Work buffers, and every view of them that a strip uses, for ``n`` maps x ``r`` output
    rows of ``w``-column images (made once per shape and reused strip after strip)."""

    def __init__(self, p: Plan, n: int, r: int, w: int, dev: torch.device) -> None:
        k, hi = p.k, r + p.k - 1
        self.valid = w - k + 1  # valid output columns
        nb = -(-w // p.block) if p.block else 0
        wp = nb * p.block if p.block else w  # >= w; the extra columns stay zero
        opts = {"dtype": p.mdtype, "device": dev}
        self.maps = torch.zeros(4, n, hi, wp, **opts)  # x, y, (x - y)^2, x y
        self.xs, self.ys, self.dd, self.xy = self.maps.unbind(0)
        self.x_in, self.y_in = self.xs[..., :w], self.ys[..., :w]
        self.vmat = p.vert if r == p.rows else p.vert[:r, :hi]
        if p.block:
            # Rows of `block` columns, each followed in memory by the next (a block more at the
            # end): output block i = blocks[i] @ horz[0] + blocks[i + 1][:k - 1] @ horz[1]. The
            # last block of an image row reads the next row, but only for outputs past the
            # valid width. No copy: both operands are plain strided matrices.
            m = 4 * n * r * nb
            flat = torch.zeros((m + 1) * p.block, **opts)
            self.vout = flat[: m * p.block].view(4, n, r, wp)
            self.blocks = flat[: m * p.block].view(m, p.block)
            self.next_blocks = flat[p.block :].view(m, p.block)[:, : k - 1]
            self.hout = torch.empty(m, p.block, **opts)
            self.f = self.hout.view(4, n, r, wp)
        else:  # k = 7 window sums: pairs, quadruples, then 4 + 2 + 1
            self.vout = v = torch.empty(4, n, r, wp, **opts)
            self.pairs = torch.empty(4, n, r, w - 1, **opts)
            self.quads = torch.empty(4, n, r, w - 3, **opts)
            self.f = torch.empty(4, n, r, self.valid, **opts)
            self.adds = (
                (v[..., : w - 1], v[..., 1:], self.pairs),
                (self.pairs[..., : w - 3], self.pairs[..., 2:], self.quads),
                (self.quads[..., : self.valid], self.pairs[..., 4 : 4 + self.valid], self.f),
            )
            self.last = v[..., 6 : 6 + self.valid]
        width = self.f.shape[-1]
        topts = {"dtype": p.tdtype, "device": dev}
        # the formula works in place on the filtered maps, or on a copy in `tdtype`
        same = p.tdtype == p.mdtype
        self.t = self.f if same else torch.empty(4, n, r, width, **topts)
        self.means = self.t[:2]
        self.c1 = torch.tensor(p.c1 / (p.scale * p.scale), **topts)
        self.mx, self.my, self.ed, self.exy = self.t.unbind(0)
        self.a1 = torch.empty(n, r, width, **topts)
        self.b1 = torch.empty(n, r, width, **topts)


def _moments(
    st: Strip, p: Plan, xsrc: torch.Tensor, ysrc: torch.Tensor, shift: torch.Tensor | None
) -> None:
    """Fill ``st.f`` (4, n, r, width) with the filtered x, y, (x - y)^2 and x y of the strip
    whose input rows are ``xsrc``, ``ysrc`` (n, r + k - 1, w)."""
    if shift is not None:  # uint8 - float32 is computed in float32
        torch.sub(xsrc, shift[0], out=st.x_in)
        torch.sub(ysrc, shift[1], out=st.y_in)
    else:
        st.x_in.copy_(xsrc)
        st.y_in.copy_(ysrc)
    torch.sub(st.xs, st.ys, out=st.dd).mul_(st.dd)
    torch.mul(st.xs, st.ys, out=st.xy)
    torch.matmul(st.vmat, st.maps, out=st.vout)
    if p.block:
        torch.mm(st.blocks, p.horz[0], out=st.hout).addmm_(st.next_blocks, p.horz[1])
        return
    for a, b, out in st.adds:
        torch.add(a, b, out=out)
    st.f.add_(st.last)


def _half_ssim(st: Strip, p: Plan, shift: torch.Tensor | None) -> torch.Tensor:
    """Half the SSIM map of the strip, (n, r, width), from ``st.f``.

    With local means ux, uy, E[xy] and E[(x - y)^2] (cov = cov_norm):
    A1 = 2 ux uy + C1, B1 = ux^2 + uy^2 + C1 = A1 + (ux - uy)^2,
    A2 = 2 cov (E[xy] - ux uy) + C2 = 2 cov a2, B2 = cov (vx + vy) + C2 = cov b2 with
    b2 = 2 a2 + E[(x - y)^2] - (ux - uy)^2, and S = A1 A2 / (B1 B2) = 2 A1 a2 / (B1 b2).
    Window sums (g = k^2 values, the exact path) are g times the means: the same formulas with
    C1 g^2 and C2 g, and a1, b1 g^2 times, a2, b2 g times the above. Identical images give
    exactly 1 (the difference terms are exact zeros). With shifts the moments are those of
    x - sx, y - sy: a2 and b2 are shift-invariant, A1 and B1 are not.
    """
    if st.t is not st.f:
        st.t.copy_(st.f)
    g = 1.0 / p.scale
    dm = torch.sub(st.mx, st.my, out=st.b1)
    a2 = st.exy.addcmul_(st.mx, st.my, value=-1.0 / g).add_(0.5 * g * p.c2 / p.cov_norm)
    b2 = st.ed.add_(a2, alpha=2.0).addcmul_(dm, dm, value=-1.0 / g)
    if shift is not None:  # back to the means of x and y
        st.means.add_(shift)
        dm = torch.sub(st.mx, st.my, out=st.b1)
    a1 = torch.addcmul(st.c1, st.mx, st.my, value=2.0, out=st.a1)
    b1 = torch.addcmul(a1, dm, dm, out=st.b1)
    return a1.mul_(a2).div_(b1.mul_(b2))


def ssim_sums(x: torch.Tensor, y: torch.Tensor, p: Plan) -> torch.Tensor:
    """Sum of the SSIM map over the valid region of each map of ``x``, ``y`` (n, H, W), in
    float64, shape (n,)."""
    n, h, w = x.shape
    k, rows, dev = p.k, p.rows, x.device
    ho = h - k + 1
    items = [
        (n0, min(n, n0 + p.per_chunk), r0, min(rows, ho - r0))
        for n0 in range(0, n, p.per_chunk)
        for r0 in range(0, ho, rows)
    ]

    def make_work() -> Callable[[tuple[int, int, int, int]], list[float]]:
        strips: dict[tuple[int, int], Strip] = {}  # this thread's buffers, by shape

        def work(item: tuple[int, int, int, int]) -> list[float]:
            n0, n1, r0, r = item
            st = strips.get((n1 - n0, r))
            if st is None:
                st = strips[(n1 - n0, r)] = Strip(p, n1 - n0, r, w, dev)
            shift = None if p.shifts is None else p.shifts[:, n0:n1]
            _moments(st, p, x[n0:n1, r0 : r0 + r + k - 1], y[n0:n1, r0 : r0 + r + k - 1], shift)
            s = _half_ssim(st, p, shift)
            # rows summed in the formula's dtype (1.5k values, pairwise), the rows in float64
            return s[..., : st.valid].sum(dim=-1).sum(dim=-1, dtype=torch.float64).tolist()

        return work

    total = [0.0] * n
    for (n0, _, _, _), sums in zip(items, run_parallel(make_work, items, dev), strict=True):
        for i, v in enumerate(sums):  # in a fixed order: the same result whatever the threads
            total[n0 + i] += v
    return 2.0 * torch.tensor(total, dtype=torch.float64, device=dev)

"""SSIM of uint8 images on the CPU as compiled loops (numba, ``nogil``): one pass per strip of
rows, every map in cache, strips shared among Python threads without the GIL. Also PSNR's sum of
squared errors of uint8 images (:func:`squared_error_uint8`), as exact integers.

:mod:`eval.ssim_strips` runs the same computation as some twenty torch ops per strip; on the
CPU their dispatch holds the GIL often enough that two threads gained a fifth at most. Here a
strip is one call that releases the GIL.

What is computed is :func:`eval.ssim_strips.ssim_sums`' sum of the SSIM map over the valid
region of each map, from the filtered x, y, (x - y)^2 and x y (see ``_half_ssim`` there for the
formula), with:

- the 7x7 box window: exact window sums of integers in float32 (below 2^24), a running sum down
  the rows and seven additions across; the formula in float64;
- the Gaussian window: separable float32 taps (summing to exactly 1) over x and y shifted by
  an integer level near each map's mean (so that float32 keeps the variances), the formula in
  float64.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from bokeh.rowbands import Workers
from eval.ssim_strips import mean_levels, unit_sum_taps

STRIP_ROWS = 32  # output rows per work item
SSE_CHUNK = 1 << 20  # values per work item of the squared error sum


@njit(nogil=True, cache=True)
def _sse(x, y):  # pragma: no cover (compiled)
    """Sum of (x - y)^2 over 1-D uint8 ``x``, ``y``: int64, exact. (Indices from 0 to the
    length, in int64: a loop from i0 to i1, or in int32, ran 8 times slower, unvectorised.)"""
    total = np.int64(0)
    for i in range(x.shape[0]):
        d = np.int64(x[i]) - np.int64(y[i])
        total += d * d
    return total


def squared_error_uint8(x: np.ndarray, y: np.ndarray, *, threads: int) -> np.ndarray:
    """Sum of squared differences of each image of uint8 ``x``, ``y`` (n, ...), C-contiguous:
    (n,) int64, exact (the same on any number of ``threads``)."""
    n = x.shape[0]
    x, y = x.reshape(n, -1), y.reshape(n, -1)
    size = x.shape[1]
    items = [(i, a, min(a + SSE_CHUNK, size)) for i in range(n) for a in range(0, size, SSE_CHUNK)]

    def work(item: tuple[int, int, int]) -> int:
        i, a, b = item
        return _sse(x[i, a:b], y[i, a:b])

    return _per_image(work, items, n, threads, np.int64)


def _per_image(work, items: list[tuple[int, int, int]], n: int, threads: int, dtype) -> np.ndarray:
    """(n,) sums of ``work(item)`` over the (image, start, stop) ``items`` of each image, the
    items shared among ``threads`` and added in a fixed order (the same on any threads)."""
    with Workers(threads) as workers:
        parts = workers.map(work, items)
    total = np.zeros(n, dtype)
    for (i, _, _), part in zip(items, parts, strict=True):
        total[i] += part
    return total


# error_model="numpy": a division does not check for zero (the denominators here are never 0),
# so the SSIM formula's loop vectorises (a third of the box window's strip time).
@njit(nogil=True, cache=True, fastmath=True, error_model="numpy")
def _strip_sum(x, y, taps, box, sx, sy, c1, c2, cov_norm, r0, r1):  # pragma: no cover
    """Sum of half the SSIM map over output rows r0..r1 (all valid columns) of one (H, W)
    uint8 pair ``x``, ``y``: float64."""
    h, w = x.shape
    k = taps.shape[0]
    wo = w - k + 1
    g = np.float64(k * k) if box else 1.0  # window sums (box) or means
    rows = np.zeros((k, 4, w), np.float32)  # the maps of the last k input rows (a ring)
    vert = np.zeros((4, w), np.float32)
    horz = np.zeros((4, wo), np.float32)
    total = 0.0
    c1g, half_c2 = c1 * g * g, 0.5 * g * c2 / cov_norm
    fx, fy = np.float32(sx), np.float32(sy)
    for j in range(r0, r1 + k - 1):  # input rows
        slot = rows[j % k]
        xs, ys, dd, xy = slot[0], slot[1], slot[2], slot[3]
        for c in range(w):
            xs[c] = np.float32(x[j, c]) - fx
            ys[c] = np.float32(y[j, c]) - fy
        for c in range(w):
            dd[c] = (xs[c] - ys[c]) * (xs[c] - ys[c])
            xy[c] = xs[c] * ys[c]
        if j < r0 + k - 1 and not (box and j == r0 + k - 2):
            continue
        if box:  # running window sums down the rows (exact)
            if j == r0 + k - 2:  # the first k - 1 rows
                vert[:] = 0.0
                for i in range(r0, r0 + k - 1):
                    vert += rows[i % k]
                continue
            vert += slot
        else:
            for m in range(4):
                out = vert[m]
                src = rows[(j - k + 1) % k, m]
                for c in range(w):
                    out[c] = taps[0] * src[c]
                for i in range(1, k):  # row j - k + 1 + i has tap i
                    src = rows[(j - k + 1 + i) % k, m]
                    t = taps[i]
                    for c in range(w):
                        out[c] += t * src[c]
        for m in range(4):
            out, src = horz[m], vert[m]
            t = np.float32(1.0) if box else taps[0]
            for c in range(wo):
                out[c] = t * src[c]
            for i in range(1, k):
                t = np.float32(1.0) if box else taps[i]
                for c in range(wo):
                    out[c] += t * src[c + i]
        if box:  # drop the row that leaves the window
            vert -= rows[(j - k + 1) % k]
        for c in range(wo):
            mx, my = np.float64(horz[0, c]), np.float64(horz[1, c])
            dm = mx - my
            a2 = np.float64(horz[3, c]) - mx * my / g + half_c2
            b2 = np.float64(horz[2, c]) + 2.0 * a2 - dm * dm / g
            mx += sx * g
            my += sy * g
            dm = mx - my
            a1 = 2.0 * mx * my + c1g
            total += a1 * a2 / ((a1 + dm * dm) * b2)
    return total


def ssim_sums_uint8(
    x: np.ndarray,
    y: np.ndarray,
    *,
    taps: list[float],
    box: bool,
    cov_norm: float,
    c1: float,
    c2: float,
    threads: int,
) -> np.ndarray:
    """Sum of the SSIM map over the valid region of each map of uint8 ``x``, ``y`` (n, H, W),
    H and W at least len(taps): (n,) float64, the same on any number of ``threads``.

    ``taps``: the 1-D window (all equal for the box window, whose sums are then exact).
    """
    n, h, w = x.shape
    k = len(taps)
    # Gaussian: float32 taps summing to exactly 1, maps shifted by an integer near their mean
    tap32 = np.asarray(taps if box else unit_sum_taps(taps), np.float32)
    if box:
        levels = np.zeros((2, n))
    else:
        levels = mean_levels(torch.from_numpy(x), torch.from_numpy(y)).double().numpy()[..., 0, 0]
    ho = h - k + 1
    items = [(i, r, min(r + STRIP_ROWS, ho)) for i in range(n) for r in range(0, ho, STRIP_ROWS)]

    def work(item: tuple[int, int, int]) -> float:
        i, r0, r1 = item
        return _strip_sum(x[i], y[i], tap32, box, float(levels[0, i]), float(levels[1, i]),
                          c1, c2, cov_norm, r0, r1)  # fmt: skip

    return 2.0 * _per_image(work, items, n, threads, np.float64)

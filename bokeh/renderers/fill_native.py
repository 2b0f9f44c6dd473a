"""Compiled loops of the lens renderer's fill (numba, ``nogil``; compiled on first use and cached
on disk): where the background is hidden behind blurred foreground, its colour is extrapolated
from the visible background nearby (:func:`bokeh.renderers.lens._finish`).

- :func:`area_mean`: the accumulated background's s x s block means, a band of rows at a time;
- :func:`push_pull`: the push-pull extrapolation of that small image. In torch it was a dozen
  small ops per pyramid level, each a pass over the level; here each level is one pass;
- :func:`_upsampled_at`: where a pixel's fill comes from in it (bilinear, as ``F.interpolate``),
  computed only for the pixels that lack weight (:func:`fill_rows`, and
  :func:`bokeh.renderers.native.finish_rows`).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.typed import List


@njit(nogil=True, cache=True)
def area_mean(src, s, y0, y1, out):  # pragma: no cover (compiled)
    """Rows y0 // s .. y1 // s of ``out`` (C, H // s, W // s): the means of the s x s blocks of
    (C, H, W) ``src`` (whole blocks only); y0 and y1 multiples of s."""
    c, w = out.shape[0], out.shape[2]
    scale = np.float32(1.0 / (s * s))
    acc = np.empty(w * s, np.float32)
    for ch in range(c):
        for oy in range(y0 // s, y1 // s):
            first = src[ch, oy * s, : w * s]
            for x in range(w * s):
                acc[x] = first[x]
            for dy in range(1, s):
                line = src[ch, oy * s + dy, : w * s]
                for x in range(w * s):
                    acc[x] += line[x]
            for ox in range(w):
                total = acc[ox * s]
                for dx in range(1, s):
                    total += acc[ox * s + dx]
                out[ch, oy, ox] = total * scale


@njit(nogil=True, cache=True)
def _pool2(src):  # pragma: no cover (compiled)
    """The 2 x 2 means of (C, h, w) ``src``, a last row or column of odd sizes on its own (the
    mean of what there is, as ``F.avg_pool2d(src, 2, ceil_mode=True)``)."""
    c, h, w = src.shape
    ho, wo = (h + 1) // 2, (w + 1) // 2
    out = np.empty((c, ho, wo), np.float32)
    for ch in range(c):
        for oy in range(ho):
            y1 = min(2 * oy + 2, h)
            for ox in range(wo):
                x1 = min(2 * ox + 2, w)
                total = np.float32(0.0)
                for y in range(2 * oy, y1):
                    for x in range(2 * ox, x1):
                        total += src[ch, y, x]
                out[ch, oy, ox] = total / np.float32((y1 - 2 * oy) * (x1 - 2 * ox))
    return out


@njit(nogil=True, cache=True, inline="always")
def _source(scale, i, n):  # pragma: no cover (compiled)
    """Bilinear source (first index, second index, weight of the second) of output index i
    (``align_corners=False``, as ``F.interpolate``), ``scale`` = input / output size."""
    pos = max(scale * (np.float32(i) + np.float32(0.5)) - np.float32(0.5), np.float32(0.0))
    first = int(pos)
    return first, min(first + 1, n - 1), pos - np.float32(first)


@njit(nogil=True, cache=True)
def push_pull(rgba):  # pragma: no cover (compiled)
    """Extrapolate premultiplied (4, H, W) float32 RGBA into a complete (3, H, W) colour image.

    Where alpha is 1 the colour is kept; where it is 0 the colour comes from ever coarser
    averages of the covered pixels nearby: a pyramid of 2 x 2 means down to 2 px or less;
    at its top, the normalised colour where alpha > 1e-6, else the mean colour; then, level
    by level, the level's own normalised colour trusted in proportion to its alpha (4 alpha,
    at most 1) over the bilinear upsampling of the coarser result.
    """
    pyramid = List()
    pyramid.append(rgba)
    while min(pyramid[-1].shape[1], pyramid[-1].shape[2]) > 2:
        pyramid.append(_pool2(pyramid[-1]))
    top = pyramid[-1]
    h, w = top.shape[1], top.shape[2]
    total = np.float32(0.0)
    sums = np.zeros(3, np.float32)
    for y in range(h):
        for x in range(w):
            total += top[3, y, x]
            for c in range(3):
                sums[c] += top[c, y, x]
    colour = np.empty((3, h, w), np.float32)
    tiny = np.float32(1e-6)
    for y in range(h):
        for x in range(w):
            a = top[3, y, x]
            for c in range(3):
                if a > tiny:
                    colour[c, y, x] = top[c, y, x] / max(a, tiny)
                else:
                    colour[c, y, x] = sums[c] / total if total > 0 else np.float32(0.0)
    zero, one, four = np.float32(0.0), np.float32(1.0), np.float32(4.0)
    for k in range(len(pyramid) - 2, -1, -1):
        level = pyramid[k]
        hl, wl = level.shape[1], level.shape[2]
        sy, sx = np.float32(h / hl), np.float32(w / wl)
        finer = np.empty((3, hl, wl), np.float32)
        for y in range(hl):
            y0, y1, fy = _source(sy, y, h)
            for x in range(wl):
                x0, x1, fx = _source(sx, x, w)
                a = min(max(level[3, y, x], zero), one)
                trust = min(max(a * four, zero), one)
                for c in range(3):
                    top_row = (one - fx) * colour[c, y0, x0] + fx * colour[c, y0, x1]
                    low_row = (one - fx) * colour[c, y1, x0] + fx * colour[c, y1, x1]
                    up = (one - fy) * top_row + fy * low_row
                    own = level[c, y, x] / max(a, tiny)
                    finer[c, y, x] = trust * own + (one - trust) * up
        colour, h, w = finer, hl, wl
    return colour


@njit(nogil=True, cache=True, inline="always")
def _upsampled_at(n, s, i):  # pragma: no cover (compiled)
    """Full-resolution index i of the bilinear x ``s`` upsampling of n samples (as
    ``F.interpolate(..., scale_factor=s, align_corners=False)``; indices beyond n s repeat
    the last): (first sample, second sample, float32 weight of the second)."""
    half = np.float32(0.5)
    pos = np.float32(min(i, n * s - 1)) + half
    pos = max(pos * np.float32(1.0 / s) - half, np.float32(0.0))
    first = int(pos)
    return first, min(first + 1, n - 1), pos - np.float32(first)


@njit(nogil=True, cache=True, inline="always")
def _bilinear(extra, c, rows, cols):  # pragma: no cover (compiled)
    """Channel c of ``extra`` at the bilinear position ``rows``, ``cols`` (each a
    :func:`_upsampled_at` triple)."""
    i, j, fy = rows
    k, m, fx = cols
    upper = extra[c, i, k] + (extra[c, i, m] - extra[c, i, k]) * fx
    lower = extra[c, j, k] + (extra[c, j, m] - extra[c, j, k]) * fx
    return upper + (lower - upper) * fy


@njit(nogil=True, cache=True)
def fill_rows(rgba, extra, s, tau, y0, out):  # pragma: no cover (compiled)
    """Rows y0.. of the filled background into (3, h, W) ``out``: premultiplied (4, H, W)
    ``rgba`` normalised by max(alpha, ``tau``), plus, where alpha < tau, ``extra`` ((3, h', w')
    colour at 1/s; s = 0: none) upsampled (:func:`_upsampled_at`) times (tau - alpha) /
    max(alpha, tau)."""
    eh, ew = extra.shape[1], extra.shape[2]
    for y in range(out.shape[1]):
        for x in range(out.shape[2]):
            a = rgba[3, y0 + y, x]
            inv = np.float32(1.0) / max(a, tau)
            for c in range(3):
                out[c, y, x] = rgba[c, y0 + y, x] * inv
            if s > 0 and a < tau:  # s = 0: nothing to fill from
                lack = (tau - a) / max(a, tau)
                rows, cols = _upsampled_at(eh, s, y0 + y), _upsampled_at(ew, s, x)
                for c in range(3):
                    out[c, y, x] += _bilinear(extra, c, rows, cols) * lack

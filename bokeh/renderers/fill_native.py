"""Compiled loops of the lens renderer's fill (numba, ``nogil``; compiled on first use and cached
on disk): where the background is hidden behind blurred foreground, its colour is extrapolated
from the visible background nearby (:func:`bokeh.renderers.lens._finish`).

- :func:`_upsampled_at` and :func:`_bilinear`: where a pixel's fill comes from in the
  extrapolated colour (bilinear, as ``F.interpolate``), computed only for the pixels that lack
  weight (:func:`fill_rows`, and :func:`bokeh.renderers.native.finish_rows`).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def _upsampled_at(n, s, i):  # pragma: no cover (compiled)
    """Full-resolution index i of the bilinear x ``s`` upsampling of n samples (as
    ``F.interpolate(..., scale_factor=s, align_corners=False)``; indices beyond n s repeat
    the last): (first sample, second sample, float32 weight of the second)."""
    half = np.float32(0.5)
    pos = np.float32(min(i, n * s - 1)) + half
    pos = max(pos * np.float32(1.0 / s) - half, np.float32(0.0))
    first = int(pos)
    return first, min(first + 1, n - 1), pos - np.float32(first)


@njit(nogil=True, cache=True)
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

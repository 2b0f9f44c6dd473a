"""The compiled loops of :mod:`bokeh.depthviews` (numba, ``nogil``; compiled on first use and
cached on disk). In numpy, *Visualize depth* at 2048 px took longer than the lens render it
shows, in (H, W, 3) float64 temporaries and boolean-mask copies; each view is one pass here,
with numpy's arithmetic (the same bytes out, ``tests/test_depthviews.py``)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True, inline="always")
def _ramp(stops, d):  # pragma: no cover (compiled)
    """Where float32 disparity d lies on the ramp ``stops``: (segment i, float64 fraction t);
    NaN is 0, the rest clipped to [0, 1], the position computed in float32 (as numpy does)."""
    zero, one = np.float32(0.0), np.float32(1.0)
    v = zero if d != d else min(max(d, zero), one)
    v = v * np.float32(stops.shape[0] - 1)
    i = min(int(v), stops.shape[0] - 2)
    return i, np.float64(v) - i


@njit(nogil=True, cache=True, inline="always")
def _colour(stops, i, t, c):  # pragma: no cover (compiled)
    """Channel c of the ramp's colour at (i, t), rounded to uint8 (blended in float64)."""
    return np.uint8(np.float64(stops[i, c]) * (1.0 - t) + np.float64(stops[i + 1, c]) * t + 0.5)


@njit(nogil=True, cache=True)
def colours(stops, disparity, out):  # pragma: no cover (compiled)
    """(H, W) disparity -> (H, W, 3) uint8 ``out``: the ramp ``stops`` ((n, 3) float32)."""
    for y in range(disparity.shape[0]):
        for x in range(disparity.shape[1]):
            i, t = _ramp(stops, disparity[y, x])
            for c in range(3):
                out[y, x, c] = _colour(stops, i, t, c)


@njit(nogil=True, cache=True)
def overlay(
    stops, pixels, disparity, keep, opacity, lo, hi, marked, tint, edge, out
):  # pragma: no cover (compiled)
    """*Visualize depth* into (H, W, 3) uint8 ``out``: the (H, W, 3) uint8 photo times
    ``keep`` (float32 1 - opacity) plus the colours times ``opacity`` (float64), for float32
    (H, W) ``disparity``; where ``marked`` and lo <= disparity <= hi, 0.55 of that plus
    ``tint`` ((3,) float32), and ``edge`` ((3,) float32) on such pixels with a 4-neighbour
    outside the range (none beyond the border)."""
    h, w = disparity.shape
    for y in range(h):
        above, below = max(y - 1, 0), min(y + 1, h - 1)  # past the border: the pixel itself
        for x in range(w):
            d = disparity[y, x]
            sharp = marked and lo <= d <= hi
            border = sharp and not (
                lo <= disparity[above, x] <= hi
                and lo <= disparity[below, x] <= hi
                and lo <= disparity[y, max(x - 1, 0)] <= hi
                and lo <= disparity[y, min(x + 1, w - 1)] <= hi
            )
            i, t = _ramp(stops, d)
            for c in range(3):
                if border:
                    out[y, x, c] = np.uint8(edge[c] + 0.5)
                    continue
                colour = np.float64(_colour(stops, i, t, c))
                v = np.float64(np.float32(pixels[y, x, c]) * keep) + colour * opacity
                if sharp:
                    v = 0.55 * v + np.float64(tint[c])
                out[y, x, c] = np.uint8(min(max(v + 0.5, 0.0), 255.0))


@njit(nogil=True, cache=True)
def histogram(disparity, edges, counts):  # pragma: no cover (compiled)
    """Add to ``counts`` (n,) int64 the (H, W) float32 ``disparity`` clipped to [0, 1] in the
    n bins between ``edges`` ((n + 1,) float32 from 0 to 1), as ``np.histogram`` bins them (in
    float32 for float32 data; a value on an inner edge goes to the upper bin); NaN left out."""
    n = counts.shape[0]
    zero, one = np.float32(0.0), np.float32(1.0)
    for y in range(disparity.shape[0]):
        for x in range(disparity.shape[1]):
            d = disparity[y, x]
            if d != d:
                continue
            v = min(max(d, zero), one)
            i = min(int(v * np.float32(n)), n - 1)
            if v < edges[i]:
                i -= 1
            if i != n - 1 and v >= edges[i + 1]:
                i += 1
            counts[i] += 1

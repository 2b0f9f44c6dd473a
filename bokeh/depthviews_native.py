"""The compiled loops of :mod:`bokeh.depthviews` (numba, ``nogil``; compiled on first use and
cached on disk). In numpy, *Visualize depth* at 2048 px took longer than the lens render it
shows, in (H, W, 3) float64 temporaries and boolean-mask copies; each view is one pass here
over the rows it is given (the callers split the rows among threads), with numpy's arithmetic
(the same bytes out, ``tests/test_depthviews.py``); the overlay looks its arithmetic up in
tables of (photo value, colour value) made once per call."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def _ramp_table(stops):  # pragma: no cover (compiled)
    """The ramp's (n, 3) float32 ``stops`` as (3, n) float64, a line per channel."""
    ramp = np.empty((3, stops.shape[0]), np.float64)
    for k in range(stops.shape[0]):
        for c in range(3):
            ramp[c, k] = np.float64(stops[k, c])
    return ramp


@njit(nogil=True, cache=True)
def _row_colours(ramp, row, segment, fraction, colour):  # pragma: no cover (compiled)
    """(3, w) uint8 ``colour`` of a row of float32 disparity on the ramp (:func:`_ramp_table`):
    NaN is 0, the rest clipped to [0, 1]; the position in float32 and the blend in float64,
    as numpy computes them, in plain loops that vectorise (``segment``, ``fraction``: (w,)
    int64 and float64 scratch)."""
    zero, one = np.float32(0.0), np.float32(1.0)
    n = ramp.shape[1]
    for x in range(row.shape[0]):
        d = row[x]
        v = zero if d != d else min(max(d, zero), one)
        v = v * np.float32(n - 1)
        i = min(int(v), n - 2)
        segment[x] = i
        fraction[x] = np.float64(v) - i
    for c in range(3):
        line = ramp[c]
        for x in range(row.shape[0]):
            i, t = segment[x], fraction[x]
            colour[c, x] = np.uint8(line[i] * (1.0 - t) + line[i + 1] * t + 0.5)


@njit(nogil=True, cache=True)
def colours(stops, disparity, out):  # pragma: no cover (compiled)
    """(H, W) disparity -> (H, W, 3) uint8 ``out``: the ramp ``stops`` ((n, 3) float32)."""
    w = disparity.shape[1]
    ramp = _ramp_table(stops)
    segment, fraction = np.empty(w, np.int64), np.empty(w, np.float64)
    colour = np.empty((3, w), np.uint8)
    for y in range(disparity.shape[0]):
        _row_colours(ramp, disparity[y], segment, fraction, colour)
        for x in range(w):
            for c in range(3):
                out[y, x, c] = colour[c, x]


@njit(nogil=True, cache=True)
def overlay_tables(keep, opacity, tint):  # pragma: no cover (compiled)
    """What :func:`overlay` writes for each (photo value, colour value): ((256, 256) uint8
    plain, (3, 256, 256) uint8 tinted per channel). Plain: the photo value times ``keep``
    (float32 1 - opacity) plus the colour times ``opacity`` (float64), rounded; tinted: 0.55
    of that plus ``tint`` ((3,) float32), rounded."""
    plain = np.empty((256, 256), np.uint8)
    tinted = np.empty((3, 256, 256), np.uint8)
    for p in range(256):
        photo = np.float64(np.float32(p) * keep)
        for q in range(256):
            v = photo + np.float64(q) * opacity
            plain[p, q] = np.uint8(min(max(v + 0.5, 0.0), 255.0))
            for c in range(3):
                u = 0.55 * v + np.float64(tint[c])
                tinted[c, p, q] = np.uint8(min(max(u + 0.5, 0.0), 255.0))
    return plain, tinted


@njit(nogil=True, cache=True)
def overlay(
    stops, pixels, disparity, plain, tinted, marked, lo, hi, edge, y0, y1, out
):  # pragma: no cover (compiled)
    """Rows y0..y1 of *Visualize depth* into (H, W, 3) uint8 ``out``: for the (H, W, 3) uint8
    photo and float32 (H, W) ``disparity``, the tables of :func:`overlay_tables` at (photo,
    ramp colour); where ``marked`` and lo <= disparity <= hi, the tinted table, and ``edge``
    ((3,) float32) on such pixels with a 4-neighbour outside the range (none beyond the
    border). A row at a time: the ramp's colours first, then the lookups."""
    h, w = disparity.shape
    ramp = _ramp_table(stops)
    segment, fraction = np.empty(w, np.int64), np.empty(w, np.float64)
    colour = np.empty((3, w), np.uint8)
    for y in range(y0, y1):
        row, px, o = disparity[y], pixels[y], out[y]
        _row_colours(ramp, row, segment, fraction, colour)
        for x in range(w):
            for c in range(3):
                o[x, c] = plain[px[x, c], colour[c, x]]
        if not marked:
            continue
        above, below = max(y - 1, 0), min(y + 1, h - 1)  # past the border: the pixel itself
        for x in range(w):
            if not lo <= row[x] <= hi:
                continue
            border = not (
                lo <= disparity[above, x] <= hi
                and lo <= disparity[below, x] <= hi
                and lo <= row[max(x - 1, 0)] <= hi
                and lo <= row[min(x + 1, w - 1)] <= hi
            )
            for c in range(3):
                o[x, c] = np.uint8(edge[c] + 0.5) if border else tinted[c, px[x, c], colour[c, x]]


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

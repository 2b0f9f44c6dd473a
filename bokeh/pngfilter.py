"""The compiled loop of :mod:`bokeh.pngfast` (numba, ``nogil``; compiled on first use and
cached on disk: a few seconds on a new machine)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def unfilter(raw, out, bpp, y0):  # pragma: no cover (compiled)
    """Undo PNG's per-row filters (types 0 to 4, method 0) on a band of rows.

    Args:
        raw: (k, 1 + N) uint8: rows y0 .. y0 + k - 1, each its filter type, then its N
            filtered bytes (y0 + k <= H).
        out: (H, N) uint8; rows y0 .. y0 + k - 1 written (row y0 - 1 must be done).
        bpp: bytes per pixel (the distance to the "left" byte).
        y0: the band's first row.

    Returns:
        -1, or the first row whose filter type is not 0 to 4 (``out`` is then incomplete).
    """
    n = out.shape[1]
    zero = np.zeros(n, np.uint8)
    for i in range(raw.shape[0]):
        y = y0 + i
        f = raw[i, 0]
        row, line = raw[i, 1:], out[y]
        up = out[y - 1] if y > 0 else zero
        if f == 0:
            line[:] = row
        elif f == 1:
            line[:bpp] = row[:bpp]
            for x in range(bpp, n):
                line[x] = (row[x] + line[x - bpp]) & 255
        elif f == 2:
            for x in range(n):
                line[x] = (row[x] + up[x]) & 255
        elif f == 3:
            for x in range(bpp):
                line[x] = (row[x] + (up[x] >> 1)) & 255
            for x in range(bpp, n):
                line[x] = (row[x] + ((np.int32(line[x - bpp]) + up[x]) >> 1)) & 255
        elif f == 4:
            for x in range(bpp):
                line[x] = (row[x] + up[x]) & 255  # Paeth with no left pixel: the one above
            for x in range(bpp, n):
                a, b, c = np.int32(line[x - bpp]), np.int32(up[x]), np.int32(up[x - bpp])
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (row[x] + pred) & 255
        else:
            return y
    return -1

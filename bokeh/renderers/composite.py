"""Compositing blurred premultiplied RGBA levels, and the image-wide accumulators they go into.

Three modes (all premultiplied, in place):

- ``"over"``: the new layer lies in front of what is accumulated (levels behind the focal
  plane, fed back to front);
- ``"under"``: the new layer lies behind what is accumulated (levels in front of the focal
  plane, fed front to back); the accumulator also sums the layers' alpha (their coverage);
- ``"add"``: levels of one surface (a scene layer), summed.
"""

from __future__ import annotations

import numpy as np

from bokeh.renderers import native
from bokeh.renderers.scratch import POOL
from bokeh.rowbands import Workers

_BAND = 64  # rows per band of the x2 upsampling (small temporaries, reused)

MODES = ("over", "under", "add")


def combine(region: np.ndarray, layer: np.ndarray, mode: str) -> None:
    """Composite ``layer`` into ``region`` in place.

    Args:
        region, layer: premultiplied RGBA of the same shape, channels on axis 0 (4, ...), or
            on axis 1 for a batch of blocks (N, 4, ...) when ``region.ndim == 4``.
        mode: ``"over"``, ``"under"`` or ``"add"`` (see the module docstring).
    """
    axis = 1 if region.ndim == 4 else 0
    alpha = (slice(None),) * axis + (slice(3, 4),)
    if mode == "over":  # layer in front of what is accumulated
        region *= np.subtract(1.0, layer[alpha], dtype=np.float32)
        region += layer
    elif mode == "under":  # layer behind what is accumulated
        clear = np.clip(region[alpha], 0.0, 1.0)
        np.subtract(1.0, clear, out=clear)
        region += layer * clear
    elif mode == "add":
        region += layer
    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


class Accumulator:
    """An image-wide RGBA accumulator that lives at the scale of the levels fed to it.

    Levels must arrive coarse to fine; when a finer one arrives, what is accumulated is
    upsampled by bilinear x2 steps (the steps the low-resolution kernels compensate for).
    """

    def __init__(self, shape: tuple[int, int], mode: str):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.shape, self.mode = shape, mode
        self.scale: int | None = None
        self.rgba: np.ndarray | None = None
        self.sum_alpha: np.ndarray | None = None  # "under" mode: total blurred weight

    def rescale(self, s: int, workers: Workers | None = None) -> None:
        """Bring the accumulator to downsampling factor s (<= the current one)."""
        h, w = self.shape
        if self.scale is None:
            self.scale = s
            self.rgba = _zeros((4, h // s, w // s), workers)
            if self.mode == "under":
                self.sum_alpha = _zeros((1, h // s, w // s), workers)[0]
            return
        if s > self.scale:
            raise AssertionError("levels must be fed coarse to fine")
        while s < self.scale:
            coarse, self.rgba = self.rgba, _upsample2(self.rgba, workers)
            POOL.give(coarse)
            if self.sum_alpha is not None:
                coarse, self.sum_alpha = self.sum_alpha, _upsample2(self.sum_alpha, workers)
                POOL.give(coarse)
            self.scale //= 2

    def add(self, item) -> None:
        """Composite a ``("crop", s, (y0, y1, x0, x1), rgba)`` item (or None: nothing)."""
        if item is None:
            return
        _, s, (y0, y1, x0, x1), layer = item
        self.rescale(s)
        rows, cols = slice(y0 // s, y1 // s), slice(x0 // s, x1 // s)
        combine(self.rgba[:, rows, cols], layer, self.mode)
        if self.sum_alpha is not None:
            self.sum_alpha[rows, cols] += layer[3]

    def full(self, workers: Workers | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(4, H, W) accumulated RGBA at full resolution (and the summed alpha in "under" mode)."""
        self.rescale(1, workers)
        return self.rgba, self.sum_alpha

    def release(self) -> None:
        """Give the arrays back to the pool (:mod:`bokeh.renderers.scratch`); nothing may use
        them afterwards."""
        POOL.give(self.rgba, self.sum_alpha)
        self.rgba = self.sum_alpha = self.scale = None


def _zeros(shape: tuple[int, int, int], workers: Workers | None) -> np.ndarray:
    """A (C, H, W) array of zeros from the pool, cleared in row bands on ``workers``."""
    out = POOL.empty(shape)

    def clear(y0: int, y1: int) -> None:
        out[:, y0:y1] = 0.0

    (workers or Workers(1)).map_rows(clear, shape[1])
    return out


def _upsample2(stack: np.ndarray, workers: Workers | None) -> np.ndarray:
    """:func:`bokeh.renderers.resample.upsample2` of a (C, h, w) or (h, w) array, in bands of
    rows (on ``workers``) written into an array of the pool: the same values."""
    flat = stack.ndim == 2
    stack = stack[None] if flat else stack
    c, h, w = stack.shape
    out = POOL.empty((c, 2 * h, 2 * w))

    def band(y0: int, y1: int) -> None:
        a, b = max(y0 - 1, 0), min(y1 + 1, h)  # one row of context on each side
        if not stack[:, a:b].any():  # nothing accumulated here (yet): zeros
            out[:, 2 * y0 : 2 * y1] = 0.0
        else:
            native.upsample2_rows(stack, y0, y1, out)

    spans = [(y, min(y + _BAND, h)) for y in range(0, h, _BAND)]
    (workers or Workers(1)).map(lambda span: band(*span), spans)
    return out[0] if flat else out

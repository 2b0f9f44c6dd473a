"""The level machinery of the lens renderer: one blurred premultiplied layer per CoC level.

:mod:`bokeh.render.lens` cuts the signed circle-of-confusion range into levels; level k's layer
is (linear colour x w_k, w_k), where w_k is the pixel's tent weight for that level (times a
coverage, for scene layers). Blurring every layer with its aperture kernel is most of a render's
work, and this module does it:

- at the level's *scale*: full resolution below ``2 * min_lowres_radius`` px, otherwise area
  downsampled by a power of two (at most ``TILE``) so that the kernel keeps at least
  ``min_lowres_radius`` px;
- only where the level lives: on the ``TILE`` x ``TILE`` tiles whose CoC range meets the level's
  support. A sparse full-resolution level is blurred tile by tile (each output tile from its
  block with a halo of the kernel radius); a dense level on the tile-aligned crop that holds
  it, cut into horizontal bands;
- by direct convolution, as a depthwise ``torch.conv2d`` in which the blocks (tiles or bands)
  times the four channels are the channels: every channel may have its own kernel, so a kernel
  per level, per tile region or per colour channel fits the same call. Kernels larger than
  ``_DIRECT_MAX`` taps across (only with a large ``min_lowres_radius``) use FFT convolution.

Levels are independent of one another, so :meth:`Levels.iter_blurred` computes them on
``threads`` Python threads (torch single-threaded, see :mod:`bokeh.threads`) and yields them in
the order asked, for the caller to composite.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import fftconvolve

from bokeh.render.resample import area_downsample

TILE = 32  # tile size (and the largest downsampling factor)
CELL = 8  # granularity of where a level lives
_DIRECT_MAX = 25  # kernels wider than this many taps use FFT convolution
_MAX_HALO = 16  # widest kernel radius of the full-resolution paths
_BAND_ROWS = 128  # about this many rows per band of a dense level
# Costs in ns per pixel (4 channels, one 2-core CPU) that pick blocks or one crop for a level:
# an output pixel (composite, plus per kernel tap), an input pixel of a crop or of a block.
_COST_OUT = 12.0
_COST_TAP = 0.12
_COST_IN = 5.0
_COST_IN_BLOCK = 9.0

# An item is what a level gives the compositor, or None when the level is empty:
#   ("crop", s, (y0, y1, x0, x1), rgba): (4, (y1-y0)/s, (x1-x0)/s) blurred RGBA of a
#       tile-aligned crop at downsampling factor s;
#   ("tiles", size, by, bx, rgba): (N, 4, size, size) blurred RGBA of N full-resolution
#       blocks at block rows by and columns bx.
Item = tuple


def scale_for(radius: float, min_lowres_radius: float) -> int:
    """Largest power-of-two downsampling (<= TILE) that keeps the kernel >= min_lowres_radius px."""
    if radius < 2 * min_lowres_radius:
        return 1
    return int(min(TILE, 2 ** math.floor(math.log2(radius / min_lowres_radius))))


def tent_weight(coc: np.ndarray, levels: np.ndarray, k: int) -> np.ndarray:
    """Weight of level k for CoC values ``coc`` (any shape, float32): 1 at the level, falling
    linearly to 0 at its neighbours; beyond the first and last level, 1."""
    c = float(levels[k])
    w = None
    if k + 1 < len(levels):  # falling side, towards level k + 1
        hi = float(levels[k + 1])
        w = np.subtract(np.float32(hi), coc, dtype=np.float32)
        w *= np.float32(1.0 / (hi - c))
    if k > 0:  # rising side, from level k - 1
        lo = float(levels[k - 1])
        rise = np.subtract(coc, np.float32(lo), dtype=np.float32)
        rise *= np.float32(1.0 / (c - lo))
        w = rise if w is None else np.minimum(w, rise, out=w)
    if w is None:
        return np.ones_like(coc, dtype=np.float32)
    return np.clip(w, 0.0, 1.0, out=w)


def pad_to_tiles(array: np.ndarray) -> np.ndarray:
    """Pad the first two axes (edge values) up to whole tiles."""
    h, w = array.shape[:2]
    ph, pw = (-h) % TILE, (-w) % TILE
    if ph == 0 and pw == 0:
        return np.ascontiguousarray(array)
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pad, mode="edge")


def _grow(mask: np.ndarray, steps: int) -> np.ndarray:
    """Cells within ``steps`` cells of a True cell (square neighbourhood)."""
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        out = grown.copy()
        out[:, 1:] |= grown[:, :-1]
        out[:, :-1] |= grown[:, 1:]
    return out


def _any_blocks(cells: np.ndarray, f: int) -> np.ndarray:
    """(h/f, w/f) blocks holding any True cell of (h, w) ``cells``."""
    h, w = cells.shape
    return cells.reshape(h // f, f, w // f, f).any(axis=(1, 3))


def _cell_range(coc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-CELL minimum and maximum of an (H, W) map (H, W multiples of CELL)."""
    t = torch.from_numpy(coc)[None]
    return (-F.max_pool2d(-t, CELL)).numpy()[0], F.max_pool2d(t, CELL).numpy()[0]


def _depthwise(blocks: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Valid convolution of each (b, b') block in (N, b, b') with its kernel.

    Args:
        blocks: (N, hb + 2R, wb + 2R) float32, C-contiguous.
        kernels: (k, k) one kernel for all blocks, or (N, k, k) one per block; k = 2R + 1.

    Returns:
        (N, hb, wb) float32: sum over taps of kernel[dy, dx] * block[y - dy, x - dx]
        (a convolution, as scipy.ndimage.convolve, not a correlation).
    """
    n, k = blocks.shape[0], kernels.shape[-1]
    flipped = np.ascontiguousarray(kernels[..., ::-1, ::-1], dtype=np.float32)
    weight = torch.from_numpy(flipped).reshape(-1, 1, k, k)
    if weight.shape[0] != n:
        weight = weight.expand(n, 1, k, k)
    out = F.conv2d(torch.from_numpy(blocks)[None], weight, groups=n)
    return out.numpy()[0]


def _blur_fft(stack: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel of a (C, h, w) stack with ``kernel``, symmetric boundary (FFT)."""
    r = kernel.shape[0] // 2
    padded = np.pad(stack, ((0, 0), (r, r), (r, r)), mode="symmetric")
    with scipy.fft.set_workers(1):
        out = fftconvolve(padded, kernel[None], mode="valid", axes=(1, 2))
    return np.maximum(out, 0.0, out=out).astype(np.float32, copy=False)


def _conv_valid(stack: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid convolution of each channel of a (C, h + 2R, w + 2R) stack: (C, h, w) float32.

    The rows are cut into bands with their halos, and the bands are channels of one
    depthwise convolution (a few large channels run far slower than many small ones).
    """
    k = kernel.shape[0]
    r = k // 2
    if k == 1:
        return stack if kernel[0, 0] == 1 else stack * kernel[0, 0]
    c, hp, wp = stack.shape
    h = hp - 2 * r
    nb = max(1, min(-(-h // max(_BAND_ROWS, 4 * r)), 64))
    hb = -(-h // nb)
    bands = np.empty((c, nb, hb + 2 * r, wp), np.float32)
    for i in range(nb):
        rows = stack[:, i * hb : i * hb + hb + 2 * r]
        bands[:, i, : rows.shape[1]] = rows
        bands[:, i, rows.shape[1] :] = 0.0
    out = _depthwise(bands.reshape(c * nb, hb + 2 * r, wp), kernel)
    return out.reshape(c, nb * hb, wp - 2 * r)[:, :h]


def blur_same(stack: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel of a (C, h, w) float32 stack with ``kernel`` (k x k, k odd),
    symmetric boundary (as ``scipy.ndimage.convolve(mode="reflect")``): (C, h, w) float32.

    Direct convolution in horizontal bands (the bands are channels of one depthwise conv);
    kernels wider than ``_DIRECT_MAX`` taps use FFT convolution.
    """
    k = kernel.shape[0]
    if k > _DIRECT_MAX:
        return _blur_fft(stack, kernel)
    r = k // 2
    if r == 0:
        return _conv_valid(stack, kernel)
    return _conv_valid(np.pad(stack, ((0, 0), (r, r), (r, r)), mode="symmetric"), kernel)


class Levels:
    """Blurred premultiplied layers of one CoC map, one level at a time.

    Args:
        lin: (H, W, 3) float32 linear colour, H and W whole tiles.
        coc: (H, W) float32 signed CoC in pixels.
        levels: ascending signed radii (see :func:`bokeh.render.lens.level_values`).
        kernel_for: ``kernel_for(k, s)`` -> (2R+1, 2R+1) float32 kernel of level k at
            downsampling factor s, normalised, in low-resolution pixels.
        min_lowres_radius: smallest kernel radius kept when blurring at reduced resolution.
        coverage: optional (H, W) float32 in [0, 1] multiplying every level's weight.
    """

    def __init__(
        self,
        lin,
        coc,
        levels,
        *,
        kernel_for: Callable[[int, int], np.ndarray],
        min_lowres_radius: float,
        coverage: np.ndarray | None = None,
    ):
        h, w = coc.shape
        if h % TILE or w % TILE:
            raise ValueError(f"lin and coc must be whole tiles of {TILE} px; got {h}x{w}")
        self.levels, self.kernel_for = levels, kernel_for
        self.min_lowres_radius = min_lowres_radius
        self.shape = (h, w)
        self.cmin, self.cmax = _cell_range(coc)
        self.halo = p = self._halo()
        # Channels last: r, g, b, coc (, coverage), with a symmetric halo of p pixels.
        c = 4 if coverage is None else 5
        src = np.empty((h + 2 * p, w + 2 * p, c), np.float32)
        src[p : p + h, p : p + w, :3] = lin
        src[p : p + h, p : p + w, 3] = coc
        if coverage is not None:
            src[p : p + h, p : p + w, 4] = coverage
        if p:
            src[:p] = src[2 * p - 1 : p - 1 : -1]
            src[h + p :] = src[h + p - 1 : h - 1 : -1]
            src[:, :p] = src[:, 2 * p - 1 : p - 1 : -1]
            src[:, w + p :] = src[:, w + p - 1 : w - 1 : -1]
        self.padded = src
        self.src = src[p : p + h, p : p + w]

    def _halo(self) -> int:
        """Halo of the full-resolution paths: the widest full-resolution kernel radius."""
        widths = [
            self.kernel_for(k, 1).shape[0]
            for k, r in enumerate(self.levels)
            if scale_for(abs(float(r)), self.min_lowres_radius) == 1
        ]
        return min(max(widths, default=1) // 2, _MAX_HALO)

    def _layer(self, src: np.ndarray, k: int) -> np.ndarray:
        """Premultiplied layer of level k from channels-last ``src`` (..., C) with channels
        (r, g, b, coc[, coverage]): channels first, (4, ...) for an (h, w, C) source and
        (N, 4, ...) for (N, h, w, C) blocks; channels (r w, g w, b w, w)."""
        w = tent_weight(src[..., 3], self.levels, k)
        if src.shape[-1] > 4:
            w *= src[..., 4]
        lead = src.shape[:-3]
        stack = np.empty(lead + (4,) + src.shape[-3:-1], np.float32)
        for c in range(3):
            np.multiply(src[..., c], w, out=stack[..., c, :, :])
        stack[..., 3, :, :] = w
        return stack

    def blurred(self, k: int) -> Item | None:
        """Level k's blurred layer as an item (see ``Item``), or None when it is empty."""
        levels = self.levels
        lo = levels[k - 1] if k > 0 else -np.inf
        hi = levels[k + 1] if k < len(levels) - 1 else np.inf
        cells = (self.cmax > lo) & (self.cmin < hi)  # cells where the level has weight
        if not cells.any():
            return None
        radius = abs(float(levels[k]))
        s = scale_for(radius, self.min_lowres_radius)
        kernel = self.kernel_for(k, s)
        r = kernel.shape[0] // 2
        if s == 1 and r <= self.halo and kernel.shape[0] <= _DIRECT_MAX:
            return self._blurred_full(k, _grow(cells, -(-r // CELL)), kernel)
        tiles = _any_blocks(cells, TILE // CELL)
        rows, cols = np.nonzero(tiles.any(axis=1))[0], np.nonzero(tiles.any(axis=0))[0]
        margin = int(math.ceil((radius + 2) / TILE))
        th, tw = tiles.shape
        y0, y1 = max(rows[0] - margin, 0) * TILE, min(rows[-1] + 1 + margin, th) * TILE
        x0, x1 = max(cols[0] - margin, 0) * TILE, min(cols[-1] + 1 + margin, tw) * TILE
        stack = self._layer(self.src[y0:y1, x0:x1], k)
        return "crop", s, (y0, y1, x0, x1), blur_same(area_downsample(stack, s), kernel)

    def _blurred_full(self, k: int, out_cells: np.ndarray, kernel: np.ndarray) -> Item:
        """A full-resolution level on the cells ``out_cells`` (already grown by the kernel's
        reach): as blocks of 16 or 32 px, or one crop, whichever costs least."""
        r = kernel.shape[0] // 2
        per_out = _COST_OUT + _COST_TAP * kernel.size
        rows, cols = np.nonzero(out_cells.any(axis=1))[0], np.nonzero(out_cells.any(axis=0))[0]
        y0, y1 = rows[0] * CELL, (rows[-1] + 1) * CELL
        x0, x1 = cols[0] * CELL, (cols[-1] + 1) * CELL
        best = (
            (y1 - y0) * (x1 - x0) * per_out + (y1 - y0 + 2 * r) * (x1 - x0 + 2 * r) * _COST_IN,
            None,
        )
        for size in (16, 32):
            blocks = _any_blocks(out_cells, size // CELL)
            cost = blocks.sum() * (size * size * per_out + (size + 2 * r) ** 2 * _COST_IN_BLOCK)
            if cost < best[0]:
                best = (cost, (size, blocks))
        if best[1] is not None:
            return self._blurred_blocks(k, *best[1], kernel)
        h = self.halo
        src = self.padded[h + y0 - r : h + y1 + r, h + x0 - r : h + x1 + r]
        return "crop", 1, (y0, y1, x0, x1), _conv_valid(self._layer(src, k), kernel)

    def _blurred_blocks(self, k: int, size: int, blocks: np.ndarray, kernel: np.ndarray) -> Item:
        r = kernel.shape[0] // 2
        by, bx = np.nonzero(blocks)
        b = size + 2 * r
        # (bh, bw, b, b, C) windows of the padded source, one per block (a view, no copy).
        h = self.halo
        view = self.padded[h - r :, h - r :]
        windows = sliding_window_view(view, (b, b), axis=(0, 1))[::size, ::size]
        src = windows.transpose(0, 1, 3, 4, 2)[by, bx]  # (N, b, b, C)
        layer = self._layer(src, k)  # (N, 4, b, b)
        n = len(by)
        if r == 0:
            return "tiles", size, by, bx, layer
        out = _depthwise(layer.reshape(4 * n, b, b), kernel)
        return "tiles", size, by, bx, out.reshape(n, 4, size, size)

    def iter_blurred(self, order: Iterable[int], threads: int = 1) -> Iterator[Item | None]:
        """``blurred(k)`` for each k of ``order``, in that order, computed ``threads`` at a
        time (each on its own Python thread, ``threads`` + 1 levels in flight at most)."""
        if threads <= 1:
            for k in order:
                yield self.blurred(k)
            return
        with ThreadPoolExecutor(threads) as pool:
            pending: deque = deque()
            for k in order:
                pending.append(pool.submit(self.blurred, k))
                if len(pending) > threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

"""The level machinery of the lens renderer: one blurred premultiplied layer per CoC level.

:mod:`bokeh.renderers.lens` cuts the signed circle-of-confusion range into levels; level k's layer
is (linear colour x w_k, w_k), where w_k is the pixel's tent weight for that level (times a
coverage, for scene layers). Blurring every layer with its aperture kernel and compositing it is
most of a render's work, and this module does it, only where each level lives (the ``CELL`` x
``CELL`` cells whose CoC range meets the level's support), in two stages:

- *coarse* levels (kernels of ``2 * min_lowres_radius`` px and more) are blurred on the
  tile-aligned crop that holds them, area-downsampled by a power of two (at most ``TILE``) so
  that the kernel keeps at least ``min_lowres_radius`` px (:mod:`bokeh.renderers.resample`);
  the layer is built and downsampled in one compiled pass
  (:func:`bokeh.renderers.native.downsampled_layer`); :meth:`Levels.iter_blurred` computes
  them on worker threads and yields them in order for the caller to composite; their light
  above white is blurred apart (:func:`blur_lowres`), spread point by point when it is sparse
  (:func:`bokeh.renderers.native.scatter_points`);
- *fine* levels, at full resolution, are blurred and composited block by block
  (:meth:`Levels.composite_fine`): the ``BLOCK`` x ``BLOCK`` blocks any fine level reaches are
  split into batches (independent, so they run on worker threads); for each level in order, a
  batch builds the level's layer on its blocks and blurs it, and composites the results
  straight into the accumulator (:func:`bokeh.renderers.native.composite_blocks`). A level
  with one kernel is built and blurred in one compiled pass on runs of side-by-side blocks,
  by column sums (:func:`bokeh.renderers.native.blurred_runs`): an aperture is flat inside,
  so its differences down each column have about 4 taps, not its width.

Other blurs are direct convolutions, as a depthwise ``torch.conv2d`` in which the blocks (or
bands of a crop) times the four channels are the channels: every channel may have its own
kernel, so a kernel per level, per block or per colour channel fits the same call. Kernels
wider than ``_DIRECT_MAX`` taps (only with a large ``min_lowres_radius``) use FFT convolution.
A level's kernel is one (K, K) array, a (4, K, K) array (one per channel) or a
:class:`~bokeh.renderers.kernels.KernelField` (one per block: fine blocks, and blocks of about
``field_block`` full-resolution pixels in coarse crops; see :func:`blur_field`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import fftconvolve

from bokeh.renderers import native
from bokeh.renderers.composite import Accumulator
from bokeh.renderers.kernels import KernelField, kernel_width
from bokeh.renderers.scratch import POOL
from bokeh.rowbands import Workers

TILE = 32  # tile size (and the largest downsampling factor)
CELL = 8  # granularity of where a level lives
BLOCK = 16  # block size of the fine stage
_DIRECT_MAX = 25  # kernels wider than this many taps use FFT convolution
_MAX_HALO = 16  # widest kernel radius of the fine stage
_BAND_ROWS = 128  # about this many rows per band of a crop
# oneDNN's depthwise convolution computes 16 channels at once (AVX-512; 8 with AVX2): a
# channel count short of a multiple of 16 leaves part of every vector idle.
_LANES = 16
_BATCH_BLOCKS = 512  # about this many blocks per batch of the fine stage
_SCATTER_MAX = 1 / 8  # colour above 1 on at most this fraction of a crop: spread point by point
_NONE = np.zeros((1, 1), np.float32)  # a (1, 1) stand-in for an absent (H, W) map

# What a coarse level gives the compositor (None when the level is empty):
# ("crop", s, (y0, y1, x0, x1), rgba), rgba (4, (y1-y0)/s, (x1-x0)/s) blurred RGBA of a
# tile-aligned crop at downsampling factor s.
Item = tuple


def scale_for(radius: float, min_lowres_radius: float) -> int:
    """Largest power-of-two downsampling (<= TILE) that keeps the kernel >= min_lowres_radius px."""
    if radius < 2 * min_lowres_radius:
        return 1
    return int(min(TILE, 2 ** math.floor(math.log2(radius / min_lowres_radius))))


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


def column_taps(kernel) -> tuple[np.ndarray, np.ndarray] | None:
    """A (k, k) kernel's convolution as taps on column sums
    (:func:`bokeh.renderers.native.blurred_runs`): ((T, 2) int64 row and column offsets,
    (T,) float32 weights), T a multiple of 4 (the last taps may weigh 0).

    The taps are the kernel's differences down its columns: few for a kernel that is flat
    inside (an aperture: about 4 per column, against k), at most k + 1 per column for any.
    None for a kernel of one tap, or a kernel per channel or per block.
    """
    if not isinstance(kernel, np.ndarray) or kernel.ndim != 2 or kernel.shape[0] < 2:
        return None
    flipped = kernel[::-1, ::-1].astype(np.float64)  # a convolution: taps of the flipped kernel
    k = flipped.shape[0]
    padded = np.zeros((k + 2, k))
    padded[1:-1] = flipped
    diff = padded[:-1] - padded[1:]  # row i weighs the column sums of the window's rows < i
    rows, cols = np.nonzero(diff)
    taps = np.zeros((-(-len(rows) // 4) * 4, 2), np.int64)
    weights = np.zeros(len(taps), np.float32)
    taps[: len(rows), 0], taps[: len(rows), 1] = rows, cols
    weights[: len(rows)] = diff[rows, cols]
    return taps, weights


def _runs(by: np.ndarray, bx: np.ndarray) -> np.ndarray:
    """(R, 3) int64 runs (row, first column, length) of row-major blocks (``by``, ``bx``)."""
    starts = np.flatnonzero(np.r_[True, (np.diff(by) != 0) | (np.diff(bx) != 1)])
    lengths = np.diff(np.r_[starts, len(by)])
    return np.stack([by[starts], bx[starts], lengths], axis=1).astype(np.int64)


def _blur_fft(stack: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel of a (C, h, w) stack with ``kernel`` ((k, k), or (C, k, k): one
    per channel), symmetric boundary (FFT)."""
    r = kernel.shape[-1] // 2
    padded = np.pad(stack, ((0, 0), (r, r), (r, r)), mode="symmetric")
    with scipy.fft.set_workers(1):
        out = fftconvolve(padded, kernel if kernel.ndim == 3 else kernel[None], mode="valid",
                          axes=(1, 2))  # fmt: skip
    return np.maximum(out, 0.0, out=out).astype(np.float32, copy=False)


def _conv_valid(stack: np.ndarray, kernel: np.ndarray, pad: int = 0) -> np.ndarray:
    """Valid convolution of each channel of a (C, h + 2R - 2 pad, w + 2R - 2 pad) stack, after
    padding it by ``pad`` (symmetric: edge pixels repeated): (C, h, w) float32.

    The rows are cut into bands with their halos (the padding is made while copying them), and
    the bands are channels of one depthwise convolution (a few large channels run far slower
    than many small ones), a multiple of ``_LANES`` of them where the rows allow.
    """
    k = kernel.shape[-1]
    r = k // 2
    if k == 1:
        if (kernel == 1).all():
            return stack
        return stack * (kernel.reshape(-1, 1, 1) if kernel.ndim == 3 else kernel[0, 0])
    if pad > min(stack.shape[1:]):  # reflected more than once: leave it to numpy
        stack, pad = np.pad(stack, ((0, 0), (pad, pad), (pad, pad)), mode="symmetric"), 0
    c, hs, ws = stack.shape
    h, wp = hs + 2 * pad - 2 * r, ws + 2 * pad
    nb = max(1, min(-(-h // max(_BAND_ROWS, 4 * r)), 64))
    step = math.lcm(c, _LANES) // c  # bands per whole number of vectors of channels
    nb = max(1, min(-(-nb // step) * step, h))
    hb = -(-h // nb)
    bands = np.empty((c, nb, hb + 2 * r, wp), np.float32)
    for i in range(nb):
        rows = np.arange(i * hb - pad, min(i * hb + hb + 2 * r, h + 2 * r) - pad)
        if not len(rows):  # past the last row (whole vectors of bands)
            bands[:, i] = 0.0
            continue
        if rows[0] < 0 or rows[-1] >= hs:  # mirrored at the top or bottom edge
            rows = np.where(rows < 0, -1 - rows, np.where(rows >= hs, 2 * hs - 1 - rows, rows))
            bands[:, i, : len(rows), pad : pad + ws] = stack[:, rows]
        else:
            bands[:, i, : len(rows), pad : pad + ws] = stack[:, rows[0] : rows[-1] + 1]
        bands[:, i, len(rows) :] = 0.0
    if pad:  # mirrored columns
        bands[..., :pad] = bands[..., 2 * pad - 1 : pad - 1 : -1]
        bands[..., pad + ws :] = bands[..., pad + ws - 1 : ws - 1 : -1]
    if kernel.ndim == 3:  # one kernel per channel: the channel's bands share it
        kernel = np.repeat(kernel, nb, axis=0)
    out = _depthwise(bands.reshape(c * nb, hb + 2 * r, wp), kernel)
    return out.reshape(c, nb * hb, wp - 2 * r)[:, :h]


def blur_same(stack: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel of a (C, h, w) float32 stack with ``kernel`` (k x k, k odd, or
    (C, k, k): one per channel), symmetric boundary (as
    ``scipy.ndimage.convolve(mode="reflect")``): (C, h, w) float32.

    Direct convolution in horizontal bands (the bands are channels of one depthwise conv);
    kernels wider than ``_DIRECT_MAX`` taps use FFT convolution.
    """
    k = kernel.shape[-1]
    if k > _DIRECT_MAX:
        return _blur_fft(stack, kernel)
    return _conv_valid(stack, kernel, pad=k // 2)


def blur_field(stack: np.ndarray, field: KernelField, *, origin: tuple[int, int], s: int,
               block: int) -> np.ndarray:  # fmt: skip
    """Convolve a (4, h, w) float32 stack at factor s (its pixel (0, 0) at full-resolution
    ``origin``) block by block with the field's kernels of each block (``block`` x ``block``
    pixels, dividing h and w), symmetric boundary: (4, h, w) float32. At reduced resolution,
    colour above 1 is blurred apart and its blur clipped at 0, as in :func:`blur_lowres`."""
    k = field.width(s)

    def kernels(by: np.ndarray, bx: np.ndarray) -> np.ndarray:  # (N, 4, k, k)
        centres = (np.stack([by, bx], axis=1) + 0.5) * (block * s) - 0.5 + np.asarray(origin)
        return field.at(centres, s)

    split = _split_bright(stack) if s > 1 else None
    out = _blur_blocks(stack if split is None else split[0], k, block, kernels)
    if split is not None:
        excess = _excess_image(stack.shape[1:], *split[1:])
        _add_excess_blur(out[:3], excess, k, block, lambda y, x: kernels(y, x)[:, :3])
    return out


def _split_bright(stack: np.ndarray) -> tuple | None:
    """(4, h, w) premultiplied RGBA as (a copy with its colour clipped at 1, (n,) rows and
    (n,) columns of the pixels with colour above 1, (n, 3) float32 colour above 1 there), or
    None when no colour exceeds 1."""
    stack = np.ascontiguousarray(stack, dtype=np.float32)
    ys, xs = native.bright_points(stack)
    if not len(ys):
        return None
    base = stack.copy()
    colour = base[:3, ys, xs]
    base[:3, ys, xs] = np.minimum(colour, 1.0)
    return base, ys, xs, np.ascontiguousarray(np.maximum(colour - 1.0, 0.0).T)


def _excess_image(shape: tuple[int, int], ys, xs, excess) -> np.ndarray:
    """(3, h, w) float32: ``excess`` (n, 3) at pixels (``ys``, ``xs``), zero elsewhere."""
    out = np.zeros((3, *shape), np.float32)
    out[:, ys, xs] = excess.T
    return out


def _scatter_excess(out: np.ndarray, ys, xs, excess, kernel: np.ndarray) -> None:
    """Add the blur of colour above 1 (``excess`` (n, 3) at pixels ``ys``, ``xs``, row-major)
    with ``kernel`` ((k, k), or (3, k, k) per channel), clipped at 0, to (3, h, w) ``out``:
    each pixel's light spread over the kernel (:func:`native.scatter_points`), only on the
    rows it reaches; the same as :func:`_add_excess_blur` on the dense excess."""
    h, w = out.shape[1:]
    k = kernel.shape[-1]
    kernels = np.broadcast_to(kernel, (3, k, k)).transpose(1, 2, 0)  # (k, k, 3) interleaved
    kernels = np.ascontiguousarray(kernels, dtype=np.float32).reshape(k, 3 * k)
    y0, y1 = max(int(ys[0]) - k // 2, 0), min(int(ys[-1]) + k // 2 + 1, h)
    spread = np.zeros((y1 - y0, w * 3), np.float32)
    native.scatter_points(ys, xs, excess, kernels, h, w, y0, spread)
    np.maximum(spread, 0.0, out=spread)
    out[:, y0:y1] += spread.reshape(y1 - y0, w, 3).transpose(2, 0, 1)


def _blur_blocks(stack, k: int, block: int, kernels_of) -> np.ndarray:
    """Every block of the convolution of a (C, h, w) stack (``block`` dividing h and w) with
    ``kernels_of(by, bx)``' kernels (as :func:`_block_conv` takes them): (C, h, w) float32."""
    c, h, w = stack.shape
    out = np.empty_like(stack)
    by, bx = (a.ravel() for a in np.mgrid[0 : h // block, 0 : w // block])
    for y, x, part in _block_conv(stack, k, block, by, bx, kernels_of):
        _blocks(out, block)[y, x] = part
    return out


def _block_conv(stack, k: int, block: int, by, bx, kernels_of) -> Iterator[tuple]:
    """Blocks of the convolution of a (C, h, w) stack with k x k kernels, symmetric boundary.

    Yields (y, x, part) for the blocks (rows ``by``, columns ``bx``; ``block`` px), a bounded
    number at a time: ``part`` (n, C, block, block) holds blocks (y[i], x[i]), convolved with
    ``kernels_of(y, x)``: (k, k) for every block and channel, or (n, C, k, k).
    Rows and columns beyond h and w (when ``block`` does not divide them) are garbage.
    """
    c, h, w = stack.shape
    r = k // 2
    hb, wb = -(-h // block) * block, -(-w // block) * block
    padded = np.zeros((c, hb + 2 * r, wb + 2 * r), np.float32)
    padded[:, : h + 2 * r, : w + 2 * r] = np.pad(stack, ((0, 0), (r, r), (r, r)), "symmetric")
    windows = sliding_window_view(padded, (block + 2 * r, block + 2 * r), axis=(1, 2))
    windows = windows[:, ::block, ::block]  # (C, hb / block, wb / block, b', b')
    per = max(1, (1 << 21) // (c * k * k))  # blocks per call: bounded kernel memory
    for i in range(0, len(by), per):
        y, x = by[i : i + per], bx[i : i + per]
        win = np.ascontiguousarray(windows[:, y, x].transpose(1, 0, 2, 3))
        kernels = kernels_of(y, x)
        kernels = kernels if kernels.ndim == 2 else kernels.reshape(-1, k, k)
        part = _depthwise(win.reshape(-1, block + 2 * r, block + 2 * r), kernels)
        yield y, x, part.reshape(len(y), c, block, block)


def _add_excess_blur(out: np.ndarray, excess: np.ndarray, k: int, block: int, kernels_of) -> None:
    """Add the blur of (3, h, w) ``excess`` (zero but for a few bright pixels) with k x k
    kernels, clipped at 0, to (3, h, w) ``out``, only on the ``block`` x ``block`` blocks that
    the kernels carry some excess to. ``kernels_of(by, bx)``: (k, k) for every block and
    channel, or (N, 3, k, k)."""
    h, w = excess.shape[1:]
    hb, wb = -(-h // block), -(-w // block)
    bright = np.zeros((hb * block, wb * block), bool)
    bright[:h, :w] = excess.any(axis=0)
    reach = _grow(bright.reshape(hb, block, wb, block).any(axis=(1, 3)), -(-(k // 2) // block))
    by, bx = np.nonzero(reach)
    for y, x, part in _block_conv(excess, k, block, by, bx, kernels_of):
        np.maximum(part, 0.0, out=part)
        for i in range(len(y)):
            y0, x0 = y[i] * block, x[i] * block
            rows, cols = min(block, h - y0), min(block, w - x0)
            out[:, y0 : y0 + rows, x0 : x0 + cols] += part[i, :, :rows, :cols]


def blur_lowres(stack: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """:func:`blur_same` with a compensated low-resolution kernel
    (:func:`bokeh.renderers.resample.lowres_kernel`), without its dark rings around light
    brighter than white. The kernel's negative lobes undershoot next to boosted highlights
    (premultiplied colour far above 1), and the undershoot, clipped at 0, drew black rings
    around every bokeh disc. Colour above 1 is blurred apart and its blur clipped at 0 (the
    exact blur of non-negative light is non-negative), on top of the rest's blur.

    Args:
        stack: (4, h, w) float32, premultiplied r, g, b and weight (weight in [0, 1]).
        kernel: (k, k) or (4, k, k) float32 kernel(s), k odd, each summing to 1.

    Returns:
        (4, h, w) float32; equal to ``blur_same(stack, kernel)`` when no colour exceeds 1.
    """
    split = _split_bright(stack)
    if split is None:
        return blur_same(stack, kernel)
    base, ys, xs, excess = split
    out = blur_same(base, kernel)
    colour = kernel[:3] if kernel.ndim == 3 else kernel
    k = kernel.shape[-1]
    if len(ys) <= _SCATTER_MAX * base[0].size:  # few: spread each one
        _scatter_excess(out[:3], ys, xs, excess, colour)
        return out
    dense = _excess_image(base.shape[1:], ys, xs, excess)
    if k > _DIRECT_MAX:
        out[:3] += np.maximum(blur_same(dense, colour), 0.0)
    else:
        per_block = colour.ndim == 3  # chromatic aberration: a kernel per colour channel
        _add_excess_blur(out[:3], dense, k, BLOCK,
                         lambda y, x: np.broadcast_to(colour, (len(y), 3, k, k)) if per_block
                         else colour)  # fmt: skip
    return out


class Levels:
    """Blurred premultiplied layers of one CoC map.

    Args:
        lin: (H, W, 3) float32 linear colour, H and W whole tiles.
        coc: (H, W) float32 signed CoC in pixels.
        levels: ascending signed radii (see :func:`bokeh.renderers.lens.level_values`).
        kernel_for: ``kernel_for(k, s)`` -> (2R+1, 2R+1) float32 kernel of level k at
            downsampling factor s, normalised, in low-resolution pixels.
        min_lowres_radius: smallest kernel radius kept when blurring at reduced resolution.
        coverage: optional (H, W) float32 in [0, 1] multiplying every level's weight.
        spread: the largest kernel radius over the level's radius (chromatic aberration).
        field_block: full-resolution size of the blocks of coarse crops that share a kernel
            when kernels depend on the position (:class:`KernelField`).
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
        workers: Workers | None = None,
        spread: float = 1.0,
        field_block: int = BLOCK,
    ):
        h, w = coc.shape
        if h % TILE or w % TILE:
            raise ValueError(f"lin and coc must be whole tiles of {TILE} px; got {h}x{w}")
        self.levels, self.kernel_for = levels, kernel_for
        self.min_lowres_radius = min_lowres_radius
        self.spread, self.field_block = spread, field_block
        self.shape = (h, w)
        workers = workers or Workers(1)
        self.cmin = np.empty((h // CELL, w // CELL), np.float32)
        self.cmax = np.empty_like(self.cmin)

        def ranges(y0: int, y1: int) -> None:
            cells = slice(y0 // CELL, y1 // CELL)
            self.cmin[cells], self.cmax[cells] = _cell_range(coc[y0:y1])

        workers.map_rows(ranges, h, step=CELL)
        self.fine = {k for k in range(len(levels)) if self._is_fine(k)}
        self.halo = p = max((kernel_width(self.kernel_for(k, 1)) // 2 for k in self.fine),
                            default=0)  # fmt: skip
        # Channels last: r, g, b, coc (, coverage), with a symmetric halo of p pixels.
        c = 4 if coverage is None else 5
        src = POOL.empty((h + 2 * p, w + 2 * p, c))

        cover = _NONE if coverage is None else coverage

        def fill(y0: int, y1: int) -> None:
            native.fill_source(lin, coc, cover, src, p, y0, y1)

        workers.map_rows(fill, h)
        if p:
            src[:p] = src[2 * p - 1 : p - 1 : -1]
            src[h + p :] = src[h + p - 1 : h - 1 : -1]
            src[:, :p] = src[:, 2 * p - 1 : p - 1 : -1]
            src[:, w + p :] = src[:, w + p - 1 : w - 1 : -1]
        self.padded = src
        self.src = src[p : p + h, p : p + w]

    def release(self) -> None:
        """Give the padded source back to the pool; the object is unusable afterwards."""
        POOL.give(self.padded)
        self.padded = self.src = None

    def _is_fine(self, k: int) -> bool:
        if scale_for(abs(float(self.levels[k])), self.min_lowres_radius) != 1:
            return False
        width = kernel_width(self.kernel_for(k, 1))
        return width <= _DIRECT_MAX and width // 2 <= _MAX_HALO

    def _cells(self, k: int) -> np.ndarray:
        """(H/CELL, W/CELL) bool: cells where level k has weight."""
        levels = self.levels
        lo = levels[k - 1] if k > 0 else -np.inf
        hi = levels[k + 1] if k < len(levels) - 1 else np.inf
        return (self.cmax > lo) & (self.cmin < hi)

    def blurred(self, k: int) -> Item | None:
        """Level k blurred on the tile-aligned crop that holds it, at its scale (see ``Item``);
        None when the level is empty."""
        cells = self._cells(k)
        if not cells.any():
            return None
        radius = abs(float(self.levels[k]))
        s = scale_for(radius, self.min_lowres_radius)
        kernel = self.kernel_for(k, s)
        tiles = _any_blocks(cells, TILE // CELL)
        rows, cols = np.nonzero(tiles.any(axis=1))[0], np.nonzero(tiles.any(axis=0))[0]
        margin = int(math.ceil((radius * self.spread + 2) / TILE))
        th, tw = tiles.shape
        ty0, ty1 = max(rows[0] - margin, 0), min(rows[-1] + 1 + margin, th)
        tx0, tx1 = max(cols[0] - margin, 0), min(cols[-1] + 1 + margin, tw)
        box = (ty0 * TILE, ty1 * TILE, tx0 * TILE, tx1 * TILE)
        t = TILE // s
        stack = np.empty((4, (ty1 - ty0) * t, (tx1 - tx0) * t), np.float32)  # at 1/s
        # Only the tiles where the level lives (downsampling is local to a tile); the rest,
        # margins included, are zeros.
        ty, tx = np.nonzero(tiles)
        ty, tx = ty - ty0, tx - tx0
        if len(ty) < (ty1 - ty0) * (tx1 - tx0):
            stack.fill(0.0)
        origin = (self.halo + ty0 * TILE, self.halo + tx0 * TILE)
        native.downsampled_layer(self.padded, origin, ty.astype(np.int64), tx.astype(np.int64),
                                 TILE, s, *self._tent(k), stack)  # fmt: skip
        if isinstance(kernel, KernelField):
            block = int(min(t, 2 ** max(0, round(math.log2(max(self.field_block / s, 1))))))
            blurred = blur_field(stack, kernel, origin=(box[0], box[2]), s=s, block=block)
            return "crop", s, box, blurred
        return "crop", s, box, blur_lowres(stack, kernel)

    def iter_blurred(self, order: Iterable[int], workers: Workers) -> Iterator[Item | None]:
        """``blurred(k)`` for each k of ``order``, in that order, computed on ``workers``
        (their number + 1 levels in flight at most)."""
        pending: deque = deque()
        for k in order:
            pending.append(workers.submit(self.blurred, k))
            if len(pending) > workers.n:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def composite_fine(
        self, groups: Sequence[tuple[Sequence[int], Accumulator]], workers: Workers
    ) -> None:
        """Blur the fine levels of each group and composite them, in the group's order, into
        its accumulator (which must be at full resolution and hold everything coarser)."""
        plans = []
        for order, acc in groups:
            for k in order:
                if k not in self.fine:
                    raise ValueError(f"level {k} is not a fine level")
                cells = self._cells(k)
                if cells.any():
                    kernel = self.kernel_for(k, 1)
                    reach = _grow(cells, -(-(kernel_width(kernel) // 2) // CELL))
                    blocks = _any_blocks(reach, BLOCK // CELL).ravel()
                    plans.append((k, kernel, column_taps(kernel), blocks, acc))
        if not plans:
            return
        ids = np.flatnonzero(np.logical_or.reduce([p[3] for p in plans]))
        batches = np.array_split(ids, max(2 * workers.n, -(-len(ids) // _BATCH_BLOCKS)))
        workers.map(lambda part: self._fine_batch(part, plans), batches)

    def _fine_batch(self, ids: np.ndarray, plans: list) -> None:
        """Composite every planned fine level on the blocks ``ids`` (row-major block numbers)."""
        by, bx = np.divmod(ids, self.shape[1] // BLOCK)
        for k, kernel, taps, reach, acc in plans:
            sel = np.flatnonzero(reach[ids])
            if not len(sel):
                continue
            r = kernel_width(kernel) // 2
            lo, mid, hi = self._tent(k)
            if taps is not None:  # built and blurred in one pass, on runs of blocks
                layer = np.empty((len(sel), 4, BLOCK, BLOCK), np.float32)
                native.blurred_runs(self.padded, _runs(by[sel], bx[sel]), self.halo - r, BLOCK,
                                    r, lo, mid, hi, *taps, layer)  # fmt: skip
            else:
                size = BLOCK + 2 * r
                layer = native.layer_windows(self.padded, by[sel], bx[sel], self.halo - r, size,
                                             BLOCK, lo, mid, hi)  # fmt: skip
                if r:
                    kernels = _block_kernels(kernel, by[sel], bx[sel])
                    layer = _depthwise(layer.reshape(-1, size, size), kernels)
                    layer = layer.reshape(len(sel), 4, BLOCK, BLOCK)
            sums = acc.sum_alpha if acc.sum_alpha is not None else _NONE
            native.composite_blocks(acc.rgba, sums, layer, by[sel], bx[sel],
                                    native.MODES[acc.mode])  # fmt: skip

    def _tent(self, k: int) -> tuple[float, float, float]:
        """Level k's CoC and its neighbours' (-inf / inf where there is none)."""
        levels = self.levels
        lo = float(levels[k - 1]) if k > 0 else -math.inf
        hi = float(levels[k + 1]) if k + 1 < len(levels) else math.inf
        return lo, float(levels[k]), hi


def _block_kernels(kernel, by: np.ndarray, bx: np.ndarray) -> np.ndarray:
    """The kernels of fine blocks (rows ``by``, columns ``bx``) for the channels of their
    layers, ordered block by block: (k, k) when all share one, else (4 N, k, k)."""
    if isinstance(kernel, KernelField):
        centres = np.stack([by, bx], axis=1) * BLOCK + (BLOCK - 1) / 2
        width = kernel.width(1)
        return kernel.at(centres, 1).reshape(-1, width, width)
    if kernel.ndim == 3:
        return np.tile(kernel, (len(by), 1, 1))
    return kernel


def _blocks(frame: np.ndarray, size: int = BLOCK) -> np.ndarray:
    """(H/size, W/size, C, size, size) view of a (C, H, W) array."""
    c, h, w = frame.shape
    return frame.reshape(c, h // size, size, w // size, size).transpose(1, 3, 0, 2, 4)

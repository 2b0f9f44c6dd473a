"""Physically based lens blur: occlusion-aware layered rendering in linear light.

How :func:`render_lens` works (one photo plus its disparity map):

1. Signed circle of confusion per pixel (:func:`bokeh.render.coc.signed_coc`): positive in front
   of the focal plane, negative behind it, zero inside the in-focus band.
2. The CoC range is cut into *levels* (0, +-1, +-2 px, then growing by ``LEVEL_GROWTH``); every
   pixel belongs to the two nearest levels with linear (tent) weights, so there is no banding.
3. Each level is a premultiplied RGBA layer (linear light times weight, weight) blurred with
   the aperture kernel of its radius. Large radii are blurred at reduced resolution (area
   downsampling by a power of two so that the kernel keeps at least ``min_lowres_radius``
   pixels), only over the tiles where the level is present, with FFT convolution.
4. Levels behind the focal plane and the focal plane itself are composited back to front with
   "over" and normalised by accumulated weight: a sharp subject neither bleeds into the blurred
   background nor leaves a dark halo around itself. Where the background is hidden (behind
   foreground objects) it is filled by push-pull extrapolation of the visible background.
5. Levels in front of the focal plane are composited front to back; their coverage is the sum
   of their blurred weights, so a blurred foreground spreads over the (filled) background.
6. Bright pixels are boosted in linear light before blurring (``highlight_boost``), so that
   out-of-focus highlights turn into bokeh balls; in-focus pixels are never boosted.

The whole pipeline works coarse to fine, so most of the work happens at low resolution.
:func:`render_scene` renders known RGBA scene layers (the synthetic benchmark) with the same lens
model; its hidden background is known, so nothing is filled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import fftconvolve

from bokeh.checks import check_image, check_map, check_unit_range
from bokeh.render.aperture import aperture_kernel
from bokeh.render.coc import signed_coc, strength_for_fnumber
from bokeh.render.color import DEFAULT_GAMMA, to_display, to_linear

__all__ = [
    "SceneLayer",
    "level_values",
    "render_lens",
    "render_scene",
    "strength_for_fnumber",
]

LEVEL_GROWTH = 1.35  # ratio between consecutive blur radii above 2 px
TILE = 32  # tile size (and the largest downsampling factor)
MAX_RADIUS = 256.0  # blur radii are clipped here (pixels)
_FILL_TAU = 0.05  # below this accumulated weight, colours come from the fill


@dataclass(frozen=True)
class SceneLayer:
    """One layer of a synthetic scene, back to front.

    rgb: (H, W, 3) sRGB in [0, 1]; alpha: (H, W) coverage in [0, 1];
    disparity: (H, W) normalised disparity in [0, 1] (1 = nearest).
    """

    rgb: np.ndarray
    alpha: np.ndarray
    disparity: np.ndarray


def level_values(max_radius: float) -> np.ndarray:
    """Signed blur radii of the rendering levels, ascending, covering +-``max_radius``.

    0, +-1, +-2 px, then growing by ``LEVEL_GROWTH``; the last level reaches ``max_radius``.
    """
    radii = [0.0]
    r = 1.0
    while radii[-1] < max_radius:
        radii.append(r)
        r = r + 1.0 if r < 2.0 else r * LEVEL_GROWTH
    positive = np.array(radii[1:], dtype=np.float64)
    return np.concatenate([-positive[::-1], [0.0], positive])


def _scale_for(radius: float, min_lowres_radius: float) -> int:
    """Largest power-of-two downsampling (<= TILE) that keeps the kernel >= min_lowres_radius px."""
    if radius < 2 * min_lowres_radius:
        return 1
    return int(min(TILE, 2 ** math.floor(math.log2(radius / min_lowres_radius))))


def _pad_to_tiles(array: np.ndarray) -> np.ndarray:
    h, w = array.shape[:2]
    ph, pw = (-h) % TILE, (-w) % TILE
    if ph == 0 and pw == 0:
        return np.ascontiguousarray(array)
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pad, mode="edge")


def _tile_range(coc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    th, tw = coc.shape[0] // TILE, coc.shape[1] // TILE
    tiles = coc.reshape(th, TILE, tw, TILE)
    return tiles.min(axis=(1, 3)), tiles.max(axis=(1, 3))


def _level_index(coc: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel, the index i of the level just below its CoC and the fraction t towards
    level i + 1: the pixel belongs to level i with weight 1 - t and to level i + 1 with t."""
    idx = np.clip(np.searchsorted(levels, coc, side="right") - 1, 0, len(levels) - 2)
    lo = levels[idx].astype(np.float32)
    step = (levels[idx + 1] - levels[idx]).astype(np.float32)
    frac = np.clip((coc - lo) / step, 0.0, 1.0)
    return idx.astype(np.int16), frac.astype(np.float32)


def _tent_weight(idx: np.ndarray, frac: np.ndarray, k: int) -> np.ndarray:
    """Weight of level k: 1 at the level, falling linearly to 0 at its neighbours."""
    return np.where(idx == k, 1.0 - frac, np.where(idx == k - 1, frac, 0.0)).astype(np.float32)


def _blur_same(stack: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel of a (C, h, w) stack with ``kernel``, symmetric boundary."""
    if kernel.shape == (1, 1):
        return stack
    r = kernel.shape[0] // 2
    padded = np.pad(stack, ((0, 0), (r, r), (r, r)), mode="symmetric")
    with scipy.fft.set_workers(torch.get_num_threads()):
        out = fftconvolve(padded, kernel[None], mode="valid", axes=(1, 2))
    return np.maximum(out, 0.0, out=out).astype(np.float32, copy=False)


def _downsample(stack: np.ndarray, s: int) -> np.ndarray:
    if s == 1:
        return stack
    t = torch.from_numpy(stack)[None]
    return F.avg_pool2d(t, s).numpy()[0]


def _upsample(stack: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return stack
    t = torch.from_numpy(np.ascontiguousarray(stack))[None]
    return F.interpolate(t, scale_factor=factor, mode="bilinear", align_corners=False).numpy()[0]


class _Levels:
    """Blurred premultiplied layers of one CoC map, one level at a time.

    ``blurred(k)`` returns ``None`` when level k is empty, else one of
    ``("crop", s, (y0, y1, x0, x1), rgba)``: (4, h/s, w/s) blurred RGBA of a tile-aligned crop
    at downsampling factor s, or ``("tiles", ty, tx, rgba)``: (N, 4, TILE, TILE) blurred RGBA of
    N full-resolution tiles, used when a sharp-ish level covers few tiles (object outlines).
    """

    def __init__(self, lin, coc, levels, *, blades, rotation, min_lowres_radius, coverage=None):
        self.lin, self.levels, self.coverage = lin, levels, coverage
        self.blades, self.rotation, self.min_lowres_radius = blades, rotation, min_lowres_radius
        self.tmin, self.tmax = _tile_range(coc)
        self.idx, self.frac = _level_index(coc, levels)
        self._windows = None

    def _kernel(self, radius: float, s: int) -> np.ndarray:
        # Edge softness of one full-resolution pixel at every scale: the area downsampling and
        # bilinear upsampling around a low-resolution blur already soften it by about s pixels.
        return aperture_kernel(
            radius / s, blades=self.blades, rotation=self.rotation, softness=max(1.0 / s, 0.25)
        )

    def _weight(self, k, idx, frac, coverage):
        w = _tent_weight(idx, frac, k)
        if coverage is not None:
            w *= coverage
        return w

    def blurred(self, k: int):
        levels = self.levels
        lo = levels[k - 1] if k > 0 else -np.inf
        hi = levels[k + 1] if k < len(levels) - 1 else np.inf
        active = (self.tmax > lo) & (self.tmin < hi)
        if not active.any():
            return None
        radius = abs(float(levels[k]))
        s = _scale_for(radius, self.min_lowres_radius)
        kernel = self._kernel(radius, s)
        rows, cols = np.nonzero(active.any(axis=1))[0], np.nonzero(active.any(axis=0))[0]
        margin = int(math.ceil((radius + 2) / TILE))
        th, tw = active.shape
        ty0, ty1 = max(rows[0] - margin, 0), min(rows[-1] + 1 + margin, th)
        tx0, tx1 = max(cols[0] - margin, 0), min(cols[-1] + 1 + margin, tw)
        if s == 1 and 1 < kernel.shape[0] <= 2 * _HALO + 1:
            out_tiles = _dilate(active)  # kernels here are smaller than a tile
            # Direct convolution of the few tiles where the level lives, unless an FFT over the
            # whole crop is cheaper (costs measured on a 2-core CPU: ~0.6 us per tile and kernel
            # tap, ~40 us per tile of FFT).
            if out_tiles.sum() * kernel.size < _TILE_VS_FFT * (ty1 - ty0) * (tx1 - tx0):
                return self._blurred_tiles(k, out_tiles, kernel)
        y0, y1, x0, x1 = ty0 * TILE, ty1 * TILE, tx0 * TILE, tx1 * TILE
        cov = None if self.coverage is None else self.coverage[y0:y1, x0:x1]
        w = self._weight(k, self.idx[y0:y1, x0:x1], self.frac[y0:y1, x0:x1], cov)
        if not w.any():
            return None
        stack = np.empty((4, y1 - y0, x1 - x0), np.float32)
        np.multiply(self.lin[y0:y1, x0:x1].transpose(2, 0, 1), w[None], out=stack[:3])
        stack[3] = w
        return "crop", s, (y0, y1, x0, x1), _blur_same(_downsample(stack, s), kernel)

    def _blurred_tiles(self, k, out_tiles, kernel):
        if self._windows is None:
            self._windows = self._make_windows()
        r = kernel.shape[0] // 2
        ty, tx = np.nonzero(out_tiles)
        cut = slice(_HALO - r, _HALO + TILE + r)
        lin_w, idx_w, frac_w, cov_w = self._windows
        idx = idx_w[ty, tx, cut, cut]
        frac = frac_w[ty, tx, cut, cut]
        cov = None if cov_w is None else cov_w[ty, tx, cut, cut]
        w = self._weight(k, idx, frac, cov)
        stack = np.empty((len(ty), 4) + w.shape[1:], np.float32)
        np.multiply(lin_w[ty, tx, :, cut, cut], w[:, None], out=stack[:, :3])
        stack[:, 3] = w
        weight = torch.from_numpy(np.ascontiguousarray(kernel[::-1, ::-1]))[None, None]
        out = F.conv2d(torch.from_numpy(stack), weight.expand(4, 1, -1, -1), groups=4)
        return "tiles", ty, tx, out.clamp_min_(0.0).numpy()

    def _make_windows(self):
        """Per-tile views (th, tw, ..., TILE + 2 HALO, TILE + 2 HALO) of the padded inputs."""

        def windows(a):
            pad = [(_HALO, _HALO), (_HALO, _HALO)] + [(0, 0)] * (a.ndim - 2)
            padded = np.pad(a, pad, mode="symmetric")
            view = sliding_window_view(padded, (TILE + 2 * _HALO,) * 2, axis=(0, 1))
            return view[::TILE, ::TILE]

        cov = None if self.coverage is None else windows(self.coverage)
        return windows(self.lin), windows(self.idx), windows(self.frac), cov


_TILE_VS_FFT = 60.0
_HALO = 16  # padding around tiles for the sparse path (>= the largest full-resolution kernel)


def _dilate(mask: np.ndarray) -> np.ndarray:
    """Tiles within one tile of a True tile (8-neighbourhood)."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    grown = out.copy()
    grown[:, 1:] |= out[:, :-1]
    grown[:, :-1] |= out[:, 1:]
    return grown


class _Accumulator:
    """A full-image RGBA accumulator that lives at the scale of the levels fed to it."""

    def __init__(self, shape: tuple[int, int], mode: str):
        self.shape, self.mode = shape, mode
        self.scale = None
        self.rgba = None
        self.sum_alpha = None  # "under" mode: total blurred weight (coverage)

    def _rescale(self, s: int) -> None:
        h, w = self.shape
        if self.scale is None:
            self.scale = s
            self.rgba = np.zeros((4, h // s, w // s), np.float32)
            if self.mode == "under":
                self.sum_alpha = np.zeros((h // s, w // s), np.float32)
            return
        if s > self.scale:
            raise AssertionError("levels must be fed coarse to fine")
        if s < self.scale:
            factor = self.scale // s
            self.rgba = _upsample(self.rgba, factor)
            if self.sum_alpha is not None:
                self.sum_alpha = _upsample(self.sum_alpha[None], factor)[0]
            self.scale = s

    def _combine(self, region: np.ndarray, layer: np.ndarray, channel_axis: int) -> np.ndarray:
        alpha = np.take(layer, [3], axis=channel_axis)
        if self.mode == "over":  # layer in front of what is accumulated
            return layer + (1.0 - alpha) * region
        if self.mode == "under":  # layer behind what is accumulated
            acc_alpha = np.clip(np.take(region, [3], axis=channel_axis), 0.0, 1.0)
            return region + (1.0 - acc_alpha) * layer
        return region + layer  # "add": levels of one surface

    def add(self, item) -> None:
        if item is None:
            return
        if item[0] == "crop":
            _, s, (y0, y1, x0, x1), layer = item
            self._rescale(s)
            rows, cols = slice(y0 // s, y1 // s), slice(x0 // s, x1 // s)
            self.rgba[:, rows, cols] = self._combine(self.rgba[:, rows, cols], layer, 0)
            if self.sum_alpha is not None:
                self.sum_alpha[rows, cols] += layer[3]
            return
        _, ty, tx, layer = item
        self._rescale(1)
        h, w = self.shape
        tiled = self.rgba.reshape(4, h // TILE, TILE, w // TILE, TILE)
        tiled[:, ty, :, tx, :] = self._combine(tiled[:, ty, :, tx, :], layer, 1)
        if self.sum_alpha is not None:
            self.sum_alpha.reshape(h // TILE, TILE, w // TILE, TILE)[ty, :, tx, :] += layer[:, 3]

    def full(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(4, H, W) accumulated RGBA at full resolution (and the summed alpha in "under" mode)."""
        if self.scale is None:
            h, w = self.shape
            zeros = np.zeros((4, h, w), np.float32)
            return zeros, (zeros[3] if self.mode == "under" else None)
        self._rescale(1)
        return self.rgba, self.sum_alpha


def _push_pull(rgba: np.ndarray) -> np.ndarray:
    """Extrapolate premultiplied (4, H, W) RGBA into a complete (3, H, W) colour image.

    Where alpha is 1 the colour is kept; where it is 0 the colour comes from ever coarser
    averages of the covered pixels nearby (push-pull), so holes fill with nearby colours.
    """
    pyramid = [torch.from_numpy(np.ascontiguousarray(rgba))[None]]
    while min(pyramid[-1].shape[-2:]) > 2:
        pyramid.append(F.avg_pool2d(pyramid[-1], 2, ceil_mode=True))
    top = pyramid[-1]
    alpha = top[:, 3:4]
    total = float(alpha.sum())
    mean = top[:, :3].sum(dim=(2, 3), keepdim=True) / total if total > 0 else top[:, :3] * 0
    color = torch.where(
        alpha > 1e-6, top[:, :3] / alpha.clamp_min(1e-6), mean.expand_as(top[:, :3])
    )
    for level in reversed(pyramid[:-1]):
        up = F.interpolate(color, size=level.shape[-2:], mode="bilinear", align_corners=False)
        a = level[:, 3:4].clamp(0.0, 1.0)
        norm = level[:, :3] / a.clamp_min(1e-6)
        # Trust a level's own colour in proportion to its coverage.
        trust = (a * 4).clamp(0.0, 1.0)
        color = trust * norm + (1 - trust) * up
    return color[0].numpy()


def _fill(rgba: np.ndarray) -> np.ndarray:
    """Complete (3, H, W) colour image from accumulated (4, H, W) RGBA: normalised where the
    accumulated weight suffices, extrapolated where the background was hidden."""
    alpha = rgba[3:4]
    if float(alpha.min()) >= _FILL_TAU:
        return rgba[:3] / alpha
    h, w = alpha.shape[1:]
    s = 4 if min(h, w) >= 64 else 1
    coarse = _downsample(rgba[:, : h - h % s, : w - w % s], s) if s > 1 else rgba
    extra = _push_pull(coarse)
    if s > 1:
        extra = _upsample(extra, s)
        if extra.shape[1:] != (h, w):
            extra = np.pad(
                extra, ((0, 0), (0, h - extra.shape[1]), (0, w - extra.shape[2])), mode="edge"
            )
    lack = np.maximum(_FILL_TAU - alpha, 0.0)
    return (rgba[:3] + lack * extra) / np.maximum(alpha, _FILL_TAU)


def _smoothstep_(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """In-place smoothstep of x between lo and hi."""
    x -= lo
    x *= 1.0 / (hi - lo)
    np.clip(x, 0.0, 1.0, out=x)
    x *= x * (3.0 - 2.0 * x)
    return x


def _boost_highlights(lin, image, coc, boost):
    """Multiply bright, out-of-focus pixels (in place) so that they stay bright after spreading."""
    if boost <= 0:
        return lin
    gain = _smoothstep_(
        np.maximum(np.maximum(image[..., 0], image[..., 1]), image[..., 2]), 0.75, 1.0
    )
    gain *= _smoothstep_(np.abs(coc), 0.5, 2.0)
    gain *= np.float32(boost)
    gain += 1.0
    lin *= gain[..., None]
    return lin


def _check_options(
    strength, band, blades, highlight_boost, min_lowres_radius, rotation=0.0, gamma=DEFAULT_GAMMA
):
    if not math.isfinite(rotation):
        raise ValueError(f"rotation must be a finite number of degrees, got {rotation}")
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be a positive number, got {gamma}")
    if not (math.isfinite(strength) and strength >= 0):
        raise ValueError(f"strength must be a finite number >= 0, got {strength}")
    if not (math.isfinite(band) and band >= 0):
        raise ValueError(f"band must be a finite number >= 0, got {band}")
    if blades != 0 and not 3 <= blades <= 16:
        raise ValueError(f"blades must be 0 (round) or 3..16, got {blades}")
    if not (math.isfinite(highlight_boost) and highlight_boost >= 0):
        raise ValueError(f"highlight_boost must be >= 0, got {highlight_boost}")
    if min_lowres_radius < 1:
        raise ValueError(f"min_lowres_radius must be >= 1, got {min_lowres_radius}")


def render_lens(
    image: np.ndarray,
    disparity: np.ndarray,
    *,
    focus_disparity: float,
    strength: float,
    band: float = 0.0,
    blades: int = 0,
    rotation: float = 0.0,
    highlight_boost: float = 0.0,
    gamma: float = DEFAULT_GAMMA,
    min_lowres_radius: float = 4.0,
    highlight_gain: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Render a shallow depth of field from one photo and its disparity map.

    Args:
        image: (H, W, 3) float sRGB in [0, 1].
        disparity: (H, W) normalised disparity in [0, 1], 1 = nearest.
        focus_disparity: disparity of the focal plane, in [0, 1].
        strength: blur radius in pixels for a unit disparity difference, >= 0
            (see :func:`strength_for_fnumber`); 0 returns the input unchanged.
        band: half-width of the in-focus band, in disparity units (>= 0).
        blades: 0 for a round aperture, else the number of blades (3..16).
        rotation: aperture rotation in degrees.
        highlight_boost: extra gain (>= 0) for bright out-of-focus pixels, in linear light.
        gamma: power law between display values and linear light.
        min_lowres_radius: smallest kernel radius (px) kept when blurring at reduced
            resolution; larger is more exact and slower.
        highlight_gain: ``f(image, coc) -> (H, W) gain >= 1`` applied to linear light instead
            of ``highlight_boost``'s rule (e.g. :func:`bokeh.render.highlights.highlight_gain`).

    Returns:
        (H, W, 3) float32 sRGB in [0, 1]. Pixels inside the in-focus band, away from blurred
        foreground, are returned unchanged (up to float rounding).
    """
    image = check_image(image)
    check_unit_range(image, "image")
    disparity = check_map(disparity, image.shape[:2], "disparity")
    check_unit_range(disparity, "disparity")
    _check_options(strength, band, blades, highlight_boost, min_lowres_radius, rotation, gamma)
    coc = np.clip(
        signed_coc(disparity, focus_disparity=focus_disparity, strength=strength, band=band),
        -MAX_RADIUS,
        MAX_RADIUS,
    )
    max_r = float(np.abs(coc).max())
    if max_r < 0.5:
        return image.copy()
    h, w = image.shape[:2]
    if highlight_gain is None:
        lin = _boost_highlights(to_linear(image, gamma=gamma), image, coc, highlight_boost)
    else:
        lin = (
            to_linear(image, gamma=gamma)
            * check_map(highlight_gain(image, coc), (h, w), "highlight_gain")[..., None]
        )
    lin, coc = _pad_to_tiles(lin), _pad_to_tiles(coc)
    levels = level_values(max_r)
    blur = _Levels(
        lin, coc, levels, blades=blades, rotation=rotation, min_lowres_radius=min_lowres_radius
    )
    zero = int(np.argmin(np.abs(levels)))

    behind = _Accumulator(coc.shape, "over")  # back to front: farthest (coarsest) first
    for k in range(0, zero + 1):
        behind.add(blur.blurred(k))
    front = _Accumulator(coc.shape, "under")  # front to back: nearest (coarsest) first
    for k in range(len(levels) - 1, zero, -1):
        front.add(blur.blurred(k))

    background = _fill(behind.full()[0])
    front_rgba, coverage = front.full()
    cover = np.clip(coverage, 0.0, 1.0)[None]
    front_color = front_rgba[:3] / np.maximum(front_rgba[3:4], 1e-6)
    out = cover * front_color + (1.0 - cover) * background
    return to_display(out[:, :h, :w].transpose(1, 2, 0), gamma=gamma)


def render_scene(
    layers: Sequence[SceneLayer],
    *,
    focus_disparity: float,
    strength: float,
    band: float = 0.0,
    blades: int = 0,
    rotation: float = 0.0,
    highlight_boost: float = 0.0,
    gamma: float = DEFAULT_GAMMA,
    min_lowres_radius: float = 4.0,
) -> np.ndarray:
    """Render known scene layers (back to front) with the lens model of :func:`render_lens`.

    Each layer is blurred level by level (its own disparity may vary, e.g. a ground plane) and
    composited over the layers behind it; the hidden background is known, so nothing is
    extrapolated. Options as in :func:`render_lens`.

    Returns:
        (H, W, 3) float32 sRGB in [0, 1]; where the layers do not cover the frame, black.
    """
    if not layers:
        raise ValueError("render_scene needs at least one layer")
    _check_options(strength, band, blades, highlight_boost, min_lowres_radius, rotation, gamma)
    shape = check_image(layers[0].rgb, "layers[0].rgb").shape[:2]
    h, w = shape
    total = None
    for i, layer in enumerate(layers):
        rgb = check_image(layer.rgb, f"layers[{i}].rgb")
        check_unit_range(rgb, f"layers[{i}].rgb")
        alpha = check_map(layer.alpha, shape, f"layers[{i}].alpha")
        disp = check_map(layer.disparity, shape, f"layers[{i}].disparity")
        check_unit_range(alpha, f"layers[{i}].alpha")
        check_unit_range(disp, f"layers[{i}].disparity")
        coc = np.clip(
            signed_coc(disp, focus_disparity=focus_disparity, strength=strength, band=band),
            -MAX_RADIUS,
            MAX_RADIUS,
        )
        lin = _boost_highlights(to_linear(rgb, gamma=gamma), rgb, coc, highlight_boost)
        lin, coc, alpha = _pad_to_tiles(lin), _pad_to_tiles(coc), _pad_to_tiles(alpha)
        levels = level_values(max(float(np.abs(coc).max()), 0.5))
        blur = _Levels(
            lin,
            coc,
            levels,
            blades=blades,
            rotation=rotation,
            min_lowres_radius=min_lowres_radius,
            coverage=alpha,
        )
        acc = _Accumulator(coc.shape, "add")
        for k in np.argsort(-np.abs(levels), kind="stable"):  # coarse to fine
            acc.add(blur.blurred(int(k)))
        rgba = acc.full()[0]
        # "over": this layer in front of everything composited so far
        total = rgba if total is None else rgba + (1.0 - np.clip(rgba[3:4], 0.0, 1.0)) * total
    out = total[:3, :h, :w].transpose(1, 2, 0)
    return to_display(out, gamma=gamma)

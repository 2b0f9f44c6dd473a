"""Physically based lens blur: occlusion-aware layered rendering in linear light.

How :func:`render_lens` works (one photo plus its disparity map):

1. Signed circle of confusion per pixel (:func:`bokeh.renderers.coc.signed_coc`): positive in front
   of the focal plane, negative behind it, zero inside the in-focus band.
2. The CoC range is cut into *levels* (0, +-1, +-2 px, then growing by ``LEVEL_GROWTH``); every
   pixel belongs to the two nearest levels with linear (tent) weights, so there is no banding.
3. Each level is a premultiplied RGBA layer (linear light times weight, weight) blurred with
   the aperture kernel of its radius, only where the level is present (see
   :mod:`bokeh.renderers.levels`). Large radii are blurred at reduced resolution (area
   downsampling by a power of two so that the kernel keeps at least ``min_lowres_radius``
   pixels) with kernels that compensate the resampling (:mod:`bokeh.renderers.resample`).
4. Levels behind the focal plane and the focal plane itself are composited back to front with
   "over" and normalised by accumulated weight: a sharp subject neither bleeds into the blurred
   background nor leaves a dark halo around itself. Where the background is hidden (behind
   foreground objects) it is filled by push-pull extrapolation of the visible background.
5. Levels in front of the focal plane are composited front to back; their coverage is the sum
   of their blurred weights, so a blurred foreground spreads over the (filled) background.
6. Bright pixels are boosted in linear light before blurring (``highlight_boost``), so that
   out-of-focus highlights turn into bokeh balls; in-focus pixels are never boosted.

Levels are composited coarse to fine: the reduced-resolution ones first, then the
full-resolution ones block by block. The output does not depend on the thread count.
:func:`render_scene` renders known RGBA scene layers (the synthetic benchmark) with the same lens
model; its hidden background is known, so nothing is filled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bokeh.checks import check_image, check_map, check_unit_range
from bokeh.renderers import fill_native, native
from bokeh.renderers.character import PLAIN, Character
from bokeh.renderers.coc import signed_coc, strength_for_fnumber
from bokeh.renderers.color import DEFAULT_GAMMA, to_display, to_linear
from bokeh.renderers.composite import Accumulator
from bokeh.renderers.highlights import highlight_mask
from bokeh.renderers.kernels import LevelKernels
from bokeh.renderers.levels import BLOCK, TILE, Levels
from bokeh.renderers.levels import pad_to_tiles as _pad_to_tiles
from bokeh.renderers.scratch import POOL
from bokeh.rowbands import Workers
from bokeh.threads import single_threaded_torch

__all__ = [
    "SceneLayer",
    "level_values",
    "render_lens",
    "render_scene",
    "strength_for_fnumber",
    "warm_up",
]

LEVEL_GROWTH = 1.35  # ratio between consecutive blur radii above 2 px
MAX_RADIUS = 256.0  # blur radii are clipped here (pixels)
_FILL_TAU = 0.05  # below this accumulated weight, colours come from the fill
_NO_FILL = np.zeros((3, 1, 1), np.float32)  # finish_rows' fill colour where none is needed


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


def _extrapolated(low: tuple[np.ndarray, int]) -> tuple[np.ndarray, int]:
    """Push-pull extrapolation of :func:`_fill_source`'s (RGBA, s): ((3, H/s, W/s) colour, s)."""
    return _push_pull(low[0]), low[1]


def _fill_source(rgba: np.ndarray, workers: Workers | None) -> tuple[np.ndarray, int] | None:
    """What the fill extrapolates: ((4, H/s, W/s) area-downsampled RGBA, s), or None when no
    pixel lacks weight (then nothing is downsampled); in row bands on ``workers``."""
    h, w = rgba.shape[1:]
    workers = workers or Workers(1)
    if min(workers.map_rows(lambda y0, y1: float(rgba[3, y0:y1].min()), h)) >= _FILL_TAU:
        return None
    if min(h, w) < 64:
        return rgba, 1
    s = 4
    coarse = np.empty((4, h // s, w // s), np.float32)
    # resample.area_downsample's loop, in bands of rows
    workers.map_rows(lambda y0, y1: native.area_mean(rgba, s, y0, y1, coarse), h - h % s,
                     step=s)  # fmt: skip
    return coarse, s


def _fill_rows(rgba: np.ndarray, extra, y0: int, y1: int) -> np.ndarray:
    """Rows y0..y1 of :func:`_fill` (``extra`` from :func:`_extrapolated` or None): (3, y1-y0, W)."""
    out = np.empty((3, y1 - y0, rgba.shape[2]), np.float32)
    colour, s = (_NO_FILL, 0) if extra is None else extra
    fill_native.fill_rows(rgba, colour, s, np.float32(_FILL_TAU), y0, out)
    return out


def _fill(rgba: np.ndarray) -> np.ndarray:
    """Complete (3, H, W) colour image from accumulated (4, H, W) RGBA: normalised where the
    accumulated weight suffices, extrapolated where the background was hidden."""
    low = _fill_source(rgba, None)
    return _fill_rows(rgba, None if low is None else _extrapolated(low), 0, rgba.shape[1])


def _finish(behind, front, coverage, shape, gamma, workers: Workers):
    """The output (H, W, 3) in display values: the filled background under the blurred
    foreground (whose weight is ``coverage``), in row bands on ``workers``."""
    h, w = shape
    low = _fill_source(behind, workers)
    extra = None
    if low is not None:  # extrapolated on a worker while bands that need none go ahead
        extra = workers.submit(_extrapolated, low)
    out = np.empty((h, w, 3), np.float32)
    tau = np.float32(_FILL_TAU)

    def band(y0: int, y1: int) -> None:
        colour, s = _NO_FILL, 0
        if extra is not None and float(behind[3, y0:y1].min()) < tau:
            colour, s = extra.result()  # waited for only by bands that lack weight
        native.finish_rows(behind, front, coverage, colour, s, tau, y0, out[y0:y1])
        np.power(out[y0:y1], np.float32(1.0 / gamma), out=out[y0:y1])

    spans = [(y, min(y + TILE, h)) for y in range(0, h, TILE)]  # bands that stay in cache
    workers.map(lambda span: band(*span), spans)
    return out


def _boost_highlights(lin, image, coc, boost):
    """Multiply bright, out-of-focus pixels (in place) so that they stay bright after spreading."""
    if boost > 0:
        native.boost_highlights(lin, np.ascontiguousarray(image, np.float32), coc, boost)
    return lin


def _clipped_coc(disparity, workers: Workers, **lens) -> tuple[np.ndarray, float]:
    """(H, W) float32 signed CoC (:func:`signed_coc` with ``lens``) clipped to
    +-``MAX_RADIUS``, and its largest magnitude; in row bands on ``workers``."""
    coc = np.empty(disparity.shape, np.float32)

    def rows(y0: int, y1: int) -> float:
        np.clip(signed_coc(disparity[y0:y1], **lens), -MAX_RADIUS, MAX_RADIUS, out=coc[y0:y1])
        return float(np.abs(coc[y0:y1]).max())

    return coc, max(workers.map_rows(rows, coc.shape[0]))


def _linear_light(image, coc, *, gamma, boost, gain, workers: Workers) -> np.ndarray:
    """(H, W, 3) float32 linear light of ``image``, its highlights boosted by ``gain``
    ((H, W)) when given, else by the ``boost`` rule (:func:`_boost_highlights`); in row bands
    on ``workers``."""
    lin = POOL.empty(image.shape, np.float32)  # given back once the levels have copied it

    def rows(y0: int, y1: int) -> None:
        part = to_linear(image[y0:y1], gamma=gamma, out=lin[y0:y1])
        if gain is not None:
            part *= gain[y0:y1, :, None]
        else:
            _boost_highlights(part, image[y0:y1], coc[y0:y1], boost)

    workers.map_rows(rows, image.shape[0])
    return lin


def _field_block(h: int, w: int) -> int:
    """Full-resolution side of the blocks that share a cat-eye kernel in coarse levels: about
    a 16th of the half-diagonal (the kernel changes little across it), 8..64 px."""
    return int(min(64, max(8, math.hypot(h, w) / 32, BLOCK)))


def _composite_levels(blur: Levels, groups, workers: Workers) -> None:
    """Composite each group's levels, in order (coarse to fine), into its accumulator: the
    coarse levels as they come from the workers, then the fine ones block by block."""
    groups = [([int(k) for k in order], acc) for order, acc in groups]
    coarse = [(k, acc) for order, acc in groups for k in order if k not in blur.fine]
    items = blur.iter_blurred([k for k, _ in coarse], workers)
    for (_, acc), item in zip(coarse, items, strict=True):
        acc.add(item)
    for _, acc in groups:
        acc.rescale(1, workers)
    blur.composite_fine([([k for k in o if k in blur.fine], acc) for o, acc in groups], workers)


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
    falloff: float = 0.0,
    character: Character = PLAIN,
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
            of ``highlight_boost``'s rule (e.g. :func:`bokeh.renderers.highlights.highlight_gain`).
        falloff: a gentler transition beyond the band's edges, in disparity units (>= 0; see
            :func:`bokeh.renderers.coc.signed_coc`).
        character: the lens's character (:class:`bokeh.renderers.character.Character`):
            cat-eye, soap bubble, ring, chromatic aberration; plain by default.

    Returns:
        (H, W, 3) float32 sRGB in [0, 1]. Pixels inside the in-focus band, away from blurred
        foreground, are returned unchanged (up to float rounding).
    """
    image = check_image(image)
    check_unit_range(image, "image")
    disparity = check_map(disparity, image.shape[:2], "disparity")
    check_unit_range(disparity, "disparity")
    _check_options(strength, band, blades, highlight_boost, min_lowres_radius, rotation, gamma)
    if not isinstance(character, Character):
        raise TypeError(f"character must be a Character, got {type(character).__name__}")
    with single_threaded_torch() as threads, Workers(threads) as workers:
        coc, max_r = _clipped_coc(disparity, workers, focus_disparity=focus_disparity,
                                  strength=strength, band=band, falloff=falloff)  # fmt: skip
        if max_r < 0.5:
            return image.copy()
        h, w = image.shape[:2]
        gain = None
        if highlight_gain is not None:
            gain = check_map(highlight_gain(image, coc), (h, w), "highlight_gain")
        levels = level_values(max_r)
        zero = int(np.argmin(np.abs(levels)))
        kernels = LevelKernels(levels, blades=blades, rotation=rotation, character=character,
                               frame=(h, w))  # fmt: skip
        lin = _linear_light(image, coc, gamma=gamma, boost=highlight_boost, gain=gain,
                            workers=workers)  # fmt: skip
        pooled = lin
        lin, coc = _pad_to_tiles(lin), _pad_to_tiles(coc)
        behind = Accumulator(coc.shape, "over")  # back to front: farthest (coarsest) first
        front = Accumulator(coc.shape, "under")  # front to back: nearest (coarsest) first
        blur = Levels(lin, coc, levels, kernel_for=kernels, min_lowres_radius=min_lowres_radius,
                      workers=workers, spread=kernels.spread, field_block=_field_block(h, w))  # fmt: skip
        POOL.give(pooled)  # the levels keep their own padded copy
        groups = [(range(0, zero + 1), behind), (range(len(levels) - 1, zero, -1), front)]
        _composite_levels(blur, groups, workers)
        blur.release()
        front_rgba, coverage = front.full(workers)
        out = _finish(behind.full(workers)[0], front_rgba, coverage, (h, w), gamma, workers)
        behind.release()
        front.release()
        return out


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
        acc = Accumulator(coc.shape, "add")
        order = [int(k) for k in np.argsort(-np.abs(levels), kind="stable")]  # coarse first
        with single_threaded_torch() as threads, Workers(threads) as workers:
            blur = Levels(
                lin,
                coc,
                levels,
                kernel_for=LevelKernels(levels, blades=blades, rotation=rotation, frame=(h, w)),
                min_lowres_radius=min_lowres_radius,
                coverage=alpha,
                workers=workers,
            )
            _composite_levels(blur, [(order, acc)], workers)
            rgba = acc.full(workers)[0]
        # "over": this layer in front of everything composited so far
        total = rgba if total is None else rgba + (1.0 - np.clip(rgba[3:4], 0.0, 1.0)) * total
    out = total[:3, :h, :w].transpose(1, 2, 0)
    return to_display(out, gamma=gamma)


def warm_up() -> None:
    """Compile the renderer's loops (:mod:`bokeh.renderers.native`) now, or load them from
    numba's disk cache in a new process (``python -m eval.bench_start`` times both); otherwise
    the first render waits for that. Renders a small scene that takes every path: full- and
    reduced-resolution levels, light above white, and a blurred foreground over background
    that has to be filled in."""
    h, w = 96, 128
    image = np.full((h, w, 3), 0.5, np.float32)
    image[(np.arange(h)[:, None] % 7 < 2) & (np.arange(w) % 9 < 2)] = 1.0  # 2 x 2 highlights
    disparity = np.full((h, w), 0.1, np.float32)
    disparity[32:64, 40:88] = 1.0  # a near box, blurred over the sharp background
    disparity[80:] = np.linspace(0.1, 0.4, w, dtype=np.float32)  # blur growing from 0: fine levels
    render_lens(image, disparity, focus_disparity=0.1, strength=40.0, band=0.03,
                highlight_boost=1.5)  # fmt: skip
    highlight_mask(image)  # the app's highlight gain (its darkest channel)

"""How blurred is the input already? A distance scale for relative depth from the input's own
depth of field.

A photo shot at f/16 (the input of EBB! and VABD) is not sharp everywhere: its background is
blurred by ``r_in = K_in * |d - d_f|`` pixels, with ``K_in`` the same strength the renderer
needs, at the input's f-number. Relative depth has no distance scale, but that blur has one:
measured, it gives the strength at the target f-number, ``K = K_in * N_in / N`` (blur is
proportional to 1/N). This is what :func:`measure_input_blur` does:

1. Luma (Rec. 601 weights) lightly smoothed (Gaussian sigma 0.8 px, against sensor noise), cut
   into square tiles of ``TILE_AT_1024`` px at 1024 px short side (scaled with the image).
2. Per tile, the edge width ``w = (max - min) / max|gradient|``: about 1-3 px for a sharp edge,
   and growing with blur. Tiles with a contrast below ``MIN_CONTRAST`` are left out (noise).
3. The sharpest tiles (the ``BASE_PERCENTILE`` percentile of widths) give the camera's own base
   width ``w0`` (lens, demosaicing, JPEG); a tile's defocus radius is
   ``sqrt(w^2 - w0^2) / WIDTH_PER_RADIUS``.
4. Tiles at least ``MIN_DISPARITY_GAP`` away from the focal plane in disparity, and without a
   depth edge inside (disparity spread below ``MAX_TILE_SPREAD``), each give
   ``K_i = radius / |d - d_f|``; ``K_in`` is their median (None with fewer than
   ``MIN_TILES``).

It is a scale estimate, within about a factor of two on VABD, not a measurement: on a photo
that is sharp everywhere it still reads about 1.8 px per unit (tiles differ in edge width by
content), and sensor noise at night makes edges look sharper than they are.

``WIDTH_PER_RADIUS`` (1.4) was measured on scikit-image's bundled photos blurred with this
renderer's disc kernel at radii 1..8 px (``tests/test_render_defocus.py`` checks it), not on any
evaluation photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["BlurEstimate", "measure_input_blur"]

TILE_AT_1024 = 64
MIN_CONTRAST = 0.12
BASE_PERCENTILE = 10.0
WIDTH_PER_RADIUS = 1.4
MIN_DISPARITY_GAP = 0.3
MAX_TILE_SPREAD = 0.1
MIN_TILES = 8
MIN_SHORT_SIDE = 256


@dataclass(frozen=True)
class BlurEstimate:
    """``strength``: K_in, blur radius in pixels per unit of normalised disparity in the input
    (None when not measurable, with the reason in ``note``); ``tiles``: how many tiles voted;
    ``base_width``: the sharpest tiles' edge width (px)."""

    strength: float | None
    tiles: int
    base_width: float
    note: str


def _tiles(a: np.ndarray, t: int) -> np.ndarray:
    th, tw = a.shape[0] // t, a.shape[1] // t
    return a[: th * t, : tw * t].reshape(th, t, tw, t)


def measure_input_blur(
    image: np.ndarray, disparity: np.ndarray, *, focus_disparity: float
) -> BlurEstimate:
    """Measure the input's own defocus blur against disparity (see the module docstring).

    Args:
        image: (H, W, 3) float sRGB in [0, 1].
        disparity: (H, W) normalised disparity in [0, 1], 1 = nearest.
        focus_disparity: the focal plane's disparity, in [0, 1].

    Returns:
        :class:`BlurEstimate`; ``strength`` is None when the image is smaller than
        ``MIN_SHORT_SIDE`` or too few tiles away from the focal plane carry contrast.
    """
    image = np.asarray(image, dtype=np.float32)
    disparity = np.asarray(disparity, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or disparity.shape != image.shape[:2]:
        raise ValueError(
            f"image must be (H, W, 3) and disparity (H, W); got {image.shape} and {disparity.shape}"
        )
    short = min(image.shape[:2])
    if short < MIN_SHORT_SIDE:
        return BlurEstimate(None, 0, float("nan"), f"image too small (short side {short} px)")
    t = max(16, int(round(TILE_AT_1024 * short / 1024)))
    luma = ndimage.gaussian_filter(image @ np.array([0.299, 0.587, 0.114], np.float32), 0.8)
    gy, gx = np.gradient(luma)
    grad = _tiles(np.hypot(gx, gy), t).max(axis=(1, 3))
    tl = _tiles(luma, t)
    contrast = tl.max(axis=(1, 3)) - tl.min(axis=(1, 3))
    width = contrast / np.maximum(grad, 1e-6)
    td = _tiles(disparity, t)
    d_mid = np.median(td.transpose(0, 2, 1, 3).reshape(td.shape[0], td.shape[2], -1), axis=2)
    spread = td.max(axis=(1, 3)) - td.min(axis=(1, 3))
    textured = contrast >= MIN_CONTRAST
    if textured.sum() < MIN_TILES:
        return BlurEstimate(None, 0, float("nan"), "too little contrast to measure blur")
    base = float(np.percentile(width[textured], BASE_PERCENTILE))
    gap = np.abs(d_mid - focus_disparity)
    voters = textured & (gap >= MIN_DISPARITY_GAP) & (spread <= MAX_TILE_SPREAD)
    n = int(voters.sum())
    if n < MIN_TILES:
        return BlurEstimate(None, n, base, f"only {n} textured tiles away from the focal plane")
    radius = np.sqrt(np.maximum(width[voters] ** 2 - base**2, 0.0)) / WIDTH_PER_RADIUS
    k = float(np.median(radius / gap[voters]))
    return BlurEstimate(k, n, base, f"input blur {k:.2f} px per unit disparity ({n} tiles)")

"""Which pixels a lens turns into bright bokeh discs, and by how much to brighten them.

A photo clips light sources: a street lamp a hundred times brighter than white is stored as
white. Spread over a wide disc by the renderer, a clipped lamp would fade to grey, while the
real wide-aperture photo shows a large, still clipped disc. Large bright areas (a sky, a sunlit
wall, water) are different: they are about as bright as they look, and brightening them only
turns a blue sky white. So :func:`highlight_mask` selects only highlights that are

* **clipped to white**: the darkest channel near 1 (smoothstep from ``CLIP_LOW`` to
  ``CLIP_HIGH``); a blue sky or an orange wall clips one channel, a lamp's core all three;
* **small and compact**: connected regions (darkest channel above ``CLIP_LOW``) at most
  ``MAX_EXTENT`` px long (at 1024 px short side) and at most ``MAX_ELONGATION`` times longer than
  wide, so that white poles, edges, bright borders and white walls are left alone;

and :func:`highlight_gain` brightens them, where out of focus, in linear light so that the disc
they spread into keeps the brightness of a source of radius ``REF_RADIUS`` px:
``gain = 1 + boost * (|CoC| / REF_RADIUS)^2`` (capped at ``MAX_GAIN``). A lamp whose clipped
core is ``REF_RADIUS`` px wide becomes a clipped disc of the CoC's size; a smaller glint becomes
a fainter disc, in proportion to its area.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from bokeh import lazy

__all__ = ["highlight_gain", "highlight_mask"]

CLIP_LOW, CLIP_HIGH = 0.88, 0.96
MAX_EXTENT = 128.0  # px at 1024 px short side
MAX_ELONGATION = 3.0
REF_RADIUS = 4.0  # px at 1024 px short side
MAX_GAIN = 2000.0


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def highlight_mask(image: np.ndarray) -> np.ndarray:
    """Soft mask of small, compact, white-clipped highlights (see the module docstring).

    Args:
        image: (H, W, 3) float sRGB in [0, 1].

    Returns:
        (H, W) float32 in [0, 1]: 1 on point lights and glints, 0 on large or elongated bright
        areas and on everything that is not near white.
    """
    image = np.ascontiguousarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got {image.shape}")
    low = np.empty(image.shape[:2], np.float32)  # the darkest channel, in one compiled pass
    if not lazy.load("bokeh.renderers.native:darkest_channel")(image, low) > CLIP_LOW:
        return np.zeros(low.shape, np.float32)  # no candidate
    candidates = low > CLIP_LOW
    unit = min(low.shape) / 1024
    labels, count = ndimage.label(candidates)
    compact = np.zeros(count + 1, bool)  # by label; label 0 (not a candidate) stays False
    for k, box in enumerate(ndimage.find_objects(labels), start=1):
        sides = sorted(sl.stop - sl.start for sl in box)
        compact[k] = sides[1] <= MAX_EXTENT * unit and sides[1] <= MAX_ELONGATION * sides[0]
    return (compact[labels] * _smoothstep(low, CLIP_LOW, CLIP_HIGH)).astype(np.float32)


def highlight_gain(image: np.ndarray, coc: np.ndarray, *, boost: float) -> np.ndarray:
    """Per-pixel gain (>= 1) for linear light before blurring.

    Args:
        image: (H, W, 3) float sRGB in [0, 1].
        coc: (H, W) signed CoC radius in pixels.
        boost: >= 0; 0 gives all ones, 1 keeps a ``REF_RADIUS`` source's brightness.

    Returns:
        (H, W) float32 >= 1 (see the module docstring).
    """
    coc = np.asarray(coc, dtype=np.float32)
    if coc.shape != np.shape(image)[:2]:
        raise ValueError(f"coc must have the image's shape {np.shape(image)[:2]}, got {coc.shape}")
    if not (np.isfinite(boost) and boost >= 0):
        raise ValueError(f"boost must be >= 0, got {boost}")
    if boost == 0:
        return np.ones(coc.shape, np.float32)
    mask = highlight_mask(image)
    if not mask.any():  # no highlight to brighten
        return np.ones(coc.shape, np.float32)
    mask *= _smoothstep(np.abs(coc), 0.5, 2.0)
    ref = REF_RADIUS * min(coc.shape) / 1024
    spread = np.minimum(boost * (coc / ref) ** 2, MAX_GAIN)
    return (1.0 + mask * spread).astype(np.float32)

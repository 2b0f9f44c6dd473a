"""Aperture kernels: the shape a point of light takes when it is out of focus."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


def aperture_kernel(
    radius: float, *, blades: int = 0, rotation: float = 0.0, softness: float = 1.0
) -> np.ndarray:
    """A normalised aperture kernel.

    Args:
        radius: radius in pixels (>= 0) of the disc, or of the disc with the polygon's area.
            Below 0.5 px the kernel is the identity ``[[1]]``.
        blades: 0 for a round aperture, otherwise the number of straight blades (3..16): a
            regular polygon.
        rotation: polygon rotation in degrees.
        softness: width in pixels of the anti-aliased edge (> 0).

    Returns:
        float32 array of shape (2R+1, 2R+1), R = ceil(outer radius + softness / 2), summing to 1.
    """
    if not math.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a finite number >= 0, got {radius}")
    if blades != 0 and not 3 <= blades <= 16:
        raise ValueError(f"blades must be 0 (round) or between 3 and 16, got {blades}")
    if not (math.isfinite(softness) and softness > 0):
        raise ValueError(f"softness must be > 0, got {softness}")
    if not math.isfinite(rotation):
        raise ValueError(f"rotation must be a finite number of degrees, got {rotation}")
    # Cache on rounded arguments: the renderer asks for the same few kernels over and over.
    return _kernel(
        round(float(radius), 3),
        int(blades),
        round(float(rotation) % 360.0, 3),
        round(float(softness), 3),
    ).copy()


@lru_cache(maxsize=256)
def _kernel(radius: float, blades: int, rotation: float, softness: float) -> np.ndarray:
    if radius < 0.5:
        return np.ones((1, 1), np.float32)
    # A polygon is scaled so that its area equals the disc's (blur strength does not change
    # with blade count); its corners then reach beyond ``radius``.
    circum = radius
    if blades:
        circum = radius * math.sqrt(math.pi / (0.5 * blades * math.sin(2 * math.pi / blades)))
    half = int(math.ceil(circum + softness / 2))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    if blades == 0:
        inside = radius - np.hypot(xx, yy)  # signed distance, positive inside
    else:
        # Signed distance to the nearest edge line of the regular polygon.
        apothem = circum * math.cos(math.pi / blades)
        angles = math.radians(rotation) + (np.arange(blades) + 0.5) * 2 * math.pi / blades
        proj = xx[..., None] * np.cos(angles) + yy[..., None] * np.sin(angles)
        inside = apothem - proj.max(axis=-1)
    kernel = np.clip(inside / softness + 0.5, 0.0, 1.0)
    total = kernel.sum()
    if total <= 0:
        return np.ones((1, 1), np.float32)
    return (kernel / total).astype(np.float32)

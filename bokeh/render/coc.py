"""Circle of confusion (thin lens) in normalised disparity.

For a thin lens the blur diameter is linear in disparity d = 1/z:
``c = K * |d - d_f|`` with ``K = f^2 z_f / (N (z_f - f))`` (about ``f^2 / N``), so the strength
scales with 1/N (the f-number). We work in normalised disparity (0 = farthest, 1 = nearest) and
express K directly as a blur radius in pixels for a unit disparity difference.
"""

from __future__ import annotations

import math

import numpy as np

# EBB! scale: 50 mm f/1.8 focused at 2 m gives a background disc of about 49 px diameter at
# 1024 px image height; we map that to a unit normalised-disparity difference.
REFERENCE_FNUMBER = 1.8
REFERENCE_RADIUS = 24.5
REFERENCE_HEIGHT = 1024


def strength_for_fnumber(fnumber: float, height: int) -> float:
    """Blur radius in pixels for a unit normalised-disparity difference.

    Args:
        fnumber: aperture f-number N (> 0); blur is proportional to 1/N.
        height: image height in pixels; blur scales with image size.

    Returns:
        K >= 0 such that ``radius = K * |d - d_f|``; 24.5 px at f/1.8 and 1024 px height.
    """
    if not (math.isfinite(fnumber) and fnumber > 0):
        raise ValueError(f"fnumber must be a positive number, got {fnumber}")
    if height <= 0:
        raise ValueError(f"height must be positive, got {height}")
    return REFERENCE_RADIUS * (REFERENCE_FNUMBER / fnumber) * (height / REFERENCE_HEIGHT)


def signed_coc(
    disparity: np.ndarray, *, focus_disparity: float, strength: float, band: float = 0.0
) -> np.ndarray:
    """Signed circle-of-confusion radius in pixels.

    Args:
        disparity: (H, W) normalised disparity in [0, 1], 1 = nearest.
        focus_disparity: disparity of the focal plane, in [0, 1].
        strength: K, radius in pixels for a unit disparity difference (>= 0).
        band: half-width of the in-focus band in disparity units (>= 0): everything within
            ``band`` of the focal plane stays sharp, and blur grows from the band's edges.

    Returns:
        (H, W) float32: positive in front of the focal plane (nearer), negative behind it,
        0 inside the in-focus band.
    """
    if not 0.0 <= focus_disparity <= 1.0:
        raise ValueError(f"focus_disparity must lie in [0, 1], got {focus_disparity}")
    if strength < 0 or band < 0:
        raise ValueError(f"strength and band must be >= 0, got {strength} and {band}")
    delta = disparity.astype(np.float32, copy=False) - np.float32(focus_disparity)
    magnitude = np.maximum(np.abs(delta) - np.float32(band), 0.0)
    return (np.sign(delta) * magnitude * np.float32(strength)).astype(np.float32, copy=False)

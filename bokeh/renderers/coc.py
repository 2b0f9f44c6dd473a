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
    disparity: np.ndarray,
    *,
    focus_disparity: float,
    strength: float,
    band: float = 0.0,
    falloff: float = 0.0,
) -> np.ndarray:
    """Signed circle-of-confusion radius in pixels.

    Args:
        disparity: (H, W) normalised disparity in [0, 1], 1 = nearest.
        focus_disparity: disparity of the focal plane, in [0, 1].
        strength: K, radius in pixels for a unit disparity difference (>= 0).
        band: half-width of the in-focus band in disparity units (>= 0): everything within
            ``band`` of the focal plane stays sharp, and blur grows from the band's edges.
        falloff: width in disparity units (>= 0) of a gentler transition beyond the band's
            edges: over the first ``falloff`` past an edge the radius grows as
            ``x (2 t - t^2)``, t = x / falloff (x: the distance past the edge), from 0 with a
            zero slope, and joins the straight line ``x`` with its slope at ``x = falloff``.
            0 (default): the straight line from the edge. Blur beyond the ramp is unchanged.

    Returns:
        (H, W) float32: positive in front of the focal plane (nearer), negative behind it,
        0 inside the in-focus band.
    """
    if not 0.0 <= focus_disparity <= 1.0:
        raise ValueError(f"focus_disparity must lie in [0, 1], got {focus_disparity}")
    if strength < 0 or band < 0:
        raise ValueError(f"strength and band must be >= 0, got {strength} and {band}")
    if not (math.isfinite(falloff) and falloff >= 0):
        raise ValueError(f"falloff must be a finite number >= 0, got {falloff}")
    delta = disparity.astype(np.float32, copy=False) - np.float32(focus_disparity)
    magnitude = np.maximum(np.abs(delta) - np.float32(band), 0.0)
    if falloff > 0:  # x (2 t - t^2) on the ramp, x beyond it
        t = np.minimum(magnitude * np.float32(1.0 / falloff), 1.0)
        magnitude *= t * (2.0 - t)
    return (np.sign(delta) * magnitude * np.float32(strength)).astype(np.float32, copy=False)


def residual_factor(*, fnumber: float, input_fnumber: float | None) -> float:
    """Share of the target blur still to add to an input that already has its own depth of field.

    The input, shot at ``input_fnumber`` by the same camera, is already blurred by
    ``r * fnumber / input_fnumber`` where the target at ``fnumber`` needs ``r``. Blur spreads add
    in quadrature (second moments of the kernels add), so the blur still to add is
    ``r * sqrt(1 - (fnumber / input_fnumber)^2)``: 0.866 r at f/8 from f/16, 0.994 r at f/1.8.

    Args:
        fnumber: the target f-number (> 0).
        input_fnumber: the input's f-number, or None / 0 for an input sharp everywhere.

    Returns:
        A factor in [0, 1]; 0 when the input is already at least as blurred as the target.
    """
    if not (math.isfinite(fnumber) and fnumber > 0):
        raise ValueError(f"fnumber must be a positive number, got {fnumber}")
    if input_fnumber is None or input_fnumber == 0:
        return 1.0
    if not (math.isfinite(input_fnumber) and input_fnumber > 0):
        raise ValueError(f"input_fnumber must be a positive number or 0, got {input_fnumber}")
    ratio = fnumber / input_fnumber
    return math.sqrt(1.0 - ratio * ratio) if ratio < 1.0 else 0.0

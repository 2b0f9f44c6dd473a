"""Lens character: what a real lens does to an out-of-focus point beyond the aperture's outline.

The blur spot of a point is the lens's pupil, scaled by the point's circle of confusion. Real
pupils are not plain discs; :class:`Character` describes four departures photographers know,
each 0 (off) by default, and :func:`pupil` draws the spot with them:

- ``cat_eye`` (0..1): optical vignetting. Towards the frame's edges the lens barrel clips the
  pupil: the spot is the aperture intersected with a second disc of the same size, displaced
  towards the frame centre by ``cat_eye`` x the point's distance from the centre (1 at the
  corners) x the radius. At 1, a corner spot is the intersection of two discs one radius apart.
- ``bubble`` (0..1): spherical aberration (a "soap bubble" lens). Behind the focal plane the
  spot's brightness rises towards its rim, ``1 + 4 bubble (rho / R)^4`` (the rim 5x the centre at
  1); in front of it the same aberration gives the reverse, a bright centre and a soft rim.
- ``ring`` (0..0.9): a mirror (catadioptric) lens. Its central obstruction leaves a hole of
  ``ring`` x the outer radius in every spot.
- ``chromatic_aberration`` (0..1): longitudinal (axial) colour. Red and blue focus at slightly
  different distances from green: behind the focal plane the red spot is larger than the
  green one and the blue spot smaller (warm fringes), in front of it the reverse (cool
  fringes); radii differ by ``+-0.2 x chromatic_aberration``. The focal plane stays sharp.

A point behind the focal plane is imaged through the inverted pupil, one in front of it through
the upright pupil: front spots are the back spots turned by 180 degrees (this matters for odd
blade counts and for the cat-eye's side). ``rotation`` gives the orientation behind.

Numpy only (the app draws kernel previews with it without loading torch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CAT_EYE_SHIFT = 1.0  # barrel disc displacement, in radii, at cat_eye 1 in a frame corner
BUBBLE_GAIN = 4.0  # rim brightness - 1 at bubble 1 (the rim is 5x the centre)
CA_SPREAD = 0.2  # relative radius difference of red and blue at chromatic_aberration 1


@dataclass(frozen=True)
class Character:
    """A lens's character (see the module docstring); every field 0 means "off"."""

    cat_eye: float = 0.0
    bubble: float = 0.0
    ring: float = 0.0
    chromatic_aberration: float = 0.0

    def __post_init__(self) -> None:
        for name, top in (("cat_eye", 1.0), ("bubble", 1.0), ("ring", 0.9),
                          ("chromatic_aberration", 1.0)):  # fmt: skip
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= top):
                raise ValueError(f"{name} must be a number in [0, {top:g}], got {value!r}")

    @property
    def plain(self) -> bool:
        """True when the spot is the aperture's plain outline (all fields 0)."""
        return not (self.cat_eye or self.bubble or self.ring or self.chromatic_aberration)

    @property
    def varies(self) -> bool:
        """True when the spot depends on where the point lies in the frame (cat-eye)."""
        return self.cat_eye > 0

    def channel_scales(self, *, front: bool) -> tuple[float, float, float]:
        """Radius factors of the red, green and blue spots (green sets the CoC): red larger
        behind the focal plane, blue larger in front of it."""
        e = CA_SPREAD * self.chromatic_aberration
        return (1 - e, 1.0, 1 + e) if front else (1 + e, 1.0, 1 - e)


PLAIN = Character()


def outer_radius(radius: float, blades: int) -> float:
    """Radius of the circle through the aperture's outermost points: ``radius`` for a disc;
    for a polygon of the disc's area (blur strength does not change with blade count), its
    corners' radius."""
    if not blades:
        return radius
    return radius * math.sqrt(math.pi / (0.5 * blades * math.sin(2 * math.pi / blades)))


def half_diagonal(shape: tuple[int, int]) -> float:
    """Half the diagonal of an (H, W) frame, from the centre of its first pixel to its last."""
    h, w = shape
    return max(math.hypot(w - 1, h - 1) / 2, 0.5)


def frame_position(y, x, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions (rows ``y``, columns ``x``, any broadcastable arrays) as offsets from
    the frame centre in units of the half-diagonal: (uy, ux), length 1 at the corners of an
    (H, W) ``shape`` (beyond the frame, larger)."""
    h, w = shape
    d = half_diagonal(shape)
    return (np.asarray(y, np.float64) - (h - 1) / 2) / d, (
        np.asarray(x, np.float64) - (w - 1) / 2
    ) / d


def pupil(ox, oy, *, radius: float, blades: int = 0, rotation: float = 0.0,
          character: Character = PLAIN, front: bool = False, ux=0.0, uy=0.0,
          softness: float = 1.0) -> np.ndarray:  # fmt: skip
    """Unnormalised brightness of the blur spot of one point, at offsets from the point.

    Args:
        ox, oy: offsets in pixels (columns, rows; any broadcastable arrays) from the point to
            where its light lands.
        radius: the spot's radius in pixels (> 0): the disc's, or the polygon's of equal area.
        blades: 0 for a round aperture, else the number of blades (3..16).
        rotation: polygon rotation in degrees (of the spot behind the focal plane).
        character: the lens's character.
        front: True for a point in front of the focal plane (the spot turned by 180 degrees,
            the reverse bubble profile).
        ux, uy: the point's position in the frame (:func:`frame_position`; broadcastable).
        softness: width in pixels of the anti-aliased edge (> 0).

    Returns:
        array of the broadcast shape, >= 0 (float32 when every input is float32, else
        float64): coverage of the pixel by the spot (0..1) times the bubble profile (1..5).
    """
    dtype = np.result_type(ox, oy, ux, uy, np.float32)
    ox, oy, ux, uy = (np.asarray(a, dtype) for a in (ox, oy, ux, uy))
    if front:
        ox, oy = -ox, -oy
    circum = outer_radius(radius, blades)
    rho = np.hypot(ox, oy)
    if blades == 0:
        inside = radius - rho
    else:  # signed distance to the nearest edge line of the regular polygon
        apothem = circum * math.cos(math.pi / blades)
        angles = math.radians(rotation) + (np.arange(blades) + 0.5) * 2 * math.pi / blades
        proj = ox[..., None] * np.cos(angles) + oy[..., None] * np.sin(angles)
        inside = apothem - proj.max(axis=-1)
    if character.cat_eye:  # the barrel's disc, displaced towards the frame centre
        shift = CAT_EYE_SHIFT * character.cat_eye * circum
        barrel = circum - np.hypot(ox + dtype.type(shift) * ux, oy + dtype.type(shift) * uy)
        inside = np.minimum(inside, barrel)
    if character.ring:
        inside = np.minimum(inside, rho - character.ring * circum)
    spot = np.clip(inside / softness + 0.5, 0.0, 1.0)
    if character.bubble:
        t = np.minimum(rho / circum, 1.0) ** 4
        spot = spot * (1.0 + BUBBLE_GAIN * character.bubble * ((1.0 - t) if front else t))
    return spot


def half_width(radius: float, blades: int, softness: float = 1.0) -> int:
    """Half the side of a kernel that holds a spot of ``radius`` (as
    :func:`bokeh.renderers.aperture.aperture_kernel` sizes it)."""
    return int(math.ceil(outer_radius(radius, blades) + softness / 2))


def character_kernel(radius: float, *, blades: int = 0, rotation: float = 0.0,
                     character: Character = PLAIN, front: bool = False,
                     position: tuple[float, float] = (0.0, 0.0), softness: float = 1.0,
                     half: int | None = None) -> np.ndarray:  # fmt: skip
    """The normalised blur spot of a point (one colour: no chromatic aberration here; scale
    ``radius`` by :meth:`Character.channel_scales` for red and blue).

    Args:
        radius: spot radius in pixels (>= 0); below 0.5 px the spot is the point itself.
        position: (uy, ux), the point's place in the frame (:func:`frame_position`).
        half: half the kernel's side (default :func:`half_width`); larger pads with zeros.
        Others as in :func:`pupil`.

    Returns:
        float32 (2 half + 1, 2 half + 1) summing to 1; index [half + dy, half + dx] is the
        share of the point's light that lands dy rows and dx columns away. With the plain
        character, the same kernel as ``aperture_kernel`` (turned by 180 degrees in front).
    """
    if not math.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a finite number >= 0, got {radius}")
    if half is None:
        half = half_width(radius, blades, softness) if radius >= 0.5 else 0
    out = np.zeros((2 * half + 1, 2 * half + 1), np.float64)
    if radius < 0.5:
        out[half, half] = 1.0
        return out.astype(np.float32)
    oy, ox = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    spot = pupil(ox, oy, radius=radius, blades=blades, rotation=rotation, character=character,
                 front=front, uy=position[0], ux=position[1], softness=softness)  # fmt: skip
    total = spot.sum()
    if total <= 0:
        out[half, half] = 1.0
        return out.astype(np.float32)
    return (spot / total).astype(np.float32)


__all__ = [
    "BUBBLE_GAIN",
    "CAT_EYE_SHIFT",
    "CA_SPREAD",
    "PLAIN",
    "Character",
    "character_kernel",
    "frame_position",
    "half_diagonal",
    "half_width",
    "outer_radius",
    "pupil",
]

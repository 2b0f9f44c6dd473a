"""A thin-lens camera model: metric depth -> circle of confusion in pixels.

For a thin lens of focal length f at f-number N focused at distance z_f, a point at distance z
is blurred into a disc of diameter (on the sensor)

    c = f^2 z_f / (N (z_f - f)) * |1/z - 1/z_f|

so blur is linear in inverse depth (disparity) D = 1/z. Divided by the pixel pitch (sensor short
side / image short side) and halved, it gives the radius in pixels used by the renderer:
``radius = K_m * |D - D_f|`` with ``K_m`` from :meth:`Camera.strength_metric` (pixels per
dioptre, i.e. per 1/m of inverse depth).

The default camera is a 50 mm lens on an APS-C sensor (short side 15 mm), the camera of EBB!
(Canon 7D) and VABD (Canon EOS 70D). Focused at 2 m at f/1.8, a point at infinity becomes a
disc of about 49 px at 1024 px image height (REFERENCE.md section 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DEFAULT_CAMERA", "Camera", "camera_from_exif", "coc_radius_px", "subject_strength"]

FULL_FRAME_DIAGONAL_MM = 43.27
# Relative depth is normalised disparity: d_f below this cannot carry a distance scale.
MIN_FOCUS_DISPARITY = 0.1


@dataclass(frozen=True)
class Camera:
    """focal_length_mm: the lens' focal length; sensor_short_mm: the sensor's short side (the
    image's short side spans it). ``source`` says where the values come from."""

    focal_length_mm: float = 50.0
    sensor_short_mm: float = 15.0
    source: str = "default: 50 mm lens on APS-C (the EBB!/VABD camera)"

    def __post_init__(self):
        for name in ("focal_length_mm", "sensor_short_mm"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")

    def pixel_pitch_m(self, image_shape: tuple[int, ...]) -> float:
        """Metres of sensor per pixel for an (H, W, ...) image that fills the sensor."""
        short = min(int(image_shape[0]), int(image_shape[1]))
        if short < 1:
            raise ValueError(f"image shape must be positive, got {image_shape}")
        return self.sensor_short_mm / 1000.0 / short

    def strength_metric(
        self, *, fnumber: float, focus_distance_m: float, image_shape: tuple[int, ...]
    ) -> float:
        """K_m (pixels * metres): blur radius in pixels per 1/m of inverse-depth difference.

        Args:
            fnumber: N > 0. focus_distance_m: z_f, in metres, beyond the focal length.
            image_shape: (H, W, ...) of the image.
        """
        f = self.focal_length_mm / 1000.0
        if not (math.isfinite(fnumber) and fnumber > 0):
            raise ValueError(f"fnumber must be a positive number, got {fnumber}")
        if not (math.isfinite(focus_distance_m) and focus_distance_m > f):
            raise ValueError(
                f"focus distance must exceed the focal length ({f} m), got {focus_distance_m}"
            )
        diameter = f * f * focus_distance_m / (fnumber * (focus_distance_m - f))
        return diameter / 2.0 / self.pixel_pitch_m(image_shape)


DEFAULT_CAMERA = Camera()


def coc_radius_px(
    depth_m: np.ndarray,
    *,
    camera: Camera,
    fnumber: float,
    focus_distance_m: float,
    image_shape: tuple[int, ...],
) -> np.ndarray:
    """Thin-lens blur radius in pixels for metric depth.

    Args:
        depth_m: (H, W) distances in metres (> 0; ``inf`` for the sky).
        camera, fnumber, focus_distance_m, image_shape: as in :meth:`Camera.strength_metric`.

    Returns:
        (H, W) float64 radii >= 0; 0 exactly at the focus distance.
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    if not (depth > 0).all():
        raise ValueError("depth_m must be > 0 everywhere (inf is allowed for the sky).")
    k = camera.strength_metric(
        fnumber=fnumber, focus_distance_m=focus_distance_m, image_shape=image_shape
    )
    return k * np.abs(1.0 / depth - 1.0 / focus_distance_m)


def subject_strength(
    *,
    camera: Camera,
    fnumber: float,
    subject_distance_m: float,
    focus_disparity: float,
    image_shape: tuple[int, ...],
) -> float:
    """Strength K (pixels per unit of normalised disparity) for RELATIVE depth, given how far the
    subject is: normalised disparity 0 is taken to be at infinity, so disparity d means inverse
    depth ``d / (d_f * z_f)``, and ``K = K_m / (d_f * z_f)``.

    ``focus_disparity`` (d_f) is clipped below at :data:`MIN_FOCUS_DISPARITY` (a subject near
    disparity 0 cannot place infinity at 0).
    """
    k_m = camera.strength_metric(
        fnumber=fnumber, focus_distance_m=subject_distance_m, image_shape=image_shape
    )
    return k_m / (max(float(focus_disparity), MIN_FOCUS_DISPARITY) * subject_distance_m)


def _ratio(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def camera_from_exif(exif: Any, image_size: tuple[int, int]) -> Camera | None:
    """The camera that took a photo, from its EXIF, or None when EXIF does not say.

    Args:
        exif: a mapping of EXIF tags (PIL's ``Image.getexif().get_ifd(0x8769)`` merged with the
            base IFD), tag number -> value.
        image_size: (width, height) of the image as stored.

    Uses FocalLength (0x920A) and the sensor size from FocalLengthIn35mmFilm (0xA405; crop
    factor over the 43.27 mm full-frame diagonal) or else FocalPlaneX/YResolution with their
    unit (0xA20E, 0xA20F, 0xA210).
    """
    focal = _ratio(exif.get(0x920A))
    if focal is None:
        return None
    w, h = int(image_size[0]), int(image_size[1])
    short_px, diag_px = min(w, h), math.hypot(w, h)
    f35 = _ratio(exif.get(0xA405))
    if f35 is not None:
        diagonal = FULL_FRAME_DIAGONAL_MM * focal / f35
        return Camera(
            focal,
            diagonal * short_px / diag_px,
            f"EXIF: {focal:g} mm lens, {f35:g} mm full-frame equivalent",
        )
    unit = {2: 25.4, 3: 10.0, 4: 1.0}.get(int(exif.get(0xA210) or 2))
    xres, yres = _ratio(exif.get(0xA20E)), _ratio(exif.get(0xA20F))
    if unit is not None and xres is not None and yres is not None:
        short_mm = min(w * unit / xres, h * unit / yres)
        return Camera(
            focal, short_mm, f"EXIF: {focal:g} mm lens, sensor from focal-plane resolution"
        )
    return None

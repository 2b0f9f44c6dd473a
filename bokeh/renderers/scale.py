"""The blur scale of a render: how many pixels of blur one unit of normalised disparity means.

Normalised disparity from a relative depth source carries no distance, so the scale comes from
the best information at hand, in this order (:func:`lens_strength`):

1. **metric depth** (a metric depth source, or a depth file in metres): exact, through the
   thin-lens camera model (:mod:`bokeh.renderers.camera`) focused at the subject's distance;
2. **the subject's distance**, when the user gives it: the camera model with normalised
   disparity 0 placed at infinity (:func:`bokeh.renderers.camera.subject_strength`);
3. **the input's own depth of field**, when its f-number is given (``input_fnumber``, e.g. 16
   for EBB! and VABD): the blur already in the input, measured
   (:func:`bokeh.renderers.defocus.measure_input_blur`) and scaled by ``N_in / N``, kept within
   ``MEASURED_RANGE`` times the default;
4. **the default**: :func:`bokeh.renderers.coc.strength_for_fnumber`, the default camera (50 mm on
   APS-C) with the nearest point (disparity 1) 2 m away and disparity 0 at infinity.

With an ``input_fnumber``, only the blur the target has beyond the input's is added
(:func:`bokeh.renderers.coc.residual_factor`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bokeh.renderers.camera import DEFAULT_CAMERA, Camera, subject_strength
from bokeh.renderers.coc import residual_factor, strength_for_fnumber
from bokeh.renderers.defocus import measure_input_blur

__all__ = ["MEASURED_RANGE", "Strength", "lens_strength"]

MEASURED_RANGE = (0.2, 8.0)  # a measured scale is kept within these multiples of the default
_FAR_M = 1e4  # a subject at zero disparity is treated as this far (metres)


@dataclass(frozen=True)
class Strength:
    """``value``: K, blur radius in pixels per unit of normalised disparity, ready for the
    renderer (residual factor applied); ``scale``: where the scale came from, for people."""

    value: float
    scale: str


def lens_strength(
    image: np.ndarray,
    disparity: np.ndarray,
    *,
    focus_disparity: float,
    fnumber: float,
    input_fnumber: float = 0.0,
    subject_distance: float = 0.0,
    metric_scale: float | None = None,
    camera: Camera = DEFAULT_CAMERA,
) -> Strength:
    """The renderer's strength for one photo (see the module docstring for the order).

    Args:
        image: (H, W, 3) float sRGB in [0, 1] (read only for the input-blur measurement).
        disparity: (H, W) normalised disparity in [0, 1], 1 = nearest.
        focus_disparity: d_f in [0, 1].
        fnumber: target f-number N > 0.
        input_fnumber: the input's f-number, 0 when it is sharp everywhere.
        subject_distance: metres to the focused subject; 0 = not given.
        metric_scale: inverse metres per unit of disparity when the disparity is metric
            (disparity 0 = infinity), else None.
        camera: the lens and sensor that are simulated.
    """
    shape = disparity.shape
    if subject_distance and subject_distance <= camera.focal_length_mm / 1000.0:
        raise ValueError(
            f"subject_distance must be 0 (not given) or beyond the focal length, "
            f"got {subject_distance} m"
        )
    default = strength_for_fnumber(fnumber, shape[0])
    if metric_scale is not None:
        inv = focus_disparity * metric_scale
        z_f = min(1.0 / inv, _FAR_M) if inv > 0 else _FAR_M
        k = camera.strength_metric(fnumber=fnumber, focus_distance_m=z_f, image_shape=shape)
        value, how = k * metric_scale, f"metric depth, subject at {z_f:.2f} m ({camera.source})"
    elif subject_distance:
        value = subject_strength(
            camera=camera,
            fnumber=fnumber,
            subject_distance_m=subject_distance,
            focus_disparity=focus_disparity,
            image_shape=shape,
        )
        how = f"subject at {subject_distance:g} m, disparity 0 at infinity ({camera.source})"
    elif input_fnumber:
        est = measure_input_blur(image, disparity, focus_disparity=focus_disparity)
        if est.strength is None:
            value, how = default, f"default scale (input blur not measurable: {est.note})"
        else:
            lo, hi = MEASURED_RANGE
            value = min(max(est.strength * input_fnumber / fnumber, lo * default), hi * default)
            how = (
                f"measured from the input's f/{input_fnumber:g} depth of field "
                f"({value / default:.2f}x the default; {est.note})"
            )
    else:
        value, how = default, "default scale (nearest point 2 m away, 50 mm lens on APS-C)"
    factor = residual_factor(fnumber=fnumber, input_fnumber=input_fnumber or None)
    if input_fnumber:
        how += f"; adds the blur beyond the input's f/{input_fnumber:g} (x{factor:.3f})"
    if not math.isfinite(value):
        raise ValueError(f"blur scale is not finite ({value})")
    return Strength(value * factor, how)

"""The blur scale and highlight choices decided on real photos, checked on synthetic scenes whose
answer is known: the thin-lens camera against metric depth, the input's own depth of field
(subtraction and measurement), and which highlights turn into bright discs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import fftconvolve

from bokeh.renderers.aperture import aperture_kernel
from bokeh.renderers.camera import DEFAULT_CAMERA, Camera, camera_from_exif, coc_radius_px
from bokeh.renderers.coc import residual_factor, strength_for_fnumber
from bokeh.renderers.defocus import measure_input_blur
from bokeh.renderers.highlights import highlight_gain, highlight_mask
from bokeh.renderers.lens import render_lens
from bokeh.renderers.scale import lens_strength

# ----------------------------------------------------------------------------- camera model


def test_thin_lens_coc_for_known_metric_depth():
    # 50 mm f/1.8 focused at 2 m, APS-C (15 mm short side) at 1024 px: a point at infinity is a
    # disc of diameter f^2 / (N (z_f - f)) = 0.0025 / (1.8 * 1.95) m on the sensor.
    shape = (1024, 1536)
    depth = np.array([[2.0, 4.0, np.inf, 1.0]])
    r = coc_radius_px(
        depth, camera=DEFAULT_CAMERA, fnumber=1.8, focus_distance_m=2.0, image_shape=shape
    )
    pitch = 0.015 / 1024
    diameter_inf = 0.05**2 / (1.8 * 1.95)
    np.testing.assert_allclose(r[0, 2], diameter_inf / 2 / pitch, rtol=1e-12)
    assert r[0, 0] == 0.0
    np.testing.assert_allclose(r[0, 1], r[0, 2] / 2, rtol=1e-12)  # linear in 1/z
    np.testing.assert_allclose(r[0, 3], r[0, 2], rtol=1e-12)  # |1/1 - 1/2| = |0 - 1/2|
    assert 24.0 < r[0, 2] < 24.6  # the ~49 px disc of REFERENCE.md at 1024 px
    # The project's default strength is this camera with the nearest point at 2 m.
    assert r[0, 2] == pytest.approx(strength_for_fnumber(1.8, 1024), rel=0.01)


def test_metric_depth_scale_is_exact_in_the_pipeline_scale():
    shape = (200, 300)
    depth_m = np.linspace(1.0, 20.0, 300)[None].repeat(200, 0)
    inv = 1.0 / depth_m
    scale = float(inv.max())  # inverse metres per unit: disparity 1 = nearest, 0 = infinity
    disparity = (inv / scale).astype(np.float32)
    image = np.zeros(shape + (3,), np.float32)
    d_f = float(disparity[0, 150])
    s = lens_strength(image, disparity, focus_disparity=d_f, fnumber=2.8, metric_scale=scale)
    expected = coc_radius_px(
        depth_m,
        camera=DEFAULT_CAMERA,
        fnumber=2.8,
        focus_distance_m=float(depth_m[0, 150]),
        image_shape=shape,
    )
    np.testing.assert_allclose(s.value * np.abs(disparity - d_f), expected, rtol=1e-5, atol=1e-6)
    assert "metric depth" in s.scale


def test_subject_distance_sets_the_scale_of_relative_depth():
    disparity = np.zeros((100, 150), np.float32)
    image = np.zeros((100, 150, 3), np.float32)
    near = lens_strength(image, disparity, focus_disparity=0.8, fnumber=1.8, subject_distance=1)
    far = lens_strength(image, disparity, focus_disparity=0.8, fnumber=1.8, subject_distance=4)
    # Background at infinity: radius K * d_f = K_m / z_f, and K_m grows slightly as z_f nears f.
    assert near.value * 0.8 == pytest.approx(
        DEFAULT_CAMERA.strength_metric(fnumber=1.8, focus_distance_m=1, image_shape=(100, 150))
    )
    # K = K_m / (d_f z_f) with K_m proportional to z_f / (z_f - f): 1 m vs 4 m at f = 50 mm.
    assert near.value / far.value == pytest.approx(4 * (4 - 0.05) / (4 * (1 - 0.05)))
    with pytest.raises(ValueError, match="beyond the focal length"):
        lens_strength(image, disparity, focus_disparity=0.8, fnumber=1.8, subject_distance=0.03)


def test_camera_from_exif():
    full_frame_50 = camera_from_exif({0x920A: 50.0, 0xA405: 50}, (6000, 4000))
    assert full_frame_50.sensor_short_mm == pytest.approx(24.0, rel=1e-3)
    phone = camera_from_exif({0x920A: 4.25, 0xA405: 26}, (4032, 3024))
    assert phone.focal_length_mm == 4.25 and 4.0 < phone.sensor_short_mm < 4.3
    plane = camera_from_exif({0x920A: 35, 0xA20E: 1000.0, 0xA20F: 1000.0, 0xA210: 4}, (6000, 4000))
    assert plane.sensor_short_mm == pytest.approx(4.0)
    assert camera_from_exif({0xA405: 50}, (10, 10)) is None  # no focal length
    with pytest.raises(ValueError):
        Camera(focal_length_mm=0)


# ----------------------------------------------------------------------------- the input's DOF


def test_residual_blur_adds_only_what_the_input_lacks():
    assert residual_factor(fnumber=8, input_fnumber=16) == pytest.approx(math.sqrt(0.75))
    assert residual_factor(fnumber=1.8, input_fnumber=None) == 1.0
    assert residual_factor(fnumber=16, input_fnumber=16) == 0.0
    assert residual_factor(fnumber=22, input_fnumber=16) == 0.0
    # Second moments add: a disc of radius r has variance r^2 / 4 per axis, so the input's disc
    # and the residual disc together spread like the target's disc.
    r_t, n, n_in = 12.0, 8.0, 16.0
    r_in, r_add = r_t * n / n_in, r_t * residual_factor(fnumber=n, input_fnumber=n_in)
    assert r_in**2 + r_add**2 == pytest.approx(r_t**2)


def _scene_with_depth(radius_at_far: float):
    """A textured photo whose right half (disparity 0) is disc-blurred by ``radius_at_far`` px
    and whose left half (disparity 1, in focus) is sharp: an f/16 input with depth of field."""
    from skimage import data, transform

    sharp = transform.resize(data.astronaut(), (512, 768), anti_aliasing=True).astype(np.float32)
    k = aperture_kernel(radius_at_far, blades=0, rotation=0.0, softness=0.5)
    pad = k.shape[0]
    padded = np.pad(sharp, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    blurred = np.stack([fftconvolve(padded[..., c], k, mode="same") for c in range(3)], -1)
    blurred = blurred[pad:-pad, pad:-pad]
    disparity = np.ones((512, 768), np.float32)
    disparity[:, 384:] = 0.0
    image = sharp.copy()
    image[:, 384:] = blurred[:, 384:]
    return np.clip(image, 0, 1), disparity


@pytest.mark.parametrize("radius", [3.0, 6.0])
def test_input_blur_is_measured_within_a_third(radius):
    image, disparity = _scene_with_depth(radius)
    est = measure_input_blur(image, disparity, focus_disparity=1.0)
    assert est.strength is not None and est.tiles >= 8
    assert radius / 1.35 < est.strength < radius * 1.35  # |d - d_f| = 1 here


def test_sharper_inputs_measure_less_blur_and_small_images_none():
    estimates = [
        measure_input_blur(*_scene_with_depth(r), focus_disparity=1.0).strength
        for r in (0.5, 3.0, 6.0)
    ]
    assert estimates[0] < 0.6 * estimates[1] < 0.6 * estimates[2]
    assert estimates[0] < 2.0  # the floor of a sharp photo (tiles differ by content)
    image, disparity = _scene_with_depth(0.5)
    small = measure_input_blur(image[:100, :100], disparity[:100, :100], focus_disparity=1.0)
    assert small.strength is None and "too small" in small.note


def test_measured_scale_drives_the_strength():
    image, disparity = _scene_with_depth(4.0)
    s = lens_strength(image, disparity, focus_disparity=1.0, fnumber=2.0, input_fnumber=16.0)
    measured = measure_input_blur(image, disparity, focus_disparity=1.0).strength
    factor = residual_factor(fnumber=2.0, input_fnumber=16.0)
    assert s.value == pytest.approx(measured * 8.0 * factor)
    assert "measured from the input's f/16 depth of field" in s.scale
    plain = lens_strength(image, disparity, focus_disparity=1.0, fnumber=2.0)
    assert plain.value == strength_for_fnumber(2.0, 512)


# ----------------------------------------------------------------------------- highlights


def _night_and_sky():
    """A dark night scene with a small white point light (radius 4) on the left, a big bright
    blue sky band at the top, a white pole (long and thin) and an orange sunlit wall patch."""
    h, w = 256, 384
    image = np.full((h, w, 3), 0.1, np.float32)
    image[:60] = [0.45, 0.65, 1.0]  # blue sky: blue clipped only
    yy, xx = np.mgrid[0:h, 0:w]
    light = (xx - 80) ** 2 + (yy - 150) ** 2 <= 16
    image[light] = 1.0
    image[80:250, 300:306] = 1.0  # a white pole: clipped but elongated
    image[150:170, 200:220] = [1.0, 0.6, 0.3]  # orange wall: red clipped only
    return image, light


def test_only_small_white_clipped_highlights_are_selected():
    image, light = _night_and_sky()
    mask = highlight_mask(image)
    assert mask[light].min() == 1.0
    assert mask[~light].max() == 0.0  # not the sky, the pole or the orange patch


def test_highlight_gain_keeps_a_lights_energy_and_leaves_focus_alone():
    image, light = _night_and_sky()
    coc = np.full(image.shape[:2], 20.0, np.float32)
    gain = highlight_gain(image, coc, boost=1.0)
    ref = 4.0 * 256 / 1024
    assert gain[light].max() == pytest.approx(1 + (20 / ref) ** 2)
    assert gain[~light].max() == 1.0
    assert highlight_gain(image, np.zeros_like(coc), boost=1.0).max() == 1.0  # in focus
    assert highlight_gain(image, coc, boost=0.0).max() == 1.0


def test_point_light_becomes_a_bright_disc_and_the_sky_stays_blue():
    image, light = _night_and_sky()
    disparity = np.zeros(image.shape[:2], np.float32)
    kwargs = {"focus_disparity": 1.0, "strength": 12.0}
    out = render_lens(
        image,
        disparity,
        **kwargs,
        highlight_gain=lambda im, coc: highlight_gain(im, coc, boost=1.0),
    )
    plain = render_lens(image, disparity, **kwargs, highlight_boost=0.0)
    legacy = render_lens(image, disparity, **kwargs, highlight_boost=1.5)
    disc = (slice(145, 156), slice(75, 86))  # inside the 12 px disc around the light
    assert out[disc].min() > 0.95  # a clipped bright disc
    assert plain[disc].max() < 0.6  # without the boost it fades to grey
    sky = (slice(5, 40), slice(100, 250))
    np.testing.assert_allclose(out[sky], plain[sky], atol=1e-4)  # the sky is left alone
    assert legacy[sky][..., 0].mean() > plain[sky][..., 0].mean() + 0.1  # the old rule whitens it

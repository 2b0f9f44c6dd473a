"""Aperture kernels (bokeh.renderers.aperture) and the thin-lens circle of confusion (coc)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from bokeh.renderers.aperture import aperture_kernel
from bokeh.renderers.coc import signed_coc, strength_for_fnumber


def _support_area(kernel: np.ndarray) -> float:
    """Area (px^2) of the aperture: total mass over the plateau value of a flat-topped kernel."""
    return float(kernel.sum() / kernel.max())


def _boundary_radius(kernel: np.ndarray, degrees: float) -> float:
    """Distance from the kernel centre to its half-height edge along one direction."""
    c = kernel.shape[0] // 2
    half = (kernel / kernel.max()).astype(np.float64)
    a = math.radians(degrees)
    steps = np.arange(0.0, c + 1.0, 0.05)
    values = ndimage.map_coordinates(
        half, [c + steps * math.sin(a), c + steps * math.cos(a)], order=1
    )
    return float(steps[np.nonzero(values >= 0.5)[0].max()])


class TestApertureKernel:
    @pytest.mark.parametrize("radius", [0.5, 1.0, 2.7, 7.3, 20.0])
    @pytest.mark.parametrize("blades", [0, 3, 6, 9])
    def test_normalised_square_odd_float32(self, radius, blades):
        kernel = aperture_kernel(radius, blades=blades, rotation=10.0)
        assert kernel.dtype == np.float32
        assert kernel.ndim == 2 and kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
        assert (kernel >= 0).all()
        assert kernel.sum() == pytest.approx(1.0, abs=1e-5)

    @pytest.mark.parametrize("radius", [0.0, 0.2, 0.49])
    def test_identity_below_half_a_pixel(self, radius):
        for blades in (0, 6):
            kernel = aperture_kernel(radius, blades=blades)
            assert kernel.shape == (1, 1) and kernel[0, 0] == 1.0

    def test_support_grows_with_radius(self):
        sizes = [aperture_kernel(r).shape[0] for r in (1.0, 2.0, 4.0, 8.0, 16.0)]
        assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
        areas = [_support_area(aperture_kernel(r)) for r in (1.0, 2.0, 4.0, 8.0, 16.0)]
        assert all(b > a for a, b in zip(areas, areas[1:], strict=False))

    @pytest.mark.parametrize("radius", [3.0, 6.5, 12.0, 25.0])
    def test_disc_area_and_radius(self, radius):
        kernel = aperture_kernel(radius)
        # Area of the disc within a few percent, and the half-height edge at the radius.
        assert _support_area(kernel) == pytest.approx(math.pi * radius**2, rel=0.04)
        for degrees in (0, 30, 45, 77, 180, 260):
            assert _boundary_radius(kernel, degrees) == pytest.approx(radius, abs=0.6)

    def test_disc_is_symmetric_and_centred(self):
        kernel = aperture_kernel(9.3)
        np.testing.assert_allclose(kernel, kernel.T, atol=1e-7)
        np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-7)
        c = kernel.shape[0] // 2
        assert ndimage.center_of_mass(kernel) == pytest.approx((c, c), abs=1e-4)

    @pytest.mark.parametrize(
        ("blades", "radius"),
        [
            (3, 6.0),
            (3, 15.0),
            (4, 6.0),
            (4, 15.0),
            (5, 6.0),
            (5, 15.0),
            (6, 6.0),
            (6, 15.0),
            (8, 6.0),
            (8, 15.0),
        ],
    )
    def test_polygon_area_equals_disc_area(self, blades, radius):
        # Same blur strength whatever the blade count.
        disc = _support_area(aperture_kernel(radius))
        polygon = _support_area(aperture_kernel(radius, blades=blades, rotation=7.0))
        assert polygon == pytest.approx(disc, rel=0.04)

    @pytest.mark.parametrize("blades", [0, 3, 4, 5, 6, 8, 12])
    def test_aperture_fits_in_its_array(self, blades):
        # The whole anti-aliased aperture lies inside the array: nothing on its outer border
        # (otherwise polygon corners are cut off and the bokeh ball loses its shape).
        for radius in (6.0, 15.4, 30.0):
            kernel = aperture_kernel(radius, blades=blades, rotation=7.0)
            border = np.concatenate([kernel[0], kernel[-1], kernel[1:-1, 0], kernel[1:-1, -1]])
            assert border.max() < 0.01 * kernel.max(), f"radius {radius}"

    def test_hexagon_corners_follow_rotation(self):
        # Corners (largest radius) at rotation + k*60 degrees, edge middles 30 degrees further.
        kernel = aperture_kernel(20.0, blades=6, rotation=15.0)
        corners = [_boundary_radius(kernel, 15 + 60 * k) for k in range(6)]
        edges = [_boundary_radius(kernel, 45 + 60 * k) for k in range(6)]
        assert min(corners) > max(edges)
        # A regular hexagon: circumradius / apothem = 1 / cos(30 deg).
        assert np.mean(corners) / np.mean(edges) == pytest.approx(
            1 / math.cos(math.pi / 6), rel=0.05
        )

    def test_hexagon_has_sixfold_symmetry(self):
        kernel = aperture_kernel(12.0, blades=6, rotation=15.0)
        same = aperture_kernel(12.0, blades=6, rotation=75.0)  # one blade step further
        other = aperture_kernel(12.0, blades=6, rotation=45.0)  # half a step: corners swap
        np.testing.assert_allclose(kernel, same, atol=1e-6)
        assert np.abs(kernel - other).max() > 10 * np.abs(kernel - same).max() + 1e-4

    def test_kernel_is_a_copy(self):
        a = aperture_kernel(5.0)
        a[:] = 0
        assert aperture_kernel(5.0).sum() == pytest.approx(1.0, abs=1e-5)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"radius": -1.0}, "radius"),
            ({"radius": float("nan")}, "radius"),
            ({"radius": float("inf")}, "radius"),
            ({"radius": 3.0, "blades": 2}, "blades"),
            ({"radius": 3.0, "blades": 17}, "blades"),
            ({"radius": 3.0, "blades": -6}, "blades"),
            ({"radius": 3.0, "softness": 0.0}, "softness"),
        ],
    )
    def test_rejects_bad_arguments(self, kwargs, match):
        radius = kwargs.pop("radius")
        with pytest.raises(ValueError, match=match):
            aperture_kernel(radius, **kwargs)


class TestStrengthForFnumber:
    def test_ebb_scale(self):
        # 50 mm f/1.8 at 2 m: a background disc of about 49 px diameter at 1024 px height.
        assert strength_for_fnumber(1.8, 1024) == pytest.approx(24.5, rel=1e-6)

    @pytest.mark.parametrize("fnumber", [1.2, 2.8, 4.0, 16.0])
    def test_inverse_in_fnumber(self, fnumber):
        k = strength_for_fnumber(fnumber, 1024)
        assert k * fnumber == pytest.approx(24.5 * 1.8, rel=1e-6)
        assert strength_for_fnumber(fnumber / 2, 1024) == pytest.approx(2 * k, rel=1e-6)

    @pytest.mark.parametrize("height", [256, 512, 2048, 3000])
    def test_linear_in_height(self, height):
        assert strength_for_fnumber(1.8, height) == pytest.approx(24.5 * height / 1024, rel=1e-6)

    @pytest.mark.parametrize(
        ("fnumber", "height"),
        [
            (0.0, 1024),
            (-1.8, 1024),
            (float("nan"), 1024),
            (float("inf"), 1024),
            (1.8, 0),
            (1.8, -5),
        ],
    )
    def test_rejects_bad_arguments(self, fnumber, height):
        with pytest.raises(ValueError, match="fnumber|height"):
            strength_for_fnumber(fnumber, height)


class TestSignedCoc:
    def test_sign_convention_and_linearity(self):
        disparity = np.linspace(0.0, 1.0, 101, dtype=np.float32)[None]
        coc = signed_coc(disparity, focus_disparity=0.4, strength=20.0)
        assert coc.shape == disparity.shape and coc.dtype == np.float32
        nearer, farther = disparity > 0.4 + 1e-6, disparity < 0.4 - 1e-6
        assert (coc[nearer] > 0).all() and (coc[farther] < 0).all()  # positive = nearer
        np.testing.assert_allclose(coc, 20.0 * (disparity - 0.4), atol=1e-5)
        assert coc[0, -1] == pytest.approx(12.0, abs=1e-4) and coc[0, 0] == pytest.approx(-8.0)

    def test_band_is_in_focus_and_blur_grows_from_its_edges(self):
        disparity = np.linspace(0.0, 1.0, 201, dtype=np.float32)[None]
        coc = signed_coc(disparity, focus_disparity=0.5, strength=10.0, band=0.1)
        inside = np.abs(disparity - 0.5) <= 0.1 - 1e-6
        assert (coc[inside] == 0).all()
        outside = ~inside
        expected = 10.0 * np.sign(disparity - 0.5) * (np.abs(disparity - 0.5) - 0.1)
        np.testing.assert_allclose(coc[outside], expected[outside], atol=1e-5)
        # Continuous at the band edge and monotone in disparity.
        assert (np.diff(coc[0]) >= -1e-6).all()
        assert np.abs(np.diff(coc[0])).max() <= 10.0 * 0.005 + 1e-5

    def test_zero_strength_is_all_sharp(self, rng):
        disparity = rng.random((8, 9)).astype(np.float32)
        assert (signed_coc(disparity, focus_disparity=0.3, strength=0.0) == 0).all()

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"focus_disparity": 1.5, "strength": 1.0},
            {"focus_disparity": -0.1, "strength": 1.0},
            {"focus_disparity": float("nan"), "strength": 1.0},
            {"focus_disparity": 0.5, "strength": -1.0},
            {"focus_disparity": 0.5, "strength": 1.0, "band": -0.1},
        ],
    )
    def test_rejects_bad_arguments(self, kwargs):
        with pytest.raises(ValueError, match="focus_disparity|strength|band"):
            signed_coc(np.zeros((4, 4), np.float32), **kwargs)

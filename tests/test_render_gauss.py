"""The paper's threshold Gaussian renderer (bokeh.renderers.gauss)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bokeh.renderers.gauss import normalise_depth, render_threshold_gauss

H, W = 64, 96


@pytest.fixture
def texture(rng) -> np.ndarray:
    """(H, W, 3) random texture in [0.1, 0.9]: every blurred pixel visibly changes."""
    return (0.1 + 0.8 * rng.random((H, W, 3))).astype(np.float32)


@pytest.fixture
def ramp() -> np.ndarray:
    """(H, W) disparity falling left to right: nearest column 0, farthest column W-1."""
    return np.tile(np.linspace(1.0, 0.0, W, dtype=np.float32), (H, 1))


def _changed(out: np.ndarray, image: np.ndarray) -> np.ndarray:
    return (out != image).any(axis=2)


def _hf_energy(image: np.ndarray) -> float:
    return float(
        np.mean([ndimage.laplace(image[..., c].astype(np.float64)) ** 2 for c in range(3)])
    )


class TestNormaliseDepth:
    def test_nearest_is_zero_farthest_is_one(self, rng):
        disparity = (0.2 + 0.5 * rng.random((10, 12))).astype(np.float32)
        depth = normalise_depth(disparity)
        assert depth.dtype == np.float32 and depth.shape == disparity.shape
        assert depth.min() == pytest.approx(0.0) and depth.max() == pytest.approx(1.0)
        assert depth.flat[np.argmax(disparity)] == pytest.approx(0.0)
        assert depth.flat[np.argmin(disparity)] == pytest.approx(1.0)
        # Same ordering, reversed: nearer (larger disparity) means smaller depth.
        order = np.argsort(disparity.ravel(), kind="stable")
        assert (np.diff(depth.ravel()[order]) <= 1e-6).all()

    def test_flat_disparity_is_all_near(self):
        assert (normalise_depth(np.full((5, 5), 0.4, np.float32)) == 0).all()


class TestRenderThresholdGauss:
    def test_shape_dtype_range(self, texture, ramp):
        out = render_threshold_gauss(texture, ramp, threshold=0.25, sigma=4.0)
        assert out.shape == texture.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0

    @pytest.mark.parametrize("threshold", [0.2, 0.25, 0.3, 0.5])
    def test_hard_threshold_semantics(self, texture, ramp, threshold):
        out = render_threshold_gauss(texture, ramp, threshold=threshold, sigma=3.0)
        # Normalised depth, written out: 0 at the nearest pixel (largest disparity), 1 farthest.
        depth = (ramp.max() - ramp) / (ramp.max() - ramp.min())
        far = depth > threshold
        assert far[:, -1].all() and not far[:, 0].any()  # the far (right) side is blurred
        # Near pixels are untouched, bit for bit; far pixels are the Gaussian-blurred image.
        np.testing.assert_array_equal(out[~far], texture[~far])
        blurred = ndimage.gaussian_filter(texture, sigma=(3.0, 3.0, 0), mode="reflect")
        np.testing.assert_allclose(out[far], blurred[far], atol=1e-5)
        assert _changed(out, texture)[far].mean() > 0.99

    def test_threshold_uses_min_max_normalised_depth(self, texture, ramp):
        # An affine rescaling of the disparity (any depth source's range) changes nothing.
        a = render_threshold_gauss(texture, ramp, threshold=0.25, sigma=3.0)
        b = render_threshold_gauss(
            texture, (0.3 + 0.4 * ramp).astype(np.float32), threshold=0.25, sigma=3.0
        )
        np.testing.assert_allclose(a, b, atol=1e-6)

    def test_sigma_zero_is_identity(self, texture, ramp):
        out = render_threshold_gauss(texture, ramp, threshold=0.0, sigma=0.0)
        np.testing.assert_array_equal(out, texture)
        assert out is not texture

    def test_far_region_is_blurred(self, texture, ramp):
        out = render_threshold_gauss(texture, ramp, threshold=0.25, sigma=5.0)
        far = normalise_depth(ramp) > 0.35  # away from the mask edge
        assert _hf_energy(out[:, far[0]]) < 0.05 * _hf_energy(texture[:, far[0]])

    def test_paper_thresholds_blur_nested_regions(self, texture, ramp):
        regions = [
            _changed(render_threshold_gauss(texture, ramp, threshold=t, sigma=3.0), texture)
            for t in (0.2, 0.25, 0.3)
        ]
        for larger, smaller in zip(regions, regions[1:], strict=False):
            assert not (smaller & ~larger).any()  # the 0.3 region lies inside the 0.2 region
            assert larger.sum() > smaller.sum()  # and is strictly smaller

    def test_feather_gives_a_smooth_transition(self, texture, ramp):
        blurred = ndimage.gaussian_filter(texture, sigma=(3.0, 3.0, 0), mode="reflect")
        hard = render_threshold_gauss(texture, ramp, threshold=0.5, sigma=3.0)
        soft = render_threshold_gauss(texture, ramp, threshold=0.5, sigma=3.0, feather=0.3)

        # Per column, how far the output went from the sharp towards the blurred image.
        def mix(out):
            change = np.abs(out - texture).sum(axis=(0, 2))
            return change / np.abs(blurred - texture).sum(axis=(0, 2))

        m_hard, m_soft = mix(hard), mix(soft)
        assert set(np.round(m_hard, 4)) <= {0.0, 1.0}  # a step
        assert np.abs(np.diff(m_hard)).max() > 0.99
        assert (np.diff(m_soft) >= -1e-4).all()  # monotone from sharp to blurred
        assert np.abs(np.diff(m_soft)).max() < 0.1  # no jump between neighbouring columns
        assert m_soft[0] == pytest.approx(0.0, abs=1e-4)
        assert m_soft[-1] == pytest.approx(1.0, abs=1e-4)
        intermediate = (m_soft > 0.05) & (m_soft < 0.95)
        assert intermediate.sum() >= 0.2 * W  # a ramp about feather * W wide
        # Centred on the threshold: half way at depth 0.5.
        half = np.argmin(np.abs(m_soft - 0.5))
        assert normalise_depth(ramp)[0, half] == pytest.approx(0.5, abs=0.05)

    def test_feather_zero_is_the_hard_mask(self, texture, ramp):
        a = render_threshold_gauss(texture, ramp, threshold=0.3, sigma=2.0)
        b = render_threshold_gauss(texture, ramp, threshold=0.3, sigma=2.0, feather=0.0)
        np.testing.assert_array_equal(a, b)

    def test_accepts_trailing_channel_disparity(self, texture, ramp):
        a = render_threshold_gauss(texture, ramp, sigma=2.0)
        b = render_threshold_gauss(texture, ramp[..., None], sigma=2.0)
        np.testing.assert_array_equal(a, b)

    def test_does_not_modify_inputs(self, texture, ramp):
        image, disparity = texture.copy(), ramp.copy()
        render_threshold_gauss(image, disparity, threshold=0.2, sigma=3.0, feather=0.1)
        np.testing.assert_array_equal(image, texture)
        np.testing.assert_array_equal(disparity, ramp)

    @pytest.mark.parametrize(
        ("image_shape", "disparity_shape", "match"),
        [
            ((H, W), (H, W), "image"),
            ((H, W, 4), (H, W), "image"),
            ((H, W, 3), (H, W + 1), "disparity"),
            ((H, W, 3), (H, W, 3), "disparity"),
        ],
    )
    def test_rejects_bad_shapes(self, image_shape, disparity_shape, match):
        with pytest.raises(ValueError, match=match):
            render_threshold_gauss(
                np.zeros(image_shape, np.float32), np.zeros(disparity_shape, np.float32)
            )

    def test_rejects_nan_and_out_of_range(self, texture, ramp):
        bad = ramp.copy()
        bad[3, 4] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            render_threshold_gauss(texture, bad)
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            render_threshold_gauss(texture, ramp * 2)
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            render_threshold_gauss(texture * 255, ramp)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"threshold": 1.5}, "threshold"),
            ({"threshold": -0.1}, "threshold"),
            ({"sigma": -1.0}, "sigma"),
            ({"feather": -0.1}, "feather"),
        ],
    )
    def test_rejects_bad_options(self, texture, ramp, kwargs, match):
        with pytest.raises(ValueError, match=match):
            render_threshold_gauss(texture, ramp, **kwargs)

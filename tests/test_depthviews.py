"""Pictures for people (bokeh.depthviews): Visualize depth, the depth histogram, the kernel
preview at the frame's centre and corner, and the focus box drawn on the photo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from bokeh import depthviews, service, views
from bokeh.renderers.character import Character


@pytest.fixture
def scene(rng):
    pixels = (rng.random((40, 60, 3)) * 255).astype(np.uint8)
    disparity = np.tile(np.linspace(0.0, 1.0, 60, dtype=np.float32), (40, 1))
    return pixels, disparity


class TestOverlay:
    def test_opacity_blends_photo_and_depth_colours(self, scene):
        pixels, disparity = scene
        np.testing.assert_array_equal(depthviews.depth_overlay(pixels, disparity, opacity=0.0),
                                      pixels)  # fmt: skip
        colours = depthviews.colorize_disparity(disparity)
        np.testing.assert_array_equal(depthviews.depth_overlay(pixels, disparity), colours)
        half = depthviews.depth_overlay(pixels, disparity, opacity=0.5).astype(int)
        expected = (pixels.astype(float) + colours) / 2
        assert np.abs(half - expected).max() <= 1

    def test_the_in_focus_range_is_tinted_green_and_nothing_else(self, scene):
        pixels, disparity = scene
        out = depthviews.depth_overlay(pixels, disparity, opacity=0.0, in_focus=(0.4, 0.6))
        sharp = (disparity >= 0.4) & (disparity <= 0.6)
        np.testing.assert_array_equal(out[~sharp], pixels[~sharp])
        inner = sharp & ndimage.binary_erosion(sharp)  # the outline is solid green
        green = out[..., 1].astype(int) - pixels[..., 1]
        assert (green[inner] >= 0).all() and green[inner].mean() > 30
        edge = sharp & ~ndimage.binary_erosion(sharp, border_value=1)
        assert (out[edge] == depthviews.IN_FOCUS.astype(np.uint8)).all()

    def test_bad_opacity_and_sizes_are_refused(self, scene):
        pixels, disparity = scene
        with pytest.raises(ValueError, match="opacity"):
            depthviews.depth_overlay(pixels, disparity, opacity=1.5)
        with pytest.raises(ValueError, match="differ in size"):
            depthviews.depth_overlay(pixels, disparity[:, :-1])


class TestCompiledViews:
    """The compiled colours and overlay give the bytes of their numpy definitions."""

    @staticmethod
    def _colours(disparity):
        stops = depthviews._STOPS
        d = np.clip(np.nan_to_num(disparity, nan=0.0), 0.0, 1.0) * (len(stops) - 1)
        i = np.minimum(d.astype(np.int32), len(stops) - 2)
        t = (d - i)[..., None]
        return (stops[i] * (1 - t) + stops[i + 1] * t + 0.5).astype(np.uint8)

    @classmethod
    def _overlay(cls, pixels, disparity, opacity, in_focus):
        out = pixels.astype(np.float32) * (1 - opacity) + cls._colours(disparity) * opacity
        if in_focus is not None:
            sharp = (disparity >= in_focus[0]) & (disparity <= in_focus[1])
            out[sharp] = 0.55 * out[sharp] + 0.45 * depthviews.IN_FOCUS
            inner = ndimage.binary_erosion(sharp, border_value=1)  # 4-neighbours, as a cross
            out[sharp & ~inner] = depthviews.IN_FOCUS
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    @pytest.fixture
    def photo(self, rng):
        pixels = (rng.random((70, 90, 3)) * 256).astype(np.uint8)
        disparity = rng.uniform(-0.2, 1.2, (70, 90)).astype(np.float32)
        disparity[::9, ::7] = rng.choice(np.linspace(0, 1, 29, dtype=np.float32), (8, 13))
        disparity[3, :4] = [np.nan, np.inf, -np.inf, 0.5]
        disparity[20:40, 30:60] = 0.5  # a flat area, to have inside and outline
        return pixels, disparity

    def test_colours(self, photo):
        _, disparity = photo
        np.testing.assert_array_equal(depthviews.colorize_disparity(disparity),
                                      self._colours(disparity))  # fmt: skip

    @pytest.mark.parametrize("bins", [1, 7, 50, 64, 333])
    def test_histogram_counts(self, photo, bins):
        from bokeh import depthviews_native

        _, disparity = photo
        disparity = disparity.copy()
        disparity[50, :30] = np.linspace(0, 1, 30, dtype=np.float32)  # on and near edges
        counts = np.zeros(bins, np.int64)
        edges = np.linspace(0, 1, bins + 1, dtype=np.float32)
        depthviews_native.histogram(disparity, edges, counts)
        want, _ = np.histogram(np.clip(disparity, 0, 1), bins=bins, range=(0.0, 1.0))
        np.testing.assert_array_equal(counts, want)  # NaN left out, as numpy leaves it
        assert counts.sum() == np.isfinite(disparity).sum() + 2  # +-inf are clipped in

    @pytest.mark.parametrize("opacity", [0.0, 0.3, 0.77, 1.0])
    @pytest.mark.parametrize("in_focus", [None, (0.4, 0.6), (0.5, 0.5), (1.0, 2.0)])
    @pytest.mark.parametrize("threads", [1, 3])
    def test_overlay(self, photo, opacity, in_focus, threads):
        """In one band, and in three (the outline looks across the bands' edges)."""
        pixels, disparity = photo
        got = depthviews.depth_overlay(pixels, disparity, opacity=opacity, in_focus=in_focus,
                                       threads=threads)  # fmt: skip
        np.testing.assert_array_equal(got, self._overlay(pixels, disparity, opacity, in_focus))

    def test_histogram_in_bands(self, photo):
        _, disparity = photo
        one = depthviews.depth_histogram(disparity, in_focus=(0.4, 0.6), threads=1)
        for threads in (2, 5, 200):  # more threads than rows: one row each
            np.testing.assert_array_equal(
                depthviews.depth_histogram(disparity, in_focus=(0.4, 0.6), threads=threads), one
            )


class TestHistogram:
    def test_one_depth_is_one_bar_in_its_place(self):
        disparity = np.full((30, 30), 0.25, np.float32)
        img = depthviews.depth_histogram(disparity, width=320, height=110, bins=64)
        assert img.shape == (110, 320, 3) and img.dtype == np.uint8
        bars = (img[4:94] == 170).all(axis=2).any(axis=0)  # grey bar columns
        columns = np.flatnonzero(bars)
        # bin 16 of 64 covers disparity 0.25..0.266: columns 80..84 of 320
        assert columns.min() == 80 and columns.max() == 84
        assert (img[4:94, 82] == 170).all()  # the only bin: full height

    def test_the_range_and_the_plane_are_marked(self):
        disparity = np.tile(np.linspace(0, 1, 200, dtype=np.float32), (10, 1))
        img = depthviews.depth_histogram(disparity, in_focus=(0.4, 0.6), plane=0.5).astype(int)
        top = img[6]  # above the bars (a uniform histogram fills the plot to its top row only)
        shaded = top[:, 1] - top[:, 0] > 20  # green tint
        columns = np.flatnonzero(shaded)
        assert abs(columns.min() / 320 - 0.4) < 0.01 and abs(columns.max() / 320 - 0.6) < 0.01
        plane = np.flatnonzero((img[6] == depthviews.PLANE).all(axis=1))
        assert set(plane) <= {158, 159, 160} and len(plane) >= 1
        soft = depthviews.depth_histogram(disparity, in_focus=(0.4, 0.6), falloff=0.1).astype(int)
        ramp = soft[6, :, 1] - soft[6, :, 0]
        assert ramp[int(0.65 * 320)] > 5 and ramp[int(0.75 * 320)] <= 1  # fades out past 0.7


def _lit(picture: np.ndarray) -> np.ndarray:
    return picture.max(axis=2) > 40


class TestKernelPreview:
    SIZE = 96

    def _spots(self, **lens):
        img = depthviews.kernel_preview(size=self.SIZE, **lens)
        assert img.shape == (self.SIZE + 14, 2 * self.SIZE + 6, 3)
        return img[: self.SIZE, : self.SIZE], img[: self.SIZE, self.SIZE + 6 :]

    def test_a_plain_lens_looks_the_same_everywhere(self):
        centre, corner = self._spots()
        np.testing.assert_array_equal(centre, corner)
        radius = 0.4 * self.SIZE
        assert _lit(centre).sum() == pytest.approx(math.pi * radius**2, rel=0.05)

    def test_the_cat_eye_corner_spot_is_two_discs_intersected(self):
        centre, corner = self._spots(character=Character(cat_eye=1.0), frame=(2, 3))
        # in the corner (|u| = 1) the barrel's disc is one radius away: the lens-shaped
        # intersection of two discs a radius apart covers (2 pi / 3 - sqrt(3) / 2) / pi
        expected = (2 * math.pi / 3 - math.sqrt(3) / 2) / math.pi
        ratio = _lit(corner).sum() / _lit(centre).sum()
        assert ratio == pytest.approx(expected, rel=0.08)
        # clipped on the side away from the frame centre: light moves up-left (to the centre)
        cy, cx = ndimage.center_of_mass(_lit(corner))
        assert cy < self.SIZE / 2 - 5 and cx < self.SIZE / 2 - 5

    def test_ring_has_a_hole_and_chromatic_aberration_colours_the_rim(self):
        centre, _ = self._spots(character=Character(ring=0.5))
        assert centre[self.SIZE // 2, self.SIZE // 2].max() == 0
        centre, _ = self._spots(character=Character(chromatic_aberration=1.0))
        red, blue = (int((centre[..., c] > 40).sum()) for c in (0, 2))
        assert red > 1.3 * blue  # behind the focal plane red spreads wider: a warm rim


def test_draw_box_outlines_the_box_and_marks_a_first_corner(scene):
    pixels, _ = scene
    out = depthviews.draw_box(pixels, (10, 5, 40, 30))
    assert (out[5, 20] == depthviews.PLANE).all() and (out[30, 20] == depthviews.PLANE).all()
    np.testing.assert_array_equal(out[12:24, 16:34], pixels[12:24, 16:34])  # inside untouched
    np.testing.assert_array_equal(out[:, 48:], pixels[:, 48:])  # outside untouched
    cross = depthviews.draw_box(pixels, None, corner=(30, 20))
    assert (cross[20, 30] == depthviews.PLANE).all()
    assert (cross[:, :18] == pixels[:, :18]).all()


def test_the_app_preview_follows_the_character():
    plain = service.aperture_preview(6, 10.0, 0, 0, 0, 0)
    np.testing.assert_array_equal(plain, views.aperture_preview(6, 10.0))
    both = service.aperture_preview(0, 0.0, 1.0, 0, 0, 0)
    np.testing.assert_array_equal(
        both, depthviews.kernel_preview(character=Character(cat_eye=1.0), size=72)
    )

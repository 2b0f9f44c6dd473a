"""Lens character (bokeh.renderers.character, kernels) and the in-focus falloff, in the renderer.

Each character is checked twice: the fast renderer against the exact reference
(tests/lens_reference.py: every level convolved at full resolution, or scattered pixel by pixel
for the cat-eye), and the shape of one out-of-focus point measured on the fast renderer's output
against geometry written out here (intersection of two discs, rim/centre brightness, the hole,
the polygon's orientation, the colour radii). Run with ``-s`` to see the measured values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from bokeh.renderers.aperture import aperture_kernel
from bokeh.renderers.character import Character, character_kernel, frame_position
from bokeh.renderers.coc import signed_coc
from bokeh.renderers.lens import level_values, render_lens
from tests.lens_reference import reference_render

GAMMA = 2.2
R_FINE = float(level_values(6.0)[-1])  # 6.64 px: blurred at full resolution
R_COARSE = float(level_values(14.0)[-1])  # 16.3 px: a coarse level (crop-wise blur)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


# ----------------------------------------------------------------------------- one point


def _spot(radius, *, shape=(160, 160), at=None, front=False, **lens) -> tuple[np.ndarray, tuple]:
    """The linear-light spot of one 1-px white point on black, rendered out of focus with
    circle of confusion ``radius`` (behind the focal plane, or in front): (H, W, 3), point.

    Blurred at full resolution (``min_lowres_radius`` 9) unless ``lens`` says otherwise: a
    single pixel is the reduced-resolution blur's worst case (its edge spreads over a few
    pixels), and these tests measure the spot's geometry."""
    lens.setdefault("min_lowres_radius", 9.0)
    h, w = shape
    y, x = at if at is not None else (h // 2, w // 2)
    image = np.zeros((h, w, 3), np.float32)
    image[y, x] = 1.0
    disparity = np.full((h, w), 1.0 if front else 0.0, np.float32)
    out = render_lens(image, disparity, focus_disparity=0.0 if front else 1.0, strength=radius,
                      **lens)  # fmt: skip
    return out.astype(np.float64) ** GAMMA, (y, x)


def _mask(spot: np.ndarray) -> np.ndarray:
    """Where the spot is at least half its typical brightness."""
    lum = spot.mean(axis=2) if spot.ndim == 3 else spot
    return lum > 0.5 * np.percentile(lum[lum > 1e-6], 75)


def _disc(shape, centre, radius) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.hypot(yy - centre[0], xx - centre[1]) <= radius


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _radial_mean(lum: np.ndarray, point, lo: float, hi: float) -> float:
    yy, xx = np.mgrid[0 : lum.shape[0], 0 : lum.shape[1]]
    rho = np.hypot(yy - point[0], xx - point[1])
    return float(lum[(rho >= lo) & (rho <= hi)].mean())


class TestKernels:
    @pytest.mark.parametrize(("radius", "blades", "rotation"), [(0.7, 0, 0), (6.6, 0, 0),
                                                                (10.0, 6, 15), (7.5, 5, 20)])  # fmt: skip
    def test_the_plain_character_is_the_aperture(self, radius, blades, rotation):
        plain = character_kernel(radius, blades=blades, rotation=rotation)
        np.testing.assert_array_equal(plain, aperture_kernel(radius, blades=blades,
                                                             rotation=rotation))  # fmt: skip
        front = character_kernel(radius, blades=blades, rotation=rotation, front=True)
        np.testing.assert_array_equal(front, plain[::-1, ::-1])

    @pytest.mark.parametrize("character", [Character(cat_eye=1), Character(bubble=1),
                                           Character(ring=0.9)])  # fmt: skip
    def test_every_spot_sums_to_one(self, character):
        for position in [(0.0, 0.0), (0.7, -0.7), (-1.0, 0.2)]:
            kernel = character_kernel(9.3, character=character, position=position)
            assert kernel.min() >= 0 and kernel.sum() == pytest.approx(1.0, abs=1e-5)

    @pytest.mark.parametrize("field", ["cat_eye", "bubble", "ring", "chromatic_aberration"])
    def test_out_of_range_is_refused(self, field):
        with pytest.raises(ValueError, match=field):
            Character(**{field: 1.5})
        with pytest.raises(ValueError, match=field):
            Character(**{field: -0.1})

    def test_frame_position_is_one_at_the_corners(self):
        uy, ux = frame_position(np.array([0, 99, 49.5]), np.array([0, 149, 74.5]), (100, 150))
        np.testing.assert_allclose(np.hypot(uy, ux), [1, 1, 0], atol=1e-12)
        assert uy[0] < 0 and ux[0] < 0


class TestCatEye:
    SHAPE = (384, 576)

    def _corner_point(self, u: float) -> tuple[int, int]:
        h, w = self.SHAPE
        return round((h - 1) / 2 * (1 + u)), round((w - 1) / 2 * (1 + u))

    def test_a_centre_spot_stays_a_disc(self):
        spot, point = _spot(R_COARSE, shape=self.SHAPE, character=Character(cat_eye=1))
        iou = _iou(_mask(spot), _disc(self.SHAPE, point, R_COARSE))
        print(f"\n[cat-eye] centre spot vs disc: IoU {iou:.3f}")
        assert iou > 0.9

    @pytest.mark.parametrize("radius", [R_FINE, R_COARSE], ids=["fine", "coarse"])
    @pytest.mark.parametrize("strength", [0.5, 1.0])
    def test_a_corner_spot_is_two_discs_intersected(self, radius, strength):
        point = self._corner_point(0.8)
        spot, _ = _spot(radius, shape=self.SHAPE, at=point, character=Character(cat_eye=strength))
        uy, ux = (float(v) for v in frame_position(point[0], point[1], self.SHAPE))
        # the barrel's disc: the same radius, displaced towards the centre by strength |u| R
        barrel = (point[0] - strength * radius * uy, point[1] - strength * radius * ux)
        expected = _disc(self.SHAPE, point, radius) & _disc(self.SHAPE, barrel, radius)
        measured = _mask(spot)
        iou = _iou(measured, expected)
        # clipped on the side away from the centre: the spot's centre of light moves inwards
        # by half the displacement
        cy, cx = ndimage.center_of_mass(spot.mean(axis=2))
        shift = math.hypot(point[0] - cy, point[1] - cx)
        half = strength * radius * math.hypot(uy, ux) / 2
        print(f"\n[cat-eye] R={radius:.1f} strength {strength}: IoU {iou:.3f}, centroid moved "
              f"{shift:.2f} px inwards (expected {half:.2f})")  # fmt: skip
        assert iou > 0.85
        assert abs(shift - half) < 0.1 * radius
        inwards = (point[0] - cy) * uy + (point[1] - cx) * ux
        assert inwards > 0
        assert measured.sum() == pytest.approx(expected.sum(), rel=0.12)

    def test_a_foreground_spot_is_clipped_on_the_other_side(self):
        point = self._corner_point(0.8)
        spot, _ = _spot(R_COARSE, shape=self.SHAPE, at=point, front=True,
                        character=Character(cat_eye=1))  # fmt: skip
        uy, ux = (float(v) for v in frame_position(point[0], point[1], self.SHAPE))
        cy, cx = ndimage.center_of_mass(spot.mean(axis=2))
        assert (cy - point[0]) * uy + (cx - point[1]) * ux > 0.3 * R_COARSE * math.hypot(uy, ux)


class TestBubbleRingBlades:
    def test_soap_bubble_rim_is_brighter_behind_and_dimmer_in_front(self):
        r = R_COARSE
        behind, point = _spot(r, character=Character(bubble=1))
        front, _ = _spot(r, character=Character(bubble=1), front=True)

        # the profile 1 + 4 (rho/R)^4 averaged over each annulus (area-weighted)
        def mean_t4(a, b):  # mean of (rho/R)^4 for rho in [a R, b R]
            return (b**6 - a**6) / (3 * (b**2 - a**2))

        rim, centre = (0.6, 0.85), (0.0, 0.35)
        expected = (1 + 4 * mean_t4(*rim)) / (1 + 4 * mean_t4(*centre))
        expected_front = (1 + 4 * (1 - mean_t4(*rim))) / (1 + 4 * (1 - mean_t4(*centre)))
        for spot, want, name in ((behind, expected, "behind"), (front, expected_front, "front")):
            lum = spot.mean(axis=2)
            ratio = _radial_mean(lum, point, rim[0] * r, rim[1] * r) / _radial_mean(
                lum, point, centre[0] * r, centre[1] * r)  # fmt: skip
            print(f"\n[bubble] {name}: rim/centre {ratio:.3f} (expected {want:.3f})")
            assert ratio == pytest.approx(want, rel=0.15)

    @pytest.mark.parametrize("ring", [0.4, 0.7])
    def test_ring_has_a_hole_of_the_given_size(self, ring):
        r = R_COARSE
        spot, point = _spot(r, character=Character(ring=ring))
        lum = spot.mean(axis=2)
        hole = _radial_mean(lum, point, 0, 0.5 * ring * r)
        annulus = _radial_mean(lum, point, ring * r + 1.5, r - 1.5)
        # the half-brightness edges of the annulus, along many directions
        mask = _mask(spot)
        yy, xx = np.mgrid[0 : lum.shape[0], 0 : lum.shape[1]]
        rho = np.hypot(yy - point[0], xx - point[1])
        inner = rho[mask].min()
        print(f"\n[ring {ring}] hole/annulus {hole / annulus:.3f}, inner edge {inner:.2f} px "
              f"(expected {ring * r:.2f})")  # fmt: skip
        assert hole < 0.05 * annulus
        assert inner == pytest.approx(ring * r, abs=1.5)

    def test_odd_blades_point_the_other_way_in_front(self):
        lens = {"blades": 5, "rotation": 20.0}
        behind, point = _spot(R_COARSE, **lens)
        front, _ = _spot(R_COARSE, front=True, **lens)
        b, f = _mask(behind), _mask(front)
        turned = np.roll(np.roll(b[::-1, ::-1], 2 * point[0] - b.shape[0] + 1, axis=0),
                         2 * point[1] - b.shape[1] + 1, axis=1)  # fmt: skip
        print(f"\n[blades 5] front vs turned back IoU {_iou(f, turned):.3f}, "
              f"front vs back {_iou(f, b):.3f}")  # fmt: skip
        assert _iou(f, turned) > 0.9
        assert _iou(f, b) < 0.85

    @pytest.mark.parametrize("rotation", [0.0, 20.0])
    def test_pentagon_corners_follow_the_rotation(self, rotation):
        spot, point = _spot(R_COARSE, blades=5, rotation=rotation)
        mask = _mask(spot)
        theta = np.deg2rad(np.arange(0.0, 360.0, 2.0))
        steps = np.arange(0.0, 2 * R_COARSE, 0.1)
        radii = []
        for a in theta:
            line = ndimage.map_coordinates(mask.astype(float), [point[0] + steps * np.sin(a),
                                                                point[1] + steps * np.cos(a)],
                                           order=1)  # fmt: skip
            radii.append(steps[np.nonzero(line >= 0.5)[0].max()])
        # a regular pentagon with corners at rotation + k 72 degrees (angles from +x to +y)
        expected = 1 / np.cos(np.deg2rad((np.rad2deg(theta) - rotation) % 72 - 36))
        other = 1 / np.cos(np.deg2rad((np.rad2deg(theta) - rotation - 36) % 72 - 36))
        match, off = np.corrcoef(radii, expected)[0, 1], np.corrcoef(radii, other)[0, 1]
        print(f"\n[blades 5, rotation {rotation}] corr {match:+.2f} (36 deg off {off:+.2f})")
        assert match > 0.8 and off < -0.5


class TestNoDarkRings:
    # Known defect: the cat-eye's compensated block kernels at reduced resolution still
    # undershoot next to very bright light (darkest 0.05 on a 0.15 background here, 0.12
    # without the boost); their non-negative part alone removes it but costs 7 dB against
    # the reference (41.2 -> 33.8 dB at 144x96), so it is not done.
    @pytest.mark.parametrize("character", [
        pytest.param(Character(cat_eye=1), marks=pytest.mark.xfail(
            strict=True, reason="cat-eye undershoot next to bright light at reduced resolution")),
        Character(bubble=1), Character(chromatic_aberration=1),
    ], ids=["cat-eye", "bubble", "chromatic"])  # fmt: skip
    def test_no_dark_ring_around_a_boosted_ball(self, character):
        """Light far brighter than white, blurred at reduced resolution, must not leave dark
        rings (the compensated kernels' undershoot) with any character either."""
        n, bg = 192, 0.15
        image = np.full((n, n, 3), bg, np.float32)
        for y, x in ((40, 40), (96, 120), (150, 60), (170, 170)):
            image[y - 1 : y + 2, x - 1 : x + 2] = 1.0
        zeros = np.zeros((n, n), np.float32)
        out = render_lens(image, zeros, focus_disparity=1.0, strength=18.0, highlight_boost=30.0,
                          character=character)  # fmt: skip
        print(f"\n[ball] {character}: darkest {out.min():.3f} (background {bg})")
        assert out.min() >= 0.9 * bg and out.max() > bg + 0.3


class TestChromaticAberration:
    @pytest.mark.parametrize("front", [False, True], ids=["behind", "front"])
    def test_red_and_blue_radii_swap_across_the_focal_plane(self, front):
        spot, _ = _spot(R_COARSE, front=front, character=Character(chromatic_aberration=1))
        radii = [math.sqrt(_mask(spot[..., c]).sum() / math.pi) for c in range(3)]
        red, green, blue = (r / radii[1] for r in radii)
        print(f"\n[CA {'front' if front else 'behind'}] radii R {radii[0]:.2f}, G {radii[1]:.2f}"
              f", B {radii[2]:.2f}")  # fmt: skip
        assert radii[1] == pytest.approx(R_COARSE, rel=0.06)
        big, small = (blue, red) if front else (red, blue)
        assert big == pytest.approx(1.2, abs=0.05)
        assert small == pytest.approx(0.8, abs=0.05)

    def test_the_focal_plane_stays_sharp_and_grey_stays_grey(self, photo):
        h, w = photo.shape[:2]
        disparity = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
        out = render_lens(photo, disparity, focus_disparity=0.5, strength=12.0, band=0.1,
                          character=Character(chromatic_aberration=1))  # fmt: skip
        sharp = np.abs(disparity - 0.5) < 0.08
        assert _psnr(out[sharp], photo[sharp]) > 45
        grey = np.full_like(photo, 0.4)
        out = render_lens(grey, disparity, focus_disparity=0.5, strength=12.0,
                          character=Character(chromatic_aberration=1))  # fmt: skip
        np.testing.assert_allclose(out, 0.4, atol=2e-3)


# ----------------------------------------------------------------------------- falloff


class TestFalloff:
    def test_zero_slope_at_the_band_edge_and_unchanged_beyond(self):
        d = np.linspace(0, 1, 1001, dtype=np.float32)[None]
        plain = signed_coc(d, focus_disparity=0.5, strength=10.0, band=0.05)
        soft = signed_coc(d, focus_disparity=0.5, strength=10.0, band=0.05, falloff=0.1)
        x = np.abs(d[0] - 0.5) - 0.05  # distance past the band's edge
        beyond = x >= 0.1 + 1e-3
        np.testing.assert_allclose(soft[0][beyond], plain[0][beyond], atol=1e-5)
        assert (soft[0][x <= 0] == 0).all()
        ramp = (x > 1e-3) & (x < 0.1 - 1e-3)
        assert (np.abs(soft[0][ramp]) < np.abs(plain[0][ramp])).all()  # gentler
        np.testing.assert_allclose(np.abs(soft[0][ramp]), 10 * x[ramp] * (2 * x[ramp] / 0.1 - (
            x[ramp] / 0.1) ** 2), rtol=1e-4)  # fmt: skip
        assert (np.diff(soft[0]) >= 0).all()  # still monotone
        with pytest.raises(ValueError, match="falloff"):
            signed_coc(d, focus_disparity=0.5, strength=1.0, falloff=-0.1)

    def test_the_transition_is_sharper_and_the_far_blur_the_same(self, photo):
        h, w = photo.shape[:2]
        disparity = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
        lens = {"focus_disparity": 0.5, "strength": 20.0, "band": 0.05}
        plain = render_lens(photo, disparity, **lens)
        soft = render_lens(photo, disparity, falloff=0.15, **lens)
        past = np.abs(disparity - 0.5) - 0.05
        ramp = (past > 0.0) & (past < 0.03)
        far = past > 0.15 + 0.05 + 20 / w  # beyond the ramp and the blur that reaches across
        print(f"\n[falloff] ramp PSNR vs input: plain {_psnr(plain[ramp], photo[ramp]):.1f}, "
              f"falloff {_psnr(soft[ramp], photo[ramp]):.1f} dB")  # fmt: skip
        assert _psnr(soft[ramp], photo[ramp]) > _psnr(plain[ramp], photo[ramp]) + 5
        assert _psnr(soft[far], plain[far]) > 45


# ----------------------------------------------------------------------------- reference


def _scene(photo: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The test photo at (h, w): a subject in focus over a receding background, with small
    saturated lights in the background."""
    from skimage.transform import resize

    image = np.clip(resize(photo, (h, w), anti_aliasing=True), 0, 1).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / h, xx / w
    subject = ((yy - 0.55) / 0.3) ** 2 + ((xx - 0.5) / 0.2) ** 2 < 1
    disparity = np.where(subject, 0.7 + 0.04 * (xx - 0.5), 0.05 + 0.35 * yy).astype(np.float32)
    rng = np.random.default_rng(7)
    for y, x in zip(rng.integers(4, h - 6, 24), rng.integers(4, w - 6, 24), strict=True):
        if not subject[y : y + 2, x : x + 2].any():
            image[y : y + 2, x : x + 2] = 1.0
    return image, disparity


CHARACTERS = {
    "bubble": ({"character": Character(bubble=1)}, ()),
    "ring": ({"character": Character(ring=0.5)}, ()),
    "chromatic": ({"character": Character(chromatic_aberration=1)}, ()),
    "pentagon": ({"blades": 5, "rotation": 20.0}, ()),
    "falloff": ({"falloff": 0.1}, ()),
    "cat-eye": ({"character": Character(cat_eye=1)}, ()),
    "everything": ({"blades": 7, "rotation": 10.0, "falloff": 0.05,
                    "character": Character(cat_eye=0.7, bubble=0.5, ring=0.3,
                                           chromatic_aberration=0.6)}, (pytest.mark.slow,)),
}  # fmt: skip


class TestMatchesReference:
    @pytest.mark.parametrize("name", [pytest.param(n, marks=m) for n, (_, m) in CHARACTERS.items()])
    def test_psnr_against_reference(self, photo, name):
        # the cat-eye's reference scatters every pixel: a smaller scene keeps it quick
        h, w = (96, 144) if name == "cat-eye" else (128, 192)
        image, disparity = _scene(photo, h, w)
        lens = {"focus_disparity": 0.7, "strength": 18.0, "band": 0.03, "highlight_boost": 1.0,
                **CHARACTERS[name][0]}  # fmt: skip
        fast = render_lens(image, disparity, **lens)
        exact = reference_render(image, disparity, **lens)
        value = _psnr(fast, exact)
        print(f"\n[character vs reference] {name} {w}x{h}: {value:.2f} dB")
        assert value >= 40.0

    @pytest.mark.slow
    @pytest.mark.parametrize("name", ["cat-eye", "chromatic", "bubble"])
    def test_psnr_against_reference_larger(self, photo, name):
        image, disparity = _scene(photo, 256, 384)
        lens = {"focus_disparity": 0.7, "strength": 24.5, "band": 0.03, "highlight_boost": 1.0,
                **CHARACTERS[name][0]}  # fmt: skip
        value = _psnr(render_lens(image, disparity, **lens),
                      reference_render(image, disparity, **lens))  # fmt: skip
        print(f"\n[character vs reference] {name} 384x256: {value:.2f} dB")
        assert value >= 42.0

    @pytest.mark.slow
    def test_cat_eye_closer_to_the_reference_on_a_larger_frame(self, photo):
        # the cat-eye's kernels are exact at each 16 px block's centre: the error shrinks as
        # the frame grows (the spot changes less across a block); about 2 minutes
        image, disparity = _scene(photo, 512, 768)
        lens = {"focus_disparity": 0.7, "strength": 24.5, "band": 0.03, "highlight_boost": 1.0,
                "character": Character(cat_eye=1)}  # fmt: skip
        value = _psnr(render_lens(image, disparity, **lens),
                      reference_render(image, disparity, **lens))  # fmt: skip
        print(f"\n[character vs reference] cat-eye 768x512: {value:.2f} dB")
        assert value >= 48.0

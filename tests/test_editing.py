"""A photographer's depth edits (bokeh.editing): focus range, refine strokes, and their effect on
the lens render through the depth-lens method (settings, the service, the command line)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from bokeh import editing, service
from bokeh.cli import main
from bokeh.depth.files import read_depth_map
from bokeh.errors import BokehError
from bokeh.registry import get_method, load_method

H, W = 192, 288


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


@pytest.fixture(scope="module")
def layered(photo_small):
    """Three horizontal layers: far (top, 0.1), a subject tilted from 0.35 on the left to 0.65
    on the right (middle), near (bottom, 0.9)."""
    xx = np.tile(np.linspace(0.0, 1.0, W, dtype=np.float32), (H, 1))
    disparity = np.full((H, W), 0.1, np.float32)
    disparity[64:128] = 0.35 + 0.3 * xx[64:128]
    disparity[128:] = 0.9
    return photo_small, disparity


@pytest.fixture(scope="module")
def photo_small():
    from skimage import data, transform

    image = transform.resize(data.astronaut(), (H, W), anti_aliasing=True)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------- focus range


class TestFocusRange:
    @pytest.mark.parametrize(("given", "box"), [
        ([30, 40, 10, 20], (10.0, 20.0, 30.0, 40.0)), ("10,20,30,40", (10.0, 20.0, 30.0, 40.0)),
        ("[1.5, 2, 3, 4]", (1.5, 2.0, 3.0, 4.0)), (None, None), ("", None), ([], None),
    ])  # fmt: skip
    def test_boxes_are_read_and_ordered(self, given, box):
        assert editing.parse_box(given) == box

    @pytest.mark.parametrize("bad", ["1,2,3", [1, 2, 3, "x"], [1, 2, 3, float("nan")], 7])
    def test_bad_boxes_are_one_clear_line(self, bad):
        with pytest.raises(BokehError, match="focus_range must be four") as err:
            editing.parse_box(bad)
        assert "\n" not in str(err.value)

    def test_the_band_covers_the_boxed_layer_and_ignores_stray_pixels(self):
        d = np.tile(np.linspace(0.4, 0.6, 101, dtype=np.float32), (50, 1))
        d[10, 10] = 0.95  # one stray pixel of another layer inside the box
        chosen = editing.focus_range(d, (0, 0, 100, 49))
        assert chosen.lo <= 0.4 + 1e-6 and chosen.hi >= 0.6 - 1e-6  # the whole layer
        assert chosen.hi < 0.62  # the stray pixel is not in it
        assert chosen.plane == pytest.approx(0.5, abs=1e-3)
        assert chosen.band == pytest.approx((chosen.hi - chosen.lo) / 2)

    def test_a_box_outside_the_image_is_refused(self):
        with pytest.raises(BokehError, match="leaves the 101x50 image"):
            editing.focus_range(np.zeros((50, 101), np.float32), (0, 0, 101, 10))

    def test_exactly_the_boxed_layer_is_in_focus(self, layered):
        image, disparity = layered
        pipe = load_method("depth-lens")
        # the box spans the subject's width (its whole depth range), not its full height
        out = pipe(image, depth=disparity, focus_range=[0, 80, W - 1, 110], fnumber=0.5).image
        near_reach = 30  # the near layer's blur spreads over the subject's lower edge
        subject = np.zeros((H, W), bool)
        subject[64 : 128 - near_reach] = True
        diff = np.abs(out - image)[subject].max()
        print(f"\n[focus range] subject max |out - in| {diff:.2e}; far PSNR "
              f"{_psnr(out[:50], image[:50]):.1f} dB, near {_psnr(out[150:], image[150:]):.1f} dB")  # fmt: skip
        assert diff < 1e-5  # equal up to float rounding, left (0.35) to right (0.65)
        assert _psnr(out[:50], image[:50]) < 30 and _psnr(out[150:], image[150:]) < 30
        # a click in the middle with the default band leaves the subject's ends blurred
        clicked = pipe(image, depth=disparity, focus=(W / 2, 96), fnumber=0.5).image
        assert np.abs(clicked - image)[80:100, :20].max() > 0.05

    def test_the_range_replaces_the_focus_point_and_band(self, layered):
        image, disparity = layered
        info = load_method("depth-lens")(image, depth=disparity, focus=(5, 5), band=0.4,
                                         focus_range="0,80,287,110").info  # fmt: skip
        assert info["focus"] is None and info["focus_range"]["box"] == [0, 80, 287, 110]
        assert info["focus_disparity"] == pytest.approx(0.5, abs=0.01)
        assert info["band"] == pytest.approx(info["focus_range"]["band"], abs=1e-4)
        assert 0.15 < info["band"] < 0.17  # the subject's 0.35..0.65, with 5% margins


# ----------------------------------------------------------------------------- refine


def _stroke(mode="focus", size=20, points=((100, 40),)):
    return {"mode": mode, "size": size, "points": [list(p) for p in points]}


class TestRefine:
    def test_strokes_from_json_text_or_lists(self):
        text = '[{"mode": "focus", "size": 10, "points": [[1, 2], [3, 4]]}]'
        a, b = editing.parse_refine(text), editing.parse_refine([_stroke(size=10,
                                                                         points=((1, 2), (3, 4)))])  # fmt: skip
        assert a.strokes == b.strokes == (editing.Stroke("focus", 10.0, ((1, 2), (3, 4))),)
        assert editing.parse_refine("") is None and editing.parse_refine([]) is None
        assert a.as_json() == [{"mode": "focus", "size": 10.0, "points": [[1, 2], [3, 4]]}]

    @pytest.mark.parametrize(("bad", "needle"), [
        ("not json", "JSON list"), ([{"mode": "sharpen", "size": 3, "points": [[0, 0]]}], "mode"),
        ([_stroke(size=0)], "size"), ([_stroke(points=())], "at least one point"),
        ([{"mode": "focus", "size": 3, "points": [[0]]}], "points a list"), (5, "list of strokes"),
        ([_stroke()] * (editing.MAX_STROKES + 1), "at most"),
        ([_stroke(points=[(0, 0)] * (editing.MAX_POINTS + 1))], "more than"),
    ])  # fmt: skip
    def test_bad_strokes_are_one_clear_line(self, bad, needle):
        with pytest.raises(BokehError, match=needle) as err:
            editing.parse_refine(bad)
        assert "\n" not in str(err.value)

    def test_a_dab_paints_a_disc_and_later_strokes_cover_earlier_ones(self):
        strokes = editing.parse_refine([_stroke("focus", 21, ((50, 40),)),
                                        _stroke("blur", 11, ((60, 40), (80, 40)))]).strokes  # fmt: skip
        mask = editing.rasterize(strokes, (80, 120))
        yy, xx = np.mgrid[0:80, 0:120]
        dab = np.hypot(xx - 50, yy - 40) <= 10.0
        capsule = np.hypot(xx - np.clip(xx, 60, 80), yy - 40)  # distance to the blur line
        line = capsule <= 5.0
        assert (mask[dab & (capsule > 6.5)] > 0.99).all()
        assert (mask[line] < -0.99).all()  # painted over the dab where they meet
        assert (mask[~ndimage.binary_dilation(dab | line, iterations=2)] == 0).all()
        area = float(np.clip(mask, 0, 1).sum() + np.clip(-mask, 0, 1).sum())
        assert area == pytest.approx(math.pi * 10.5**2 + 21 * 11 + math.pi * 5.5**2 - 42, rel=0.1)

    def test_a_painted_layer_reads_as_focus_and_blur(self):
        layer = np.zeros((4, 4, 4), np.uint8)
        layer[0, 0] = (*editing.FOCUS_COLOR, 255)
        layer[1, 1] = (*editing.BLUR_COLOR, 128)
        mask = editing.mask_from_layer(layer)
        assert mask[0, 0] == 1.0 and mask[1, 1] == pytest.approx(-128 / 255)
        assert np.count_nonzero(mask) == 2

    def test_focus_pulls_to_the_plane_and_blur_pushes_away(self):
        d = np.array([[0.1, 0.5, 0.52, 0.9]], np.float32)
        kept = d.copy()
        full = editing.apply_refine(d, np.ones_like(d), plane=0.5, band=0.03)
        np.testing.assert_allclose(full, 0.5)
        half = editing.apply_refine(d, np.ones_like(d), plane=0.5, band=0.03, strength=0.5)
        np.testing.assert_allclose(half, [[0.3, 0.5, 0.51, 0.7]], atol=1e-6)
        away = editing.apply_refine(d, -np.ones_like(d), plane=0.5, band=0.03)
        # behind -> farthest, in front -> nearest, inside the band -> the farther end (0)
        np.testing.assert_allclose(away, [[0.0, 0.0, 0.0, 1.0]])
        np.testing.assert_array_equal(d, kept)  # the input is not modified

    def test_a_focus_stroke_makes_the_region_as_sharp_as_the_input(self, layered):
        image, disparity = layered
        pipe = load_method("depth-lens")
        common = {"depth": disparity, "focus": (W / 2, 96), "fnumber": 0.5}
        before = pipe(image, **common).image
        stroke = _stroke("focus", 40, ((60, 28), (120, 28)))
        after = pipe(image, refine=[stroke], **common)
        painted = editing.rasterize(editing.parse_refine([stroke]).strokes, (H, W))
        core = painted >= 1.0  # fully painted (the anti-aliased rim is partly refined)
        diff = np.abs(after.image - image)[core].max()
        # outside: only the blur that crossed the new edge changes
        radius = after.info["strength"] * (after.info["focus_disparity"] - 0.1)
        reach = ndimage.distance_transform_edt(painted == 0) > radius + 3
        changed = np.abs(after.image - before)[reach].max()
        print(f"\n[refine] painted max |out - in| {diff:.2e}; beyond the blur of its edge "
              f"max change {changed:.2e}; inside it before: {_psnr(before[core], image[core]):.1f} dB")  # fmt: skip
        assert diff < 1e-5
        assert _psnr(before[core], image[core]) < 30  # it was blurred
        # below one 8-bit step: the hole fill behind near edges (push-pull, coarse averages
        # over the frame) sees the painted region too, far below what the eye or a PNG shows
        assert changed < 0.5 / 255
        assert (
            after.info["refined"] > 0
            and (after.disparity[core] == after.info["focus_disparity"]).all()
        )

    def test_a_blur_stroke_blurs_a_sharp_region(self, layered):
        image, disparity = layered
        pipe = load_method("depth-lens")
        common = {"depth": disparity, "focus_range": [0, 80, W - 1, 110], "fnumber": 0.5}
        stroke = _stroke("blur", 30, ((140, 80), (200, 80)))
        out = pipe(image, refine=[stroke], **common).image
        core = editing.rasterize(editing.parse_refine([stroke]).strokes, (H, W)) <= -1.0
        assert _psnr(out[core], image[core]) < 30
        weak = pipe(image, refine=[stroke], refine_strength=0.0, **common).image
        assert np.abs(weak - image)[core].max() < 1e-5  # strength 0: no change


# ----------------------------------------------------------------------------- service, CLI


class TestThroughTheApp:
    def test_depth_pictures_mark_the_in_focus_range(self, layered, tmp_path):
        image, disparity = layered
        Image.fromarray((image * 255).round().astype(np.uint8)).save(tmp_path / "p.png")
        Image.fromarray((disparity * 65535).round().astype(np.uint16)).save(tmp_path / "d.png")
        photo = service.load_photo(tmp_path / "p.png")
        settings = {"depth_source": "file", "focus_range": [0, 80, W - 1, 110],
                    "depth_overlay": 0.0}  # fmt: skip
        out = service.render(photo, method="depth-lens", settings=settings,
                             depth_file=str(tmp_path / "d.png"))  # fmt: skip
        # opacity 0: the photo itself, the in-focus subject tinted green
        other = np.zeros((H, W), bool)
        other[:50], other[140:] = True, True
        np.testing.assert_allclose(out.depth[other], photo.pixels[other], atol=1)
        tint = out.depth[70:120, 5:-5].astype(int) - photo.pixels[70:120, 5:-5]
        assert (tint[..., 1] > 20).mean() > 0.9
        assert out.histogram.ndim == 3 and out.histogram.dtype == np.uint8
        # the edited depth exports as a 16-bit PNG that reads back as the depth used
        Image.fromarray(editing.depth_png16(out.disparity)).save(tmp_path / "used.png")
        back = read_depth_map(tmp_path / "used.png", kind="disparity").disparity
        lo, hi = out.disparity.min(), out.disparity.max()
        np.testing.assert_allclose(back, (out.disparity - lo) / (hi - lo), atol=2 / 65535)

    def test_every_new_setting_is_a_param_of_depth_lens(self):
        names = {p.name for p in get_method("depth-lens").params}
        assert {"focus_range", "falloff", "refine", "refine_strength", "depth_overlay", "cat_eye",
                "bubble", "ring", "chromatic_aberration"} <= names  # fmt: skip

    def test_the_command_line_scales_a_box_to_the_working_image(self, tmp_path, capsys):
        w, h = 240, 120
        image = (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)
        Image.fromarray(image).save(tmp_path / "in.png")
        disp = np.zeros((h, w), np.uint8)
        disp[:, w // 2 :] = 200  # right half nearer
        Image.fromarray(disp).save(tmp_path / "d.png")
        code = main(["render", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "-m",
                     "depth-lens", "--depth", str(tmp_path / "d.png"), "--max-side", "120",
                     "--focus-range", "150,10,230,110", "--fnumber", "1.4"])  # fmt: skip
        _, err = capsys.readouterr()
        assert code == 0, err
        out = np.asarray(Image.open(tmp_path / "o.png")).astype(int)
        small = np.asarray(Image.open(tmp_path / "in.png").resize((120, 60), Image.LANCZOS))
        assert out.shape == (60, 120, 3)
        # the boxed right half is sharp, the left half blurred
        assert (
            np.abs(out[:, 70:] - small[:, 70:]).mean()
            < np.abs(out[:, :50] - small[:, :50]).mean() / 4
        )
        code = main(["render", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "-m",
                     "depth-lens", "--depth", str(tmp_path / "d.png"),
                     "--focus-range", "150,10,250,110"])  # fmt: skip
        _, err = capsys.readouterr()
        assert code == 1 and "leaves the 240x120" in err and len(err.strip().splitlines()) == 1

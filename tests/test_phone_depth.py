"""Depth maps stored in phone photos (bokeh.depth.phone, bokeh.depth.xmp): GDepth and Dynamic
Depth JPEGs and HEIC depth images, built by tests/phone_photos.py to the published formats;
the ``embedded`` depth source through the service; malformed files give one line, never a
crash."""

from __future__ import annotations

import base64
import sys

import numpy as np
import pytest
from PIL import Image

from bokeh import service
from bokeh.depth import resolve_source
from bokeh.depth.phone import heif_depth, load_with_depth, read_embedded_depth
from bokeh.errors import BokehError, EmbeddedDepthError
from tests import phone_photos as pp

H, W = 48, 64
PREFIX = "The depth map stored in the photo cannot be read: "
NEAR, FAR = 0.3, 4.1


def _texture(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def _ramp(h: int = H, w: int = W, dtype=np.uint8) -> np.ndarray:
    top = 255 if dtype == np.uint8 else 65535
    return np.tile(np.linspace(0, top, w).round().astype(dtype), (h, 1))


def _disparity_of_distance(d):
    """The normalised disparity of distance ``d`` for a map stored for [NEAR, FAR]."""
    return (1 / np.asarray(d, float) - 1 / FAR) / (1 / NEAR - 1 / FAR)


def _detail(img: np.ndarray) -> float:
    return float(np.abs(np.diff(img.astype(np.float32), axis=1)).mean())


# --------------------------------------------------------------------------------- GDepth


class TestGDepth:
    def test_range_inverse_png(self):
        codes = _ramp()
        depth = read_embedded_depth(pp.gdepth_jpeg(_texture(), codes))
        assert depth.container == "GDepth" and depth.encoding == "RangeInverse"
        assert (depth.near, depth.far, depth.units) == (NEAR, FAR, "m")
        # RangeInverse: disparity normalised over [near, far] is 1 - code / 255
        np.testing.assert_allclose(depth.disparity, 1 - codes / 255, atol=1e-6)
        assert depth.describe().startswith(
            "depth map stored in the photo (GDepth, RangeInverse, near 0.3 m, far 4.1 m"
        )
        assert depth.focus_distance is None and depth.focus_disparity is None

    def test_range_linear_16_bit(self):
        codes = _ramp(dtype=np.uint16)
        depth = read_embedded_depth(pp.gdepth_jpeg(_texture(), codes, fmt="RangeLinear"))
        distance = NEAR + codes / 65535 * (FAR - NEAR)
        np.testing.assert_allclose(depth.disparity, _disparity_of_distance(distance), atol=1e-5)
        # linear in depth is not linear in disparity: the middle code is far from 0.5
        assert depth.disparity[0, W // 2] < 0.2

    def test_jpeg_depth_image(self):
        codes = _ramp()
        depth = read_embedded_depth(pp.gdepth_jpeg(_texture(), codes, mime="image/jpeg"))
        assert np.abs(depth.disparity - (1 - codes / 255)).max() < 4 / 255  # lossy, close

    def test_extended_xmp_in_many_segments_any_order(self):
        codes = _ramp()
        one = read_embedded_depth(pp.gdepth_jpeg(_texture(), codes))
        many = read_embedded_depth(pp.gdepth_jpeg(_texture(), codes, chunk=300, reverse=True))
        np.testing.assert_array_equal(one.disparity, many.disparity)

    def test_focus_distance(self):
        depth = read_embedded_depth(pp.gdepth_jpeg(_texture(), _ramp(), focus=1.2))
        assert depth.focus_distance == 1.2
        assert depth.focus_disparity == pytest.approx(_disparity_of_distance(1.2))
        assert "focus 1.2 m" in depth.describe()

    def test_unusable_focus_distance_is_a_note(self):
        depth = read_embedded_depth(pp.gdepth_jpeg(_texture(), _ramp(), focus=-3))
        assert depth.focus_distance is None and "FocalDistance" in depth.notes[0]

    def test_exif_rotation_turns_the_map_like_the_photo(self):
        pixels = np.zeros((H, W, 3), np.uint8)
        pixels[:12, :16] = 255  # a white block in the stored top-left corner
        codes = np.full((H, W), 255, np.uint8)  # far everywhere ...
        codes[:12, :16] = 0  # ... but the block is near
        for orientation in (3, 6, 8):
            data = pp.gdepth_jpeg(pixels, codes, orientation=orientation)
            loaded, depth, _ = load_with_depth(data)
            h, w = loaded.image.shape[:2]
            assert (h, w) == ((W, H) if orientation in (6, 8) else (H, W))
            white = loaded.image.mean(axis=2) > 0.5
            near = depth.at_size(w, h) > 0.5
            assert white.sum() > 100 and (white == near).mean() > 0.97, orientation

    def test_size_limit_resizes_the_map_with_the_photo(self):
        loaded, depth, _ = load_with_depth(pp.gdepth_jpeg(_texture(), _ramp()), max_side=32)
        assert loaded.image.shape[:2] == (24, 32)
        resized = depth.at_size(32, 24)
        assert resized.shape == (24, 32) and resized.dtype == np.float32
        assert resized[:, 0].mean() > 0.9 and resized[:, -1].mean() < 0.1  # near left, far right


# --------------------------------------------------------------------------------- Dynamic Depth


class TestDynamicDepth:
    def test_appended_depth_item_and_focal_table(self):
        codes = _ramp()
        table = [(0.5, 3.0), (1.0, 0.0), (2.0, 4.0)]  # sharpest at 1 m
        depth = read_embedded_depth(pp.dynamic_depth_jpeg(_texture(), codes, table=table))
        assert depth.container == "Dynamic Depth" and depth.units == "m"
        np.testing.assert_allclose(depth.disparity, 1 - codes / 255, atol=1e-6)
        assert depth.focus_distance == pytest.approx(1.0)
        assert depth.focus_disparity == pytest.approx(_disparity_of_distance(1.0))

    def test_range_linear_without_focal_table(self):
        codes = _ramp()
        depth = read_embedded_depth(pp.dynamic_depth_jpeg(_texture(), codes, fmt="RangeLinear",
                                                          padding=0))  # fmt: skip
        distance = NEAR + codes / 255 * (FAR - NEAR)
        np.testing.assert_allclose(depth.disparity, _disparity_of_distance(distance), atol=1e-5)
        assert depth.focus_distance is None

    def test_item_length_past_the_end_is_refused_and_the_photo_still_loads(self):
        data = pp.dynamic_depth_jpeg(_texture(), _ramp(), length_delta=1000)
        with pytest.raises(EmbeddedDepthError, match="does not fit"):
            read_embedded_depth(data)
        loaded, depth, notes = load_with_depth(data)
        assert depth is None and loaded.image.shape == (H, W, 3)
        assert any(n.startswith(PREFIX) and "estimated instead" in n for n in notes)

    def test_diopters_are_refused(self):
        with pytest.raises(EmbeddedDepthError, match="diopters"):
            read_embedded_depth(pp.dynamic_depth_jpeg(_texture(), _ramp(), units="Diopters"))


# --------------------------------------------------------------------------------- untrusted input


def _gdepth(**kwargs) -> bytes:
    return pp.gdepth_jpeg(_texture(), _ramp(), **kwargs)


MALFORMED = {
    "bad base64": (lambda: _gdepth(data="@@@not base64@@@"), "base64"),
    "gif mime": (lambda: _gdepth(mime="image/gif"), "image/gif"),
    "wrong signature": (
        lambda: _gdepth(data=base64.b64encode(pp.encode(_ramp(), "JPEG")).decode()), "claims"),
    "near >= far": (lambda: _gdepth(near=5, far=2), "near"),
    "zero near": (lambda: _gdepth(near=0), "near"),
    "unknown format": (lambda: _gdepth(fmt="RangeSquare"), "RangeSquare"),
    "missing segment": (lambda: _gdepth(chunk=300, drop=1), "incomplete"),
    "doctype": (lambda: pp.xmp_jpeg(_texture(), '<rdf:Description rdf:about=""/>').replace(
        b"<x:xmpmeta", b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta', 1), "DOCTYPE"),
    "not xml": (lambda: pp.xmp_jpeg(_texture(), "<rdf:Description>").replace(
        b"</rdf:RDF>", b"", 1), "not well-formed"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_depth_is_one_clear_line(case):
    build, needle = MALFORMED[case]
    data = build()
    if case in ("doctype", "not xml"):  # the segment length must follow the edit
        data = _fix_first_xmp_length(data)
    with pytest.raises(EmbeddedDepthError) as info:
        read_embedded_depth(data)
    message = str(info.value)
    assert message.startswith(PREFIX) and "\n" not in message and needle in message


def _fix_first_xmp_length(data: bytes) -> bytes:
    start = data.index(b"http://ns.adobe.com/xap/1.0/\x00") - 4
    end = data.index(b"\xff", data.index(b"</x:xmpmeta>"))
    segment = data[start + 4 : end]
    return data[:start] + b"\xff\xe1" + (len(segment) + 2).to_bytes(2, "big") + segment + data[end:]


def test_size_bounds_are_checked_before_decoding(monkeypatch):
    import bokeh.depth.phone as phone

    monkeypatch.setattr(phone, "MAX_BASE64_CHARS", 100)
    with pytest.raises(EmbeddedDepthError, match="characters long"):
        read_embedded_depth(_gdepth())
    monkeypatch.setattr(phone, "MAX_BASE64_CHARS", 10**8)
    monkeypatch.setattr(phone, "MAX_DEPTH_PIXELS", 100)
    with pytest.raises(EmbeddedDepthError, match=f"{W}x{H}"):
        read_embedded_depth(_gdepth())


def test_truncated_metadata_is_one_line():
    data = _gdepth(chunk=300)
    cut = data.index(b"http://ns.adobe.com/xmp/extension/") + 100
    with pytest.raises(EmbeddedDepthError, match="truncated"):
        read_embedded_depth(data[:cut])


def test_random_damage_never_crashes():
    """Flipped bytes anywhere in the metadata: a depth map or one clear error, nothing else."""
    rng = np.random.default_rng(1)
    clean = _gdepth(chunk=2000, focus=1.0)
    end = clean.index(b"\xff\xda")  # everything before the scan: the metadata
    outcomes = set()
    for _ in range(150):
        data = bytearray(clean)
        for pos in rng.integers(2, end, size=3):
            data[pos] = rng.integers(0, 256)
        try:
            outcomes.add(type(read_embedded_depth(bytes(data))).__name__)
        except EmbeddedDepthError as exc:
            assert "\n" not in str(exc)
            outcomes.add("error")
    assert "error" in outcomes  # the damage was noticed at least sometimes


def test_photos_without_a_depth_map():
    assert read_embedded_depth(pp.jpeg(_texture())) is None
    assert read_embedded_depth(pp.xmp_jpeg(_texture(), '<rdf:Description rdf:about=""/>')) is None
    assert read_embedded_depth(pp.encode(_texture(), "PNG")) is None
    loaded, depth, notes = load_with_depth(pp.jpeg(_texture()))
    assert depth is None and notes == loaded.notes


# --------------------------------------------------------------------------------- HEIC

needs_libheif = pytest.mark.skipif(pp.LIBHEIF is None, reason="pillow-heif's libheif not found")


@needs_libheif
def test_heic_depth_image(tmp_path):
    path = tmp_path / "portrait.heic"
    codes = _ramp()
    pp.heic_with_depth(path, _texture(), codes)
    loaded, depth, notes = load_with_depth(path)
    assert loaded.image.shape == (H, W, 3)
    assert depth.container == "HEIF depth image" and depth.encoding == "uniform disparity"
    assert np.abs(depth.disparity - codes / 255).max() <= 1 / 255  # lossless HEVC
    assert any("no depth representation info" in n for n in notes)


@needs_libheif
def test_heic_without_depth_and_without_pillow_heif(tmp_path, monkeypatch):
    path = tmp_path / "plain.heic"
    pp.heic_with_depth(path, _texture(), None)
    assert read_embedded_depth(path.read_bytes()) is None
    with_depth = tmp_path / "portrait.heic"
    pp.heic_with_depth(with_depth, _texture(), _ramp())
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # as if it were not installed
    with pytest.raises(BokehError, match="pillow-heif"):
        read_embedded_depth(with_depth.read_bytes())


class TestHeifRepresentation:
    """pillow-heif's depth metadata, as it reports an iPhone portrait (pug.heic in its tests:
    {'d_min': 1.498, 'd_max': 4.383, 'representation_type': 1, ...})."""

    def test_uniform_disparity_and_inverse_z_are_linear(self):
        codes = _ramp()
        for kind in (0, 1):
            depth = heif_depth(codes, {"representation_type": kind, "d_min": 1.5, "d_max": 4.4})
            np.testing.assert_allclose(depth.disparity, codes / 255, atol=1e-6)
            assert depth.notes == ()

    def test_uniform_z_uses_z_near_and_z_far(self):
        codes = _ramp()
        depth = heif_depth(codes, {"representation_type": 2, "z_near": NEAR, "z_far": FAR})
        distance = NEAR + codes / 255 * (FAR - NEAR)
        np.testing.assert_allclose(depth.disparity, _disparity_of_distance(distance), atol=1e-5)
        assert "near 0.3, far 4.1" in depth.describe()

    @pytest.mark.parametrize(("metadata", "needle"), [
        ({"representation_type": 2}, "z_near"),
        ({"representation_type": 3}, "non-uniform"),
    ])  # fmt: skip
    def test_unsupported(self, metadata, needle):
        with pytest.raises(EmbeddedDepthError, match=needle):
            heif_depth(_ramp(), metadata)


# --------------------------------------------------------------------------------- the service


def _halves_photo(tmp_path, **kwargs):
    """A textured photo whose stored map is near (1) on the left half and far (0) on the
    right half; returns its path."""
    codes = np.zeros((H, W), np.uint8)
    codes[:, W // 2 :] = 255  # RangeInverse: code 0 = near, 255 = far
    path = tmp_path / "portrait.jpg"
    path.write_bytes(pp.gdepth_jpeg(_texture(), codes, **kwargs))
    return path


LEFT, RIGHT = np.s_[:, 4 : W // 2 - 10], np.s_[:, W // 2 + 10 : -4]


def test_auto_prefers_an_uploaded_map_then_the_stored_one():
    assert resolve_source("auto", has_file=True, has_embedded=True) == "file"
    assert resolve_source("auto", has_embedded=True) == "embedded"
    assert resolve_source("auto") == "classical"  # tests run without Depth Anything


def test_the_embedded_source_drives_the_blur(tmp_path):
    photo = service.load_photo(_halves_photo(tmp_path))
    assert any("carries its own depth map" in n for n in photo.notes)
    settings = {"depth_source": "auto", "fnumber": 1.4}
    out = service.render(photo, method="depth-lens", focus=(10, 24), settings=settings)
    assert out.info["depth_source"] == "embedded"
    assert "GDepth, RangeInverse" in out.summary
    assert _detail(out.image[RIGHT]) < 0.5 * _detail(photo.pixels[RIGHT])  # far: blurred
    assert np.abs(out.image[LEFT].astype(float) - photo.pixels[LEFT]).mean() < 3  # sharp
    # the same photo and focus with the classical estimate blurs differently
    other = service.render(photo, method="depth-lens", focus=(10, 24),
                           settings={**settings, "depth_source": "classical"})  # fmt: skip
    assert other.info["depth_source"] == "classical"
    assert np.abs(other.image.astype(int) - out.image.astype(int)).mean() > 1


def test_stored_focus_is_the_focal_plane_until_a_click(tmp_path):
    photo = service.load_photo(_halves_photo(tmp_path, focus=FAR))  # focused on the far half
    view = service.open_photo(_halves_photo(tmp_path, focus=FAR))
    assert (view.x, view.y) == (None, None)  # no focus point: the stored distance rules
    assert service.clamp_focus(photo, None, None) is None
    settings = {"depth_source": "embedded", "fnumber": 1.4}
    stored = service.render(photo, method="depth-lens", focus=None, settings=settings)
    assert stored.info["focus_stored"] and "stored in the photo" in stored.summary
    assert _detail(stored.image[LEFT]) < 0.5 * _detail(photo.pixels[LEFT])  # near: blurred
    assert np.abs(stored.image[RIGHT].astype(float) - photo.pixels[RIGHT]).mean() < 3
    clicked = service.render(photo, method="depth-lens", focus=(10, 24), settings=settings)
    assert not clicked.info["focus_stored"]
    assert _detail(clicked.image[RIGHT]) < 0.5 * _detail(photo.pixels[RIGHT])  # now far blurs


def test_embedded_source_without_a_stored_map_says_so():
    photo = service.load_photo(pp.jpeg(_texture()))
    with pytest.raises(BokehError, match="carries a depth map"):
        service.render(photo, method="depth-lens", settings={"depth_source": "embedded"})
    with pytest.raises(BokehError, match="required"):
        service.api_focus(photo, None, None)  # no stored focus: the API needs a point


def test_status_badge_names_the_stored_map():
    status = service.method_status("depth-lens", depth_source="embedded")
    assert status.badge == "depth map stored in the photo"


def test_library_call_with_the_stored_map(tmp_path):
    from bokeh.registry import load_method

    loaded, embedded, _ = load_with_depth(_halves_photo(tmp_path))
    result = load_method("depth-gauss")(loaded.image, focus=(10, 24), embedded=embedded)
    assert result.info["depth_source"] == "embedded"
    assert result.disparity[:, :8].mean() > 0.9 and result.disparity[:, -8:].mean() < 0.1


def test_a_stored_map_read_from_a_png_is_never_tried(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(_texture()).save(path)
    photo = service.load_photo(path)
    assert photo.depth is None and not photo.stored_focus


def test_heic_upload_message_names_the_missing_package(monkeypatch):
    import bokeh.heif
    from bokeh.imaging import load_image

    broken = b"\x00\x00\x00\x18ftypheic" + b"\x00" * 12 + b"mif1heic" + b"\x00" * 64
    monkeypatch.setattr(bokeh.heif, "available", lambda: False)
    with pytest.raises(BokehError, match="pillow-heif is not installed"):
        load_image(broken)


def test_a_broken_pillow_heif_does_not_stop_other_uploads(monkeypatch):
    import bokeh.heif
    from bokeh.imaging import load_image

    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # installed but not importable
    bokeh.heif.register.cache_clear()
    try:
        assert bokeh.heif.register() is False
        assert load_image(pp.encode(_texture(), "PNG")).image.shape == (H, W, 3)
    finally:
        bokeh.heif.register.cache_clear()


def test_an_unexpected_failure_costs_the_map_not_the_upload(monkeypatch):
    import bokeh.depth.phone as phone

    def boom(data):
        raise RuntimeError("a bug")

    monkeypatch.setattr(phone, "read_embedded_depth", boom)
    loaded, depth, notes = load_with_depth(_gdepth())
    assert depth is None and loaded.image.shape == (H, W, 3)
    assert notes[-1].startswith("The depth map stored in the photo could not be read")

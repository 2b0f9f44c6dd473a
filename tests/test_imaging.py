"""Tests for bokeh.imaging: every input builds in code (PIL, numpy, raw bytes) under tmp_path."""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, features

from bokeh.errors import BokehError, ImageReadError
from bokeh.imaging import (
    DEFAULT_MAX_PIXELS,
    LoadedImage,
    encode_png,
    from_uint8,
    load_image,
    resize,
    save_png,
    to_pil,
    to_uint8,
)

# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def assert_library_image(img: np.ndarray, shape: tuple[int, int] | None = None) -> None:
    """The library's contract: float32, C-contiguous, HxWx3, values in [0, 1]."""
    assert isinstance(img, np.ndarray)
    assert img.dtype == np.float32
    assert img.flags.c_contiguous
    assert img.ndim == 3 and img.shape[2] == 3
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
    if shape is not None:
        assert img.shape[:2] == shape


def encode(im: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width: int, height: int, color_type: int, bit_depth: int, rows: bytes) -> bytes:
    """A PNG written by hand (PIL cannot write 16-bit RGB)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def patch_png_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the IHDR width/height of a valid PNG and fix the chunk CRC."""
    assert data[12:16] == b"IHDR"
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return data[:16] + bytes(ihdr) + crc + data[33:]


@pytest.fixture
def no_pixel_decoding(monkeypatch):
    """Fail the test if any PIL image decodes its pixel data."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


RED = (255, 0, 0)


# ------------------------------------------------------------------------------------------
# sources
# ------------------------------------------------------------------------------------------


class TestSources:
    def setup_method(self):
        rng = np.random.default_rng(0)
        self.pixels = rng.integers(0, 256, size=(12, 17, 3), dtype=np.uint8)
        self.data = encode(Image.fromarray(self.pixels))
        self.expected = self.pixels.astype(np.float32) / 255

    def check(self, loaded: LoadedImage) -> None:
        assert_library_image(loaded.image, (12, 17))
        np.testing.assert_array_equal(loaded.image, self.expected)
        assert loaded.original_size == (17, 12)
        assert loaded.scale == 1.0
        assert loaded.mode == "RGB"

    def test_str_path(self, tmp_path):
        path = tmp_path / "a.png"
        path.write_bytes(self.data)
        self.check(load_image(str(path)))

    def test_pathlib_path(self, tmp_path):
        path = tmp_path / "a.png"
        path.write_bytes(self.data)
        self.check(load_image(path))

    def test_wrong_extension_is_fine(self, tmp_path):
        path = tmp_path / "photo.jpg"  # content decides, not the name
        path.write_bytes(self.data)
        self.check(load_image(path))

    @pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
    def test_bytes_like(self, kind):
        self.check(load_image(kind(self.data)))

    def test_file_object(self, tmp_path):
        path = tmp_path / "a.png"
        path.write_bytes(self.data)
        with open(path, "rb") as fh:
            self.check(load_image(fh))

    def test_bytesio_not_at_start(self):
        buffer = io.BytesIO(self.data)
        self.check(load_image(buffer))  # reads everything from the current position (0)

    def test_non_seekable_stream(self):
        class Stream:
            def __init__(self, data):
                self._data = data

            def read(self, n=-1):
                data, self._data = self._data, b""
                return data

        self.check(load_image(Stream(self.data)))

    def test_pil_image(self):
        self.check(load_image(Image.fromarray(self.pixels)))

    def test_numpy_array(self):
        loaded = load_image(self.pixels)
        assert_library_image(loaded.image, (12, 17))
        np.testing.assert_array_equal(loaded.image, self.expected)
        assert "uint8" in loaded.mode

    def test_loaded_image_is_frozen(self):
        loaded = load_image(self.data)
        with pytest.raises(dataclasses.FrozenInstanceError):
            loaded.scale = 2.0  # type: ignore[misc]


# ------------------------------------------------------------------------------------------
# modes
# ------------------------------------------------------------------------------------------


class TestModes:
    def test_grayscale_l(self):
        loaded = load_image(encode(Image.new("L", (5, 4), 128)))
        assert_library_image(loaded.image, (4, 5))
        np.testing.assert_allclose(loaded.image, 128 / 255, atol=1e-7)
        assert loaded.mode == "L"

    def test_one_bit(self):
        im = Image.new("1", (6, 3), 0)
        im.putpixel((2, 1), 1)
        loaded = load_image(encode(im))
        assert_library_image(loaded.image, (3, 6))
        np.testing.assert_array_equal(loaded.image[1, 2], [1, 1, 1])
        np.testing.assert_array_equal(loaded.image[0, 0], [0, 0, 0])
        assert loaded.mode == "1"

    def test_palette_without_transparency(self):
        im = Image.new("P", (4, 4), 1)
        im.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
        loaded = load_image(encode(im))
        np.testing.assert_allclose(loaded.image[0, 0], np.array([10, 200, 30]) / 255, atol=1e-7)
        assert not any("Transparency" in n for n in loaded.notes)

    def test_palette_png_with_transparency_on_white(self):
        im = Image.new("P", (4, 4), 1)
        im.putpalette([0, 0, 0, *RED] + [0] * 762)
        im.putpixel((0, 0), 0)
        loaded = load_image(encode(im, transparency=0))
        np.testing.assert_array_equal(loaded.image[0, 0], [1, 1, 1])  # transparent -> white
        np.testing.assert_array_equal(loaded.image[3, 3], [1, 0, 0])
        assert "Transparency composited on white." in loaded.notes
        assert loaded.mode == "P"

    def test_rgba_transparent_pixel_is_white(self):
        arr = np.zeros((3, 3, 4), dtype=np.uint8)
        arr[..., 0] = 255
        arr[..., 3] = 255
        arr[1, 1] = (0, 0, 0, 0)  # fully transparent black
        arr[0, 0] = (0, 0, 0, 128)  # half transparent black
        loaded = load_image(encode(Image.fromarray(arr)))
        np.testing.assert_array_equal(loaded.image[1, 1], [1, 1, 1])
        np.testing.assert_allclose(loaded.image[0, 0], 1 - 128 / 255, atol=1e-6)
        np.testing.assert_array_equal(loaded.image[2, 2], [1, 0, 0])
        assert "Transparency composited on white." in loaded.notes
        assert loaded.mode == "RGBA"

    def test_opaque_rgba_has_no_transparency_note(self):
        loaded = load_image(encode(Image.new("RGBA", (3, 3), (1, 2, 3, 255))))
        assert not any("Transparency" in n for n in loaded.notes)

    def test_la_on_white(self):
        im = Image.new("LA", (2, 1), (0, 255))
        im.putpixel((1, 0), (0, 0))
        loaded = load_image(encode(im))
        np.testing.assert_array_equal(loaded.image[0, 0], [0, 0, 0])
        np.testing.assert_array_equal(loaded.image[0, 1], [1, 1, 1])

    def test_rgb_colour_key_transparency(self):
        im = Image.new("RGB", (2, 1), RED)
        im.putpixel((1, 0), (0, 0, 255))
        loaded = load_image(encode(im, transparency=(0, 0, 255)))
        np.testing.assert_array_equal(loaded.image[0, 1], [1, 1, 1])
        np.testing.assert_array_equal(loaded.image[0, 0], [1, 0, 0])

    def test_16bit_grayscale_png_keeps_range(self):
        arr = np.array([[0, 32768, 65535]], dtype=np.uint16)
        loaded = load_image(encode(Image.fromarray(arr)))
        assert loaded.mode.startswith("I")
        assert loaded.image[0, 2, 0] == 1.0
        assert loaded.image[0, 1, 0] == pytest.approx(0.5, abs=1e-4)
        assert loaded.image[0, 0, 0] == 0.0
        assert not any("8-bit" in n for n in loaded.notes)

    def test_16bit_rgb_png_is_reduced_with_note(self):
        samples = np.array([[[65535, 0, 32768]]], dtype=">u2")
        loaded = load_image(raw_png(1, 1, 2, 16, b"\x00" + samples.tobytes()))
        np.testing.assert_allclose(loaded.image[0, 0], [1.0, 0.0, 0.5], atol=1 / 255)
        assert "16-bit image converted to 8-bit precision." in loaded.notes

    def test_mode_i_in_16bit_range(self):
        im = Image.fromarray(np.array([[0, 65535]], dtype=np.int32))
        assert im.mode == "I"
        loaded = load_image(im)
        np.testing.assert_array_equal(loaded.image[0, :, 0], [0.0, 1.0])

    def test_mode_i_out_of_range_refused(self):
        im = Image.fromarray(np.array([[-5, 70000]], dtype=np.int32))
        with pytest.raises(ImageReadError, match="16-bit range"):
            load_image(im)

    def test_mode_f(self):
        im = Image.fromarray(np.array([[0.0, 0.25, 1.0]], dtype=np.float32))
        assert im.mode == "F"
        loaded = load_image(im)
        np.testing.assert_allclose(loaded.image[0, :, 1], [0.0, 0.25, 1.0])

    def test_mode_f_out_of_range_refused(self):
        im = Image.fromarray(np.array([[0.0, 255.0]], dtype=np.float32))
        with pytest.raises(ImageReadError, match=r"\[0, 1\]"):
            load_image(im)

    def test_cmyk_jpeg(self):
        im = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta + yellow
        loaded = load_image(encode(im, "JPEG", quality=95))
        assert loaded.mode == "CMYK"
        np.testing.assert_allclose(loaded.image[8, 8], [1, 0, 0], atol=0.05)
        assert any("CMYK" in n for n in loaded.notes)

    def test_ycbcr(self):
        im = Image.new("RGB", (4, 4), (30, 160, 220)).convert("YCbCr")
        loaded = load_image(im)
        assert loaded.mode == "YCbCr"
        np.testing.assert_allclose(loaded.image[0, 0], np.array([30, 160, 220]) / 255, atol=0.02)

    def test_hsv(self):
        loaded = load_image(Image.new("RGB", (2, 2), (200, 30, 40)).convert("HSV"))
        np.testing.assert_allclose(loaded.image[0, 0], np.array([200, 30, 40]) / 255, atol=0.03)

    @pytest.mark.skipif(not features.check("littlecms2"), reason="Pillow built without LittleCMS")
    def test_lab_is_colour_managed(self):
        from PIL import ImageCms

        to_lab = ImageCms.buildTransform(
            ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
        )
        lab = ImageCms.applyTransform(Image.new("RGB", (2, 2), (200, 30, 40)), to_lab)
        loaded = load_image(lab)
        assert loaded.mode == "LAB"
        np.testing.assert_allclose(loaded.image[0, 0], np.array([200, 30, 40]) / 255, atol=0.03)


# ------------------------------------------------------------------------------------------
# EXIF orientation
# ------------------------------------------------------------------------------------------


class TestExifOrientation:
    def make_jpeg(self, orientation: int) -> bytes:
        # Stored 64 wide x 32 high, red block in the stored top-left corner.
        im = Image.new("RGB", (64, 32), (0, 0, 255))
        im.paste(RED, (0, 0, 8, 8))
        exif = Image.Exif()
        exif[0x0112] = orientation
        return encode(im, "JPEG", quality=95, exif=exif.tobytes())

    def test_orientation_6_rotates_clockwise(self):
        loaded = load_image(self.make_jpeg(6))
        # Orientation 6: rotate 90 degrees clockwise for display -> 32 wide x 64 high and the
        # stored top-left corner lands at the top-right.
        assert_library_image(loaded.image, (64, 32))
        assert loaded.original_size == (32, 64)
        np.testing.assert_allclose(loaded.image[2:6, 26:30].mean(axis=(0, 1)), [1, 0, 0], atol=0.1)
        np.testing.assert_allclose(loaded.image[2:6, 2:6].mean(axis=(0, 1)), [0, 0, 1], atol=0.1)
        assert any("orientation" in n for n in loaded.notes)

    def test_orientation_3_rotates_180(self):
        loaded = load_image(self.make_jpeg(3))
        assert_library_image(loaded.image, (32, 64))
        np.testing.assert_allclose(
            loaded.image[-6:-2, -6:-2].mean(axis=(0, 1)), [1, 0, 0], atol=0.1
        )

    def test_no_orientation_no_note(self):
        loaded = load_image(self.make_jpeg(1))
        assert_library_image(loaded.image, (32, 64))
        np.testing.assert_allclose(loaded.image[2:6, 2:6].mean(axis=(0, 1)), [1, 0, 0], atol=0.1)
        assert not any("orientation" in n for n in loaded.notes)

    def test_pil_input_is_rotated_but_not_modified(self):
        im = Image.open(io.BytesIO(self.make_jpeg(6)))
        loaded = load_image(im)
        assert loaded.image.shape[:2] == (64, 32)
        assert im.size == (64, 32)  # the caller's image is left as it was
        assert im.getexif().get(0x0112) == 6

    def test_rotation_and_downscale_use_displayed_size(self):
        loaded = load_image(self.make_jpeg(6), max_side=16)
        assert_library_image(loaded.image, (16, 8))
        assert loaded.original_size == (32, 64)
        assert loaded.scale == pytest.approx(0.25)


# ------------------------------------------------------------------------------------------
# frames
# ------------------------------------------------------------------------------------------


class TestFrames:
    def frames(self) -> list[Image.Image]:
        return [Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), (0, 0, 255))]

    def test_animated_gif_first_frame(self):
        first, *rest = self.frames()
        data = encode(first, "GIF", save_all=True, append_images=rest, duration=100, loop=0)
        loaded = load_image(data)
        np.testing.assert_allclose(loaded.image[4, 4], [1, 0, 0], atol=0.02)
        assert "Animated image: using the first frame." in loaded.notes

    @pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
    def test_animated_webp_first_frame(self):
        first, *rest = self.frames()
        data = encode(first, "WEBP", save_all=True, append_images=rest, lossless=True)
        loaded = load_image(data)
        np.testing.assert_allclose(loaded.image[4, 4], [1, 0, 0], atol=0.02)
        assert "Animated image: using the first frame." in loaded.notes

    def test_multipage_tiff_first_page(self):
        first, *rest = self.frames()
        loaded = load_image(encode(first, "TIFF", save_all=True, append_images=rest))
        np.testing.assert_array_equal(loaded.image[4, 4], [1, 0, 0])
        assert "Multi-page image: using the first page." in loaded.notes

    def test_pil_input_at_a_later_frame(self):
        first, *rest = self.frames()
        im = Image.open(io.BytesIO(encode(first, "GIF", save_all=True, append_images=rest)))
        im.seek(1)
        loaded = load_image(im)
        np.testing.assert_allclose(loaded.image[4, 4], [0, 0, 1], atol=0.02)
        assert "Animated image: using frame 2." in loaded.notes
        assert im.tell() == 1  # the caller's image stays on its frame

    def test_still_gif_has_no_animation_note(self):
        loaded = load_image(encode(self.frames()[0], "GIF"))
        assert not any("Animated" in n for n in loaded.notes)


# ------------------------------------------------------------------------------------------
# numpy arrays
# ------------------------------------------------------------------------------------------


class TestArrays:
    def test_uint8_shapes(self):
        gray = np.full((4, 5), 51, dtype=np.uint8)
        for arr in (gray, gray[:, :, None], np.repeat(gray[:, :, None], 3, axis=2)):
            loaded = load_image(arr)
            assert_library_image(loaded.image, (4, 5))
            np.testing.assert_allclose(loaded.image, 0.2, atol=1e-7)

    def test_uint8_rgba_on_white(self):
        arr = np.zeros((2, 2, 4), dtype=np.uint8)
        arr[0, 0] = (0, 255, 0, 255)
        loaded = load_image(arr)
        np.testing.assert_array_equal(loaded.image[0, 0], [0, 1, 0])
        np.testing.assert_array_equal(loaded.image[1, 1], [1, 1, 1])
        assert "Transparency composited on white." in loaded.notes

    def test_float_rgba_on_white(self):
        arr = np.zeros((1, 2, 4), dtype=np.float64)
        arr[0, 0] = (0.2, 0.4, 0.6, 0.5)
        loaded = load_image(arr)
        np.testing.assert_allclose(loaded.image[0, 0], [0.6, 0.7, 0.8], atol=1e-6)
        np.testing.assert_array_equal(loaded.image[0, 1], [1, 1, 1])

    def test_uint16(self):
        arr = np.array([[0, 32768, 65535]], dtype=np.uint16)
        loaded = load_image(arr)
        np.testing.assert_allclose(loaded.image[0, :, 0], [0, 32768 / 65535, 1.0])

    def test_bool(self):
        loaded = load_image(np.array([[True, False]]))
        np.testing.assert_array_equal(loaded.image[0, :, 2], [1.0, 0.0])

    @pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
    def test_float_unit_range(self, dtype):
        arr = np.linspace(0, 1, 12, dtype=dtype).reshape(3, 4)
        loaded = load_image(arr)
        assert_library_image(loaded.image, (3, 4))
        np.testing.assert_allclose(loaded.image[..., 0], arr.astype(np.float32), atol=1e-3)

    @pytest.mark.parametrize("bad", [1.5, -0.1, 255.0, np.nan, np.inf])
    def test_float_out_of_range_refused(self, bad):
        arr = np.zeros((2, 2, 3), dtype=np.float32)
        arr[0, 0, 0] = bad
        with pytest.raises(ImageReadError):
            load_image(arr)

    @pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.complex64])
    def test_unsupported_dtypes(self, dtype):
        with pytest.raises(ImageReadError, match="dtype"):
            load_image(np.zeros((3, 3, 3), dtype=dtype))

    @pytest.mark.parametrize(
        "shape", [(5,), (3, 3, 2), (3, 3, 5), (2, 3, 3, 3), (0, 4), (4, 0, 3), ()]
    )
    def test_bad_shapes(self, shape):
        with pytest.raises(ImageReadError):
            load_image(np.zeros(shape, dtype=np.uint8))

    def test_channels_first_hint(self):
        with pytest.raises(ImageReadError, match="channels-first"):
            load_image(np.zeros((3, 20, 30), dtype=np.uint8))

    def test_non_contiguous_input_and_not_mutated(self):
        arr = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
        view = arr[:, ::-1]
        before = arr.copy()
        loaded = load_image(view)
        assert_library_image(loaded.image, (4, 6))
        np.testing.assert_array_equal(loaded.image, view / np.float32(255))
        np.testing.assert_array_equal(arr, before)

    def test_float_input_not_aliased(self):
        arr = np.full((2, 2, 3), 0.5, dtype=np.float32)
        loaded = load_image(arr)
        loaded.image[0, 0, 0] = 0.0
        assert arr[0, 0, 0] == 0.5

    def test_array_and_png_give_identical_results(self):
        rng = np.random.default_rng(1)
        pixels = rng.integers(0, 256, size=(90, 120, 3), dtype=np.uint8)
        from_array = load_image(pixels, max_side=50)
        from_png = load_image(encode(Image.fromarray(pixels)), max_side=50)
        np.testing.assert_array_equal(from_array.image, from_png.image)
        assert from_array.notes == from_png.notes

    def test_tiny_image_allowed(self):
        loaded = load_image(np.array([[[255, 0, 0]]], dtype=np.uint8))
        assert_library_image(loaded.image, (1, 1))


# ------------------------------------------------------------------------------------------
# unreadable input
# ------------------------------------------------------------------------------------------


class TestUnreadable:
    def test_error_types(self):
        assert issubclass(ImageReadError, BokehError)
        assert issubclass(ImageReadError, ValueError)

    def test_none(self):
        with pytest.raises(ImageReadError, match="no image"):
            load_image(None)

    def test_unsupported_type(self):
        with pytest.raises(ImageReadError, match="int"):
            load_image(42)

    def test_empty_bytes(self):
        with pytest.raises(ImageReadError, match="the file is empty"):
            load_image(b"")

    def test_empty_file(self, tmp_path):
        path = tmp_path / "empty.png"
        path.write_bytes(b"")
        with pytest.raises(ImageReadError, match="the file is empty"):
            load_image(path)

    def test_missing_path(self, tmp_path):
        with pytest.raises(ImageReadError, match="does not exist"):
            load_image(tmp_path / "nope.png")

    def test_empty_path_string(self):
        with pytest.raises(ImageReadError, match="no file path"):
            load_image("")

    def test_directory(self, tmp_path):
        with pytest.raises(ImageReadError, match="folder"):
            load_image(tmp_path)

    def test_text_file_renamed_png(self, tmp_path):
        path = tmp_path / "notes.png"
        path.write_text("hello, this is not a picture\n" * 10)
        with pytest.raises(ImageReadError, match="text file"):
            load_image(path)

    def test_svg(self, tmp_path):
        path = tmp_path / "logo.png"
        path.write_text(
            '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
            'height="10"><rect width="10" height="10"/></svg>\n'
        )
        with pytest.raises(ImageReadError, match="SVG") as info:
            load_image(path)
        assert str(info.value).startswith("Could not read the upload as an image:")

    def test_pdf(self):
        with pytest.raises(ImageReadError, match="PDF"):
            load_image(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")

    def test_html(self):
        with pytest.raises(ImageReadError, match="HTML"):
            load_image(b"<!DOCTYPE html><html><body>404</body></html>")

    @pytest.mark.skipif("HEIF" in Image.OPEN, reason="a HEIF plugin is installed")
    def test_heic(self):
        data = struct.pack(">I", 24) + b"ftypheic" + b"\x00" * 12 + b"mif1heic" + b"\x00" * 64
        with pytest.raises(ImageReadError, match="HEIC"):
            load_image(data)

    def test_random_binary(self):
        data = bytes(np.random.default_rng(2).integers(0, 256, 300, dtype=np.uint8)) + b"\x00"
        with pytest.raises(ImageReadError, match="not recognised"):
            load_image(data)

    def test_eps_is_not_handed_to_ghostscript(self, monkeypatch):
        from PIL import EpsImagePlugin

        calls = []
        monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: calls.append(a))
        eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"
        with pytest.raises(ImageReadError):
            load_image(eps)
        assert calls == []

    def test_truncated_jpeg_refused(self):
        rng = np.random.default_rng(3)
        noisy = rng.integers(0, 256, size=(128, 128, 3), dtype=np.uint8)
        data = encode(Image.fromarray(noisy), "JPEG", quality=90)
        with pytest.raises(ImageReadError, match="truncated"):
            load_image(data[: len(data) * 2 // 3])
        assert not ImageFile.LOAD_TRUNCATED_IMAGES

    def test_truncated_header(self):
        data = encode(Image.new("RGB", (64, 48), RED), "JPEG")
        with pytest.raises(ImageReadError, match="truncated"):
            load_image(data[:40])

    def test_truncated_png_refused(self):
        rng = np.random.default_rng(4)
        data = encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
        with pytest.raises(ImageReadError):
            load_image(data[: len(data) // 2])

    def test_text_mode_file(self, tmp_path):
        path = tmp_path / "a.png"
        path.write_bytes(encode(Image.new("RGB", (2, 2))))
        with open(path, encoding="latin-1") as fh, pytest.raises(ImageReadError, match="binary"):
            load_image(fh)

    def test_cause_is_kept_for_debugging(self):
        rng = np.random.default_rng(5)
        data = encode(Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)), "JPEG")
        with pytest.raises(ImageReadError) as info:
            load_image(data[: len(data) // 2])
        assert info.value.__cause__ is not None


class TestPixelDataEndsEarly:
    """Issue #12, item 7: Pillow decodes a PNG whose zlib stream is complete but holds fewer
    rows than the header declares, filling the rest with zeros; such files are refused."""

    def test_tiny_png_claiming_100_megapixels_is_refused_without_decoding(self, monkeypatch):
        decoded = []
        real_load = ImageFile.ImageFile.load

        def load(im, *args, **kwargs):
            decoded.append(im.size)
            return real_load(im, *args, **kwargs)

        monkeypatch.setattr(ImageFile.ImageFile, "load", load)
        data = raw_png(1, 100_000_000, 0, 8, b"\x00\x80" * 10)  # 10 rows of 100 million
        assert len(data) < 80
        with pytest.raises(ImageReadError, match="truncated") as info:
            load_image(data)
        assert "\n" not in str(info.value)
        assert decoded == []  # refused before Pillow allocated its 100 MB

    def test_photo_with_missing_rows_is_refused(self):
        rng = np.random.default_rng(3)
        width, height = 48, 32
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
        assert load_image(raw_png(width, height, 2, 8, rows)).image.shape == (height, width, 3)
        cut = rows[: (1 + 3 * width) * (height // 2)]  # a complete zlib stream, half the rows
        with pytest.raises(ImageReadError, match="truncated"):
            load_image(raw_png(width, height, 2, 8, cut))

    def test_complete_pngs_of_every_kind_still_load(self):
        rng = np.random.default_rng(4)
        rgb = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8))
        for im in (
            rgb,
            rgb.convert("L"),
            rgb.convert("RGBA"),
            rgb.convert("P"),
            rgb.convert("1"),
            Image.fromarray(rng.integers(0, 65535, (37, 53)).astype(np.uint16)),
        ):
            assert load_image(encode(im)).image.shape == (37, 53, 3), im.mode

    def test_interlaced_png_sizes(self):
        """Adam7: an 8x8 8-bit grey image has passes of 1x1, 1x1, 2x1, 2x2, 4x2, 4x4, 8x4
        pixels, each row with a filter byte: 79 bytes; a 1x1 one has only the first pass."""
        from bokeh.pngcheck import expected_data_bytes

        assert expected_data_bytes(8, 8, 8, 0, 1) == 2 + 2 + 3 + 6 + 10 + 20 + 36
        assert expected_data_bytes(1, 1, 8, 0, 1) == 2
        assert expected_data_bytes(8, 8, 8, 0, 0) == 8 * 9
        assert expected_data_bytes(3, 2, 1, 0, 0) == 2 * 2  # 3 bits round up to a byte
        assert expected_data_bytes(5, 1, 16, 6, 0) == 1 + 5 * 8

    def test_interlaced_png_loads_and_its_truncation_is_refused(self):
        """An Adam7 PNG written by hand (Pillow does not write them): complete, it loads with
        the right pixels; without its last pass, it is refused."""
        rng = np.random.default_rng(5)
        grey = rng.integers(0, 256, (8, 8), dtype=np.uint8)
        passes = (
            (0, 0, 8, 8),
            (4, 0, 8, 8),
            (0, 4, 4, 8),
            (2, 0, 4, 4),
            (0, 2, 2, 4),
            (1, 0, 2, 2),
            (0, 1, 1, 2),
        )
        raw = b"".join(
            b"\x00" + grey[y, x0::dx].tobytes()
            for x0, y0, dx, dy in passes
            for y in range(y0, 8, dy)
        )
        ihdr = struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 1)

        def png(data):
            return (
                b"\x89PNG\r\n\x1a\n"
                + png_chunk(b"IHDR", ihdr)
                + png_chunk(b"IDAT", zlib.compress(data))
                + png_chunk(b"IEND", b"")
            )

        loaded = load_image(png(raw)).image
        np.testing.assert_array_equal(np.rint(loaded[:, :, 0] * 255).astype(np.uint8), grey)
        with pytest.raises(ImageReadError, match="truncated"):
            load_image(png(raw[:-36]))


# ------------------------------------------------------------------------------------------
# decompression bombs
# ------------------------------------------------------------------------------------------


class TestDecompressionBomb:
    def small_png(self) -> bytes:
        return encode(Image.new("L", (8, 8), 0))

    def test_header_claiming_40000_squared_is_refused(self, tmp_path, no_pixel_decoding):
        path = tmp_path / "bomb.png"
        path.write_bytes(patch_png_size(self.small_png(), 40000, 40000))
        with pytest.raises(ImageReadError, match="too large") as info:
            load_image(path)
        message = str(info.value)
        assert "40000x40000" in message and "1600 MP" in message and "100 MP" in message

    def test_our_limit_applies_below_pils(self, no_pixel_decoding):
        data = patch_png_size(self.small_png(), 3000, 2000)  # 6 MP, far below PIL's guard
        with pytest.raises(ImageReadError, match=r"3000x2000 = 6 MP; the limit is 5 MP"):
            load_image(data, max_pixels=5_000_000)

    def test_limit_for_pil_and_array_input(self):
        with pytest.raises(ImageReadError, match="too large"):
            load_image(Image.new("L", (100, 100)), max_pixels=9_999)
        with pytest.raises(ImageReadError, match="too large"):
            load_image(np.zeros((100, 100), dtype=np.uint8), max_pixels=9_999)
        assert load_image(np.zeros((100, 100), np.uint8), max_pixels=10_000).image.shape[:2] == (
            100,
            100,
        )

    def test_pil_warning_as_error_is_handled(self, no_pixel_decoding):
        data = patch_png_size(self.small_png(), 10_001, 10_000)  # above PIL's warning threshold
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with pytest.raises(ImageReadError, match="too large"):
                load_image(data)

    def test_global_pil_state_untouched(self):
        before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
        with pytest.raises(ImageReadError):
            load_image(patch_png_size(self.small_png(), 40000, 40000))
        load_image(self.small_png())
        assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)

    def test_default(self):
        assert DEFAULT_MAX_PIXELS == 100_000_000

    @pytest.mark.parametrize("bad", [0, -1, 1.5, True, None])
    def test_bad_max_pixels(self, bad):
        with pytest.raises(ValueError, match="max_pixels"):
            load_image(np.zeros((2, 2), np.uint8), max_pixels=bad)


# ------------------------------------------------------------------------------------------
# size policy
# ------------------------------------------------------------------------------------------


class TestSizePolicy:
    def test_downscale_landscape(self):
        loaded = load_image(np.zeros((200, 300, 3), np.uint8), max_side=100)
        assert_library_image(loaded.image, (67, 100))
        assert loaded.original_size == (300, 200)
        assert loaded.scale == pytest.approx(1 / 3)
        assert "Downscaled from 300x200 to 100x67 (limit 100 px)." in loaded.notes

    def test_downscale_portrait(self):
        loaded = load_image(encode(Image.new("RGB", (150, 400))), max_side=200)
        assert_library_image(loaded.image, (200, 75))
        assert loaded.original_size == (150, 400)

    def test_no_downscale_when_small_enough(self):
        loaded = load_image(np.zeros((100, 80), np.uint8), max_side=100)
        assert loaded.image.shape[:2] == (100, 80)
        assert loaded.scale == 1.0
        assert not any("Downscaled" in n for n in loaded.notes)

    def test_none_disables_downscaling(self):
        loaded = load_image(np.zeros((10, 3000), np.uint8), max_side=None)
        assert loaded.image.shape[:2] == (10, 3000)

    def test_never_upscales(self):
        loaded = load_image(np.zeros((5, 7), np.uint8), max_side=1000)
        assert loaded.image.shape[:2] == (5, 7)

    def test_config_default_uses_env(self, monkeypatch):
        monkeypatch.setenv("BOKEH_MAX_SIDE", "64")
        loaded = load_image(np.zeros((100, 200, 3), np.uint8))
        assert loaded.image.shape[:2] == (32, 64)
        assert "(limit 64 px)" in loaded.notes[-1]

    def test_config_default_is_2048(self, monkeypatch):
        monkeypatch.delenv("BOKEH_MAX_SIDE", raising=False)
        loaded = load_image(Image.new("L", (2100, 10)))
        assert loaded.image.shape[:2] == (10, 2048)

    @pytest.mark.parametrize("bad", [0, -5, "big", True, 2.5])
    def test_bad_max_side(self, bad):
        with pytest.raises(ValueError, match="max_side"):
            load_image(np.zeros((2, 2), np.uint8), max_side=bad)

    def test_downscale_is_antialiased(self):
        checker = (np.indices((240, 240)).sum(axis=0) % 2).astype(np.uint8) * 255
        loaded = load_image(checker, max_side=60)
        # Nearest-neighbour would keep pure black/white; a low-pass filter gives flat grey.
        np.testing.assert_allclose(loaded.image, 0.5, atol=0.03)

    def test_downscale_of_transparent_edge_has_no_dark_fringe(self):
        arr = np.zeros((64, 64, 4), dtype=np.uint8)
        arr[:, :32] = (255, 255, 255, 255)  # opaque white left, transparent black right
        loaded = load_image(arr, max_side=16)
        assert float(loaded.image.min()) > 0.98  # everything ends up white on white

    def test_large_jpeg_reduced_decode_matches_full_decode(self):
        yy, xx = np.mgrid[0:1200, 0:1600]
        smooth = np.stack(
            [xx / 1600 * 255, yy / 1200 * 255, (xx + yy) / 2800 * 255], axis=2
        ).astype(np.uint8)
        im = Image.fromarray(smooth)
        from_jpeg = load_image(encode(im, "JPEG", quality=95), max_side=200)
        from_png = load_image(encode(im, "PNG", compress_level=1), max_side=200)
        assert from_jpeg.image.shape == from_png.image.shape == (150, 200, 3)
        assert from_jpeg.original_size == (1600, 1200)
        assert np.abs(from_jpeg.image - from_png.image).mean() < 0.01


# ------------------------------------------------------------------------------------------
# conversions and writing
# ------------------------------------------------------------------------------------------


class TestConversions:
    def test_to_uint8_rounds_and_clips(self):
        x = np.array([[0.0, 1.0, 0.5, -0.2, 1.3, 0.2 / 255, 0.6 / 255]], dtype=np.float32)
        np.testing.assert_array_equal(to_uint8(x), [[0, 255, 128, 0, 255, 0, 1]])
        assert to_uint8(x).dtype == np.uint8

    def test_to_uint8_in_bands_equals_its_definition(self, monkeypatch):
        """Converted in bands of rows on threads: the same bytes as clip, scale and round in
        one go, and a NaN or infinity in any band (the last row's too) is refused."""
        import os

        from bokeh import pixels

        x = np.random.default_rng(9).uniform(-0.2, 1.2, (131, 7, 3)).astype(np.float32)
        want = np.rint(np.clip(x, 0, 1) * np.float32(255)).astype(np.uint8)
        for cpus in (1, 3):
            monkeypatch.setattr(os, "cpu_count", lambda cpus=cpus: cpus)
            np.testing.assert_array_equal(pixels.to_uint8(x), want)
            for bad in (np.nan, np.inf):
                y = x.copy()
                y[-1, -1, -1] = bad
                with pytest.raises(ValueError, match="NaN or inf"):
                    pixels.to_uint8(y)

    def test_uint8_round_trip_exact(self):
        u = np.arange(256, dtype=np.uint8).reshape(16, 16)
        u3 = np.stack([u, u[::-1], u.T], axis=2)
        f = from_uint8(u3)
        assert f.dtype == np.float32 and f.flags.c_contiguous
        assert float(f.max()) == 1.0 and float(f.min()) == 0.0
        np.testing.assert_array_equal(to_uint8(f), u3)

    def test_from_uint8_is_value_over_255_exactly(self):
        """Converted and divided in one pass: the same float32 values as the two-step
        ``astype(float32) / 255``, C-contiguous from a strided view too."""
        u = np.arange(256, dtype=np.uint8).reshape(16, 16)
        view = np.stack([u, u.T, u[::-1]], axis=2)[::-1, ::2]  # strided, negative steps
        f = from_uint8(view)
        assert f.flags.c_contiguous and f.dtype == np.float32
        np.testing.assert_array_equal(f, view.astype(np.float32) / np.float32(255.0))
        np.testing.assert_array_equal(from_uint8(u).ravel()[[1, 3, 254]],
                                      np.float32([1, 3, 254]) / np.float32(255.0))  # fmt: skip

    def test_float_round_trip_within_half_step(self):
        x = np.random.default_rng(6).random((8, 9, 3), dtype=np.float32)
        assert np.abs(from_uint8(to_uint8(x)) - x).max() <= 0.5 / 255 + 1e-7

    def test_to_uint8_validates(self):
        with pytest.raises(ValueError, match="float"):
            to_uint8(np.zeros((2, 2, 3), np.uint8))
        with pytest.raises(ValueError, match="NaN"):
            to_uint8(np.full((2, 2), np.nan, np.float32))
        for bad in ([np.inf, 0.5], [-np.inf, np.inf]):  # an infinity; infinities that cancel
            with pytest.raises(ValueError, match="inf"):
                to_uint8(np.array([bad, bad], np.float32))
        huge = np.full((3, 3), np.finfo(np.float32).max, np.float32)  # finite: their sum too
        np.testing.assert_array_equal(to_uint8(huge), 255)
        with pytest.raises(ValueError, match=r"\(H, W\)"):
            to_uint8(np.zeros(5, np.float32))

    def test_from_uint8_validates(self):
        with pytest.raises(ValueError, match="uint8"):
            from_uint8(np.zeros((2, 2), np.float32))

    def test_to_pil_modes(self):
        assert to_pil(np.zeros((3, 4), np.float32)).mode == "L"
        assert to_pil(np.zeros((3, 4, 1), np.uint8)).mode == "L"
        assert to_pil(np.zeros((3, 4, 3), np.float32)).mode == "RGB"
        assert to_pil(np.zeros((3, 4, 4), np.uint8)).mode == "RGBA"
        assert to_pil(np.zeros((3, 4, 3), np.float32)).size == (4, 3)
        with pytest.raises(ValueError):
            to_pil(np.zeros((3, 4, 2), np.float32))

    def test_encode_png_lossless(self):
        u = np.random.default_rng(7).integers(0, 256, (5, 6, 3), dtype=np.uint8)
        data = encode_png(from_uint8(u))
        assert data.startswith(b"\x89PNG")
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), u)

    @pytest.mark.parametrize("level", [0, 1, 9])
    def test_compress_level_changes_only_size(self, tmp_path, level):
        u = np.random.default_rng(11).integers(0, 256, (6, 7, 3), dtype=np.uint8)
        decoded = np.asarray(Image.open(io.BytesIO(encode_png(u, compress_level=level))))
        np.testing.assert_array_equal(decoded, u)
        saved = save_png(u, tmp_path / "a.png", compress_level=level)
        np.testing.assert_array_equal(np.asarray(Image.open(saved)), u)

    @pytest.mark.parametrize("level", [-1, 10, 2.0, True])
    def test_bad_compress_level(self, tmp_path, level):
        with pytest.raises(ValueError, match="compress_level"):
            encode_png(np.zeros((2, 2), np.uint8), compress_level=level)
        with pytest.raises(ValueError, match="compress_level"):
            save_png(np.zeros((2, 2), np.uint8), tmp_path / "a.png", compress_level=level)
        assert not (tmp_path / "a.png").exists()

    def test_save_png_round_trip_lossless(self, tmp_path):
        x = np.random.default_rng(8).random((20, 30, 3), dtype=np.float32)
        out = save_png(x, tmp_path / "sub" / "out.png")
        assert isinstance(out, Path) and out == tmp_path / "sub" / "out.png"
        loaded = load_image(out, max_side=None)
        np.testing.assert_array_equal(loaded.image, from_uint8(to_uint8(x)))
        assert loaded.notes == ()

    def test_save_png_atomic_overwrite_leaves_no_temp(self, tmp_path):
        dest = tmp_path / "out.png"
        save_png(np.zeros((4, 4, 3), np.float32), dest)
        save_png(np.ones((4, 4, 3), np.float32), str(dest))
        assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
        np.testing.assert_array_equal(load_image(dest).image, 1.0)
        assert os.stat(dest).st_mode & 0o044  # readable by others, unlike a raw mkstemp file

    def test_save_png_failure_keeps_old_file(self, tmp_path):
        dest = tmp_path / "out.png"
        save_png(np.zeros((4, 4, 3), np.float32), dest)
        before = dest.read_bytes()
        with pytest.raises(ValueError):
            save_png(np.zeros((4, 4, 3), np.int64), dest)
        assert dest.read_bytes() == before
        assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


class TestResize:
    def test_shapes_and_dtype(self):
        img = np.random.default_rng(9).random((40, 60, 3)).astype(np.float64)
        out = resize(img, (30, 20))
        assert out.shape == (20, 30, 3) and out.dtype == np.float32 and out.flags.c_contiguous
        gray = resize(img[..., 0].astype(np.float32), (15, 10))
        assert gray.shape == (10, 15) and gray.dtype == np.float32

    def test_constant_is_preserved(self):
        out = resize(np.full((33, 47), 0.3, np.float32), (11, 16))
        np.testing.assert_allclose(out, 0.3, atol=1e-6)

    def test_float_precision_is_kept(self):
        # Values between uint8 steps survive: no hidden 8-bit round trip.
        img = np.full((16, 16), 0.5 + 0.25 / 255, np.float32)
        np.testing.assert_allclose(resize(img, (8, 8)), 0.5 + 0.25 / 255, atol=1e-6)

    def test_overshoot_is_clipped_to_input_range(self):
        step = np.zeros((8, 8, 3), np.float32)
        step[:, 4:] = 1.0
        out = resize(step, (64, 64))  # Lanczos rings at the edge when upscaling
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0

    def test_same_size_is_a_copy(self):
        img = np.random.default_rng(10).random((5, 6, 3)).astype(np.float32)
        out = resize(img, (6, 5))
        np.testing.assert_array_equal(out, img)
        out[0, 0, 0] = -1
        assert img[0, 0, 0] != -1

    def test_averages_when_shrinking(self):
        img = np.zeros((8, 8), np.float32)
        img[:, :4] = 1.0
        out = resize(img, (2, 2))
        assert out[:, 0].min() > 0.8 and out[:, 1].max() < 0.2

    @pytest.mark.parametrize("size", [(0, 5), (5,), (2.5, 3), "10x10", (True, 3)])
    def test_bad_size(self, size):
        with pytest.raises(ValueError, match="size"):
            resize(np.zeros((4, 4), np.float32), size)

    def test_bad_image(self):
        with pytest.raises(ValueError, match="float"):
            resize(np.zeros((4, 4, 3), np.uint8), (2, 2))
        with pytest.raises(ValueError, match=r"\(H, W\)"):
            resize(np.zeros((4,), np.float32), (2, 2))


# ------------------------------------------------------------------------------------------
# uint8=True: the same pixels as to_uint8 of the float result
# ------------------------------------------------------------------------------------------


def _uint8_sources() -> dict[str, object]:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    alpha = rgb.copy()[:, :, :1]
    alpha[::3] = 0
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "rgb png": encode(Image.fromarray(rgb)),
        "grey png": encode(Image.fromarray(rgb[:, :, 0])),
        "rgba png": encode(Image.fromarray(np.concatenate([rgb, alpha], axis=2))),
        "palette png": encode(Image.fromarray(rgb).convert("P")),
        "16-bit grey png": encode(Image.fromarray(rng.integers(0, 65536, (9, 11), np.uint16))),
        "rotated jpeg": encode(Image.fromarray(rgb), "JPEG", exif=exif),
        "large rgb png": encode(Image.fromarray(np.tile(rgb, (3, 2, 1)))),  # downscaled below
        "pil image": Image.fromarray(rgb),
        "float array": rgb.astype(np.float32) / 255,
    }


@pytest.mark.parametrize("name", list(_uint8_sources()))
def test_uint8_is_to_uint8_of_the_float_result(name):
    source = _uint8_sources()[name]
    as_float = load_image(source, max_side=64)
    as_uint8 = load_image(source, max_side=64, uint8=True)
    assert as_uint8.image.dtype == np.uint8 and as_uint8.image.flags.c_contiguous
    assert as_uint8.image.shape == as_float.image.shape and as_float.image.shape[2] == 3
    np.testing.assert_array_equal(as_uint8.image, to_uint8(as_float.image))
    assert (as_uint8.notes, as_uint8.original_size, as_uint8.scale, as_uint8.mode) == (
        as_float.notes,
        as_float.original_size,
        as_float.scale,
        as_float.mode,
    )


def test_uint8_png_is_the_file_s_pixels(tmp_path):
    pixels = np.random.default_rng(3).integers(0, 256, (5, 1, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "one-column.png")
    np.testing.assert_array_equal(load_image(tmp_path / "one-column.png", uint8=True).image, pixels)


# ------------------------------------------------------------------------------------------
# the PNG completeness check runs beside the decoding when the file's size is plausible
# ------------------------------------------------------------------------------------------


def _checked_on(monkeypatch) -> list[str]:
    import threading

    from bokeh import pngcheck

    threads: list[str] = []
    real = pngcheck.check_png_complete

    def spy(fp):
        threads.append(threading.current_thread().name)
        return real(fp)

    monkeypatch.setattr(pngcheck, "check_png_complete", spy)
    return threads


# (Palette and 16-bit files: the common 8-bit PNG is checked while bokeh.pngfast decodes it.)


def test_png_check_runs_beside_decoding_for_a_photo(monkeypatch):
    threads = _checked_on(monkeypatch)
    pixels = np.random.default_rng(8).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    palette = Image.fromarray(pixels).convert("P")
    np.testing.assert_array_equal(load_image(encode(palette), uint8=True).image,
                                  np.asarray(palette.convert("RGB")))  # fmt: skip
    assert len(threads) == 1 and threads[0].startswith("bokeh-pngcheck")


def test_the_common_png_is_checked_by_its_decoding_alone(monkeypatch):
    threads = _checked_on(monkeypatch)
    pixels = np.random.default_rng(8).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(load_image(encode(Image.fromarray(pixels)), uint8=True).image,
                                  pixels)  # fmt: skip
    cut = raw_png(30, 40, 2, 8, b"".join(b"\x00" + row.tobytes() for row in pixels[:37]))
    with pytest.raises(ImageReadError, match="ends before the last row"):
        load_image(cut)
    assert threads == []


def test_png_check_comes_first_for_a_file_far_smaller_than_it_claims(monkeypatch):
    import threading

    threads = _checked_on(monkeypatch)
    flat = encode(Image.new("I;16", (400, 300), 1000))  # declares ~900x its size (16-bit)
    assert load_image(flat).image.shape == (300, 400, 3)
    assert threads == [threading.current_thread().name]


def test_photo_with_missing_rows_checked_beside_is_refused(monkeypatch):
    threads = _checked_on(monkeypatch)
    width, height = 64, 48
    pixels = np.random.default_rng(9).integers(0, 65536, (height, width, 3)).astype(">u2")
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
    cut = raw_png(width, height, 2, 16, rows[: (1 + 6 * width) * (height - 3)])
    with pytest.raises(ImageReadError, match="ends before the last row"):
        load_image(cut)
    assert threads[0].startswith("bokeh-pngcheck")

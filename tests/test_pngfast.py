"""bokeh.pngfast (the common PNG's decoder) against Pillow, and bokeh.deflate's backends."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from bokeh import deflate, pngfast
from bokeh.imaging import load_image
from bokeh.pngcheck import PngDataError
from bokeh.pngfast import PngFilterError

CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4}  # colour type -> channels


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width, height, colour, data: bytes, *, depth=8, interlace=0, idat_parts=1, after=b""):
    """A PNG by hand: ``data`` (filtered rows) deflated, split over ``idat_parts`` IDAT
    chunks, then the chunks ``after`` and IEND."""
    head = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    z = zlib.compress(data)
    cuts = np.linspace(0, len(z), idat_parts + 1).astype(int)
    idats = b"".join(chunk(b"IDAT", z[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + idats + after + chunk(b"IEND", b"")


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filtered(pixels: np.ndarray, kinds) -> bytes:
    """PNG's forward filters by their definition (plain Python, per byte): row y uses filter
    ``kinds[y % len(kinds)]``."""
    h = pixels.shape[0]
    rows = pixels.reshape(h, -1).astype(int)
    bpp = 1 if pixels.ndim == 2 else pixels.shape[2]
    out = bytearray()
    for y in range(h):
        kind = kinds[y % len(kinds)]
        out.append(kind)
        for x in range(rows.shape[1]):
            a = rows[y, x - bpp] if x >= bpp else 0
            b = rows[y - 1, x] if y else 0
            c = rows[y - 1, x - bpp] if y and x >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
            out.append((rows[y, x] - pred) % 256)
    return bytes(out)


def pixels_of(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 256, shape, dtype=np.uint8)
    values[: shape[0] // 2] //= 32  # smooth rows too: small differences, equal neighbours
    return values


def pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


class TestDecode:
    @pytest.mark.parametrize("colour", sorted(CHANNELS))
    @pytest.mark.parametrize("kind", [0, 1, 2, 3, 4])
    def test_each_filter_and_colour_type_is_pillows_decoding(self, colour, kind):
        c = CHANNELS[colour]
        pixels = pixels_of((9, 7) if c == 1 else (9, 7, c), seed=kind)
        data = png(7, 9, colour, filtered(pixels, [kind]))
        np.testing.assert_array_equal(pngfast.decode(data), pixels)
        np.testing.assert_array_equal(pngfast.decode(data), pillow(data))

    @pytest.mark.parametrize("band", [1, 120, 1 << 22])  # rows unfiltered at a time: 1, 2, all
    def test_mixed_filters_over_several_image_data_chunks(self, monkeypatch, band):
        monkeypatch.setattr(pngfast, "_BAND_BYTES", band)
        pixels = pixels_of((23, 17, 3), seed=5)
        data = png(17, 23, 2, filtered(pixels, [4, 0, 3, 1, 2, 4, 3]), idat_parts=5)
        np.testing.assert_array_equal(pngfast.decode(data), pixels)

    @pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
    def test_files_pillow_writes(self, mode):
        c = len(mode)
        pixels = pixels_of((31, 45) if c == 1 else (31, 45, c), seed=c)
        for optimize in (False, True):  # Pillow picks a filter per row
            buffer = io.BytesIO()
            Image.fromarray(pixels, mode).save(buffer, "PNG", optimize=optimize)
            out = pngfast.decode(buffer.getvalue())
            assert out.dtype == np.uint8 and out.flags.c_contiguous
            np.testing.assert_array_equal(out, pixels)

    @pytest.mark.parametrize("shape", [(1, 1, 3), (1, 9, 4), (9, 1, 3), (2, 2)])
    def test_tiny_images(self, shape):
        pixels = pixels_of(shape, seed=1)
        colour = {1: 0, 3: 2, 4: 6}[1 if len(shape) == 2 else shape[2]]
        data = png(shape[1], shape[0], colour, filtered(pixels, [4, 3]))
        np.testing.assert_array_equal(pngfast.decode(data), pixels)


class TestLeftToPillow:
    def _rgb(self, **kw) -> bytes:
        pixels = pixels_of((6, 5, 3))
        return png(5, 6, 2, filtered(pixels, [0]), **kw)

    def test_files_the_decoder_does_not_read(self):
        buffer = io.BytesIO()
        Image.fromarray(pixels_of((6, 5, 3))).convert("P").save(buffer, "PNG")
        rows16 = b"".join(b"\x00" + bytes(10) for _ in range(6))
        late_text = chunk(b"tEXt", b"Comment\x00written after the pixels")
        cases = {
            "palette": buffer.getvalue(),
            "16-bit": png(5, 6, 0, rows16, depth=16),
            "interlaced": self._rgb(interlace=1),
            "a chunk after the image data": self._rgb(after=late_text),
            "not a png": b"GIF89a" + bytes(40),
        }
        for name, data in cases.items():
            assert pngfast.decode(data) is None, name

    @pytest.mark.parametrize("band", [1, 1 << 22])
    def test_more_data_than_rows(self, monkeypatch, band):
        monkeypatch.setattr(pngfast, "_BAND_BYTES", band)
        pixels = pixels_of((6, 5, 3))
        assert pngfast.decode(png(5, 6, 2, filtered(pixels, [0]) + bytes(16))) is None
        assert pngfast.decode(png(5, 5, 2, filtered(pixels, [0]))) is None  # one row too many

    def test_no_image_data_chunk_at_all_is_refused(self):
        head = struct.pack(">IIBBBBB", 5, 6, 8, 2, 0, 0, 0)
        with pytest.raises(PngDataError, match="ends before its image data"):
            pngfast.decode(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"tEXt", b"a\0b"))


class TestRefused:
    @pytest.mark.parametrize("band", [1, 40, 1 << 22])
    def test_data_shorter_than_the_header_declares(self, monkeypatch, band):
        monkeypatch.setattr(pngfast, "_BAND_BYTES", band)
        pixels = pixels_of((6, 5, 3))
        data = png(5, 8, 2, filtered(pixels, [1]))  # declares 8 rows, holds 6
        with pytest.raises(PngDataError, match=r"ends early \(96 of 128 bytes\)"):
            pngfast.decode(data)

    def test_file_cut_inside_its_image_data(self):
        data = png(5, 6, 2, filtered(pixels_of((6, 5, 3)), [2]))
        cut = data[: data.index(b"IDAT") + 12]
        with pytest.raises(PngDataError, match="ends inside its image data"):
            pngfast.decode(cut)

    def test_corrupt_zlib_data(self):
        data = bytearray(png(5, 6, 2, filtered(pixels_of((6, 5, 3), seed=2), [0])))
        at = data.index(b"IDAT") + 10
        data[at : at + 4] = b"\xff\xff\xff\xff"
        with pytest.raises(PngDataError, match="corrupt"):
            pngfast.decode(bytes(data))

    @pytest.mark.parametrize("band", [1, 1 << 22])
    def test_unknown_filter_type(self, monkeypatch, band):
        monkeypatch.setattr(pngfast, "_BAND_BYTES", band)
        rows = bytearray(filtered(pixels_of((6, 5, 3)), [0]))
        rows[2 * 16] = 5  # row 2's filter byte
        with pytest.raises(PngFilterError, match="row 2"):
            pngfast.decode(png(5, 6, 2, bytes(rows)))

    def test_load_image_messages(self):
        rows = bytearray(filtered(pixels_of((6, 5, 3)), [0]))
        short = png(5, 8, 2, bytes(rows))
        rows[16] = 9
        with pytest.raises(Exception, match="ends before the last row"):
            load_image(short)
        with pytest.raises(Exception, match="damaged, so its pixels cannot be decoded"):
            load_image(png(5, 6, 2, bytes(rows)))


def _encoded(pixels: np.ndarray, **kw) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", **kw)
    return buffer.getvalue()


class TestLoadImage:
    """load_image through the fast decoder and through Pillow gives the same result."""

    @pytest.fixture
    def both(self, monkeypatch):
        def load(data, **kw):
            fast = load_image(data, **kw)
            with monkeypatch.context() as m:
                m.setattr(pngfast, "decode", lambda data: None)
                slow = load_image(data, **kw)
            return fast, slow

        return load

    def _same(self, fast, slow):
        np.testing.assert_array_equal(fast.image, slow.image)
        assert (fast.notes, fast.mode, fast.original_size) == (slow.notes, slow.mode,
                                                              slow.original_size)  # fmt: skip

    @pytest.mark.parametrize("uint8", [False, True])
    def test_modes(self, both, uint8):
        rgb = pixels_of((21, 13, 3), seed=3)
        alpha = np.zeros((21, 13, 1), np.uint8)
        alpha[1::3] = 255
        alpha[2::3] = 99
        for pixels in (rgb, rgb[:, :, 0], np.concatenate([rgb, alpha], axis=2)):
            self._same(*both(_encoded(pixels), uint8=uint8))

    def test_exif_orientation_before_the_pixels_is_applied(self, both):
        exif = Image.Exif()
        exif[0x0112] = 6
        data = _encoded(pixels_of((8, 5, 3)), exif=exif)
        assert data.index(b"eXIf") < data.index(b"IDAT")  # read by Pillow at open
        fast, slow = both(data)
        self._same(fast, slow)
        assert fast.image.shape[:2] == (5, 8) and any("EXIF" in n for n in fast.notes)

    def test_colour_key_transparency(self, both):
        data = _encoded(pixels_of((8, 5, 3)) // 128 * 255, transparency=(0, 0, 0))
        fast, slow = both(data)
        self._same(fast, slow)
        assert "Transparency composited on white." in fast.notes

    def test_the_fast_path_runs_for_an_rgb_photo(self, monkeypatch):
        calls = []
        real = pngfast.decode
        monkeypatch.setattr(pngfast, "decode", lambda data: calls.append(1) or real(data))
        pixels = pixels_of((12, 9, 3))
        np.testing.assert_array_equal(load_image(_encoded(pixels), uint8=True).image, pixels)
        assert calls == [1]


class TestDeflateBackends:
    def test_isal_is_in_use_here(self):
        assert deflate.BACKEND == "isal"  # requirements.txt installs it

    @pytest.mark.parametrize("level", [0, 1, 6])
    def test_both_backends_write_what_either_reads(self, monkeypatch, level):
        data = pixels_of((64, 64, 3)).tobytes() * 3
        out = deflate.compressobj(level, 15)
        stream = out.compress(data) + out.flush()
        assert zlib.decompress(stream) == data
        assert deflate.decompressobj().decompress(stream) == data
        monkeypatch.setattr(deflate, "_isal", None)  # the standard zlib
        out = deflate.compressobj(level, 15)
        assert deflate.decompressobj().decompress(out.compress(data) + out.flush()) == data

    def test_checksum_matches_zlib(self):
        data = pixels_of((50, 50, 3)).tobytes()
        assert deflate.adler32(data) == zlib.adler32(data)

"""bokeh.pngout: the app's output PNG files (a plain PNG writer, read back with Pillow)."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bokeh import deflate, pngout
from bokeh.pngout import encode_png, png_file, png_files


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (17, 33, 3), (9, 40, 4), (256, 200, 3)])
def test_decodes_to_the_same_pixels(shape):
    image = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    with Image.open(io.BytesIO(encode_png(image))) as im:
        im.verify()  # chunk CRCs and structure
    with Image.open(io.BytesIO(encode_png(image))) as im:
        assert im.mode == ("L" if len(shape) == 2 else {3: "RGB", 4: "RGBA"}[shape[2]])
        np.testing.assert_array_equal(np.asarray(im), image)


def test_a_photo_compresses():
    from skimage import data

    photo = data.astronaut()
    assert len(encode_png(photo)) < 0.8 * photo.nbytes  # a noisy photo: about 0.62


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4, 3), np.float32),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
        np.zeros(5, np.uint8),
        "x.png",
    ],
)
def test_refuses_what_it_cannot_write(bad):
    with pytest.raises(ValueError, match="image must"):
        encode_png(bad)


def test_files_are_complete_and_none_stays_none(tmp_path):
    a = np.full((8, 9, 3), 200, np.uint8)
    b = np.arange(72, dtype=np.uint8).reshape(8, 9)
    paths = png_files([a, None, b], tmp_path / "out")
    assert paths[1] is None
    for path, image in ((paths[0], a), (paths[2], b)):
        assert Path(path).parent == tmp_path / "out" and path.endswith(".png")
        np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        Path(p).name for p in (paths[0], paths[2])
    )  # no temporary files left
    assert png_file(a, tmp_path) != png_file(a, tmp_path)  # a new file every time


def _idat(data: bytes) -> bytes:
    """The zlib stream of a PNG written by encode_png (one IDAT chunk after IHDR)."""
    assert data[33 + 4 : 33 + 8] == b"IDAT"
    length = int.from_bytes(data[33:37], "big")
    return data[41 : 41 + length]


@pytest.mark.parametrize("backend", ["isal", "zlib"])
@pytest.mark.parametrize("workers", [2, 3, 7])
@pytest.mark.parametrize("shape", [(1, 1), (1, 37, 3), (2, 5), (13, 1, 4), (31, 17, 3), (64, 9)])
def test_bands_decode_to_the_same_pixels(monkeypatch, shape, workers, backend):
    monkeypatch.setattr(pngout, "BAND_BYTES", 1)  # as many bands as workers and rows allow
    if backend == "zlib":  # as where isal is not installed
        monkeypatch.setattr(deflate, "_isal", None)
    image = np.random.default_rng(sum(shape) + workers).integers(0, 256, shape, dtype=np.uint8)
    banded, single = encode_png(image, workers=workers), encode_png(image, workers=1)
    with Image.open(io.BytesIO(banded)) as im:
        im.verify()
    with Image.open(io.BytesIO(banded)) as im:
        np.testing.assert_array_equal(np.asarray(im), image)
    # zlib checks the combined Adler-32: the bands are one stream with the single one's bytes
    assert zlib.decompress(_idat(banded)) == zlib.decompress(_idat(single))
    if shape[0] >= workers:
        assert _idat(banded) != _idat(single)  # really written in bands


def test_a_large_photo_in_bands_by_default():
    from skimage import data

    photo = np.tile(data.astronaut(), (3, 1, 1))  # 1536x512x3: 2.25 MiB, two bands
    assert photo.nbytes >= 2 * pngout.BAND_BYTES
    encoded = encode_png(photo, workers=2)
    assert _idat(encoded) != _idat(encode_png(photo, workers=1))
    with Image.open(io.BytesIO(encoded)) as im:
        np.testing.assert_array_equal(np.asarray(im), photo)


@pytest.mark.parametrize("split", [0, 1, 5, 65521, 70000, 200000])
def test_adler32_combine_matches_zlib(split):
    data = np.random.default_rng(split).integers(0, 256, 200000, dtype=np.uint8).tobytes()
    head, tail = data[:split], data[split:]
    combined = pngout._adler32_combine(zlib.adler32(head), zlib.adler32(tail), len(tail))
    assert combined == zlib.adler32(data)


@pytest.mark.parametrize("level", [-1, 10, 1.5, True])
def test_refuses_a_level_zlib_does_not_have(level):
    with pytest.raises(ValueError, match="level"):
        encode_png(np.zeros((2, 2), np.uint8), level=level)

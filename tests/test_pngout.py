"""bokeh.pngout: the app's output PNG files (a plain PNG writer, read back with Pillow)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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

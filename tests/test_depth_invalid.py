"""Disparity files with 0 = unknown (Middlebury): ``invalid=0`` / ``--depth-invalid 0`` fills
them from their neighbours instead of reading them as infinitely far, and the render says so."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bokeh.config import realdata_dir
from bokeh.depth.files import load_depth_file, read_depth_map
from bokeh.registry import load_method


def _middlebury_like() -> bytes:
    """A disparity PNG: a near square (200) on a far field (50), with a ragged band of 0s
    (unknown) along the square's left edge, as occlusions leave them."""
    disp = np.full((40, 60), 50, np.uint8)
    disp[10:30, 20:40] = 200
    disp[10:30, 17:20] = 0
    buf = io.BytesIO()
    Image.fromarray(disp).save(buf, format="PNG")
    return buf.getvalue()


def test_zero_reads_as_infinitely_far_by_default():
    d = load_depth_file(_middlebury_like(), kind="disparity")
    assert d[20, 18] == 0.0  # the unknown band became the farthest thing in the scene


def test_invalid_zero_is_filled_from_the_nearest_known_pixels():
    read = read_depth_map(_middlebury_like(), kind="disparity", invalid=0)
    d = read.disparity
    assert read.filled == pytest.approx(60 / 2400)
    assert d.min() == 0.0 and d.max() == 1.0  # the range is the known one: 50..200
    assert d[20, 17] == 0.0 and d[20, 19] == 1.0  # each side takes its nearest neighbour
    assert set(np.unique(d)) == {0.0, 1.0}


def test_render_says_how_much_was_filled(photo):
    image = np.ascontiguousarray(photo[:40, :60])
    pipe = load_method("depth-lens")
    out = pipe(
        image, focus=(30, 20), depth_file=_middlebury_like(), depth_source="file", depth_invalid="0"
    )
    assert any("2.5% of its pixels were unknown (value 0)" in n for n in out.info["notes"])
    plain = pipe(image, focus=(30, 20), depth_file=_middlebury_like(), depth_source="file")
    assert not plain.info["notes"]


def test_cli_flag(tmp_path, photo):
    from bokeh.cli import main

    src, depth, out = tmp_path / "p.png", tmp_path / "d.png", tmp_path / "o.png"
    Image.fromarray((np.asarray(photo[:40, :60]) * 255).astype(np.uint8)).save(src)
    depth.write_bytes(_middlebury_like())
    code = main(
        [
            "render",
            str(src),
            "-o",
            str(out),
            "--method",
            "depth-lens",
            "--depth",
            str(depth),
            "--depth-invalid",
            "0",
            "--focus",
            "30,20",
        ]
    )
    assert code == 0 and out.is_file()


@pytest.mark.skipif(not (realdata_dir() / "rgbd").is_dir(), reason="real photos not here")
def test_middlebury_cones_has_unknown_pixels_to_fill():
    read = read_depth_map(
        realdata_dir() / "rgbd" / "cones" / "disp2.png", kind="disparity", invalid=0
    )
    assert 0.001 < read.filled < 0.2
    assert read.disparity.min() == 0.0

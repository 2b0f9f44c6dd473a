"""Real pairs: the Spectral_r depth decoder, focal-mask focus, the VABM layout, the generic paired
folder, and (when ../shared/realdata is here) the VABD development set read in place."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bokeh.config import realdata_dir
from bokeh.data.colormap import colormap_lut, decode_colormap_depth, encode_depth
from bokeh.data.pairs import load_pairs
from bokeh.data.real import FOCUS_ANNOTATED, FOCUS_CENTRE, focus_from_mask
from bokeh.data.vabm import load_vabm
from bokeh.errors import DatasetNotFoundError, ImageReadError

VABD = realdata_dir() / "vabd"
needs_vabd = pytest.mark.skipif(not VABD.is_dir(), reason=f"real photos not here ({VABD})")


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


# ----------------------------------------------------------------------------- colour maps


def test_spectral_r_runs_from_red_near_to_violet_far():
    lut = colormap_lut("Spectral_r")
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    # ColorBrewer Spectral's ends (9e0142 dark red, 5e4fa2 violet), reversed: far is violet.
    assert tuple(lut[0]) == (0x5E, 0x4F, 0xA2)
    assert tuple(lut[255]) == (0x9E, 0x01, 0x42)
    assert len({tuple(c) for c in lut}) == 256  # every level decodes uniquely


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="matplotlib is not installed (the map is built without it)",
)
def test_spectral_r_equals_matplotlib():
    import matplotlib

    expected = matplotlib.colormaps["Spectral_r"](np.arange(256), bytes=True)[:, :3]
    np.testing.assert_array_equal(colormap_lut("Spectral_r"), expected)


def test_decoder_round_trips_every_level(rng):
    disparity = rng.integers(0, 256, (40, 60)).astype(np.float32) / 255
    decoded = decode_colormap_depth(encode_depth(disparity))
    assert decoded.colormap == "Spectral_r" and decoded.mean_error == 0.0
    np.testing.assert_allclose(decoded.disparity, disparity, atol=1e-6)


def test_decoder_takes_the_nearest_colour_and_reports_the_error(rng):
    disparity = np.linspace(0, 1, 50 * 80, dtype=np.float32).reshape(50, 80)
    noisy = encode_depth(disparity).astype(np.int16) + rng.integers(-2, 3, (50, 80, 3))
    decoded = decode_colormap_depth(np.clip(noisy, 0, 255).astype(np.uint8))
    assert 0.5 < decoded.mean_error < 4.0
    assert np.abs(decoded.disparity - np.floor(disparity * 255) / 255).mean() < 0.01


def test_decoder_refuses_a_photo(photo):
    picture = (np.asarray(photo) * 255).astype(np.uint8)
    with pytest.raises(ImageReadError, match="matches no known colour map"):
        decode_colormap_depth(picture)


def test_grey_pictures_decode_as_grey():
    grey = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    decoded = decode_colormap_depth(grey)
    assert decoded.colormap == "gray"
    np.testing.assert_allclose(decoded.disparity[0], np.arange(256) / 255, atol=1e-6)


# ----------------------------------------------------------------------------- focus


def test_focus_from_mask_sits_inside_at_the_median_disparity():
    disparity = np.tile(np.linspace(0, 1, 100, dtype=np.float32), (60, 1))
    mask = np.zeros((60, 100), bool)
    mask[10:50, 60:90] = True  # disparities 0.61..0.90, median about 0.75
    x, y = focus_from_mask(mask, disparity)
    assert mask[int(y), int(x)]
    median = float(np.median(disparity[mask]))
    assert abs(disparity[int(y), int(x)] - median) <= 1.5 / 99


def test_focus_from_mask_refuses_an_empty_mask():
    with pytest.raises(ValueError, match="empty"):
        focus_from_mask(np.zeros((4, 4), bool), None)


# ----------------------------------------------------------------------------- VABM layout


def _vabm(root: Path, names=("0001", "0002"), apertures=("1_8", "8"), focal=True):
    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        for sub in ("input", *apertures):
            _save(
                root / "train" / sub / f"{name}.png",
                rng.integers(0, 256, (32, 48, 3), dtype=np.uint8),
            )
        disparity = np.tile(np.linspace(0, 1, 48, dtype=np.float32), (32, 1))
        _save(root / "train" / "depth" / f"{name}.png", encode_depth(disparity))
        if focal and k == 0:
            mask = np.zeros((32, 48), np.uint8)
            mask[8:24, 30:44] = 255
            _save(root / "train" / "focal" / f"{name}.png", mask)


def test_vabm_lists_one_pair_per_scene_and_aperture(tmp_path):
    _vabm(tmp_path)
    pairs = load_vabm(tmp_path, "all")
    assert sorted(pairs.keys) == [
        "train/0001@f1.8",
        "train/0001@f8",
        "train/0002@f1.8",
        "train/0002@f8",
    ]
    assert pairs.has_depth and pairs.provenance["apertures"] == [1.8, 8.0]
    only = load_vabm(tmp_path, "train@8")
    assert only.keys == ["train/0001@f8", "train/0002@f8"]
    pair = only[0]
    assert pair.fnumber == 8.0 and pair.input_fnumber == 16.0
    assert "Spectral_r" in pair.depth_note and "error 0.00" in pair.depth_note
    np.testing.assert_allclose(
        pair.depth[0], np.floor(np.linspace(0, 1, 48) * 255) / 255, atol=1e-6
    )
    assert pair.focus_source == FOCUS_ANNOTATED
    x, y = pair.focus
    assert 30 <= x < 44 and 8 <= y < 24
    assert only[1].focus_source == FOCUS_CENTRE and only[1].focus == (23.5, 15.5)


def test_vabm_reads_ebb_target_folder(tmp_path):
    _vabm(tmp_path, names=("7",), apertures=("target",), focal=False)
    pairs = load_vabm(tmp_path / "train", "all")  # a split folder works too
    assert pairs.keys == ["train/7@f1.8"]


@pytest.mark.parametrize(
    "split, message",
    [("val", "no split 'val'"), ("all@4", "no input/target"), ("all@x", "Unknown aperture")],
)
def test_vabm_bad_splits_say_what_exists(tmp_path, split, message):
    _vabm(tmp_path)
    with pytest.raises(DatasetNotFoundError, match=message):
        load_vabm(tmp_path, split)


def test_vabm_refuses_other_layouts(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="not in the VABM layout"):
        load_vabm(tmp_path)


# ----------------------------------------------------------------------------- paired folder


def test_paired_folder_with_depth_and_focus(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        for sub in ("original", "bokeh"):
            _save(tmp_path / sub / f"{name}.jpg", rng.integers(0, 256, (20, 30, 3), np.uint8))
    (tmp_path / "depth").mkdir()
    np.save(tmp_path / "depth" / "a.npy", np.tile(np.linspace(2.0, 5.0, 30), (20, 1)))
    (tmp_path / "focus.json").write_text(
        json.dumps({"a": {"focus": [25, 4], "fnumber": 2.0, "input_fnumber": 11}, "b": [3, 3]})
    )
    pairs = load_pairs(tmp_path)
    assert pairs.keys == ["a", "b"] and not pairs.has_depth  # b has no depth file
    a, b = pairs[0], pairs[1]
    assert a.focus == (25.0, 4.0) and a.focus_source == FOCUS_ANNOTATED
    assert a.fnumber == 2.0 and a.input_fnumber == 11.0
    np.testing.assert_allclose(a.depth[0, [0, -1]], [0.0, 1.0], atol=1e-6)
    assert b.depth is None and b.focus == (3.0, 3.0) and b.fnumber is None


def test_paired_folder_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="not a paired folder"):
        load_pairs(tmp_path)
    for sub in ("original", "bokeh"):
        _save(tmp_path / sub / "a.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "focus.json").write_text('{"a": {"fnumber": -1}}')
    with pytest.raises(DatasetNotFoundError, match="positive number"):
        load_pairs(tmp_path)
    (tmp_path / "focus.json").write_text('{"a": [50, 50]}')
    with pytest.raises(ImageReadError, match="outside"):
        load_pairs(tmp_path)[0]


# ----------------------------------------------------------------------------- real photos


@needs_vabd
def test_vabd_development_set_reads_in_place():
    pairs = load_vabm(VABD, "all")
    assert len(pairs) == 18 and pairs.provenance["apertures"] == [1.8, 2.8, 8.0]
    pair = pairs[0]
    assert pair.input.shape == pair.target.shape == (1024, 1536, 3)
    assert pair.focus_source == FOCUS_ANNOTATED
    assert "mean colour error 0.00" in pair.depth_note  # lossless PNGs of the exact map
    assert pair.depth.min() == 0.0 and pair.depth.max() == 1.0

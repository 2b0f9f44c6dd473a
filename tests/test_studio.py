"""The Depth + Blur tab's editing session (bokeh.studio): two-click focus range, the refine
brush's layers as a mask, kept per photo, and the edited depth exported as a 16-bit PNG."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bokeh import editing, studio
from bokeh.depth.files import read_depth_map


def _layer(shape, where, color, alpha=255):
    layer = np.zeros((*shape, 4), np.uint8)
    layer[where] = (*color, alpha)
    return layer


def test_two_clicks_make_an_ordered_box():
    pending, box = studio.click_box(None, 40, 30)
    assert pending == (40.0, 30.0) and box is None
    pending, box = studio.click_box(pending, 10.4, 50)
    assert pending is None and box == (10.4, 30.0, 40.0, 50.0)
    assert studio.box_text(box) == "10,30,40,50" and studio.box_text(None) == ""
    assert editing.parse_box(studio.box_text(box)) == (10.0, 30.0, 40.0, 50.0)


def test_painted_layers_become_a_signed_mask_later_over_earlier():
    shape = (20, 30)
    focus = _layer(shape, (slice(0, 10), slice(0, 20)), editing.FOCUS_COLOR)
    blur = _layer(shape, (slice(5, 15), slice(10, 30)), editing.BLUR_COLOR, alpha=128)
    mask = studio.refine_mask({"background": None, "layers": [focus, blur]}, shape)
    assert mask[0, 0] == 1.0 and mask[12, 25] == pytest.approx(-128 / 255)
    # where the half-opaque blur covers focus: halfway from +1 towards -1
    assert mask[7, 15] == pytest.approx(1 - 2 * 128 / 255, abs=1e-6)
    assert mask[18, 2] == 0.0
    assert studio.refine_mask({"layers": [np.zeros((*shape, 4), np.uint8)]}, shape) is None
    assert studio.refine_mask({"layers": [focus]}, (21, 30)) is None  # another photo's
    assert studio.refine_mask(None, shape) is None


def test_the_mask_joins_typed_strokes():
    mask = np.zeros((10, 10), np.float32)
    assert studio.with_refine({"fnumber": 2}, mask) == {"fnumber": 2}
    mask[2:4, 2:4] = 1.0
    typed = '[{"mode": "blur", "size": 3, "points": [[8, 8]]}]'
    refine = studio.with_refine({"refine": typed}, mask)["refine"]
    signed = refine.signed_mask((10, 10))
    assert signed[3, 3] == 1.0 and signed[8, 8] == -1.0


def test_layers_are_kept_per_photo_for_the_session():
    a = np.zeros((8, 8, 3), np.uint8)
    b = a.copy()
    b[0, 0] = 1
    ka, kb = studio.photo_key(a), studio.photo_key(b)
    assert ka != kb and ka == studio.photo_key(a.copy())
    painted = {"layers": [_layer((8, 8), (slice(0, 2), slice(0, 2)), editing.FOCUS_COLOR)]}
    store = studio.remember({}, ka, painted)
    assert studio.editor_value(b, store, kb)["layers"] == []  # a new photo: nothing painted
    back = studio.editor_value(a, store, ka)
    assert back["background"] is a and np.array_equal(back["layers"][0], painted["layers"][0])
    np.testing.assert_array_equal(studio.session_mask(store, a)[:2, :2], 1.0)
    assert studio.session_mask(store, b) is None and studio.session_mask(None, a) is None
    assert ka not in studio.remember(store, ka, {"layers": []})  # cleared: forgotten
    for i in range(studio.MAX_PHOTOS + 2):
        store = studio.remember(store, f"k{i}", painted)
    assert len(store) == studio.MAX_PHOTOS and ka not in store  # the oldest go first


def test_the_edited_depth_exports_as_16_bit_png(tmp_path):
    disparity = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (8, 1))
    path = studio.depth_png_file(disparity, tmp_path / "out")
    with Image.open(path) as im:
        assert im.mode.startswith("I;16") or im.mode == "I"
        values = np.asarray(im)
    assert values.max() == 65535 and values.min() == 0
    back = read_depth_map(path, kind="disparity").disparity
    np.testing.assert_allclose(back, disparity, atol=1 / 65535)
    assert studio.depth_png_file(None, tmp_path) is None

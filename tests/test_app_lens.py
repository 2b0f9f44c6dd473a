"""Issue #15 through the app's /render_depth API: the photographer's settings (focus range,
falloff, refine strokes, lens character, depth overlay) are named settings, and the endpoint
renders exactly what the library renders with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bokeh import editing, service

pytestmark = pytest.mark.app

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
PHOTO, DEPTH = EXAMPLES / "motorcycle.png", EXAMPLES / "motorcycle_disparity.png"
BOX = [250, 180, 420, 330]  # the engine
STROKE = {"mode": "focus", "size": 60, "points": [[560, 45], [640, 70]]}  # boxes on the shelf


def _api(client, settings):
    from gradio_client import handle_file

    out, depth, info = client.predict(
        handle_file(str(PHOTO)), 300, 250, "depth-lens", {"depth_source": "file", **settings},
        handle_file(str(DEPTH)), api_name="/render_depth",
    )  # fmt: skip
    return np.asarray(Image.open(out).convert("RGB")), np.asarray(Image.open(depth)), info


def _library(settings):
    photo = service.load_photo(PHOTO)
    out = service.render(photo, method="depth-lens", focus=(300, 250), depth_file=str(DEPTH),
                         settings={"depth_source": "file", **settings})  # fmt: skip
    return photo.pixels, out


def test_every_new_setting_reaches_the_renderer_through_the_api(client):
    settings = {"focus_range": BOX, "falloff": 0.1, "refine": [STROKE], "cat_eye": 1.0,
                "bubble": 0.5, "ring": 0.3, "chromatic_aberration": 0.5, "fnumber": 1.4}  # fmt: skip
    out, _, info = _api(client, settings)
    pixels, expected = _library(settings)
    np.testing.assert_array_equal(out, expected.image)  # the same render, exactly
    assert info["focus_range"]["box"] == BOX and info["refined"] > 0
    assert "Focus range: (250, 180) to (420, 330)" in expected.summary
    assert "Refined: " in expected.summary and "Focus: (" not in expected.summary
    assert info["settings"]["cat_eye"] == 1.0 and info["settings"]["refine"] == [
        {"mode": "focus", "size": 60.0, "points": [[560, 45], [640, 70]]}
    ]
    plain, _, _ = _api(client, {"fnumber": 1.4})
    painted = editing.rasterize(editing.parse_refine([STROKE]).strokes, pixels.shape[:2]) >= 1
    # the refine stroke: as sharp as the photo there, where the plain render blurred it
    diff = np.abs(out.astype(int) - pixels)
    assert diff[painted].max() <= 1 and np.abs(plain.astype(int) - pixels)[painted].mean() > 5


def test_depth_overlay_opacity_and_text_settings(client):
    _, shown, info = _api(client, {"focus_range": "250,180,420,330", "depth_overlay": 0.0})
    pixels = np.asarray(Image.open(PHOTO).convert("RGB"))
    lo, hi = (info["focus_range"]["plane"] + s * info["focus_range"]["band"] for s in (-1, 1))
    disparity = np.asarray(Image.open(DEPTH), np.float64) / 65535
    outside = (disparity < lo - 0.01) | (disparity > hi + 0.01)
    # opacity 0: the photo itself outside the in-focus range, which is tinted green
    assert np.abs(shown[..., :3].astype(int) - pixels)[outside].max() <= 1
    inside = ~outside & (np.abs(disparity - (lo + hi) / 2) < 0.8 * (hi - lo) / 2)
    assert (shown[inside][:, 1].astype(int) - pixels[inside][:, 1]).mean() > 20


def test_bad_settings_are_one_clear_line(client):
    from gradio_client.exceptions import AppError

    for settings, needle in (({"focus_range": [1, 2, 3]}, "four"),
                             ({"refine": [{"mode": "paint"}]}, "mode"),
                             ({"cat_eye": 2}, "cat_eye")):  # fmt: skip
        with pytest.raises(AppError, match=needle) as err:
            _api(client, settings)
        assert "\n" not in str(err.value).strip()

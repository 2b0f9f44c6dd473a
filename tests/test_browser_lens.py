"""Issue #15 in a real browser: a focus range set by two clicks on the photo and one refine
stroke painted in the editor change the result where they should and nowhere else (the output
PNGs compared pixel by pixel, the painted region read from the exported 16-bit depth)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from bokeh import service
from tests.test_browser import EXAMPLE, app_url, browser  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, app_url, tmp_path):  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 1200}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(app_url)
    page.get_by_text("click the subject").wait_for()
    yield page
    page.screenshot(path=str(tmp_path / "last.png"), full_page=True)
    context.close()


def _result(page, old: str | None = None, says: str = "") -> tuple[str, np.ndarray]:
    """The result's (src, pixels), once it is a new one (src differs from ``old``) and the
    line under it contains ``says``."""
    page.wait_for_function(
        "([old, says]) => { const i = document.querySelector('#depth-result img');"
        " const t = document.querySelector('#depth-info');"
        " return i && i.src && i.src !== old && t && t.innerText.includes(says); }",
        arg=[old or "", says],
    )
    src = page.locator("#depth-result img").first.get_attribute("src")
    body = page.request.get(src).body()
    return src, np.asarray(Image.open(io.BytesIO(body)).convert("RGB")).astype(int)


def _depth_png(page, tmp_path: Path, name: str) -> np.ndarray:
    with page.expect_download() as download:
        page.locator("#depth-png").click()
    path = tmp_path / name
    download.value.save_as(path)
    return np.asarray(Image.open(path)).astype(np.int64)


def test_focus_range_and_one_refine_stroke(page, tmp_path):
    page.locator("#photo input[type=file]").set_input_files(str(EXAMPLE))
    src, first = _result(page)
    photo = np.asarray(Image.open(EXAMPLE).convert("RGB")).astype(int)
    h, w = photo.shape[:2]
    # Focus range: two clicks, opposite corners of a box around the engine.
    page.locator("#click-mode").get_by_text("focus range").click()
    shown = page.locator("#photo img").first
    shown.scroll_into_view_if_needed()
    box = shown.bounding_box()
    for fx, fy in [(0.33, 0.5), (0.58, 0.72)]:
        shown.click(position={"x": fx * box["width"], "y": fy * box["height"]})
        page.wait_for_timeout(700)
    field = page.get_by_label("Focus range (x0,y0,x1,y1 px)")
    page.wait_for_function(
        "() => [...document.querySelectorAll('textarea, input')].some(e => /^\\d+,\\d+,\\d+,\\d+$/.test(e.value))"
    )
    x0, y0, x1, y1 = (int(v) for v in field.input_value().split(","))
    assert abs(x0 - 0.33 * w) < 15 and abs(y1 - 0.72 * h) < 15
    src, ranged = _result(page, src, f"Focus range: ({x0}, {y0}) to ({x1}, {y1})")
    # exactly what the library renders with that box (depth from the same source)
    expected = service.render(service.load_photo(EXAMPLE), method="depth-lens", focus=(370, 250),
                              settings={"focus_range": [x0, y0, x1, y1]})  # fmt: skip
    np.testing.assert_array_equal(ranged, expected.image)
    inside = np.s_[y0 : y1 + 1, x0 : x1 + 1]
    err = np.abs(ranged - photo).mean(axis=2)
    assert err[inside].mean() < 0.5 * err.mean()  # the boxed subject is the sharp part
    assert np.abs(ranged - first).max() > 30  # and the render changed
    before_depth = _depth_png(page, tmp_path, "before.png")
    # One refine stroke ("focus", the default green) over the shelf at the top right.
    canvas = page.locator("#refine-editor canvas").first
    canvas.scroll_into_view_if_needed()
    c = canvas.bounding_box()
    start = (c["x"] + 0.55 * c["width"], c["y"] + 0.2 * c["height"])
    page.mouse.move(*start)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(start[0] + 6 * k, start[1] + 2 * k, steps=2)
    page.mouse.up()
    page.locator("#refine-editor").get_by_label("Save changes").click()
    src, refined = _result(page, src, "Refined:")
    after_depth = _depth_png(page, tmp_path, "after.png")
    painted = after_depth != before_depth
    assert 200 < painted.sum() < 0.1 * painted.size
    ys, xs = np.nonzero(painted)
    assert ys.mean() < 0.5 * h and xs.mean() > 0.5 * w  # where the stroke went
    # Changed where it should: the painted core is as sharp as the photo ...
    core = ndimage.binary_erosion(painted, iterations=3)
    assert core.any() and np.abs(refined - photo)[core].max() <= 2
    assert np.abs(ranged - photo)[core].mean() > 4  # (it was blurred before)
    # ... and nowhere else: beyond the blur that crosses the new edge, nothing moved.
    reach = float(expected.info["strength"]) + 4  # the largest blur radius, plus the kernel edge
    far = ndimage.distance_transform_edt(~painted) > reach
    assert np.abs(refined - ranged)[far].max() <= 1
    assert np.abs(refined - ranged)[~far].max() > 20

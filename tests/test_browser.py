"""The app in a real browser (Debian's chromium driven by Playwright): upload, click to focus,
render, and the Leaderboard and Review tabs. Screenshots go to a temporary folder; the tests
assert on what the page shows."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
EXAMPLE = Path(__file__).resolve().parents[1] / "assets" / "examples" / "motorcycle.png"


def _need_browser():
    have = shutil.which(CHROMIUM) is not None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        have = False
    if not have:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium and playwright (see .ci/run)")
        pytest.skip("needs /usr/bin/chromium and the playwright package")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    _need_browser()
    import app

    env = {
        "BOKEH_RESULTS_DIR": str(tmp_path_factory.mktemp("results")),
        "GRADIO_EXAMPLES_CACHE": str(tmp_path_factory.mktemp("examples")),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, **app.launch_kwargs())
    yield url
    demo.close()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


def _open_app(browser, app_url, tmp_path, **context_options):
    """A fresh browser context on the app's page; a full-page screenshot is kept at the end."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(app_url)
    page.get_by_text("click the subject").wait_for()
    yield page
    page.screenshot(path=str(tmp_path / "last.png"), full_page=True)
    context.close()


@pytest.fixture
def page(browser, app_url, tmp_path):
    yield from _open_app(browser, app_url, tmp_path, viewport={"width": 1400, "height": 1200})


def _element_pixels(locator) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB"))


def _upload(page):
    page.locator("#photo input[type=file]").set_input_files(str(EXAMPLE))
    page.wait_for_function(
        "() => { const i = document.querySelectorAll('input[type=number]');"
        " return i.length && i[0].value !== ''; }"
    )


def test_upload_click_focus_and_render(page, tmp_path):
    _upload(page)
    page.get_by_text("Depth + lens blur on 741x500").wait_for()  # rendered at the centre
    photo = page.locator("#photo img").first
    photo.wait_for()
    box = photo.bounding_box()
    before = _element_pixels(photo)
    # Click on the upper right of the photo (the shelves): the focus moves there.
    page.mouse.click(box["x"] + 0.85 * box["width"], box["y"] + 0.2 * box["height"])
    page.wait_for_function(
        "() => Number(document.querySelectorAll('input[type=number]')[0].value) > 500"
    )
    numbers = page.locator("input[type=number]")
    fx, fy = float(numbers.nth(0).input_value()), float(numbers.nth(1).input_value())
    assert abs(fx - 0.85 * 741) < 12 and abs(fy - 0.2 * 500) < 12
    # The marker (yellow ring) is drawn where the click landed.
    page.wait_for_timeout(1500)
    pixels = _element_pixels(photo)
    h, w = pixels.shape[:2]
    changed = np.abs(pixels.astype(int) - before.astype(int)).sum(axis=2) > 60
    yellow = (pixels[..., 0] > 200) & (pixels[..., 1] > 170) & (pixels[..., 2] < 90)
    ys, xs = np.nonzero(yellow & changed)  # the marker's new pixels
    assert len(xs) > 20
    assert abs(xs.mean() / w - 0.85) < 0.05 and abs(ys.mean() / h - 0.2) < 0.05
    # The render at the new focus finishes and the page shows the result and its run time.
    page.get_by_text(f"Focus: ({fx:.0f}, {fy:.0f})").wait_for()
    result = page.locator("#depth-result img").first
    result.wait_for()
    shown = _element_pixels(result)
    assert shown.shape[0] > 100 and shown.std() > 10  # an image, not an empty frame
    page.screenshot(path=str(tmp_path / "depth_tab.png"), full_page=True)


def test_leaderboard_shows_the_plot(page):
    page.get_by_role("tab", name="Leaderboard").click()
    page.locator(".js-plotly-plot").first.wait_for()
    assert page.get_by_text("reported elsewhere").first.is_visible()
    assert page.get_by_role("button", name="Download CSV").is_visible()


def test_review_tab_opens(page):
    page.get_by_role("tab", name="Review").click()
    assert page.get_by_role("button", name="Show worst images").is_visible()
    assert page.get_by_text("Worst by").first.is_visible()


def _gallery_count(page, selector: str, n: int) -> None:
    page.wait_for_function(
        f"() => document.querySelectorAll('{selector} img').length >= {n}", timeout=180_000
    )


def test_example_is_cached_lazily_and_feeds_every_tab(page):
    cache = Path(os.environ["GRADIO_EXAMPLES_CACHE"])
    assert not list(cache.rglob("log.csv")), "lazy caching computes nothing at launch"
    page.get_by_text("Cat", exact=True).click()
    page.get_by_text("Depth + lens blur on 451x300").wait_for()
    assert list(cache.rglob("log.csv")), "the first use fills the cache"
    page.get_by_text("Example loaded").wait_for()  # the session holds the example's photo
    # The example's photo is now the session's photo: the Compare tab runs on it.
    page.get_by_role("tab", name="Compare").click()
    page.get_by_role("button", name="Compare all methods").click()
    _gallery_count(page, "#compare-gallery", 6)  # the input + 5 methods
    table = page.locator("#compare-table")
    for label in ("Depth + lens blur", "Pix2Pix", "CycleGAN", "BGGAN"):
        assert table.get_by_text(label).first.is_visible()


@pytest.fixture
def phone(browser, app_url, tmp_path):
    """A phone-sized page (390x844 CSS pixels, touch), as on a current iPhone or Pixel."""
    yield from _open_app(
        browser,
        app_url,
        tmp_path,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )


def _fits(page, locator) -> None:
    box = locator.bounding_box()
    width = page.evaluate("window.innerWidth")
    assert box and box["x"] >= -1 and box["x"] + box["width"] <= width + 1, (box, width)


def test_phone_layout_is_usable(phone, tmp_path):
    page = phone
    no_sideways = "() => document.documentElement.scrollWidth <= window.innerWidth + 1"
    assert page.evaluate(no_sideways), "the page scrolls sideways on a phone"
    page.get_by_text("Motorcycle + measured disparity").click()
    page.get_by_text("Depth + lens blur on 741x500").wait_for()
    page.get_by_text("Example loaded").wait_for()  # the session holds the example's photo
    result = page.locator("#depth-result img").first
    result.wait_for()
    _fits(page, result)
    _fits(page, page.locator("#photo img").first)
    # On a phone the result comes before the settings.
    render = page.get_by_role("button", name="Render", exact=True)
    assert result.bounding_box()["y"] < render.bounding_box()["y"]
    # A tap on the photo moves the focus there.
    photo = page.locator("#photo img").first
    photo.scroll_into_view_if_needed()
    page.wait_for_function(  # the marked photo has replaced the example's and has loaded
        "() => { const i = document.querySelector('#photo img');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    box = photo.bounding_box()
    nat_w, nat_h = photo.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    scale = min(box["width"] / nat_w, box["height"] / nat_h)  # object-fit: contain
    left = (box["width"] - nat_w * scale) / 2
    top = (box["height"] - nat_h * scale) / 2
    photo.tap(position={"x": left + 0.85 * nat_w * scale, "y": top + 0.2 * nat_h * scale})
    page.wait_for_function(
        "() => Number(document.querySelectorAll('input[type=number]')[0].value) > 500"
    )
    assert page.evaluate(no_sideways)
    _open_tab(page, "Compare")
    page.get_by_role("button", name="Compare all methods").click()
    _gallery_count(page, "#compare-gallery", 6)
    _fits(page, page.locator("#compare-gallery").first)
    assert page.evaluate(no_sideways)
    page.screenshot(path=str(tmp_path / "phone_compare.png"), full_page=True)
    _open_tab(page, "Leaderboard")
    page.locator(".js-plotly-plot").first.wait_for()
    _fits(page, page.locator(".js-plotly-plot").first)
    assert page.evaluate(no_sideways)
    _open_tab(page, "Review")
    _fits(page, page.get_by_role("button", name="Show worst images"))
    assert page.evaluate(no_sideways)


def _open_tab(page, name: str) -> None:
    """Tabs that do not fit a phone sit behind the overflow menu; they must still open."""
    tab = page.get_by_role("tab", name=name)
    if not tab.is_visible():
        page.locator(".overflow-menu button, button.overflow-menu").first.click()
        tab = page.get_by_role("tab", name=name).or_(page.get_by_role("button", name=name)).last
    tab.click()

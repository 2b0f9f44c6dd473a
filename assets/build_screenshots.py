"""Screenshots of the app's tabs for the README (needs Debian's chromium and playwright).

    python assets/build_screenshots.py              # all of them
    python assets/build_screenshots.py app          # only the app views (first six below)
    python assets/build_screenshots.py board        # only the leaderboard after a tiny run

Launches the app in-process, then saves
assets/screenshot_first_view.jpg (what a visitor sees on arrival, 1280x800),
assets/screenshot_depth_blur.jpg (the motorcycle example rendered),
assets/screenshot_compare.jpg (every method on it), assets/screenshot_phone.jpg (390x844, after
the cat example), assets/screenshot_phone_first_view.jpg (390x844, on arrival),
assets/screenshot_generator.jpg (the Pix2Pix tab on the cat example, scikit-image's photo
``chelsea``: the result, the line that says how much it changed and the amplified difference),
assets/screenshot_leaderboard.jpg (after a 3-image evaluation started from the page, next to
the bundled reference run; the run and its synthetic scenes go to a temporary folder) and
assets/screenshot_review.jpg (that run, its first method's worst image selected).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import app  # noqa: E402

OUT = Path(__file__).resolve().parent


def _save(png: bytes, name: str, width: int = 1100) -> None:
    im = Image.open(io.BytesIO(png)).convert("RGB")
    im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    im.save(OUT / name, quality=85)
    print(f"wrote {OUT / name}")


def _app_views(browser, url) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(300_000)
    page.goto(url)
    page.get_by_text("click the subject").wait_for()
    page.wait_for_timeout(1500)
    _save(page.screenshot(), "screenshot_first_view.jpg")
    page.get_by_text("Motorcycle + measured disparity").click()
    page.get_by_text("Depth + lens blur on 741x500").wait_for()
    page.wait_for_timeout(2000)
    _save(page.screenshot(full_page=True), "screenshot_depth_blur.jpg")
    page.get_by_role("tab", name="Compare").click()
    page.get_by_role("button", name="Compare all methods").click()
    page.wait_for_function("() => document.querySelectorAll('#compare-gallery img').length >= 6")
    page.wait_for_timeout(2000)
    _save(page.locator("#compare-tab").screenshot(), "screenshot_compare.jpg")
    page.close()
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    ).new_page()
    phone.set_default_timeout(300_000)
    phone.goto(url)
    phone.get_by_text("click the subject").wait_for()
    phone.wait_for_timeout(1500)
    _save(phone.screenshot(), "screenshot_phone_first_view.jpg", width=390)
    phone.get_by_text("Cat", exact=True).click()
    phone.get_by_text("Depth + lens blur on 451x300").wait_for()
    phone.locator("#depth-result").scroll_into_view_if_needed()
    phone.wait_for_timeout(1500)
    _save(phone.screenshot(), "screenshot_phone.jpg", width=390)
    phone.close()
    _generator_view(browser, url)


def _generator_view(browser, url) -> None:
    """The Pix2Pix tab on the cat example: result, change line, amplified difference."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(300_000)
    page.goto(url)
    page.get_by_text("Cat", exact=True).click()
    page.get_by_text("Depth + lens blur on 451x300").wait_for()
    page.get_by_role("tab", name="Pix2Pix").click()
    page.get_by_role("button", name="Render with Pix2Pix").click()
    page.locator("#pix2pix-info").get_by_text("grey levels on average").wait_for()
    page.locator("#pix2pix-diff img").first.wait_for()
    page.wait_for_timeout(2000)
    page.locator("#pix2pix-result").scroll_into_view_if_needed()
    _save(page.screenshot(full_page=True), "screenshot_generator.jpg")
    page.close()


def _board_view(browser, url) -> None:
    """The Leaderboard after a 3-image run started from the page, beside the reference run."""
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.set_default_timeout(600_000)
    page.goto(url)
    page.get_by_role("tab", name="Leaderboard").click()
    page.locator("#board-plot .js-plotly-plot").wait_for()
    page.get_by_text("Run an evaluation").click()
    # The page load's refresh of the form (datasets, methods, the data note) has landed.
    page.locator("#leaderboard-tab").get_by_text("(available; splits").first.wait_for()
    for box in page.locator("#leaderboard-tab input[type=checkbox]").all():
        name = box.evaluate("e => e.closest('label').innerText.trim()")
        if box.is_checked() != (name in ("identity", "depth-gauss-0.25", "depth-lens")):
            box.click()
    page.get_by_label("Images (empty = all)").fill("3")
    checked = page.locator("#leaderboard-tab input[type=checkbox]:checked").count()
    assert checked == 3, f"{checked} methods checked"
    page.get_by_role("button", name="Run evaluation").click()
    page.locator("#eval-status").get_by_text("complete: 3 of 3 images").wait_for()
    page.wait_for_function(
        "() => !document.querySelector('#board-table').innerText.includes('running')"
    )
    # One method in every image set: each row ranked within its own set, with its n.
    page.locator("#board-table input[placeholder^='Search']").fill("identity")
    page.wait_for_timeout(2500)
    _save(page.locator("#leaderboard-tab").screenshot(), "screenshot_leaderboard.jpg")
    page.close()


def _review_view(browser, url) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    page.goto(url)
    page.get_by_role("tab", name="Review").click()
    page.wait_for_function("() => document.querySelector('#review-run input').value !== ''")
    page.get_by_role("button", name="Show worst images").click()
    page.locator("#review-gallery img").first.wait_for()
    page.locator("#review-gallery img").first.click()
    page.get_by_text("Output / ground truth").wait_for()
    page.wait_for_timeout(2000)
    page.locator("#review-reviewer textarea, #review-reviewer input").first.fill("team")
    page.locator("#review-note textarea").first.fill("Blur stops short of the object's edge.")
    page.get_by_role("button", name="Save review").click()
    page.locator("#review-notes [role=gridcell]").filter(has_text="Blur stops").first.wait_for()
    page.wait_for_timeout(1500)
    _save(page.locator("#review-tab").screenshot(), "screenshot_review.jpg")
    page.close()


def main() -> None:
    from playwright.sync_api import sync_playwright

    parts = sys.argv[1:] or ["app", "board"]
    scratch = tempfile.mkdtemp(prefix="bokeh-screens-")  # the page's run and its scenes
    os.environ["BOKEH_RESULTS_DIR"] = os.path.join(scratch, "results")
    os.environ["BOKEH_DATA_DIR"] = os.path.join(scratch, "data")
    os.environ["BOKEH_REALDATA"] = os.path.join(scratch, "no-real-photos")  # no local paths
    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, **app.launch_kwargs())
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            if "app" in parts:
                _app_views(browser, url)
            if "board" in parts:
                _board_view(browser, url)
                _review_view(browser, url)
            browser.close()
    finally:
        demo.close()


if __name__ == "__main__":
    main()

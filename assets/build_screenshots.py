"""Screenshots of the app's tabs for the README (needs Debian's chromium and playwright).

    python assets/build_screenshots.py

    python assets/build_screenshots.py app      # only the first four below

Launches the app in-process on the current results directory, then saves
assets/screenshot_first_view.jpg (what a visitor sees on arrival, 1280x800),
assets/screenshot_depth_blur.jpg (the motorcycle example rendered),
assets/screenshot_compare.jpg (every method on it), assets/screenshot_phone.jpg (390x844),
assets/screenshot_leaderboard.jpg and assets/screenshot_review.jpg (the newest complete run,
its first method's worst image selected).
"""

from __future__ import annotations

import io
import os
import sys
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
    phone.get_by_text("Cat", exact=True).click()
    phone.get_by_text("Depth + lens blur on 451x300").wait_for()
    phone.locator("#depth-result").scroll_into_view_if_needed()
    phone.wait_for_timeout(1500)
    _save(phone.screenshot(), "screenshot_phone.jpg", width=390)


def main() -> None:
    from playwright.sync_api import sync_playwright

    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, **app.launch_kwargs())
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            _app_views(browser, url)
            if sys.argv[1:] == ["app"]:
                return
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(url)
            page.get_by_role("tab", name="Leaderboard").click()
            page.locator(".js-plotly-plot").first.wait_for()
            page.wait_for_timeout(2500)
            tab = page.locator("#leaderboard-tab")
            _save(tab.screenshot(), "screenshot_leaderboard.jpg")

            page.get_by_role("tab", name="Review").click()
            page.locator("#review-run").click()
            page.get_by_role("option").first.click()
            page.wait_for_timeout(1500)
            page.get_by_role("button", name="Show worst images").click()
            page.locator("#review-gallery img").first.wait_for()
            page.locator("#review-gallery img").first.click()
            page.locator("#review-reviewer textarea, #review-reviewer input").first.fill("team")
            page.locator("#review-note textarea").first.fill(
                "Blur stops short of the object's edge."
            )
            page.get_by_role("button", name="Save review").click()
            page.wait_for_timeout(4000)
            _save(page.locator("#review-tab").screenshot(), "screenshot_review.jpg")
            browser.close()
    finally:
        demo.close()


if __name__ == "__main__":
    main()

"""Screenshots of the app's tabs for the README (needs Debian's chromium and playwright).

    python assets/build_screenshots.py

Launches the app in-process on the current results directory, then saves
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


def main() -> None:
    from playwright.sync_api import sync_playwright

    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, **app.launch_kwargs())
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
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
                "Blur stops short of the object's edge.")
            page.get_by_role("button", name="Save review").click()
            page.wait_for_timeout(4000)
            _save(page.locator("#review-tab").screenshot(), "screenshot_review.jpg")
            browser.close()
    finally:
        demo.close()


if __name__ == "__main__":
    main()

"""Figures of real photos for people to look at, built into the git-ignored data folder.

    python assets/build_real_figures.py [--out DIR]

For one VABD night scene (test/0099) and one daytime scene (train/0002): the f/16 input,
depth-lens at f/1.8 with default settings (the dataset's depth, the focal-mask focus, input
f/16, as ``python -m eval realbench`` runs it), the same with the blur scale fitted to the real
photo (the best PSNR over a few multiples of the default scale: how the bright discs look once
the scale matches), and the real f/1.8 photo, side by side with their PSNR.

The photos are third-party research data read in place from ``../shared/realdata``
(``BOKEH_REALDATA``); the figures are derivatives of them, so they are written to
``<data dir>/real_figures`` (default ``./data``, git-ignored) and never into the repository.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bokeh.config import data_dir, realdata_dir  # noqa: E402
from bokeh.data.vabm import load_vabm  # noqa: E402
from bokeh.imaging import from_uint8, to_uint8  # noqa: E402
from bokeh.pipelines.depth_blur import focus_disparity  # noqa: E402
from bokeh.registry import load_method  # noqa: E402
from bokeh.renderers.highlights import highlight_gain  # noqa: E402
from bokeh.renderers.lens import render_lens  # noqa: E402
from eval.metrics import psnr  # noqa: E402

SCENES = {"test/0099@f1.8": "vabd_0099_night", "train/0002@f1.8": "vabd_0002_day"}
SCALES = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
PANEL_WIDTH = 768


def _fitted(pair, default) -> tuple[np.ndarray, float]:
    """The render whose strength (a multiple of the default's) scores best against the photo."""
    image = from_uint8(pair.input)
    d_f = focus_disparity(pair.depth, pair.focus)
    best = None
    for m in SCALES:
        out = to_uint8(
            render_lens(
                image,
                pair.depth,
                focus_disparity=d_f,
                strength=default.info["strength"] * m,
                band=0.03,
                highlight_gain=lambda im, coc: highlight_gain(im, coc, boost=1.0),
            )
        )
        score = float(psnr(out, pair.target, data_range=255)[0])
        if best is None or score > best[1]:
            best = (out, score, m)
    return best[0], best[2]


def _panel(image: np.ndarray, caption: str) -> Image.Image:
    im = Image.fromarray(image)
    im = im.resize((PANEL_WIDTH, round(im.height * PANEL_WIDTH / im.width)), Image.LANCZOS)
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, PANEL_WIDTH, 22), fill=(0, 0, 0))
    draw.text((6, 5), caption, fill=(255, 255, 255))
    return im


def build(out_dir: Path) -> list[Path]:
    pairs = load_vabm(realdata_dir() / "vabd", "all@1.8")
    by_key = {k: i for i, k in enumerate(pairs.keys)}
    lens = load_method("depth-lens")
    written = []
    for key, name in SCENES.items():
        pair = pairs[by_key[key]]
        result = lens(
            from_uint8(pair.input),
            focus=pair.focus,
            depth=pair.depth,
            fnumber=1.8,
            input_fnumber=16.0,
        )
        render = to_uint8(result.image)
        fitted, mult = _fitted(pair, result)

        def score(a, target=pair.target):
            return f"{float(psnr(a, target, data_range=255)[0]):.2f} dB"

        panels = [
            _panel(pair.input, f"{key}: input, f/16 ({score(pair.input)})"),
            _panel(render, f"depth-lens, defaults ({score(render)})"),
            _panel(fitted, f"blur scale fitted: {mult:g}x the default's ({score(fitted)})"),
            _panel(pair.target, "real photo, f/1.8"),
        ]
        sheet = Image.new("RGB", (2 * PANEL_WIDTH, 2 * panels[0].height))
        for k, p in enumerate(panels):
            sheet.paste(p, ((k % 2) * PANEL_WIDTH, (k // 2) * p.height))
        path = out_dir / f"{name}.jpg"
        sheet.save(path, quality=90)
        written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="folder (default: <data dir>/real_figures)")
    args = parser.parse_args()
    if not (realdata_dir() / "vabd").is_dir():
        print(
            f"error: no VABD photos at {realdata_dir() / 'vabd'} (set BOKEH_REALDATA).",
            file=sys.stderr,
        )
        return 2
    out_dir = Path(args.out) if args.out else data_dir() / "real_figures"
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in build(out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

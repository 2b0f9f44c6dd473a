"""One synthetic holdout scene through every method, side by side, with the ground truth.

    python assets/build_comparison.py [--id 3]

Writes assets/comparison_all_methods.jpg: input | depth-lens | pix2pix | CycleGAN | BGGAN |
ground truth, each captioned with its PSNR against the ground truth. The generators use the
bundled demo weights (trained on synthetic scenes), so a synthetic scene is the fair input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bokeh  # noqa: E402
from bokeh.imaging import from_uint8, to_uint8  # noqa: E402
from bokeh.registry import get_method, method_specs  # noqa: E402
from eval.datasets import open_dataset  # noqa: E402
from eval.score import score_pair  # noqa: E402

# The lens renderer and every translation method, as the app labels them.
SHOWN = [get_method("depth-lens"), *method_specs(kind="translation", variants=False)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", type=int, default=3, help="holdout scene index")
    args = parser.parse_args()
    data = open_dataset("synth", "holdout")
    item = data[args.id]
    image = from_uint8(item.input)
    tiles = [(item.input, "input")]
    for spec in SHOWN:
        name, label = spec.name, spec.ui_label
        out = bokeh.load_method(name)(image, focus=item.focus if spec.kind == "depth" else None)
        pred = to_uint8(out.image)
        tiles.append((pred, f"{label}  {score_pair(pred, item.gt)['psnr']:.1f} dB"))
    tiles.append((item.gt, "ground truth (f/1.8)"))
    h, w = item.input.shape[:2]
    sheet = Image.new("RGB", (len(tiles) * (w + 6), h + 22), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (pixels, caption) in enumerate(tiles):
        sheet.paste(Image.fromarray(np.asarray(pixels)), (i * (w + 6), 22))
        draw.text((i * (w + 6) + 4, 5), caption, fill="black")
    out_path = Path(__file__).resolve().parent / "comparison_all_methods.jpg"
    sheet.save(out_path, quality=90)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()

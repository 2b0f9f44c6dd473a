"""Rebuild the example files in assets/examples from what scikit-image ships.

    python assets/build_examples.py

motorcycle.png            Middlebury motorcycle (left view), scikit-image `data.stereo_motorcycle`
motorcycle_disparity.png  its measured disparity, holes filled, normalised, 16-bit (1 = nearest)
motorcycle_lens.png       depth-lens render focused on the engine (f/1.8, defaults)
../motorcycle_triptych.jpg  photo | measured disparity | that render, for the README
cat.png                   scikit-image `data.chelsea` (CC0, Stefan van der Walt)
coffee.png                scikit-image `data.coffee` (CC0, Rachel Michetti)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bokeh  # noqa: E402
from bokeh.data.synth import motorcycle_sample  # noqa: E402
from bokeh.imaging import save_png, to_uint8  # noqa: E402
from bokeh.service import colorize_disparity  # noqa: E402

OUT = Path(__file__).resolve().parent / "examples"
FOCUS = (300, 250)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    sample = motorcycle_sample()
    save_png(sample.image, OUT / "motorcycle.png")
    Image.fromarray(np.round(sample.disparity * 65535).astype(np.uint16)).save(
        OUT / "motorcycle_disparity.png"
    )
    result = bokeh.load_method("depth-lens")(sample.image, focus=FOCUS, depth=sample.disparity)
    save_png(result.image, OUT / "motorcycle_lens.png")
    _triptych(sample.image, sample.disparity, result.image, OUT.parent / "motorcycle_triptych.jpg")
    for name, fetch in (("cat", data.chelsea), ("coffee", data.coffee)):
        Image.fromarray(fetch()).save(OUT / f"{name}.png", optimize=True)
    print(f"wrote {OUT}; render took {result.info['seconds']:.2f} s")


def _triptych(photo, disparity, render, path: Path, height: int = 333, gap: int = 8) -> None:
    panels = [to_uint8(photo), colorize_disparity(disparity), to_uint8(render)]
    width = round(photo.shape[1] * height / photo.shape[0])
    sheet = Image.new("RGB", (3 * width + 2 * gap, height), (255, 255, 255))
    for k, panel in enumerate(panels):
        im = Image.fromarray(panel).resize((width, height), Image.LANCZOS)
        sheet.paste(im, (k * (width + gap), 0))
    sheet.save(path, quality=88)


if __name__ == "__main__":
    main()

"""The README's lens character and refine pictures, from the shipped motorcycle example.

    python assets/build_lens_pictures.py

lens_characters.jpg      the top right of the motorcycle (lights on the shelves behind it) at
                         f/1.0 focused on the engine, once per lens character: round, 6 blades
                         at 20 degrees, cat-eye 1, soap bubble 1, ring 0.6, colour fringes 1
refine_before_after.jpg  the same crop at f/1.4: the render | one refine "focus" stroke over
                         boxes on the shelf (green) | the render with it: they are as sharp as
                         the photo, the rest unchanged

The photo and its measured disparity are assets/examples (scikit-image's Middlebury motorcycle,
see assets/build_examples.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bokeh  # noqa: E402
from bokeh.editing import FOCUS_COLOR, parse_refine, rasterize  # noqa: E402
from bokeh.imaging import to_uint8  # noqa: E402

HERE = Path(__file__).resolve().parent
FOCUS = (300, 250)  # the engine
CROP = (330, 0, 741, 210)  # x0, y0, x1, y1: the lights on the shelves, up to the frame corner
CHARACTERS = [
    ("round", {}),
    ("6 blades, 20 deg", {"blades": 6, "rotation": 20.0}),
    ("cat-eye 1", {"cat_eye": 1.0}),
    ("soap bubble 1", {"bubble": 1.0}),
    ("ring 0.6", {"ring": 0.6}),
    ("colour fringes 1", {"chromatic_aberration": 1.0}),
]
STROKE = {"mode": "focus", "size": 70, "points": [[560, 45], [640, 70]]}


def _load() -> tuple[np.ndarray, np.ndarray]:
    examples = HERE / "examples"
    photo = np.asarray(Image.open(examples / "motorcycle.png").convert("RGB"), np.float32) / 255
    disparity = np.asarray(Image.open(examples / "motorcycle_disparity.png"), np.float32) / 65535
    return photo, disparity


def _labelled(panel: np.ndarray, text: str) -> Image.Image:
    image = Image.fromarray(panel)
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(size=18)
    box = draw.textbbox((8, 6), text, font=font)
    draw.rectangle((box[0] - 4, box[1] - 3, box[2] + 4, box[3] + 3), fill=(0, 0, 0))
    draw.text((8, 6), text, fill=(255, 255, 255), font=font)
    return image


def _sheet(panels: list[Image.Image], columns: int, gap: int = 6) -> Image.Image:
    w, h = panels[0].size
    rows = -(-len(panels) // columns)
    sheet = Image.new("RGB", (columns * w + (columns - 1) * gap, rows * h + (rows - 1) * gap),
                      (255, 255, 255))  # fmt: skip
    for i, panel in enumerate(panels):
        sheet.paste(panel, ((i % columns) * (w + gap), (i // columns) * (h + gap)))
    return sheet


def characters(pipe, photo, disparity) -> Image.Image:
    x0, y0, x1, y1 = CROP
    panels = []
    for label, settings in CHARACTERS:
        out = pipe(photo, depth=disparity, focus=FOCUS, fnumber=1.0, highlight_boost=2.0,
                   **settings)  # fmt: skip
        panels.append(_labelled(to_uint8(out.image)[y0:y1, x0:x1], label))
    return _sheet(panels, 3)


def refine(pipe, photo, disparity) -> Image.Image:
    common = {"depth": disparity, "focus": FOCUS, "fnumber": 1.4}
    before = to_uint8(pipe(photo, **common).image)
    after = to_uint8(pipe(photo, refine=[STROKE], **common).image)
    mask = rasterize(parse_refine([STROKE]).strokes, photo.shape[:2])[..., None]
    painted = before * (1 - 0.6 * mask) + 0.6 * mask * np.float32(FOCUS_COLOR)
    panels = [(before, "before"), (painted.astype(np.uint8), "refine: focus stroke"),
              (after, "after")]  # fmt: skip
    x0, y0, x1, y1 = CROP
    return _sheet([_labelled(p[y0:y1, x0:x1], t) for p, t in panels], 3)


def main() -> None:
    photo, disparity = _load()
    pipe = bokeh.load_method("depth-lens")
    characters(pipe, photo, disparity).save(HERE / "lens_characters.jpg", quality=88)
    refine(pipe, photo, disparity).save(HERE / "refine_before_after.jpg", quality=88)
    print(f"wrote {HERE / 'lens_characters.jpg'} and {HERE / 'refine_before_after.jpg'}")


if __name__ == "__main__":
    main()

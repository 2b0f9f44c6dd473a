"""Pictures of the depth and the lens for people (numpy and PIL; no torch, no matplotlib).

- :func:`colorize_disparity`: the depth map in colour (near = bright).
- :func:`depth_overlay`: *Visualize depth*: those colours over the photo at an opacity, the
  in-focus range tinted green with its outline (like focus peaking).
- :func:`depth_histogram`: how much of the photo lies at each depth, with the in-focus range,
  the falloff ramps and the focal plane marked.
- :func:`kernel_preview`: the blur spot of the lens at the frame's centre and in its corner.
- :func:`draw_box`: a box (the focus range) drawn on the photo.

The per-pixel loops are compiled (:mod:`bokeh.depthviews_native`, numba, imported on first use).

Every function returns a new (H, W, 3) uint8 image.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bokeh import lazy
from bokeh.renderers.character import PLAIN, Character, character_kernel, frame_position
from bokeh.rowbands import in_bands

IN_FOCUS = np.array([64, 255, 64], np.float32)  # green: what stays sharp
PLANE = (255, 214, 0)  # the focal plane (the focus marker's yellow)
_TINT = np.float32(0.45) * IN_FOCUS  # what the in-focus range takes of the green

_STOPS = np.array(
    [  # a dark-to-bright perceptual ramp (far = dark, near = bright)
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float32,
)


def colorize_disparity(disparity: np.ndarray) -> np.ndarray:
    """(H, W) normalised disparity in [0, 1] -> (H, W, 3) uint8 colour image (near = bright;
    NaN as 0, the rest clipped to [0, 1]; computed in float32)."""
    disparity = np.asarray(disparity, np.float32)
    out = np.empty(disparity.shape + (3,), np.uint8)
    lazy.load("bokeh.depthviews_native:colours")(_STOPS, disparity, out)  # numba: on first use
    return out


def depth_overlay(pixels: np.ndarray, disparity: np.ndarray, *, opacity: float = 1.0,
                  in_focus: tuple[float, float] | None = None,
                  threads: int | None = None) -> np.ndarray:  # fmt: skip
    """*Visualize depth*: the coloured (H, W) disparity over the (H, W, 3) uint8 photo.

    Args:
        opacity: 1 shows the depth colours only, 0 the photo only.
        in_focus: (lo, hi) disparity range that stays sharp: tinted green and outlined; None:
            nothing marked.
        threads: bands of rows drawn at once (None: one per CPU); the same bytes for any.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must lie in [0, 1], got {opacity}")
    if pixels.shape[:2] != disparity.shape:
        raise ValueError(f"photo {pixels.shape[:2]} and depth {disparity.shape} differ in size")
    lo, hi = in_focus if in_focus is not None else (0.0, 0.0)
    out = np.empty(pixels.shape[:2] + (3,), np.uint8)
    photo = np.ascontiguousarray(pixels, np.uint8)
    depth = np.ascontiguousarray(disparity, np.float32)
    tables = lazy.load("bokeh.depthviews_native:overlay_tables")(
        np.float32(1 - opacity), float(opacity), _TINT
    )
    draw = lazy.load("bokeh.depthviews_native:overlay")
    marked, lo, hi = in_focus is not None, np.float32(lo), np.float32(hi)
    in_bands(lambda y0, y1: draw(_STOPS, photo, depth, *tables, marked, lo, hi, IN_FOCUS, y0,
                                  y1, out), depth.shape[0], threads)  # fmt: skip
    return out


def warm_up() -> None:
    """Compile the loops of *Visualize depth* and the histogram now (on a new machine; then
    they load from numba's disk cache): every render with a depth map draws both."""
    disparity = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    depth_overlay(np.zeros((4, 4, 3), np.uint8), disparity, in_focus=(0.2, 0.6))
    colorize_disparity(disparity)
    depth_histogram(disparity)


def depth_histogram(disparity: np.ndarray, *, in_focus: tuple[float, float] | None = None,
                    plane: float | None = None, falloff: float = 0.0, width: int = 320,
                    height: int = 110, bins: int = 64,
                    threads: int | None = None) -> np.ndarray:  # fmt: skip
    """A (height, width, 3) uint8 histogram of (H, W) disparity in [0, 1], far on the left and
    near on the right (bar heights: square root of the pixel share, so small layers show).
    The in-focus range (lo, hi) is shaded green with its bars green, the falloff ramps (that
    much disparity beyond each edge) shaded fading out, the focal plane drawn in yellow.
    ``threads``: bands of rows counted at once (None: one per CPU)."""
    edges = np.linspace(0, 1, bins + 1, dtype=np.float32)
    depth = np.ascontiguousarray(disparity, np.float32)
    count = lazy.load("bokeh.depthviews_native:histogram")

    def band(y0: int, y1: int) -> np.ndarray:  # np.histogram's bins of [0, 1], NaN left out
        counts = np.zeros(bins, np.int64)
        count(depth[y0:y1], edges, counts)
        return counts

    counts = np.sum(in_bands(band, depth.shape[0], threads), axis=0)
    bars = np.sqrt(counts / max(counts.max(), 1))
    top, bottom = 4, height - 16  # room for the labels below
    img = np.full((height, width, 3), 28, np.float32)
    x = np.linspace(0.0, 1.0, width, endpoint=False) + 0.5 / width  # disparity per column
    if in_focus is not None:
        lo, hi = in_focus
        shade = ((x >= lo) & (x <= hi)).astype(np.float32)
        if falloff > 0:
            past = np.maximum(lo - x, x - hi)
            shade = np.maximum(shade, np.clip(1 - past / falloff, 0, 1) * (past > 0) * 0.6)
        img[top:bottom] += (shade[:, None] * 0.22 * (IN_FOCUS - 28))[None]
    level = bottom - np.round(bars[np.minimum((x * bins).astype(int), bins - 1)] * (bottom - top))
    rows = np.arange(height)[:, None]
    filled = (rows >= level[None]) & (rows < bottom)
    colour = np.where(
        ((x >= in_focus[0]) & (x <= in_focus[1]))[:, None] if in_focus else np.zeros((width, 1), bool),
        IN_FOCUS, np.float32([170, 170, 170]),
    )  # fmt: skip
    img = np.where(filled[..., None], colour[None], img)
    if plane is not None:
        col = int(np.clip(round(plane * (width - 1)), 0, width - 1))
        img[top:bottom, max(col - 1, 0) : col + 1] = PLANE
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw, font = ImageDraw.Draw(out), ImageFont.load_default(size=11)
    draw.text((2, bottom + 1), "far", fill=(200, 200, 200), font=font)
    draw.text((width - 2, bottom + 1), "near", fill=(200, 200, 200), font=font, anchor="ra")
    return np.asarray(out).copy()


def _spot_picture(radius: float, size: int, *, blades, rotation, character: Character,
                  position: tuple[float, float]) -> np.ndarray:  # fmt: skip
    half = size // 2
    channels = []
    for scale in character.channel_scales(front=False):
        k = character_kernel(radius * scale, blades=blades, rotation=rotation,
                             character=character, position=position, half=half)  # fmt: skip
        channels.append(k[: 2 * half + 1, : 2 * half + 1])
    spot = np.stack(channels, axis=-1)[:size, :size]
    spot = spot / max(float(spot.max()), 1e-12)
    return (np.clip(spot, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)


def kernel_preview(*, blades: int = 0, rotation: float = 0.0, character: Character = PLAIN,
                   frame: tuple[int, int] = (2, 3), size: int = 96) -> np.ndarray:  # fmt: skip
    """The blur spot of one out-of-focus light (behind the focal plane) at the centre of an
    (H, W) ``frame`` (only its shape matters) and in its bottom-right corner, side by side:
    (size + 14, 2 size + 6, 3) uint8, labelled. Brightness is scaled to each spot's peak."""
    h, w = frame
    corner = tuple(float(v) for v in frame_position(h - 1, w - 1, (h, w)))
    radius = 0.4 * size
    lens = {"blades": blades, "rotation": rotation, "character": character}
    pictures = [_spot_picture(radius, size, position=p, **lens) for p in ((0.0, 0.0), corner)]
    out = np.full((size + 14, 2 * size + 6, 3), 20, np.uint8)
    out[:size, :size], out[:size, size + 6 :] = pictures
    image = Image.fromarray(out)
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(size=10)
    for i, text in enumerate(("centre", "corner")):
        draw.text((i * (size + 6) + size // 2, size + 1), text, fill=(190, 190, 190), font=font,
                  anchor="ma")  # fmt: skip
    return np.asarray(image).copy()


def draw_box(pixels: np.ndarray, box, *, corner: tuple[float, float] | None = None) -> np.ndarray:
    """A copy of (H, W, 3) uint8 ``pixels`` with ``box`` (x0, y0, x1, y1; None: no box) drawn
    in the focus marker's yellow on a dark outline, and ``corner`` (a box's first click) as a
    small cross."""
    h, w = pixels.shape[:2]
    image = Image.fromarray(np.ascontiguousarray(pixels))
    draw = ImageDraw.Draw(image)
    width = max(2, round(0.006 * min(h, w)))
    if box is not None:
        x0, y0, x1, y1 = (float(v) for v in box)
        draw.rectangle((x0, y0, x1, y1), outline=(0, 0, 0), width=width + 2)
        draw.rectangle((x0, y0, x1, y1), outline=PLANE, width=width)
    if corner is not None:
        x, y = corner
        r = max(6.0, 0.02 * min(h, w))
        for fill, grow in (((0, 0, 0), 2), (PLANE, 0)):
            draw.line((x - r, y, x + r, y), fill=fill, width=width + grow)
            draw.line((x, y - r, x, y + r), fill=fill, width=width + grow)
    return np.asarray(image).copy()


__all__ = [
    "colorize_disparity",
    "depth_histogram",
    "depth_overlay",
    "draw_box",
    "kernel_preview",
]

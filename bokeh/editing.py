"""A photographer's depth edits: a focus range from a box, and refine strokes (numpy only).

- **Focus range** (:func:`focus_range`): a box on the photo whose depth must stay sharp. The
  focal plane and the in-focus band come from the disparity inside it: its 2nd to 98th
  percentiles (a few stray pixels of another layer do not count), widened by 5% of that range
  on each side, so the whole boxed layer lies inside the band.
- **Refine** (:func:`apply_refine`): painted corrections of the depth used. A signed mask in
  [-1, 1] (+: "focus", pull the region onto the focal plane; -: "blur", push it away from the
  plane to the far end of the disparity range on its side, 0 or 1; regions inside the in-focus
  band go to whichever end lies farther from the plane) times a strength. At full strength a
  "focus" region sits exactly on the focal plane: it renders as sharp as the input. The mask
  comes from strokes (:class:`Stroke`, what the API and the command line take) or from a
  painted image layer (:func:`mask_from_layer`, what the app's brush gives).

Coordinates are pixels of the working image (x to the right, y down).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bokeh.errors import BokehError, brief

RANGE_PERCENTILES = (2.0, 98.0)
RANGE_MARGIN = 0.05  # of the percentile range, added on each side
MODES = ("focus", "blur")
MAX_STROKES = 500
MAX_POINTS = 20_000  # over all strokes
MAX_BRUSH = 2048  # brush diameter, pixels
FOCUS_COLOR = (0, 200, 83)  # the app's brush colours (green pulls into focus, magenta blurs)
BLUR_COLOR = (233, 30, 99)


# ----------------------------------------------------------------------------- focus range


def parse_box(value: Any, name: str = "focus_range") -> tuple[float, float, float, float] | None:
    """A box ``[x0, y0, x1, y1]`` (list, tuple, or text "x0,y0,x1,y1") as ordered floats
    (x0 <= x1, y0 <= y1), or None for None / "" / []; BokehError otherwise."""
    if value is None or (isinstance(value, (str, list, tuple)) and len(value) == 0):
        return None
    if isinstance(value, str):
        if len(value) > 200:
            raise BokehError(f"{name} must be four numbers x0,y0,x1,y1; got {brief(value)}.")
        value = value.strip().strip("[]()").replace(";", ",").split(",")
        if value == [""]:
            return None
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError, OverflowError):
        raise BokehError(f"{name} must be four numbers x0,y0,x1,y1; got {brief(value)}.") from None
    if len(numbers) != 4 or not all(math.isfinite(v) for v in numbers):
        raise BokehError(f"{name} must be four finite numbers x0,y0,x1,y1; got {brief(value)}.")
    x0, y0, x1, y1 = numbers
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


@dataclass(frozen=True)
class FocusRange:
    """The focal plane and in-focus band set by a box (disparity units), and the disparity
    range ``lo..hi`` the band covers."""

    box: tuple[float, float, float, float]
    plane: float
    band: float
    lo: float
    hi: float

    def as_json(self) -> dict[str, Any]:
        return {"box": list(self.box), "plane": round(self.plane, 4), "band": round(self.band, 4)}


def focus_range(disparity: np.ndarray, box) -> FocusRange:
    """The :class:`FocusRange` of ``box`` (x0, y0, x1, y1 in pixels, inclusive) on an (H, W)
    normalised disparity map; BokehError when the box leaves the image."""
    h, w = disparity.shape
    x0, y0, x1, y1 = parse_box(box) or (None,) * 4
    if x0 is None:
        raise BokehError("focus_range needs a box x0,y0,x1,y1.")
    if x0 < 0 or y0 < 0 or x1 > w - 1 or y1 > h - 1:
        raise BokehError(f"Focus range ({x0:g}, {y0:g}, {x1:g}, {y1:g}) leaves the {w}x{h} "
                         f"image; x must be in 0..{w - 1} and y in 0..{h - 1}.")  # fmt: skip
    rows = slice(int(math.floor(y0)), int(math.ceil(y1)) + 1)
    cols = slice(int(math.floor(x0)), int(math.ceil(x1)) + 1)
    lo, hi = (float(v) for v in np.percentile(disparity[rows, cols], RANGE_PERCENTILES))
    margin = RANGE_MARGIN * (hi - lo)
    lo, hi = max(lo - margin, 0.0), min(hi + margin, 1.0)
    return FocusRange((x0, y0, x1, y1), (lo + hi) / 2, (hi - lo) / 2, lo, hi)


# ----------------------------------------------------------------------------- refine


@dataclass(frozen=True)
class Stroke:
    """One brush stroke: ``mode`` "focus" or "blur", brush diameter ``size`` in pixels, and
    the points it passes through ((x, y) pixels; one point is a dab)."""

    mode: str
    size: float
    points: tuple[tuple[float, float], ...]

    def as_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "size": self.size, "points": [list(p) for p in self.points]}


@dataclass(frozen=True, eq=False)
class Refine:
    """Refine edits: strokes, or a painted signed mask ((H, W) float32 in [-1, 1])."""

    strokes: tuple[Stroke, ...] = ()
    mask: np.ndarray | None = None

    def signed_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """The edits as an (H, W) float32 mask in [-1, 1] (+ focus, - blur)."""
        if self.mask is not None:
            if self.mask.shape != tuple(shape):
                raise BokehError(f"The refine mask is {self.mask.shape[1]}x{self.mask.shape[0]}"
                                 f", the photo {shape[1]}x{shape[0]}.")  # fmt: skip
            out = self.mask
        else:
            out = np.zeros(shape, np.float32)
        return rasterize(self.strokes, shape, out=out.copy()) if self.strokes else out

    def as_json(self) -> Any:
        if self.mask is not None:
            painted = float(np.count_nonzero(self.mask)) / self.mask.size
            return {"mask": f"painted, {painted:.1%} of the photo",
                    "strokes": [s.as_json() for s in self.strokes]}  # fmt: skip
        return [s.as_json() for s in self.strokes]


def _stroke(item: Any, i: int) -> Stroke:
    where = f"refine stroke {i + 1}"
    if not isinstance(item, dict):
        raise BokehError(f"{where} must be an object {{mode, size, points}}; got {brief(item)}.")
    mode = item.get("mode")
    if mode not in MODES:
        raise BokehError(f"{where}: mode must be focus or blur; got {brief(mode)}.")
    try:
        size = float(item.get("size", 0))
        points = tuple((float(p[0]), float(p[1])) for p in item.get("points") or ())
    except (TypeError, ValueError, IndexError, KeyError, OverflowError):
        raise BokehError(f"{where}: size is a number and points a list of [x, y].") from None
    if not (math.isfinite(size) and 1 <= size <= MAX_BRUSH):
        raise BokehError(f"{where}: size (brush diameter, px) must be 1..{MAX_BRUSH}; got "
                         f"{brief(item.get('size'))}.")  # fmt: skip
    if not points or not all(math.isfinite(v) for p in points for v in p):
        raise BokehError(f"{where} needs at least one point [x, y] of finite numbers.")
    return Stroke(mode, size, points)


def parse_refine(value: Any, name: str = "refine") -> Refine | None:
    """Refine edits from a list of strokes (or its JSON text), an (H, W) signed mask array,
    or a :class:`Refine`; None for None / "" / []; BokehError otherwise."""
    if value is None or isinstance(value, Refine):
        return value
    if isinstance(value, np.ndarray):
        if value.ndim != 2 or not np.issubdtype(value.dtype, np.floating):
            raise BokehError(f"{name} mask must be an (H, W) float array; got {value.shape}.")
        if not np.isfinite(value).all() or np.abs(value).max(initial=0) > 1:
            raise BokehError(f"{name} mask values must lie in [-1, 1].")
        return Refine(mask=value.astype(np.float32)) if value.any() else None
    if isinstance(value, str):
        if not value.strip():
            return None
        if len(value) > 2_000_000:
            raise BokehError(f"{name} is too long ({len(value)} characters).")
        try:
            value = json.loads(value)
        except ValueError:
            raise BokehError(
                f"{name} must be a JSON list of strokes; got {brief(value)}."
            ) from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise BokehError(f"{name} must be a list of strokes {{mode, size, points}}; got "
                         f"{brief(value)}.")  # fmt: skip
    if len(value) > MAX_STROKES:
        raise BokehError(f"{name} holds {len(value)} strokes; at most {MAX_STROKES}.")
    strokes = tuple(_stroke(item, i) for i, item in enumerate(value))
    if sum(len(s.points) for s in strokes) > MAX_POINTS:
        raise BokehError(f"{name} holds more than {MAX_POINTS} points.")
    return Refine(strokes) if strokes else None


def rasterize(strokes, shape: tuple[int, int], *, out: np.ndarray | None = None) -> np.ndarray:
    """Paint strokes, in order, into an (H, W) float32 signed mask (+1 focus, -1 blur; later
    strokes cover earlier ones; edges anti-aliased over one pixel); ``out`` is painted over."""
    h, w = shape
    mask = np.zeros((h, w), np.float32) if out is None else out
    for stroke in strokes:
        sign = 1.0 if stroke.mode == "focus" else -1.0
        r = stroke.size / 2
        pts = np.asarray(stroke.points, np.float64)
        segments = zip(pts, pts[1:], strict=False) if len(pts) > 1 else [(pts[0], pts[0])]
        cover = np.zeros((h, w), np.float32)
        for a, b in segments:
            x0, x1 = (
                int(math.floor(min(a[0], b[0]) - r - 1)),
                int(math.ceil(max(a[0], b[0]) + r + 1)),
            )
            y0, y1 = (
                int(math.floor(min(a[1], b[1]) - r - 1)),
                int(math.ceil(max(a[1], b[1]) + r + 1)),
            )
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
            if x0 > x1 or y0 > y1:
                continue
            yy, xx = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].astype(np.float64)
            d = b - a
            t = np.clip(((xx - a[0]) * d[0] + (yy - a[1]) * d[1]) / max(d @ d, 1e-12), 0, 1)
            dist = np.hypot(xx - a[0] - t * d[0], yy - a[1] - t * d[1])
            part = np.clip(r - dist + 0.5, 0.0, 1.0).astype(np.float32)
            np.maximum(cover[y0 : y1 + 1, x0 : x1 + 1], part, out=cover[y0 : y1 + 1, x0 : x1 + 1])
        mask += cover * (np.float32(sign) - mask)  # paint over what lies below
    return mask


def mask_from_layer(layer: np.ndarray) -> np.ndarray:
    """The signed mask of a painted (H, W, 4) uint8 RGBA layer: opacity where the paint is
    green-ish (focus, :data:`FOCUS_COLOR`) and minus opacity where it is red-ish (blur,
    :data:`BLUR_COLOR`): (H, W) float32 in [-1, 1]."""
    if layer.ndim != 3 or layer.shape[2] != 4 or layer.dtype != np.uint8:
        raise BokehError(f"A painted layer must be (H, W, 4) uint8 RGBA; got {layer.shape}.")
    alpha = layer[..., 3].astype(np.float32) / 255.0
    sign = np.where(layer[..., 1].astype(np.int16) > layer[..., 0], 1.0, -1.0)
    return (alpha * sign).astype(np.float32)


def apply_refine(disparity: np.ndarray, mask: np.ndarray, *, plane: float, band: float,
                 strength: float = 1.0) -> np.ndarray:  # fmt: skip
    """Refined (H, W) float32 disparity: each pixel moved by ``mask`` x ``strength`` (clipped
    to [-1, 1]) of the way to the focal plane ``plane`` (+) or to the far end of its side (-;
    see the module docstring). ``disparity`` in [0, 1] is not modified."""
    if disparity.shape != mask.shape:
        raise BokehError(f"The refine mask is {mask.shape}, the depth {disparity.shape}.")
    if not (math.isfinite(strength) and 0 <= strength <= 1):
        raise BokehError(f"Refine strength must lie in [0, 1]; got {strength}.")
    m = np.clip(mask * np.float32(strength), -1.0, 1.0)
    d = disparity.astype(np.float32)
    far = 0.0 if plane >= 0.5 else 1.0
    target = np.where(m > 0, np.float32(plane),
                      np.where(d < plane - band, 0.0, np.where(d > plane + band, 1.0, far)))  # fmt: skip
    out = d + np.abs(m) * (target - d)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class DepthEdit:
    """The disparity, focal plane and band a render uses after the edits, and what was done."""

    disparity: np.ndarray
    plane: float
    band: float
    info: dict[str, Any]


def edit_depth(disparity: np.ndarray, *, plane: float, band: float, focus_box=None,
               refine: Refine | None = None, refine_strength: float = 1.0) -> DepthEdit:  # fmt: skip
    """Apply a focus range (it replaces ``plane`` and ``band``), then refine edits."""
    info: dict[str, Any] = {}
    if focus_box is not None:
        chosen = focus_range(disparity, focus_box)
        plane, band = chosen.plane, chosen.band
        info["focus_range"] = chosen.as_json()
    if refine is not None and refine_strength > 0:
        mask = refine.signed_mask(disparity.shape)
        disparity = apply_refine(disparity, mask, plane=plane, band=band, strength=refine_strength)
        info["refined"] = round(float(np.count_nonzero(mask)) / mask.size, 4)
    return DepthEdit(disparity, plane, band, info)


def scale_edits(settings: dict[str, Any], original: tuple[int, int], size: tuple[int, int]):
    """``settings`` with the focus range and refine strokes moved from an (W, H) ``original``
    image's pixels to a resized (W, H) ``size`` one (pixel centres map as
    ``(x + 0.5) * w / ow - 0.5``; brush sizes scale with the width). A focus range must lie
    inside the original image (BokehError otherwise)."""
    (ow, oh), (w, h) = original, size
    if (ow, oh) == (w, h):
        return settings
    fx, fy = w / ow, h / oh

    def point(x, y):
        return (x + 0.5) * fx - 0.5, (y + 0.5) * fy - 0.5

    out = dict(settings)
    if out.get("focus_range") is not None:
        x0, y0, x1, y1 = out["focus_range"]
        if x0 < 0 or y0 < 0 or x1 > ow - 1 or y1 > oh - 1:
            raise BokehError(f"Focus range ({x0:g}, {y0:g}, {x1:g}, {y1:g}) leaves the {ow}x{oh}"
                             f" input image; x must be in 0..{ow - 1} and y in 0..{oh - 1}.")  # fmt: skip
        (a, b), (c, d) = point(x0, y0), point(x1, y1)
        out["focus_range"] = (max(a, 0.0), max(b, 0.0), min(c, w - 1.0), min(d, h - 1.0))
    refine = out.get("refine")
    if refine is not None and refine.strokes:
        strokes = tuple(Stroke(s.mode, max(1.0, s.size * fx), tuple(point(*p) for p in s.points))
                        for s in refine.strokes)  # fmt: skip
        out["refine"] = Refine(strokes, refine.mask)
    return out


def depth_png16(disparity: np.ndarray) -> np.ndarray:
    """(H, W) normalised disparity as the (H, W) uint16 values of a 16-bit grey PNG
    (65535 = nearest), the format the depth-map upload reads back."""
    return np.round(np.clip(disparity, 0.0, 1.0) * 65535.0).astype(np.uint16)


__all__ = [
    "BLUR_COLOR",
    "FOCUS_COLOR",
    "DepthEdit",
    "FocusRange",
    "Refine",
    "Stroke",
    "apply_refine",
    "depth_png16",
    "edit_depth",
    "focus_range",
    "mask_from_layer",
    "parse_box",
    "parse_refine",
    "rasterize",
    "scale_edits",
]

"""The Depth + Blur tab's editing session, without gradio: what the app's handlers call for the
focus range (two clicks on the photo), the refine brush (an image editor's painted layers, kept
per photo) and the export of the edited depth.

- :func:`click_box`: the first click on the photo sets a corner, the second the opposite one.
- :func:`refine_mask`: an image editor's value (background, RGBA layers) as a signed refine
  mask (:func:`bokeh.editing.mask_from_layer`; later layers paint over earlier ones).
- :func:`remember` / :func:`editor_value`: painted layers kept per photo (by content) for the
  session, and the editor's value for a photo with what was painted on it before.
- :func:`with_refine`: a method's settings with the painted mask added to any typed strokes.
- :func:`depth_png_file`: the depth a render used, as a 16-bit PNG in a folder.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bokeh.depthviews import draw_box
from bokeh.editing import Refine, depth_png16, mask_from_layer, parse_refine
from bokeh.photos import pixels_key

MAX_PHOTOS = 8  # photos whose painted layers a session keeps


def photo_key(pixels: np.ndarray) -> str:
    """The content key of an (H, W, 3) uint8 photo (:func:`bokeh.photos.pixels_key`; a kept
    :class:`~bokeh.photos.Photo` has it as ``pixels_key``, computed once)."""
    return pixels_key(pixels)


def click_box(pending: Any, x: float, y: float) -> tuple[tuple | None, tuple | None]:
    """(pending corner, box) after a click at (x, y): with no corner pending, the click becomes
    the pending corner and there is no box yet; otherwise the box spans both corners
    (x0, y0, x1, y1, ordered) and nothing is pending."""
    if not pending:
        return (float(x), float(y)), None
    (px, py), (qx, qy) = pending, (float(x), float(y))
    return None, (min(px, qx), min(py, qy), max(px, qx), max(py, qy))


def box_text(box) -> str:
    """A box as the focus-range control shows it: "x0,y0,x1,y1" in whole pixels ("" for None)."""
    return "" if box is None else ",".join(str(round(v)) for v in box)


def mark_box(pixels: np.ndarray, pending, box) -> np.ndarray:
    """The photo with a focus range (and a pending first corner) drawn on it."""
    return draw_box(pixels, box, corner=tuple(pending) if pending else None)


def _layers(value: Any) -> list[np.ndarray]:
    if not isinstance(value, dict):
        return []
    return [np.asarray(layer) for layer in value.get("layers") or () if layer is not None]


def refine_mask(value: Any, shape: tuple[int, int]) -> np.ndarray | None:
    """The signed (H, W) float32 refine mask of an image editor's value (its RGBA ``layers``,
    each (H, W, 4) uint8, painted in order), or None when nothing is painted or the layers do
    not have the photo's ``shape`` (another photo's)."""
    mask = None
    for layer in _layers(value):
        if layer.shape[:2] != tuple(shape) or layer.ndim != 3 or layer.shape[2] != 4:
            return None
        paint = mask_from_layer(layer.astype(np.uint8, copy=False))
        if not paint.any():
            continue
        mask = np.zeros(shape, np.float32) if mask is None else mask
        mask += np.abs(paint) * (np.sign(paint) - mask)  # paint over what lies below
    return mask


def with_refine(settings: dict[str, Any], mask: np.ndarray | None) -> dict[str, Any]:
    """``settings`` with the painted ``mask`` under any refine strokes typed in them."""
    if mask is None or not mask.any():
        return settings
    typed = parse_refine(settings.get("refine"))
    strokes = typed.strokes if typed is not None else ()
    return {**settings, "refine": Refine(strokes, mask)}


def remember(store: Any, key: str | None, value: Any) -> dict[str, list[np.ndarray]]:
    """A copy of the session's ``store`` (photo key -> painted layers) with ``value``'s layers
    kept under ``key`` (the most recent :data:`MAX_PHOTOS` photos; nothing painted: dropped)."""
    out = dict(store) if isinstance(store, dict) else {}
    if key is None:
        return out
    out.pop(key, None)
    layers = [layer for layer in _layers(value) if layer.ndim == 3 and layer[..., 3:].any()]
    if layers:
        out[key] = layers
    while len(out) > MAX_PHOTOS:
        out.pop(next(iter(out)))
    return out


def editor_value(pixels: np.ndarray | None, store: Any, key: str | None) -> dict[str, Any] | None:
    """The image editor's value for a photo: the photo as background, with the layers painted
    on it earlier in the session (none for a new photo)."""
    if pixels is None:
        return None
    layers = (store or {}).get(key, []) if isinstance(store, dict) else []
    return {"background": pixels, "layers": list(layers), "composite": None}


def session_mask(
    store: Any, pixels: np.ndarray | None, key: str | None = None
) -> np.ndarray | None:
    """The refine mask painted on this photo in the session (None when nothing is); ``key``:
    the photo's :func:`photo_key` when the caller has it (else it is computed)."""
    if pixels is None or not isinstance(store, dict):
        return None
    layers = store.get(key or photo_key(pixels))
    return refine_mask({"layers": layers}, pixels.shape[:2]) if layers else None


def depth_png_file(disparity: np.ndarray | None, folder: str | Path) -> str | None:
    """Write (H, W) normalised disparity as a new 16-bit grey PNG (65535 = nearest) in
    ``folder``; its path (None without a disparity)."""
    if disparity is None:
        return None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"depth-{uuid.uuid4().hex[:12]}.png"
    Image.fromarray(depth_png16(disparity)).save(path, format="PNG")
    return str(path)


__all__ = [
    "MAX_PHOTOS",
    "box_text",
    "click_box",
    "depth_png_file",
    "editor_value",
    "mark_box",
    "photo_key",
    "refine_mask",
    "remember",
    "session_mask",
    "with_refine",
]

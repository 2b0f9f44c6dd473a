"""What the web app does, without the web: one call per user action.

:func:`load_photo` (an upload), :func:`render` (one method on the photo), :func:`compare`
(every method), :func:`method_status` (can it run here, and where its weights come from).
``app.py`` wires each to a UI handler and an API endpoint of a line or two. Nothing here imports
gradio or torch (pipelines load through the registry on first use).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bokeh import depthviews, lazy, views
from bokeh.config import ASSETS_DIR
from bokeh.depth import describe_anything, source_states
from bokeh.depthviews import colorize_disparity, depth_histogram, depth_overlay, kernel_preview
from bokeh.errors import BokehError, brief
from bokeh.imaging import to_uint8
from bokeh.photos import Photo, load_photo
from bokeh.pipelines.base import check_focus
from bokeh.registry import get_method, list_methods, load_method
from bokeh.renderers.character import Character
from bokeh.specs import MethodSpec
from bokeh.views import (
    REAL_WEIGHTS_HOWTO,
    TINY_CHANGE,
    Difference,
    change_note,
    difference,
    mean_change,
)
from bokeh.weights.resolve import WeightsStatus, weights_status

log = logging.getLogger("bokeh.service")


EXAMPLE_NOTE = "Example loaded: click anywhere on the photo to refocus there."


@dataclass(frozen=True)
class PhotoView:
    """A session's photo as the page shows it: marked at its focus, with notes for people."""

    marked: np.ndarray | None  # (H, W, 3) uint8 with the focus ring
    photo: Photo | None
    x: int | None
    y: int | None
    note: str


def open_photo(
    source: Any, *, focus: tuple[Any, Any] | None = None, note: str = "", owner: str | None = None
) -> PhotoView:
    """An upload (path, raw upload payload or None) decoded once, its focus (the centre unless
    given, or none when the photo stores a focus distance; clamped into the image) and the
    decoder's notes plus ``note``."""
    if isinstance(source, dict):  # a raw upload payload (an event without preprocessing)
        source = source.get("path")
    if source is None:
        return PhotoView(None, None, None, None, "")
    photo = load_photo(source, owner=owner)
    point = clamp_focus(photo, *(focus or (None, None)))
    notes = "  \n".join([*photo.notes, *([note] if note else [])])
    x, y = (None, None) if point is None else (round(point[0]), round(point[1]))
    return PhotoView(draw_focus(photo.pixels, point), photo, x, y, notes)


def draw_focus(pixels: np.ndarray, focus: tuple[float, float] | None) -> np.ndarray:
    """A copy of (H, W, 3) uint8 ``pixels`` with a ring and cross marking ``focus`` (x, y)."""
    out = pixels.copy()
    if focus is None:
        return out
    h, w = out.shape[:2]
    x, y = focus
    r = max(6.0, 0.025 * min(h, w))
    yy, xx = np.ogrid[:h, :w]
    dist = np.sqrt((xx - x) ** 2 + (yy - y) ** 2)
    width = max(1.5, r / 6)
    ring = np.abs(dist - r) < width
    halo = np.abs(dist - r) < 2 * width
    cross = ((np.abs(xx - x) < width / 2) & (np.abs(yy - y) < r / 2)) | (
        (np.abs(yy - y) < width / 2) & (np.abs(xx - x) < r / 2)
    )
    out[halo] = (0, 0, 0)  # dark outline keeps the marker visible on bright areas
    out[ring | cross] = (255, 214, 0)
    return out


def default_focus(photo: Photo) -> tuple[float, float]:
    w, h = photo.size
    return (w - 1) / 2, (h - 1) / 2


def clamp_focus(photo: Photo, x: Any, y: Any) -> tuple[float, float] | None:
    """Focus from UI numbers, clamped into the image. Missing values mean the centre, or, when
    both are missing and the photo stores a focus distance, None (the stored focal plane)."""
    if x is None and y is None and photo.stored_focus:
        return None
    w, h = photo.size
    cx, cy = default_focus(photo)
    try:
        fx = cx if x is None else float(x)
        fy = cy if y is None else float(y)
    except (TypeError, ValueError, OverflowError):
        raise BokehError(f"Focus must be numbers; got ({brief(x)}, {brief(y)}).") from None
    if not (np.isfinite(fx) and np.isfinite(fy)):
        raise BokehError("Focus must be finite numbers.")
    return min(max(fx, 0.0), w - 1.0), min(max(fy, 0.0), h - 1.0)


def typed_focus(photo: Photo, x: Any, y: Any) -> PhotoView:
    """Focus typed into the x/y boxes: clamped into the photo, marked, and, when a number was
    outside the photo, a note saying where the focus went (with the photo's own notes)."""
    point = clamp_focus(photo, x, y)
    notes = list(photo.notes)
    if point is None:
        return PhotoView(draw_focus(photo.pixels, None), photo, None, None, "  \n".join(notes))
    fx, fy = round(point[0]), round(point[1])
    w, h = photo.size
    for name, given, used, top in (("x", x, fx, w - 1), ("y", y, fy, h - 1)):
        if given is not None and abs(float(given) - used) > 0.5:
            notes.append(f"Focus {name} = {float(given):g} lies outside the photo (0 to {top}): "
                         f"moved to {used}.")  # fmt: skip
    return PhotoView(draw_focus(photo.pixels, point), photo, fx, fy, "  \n".join(notes))


def api_focus(photo: Photo, x: Any, y: Any) -> tuple[float, float] | None:
    """Focus given to an API endpoint: both numbers required, inside the image (not clamped);
    both may be left out (None) when the photo stores a focus distance."""
    if x is None and y is None and photo.stored_focus:
        return None
    if x is None or y is None:
        raise BokehError("Focus x and y are required (pixels in the uploaded image).")
    return check_focus((x, y), *photo.size)


@dataclass(frozen=True)
class Rendered:
    image: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray | None  # (H, W, 3) uint8 picture of the disparity used, or None
    info: dict[str, Any]  # with "mean_change": grey levels the render changed on average
    summary: str  # Markdown for people
    difference: Difference | None = None  # |result - input| amplified, when asked for
    disparity: np.ndarray | None = None  # (H, W) float32 disparity used (after any edits)
    histogram: np.ndarray | None = None  # uint8 picture of the depths, the in-focus range marked


def settings_for(spec: MethodSpec, settings: dict[str, Any] | None) -> dict[str, Any]:
    """The subset of ``settings`` that ``spec`` takes (shared settings serve several methods)."""
    known = {p.name for p in spec.params}
    return {k: v for k, v in (settings or {}).items() if k in known}


def render(
    photo: Photo,
    *,
    method: str,
    focus: tuple[float, float] | None = None,
    settings: dict[str, Any] | None = None,
    depth_file: Any = None,
    with_difference: bool = False,
) -> Rendered:
    """Run a registered method on a session's photo; BokehError for anything a user caused.

    ``settings`` must be ones the method takes (named as its params); ``depth_file`` and the
    depth map stored in the photo go to depth methods only; ``focus`` is ignored by methods
    that do not use it (None: the photo's stored focus distance, else the centre).
    ``with_difference``: also the amplified difference view (:func:`bokeh.views.difference`)."""
    began = time.perf_counter()
    spec = get_method(method)
    if settings is not None and not isinstance(settings, Mapping):
        raise BokehError(
            f'Settings are a JSON object of named settings, e.g. {{"fnumber": 2.8}}; got '
            f"{brief(settings)}."
        )
    pipe = load_method(method)
    extra = {}
    if spec.kind == "depth":
        extra = {"depth_file": depth_file, "embedded": photo.depth, "image_key": photo.content_key}
    start = time.perf_counter()
    result = pipe(photo.as_float(), focus=focus if spec.kind == "depth" else None,
                  **dict(settings or {}), **extra)  # fmt: skip
    seconds = time.perf_counter() - start
    info = {k: v for k, v in result.info.items() if k != "settings"}
    info["settings"] = result.info.get("settings", {})
    info["notes"] = list(photo.notes) + list(result.info.get("notes", []))
    info["seconds"] = round(seconds, 3)
    depth, histogram = depth_pictures(photo, result.disparity, info)
    image = to_uint8(result.image)
    same = image.shape == photo.pixels.shape
    info["mean_change"] = round(mean_change(photo.pixels, image), 2) if same else None
    diff = difference(photo.pixels, image) if with_difference and same else None
    summary = summarize(spec, photo, info)
    info["total_seconds"] = round(time.perf_counter() - began, 3)  # with the views and summary
    return Rendered(image, depth, info, summary, diff, result.disparity, histogram)


def warm_up() -> None:
    """Compile the loops every depth render runs (the lens renderer's, the depth views'), off
    the first visitor's path: ``python app.py`` calls it at start."""
    lazy.load("bokeh.renderers.lens:warm_up")()
    depthviews.warm_up()


def depth_pictures(photo: Photo, disparity: np.ndarray | None, info: dict[str, Any]):
    """(Visualize depth, depth histogram) of a render's disparity (None, None without one):
    the in-focus range is the focal plane +- the band the render used."""
    if disparity is None:
        return None, None
    plane, band = info.get("focus_disparity"), info.get("band")
    in_focus = (plane - band, plane + band) if plane is not None and band is not None else None
    opacity = info.get("settings", {}).get("depth_overlay", 1.0)
    if disparity.shape != photo.pixels.shape[:2]:
        return colorize_disparity(disparity), None
    view = depth_overlay(photo.pixels, disparity, opacity=opacity, in_focus=in_focus)
    falloff = info.get("settings", {}).get("falloff", 0.0)
    return view, depth_histogram(disparity, in_focus=in_focus, plane=plane, falloff=falloff)


def summarize(spec: MethodSpec, photo: Photo, info: dict[str, Any]) -> str:
    w, h = photo.size
    lines = [f"**{spec.label}** on {w}x{h} in **{info['seconds']:.2f} s**"]
    if spec.kind == "translation" and info.get("mean_change") is not None:
        lines.append(
            change_note(
                info["mean_change"],
                method=spec.name,
                demo_weights=info.get("weights_source") == "bundled",
            )
        )
    if info.get("depth_description"):
        depth_s = info.get("depth_seconds")
        extra = f" ({depth_s:.2f} s)" if isinstance(depth_s, float) else ""
        lines.append(f"Depth: {info['depth_description']}{extra}")
    if info.get("weights"):
        lines.append(f"Weights: {info['weights']}")
    if info.get("focus_range"):  # a box replaces the focus point
        x0, y0, x1, y1 = info["focus_range"]["box"]
        lines.append(f"Focus range: ({x0:.0f}, {y0:.0f}) to ({x1:.0f}, {y1:.0f})")
    elif info.get("focus") is not None:
        fx, fy = info["focus"]
        lines.append(f"Focus: ({fx:.0f}, {fy:.0f})")
    elif info.get("focus_stored"):
        lines.append("Focus: the focus distance stored in the photo (click to refocus)")
    if info.get("refined"):
        lines.append(f"Refined: {info['refined']:.1%} of the photo")
    lines += [f"Note: {n}" for n in info.get("notes", [])]
    return "  \n".join(lines)


def default_settings(method: str, **overrides: Any) -> dict[str, Any]:
    """Every setting of ``method`` at its default, then ``overrides``."""
    return {**{p.name: p.default for p in get_method(method).params}, **overrides}


@dataclass(frozen=True)
class Example:
    """A photo beside the upload that a visitor can try without uploading (in assets/examples)."""

    label: str
    photo: str
    depth: str | None  # its depth map, if it has one
    depth_source: str
    depth_kind: str
    focus: tuple[int, int]


EXAMPLE_METHOD = "depth-lens"  # what an example shows when clicked
EXAMPLES = (
    Example("Motorcycle + measured disparity", "motorcycle.png", "motorcycle_disparity.png",
            "file", "disparity", (300, 250)),
    Example("Motorcycle, depth estimated", "motorcycle.png", None, "auto", "disparity",
            (300, 250)),
    Example("Cat", "cat.png", None, "auto", "disparity", (175, 115)),
    Example("Espresso", "coffee.png", None, "auto", "disparity", (290, 150)),
)  # fmt: skip


def example_rows() -> list[list]:
    """The examples as rows of (photo, depth map, depth source, depth kind, focus x, focus y)."""
    folder = ASSETS_DIR / "examples"
    return [[str(folder / e.photo), str(folder / e.depth) if e.depth else None, e.depth_source,
             e.depth_kind, *e.focus] for e in EXAMPLES]  # fmt: skip


def aperture_preview(blades: Any, rotation: Any, *character: Any) -> np.ndarray:
    """A small picture of the blur spot an out-of-focus light makes with these blades
    (0 = round) and rotation (degrees): the aperture (:func:`bokeh.views.aperture_preview`),
    or with a lens character (cat_eye, bubble, ring, chromatic_aberration, in that order) the
    spot at the frame's centre and in its corner (:func:`bokeh.depthviews.kernel_preview`)."""
    values = [float(v or 0.0) for v in character]
    if not any(values):
        return views.aperture_preview(blades, rotation)
    names = ("cat_eye", "bubble", "ring", "chromatic_aberration")
    try:
        lens = Character(**dict(zip(names, values, strict=True)))
    except ValueError as exc:
        raise BokehError(str(exc)) from None
    return kernel_preview(blades=int(blades or 0), rotation=float(rotation or 0.0),
                          character=lens, size=72)  # fmt: skip


def depth_source_choices() -> dict[str, Any]:
    """The Depth source control's ``choices`` ((label, value); a source that is not available
    here is marked so) and ``info``: what Automatic uses here and, when Depth Anything is not
    available, why and what to do, in one sentence (:func:`bokeh.depth.source_states`)."""
    states = source_states()
    lines = [states["auto"].text]
    if not states["anything"].available:
        lines.append(states["anything"].text)
    return {"choices": [(s.label, name) for name, s in states.items()], "info": " ".join(lines)}


# ----------------------------------------------------------------------------- status

_DEPTH_BADGES = {
    "classical": "classical depth (no weights)",
    "file": "uploaded depth map",
    "embedded": "depth map stored in the photo",
    "given": "depth supplied by the caller",
}


@dataclass(frozen=True)
class MethodStatus:
    """Whether a method can run here and where its weights come from (cheap: never downloads).

    runnable: False when it needs weights that no source holds; ``message`` then says why and
    how to get them (Markdown). ``badge`` is a sentence, ``short_badge`` a few words.
    """

    method: str
    label: str
    runnable: bool
    weights: tuple[WeightsStatus, ...]
    badge: str
    short_badge: str
    message: str = ""


def method_status(method: str, *, depth_source: str | None = None) -> MethodStatus:
    """The :class:`MethodStatus` of ``method``. For depth methods, ``depth_source`` is the
    concrete source a render used ("anything", "model", "classical", "file", "embedded" or
    "given"; see ``Result.info["depth_source"]``); without it the badge describes DenseDepth,
    the method's own network."""
    spec = get_method(method)
    weights = tuple(weights_status(n.name) for n in spec.networks)
    runnable = not spec.weights_required or all(w.usable for w in weights)
    message = "" if runnable else (
        f"**{spec.ui_label} has no weights here.** "
        + "; ".join(f"{w.name}: {w.summary}" for w in weights)
        + ". Put `NAME.safetensors` and `NAME.json` in `$BOKEH_WEIGHTS_DIR`, or set "
        "`BOKEH_HUB_REPO`."
    )  # fmt: skip
    if spec.kind == "depth" and depth_source in _DEPTH_BADGES:
        badge = short = _DEPTH_BADGES[depth_source]
    elif spec.kind == "depth" and depth_source == "anything":
        badge, short = f"Depth Anything V2 Small: {describe_anything()}", "Depth Anything V2"
    elif not weights:
        badge, short = "none needed", "no weights"
    else:
        pairs = [w.badge() for w in weights]
        badge = "; ".join(
            text if len(weights) == 1 else f"{w.name}: {text}"
            for w, (text, _) in zip(weights, pairs, strict=True)
        )
        short = "; ".join(dict.fromkeys(s for _, s in pairs))
    return MethodStatus(method, spec.label, runnable, weights, badge, short, message)


# ----------------------------------------------------------------------------- compare


@dataclass(frozen=True)
class CompareTile:
    """One method's result in the Compare view."""

    method: str
    label: str
    image: np.ndarray | None  # (H, W, 3) uint8, or None when the method did not run
    seconds: float | None  # the pipeline call's wall time, or None
    badge: str  # where its weights come from (MethodStatus.badge)
    short_badge: str  # the same in a few words
    message: str  # the result's summary, or why it did not run
    change: float | None = None  # mean change of the photo in grey levels
    difference: Difference | None = None  # |result - input| amplified
    demo: bool = False  # ran on the demo weights (trained on synthetic scenes)

    @property
    def caption(self) -> str:
        if self.image is None:
            return f"{self.label} · not run"
        return f"{self.label} · {self.seconds:.2f} s · {self.short_badge}"

    @property
    def barely_changed(self) -> bool:
        return self.change is not None and self.change < TINY_CHANGE

    def as_json(self) -> dict[str, Any]:
        """What the ``/compare`` endpoint reports for this method."""
        return {"method": self.method, "label": self.label, "seconds": self.seconds,
                "weights": self.badge, "message": self.message,
                "mean_change": self.change}  # fmt: skip


COMPARE_INTRO = (
    "Every available method on the shared photo, side by side, with the focus point and the "
    "depth settings of the Depth + Blur tab. Each caption gives the method, its run time and "
    "where its weights come from; *What each method changed* shows the differences."
)


def compare_rows(tiles: list[CompareTile]) -> list[list]:
    """The Compare table: method, seconds, weights, mean change (grey levels), and "ok",
    "barely changed" or why it did not run."""

    def result(t: CompareTile) -> str:
        if t.image is None:
            return t.message
        return "barely changed" if t.barely_changed else "ok"

    return [[t.label, None if t.seconds is None else round(t.seconds, 2), t.short_badge,
             None if t.change is None else round(t.change, 1), result(t)]
            for t in tiles]  # fmt: skip


def compare_note(tiles: list[CompareTile]) -> str:
    """One line under the Compare gallery naming the methods that barely changed the photo, and
    why when they ran on the synthetic demo weights ("" when every method changed it)."""
    tiny = [t for t in tiles if t.barely_changed]
    if not tiny:
        return ""
    names = ", ".join(t.label for t in tiny)
    text = (
        f"**{names}** changed the photo by less than {TINY_CHANGE:g} grey levels on average, "
        "so their tiles look like the original (see *What each method changed*)."
    )
    demo = [t.method for t in tiny if t.demo]
    if demo:
        text += (
            " They run on demo weights trained on synthetic scenes, which barely change "
            f"real photos; {REAL_WEIGHTS_HOWTO.format(method=demo[0])}."
        )
    return text


@dataclass(frozen=True)
class CompareView:
    """What the Compare tab shows after each method: the gallery (input first), the difference
    gallery, the line under them and the table."""

    gallery: list[tuple[np.ndarray, str]]
    differences: list[tuple[np.ndarray, str]]
    note: str
    rows: list[list]


def compare_view(photo: Photo, tiles: list[CompareTile]) -> CompareView:
    """The Compare tab's view of ``tiles`` (the input first in the gallery)."""
    gallery = [(photo.pixels, "Original (input)")]
    gallery += [(t.image, t.caption) for t in tiles if t.image is not None]
    diffs = [
        (t.difference.image, f"{t.label}: × {t.difference.gain}, mean {t.difference.mean:.1f}")
        for t in tiles
        if t.difference is not None
    ]
    return CompareView(gallery, diffs, compare_note(tiles), compare_rows(tiles))


def compare_methods() -> list[str]:
    """The methods the Compare view runs: every registered method but the identity baseline
    and the named variants (those are for the leaderboard), in registry order."""
    return [m for m in list_methods(variants=False) if get_method(m).kind != "baseline"]


def compare(
    photo: Photo,
    *,
    focus: tuple[float, float] | None,
    settings: dict[str, Any] | None = None,
    depth_file: Any = None,
    methods: list[str] | None = None,
    run: Callable[..., Rendered] | None = None,
) -> Iterator[CompareTile]:
    """Run each method (default :func:`compare_methods`) on one photo, yielding a tile as each
    finishes. A method that cannot run (no weights, a bad setting) gets a tile that says why and
    the others still run. ``settings`` are shared; each method takes the ones it knows.
    ``run`` replaces :func:`render` (the app passes its ZeroGPU-wrapped version)."""
    run = run or render
    for method in methods if methods is not None else compare_methods():
        spec = get_method(method)
        status = method_status(method)
        if not status.runnable:
            yield CompareTile(method, spec.label, None, None, status.badge, status.short_badge,
                              status.message)  # fmt: skip
            continue
        try:
            out = run(photo, method=method, focus=focus if spec.kind == "depth" else None,
                      settings=settings_for(spec, settings), depth_file=depth_file,
                      with_difference=True)  # fmt: skip
        except BokehError as exc:
            yield CompareTile(method, spec.label, None, None, status.badge, status.short_badge,
                              f"**{spec.label}**: {exc}")  # fmt: skip
            continue
        # depth methods: the depth model the render actually used
        used = method_status(method, depth_source=out.info.get("depth_source"))
        demo = out.info.get("weights_source") == "bundled"
        yield CompareTile(method, spec.label, out.image, out.info["seconds"], used.badge,
                          used.short_badge, out.summary, out.info.get("mean_change"),
                          out.difference, demo)  # fmt: skip


def compare_views(photo: Photo, x: Any, y: Any, settings: dict[str, Any] | None, depth_file: Any,
                  *, run: Callable[..., Rendered] | None = None
                  ) -> Iterator[tuple[CompareView, list[CompareTile]]]:  # fmt: skip
    """:func:`compare` with the focus from UI numbers (clamped), as (view, tiles so far) after
    each method."""
    tiles: list[CompareTile] = []
    for tile in compare(photo, focus=clamp_focus(photo, x, y), settings=settings,
                        depth_file=depth_file, run=run):  # fmt: skip
        tiles.append(tile)
        yield compare_view(photo, tiles), list(tiles)

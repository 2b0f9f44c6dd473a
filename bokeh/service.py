"""What the web app does, without the web: load an upload, mark the focus, run a method and
describe the result. ``app.py`` only wires these functions to Gradio components, so they are
tested directly and shared by every tab. Nothing here imports gradio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from bokeh.errors import BokehError, brief

log = logging.getLogger("bokeh.service")

# Modes of the Depth + Blur tab -> registered methods.
DEPTH_MODES = {
    "Lens (physically based)": "depth-lens",
    "Paper: threshold Gaussian": "depth-gauss",
}


@dataclass(frozen=True)
class Photo:
    """An upload in the library's format, kept per session (uint8 to keep sessions small)."""

    pixels: np.ndarray  # (H, W, 3) uint8 sRGB
    notes: tuple[str, ...]

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]

    def as_float(self) -> np.ndarray:
        return self.pixels.astype(np.float32) / 255.0


def load_photo(source: Any) -> Photo:
    """Decode an upload (path, bytes, PIL image or array) with the size policy applied.

    Raises :class:`bokeh.errors.ImageReadError` with a message for people.
    """
    from bokeh.imaging import load_image, to_uint8

    if source is None:
        raise BokehError("Upload a photo first.")
    loaded = load_image(source)
    return Photo(to_uint8(loaded.image), tuple(loaded.notes))


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


def clamp_focus(photo: Photo, x: Any, y: Any) -> tuple[float, float]:
    """Focus from UI numbers: missing values mean the centre; values are clamped into the image."""
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


_STOPS = np.array([  # a dark-to-bright perceptual ramp (far = dark, near = bright)
    [0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
    [250, 193, 39], [252, 255, 164]], dtype=np.float32)


def colorize_disparity(disparity: np.ndarray) -> np.ndarray:
    """(H, W) normalised disparity in [0, 1] -> (H, W, 3) uint8 colour image (near = bright)."""
    d = np.clip(np.nan_to_num(disparity, nan=0.0), 0.0, 1.0) * (len(_STOPS) - 1)
    i = np.minimum(d.astype(np.int32), len(_STOPS) - 2)
    t = (d - i)[..., None]
    return (_STOPS[i] * (1 - t) + _STOPS[i + 1] * t + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class Rendered:
    image: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray | None  # (H, W, 3) uint8 visualisation, or None
    info: dict[str, Any]
    summary: str  # Markdown for people


def run_method(
    method: str,
    photo: Photo,
    focus: tuple[float, float] | None,
    settings: dict[str, Any],
    *,
    depth_file: Any = None,
) -> Rendered:
    """Run a registered method on a session's photo; BokehError for anything a user caused."""
    from bokeh.imaging import to_uint8
    from bokeh.registry import get_method, load_method

    spec = get_method(method)
    pipe = load_method(method)
    known = {p.name for p in spec.params}
    kwargs = {k: v for k, v in settings.items() if k in known}
    extra = {"depth_file": depth_file} if spec.kind == "depth" else {}
    start = time.perf_counter()
    result = pipe(photo.as_float(), focus=focus, **kwargs, **extra)
    seconds = time.perf_counter() - start
    info = {k: v for k, v in result.info.items() if k != "settings"}
    info["settings"] = result.info.get("settings", {})
    info["notes"] = list(photo.notes) + list(result.info.get("notes", []))
    info["seconds"] = round(seconds, 3)
    depth = colorize_disparity(result.depth) if result.depth is not None else None
    return Rendered(to_uint8(result.image), depth, info, summarize(spec.label, photo, info))


def summarize(label: str, photo: Photo, info: dict[str, Any]) -> str:
    w, h = photo.size
    lines = [f"**{label}** on {w}x{h} in **{info['seconds']:.2f} s**"]
    if info.get("depth_description"):
        depth_s = info.get("depth_seconds")
        extra = f" ({depth_s:.2f} s)" if isinstance(depth_s, float) else ""
        lines.append(f"Depth: {info['depth_description']}{extra}")
    if info.get("weights"):
        lines.append(f"Weights: {info['weights']}")
    if info.get("focus") is not None:
        fx, fy = info["focus"]
        lines.append(f"Focus: ({fx:.0f}, {fy:.0f})")
    lines += [f"Note: {n}" for n in info.get("notes", [])]
    return "  \n".join(lines)


def unavailable_message(method: str, label: str) -> str | None:
    """Why a tab's method cannot run here, or None when it can."""
    from bokeh.registry import METHODS

    if method not in METHODS:
        return (f"**{label} is not available in this version.** Its network and trained weights "
                "are not part of this build yet, so this tab has nothing to show; "
                "the Depth + Blur tab works now.")
    spec = METHODS[method]
    if spec.weights_required and "no weights" in spec.weights_status():
        return (f"**{label} has no weights here.** {spec.weights_status()}. Put `NAME.safetensors` "
                "and `NAME.json` in `$BOKEH_WEIGHTS_DIR`, or set `BOKEH_HUB_REPO`.")
    return None


def badges(method: str, *, depth_source: str | None = None) -> tuple[str, str]:
    """Where a method's weights come from: (a sentence for badges, a few words for captions).
    Cheap: never downloads.

    For depth methods, ``depth_source`` is the concrete source a render used ("anything",
    "model", "classical", "file" or "given"; see ``Result.info["depth_source"]``); without it
    the badge describes DenseDepth, the method's own network."""
    from bokeh import config
    from bokeh.registry import get_method
    from bokeh.weights import weights_status

    spec = get_method(method)
    if spec.kind == "depth" and depth_source in ("classical", "file", "given"):
        text = {"classical": "classical depth (no weights)", "file": "uploaded depth map",
                "given": "depth supplied by the caller"}[depth_source]
        return text, text
    if spec.kind == "depth" and depth_source == "anything":
        from bokeh.depth import describe_anything

        return f"Depth Anything V2 Small: {describe_anything()}", "Depth Anything V2"
    if not spec.networks:
        return "none needed", "no weights"
    parts, short = [], []
    for network in spec.networks:
        status = weights_status(network)
        if status.startswith("bundled"):
            text = "demo weights trained on synthetic scenes (bundled in assets/weights)"
            short.append("demo weights (synthetic)")
        elif status.startswith("weights-dir"):
            text = f"local folder $BOKEH_WEIGHTS_DIR ({config.weights_dir()})"
            short.append("local weights")
        elif status.startswith("hub"):
            repo, revision = config.hub_repo()
            text = f"Hugging Face Hub {repo}@{revision} ({status})"
            short.append("Hub weights")
        else:
            text = status
            short.append(status)
        parts.append(text if len(spec.networks) == 1 else f"{network}: {text}")
    return "; ".join(parts), "; ".join(dict.fromkeys(short))


def weights_badge(method: str, *, depth_source: str | None = None) -> str:
    """The sentence of :func:`badges`."""
    return badges(method, depth_source=depth_source)[0]


# ----------------------------------------------------------------------------- compare


@dataclass(frozen=True)
class CompareTile:
    """One method's result in the Compare view."""

    method: str
    label: str
    image: np.ndarray | None  # (H, W, 3) uint8, or None when the method did not run
    seconds: float | None  # the pipeline call's wall time, or None
    badge: str  # where its weights come from (badges: the sentence)
    short_badge: str  # the same in a few words
    message: str  # the result's summary, or why it did not run

    @property
    def caption(self) -> str:
        if self.image is None:
            return f"{self.label} · not run"
        return f"{self.label} · {self.seconds:.2f} s · {self.short_badge}"


def compare_methods() -> list[str]:
    """The methods the Compare view runs: every registered method but the identity baseline
    and the named variants (those are for the leaderboard), in registry order."""
    from bokeh.registry import list_methods

    return [m for m in list_methods(variants=False) if m != "identity"]


def compare(
    photo: Photo,
    focus: tuple[float, float] | None,
    settings: dict[str, Any],
    *,
    depth_file: Any = None,
    methods: list[str] | None = None,
    run: Callable[..., Rendered] | None = None,
) -> Iterator[CompareTile]:
    """Run each method (default :func:`compare_methods`) on one photo, yielding a tile as each
    finishes. A method that cannot run (no weights, a bad setting) gets a tile that says why and
    the others still run. ``settings`` are shared; each method takes the ones it knows.
    ``run`` replaces :func:`run_method` (the app passes its ZeroGPU-wrapped version)."""
    from bokeh.registry import get_method

    run = run or run_method
    for method in methods if methods is not None else compare_methods():
        spec = get_method(method)
        missing = unavailable_message(method, spec.label)
        if missing:
            yield CompareTile(method, spec.label, None, None, *badges(method), missing)
            continue
        try:
            out = run(method, photo, focus if spec.kind == "depth" else None, settings,
                      depth_file=depth_file)
        except BokehError as exc:
            yield CompareTile(method, spec.label, None, None, *badges(method),
                              f"**{spec.label}**: {exc}")
            continue
        # depth methods: the depth model the render actually used
        used = badges(method, depth_source=out.info.get("depth_source"))
        yield CompareTile(method, spec.label, out.image, out.info["seconds"], *used, out.summary)

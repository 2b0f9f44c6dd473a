"""Depth + blur: a depth source, then a renderer (the lens model, or the paper's threshold blur).

The spec (see :mod:`bokeh.methods.depth_blur`) names the renderer: a function
``render(image, estimate, *, focus, settings, plane) -> (image, info)`` defined here, so a new
renderer is a function and a spec, and the pipeline does not change. ``estimate`` is the
:class:`~bokeh.depth.estimate.DepthEstimate` (its ``disparity``, and a metric scale when the
depth is metric); ``plane`` is the focal plane's disparity: read around the focus point, or the
focus distance stored in the photo when the caller gave no focus point and the depth came from
the photo (:mod:`bokeh.depth.phone`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import numpy as np

from bokeh import lazy
from bokeh.checks import check_image
from bokeh.depth import resolve_source
from bokeh.depth.estimate import DepthEstimate, estimate_depth
from bokeh.editing import edit_depth
from bokeh.errors import BokehError, WeightsNotFoundError
from bokeh.params import validate_settings
from bokeh.pipelines.base import Result, check_focus
from bokeh.renderers.character import Character
from bokeh.renderers.gauss import render_threshold_gauss
from bokeh.renderers.highlights import highlight_gain
from bokeh.renderers.lens import render_lens
from bokeh.renderers.scale import lens_strength
from bokeh.specs import MethodSpec

_CACHE_SIZE = 8
logger = logging.getLogger("bokeh.pipelines.depth_blur")


class _DepthCache:
    """A small per-process LRU of depth estimates, so that moving a slider does not re-run
    depth estimation. Keys are content digests; values are read-only arrays."""

    def __init__(self, size: int = _CACHE_SIZE):
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    def get_or_compute(self, key, compute):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        value.disparity.setflags(write=False)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


DEPTH_CACHE = _DepthCache()


def _digest(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, np.ndarray):
        # SHA-256, not blake2b: it runs on the CPU's SHA instructions, quicker here
        h = hashlib.sha256(np.ascontiguousarray(value).data)
        h.update(str((value.shape, value.dtype)).encode())
        return h.hexdigest()
    if isinstance(value, (bytes, bytearray)):
        return hashlib.sha256(bytes(value)).hexdigest()
    return f"path:{value}"


def _as_json(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings as JSON values (refine edits as their strokes, a painted mask in words)."""
    return {k: v.as_json() if hasattr(v, "as_json") else v for k, v in settings.items()}


def focus_disparity(disparity: np.ndarray, focus: tuple[float, float]) -> float:
    """Median disparity in a small window (1% of the short side, at least 2 px) around focus."""
    h, w = disparity.shape
    r = max(2, int(round(0.01 * min(h, w))))
    x, y = int(round(focus[0])), int(round(focus[1]))
    window = disparity[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1]
    return float(np.median(window))


def render_lens_settings(image, estimate, *, focus, settings, plane) -> tuple[np.ndarray, dict]:
    """The lens renderer (:func:`bokeh.renderers.lens.render_lens`) with a method's settings: its
    blur scale from :func:`bokeh.renderers.scale.lens_strength` (metric depth, a subject distance,
    the input's own depth of field, or the default) and the selective highlight boost
    (:func:`bokeh.renderers.highlights.highlight_gain`)."""
    try:
        strength = lens_strength(
            image, estimate.disparity, focus_disparity=plane, fnumber=settings["fnumber"],
            input_fnumber=settings["input_fnumber"],
            subject_distance=settings["subject_distance"], metric_scale=estimate.metric_scale,
        )  # fmt: skip
    except ValueError as exc:
        raise BokehError(str(exc)) from None
    boost = settings["highlight_boost"]
    character = Character(cat_eye=settings["cat_eye"], bubble=settings["bubble"],
                          ring=settings["ring"],
                          chromatic_aberration=settings["chromatic_aberration"])  # fmt: skip
    out = render_lens(
        image, estimate.disparity, focus_disparity=plane, strength=strength.value,
        band=settings["band"], blades=settings["blades"], rotation=settings["rotation"],
        highlight_gain=lambda img, coc: highlight_gain(img, coc, boost=boost),
        falloff=settings["falloff"], character=character,
    )  # fmt: skip
    info = {"strength": strength.value, "blur_scale": strength.scale}
    if not strength.scale.startswith("default scale (nearest"):
        info["notes"] = [f"Blur scale: {strength.scale}."]
    return out, info


def render_gauss_settings(image, estimate, *, focus, settings, plane) -> tuple[np.ndarray, dict]:
    """The paper's threshold Gaussian (:mod:`bokeh.renderers.gauss`) with a method's settings;
    sigma is given at 1024 px image height and scaled to the image."""
    out = render_threshold_gauss(
        image, estimate.disparity, threshold=settings["threshold"],
        sigma=settings["sigma"] * image.shape[0] / 1024, feather=settings["feather"],
    )  # fmt: skip
    return out, {}


class DepthBlurPipeline:
    """``pipe(image, focus=(x, y), depth=None, depth_file=None, **settings) -> Result``.

    ``depth``: an (H, W) normalised disparity to use as is (e.g. ground-truth "oracle" depth);
    ``depth_file``: a user's depth or disparity map (path, bytes or array; see ``depth_kind``);
    ``embedded``: the depth map stored in the photo (:class:`bokeh.depth.phone.EmbeddedDepth`),
    which ``auto`` prefers after ``depth_file``; otherwise the ``depth_source`` setting picks
    the estimator. ``image_key``: a string that names the image's content (e.g.
    :attr:`bokeh.photos.Photo.content_key`), the depth cache's key instead of a hash of the
    image; the same key must never name two images. Without ``focus``, a focus distance
    stored in the photo sets the focal plane (when the depth is the photo's), else the centre
    is in focus.
    """

    def __init__(self, spec: MethodSpec):
        self.spec = spec
        self.render = lazy.load(spec.renderer)

    def depth_for(self, image, *, focus, depth=None, depth_file=None, source="auto",
                  kind="disparity", invalid=None, embedded=None,
                  image_key=None) -> DepthEstimate:  # fmt: skip
        h, w = image.shape[:2]
        if depth is not None:
            disparity = np.asarray(depth, dtype=np.float32)
            if disparity.shape != (h, w):
                raise BokehError(
                    f"depth must have the image's shape {(h, w)}; got {disparity.shape}."
                )
            if not np.isfinite(disparity).all() or disparity.min() < 0 or disparity.max() > 1:
                raise BokehError("depth must be a normalised disparity map with values in [0, 1].")
            return DepthEstimate(disparity, "given", "depth supplied by the caller")
        # Resolve auto first, so that the cache key is as narrow as it can be.
        concrete = resolve_source(source, has_file=depth_file is not None,
                                  has_embedded=embedded is not None)  # fmt: skip
        if concrete == "embedded":  # already decoded with the photo: nothing to cache
            return estimate_depth(image, source="embedded", embedded=embedded)

        def cached(chosen: str) -> DepthEstimate:
            key = (image_key or _digest(image), chosen, kind, invalid, _digest(depth_file),
                   focus if chosen == "classical" else None)  # fmt: skip
            return DEPTH_CACHE.get_or_compute(key, lambda: estimate_depth(
                image, source=chosen, focus=focus, depth_file=depth_file, depth_kind=kind,
                depth_invalid=invalid))  # fmt: skip

        try:
            return cached(concrete)
        except WeightsNotFoundError as exc:
            if source != "auto" or concrete != "anything":
                raise
            # The Hub looked reachable but the download failed (not retried in this process).
            logger.warning("Depth Anything is not available, auto uses another source: %s", exc)
            return cached(resolve_source("auto", exclude=("file", "embedded", "anything")))

    def __call__(self, image, *, focus=None, depth=None, depth_file=None, embedded=None,
                 image_key=None, **settings) -> Result:  # fmt: skip
        start = time.perf_counter()
        image = check_image(image)
        h, w = image.shape[:2]
        spec = self.spec
        opts = validate_settings(spec.params, {**spec.defaults, **settings}, spec.name)
        box = opts.get("focus_range")
        if box is not None:  # the box's centre seeds depth estimates that use a focus point
            focus = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        clicked = focus is not None
        focus = check_focus(focus, w, h)
        invalid = (
            None if opts.get("depth_invalid", "none") == "none" else float(opts["depth_invalid"])
        )
        estimate = self.depth_for(image, focus=focus, depth=depth, depth_file=depth_file,
                                  source=opts["depth_source"], kind=opts["depth_kind"],
                                  invalid=invalid, embedded=embedded,
                                  image_key=image_key)  # fmt: skip
        depth_seconds = time.perf_counter() - start
        stored = not clicked and estimate.focus_disparity is not None
        plane = estimate.focus_disparity if stored else focus_disparity(estimate.disparity, focus)
        edit = edit_depth(estimate.disparity, plane=plane, band=opts.get("band", 0.0),
                          focus_box=box, refine=opts.get("refine"),
                          refine_strength=opts.get("refine_strength", 1.0))  # fmt: skip
        if edit.disparity is not estimate.disparity:
            estimate = replace(estimate, disparity=edit.disparity)
        plane, used = edit.plane, dict(opts)
        if "band" in used:  # a focus range sets the band
            used["band"] = edit.band
        out, extra = self.render(image, estimate, focus=focus, settings=used, plane=plane)
        notes = [f"Depth: {estimate.description}."] if invalid is not None and (
            estimate.source == "file") else []  # fmt: skip
        info: dict[str, Any] = {
            "method": spec.name, "focus": None if stored or box is not None else focus,
            "settings": _as_json(opts), "focus_disparity": plane, "focus_stored": stored,
            **({"band": edit.band} if "band" in opts else {}), **edit.info,
            "depth_source": estimate.source, "depth_description": estimate.description,
            **extra, "notes": notes + extra.get("notes", []), "depth_seconds": depth_seconds,
            "seconds": time.perf_counter() - start,
        }  # fmt: skip
        return Result(out, estimate.disparity, info)

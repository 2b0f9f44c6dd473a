"""Depth + blur: a depth source, then the paper's threshold Gaussian or the lens renderer."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np

from bokeh.depth import SOURCES, DepthEstimate, estimate_depth, resolve_source
from bokeh.errors import BokehError, WeightsNotFoundError
from bokeh.params import Param, validate_settings
from bokeh.pipelines.base import Result, check_focus, check_input

DEPTH_PARAMS = (
    Param("depth_source", "choice", "auto", "Depth source", choices=SOURCES,
          help="auto: uploaded map, else Depth Anything V2 Small (local folder, HF cache or "
               "Hub), else DenseDepth with real (non-demo) weights, else classical"),
    Param("depth_kind", "choice", "disparity", "Depth map holds", choices=("disparity", "depth"),
          help="disparity: brighter is nearer; depth: brighter is farther"),
    Param("depth_invalid", "choice", "none", "Unknown value in the depth map",
          choices=("none", "0"), help="0: pixels at 0 are unknown (Middlebury disparity) and "
          "are filled from the nearest known ones, not read as infinitely far"),
)
LENS_PARAMS = DEPTH_PARAMS + (
    Param("fnumber", "float", 1.8, "f-number", "smaller is blurrier (blur ~ 1/N)", 0.5, 32.0, 0.1),
    Param("band", "float", 0.03, "In-focus band", "disparity half-width kept sharp", 0.0, 0.5,
          0.01),
    Param("blades", "int", 0, "Aperture blades", "0 = round, else 3..16", 0, 16, 1),
    Param("rotation", "float", 0.0, "Aperture rotation (deg)", "", 0.0, 360.0, 1.0),
    Param("highlight_boost", "float", 1.0, "Highlight boost",
          "brightens small clipped highlights (lights, glints) into bright bokeh discs; 1 keeps "
          "the brightness of a 4 px light", 0.0, 10.0, 0.1),
    Param("input_fnumber", "float", 0.0, "Input f-number",
          "the photo's own f-number when it has a depth of field (16 for EBB! and VABD); "
          "0 = sharp everywhere", 0.0, 64.0, 0.1),
    Param("subject_distance", "float", 0.0, "Subject distance (m)",
          "sets the blur scale of relative depth; 0 = estimate", 0.0, 100.0, 0.1),
)
GAUSS_PARAMS = DEPTH_PARAMS + (
    Param("threshold", "float", 0.25, "Depth threshold",
          "normalised depth above which the image is blurred (paper: 0.2, 0.25, 0.3)", 0.0, 1.0,
          0.01),
    Param("sigma", "float", 10.0, "Gaussian sigma (px at 1024 px height)", "", 0.0, 100.0, 0.5),
    Param("feather", "float", 0.0, "Feather", "0 = the paper's hard mask", 0.0, 0.5, 0.01),
)

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


_DEPTH_CACHE = _DepthCache()


def _digest(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, np.ndarray):
        h = hashlib.blake2b(np.ascontiguousarray(value).data, digest_size=16)
        h.update(str((value.shape, value.dtype)).encode())
        return h.hexdigest()
    if isinstance(value, (bytes, bytearray)):
        return hashlib.blake2b(bytes(value), digest_size=16).hexdigest()
    return f"path:{value}"


def focus_disparity(disparity: np.ndarray, focus: tuple[float, float]) -> float:
    """Median disparity in a small window (1% of the short side, at least 2 px) around focus."""
    h, w = disparity.shape
    r = max(2, int(round(0.01 * min(h, w))))
    x, y = int(round(focus[0])), int(round(focus[1]))
    window = disparity[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1]
    return float(np.median(window))


class DepthBlurPipeline:
    """``pipe(image, focus=(x, y), depth=None, depth_file=None, **settings) -> Result``.

    ``depth``: an (H, W) normalised disparity to use as is (e.g. ground-truth "oracle" depth);
    ``depth_file``: a user's depth or disparity map (path, bytes or array; see ``depth_kind``);
    otherwise the ``depth_source`` setting picks the estimator.
    """

    def __init__(self, name: str, mode: str, defaults: dict[str, Any] | None = None):
        if mode not in ("lens", "gauss"):
            raise ValueError(f"mode must be 'lens' or 'gauss', got {mode!r}")
        self.name, self.mode = name, mode
        self.params = LENS_PARAMS if mode == "lens" else GAUSS_PARAMS
        self.defaults = dict(defaults or {})

    def depth_for(self, image, *, focus, depth=None, depth_file=None, source="auto",
                  kind="disparity", invalid=None) -> DepthEstimate:
        h, w = image.shape[:2]
        if depth is not None:
            disparity = np.asarray(depth, dtype=np.float32)
            if disparity.shape != (h, w):
                raise BokehError(f"depth must have the image's shape {(h, w)}; got {disparity.shape}.")
            if not np.isfinite(disparity).all() or disparity.min() < 0 or disparity.max() > 1:
                raise BokehError("depth must be a normalised disparity map with values in [0, 1].")
            return DepthEstimate(disparity, "given", "depth supplied by the caller")
        # Resolve auto first, so that the cache key is as narrow as it can be.
        concrete = resolve_source(source, has_file=depth_file is not None)

        def cached(chosen: str) -> DepthEstimate:
            key = (_digest(image), chosen, kind, invalid, _digest(depth_file),
                   focus if chosen == "classical" else None)
            return _DEPTH_CACHE.get_or_compute(key, lambda: estimate_depth(
                image, source=chosen, focus=focus, depth_file=depth_file, depth_kind=kind,
                depth_invalid=invalid))

        try:
            return cached(concrete)
        except WeightsNotFoundError as exc:
            if source != "auto" or concrete != "anything":
                raise
            # The Hub looked reachable but the download failed (not retried in this process).
            logger.warning("Depth Anything is not available, auto uses another source: %s", exc)
            return cached(resolve_source("auto", exclude=("file", "anything")))

    def __call__(self, image, *, focus=None, depth=None, depth_file=None, **settings) -> Result:
        start = time.perf_counter()
        image = check_input(image)
        h, w = image.shape[:2]
        focus = check_focus(focus, w, h)
        opts = validate_settings(self.params, {**self.defaults, **settings}, self.name)
        invalid = None if opts["depth_invalid"] == "none" else float(opts["depth_invalid"])
        estimate = self.depth_for(image, focus=focus, depth=depth, depth_file=depth_file,
                                  source=opts["depth_source"], kind=opts["depth_kind"],
                                  invalid=invalid)
        disparity = estimate.disparity
        depth_seconds = time.perf_counter() - start
        info: dict[str, Any] = {"method": self.name, "focus": focus, "settings": opts,
                                "depth_source": estimate.source,
                                "depth_description": estimate.description, "notes": []}
        if invalid is not None and estimate.source == "file":
            info["notes"].append(f"Depth: {estimate.description}.")
        if self.mode == "lens":
            out = _render_lens(image, disparity, focus, opts, estimate, info)
        else:
            from bokeh.render.gauss import render_threshold_gauss

            out = render_threshold_gauss(image, disparity, threshold=opts["threshold"],
                                         sigma=opts["sigma"] * h / 1024, feather=opts["feather"])
        info["depth_seconds"] = depth_seconds
        info["seconds"] = time.perf_counter() - start
        return Result(out, disparity, info)


def _render_lens(image, disparity, focus, opts, estimate: DepthEstimate, info) -> np.ndarray:
    """The lens render with its blur scale (:func:`bokeh.render.scale.lens_strength`) and the
    selective highlight boost; records both in ``info``."""
    from bokeh.render.highlights import highlight_gain
    from bokeh.render.lens import render_lens
    from bokeh.render.scale import lens_strength

    d_f = focus_disparity(disparity, focus)
    try:
        strength = lens_strength(
            image, disparity, focus_disparity=d_f, fnumber=opts["fnumber"],
            input_fnumber=opts["input_fnumber"], subject_distance=opts["subject_distance"],
            metric_scale=estimate.metric_scale)
    except ValueError as exc:
        raise BokehError(str(exc)) from None
    info.update(focus_disparity=d_f, strength=strength.value, blur_scale=strength.scale)
    if not strength.scale.startswith("default scale (nearest"):
        info["notes"].append(f"Blur scale: {strength.scale}.")
    boost = opts["highlight_boost"]
    return render_lens(
        image, disparity, focus_disparity=d_f, strength=strength.value, band=opts["band"],
        blades=opts["blades"], rotation=opts["rotation"],
        highlight_gain=lambda img, coc: highlight_gain(img, coc, boost=boost))

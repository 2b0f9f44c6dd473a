"""Depth from Depth Anything V2 (through Hugging Face ``transformers``), as normalised disparity.

Depth Anything predicts relative inverse depth (disparity up to scale and shift: larger is
nearer), so a robust min-max (percentiles) gives normalised disparity. The model folder comes
from :func:`bokeh.weights.resolve.resolve_depth_anything` (``$BOKEH_DEPTH_ANYTHING_DIR``, the HF cache,
or one download); ``transformers`` is imported only when a model is loaded.

Example::

    from bokeh.depth.anything import DepthAnythingEstimator
    estimator = DepthAnythingEstimator()
    disparity = estimator(image)  # (H, W) float32 in [0, 1], 1 = nearest
    print(estimator.description)  # "Depth Anything V2 Small (Hub: ...@main, commit 1234abc)"
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bokeh import config
from bokeh.checks import check_image
from bokeh.devices import default_device
from bokeh.weights.checkpoint import load_depth_anything
from bokeh.weights.hub import HFSnapshot
from bokeh.weights.resolve import resolve_depth_anything

logger = logging.getLogger("bokeh.depth.anything")

LABEL = "Depth Anything V2 Small"  # the default repo; other repos are called "Depth Anything"
DEFAULT_SIDE = 518  # the model's training resolution (short side), if the processor has none
_MULTIPLE = 14  # ViT patch size: input sides must be multiples of it
PERCENTILES = (0.5, 99.5)


def working_size(
    height: int, width: int, *, side: int = DEFAULT_SIDE, max_side: int | None = None
) -> tuple[int, int]:
    """Network input size for an HxW image: the short side scaled to ``side`` (up or down, as the
    model was trained), the long side then limited to ``max_side`` (default ``2 * side``, which
    bounds the cost of panoramas), each side rounded to a multiple of 14 (at least 14)."""
    if side < _MULTIPLE:
        raise ValueError(f"side must be >= {_MULTIPLE}, got {side}.")
    max_side = 2 * side if max_side is None else max_side
    if max_side < _MULTIPLE:
        raise ValueError(f"max_side must be >= {_MULTIPLE}, got {max_side}.")
    scale = min(side / min(height, width), max_side / max(height, width))

    def snap(n: int) -> int:
        m = max(1, round(n * scale / _MULTIPLE)) * _MULTIPLE
        return min(m, max(_MULTIPLE, (max_side // _MULTIPLE) * _MULTIPLE))

    return snap(height), snap(width)


def normalise_relative(raw: np.ndarray, *, percentiles: tuple[float, float] = PERCENTILES):
    """Scale a disparity-like map (larger = nearer) to float32 [0, 1], 1 = nearest, robustly:
    the ``percentiles`` (low, high) map to 0 and 1 and values beyond them are clipped. A map
    without depth variation becomes all zeros (one plane)."""
    raw = np.asarray(raw, dtype=np.float32)
    if not np.isfinite(raw).all():
        raise ValueError("Depth prediction contains NaN or inf values.")
    lo, hi = (float(v) for v in np.percentile(raw, percentiles))
    span = hi - lo
    if not math.isfinite(span) or span <= 1e-6 * max(1.0, abs(hi), abs(lo)):
        return np.zeros_like(raw, dtype=np.float32)
    return ((raw - lo) / span).clip(0.0, 1.0).astype(np.float32)


def _processor_settings(processor: Any) -> tuple[int, list[float], list[float]]:
    """(short side, mean, std) from a DPT-style image processor's stored configuration."""
    size = getattr(processor, "size", None) or {}
    if not isinstance(size, dict):
        size = dict(size)
    sides = [size[k] for k in ("height", "width", "shortest_edge") if size.get(k)]
    side = int(min(sides)) if sides else DEFAULT_SIDE
    if getattr(processor, "do_normalize", True):
        mean = list(getattr(processor, "image_mean", None) or (0.485, 0.456, 0.406))
        std = list(getattr(processor, "image_std", None) or (0.229, 0.224, 0.225))
    else:
        mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    return max(_MULTIPLE, side), mean, std


def predict_disparity(
    model: torch.nn.Module,
    processor: Any,
    image: np.ndarray,
    *,
    device: str | torch.device | None = None,
    max_side: int | None = None,
    percentiles: tuple[float, float] = PERCENTILES,
) -> np.ndarray:
    """Normalised disparity (float32 HxW in [0, 1], 1 = nearest) for an HxWx3 [0, 1] image.

    The image is resized (bicubic, antialiased) to :func:`working_size` with the processor's
    side (518 for Depth Anything V2), normalised with the processor's mean and std, the model's
    ``predicted_depth`` is resized back to HxW (bilinear) and scaled with
    :func:`normalise_relative`. A metric-depth model's output is inverted first.
    """
    raw = predict_raw(model, processor, image, device=device, max_side=max_side)
    return normalise_relative(raw, percentiles=percentiles)


def predict_raw(model, processor, image: np.ndarray, *, device=None, max_side=None) -> np.ndarray:
    """The model's output as disparity, float32 (H, W): relative inverse depth for a relative
    model, 1 / metres for a metric one (``config.depth_estimation_type == "metric"``)."""
    check_image(image, unit_range=True, min_side=2)
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    h, w = image.shape[:2]
    side, mean, std = _processor_settings(processor)
    size = working_size(h, w, side=side, max_side=max_side)
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    with torch.inference_mode():
        x = x.to(device).clamp(0.0, 1.0)
        x = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)
        m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        pred = model(pixel_values=(x.clamp(0.0, 1.0) - m) / s).predicted_depth.float()
        if pred.ndim == 3:
            pred = pred[:, None]
        if getattr(model.config, "depth_estimation_type", "relative") == "metric":
            pred = 1.0 / pred.clamp_min(1e-3)  # metres -> disparity
        pred = F.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False)
        return pred[0, 0].cpu().numpy().astype(np.float32)


# --------------------------------------------------------------------------- cached estimator

_CACHE: dict[tuple[str, str], tuple[Any, Any, HFSnapshot]] = {}
_CACHE_LOCK = threading.Lock()


def load_cached(*, device: str | None = None, download: bool = True):
    """``(model, processor, snapshot)``: the configured Depth Anything model, loaded once per
    process and model folder (see :func:`bokeh.weights.resolve.resolve_depth_anything`; a different folder, e.g. after changing
    ``$BOKEH_DEPTH_ANYTHING_DIR``, loads anew). Raises
    :class:`bokeh.errors.WeightsNotFoundError` saying how to get the model when it is not
    available."""
    device = device or default_device()
    snapshot = resolve_depth_anything(download=download)
    key = (str(snapshot.folder), str(device))
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is None:
            start = time.perf_counter()
            model, processor = load_depth_anything(snapshot, device=device)
            hit = _CACHE[key] = (model, processor, snapshot)
            logger.info(
                "Depth Anything loaded on %s from %s in %.2f s",
                device,
                snapshot.description,
                time.perf_counter() - start,
            )
        return hit


def clear_model_cache() -> None:
    """Forget cached Depth Anything models."""
    with _CACHE_LOCK:
        _CACHE.clear()


def label_for(snapshot: HFSnapshot) -> str:
    """A short name of the model a snapshot holds, for people."""
    return LABEL if snapshot.repo == config.DEFAULT_DEPTH_ANYTHING_REPO else "Depth Anything"


class DepthAnythingEstimator:
    """Callable depth source: ``DepthAnythingEstimator()(image) -> normalised disparity``.

    The model resolves lazily on first use (see :func:`load_cached`) on ``device``
    (default: CUDA when available, else CPU) and is shared by every estimator in the process.
    Holds no per-call state, so one instance can serve concurrent requests.
    """

    def __init__(self, *, device: str | None = None, max_side: int | None = None) -> None:
        if max_side is not None and max_side < _MULTIPLE:
            raise ValueError(f"max_side must be >= {_MULTIPLE}, got {max_side}.")
        self.device = device
        self.max_side = max_side

    def load(self) -> tuple[Any, Any, HFSnapshot]:
        return load_cached(device=self.device)

    @property
    def resolved(self) -> HFSnapshot:
        """Where the model came from (``.description``, ``.folder``, ``.commit``)."""
        return self.load()[2]

    @property
    def description(self) -> str:
        """E.g. ``"Depth Anything V2 Small (Hub: owner/name@main, commit 1234abc)"``."""
        snapshot = self.resolved
        return f"{label_for(snapshot)} ({snapshot.description})"

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, str]:
        """(normalised disparity, description of the model that made it) for an image."""
        model, processor, snapshot = self.load()
        disparity = predict_disparity(model, processor, image, max_side=self.max_side)
        return disparity, f"{label_for(snapshot)} ({snapshot.description})"

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """HxWx3 float [0, 1] image -> float32 HxW normalised disparity in [0, 1]."""
        return self.predict(image)[0]


__all__ = [
    "DepthAnythingEstimator",
    "clear_model_cache",
    "default_device",
    "label_for",
    "load_cached",
    "normalise_relative",
    "predict_disparity",
    "predict_raw",
    "working_size",
]

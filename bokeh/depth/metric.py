"""Metric depth from Depth Anything V2 Metric (Indoor or Outdoor, Small), through
``transformers``: depth in metres, so that the lens renderer gets a distance scale.

The model is resolved and loaded exactly like the relative one (:mod:`bokeh.depth.anything`):
:func:`bokeh.weights.resolve.resolve_depth_metric` for ``$BOKEH_DEPTH_METRIC_DIR``, the Hugging
Face cache, or one download of ``$BOKEH_DEPTH_METRIC_REPO`` (safetensors only), and
:func:`bokeh.weights.checkpoint.load_depth_anything`. Its output ``z`` (metres) becomes inverse depth
``D = 1 / z``; the estimate is ``d = D / D_near`` clipped to [0, 1] with ``D_near`` the 99.5th
percentile of ``D``, so that disparity 0 is infinitely far and ``metric_scale = D_near`` (1/m
per unit) turns ``d`` back into metres for the camera model (:mod:`bokeh.renderers.camera`).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from bokeh import config
from bokeh.depth.anything import predict_raw
from bokeh.devices import default_device
from bokeh.errors import WeightsNotFoundError
from bokeh.weights.checkpoint import load_depth_anything
from bokeh.weights.hub import HFSnapshot
from bokeh.weights.resolve import depth_metric_status, resolve_depth_metric

__all__ = ["LABEL", "MetricDepthEstimator", "metric_available", "metric_disparity"]

LABEL = "Depth Anything V2 Metric"
NEAR_PERCENTILE = 99.5
_CACHE: dict[tuple[str, str], tuple[Any, Any, HFSnapshot]] = {}
_LOCK = threading.Lock()


def metric_available() -> bool:
    """True when the metric model is in a local folder or the HF cache (never downloads)."""
    return depth_metric_status().cached


def metric_disparity(depth_inverse: np.ndarray) -> tuple[np.ndarray, float]:
    """``(d, scale)`` from inverse depth in 1/m (float (H, W), > 0): ``d = D / scale`` in
    [0, 1] with ``scale`` the ``NEAR_PERCENTILE`` percentile of D (1/m per unit)."""
    inv = np.asarray(depth_inverse, dtype=np.float64)
    if inv.ndim != 2 or not np.isfinite(inv).all() or (inv <= 0).any():
        raise ValueError("inverse depth must be an (H, W) map of finite values > 0.")
    scale = float(np.percentile(inv, NEAR_PERCENTILE))
    return np.clip(inv / scale, 0.0, 1.0).astype(np.float32), scale


class MetricDepthEstimator:
    """``MetricDepthEstimator().predict(image) -> (disparity, scale, description)``; the model
    loads once per process and folder, on CUDA when available."""

    def __init__(self, *, device: str | None = None):
        self.device = device or default_device()

    def load(self):
        snapshot = resolve_depth_metric()
        key = (str(snapshot.folder), str(self.device))
        with _LOCK:
            if key not in _CACHE:
                model, processor = load_depth_anything(snapshot, device=self.device)
                if getattr(model.config, "depth_estimation_type", None) != "metric":
                    raise WeightsNotFoundError(
                        f"{snapshot.folder} holds a relative Depth Anything model; depth source "
                        "'metric' needs a Metric one (e.g. "
                        + config.DEFAULT_DEPTH_METRIC_REPO
                        + ")."
                    )
                _CACHE[key] = (model, processor, snapshot)
            return _CACHE[key]

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, float, str]:
        """HxWx3 float [0, 1] image -> (disparity (H, W) in [0, 1] with 0 = infinity, scale in
        1/m per unit, description)."""
        model, processor, snapshot = self.load()
        inv = predict_raw(model, processor, image)
        disparity, scale = metric_disparity(np.maximum(inv, 1e-6))
        return disparity, scale, f"{LABEL} ({snapshot.description}; nearest {1 / scale:.2f} m)"


def clear_model_cache() -> None:
    with _LOCK:
        _CACHE.clear()

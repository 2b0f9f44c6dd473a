"""Metric depth from Depth Anything V2 Metric (Indoor or Outdoor, Small), through
``transformers``: depth in metres, so that the lens renderer gets a distance scale.

The model is resolved and loaded exactly like the relative one (:mod:`bokeh.depth.anything`):
:func:`bokeh.weights.resolve_hf_snapshot` for ``$BOKEH_DEPTH_METRIC_DIR``, the Hugging Face
cache, or one download of ``$BOKEH_DEPTH_METRIC_REPO`` (safetensors only), and
:func:`bokeh.weights.load_depth_anything`. Its output ``z`` (metres) becomes inverse depth
``D = 1 / z``; the estimate is ``d = D / D_near`` clipped to [0, 1] with ``D_near`` the 99.5th
percentile of ``D``, so that disparity 0 is infinitely far and ``metric_scale = D_near`` (1/m
per unit) turns ``d`` back into metres for the camera model (:mod:`bokeh.render.camera`).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from bokeh import config, weights
from bokeh.depth.anything import predict_raw
from bokeh.devices import default_device
from bokeh.errors import WeightsNotFoundError

__all__ = ["LABEL", "MetricDepthEstimator", "metric_available", "metric_disparity"]

LABEL = "Depth Anything V2 Metric"
NEAR_PERCENTILE = 99.5
_CACHE: dict[tuple[str, str], tuple[Any, Any, weights.HFSnapshot]] = {}
_LOCK = threading.Lock()


def metric_available() -> bool:
    """True when the metric model is in a local folder or the HF cache (never downloads)."""
    repo, revision = config.depth_metric_repo()
    status = weights.hf_snapshot_status(repo, revision, local_dir=config.depth_metric_dir())
    return status in ("local-dir", "hub (cached)")


def resolve(*, download: bool = True) -> weights.HFSnapshot:
    """The metric model's folder (see the module docstring); WeightsNotFoundError says how to
    get it."""
    repo, revision = config.depth_metric_repo()
    try:
        return weights.resolve_hf_snapshot(
            repo, revision, local_dir=config.depth_metric_dir(), download=download
        )
    except WeightsNotFoundError as exc:
        name = repo or config.DEFAULT_DEPTH_METRIC_REPO
        raise WeightsNotFoundError(
            f"Metric Depth Anything is not available ({str(exc).rstrip('.')}): run "
            f"`hf download {name}` once with network access, or set BOKEH_DEPTH_METRIC_DIR to "
            "a save_pretrained folder of it."
        ) from exc


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
        snapshot = resolve()
        key = (str(snapshot.folder), str(self.device))
        with _LOCK:
            if key not in _CACHE:
                model, processor = weights.load_depth_anything(snapshot, device=self.device)
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

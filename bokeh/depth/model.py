"""Depth from a trained DenseDepth network, as normalised disparity.

``predict_disparity`` runs any DenseDepth-like module (RGB [0, 1] in, ~1/depth at half resolution
out) the way the paper does at test time: the prediction is averaged with the prediction on the
mirrored image. ``DenseDepthEstimator`` adds weight resolution and a per-process model cache.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bokeh import config
from bokeh.checks import check_image
from bokeh.devices import default_device
from bokeh.models.densedepth import MODEL_NAME, build_densedepth
from bokeh.weights.checkpoint import load_model
from bokeh.weights.files import ResolvedWeights

logger = logging.getLogger("bokeh.depth.model")

CHECKPOINT_NAME = "densedepth"
DEFAULT_MAX_SIDE = 640
_MULTIPLE = 32  # DenseNet downsamples 5 times


def working_size(height: int, width: int, *, max_side: int = DEFAULT_MAX_SIDE) -> tuple[int, int]:
    """Network input size for an HxW image: scaled down (never up) so the long side fits
    ``max_side``, then each side rounded to the nearest multiple of 32 (at least 32, at most
    ``max_side`` rounded down to a multiple of 32)."""
    if max_side < _MULTIPLE:
        raise ValueError(f"max_side must be >= {_MULTIPLE}, got {max_side}.")
    scale = min(1.0, max_side / max(height, width))

    def snap(n: int) -> int:
        m = max(1, round(n * scale / _MULTIPLE)) * _MULTIPLE
        return min(m, max(_MULTIPLE, (max_side // _MULTIPLE) * _MULTIPLE))

    return snap(height), snap(width)


def normalise_disparity(raw: np.ndarray) -> np.ndarray:
    """Min-max scale a disparity-like map (larger = nearer) to [0, 1], 1 = nearest.

    A constant map has no depth information and becomes all zeros (one plane).
    """
    raw = np.asarray(raw, dtype=np.float32)
    lo, hi = float(raw.min()), float(raw.max())
    if not math.isfinite(lo) or not math.isfinite(hi):
        raise ValueError("Depth prediction contains NaN or inf values.")
    span = hi - lo
    if span <= 1e-6 * max(1.0, abs(hi), abs(lo)):
        return np.zeros_like(raw, dtype=np.float32)
    return ((raw - lo) / span).clip(0.0, 1.0).astype(np.float32)


def predict_raw(
    model: torch.nn.Module,
    image: np.ndarray,
    *,
    device: str | torch.device | None = None,
    max_side: int = DEFAULT_MAX_SIDE,
) -> np.ndarray:
    """The model's output (target units, ~1000/d) at the input's HxW, mirror-averaged.

    image: HxWx3 float in [0, 1]. Returns float32 HxW. ``device`` defaults to the model's.
    """
    check_image(image, unit_range=True, min_side=2)
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    h, w = image.shape[:2]
    size = working_size(h, w, max_side=max_side)
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    with torch.inference_mode():
        x = x.clamp(0.0, 1.0)
        if size != (h, w):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        batch = torch.cat([x, x.flip(-1)]).to(device)
        pred = model(batch).float()
        if pred.ndim == 3:
            pred = pred[:, None]
        # Test-time augmentation: average with the mirrored prediction, flipped back.
        pred = 0.5 * (pred[0:1] + pred[1:2].flip(-1))
        pred = F.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False)
        return pred[0, 0].cpu().numpy().astype(np.float32)


def predict_disparity(
    model: torch.nn.Module,
    image: np.ndarray,
    *,
    device: str | torch.device | None = None,
    max_side: int = DEFAULT_MAX_SIDE,
) -> np.ndarray:
    """Normalised disparity (float32 HxW in [0, 1], 1 = nearest) for an HxWx3 [0, 1] image.

    The image is resized so its long side is at most ``max_side`` and both sides are multiples
    of 32, the model runs on it and on its mirror image (averaged), and the half-resolution output
    is upsampled bilinearly back to HxW. The model output is taken to be proportional to
    disparity (DenseDepth predicts 1000/d), so min-max scaling gives normalised disparity.
    """
    return normalise_disparity(predict_raw(model, image, device=device, max_side=max_side))


# --------------------------------------------------------------------------- cached estimator

_CACHE: dict[tuple, tuple[torch.nn.Module, ResolvedWeights]] = {}
_CACHE_LOCK = threading.Lock()


def _cache_key(weights: str | Path | None, device: str) -> tuple:
    explicit = str(Path(weights).expanduser().resolve()) if weights else None
    return (explicit, device, str(config.weights_dir()), config.hub_repo())


def load_densedepth(
    weights: str | Path | None = None, *, device: str = "cpu"
) -> tuple[torch.nn.Module, ResolvedWeights]:
    """The DenseDepth model and where its weights came from, loaded once per process.

    Raises :class:`bokeh.errors.WeightsNotFoundError` (with instructions) if none are found.
    """
    key = _cache_key(weights, str(device))
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is None:
            hit = load_model(
                CHECKPOINT_NAME,
                build_densedepth,
                explicit=weights,
                device=device,
                expect_model=MODEL_NAME,
            )
            _CACHE[key] = hit
            logger.info("DenseDepth loaded on %s from %s", device, hit[1].description)
        return hit


def clear_model_cache() -> None:
    """Forget cached models (e.g. after new weights were written)."""
    with _CACHE_LOCK:
        _CACHE.clear()


class DenseDepthEstimator:
    """Callable depth source: ``DenseDepthEstimator()(image) -> normalised disparity``.

    Weights resolve lazily on first use (explicit ``weights`` path, ``$BOKEH_WEIGHTS_DIR``,
    bundled, Hub) on ``device`` (default: CUDA when available, else CPU) and the model is shared by every estimator in the process with the same
    weights and device. Holds no per-call state, so one instance can serve concurrent requests.
    """

    def __init__(
        self,
        *,
        weights: str | Path | None = None,
        device: str = "cpu",
        max_side: int = DEFAULT_MAX_SIDE,
    ) -> None:
        if max_side < _MULTIPLE:
            raise ValueError(f"max_side must be >= {_MULTIPLE}, got {max_side}.")
        self.weights = weights
        self.device = device
        self.max_side = max_side

    def load(self) -> tuple[torch.nn.Module, ResolvedWeights]:
        return load_densedepth(self.weights, device=self.device or default_device())

    @property
    def model(self) -> torch.nn.Module:
        return self.load()[0]

    @property
    def resolved(self) -> ResolvedWeights:
        """Where the weights came from (``.description`` for a UI badge, ``.sha256``)."""
        return self.load()[1]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """HxWx3 float [0, 1] image -> float32 HxW normalised disparity in [0, 1]."""
        model, _ = self.load()
        return predict_disparity(model, image, max_side=self.max_side)  # on the model's device


__all__ = [
    "DenseDepthEstimator",
    "clear_model_cache",
    "load_densedepth",
    "normalise_disparity",
    "predict_disparity",
    "predict_raw",
    "working_size",
]

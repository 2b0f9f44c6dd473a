"""Image-to-image translation with a trained generator: pix2pix, CycleGAN and BGGAN share this.

``TranslationPipeline(name, network)(image) -> Result`` with ``image`` (H, W, 3) float in [0, 1]:

1. the generator's weights resolve lazily through :func:`bokeh.weights.load_model` (explicit path,
   ``$BOKEH_WEIGHTS_DIR``, bundled demo weights, Hub); the model is built from the config stored
   beside them and cached per process. No weights -> :class:`~bokeh.errors.WeightsNotFoundError`
   saying how to get them (never random weights);
2. the image is scaled to [-1, 1] and **reflect-padded** (mirrored, centred) so that each side is a
   multiple of what the network needs (``2**num_downs`` for a U-Net, 256 for unet_256; 8 for
   Glass-Net; 4 for the ResNet generator) and at least its minimum side;
3. with ``tile=0`` (default) the whole padded image goes through the network at once. With
   ``tile=T`` the image is cut into overlapping T x T tiles (T rounded up to the multiple; overlap
   T/4) whose outputs are blended with linear ramps across the overlaps, which bounds memory on
   large images (a U-Net then sees T-pixel context, as in training on crops);
4. the output is cropped back to exactly (H, W) and mapped from [-1, 1] to [0, 1]. Glass-Net
   returns ``(y2, y1)``: the final ``y2`` is used.

Runs under ``torch.inference_mode`` on CUDA when available, else CPU. The pipeline holds no
per-call state, so one instance serves concurrent requests.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bokeh import config
from bokeh.checks import check_image
from bokeh.devices import default_device
from bokeh.errors import BokehError
from bokeh.params import validate_settings
from bokeh.pipelines.base import Result
from bokeh.specs import MethodSpec, NetworkSpec
from bokeh.weights.checkpoint import load_model
from bokeh.weights.files import ResolvedWeights

logger = logging.getLogger("bokeh.pipelines.translate")

FOCUS_NOTE = "this method does not use a focus point"


# --------------------------------------------------------------------------- model cache

_MODELS: dict[tuple, tuple[torch.nn.Module, ResolvedWeights]] = {}
_LOCK = threading.Lock()


def load_generator(
    network: NetworkSpec, *, weights: str | Path | None = None, device: str | None = None
) -> tuple[torch.nn.Module, ResolvedWeights]:
    """The trained ``network`` (eval mode, no grad) and where its weights came from.

    Loaded once per process for each (network, explicit path, device, weights dir, Hub repo);
    thread-safe. Raises WeightsNotFoundError (with instructions) when no weights resolve.
    """
    device = device or default_device()
    explicit = str(Path(weights).expanduser().resolve()) if weights else None
    key = (network.name, explicit, device, str(config.weights_dir()), config.hub_repo())
    with _LOCK:
        hit = _MODELS.get(key)
        if hit is None:
            hit = load_model(network.name, network.build, explicit=weights, device=device)
            _MODELS[key] = hit
            logger.info("%s loaded on %s from %s", network.name, device, hit[1].description)
        return hit


def clear_model_cache() -> None:
    """Forget cached generators (e.g. after new weights were written, or between tests)."""
    with _LOCK:
        _MODELS.clear()


# --------------------------------------------------------------------------- geometry


def padded_side(n: int, multiple: int, min_side: int = 1) -> int:
    """Smallest multiple of ``multiple`` that is >= n and >= min_side."""
    return max(math.ceil(n / multiple), math.ceil(min_side / multiple), 1) * multiple


def reflect_pad(image: np.ndarray, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Mirror-pad an (H, W, C) array to (height, width), centred; returns it and (top, left).

    Pads larger than the image repeat the reflection (numpy's "reflect" mode).
    """
    h, w = image.shape[:2]
    if height < h or width < w:
        raise ValueError(f"Cannot pad {h}x{w} to the smaller {height}x{width}.")
    top, left = (height - h) // 2, (width - w) // 2
    pads = ((top, height - h - top), (left, width - w - left), (0, 0))
    if height == h and width == w:
        return image, (0, 0)
    return np.pad(image, pads, mode="reflect"), (top, left)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of ``tile``-long windows covering ``length`` with at least ``overlap``."""
    if length <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def blend_ramp(tile: int, overlap: int) -> np.ndarray:
    """1-D blending weights: rising linearly over ``overlap`` px at each end, 1 in the middle,
    never 0 (so image borders covered by one tile keep their value)."""
    ramp = np.ones(tile, dtype=np.float32)
    if overlap > 0:
        edge = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        ramp[:overlap] = edge
        ramp[tile - overlap :] = edge[::-1]
    return ramp


# --------------------------------------------------------------------------- inference


def _model_multiple(model: torch.nn.Module) -> tuple[int, int]:
    multiple = int(getattr(model, "multiple", 1))
    return multiple, int(getattr(model, "min_side", multiple))


def _forward(model: torch.nn.Module, chw: np.ndarray, device: str | torch.device) -> np.ndarray:
    """(3, h, w) float32 in [-1, 1] -> (3, h, w) float32 network output (the final image)."""
    x = torch.from_numpy(np.ascontiguousarray(chw))[None].to(device)
    out = model(x)
    if isinstance(out, (tuple, list)):  # Glass-Net: (y2, y1)
        out = out[0]
    return out[0].float().cpu().numpy()


def translate_image(
    model: torch.nn.Module,
    image: np.ndarray,
    *,
    tile: int = 0,
    multiple: int | None = None,
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Run a generator on an (H, W, 3) float image in [0, 1]; returns the (H, W, 3) float32
    output in [0, 1] and a small dict describing the padding or tiling used.

    ``multiple`` adds a size constraint to the model's own ``multiple`` (their lcm). ``tile`` > 0
    processes overlapping ``tile`` x ``tile`` windows (rounded up to the multiple) blended with
    linear ramps over an overlap of a quarter tile; 0 runs the whole image at once.
    """
    image = check_image(image)
    if not np.isfinite(image).all():
        raise BokehError("The image contains NaN or infinite values.")
    if tile < 0:
        raise ValueError(f"tile must be >= 0, got {tile}.")
    h, w = image.shape[:2]
    model_multiple, min_side = _model_multiple(model)
    m = math.lcm(model_multiple, int(multiple or 1))
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else "cpu"
    x = np.clip(image, 0.0, 1.0) * 2.0 - 1.0  # (H, W, 3) in [-1, 1]

    with torch.inference_mode():
        if tile <= 0 or (h <= tile and w <= tile):
            ph, pw = padded_side(h, m, min_side), padded_side(w, m, min_side)
            padded, (top, left) = reflect_pad(x, ph, pw)
            out = _forward(model, padded.transpose(2, 0, 1), device)[
                :, top : top + h, left : left + w
            ]
            how = {"padded_size": [ph, pw], "tiles": 1}
        else:
            t = padded_side(tile, m, min_side)
            overlap = t // 4
            ph, pw = max(h, t), max(w, t)
            padded, (top, left) = reflect_pad(x, ph, pw)
            acc = np.zeros((3, ph, pw), dtype=np.float32)
            weight = np.zeros((ph, pw), dtype=np.float32)
            ramp = blend_ramp(t, overlap)
            window = ramp[:, None] * ramp[None, :]
            ys, xs = tile_starts(ph, t, overlap), tile_starts(pw, t, overlap)
            for y0 in ys:
                for x0 in xs:
                    crop = padded[y0 : y0 + t, x0 : x0 + t].transpose(2, 0, 1)
                    acc[:, y0 : y0 + t, x0 : x0 + t] += _forward(model, crop, device) * window
                    weight[y0 : y0 + t, x0 : x0 + t] += window
            out = (acc / weight)[:, top : top + h, left : left + w]
            how = {"tile_size": t, "tile_overlap": overlap, "tiles": len(ys) * len(xs)}
    result = np.clip((out.transpose(1, 2, 0) + 1.0) * 0.5, 0.0, 1.0).astype(np.float32)
    return np.ascontiguousarray(result), how


class TranslationPipeline:
    """``pipe(image, focus=None, tile=0) -> Result`` for a method that runs one generator.

    spec: the method (its ``networks[0]`` is the checkpoint loaded, e.g. "pix2pix-unet");
    multiple: an extra side-length constraint on top of the network's own (None: just the
    network's); weights: an explicit checkpoint path (else the usual resolution order); device:
    "cpu", "cuda", ... (None: CUDA when available).
    """

    def __init__(
        self,
        spec: MethodSpec,
        multiple: int | None = None,
        *,
        weights: str | Path | None = None,
        device: str | None = None,
    ) -> None:
        if multiple is not None and multiple < 1:
            raise ValueError(f"multiple must be a positive integer, got {multiple}.")
        self.spec, self.name, self.network = spec, spec.name, spec.networks[0].name
        self.params, self.multiple = spec.params, multiple
        self.weights, self.device = weights, device

    def load(self) -> tuple[torch.nn.Module, ResolvedWeights]:
        """The generator and its resolved weights (loaded on first use, then cached)."""
        return load_generator(self.spec.networks[0], weights=self.weights, device=self.device)

    def __call__(
        self, image: np.ndarray, *, focus: tuple[float, float] | None = None, **settings: Any
    ) -> Result:
        start = time.perf_counter()
        image = check_image(image)
        opts = validate_settings(self.params, settings, self.name)
        model, resolved = self.load()
        out, how = translate_image(model, image, tile=opts["tile"], multiple=self.multiple)
        notes = [FOCUS_NOTE] if focus is not None else []
        info: dict[str, Any] = {
            "method": self.name,
            "network": self.network,
            "focus": None,
            "settings": opts,
            "weights": resolved.description,
            "weights_source": resolved.source,
            "weights_sha256": resolved.sha256,
            "model_config": dict(resolved.config),
            "device": str(next(model.parameters()).device),
            **how,
            "notes": notes,
            "seconds": time.perf_counter() - start,
        }
        return Result(out, None, info)


__all__ = [
    "FOCUS_NOTE",
    "TranslationPipeline",
    "blend_ramp",
    "clear_model_cache",
    "default_device",
    "load_generator",
    "padded_side",
    "reflect_pad",
    "tile_starts",
    "translate_image",
]

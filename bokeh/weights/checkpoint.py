"""Reading and writing checkpoints: the only code that turns weight files into models.

:func:`save_checkpoint` writes ``NAME.safetensors`` + ``NAME.json`` (see
:mod:`bokeh.weights.files`); :func:`load_model` resolves a name (:mod:`bokeh.weights`, the
resolution order), builds the architecture from the stored config and loads the tensors
strictly. Depth Anything loads from a checked ``save_pretrained`` folder, and torchvision's own
ImageNet weights from the torch hub cache. Nothing here unpickles.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from bokeh import lazy
from bokeh.errors import BokehError
from bokeh.version import __version__
from bokeh.weights.files import (
    CONFIG_SUFFIX,
    FORMAT_VERSION,
    WEIGHTS_SUFFIX,
    ResolvedWeights,
    check_safetensors_file,
)
from bokeh.weights.hub import HFSnapshot, check_snapshot_folder, read_model_type
from bokeh.weights.resolve import resolve

logger = logging.getLogger("bokeh.weights")


def _atomic_target(path: Path) -> Path:
    """A temporary file beside ``path`` (renamed over it when complete), with the usual
    permissions (mkstemp's are 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def _tensors_for_saving(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """state_dict as independent, contiguous CPU tensors (safetensors refuses shared storage)."""
    seen: set[int] = set()
    out: dict[str, torch.Tensor] = {}
    for key, tensor in model.state_dict().items():
        t = tensor.detach().cpu()
        storage = t.untyped_storage()
        whole = storage.nbytes() == t.numel() * t.element_size()
        if not t.is_contiguous() or not whole or storage.data_ptr() in seen:
            t = t.contiguous().clone()  # a private copy: tied or sliced weights become separate
        seen.add(t.untyped_storage().data_ptr())
        out[key] = t
    return out


def save_checkpoint(
    model: torch.nn.Module,
    path_stem: str | Path,
    *,
    model_name: str,
    config: Any,
    provenance: dict | None = None,
) -> Path:
    """Write ``<stem>.safetensors`` and ``<stem>.json`` atomically; return the weights path.

    ``config`` is the dataclass (or dict) that built ``model``; it must be JSON-serialisable.
    ``provenance`` (training data, steps, metrics, ...) is stored in the JSON as given, with the
    bokeh version and a UTC timestamp added.
    """
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        cfg = dataclasses.asdict(config)
    elif isinstance(config, dict):
        cfg = dict(config)
    else:
        raise ValueError(
            f"config must be a dataclass instance or a dict, got {type(config).__name__}."
        )

    stem = Path(path_stem).expanduser()
    if stem.suffix.lower() in (WEIGHTS_SUFFIX, CONFIG_SUFFIX):
        stem = stem.with_suffix("")
    weights_path = stem.parent / f"{stem.name}{WEIGHTS_SUFFIX}"
    config_path = stem.parent / f"{stem.name}{CONFIG_SUFFIX}"
    weights_path.parent.mkdir(parents=True, exist_ok=True)

    prov = {
        "bokeh_version": __version__,
        "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    prov.update(provenance or {})
    meta = {
        "model": model_name,
        "config": cfg,
        "format_version": FORMAT_VERSION,
        "provenance": prov,
    }
    try:
        text = json.dumps(meta, indent=2, sort_keys=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Checkpoint config/provenance must be JSON-serialisable: {exc}.") from exc

    tmp = _atomic_target(weights_path)
    try:
        save_file(
            _tensors_for_saving(model), str(tmp), metadata={"format": "pt", "model": model_name}
        )
        os.replace(tmp, weights_path)
    finally:
        tmp.unlink(missing_ok=True)
    tmp = _atomic_target(config_path)
    try:
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, config_path)
    finally:
        tmp.unlink(missing_ok=True)
    return weights_path


def load_state(resolved: ResolvedWeights) -> dict[str, torch.Tensor]:
    """The tensors of a resolved checkpoint, on CPU (safetensors only; never unpickles)."""
    check_safetensors_file(resolved.path)
    try:
        return load_file(str(resolved.path), device="cpu")
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise BokehError(f"Cannot read weights {resolved.path}: {exc}.") from exc


def _few(keys: list[str], n: int = 5) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f" (and {len(keys) - n} more)" if len(keys) > n else "")


def check_state_matches(model: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """Raise a readable BokehError when ``state`` does not fit ``model`` exactly."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_few(unexpected)}")
        raise BokehError(f"Weights {where} do not match the model: {'; '.join(parts)}.")
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if tuple(state[k].shape) != tuple(v.shape)
    ]
    if wrong:
        raise BokehError(
            f"Weights {where} do not match the model: shape mismatch (file vs model) in {_few(wrong, 3)}."
        )


def load_model(
    name: str,
    builder: Callable[[dict], torch.nn.Module],
    *,
    explicit: str | Path | None = None,
    device: str | torch.device = "cpu",
    expect_model: str | None = None,
) -> tuple[torch.nn.Module, ResolvedWeights]:
    """Resolve ``name``, build it with ``builder(stored_config)``, load the weights strictly.

    The model is returned in eval mode with ``requires_grad`` off, on ``device``. If
    ``expect_model`` is given, the checkpoint's architecture name must equal it.
    """
    resolved = resolve(name, explicit=explicit)
    if expect_model is not None and resolved.model != expect_model:
        raise BokehError(
            f"Weights {resolved.path} are for a '{resolved.model}' model, not '{expect_model}'."
        )
    model = builder(dict(resolved.config))
    state = load_state(resolved)
    check_state_matches(model, state, str(resolved.path))
    model.load_state_dict(state, strict=True)
    model.to(device)
    model.eval()
    model.requires_grad_(False)
    return model, resolved


def torchvision_cached_state(url: str) -> dict[str, torch.Tensor] | None:
    """State dict of an official torchvision pre-trained file if it is already in the torch hub
    cache, else None (never downloads).

    This is the one place a ``.pth`` is read: torchvision's own ImageNet weights, loaded with
    ``weights_only=True`` (a restricted unpickler that only rebuilds tensors) and its hash checked.
    """
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if not cached.is_file():
        return None
    try:
        return torch.hub.load_state_dict_from_url(
            url, progress=False, check_hash=True, weights_only=True, map_location="cpu"
        )
    except Exception as exc:  # noqa: BLE001 - a corrupt cache file is not fatal
        logger.warning("Could not read cached torchvision weights %s: %s", cached, exc)
        return None


def torchvision_download_state(url: str) -> dict[str, torch.Tensor] | None:
    """Like :func:`torchvision_cached_state` but downloads when missing; None on failure."""
    try:
        return torch.hub.load_state_dict_from_url(
            url, progress=False, check_hash=True, weights_only=True, map_location="cpu"
        )
    except Exception as exc:  # noqa: BLE001 - offline or blocked: the caller warns
        logger.warning("Could not download torchvision weights %s: %s", url, exc)
        return None


def load_depth_anything(snapshot: HFSnapshot, *, device: str | torch.device = "cpu"):
    """``(model, image_processor)`` from a checked snapshot folder: transformers'
    ``AutoModelForDepthEstimation`` (safetensors only, no remote code) in eval mode on
    ``device``, and its ``AutoImageProcessor``. The config must be a ``depth_anything`` model."""
    check_snapshot_folder(snapshot.folder)
    kind = read_model_type(snapshot.folder)
    if kind != "depth_anything":
        raise BokehError(
            f"{snapshot.folder} holds a {kind!r} model, not a Depth Anything one "
            "(model_type 'depth_anything')."
        )
    transformers = lazy.optional("transformers", purpose="Depth Anything")
    try:
        model = transformers.AutoModelForDepthEstimation.from_pretrained(
            str(snapshot.folder), use_safetensors=True, local_files_only=True
        )
        processor = transformers.AutoImageProcessor.from_pretrained(
            str(snapshot.folder), local_files_only=True
        )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise BokehError(f"Cannot load the model in {snapshot.folder}: {exc}.") from exc
    model.to(device)
    model.eval()
    model.requires_grad_(False)
    return model, processor


__all__ = [
    "check_state_matches",
    "load_depth_anything",
    "load_model",
    "load_state",
    "save_checkpoint",
    "torchvision_cached_state",
    "torchvision_download_state",
]

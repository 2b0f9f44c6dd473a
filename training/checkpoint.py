"""Resumable training state, without pickle: ``train_state.safetensors`` + ``train_state.json``.

The exported network checkpoints (``NAME.safetensors`` + ``NAME.json``) are written by
:func:`bokeh.weights.save_checkpoint`; this module holds what ``--resume`` needs on top of them,
in one self-consistent pair of files (so a crash between two writes can never mix steps):

``train_state.safetensors``  tensors only: ``model.<key>.<param>`` (every network's state dict),
                             ``optim.<name>.<param index>.<slot>`` (Adam moments and steps),
                             ``extra.<name>.<key>`` (e.g. the CycleGAN image pools),
                             ``rng.torch``, ``rng.cuda.<i>``, ``rng.numpy`` (generator states)
``train_state.json``         everything else: step counters, optimizer ``param_groups`` and
                             non-tensor state, the numpy / Python RNG scalars, the grad scaler,
                             the run's settings (to check a resume is compatible)

Both files are written to temporary names and renamed into place, the JSON last; it records the
SHA-256 of the tensor file, which is checked on load.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import HfApi
from huggingface_hub import constants as hf_constants
from safetensors.torch import load_file, save_file

from bokeh.errors import BokehError
from bokeh.weights.files import file_sha256

STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"
METRICS_JSON = "metrics.json"
STATE_VERSION = 1


# --------------------------------------------------------------------------- atomic writes


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        _readable(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _readable(path: str | Path) -> None:
    """mkstemp creates 0600 files; give them the usual permissions (0644 under umask 022)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _sha256(path: Path) -> str:
    return file_sha256(path)


def _own(t: torch.Tensor) -> torch.Tensor:
    """A private contiguous CPU copy (safetensors refuses shared or strided storage)."""
    return t.detach().to("cpu", copy=True).contiguous()


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return {"__tuple__": [_jsonable(v) for v in value]}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in train_state.json")


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(_from_json(v) for v in value["__tuple__"])
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


# --------------------------------------------------------------------------- optimizers


def optimizer_to_flat(
    name: str, opt: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``opt.state_dict()`` into tensors (``optim.<name>.<idx>.<slot>``) and JSON."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, slots in sd["state"].items():
        for slot, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{name}.{idx}.{slot}"] = _own(value)
            else:
                scalars.setdefault(str(idx), {})[slot] = _jsonable(value)
    meta = {
        "param_groups": _jsonable(sd["param_groups"]),
        "scalars": scalars,
        "indices": [int(i) for i in sd["state"]],
    }
    return tensors, meta


def optimizer_from_flat(
    name: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict
) -> None:
    """Inverse of :func:`optimizer_to_flat`: load the stored state into ``opt``."""
    state: dict[int, dict[str, Any]] = {int(i): {} for i in meta["indices"]}
    prefix = f"optim.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, slot = key[len(prefix) :].split(".", 1)
            state.setdefault(int(idx), {})[slot] = value
    for idx, slots in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(_from_json(slots))
    groups = _from_json(meta["param_groups"])
    opt.load_state_dict({"state": state, "param_groups": groups})


# --------------------------------------------------------------------------- RNG


def rng_to_flat() -> tuple[dict[str, torch.Tensor], dict]:
    """The torch (CPU and CUDA), numpy and Python generator states."""
    tensors = {"rng.torch": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s.clone()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64).copy())
    py = random.getstate()
    meta = {
        "numpy": {
            "kind": kind,
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": _jsonable(py),
    }
    return tensors, meta


def rng_from_flat(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    n = meta["numpy"]
    np.random.set_state(
        (
            n["kind"],
            tensors["rng.numpy"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached"],
        )
    )
    random.setstate(_from_json(meta["python"]))


# --------------------------------------------------------------------------- whole state


def save_train_state(
    folder: Path,
    *,
    models: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    extras: dict[str, dict[str, torch.Tensor]],
    meta: dict[str, Any],
) -> Path:
    """Write ``train_state.safetensors`` and ``train_state.json`` into ``folder`` atomically."""
    tensors: dict[str, torch.Tensor] = {}
    for key, model in models.items():
        for name, t in model.state_dict().items():
            tensors[f"model.{key}.{name}"] = _own(t)
    optim_meta = {}
    for name, opt in optimizers.items():
        t, m = optimizer_to_flat(name, opt)
        tensors.update(t)
        optim_meta[name] = m
    for name, state in extras.items():
        for k, t in state.items():
            tensors[f"extra.{name}.{k}"] = _own(t)
    rng_t, rng_meta = rng_to_flat()
    tensors.update(rng_t)

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATE_TENSORS
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{STATE_TENSORS}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"format": "pt", "content": "bokeh training state"})
        digest = _sha256(Path(tmp))
        _readable(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    doc = {
        "format_version": STATE_VERSION,
        **_jsonable(meta),
        "optimizers": optim_meta,
        "rng": rng_meta,
        "tensors_sha256": digest,
    }
    atomic_write_text(folder / STATE_JSON, json.dumps(doc, indent=1) + "\n")
    return path


def has_train_state(folder: Path) -> bool:
    return (folder / STATE_JSON).is_file() and (folder / STATE_TENSORS).is_file()


def load_train_state(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) written by :func:`save_train_state`; BokehError when missing or torn."""
    if not has_train_state(folder):
        raise BokehError(
            f"No training state to resume in {str(folder)!r} (expected {STATE_TENSORS} and "
            f"{STATE_JSON}); start without --resume or point --out at a previous run."
        )
    try:
        meta = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BokehError(f"Cannot read {folder / STATE_JSON}: {exc}.") from exc
    if meta.get("format_version", 0) > STATE_VERSION:
        raise BokehError(f"{folder / STATE_JSON} was written by a newer version of bokeh.")
    path = folder / STATE_TENSORS
    if meta.get("tensors_sha256") and _sha256(path) != meta["tensors_sha256"]:
        raise BokehError(
            f"{path} does not match {STATE_JSON} (an interrupted save?); resume is not safe."
        )
    tensors = load_file(str(path), device="cpu")
    return tensors, meta


def restore(
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    *,
    models: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    restore_rng: bool = True,
) -> dict[str, dict[str, torch.Tensor]]:
    """Load models, optimizers and RNG from a loaded state; return the ``extra.*`` tensors."""
    for key, model in models.items():
        prefix = f"model.{key}."
        sd = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        if not sd:
            raise BokehError(f"The training state holds no weights for network {key!r}.")
        model.load_state_dict(sd, strict=True)
    stored = meta.get("optimizers", {})
    for name, opt in optimizers.items():
        if name not in stored:
            raise BokehError(f"The training state holds no state for optimizer {name!r}.")
        optimizer_from_flat(name, opt, tensors, stored[name])
    if restore_rng:
        rng_from_flat(tensors, meta["rng"])
    extras: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("extra."):
            name, k = key[len("extra.") :].split(".", 1)
            extras.setdefault(name, {})[k] = value
    return extras


# --------------------------------------------------------------------------- Hub upload


def push_to_hub(
    folder: Path, repo: str, *, private: bool = False, message: str | None = None
) -> str:
    """Upload ``folder`` to the Hugging Face model repo ``repo`` (created if needed).

    Returns the commit URL. Raises :class:`BokehError` with a plain explanation when offline,
    not logged in, or the upload fails; the local checkpoint is untouched either way.
    """
    if hf_constants.is_offline_mode():
        raise BokehError(
            f"Cannot upload to the Hugging Face Hub repo {repo!r}: HF_HUB_OFFLINE is set. The "
            f"checkpoint is saved in {folder}; upload it later with "
            f"`huggingface-cli upload {repo} {folder}`."
        )
    api = HfApi()
    try:
        api.create_repo(repo, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo,
            folder_path=str(folder),
            repo_type="model",
            commit_message=message or "Upload bokeh training checkpoint",
            allow_patterns=["*.safetensors", "*.json"],
            ignore_patterns=[STATE_TENSORS, STATE_JSON, ".*"],  # resume state stays local
        )
    except Exception as exc:  # noqa: BLE001 - network, auth and permission errors alike
        raise BokehError(
            f"Uploading {folder} to the Hugging Face Hub repo {repo!r} failed "
            f"({type(exc).__name__}: {exc}). Log in with `huggingface-cli login` (or set HF_TOKEN) "
            f"and check the repo name; the checkpoint is saved locally in {folder}."
        ) from exc
    return str(getattr(info, "commit_url", info))


__all__ = [
    "METRICS_JSON",
    "STATE_JSON",
    "STATE_TENSORS",
    "atomic_write_text",
    "has_train_state",
    "load_train_state",
    "optimizer_from_flat",
    "optimizer_to_flat",
    "push_to_hub",
    "restore",
    "rng_from_flat",
    "rng_to_flat",
    "save_train_state",
]

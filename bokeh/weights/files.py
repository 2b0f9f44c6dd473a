"""Checkpoint files on disk, without loading them: names, safety checks, configs, hashes.

A checkpoint called ``NAME`` is two files side by side:

``NAME.safetensors``  the tensors (safetensors format; pickle checkpoints are refused)
``NAME.json``         ``{"model": <architecture>, "config": {...}, "format_version": 1,
                      "provenance": {...}}``; ``config`` holds the fields of the dataclass that
                      built the model, so inference rebuilds exactly what training built.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from bokeh.errors import BokehError, UnsafeCheckpointError, WeightsNotFoundError

FORMAT_VERSION = 1
WEIGHTS_SUFFIX = ".safetensors"
CONFIG_SUFFIX = ".json"
# Suffixes of pickle-based checkpoints (torch.save, Lightning, pickle): never loaded.
PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar"})


@dataclass(frozen=True)
class ResolvedWeights:
    """A checkpoint found on disk, with the config stored beside it.

    ``config`` is the ``"config"`` object of ``NAME.json`` (what the builder receives); ``model``
    is its ``"model"`` entry (the architecture name); ``source`` one of
    :data:`bokeh.weights.resolve.WEIGHTS_SOURCES`; ``description`` a short origin for people.
    """

    name: str
    path: Path
    config: dict = field(hash=False)
    source: str
    description: str
    model: str = ""
    provenance: dict = field(default_factory=dict, hash=False)
    config_path: Path | None = None

    @property
    def sha256(self) -> str:
        """SHA-256 of the safetensors file (computed once per path, size and mtime)."""
        return file_sha256(self.path)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, cached per (path, size, modification time)."""
    stat = os.stat(path)
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


def refuse_pickle(path: Path) -> None:
    """Raise :class:`UnsafeCheckpointError` for a pickle checkpoint, saying how to convert it."""
    raise UnsafeCheckpointError(
        f"{path} is a pickle checkpoint; only .safetensors is loaded (pickle can run code). "
        "Convert it once, somewhere you trust the file: load its state dict with PyTorch "
        "(weights only), save it with `safetensors.torch.save_file(state, 'NAME.safetensors')` "
        "and write NAME.json beside it (or use bokeh.weights.checkpoint.save_checkpoint)."
    )


def check_safetensors_file(path: Path) -> None:
    """Raise unless ``path`` starts like a safetensors file (refusing pickle/zip headers)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
        size = path.stat().st_size
    except OSError as exc:
        raise WeightsNotFoundError(f"Cannot read weights file {path}: {exc}.") from exc
    # torch.save writes a zip archive ("PK\x03\x04"); plain pickles start with 0x80 + protocol.
    if head.startswith(b"PK\x03\x04") or (len(head) >= 2 and head[0] == 0x80 and head[1] <= 5):
        refuse_pickle(path)
    # safetensors: little-endian u64 header length, then a JSON object.
    header_len = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
    if len(head) < 9 or head[8:9] != b"{" or header_len < 2 or 8 + header_len > size:
        raise BokehError(f"{path} is not a valid .safetensors file (bad or truncated header).")


def parse_config(cfg_path: Path) -> dict:
    """The validated contents of a checkpoint's ``NAME.json``."""
    try:
        meta = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BokehError(f"Cannot read checkpoint config {cfg_path}: {exc}.") from exc
    if (
        not isinstance(meta, dict)
        or not isinstance(meta.get("model"), str)
        or not isinstance(meta.get("config"), dict)
    ):
        raise BokehError(
            f"Checkpoint config {cfg_path} must be a JSON object with a string 'model' and an "
            "object 'config'."
        )
    version = meta.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BokehError(
            f"Checkpoint config {cfg_path} has format_version {version!r}; this version of bokeh "
            f"reads format_version <= {FORMAT_VERSION}."
        )
    return meta


def checked_checkpoint(
    name: str, path: Path, source: str, description: str, *, config_path: Path | None = None
) -> ResolvedWeights:
    """A :class:`ResolvedWeights` for ``path`` once its header and JSON config are checked."""
    check_safetensors_file(path)
    cfg_path = config_path or path.with_suffix(CONFIG_SUFFIX)
    if not cfg_path.is_file():
        raise BokehError(
            f"{path} has no config file {cfg_path.name} beside it; a checkpoint is "
            f"NAME.safetensors plus NAME.json (written by save_checkpoint)."
        )
    meta = parse_config(cfg_path)
    provenance = meta.get("provenance")
    return ResolvedWeights(
        name=name,
        path=path,
        config=dict(meta["config"]),
        source=source,
        description=description,
        model=meta["model"],
        provenance=dict(provenance) if isinstance(provenance, dict) else {},
        config_path=cfg_path,
    )


def pickles_beside(folder: Path, name: str) -> list[Path]:
    """Pickle checkpoints named ``name`` in ``folder`` (to say why they are not used)."""
    return [
        folder / f"{name}{s}" for s in sorted(PICKLE_SUFFIXES) if (folder / f"{name}{s}").exists()
    ]


__all__ = [
    "CONFIG_SUFFIX",
    "FORMAT_VERSION",
    "PICKLE_SUFFIXES",
    "WEIGHTS_SUFFIX",
    "ResolvedWeights",
    "check_safetensors_file",
    "checked_checkpoint",
    "file_sha256",
    "parse_config",
    "pickles_beside",
    "refuse_pickle",
]

"""Where model weights come from, and the only module that reads or writes checkpoints.

A checkpoint called ``NAME`` is two files side by side:

``NAME.safetensors``  the tensors (safetensors format; pickle checkpoints are refused)
``NAME.json``         ``{"model": <architecture>, "config": {...}, "format_version": 1,
                      "provenance": {...}}``; ``config`` holds the fields of the dataclass that
                      built the model, so inference rebuilds exactly what training built.

:func:`resolve` looks for ``NAME`` in this order and logs which source it used:

1. an explicit path (a ``.safetensors`` file or a folder holding ``NAME.safetensors``);
2. ``$BOKEH_WEIGHTS_DIR``;
3. the weights bundled with the repository (``assets/weights``);
4. the Hugging Face Hub repo ``$BOKEH_HUB_REPO`` (``hf_hub_download``: uses the local HF cache and
   honours ``HF_HUB_OFFLINE``).

Published models used as they are (Depth Anything, through ``transformers``) are a
``save_pretrained`` folder instead (config.json, preprocessor_config.json, model.safetensors):
:func:`resolve_depth_anything` takes ``$BOKEH_DEPTH_ANYTHING_DIR``, else the snapshot of
``$BOKEH_DEPTH_ANYTHING_REPO`` in the local Hugging Face cache, else downloads it (once, logged;
never when ``HF_HUB_OFFLINE`` is set); :func:`depth_anything_status` says which, cheaply.

Example::

    from bokeh import weights
    model, resolved = weights.load_model("densedepth", build_densedepth)
    print(resolved.description, resolved.sha256)
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bokeh import config as _config
from bokeh.errors import BokehError, UnsafeCheckpointError, WeightsNotFoundError

if TYPE_CHECKING:  # torch is heavy: imported inside the functions that need it
    import torch

logger = logging.getLogger("bokeh.weights")

FORMAT_VERSION = 1
WEIGHTS_SUFFIX = ".safetensors"
CONFIG_SUFFIX = ".json"
# Suffixes of pickle-based checkpoints (torch.save, Lightning, pickle): never loaded.
PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar"})

SOURCES = ("explicit", "weights-dir", "bundled", "hub")


@dataclass(frozen=True)
class ResolvedWeights:
    """A checkpoint found on disk, with the config stored beside it.

    ``config`` is the ``"config"`` object of ``NAME.json`` (what the builder receives); ``model``
    is its ``"model"`` entry (the architecture name). ``description`` is a short human-readable
    origin for a UI badge.
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


# --------------------------------------------------------------------------- file checks


def _refuse_pickle(path: Path) -> None:
    raise UnsafeCheckpointError(
        f"{path} is a pickle checkpoint; only .safetensors is loaded (pickle can run code). "
        "Convert it once, somewhere you trust the file: load its state dict with PyTorch "
        "(weights only), save it with `safetensors.torch.save_file(state, 'NAME.safetensors')` "
        "and write NAME.json beside it (or use bokeh.weights.save_checkpoint)."
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
        _refuse_pickle(path)
    # safetensors: little-endian u64 header length, then a JSON object.
    header_len = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
    if len(head) < 9 or head[8:9] != b"{" or header_len < 2 or 8 + header_len > size:
        raise BokehError(f"{path} is not a valid .safetensors file (bad or truncated header).")


def _read_config(weights_path: Path) -> tuple[dict, Path]:
    """Read and validate ``NAME.json`` next to ``NAME.safetensors``."""
    cfg_path = weights_path.with_suffix(CONFIG_SUFFIX)
    if not cfg_path.is_file():
        raise BokehError(
            f"{weights_path} has no config file {cfg_path.name} beside it; a checkpoint is "
            f"NAME.safetensors plus NAME.json (written by bokeh.weights.save_checkpoint)."
        )
    return _parse_config(cfg_path), cfg_path


def _parse_config(cfg_path: Path) -> dict:
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


def _make_resolved(name: str, path: Path, source: str, description: str) -> ResolvedWeights:
    check_safetensors_file(path)
    meta, cfg_path = _read_config(path)
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


def _pickles_beside(folder: Path, name: str) -> list[Path]:
    return [
        folder / f"{name}{s}" for s in sorted(PICKLE_SUFFIXES) if (folder / f"{name}{s}").exists()
    ]


# --------------------------------------------------------------------------- resolution


def _bundled_dir() -> Path:
    # Read at call time so tests (and packagers) can point it elsewhere.
    return Path(_config.BUNDLED_WEIGHTS_DIR)


def _from_explicit(name: str, explicit: str | Path) -> ResolvedWeights:
    path = Path(explicit).expanduser()
    if path.suffix.lower() in PICKLE_SUFFIXES:
        _refuse_pickle(path)
    if path.is_dir():
        candidate = path / f"{name}{WEIGHTS_SUFFIX}"
        if not candidate.is_file():
            pickles = _pickles_beside(path, name)
            if pickles:
                _refuse_pickle(pickles[0])
            raise WeightsNotFoundError(
                f"The folder {path} has no {candidate.name}; pass the .safetensors file itself or "
                f"a folder holding {name}.safetensors and {name}.json."
            )
        path = candidate
    elif not path.is_file():
        raise WeightsNotFoundError(f"Weights file {path} does not exist.")
    return _make_resolved(name, path.resolve(), "explicit", f"local file {path.resolve()}")


def _from_folder(name: str, folder: Path, source: str, description: str) -> ResolvedWeights | None:
    path = folder / f"{name}{WEIGHTS_SUFFIX}"
    if path.is_file():
        return _make_resolved(name, path.resolve(), source, description)
    return None


def _hub_filenames(name: str) -> tuple[str, str]:
    return f"{name}{WEIGHTS_SUFFIX}", f"{name}{CONFIG_SUFFIX}"


def _from_hub(name: str, repo: str, revision: str) -> tuple[ResolvedWeights | None, str]:
    """Download (or find in the HF cache) NAME.safetensors + NAME.json; (result, why-not)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        return None, "huggingface_hub is not installed"
    offline = _hub_offline()
    weights_file, config_file = _hub_filenames(name)
    try:
        local_weights = Path(hf_hub_download(repo, weights_file, revision=revision))
        local_config = Path(hf_hub_download(repo, config_file, revision=revision))
    except Exception as exc:  # noqa: BLE001 - any Hub/network failure means "not found there"
        if offline:
            return (
                None,
                f"not found on the Hub (offline: HF_HUB_OFFLINE is set and {repo}@{revision} "
                f"is not in the local cache)",
            )
        return None, f"not found on the Hub {repo}@{revision} ({type(exc).__name__}: {exc})"
    check_safetensors_file(local_weights)
    meta = _parse_config(local_config)
    desc, _ = _hub_description(repo, revision, local_weights.parent)
    provenance = meta.get("provenance")
    return (
        ResolvedWeights(
            name=name,
            path=local_weights,
            config=dict(meta["config"]),
            source="hub",
            description=desc,
            model=meta["model"],
            provenance=dict(provenance) if isinstance(provenance, dict) else {},
            config_path=local_config,
        ),
        "",
    )


def resolve(name: str, *, explicit: str | Path | None = None) -> ResolvedWeights:
    """Find the checkpoint ``name``: explicit path, ``$BOKEH_WEIGHTS_DIR``, the Hub repo in
    ``$BOKEH_HUB_REPO`` (when set and reachable or cached), then the bundled demo weights.

    An explicit path is final: if it is missing or unsafe, the error is raised rather than
    falling back to other sources. Raises :class:`WeightsNotFoundError` (listing what was tried),
    :class:`UnsafeCheckpointError` for pickle files, :class:`BokehError` for a checkpoint without
    its JSON config.
    """
    if not name or "/" in name or "\\" in name:
        raise ValueError(f"Checkpoint name must be a plain name like 'densedepth', got {name!r}.")
    if explicit is not None and str(explicit) != "":
        resolved = _from_explicit(name, explicit)
        logger.info("%s weights: %s", name, resolved.description)
        return resolved

    tried: list[str] = []
    pickles: list[Path] = []
    wdir = _config.weights_dir()
    if wdir is not None:
        found = _from_folder(
            name, wdir, "weights-dir", f"BOKEH_WEIGHTS_DIR file {wdir / name}{WEIGHTS_SUFFIX}"
        )
        if found:
            logger.info("%s weights: %s", name, found.description)
            return found
        tried.append(f"BOKEH_WEIGHTS_DIR ({wdir})")
        pickles += _pickles_beside(wdir, name)
    else:
        tried.append("BOKEH_WEIGHTS_DIR (not set)")

    # A configured Hub repo is preferred to the bundled demo weights; when it cannot be reached
    # (offline, missing file), the demo weights still serve.
    repo, revision = _config.hub_repo()
    if repo:
        found, why = _from_hub(name, repo, revision)
        if found:
            logger.info("%s weights: %s", name, found.description)
            return found
        tried.append(why)
    else:
        tried.append("Hugging Face Hub (BOKEH_HUB_REPO not set)")

    bundled = _bundled_dir()
    found = _from_folder(name, bundled, "bundled", f"demo weights bundled in {_short(bundled)}")
    if found:
        logger.info("%s weights: %s", name, found.description)
        return found
    tried.append(f"bundled weights ({bundled})")
    pickles += _pickles_beside(bundled, name)

    hint = ""
    if pickles:
        hint = f" Found {pickles[0]}, a pickle checkpoint that is never loaded; convert it to safetensors."
    raise WeightsNotFoundError(
        f"No weights found for '{name}'; tried: {'; '.join(tried)}. To get weights, train them with "
        f"`python -m training {name} ...`, put {name}.safetensors + {name}.json in "
        f"$BOKEH_WEIGHTS_DIR, or set BOKEH_HUB_REPO to a Hugging Face repo that holds them.{hint}"
    )


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(_config.REPO_DIR))
    except ValueError:
        return str(path)


def weights_status(name: str) -> str:
    """Where :func:`resolve` would find ``name``, without downloading or loading anything.

    One of ``"weights-dir"``, ``"hub (cached)"``, ``"bundled"`` (plus ``" (hub not downloaded
    yet)"`` when a Hub repo is configured), ``"hub (not downloaded)"``, ``"no weights"``, in the
    order :func:`resolve` tries them; a weights file without its JSON gets
    ``" (NAME.json missing)"``.
    """
    def local(source: str, folder: Path | None) -> str | None:
        if folder is None:
            return None
        path = folder / f"{name}{WEIGHTS_SUFFIX}"
        if not path.is_file():
            return None
        if not path.with_suffix(CONFIG_SUFFIX).is_file():
            return f"{source} ({name}{CONFIG_SUFFIX} missing)"
        return source

    status = local("weights-dir", _config.weights_dir())
    if status:
        return status
    repo, revision = _config.hub_repo()
    hub = None
    if repo:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = [try_to_load_from_cache(repo, f, revision=revision)
                      for f in _hub_filenames(name)]
            hub = "hub (cached)" if all(isinstance(c, str) for c in cached) else None
        except ImportError:
            hub = None
        if hub:
            return hub
    status = local("bundled", _bundled_dir())
    if status:
        return status if not repo else f"{status} (hub not downloaded yet)"
    return "hub (not downloaded)" if repo else "no weights"


# --------------------------------------------------------------------------- Hugging Face snapshots
# Models used as they are published (Depth Anything) live in a transformers ``save_pretrained``
# folder: a local one ($BOKEH_DEPTH_ANYTHING_DIR) or a snapshot in the Hugging Face cache.

HF_CONFIG_FILES = ("config.json", "preprocessor_config.json")
HF_WEIGHTS_FILE = "model.safetensors"
_HF_PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_HUB_PROBE_TIMEOUT_S = 5.0
_HUB_REACHABLE: dict[tuple[str, str], bool] = {}
_HUB_LOCK = threading.Lock()
_DOWNLOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class HFSnapshot:
    """A local folder holding a transformers ``save_pretrained`` model with safetensors weights.

    ``source`` is ``"local-dir"`` or ``"hub"``; ``description`` says where it came from, for
    people (``"Hub: owner/name@main, commit 1234abc"`` or ``"local folder /path"``).
    """

    folder: Path
    source: str
    description: str
    repo: str | None = None
    revision: str | None = None
    commit: str | None = None


def check_hf_folder(folder: Path) -> None:
    """Raise unless ``folder`` holds config.json, preprocessor_config.json and a valid
    model.safetensors: :class:`UnsafeCheckpointError` when its weights are pickle files only,
    :class:`WeightsNotFoundError` for missing files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsNotFoundError(f"The model folder {folder} does not exist.")
    weights_path = folder / HF_WEIGHTS_FILE
    if not weights_path.is_file():
        pickles = [folder / f for f in _HF_PICKLE_FILES if (folder / f).exists()]
        if pickles:
            raise UnsafeCheckpointError(
                f"{folder} holds only pickle weights ({pickles[0].name}), which are never loaded "
                f"(pickle can run code); use a folder with {HF_WEIGHTS_FILE}, e.g. written by "
                "`model.save_pretrained(folder)` with safe serialisation."
            )
        raise WeightsNotFoundError(f"The model folder {folder} has no {HF_WEIGHTS_FILE}.")
    missing = [f for f in HF_CONFIG_FILES if not (folder / f).is_file()]
    if missing:
        raise WeightsNotFoundError(f"The model folder {folder} has no {', '.join(missing)}.")
    check_safetensors_file(weights_path)


def _cached_snapshot(repo: str, revision: str) -> Path | None:
    """The HF-cache snapshot folder of ``repo@revision`` when every file we need is cached
    (cheap: reads refs and stats files; never touches the network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    folders = set()
    for filename in (*HF_CONFIG_FILES, HF_WEIGHTS_FILE):
        try:
            found = try_to_load_from_cache(repo, filename, revision=revision)
        except ValueError:  # a malformed repo id or revision: treat as not cached
            return None
        if not isinstance(found, str):
            return None
        folders.add(Path(found).parent)
    return folders.pop() if len(folders) == 1 else None


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def hf_snapshot_status(repo: str | None, revision: str, *, local_dir: Path | None = None) -> str:
    """Where :func:`resolve_hf_snapshot` would find the model, without downloading anything.

    One of ``"local-dir"`` (or ``"local-dir (<problem>)"``), ``"hub (cached)"``,
    ``"hub (not downloaded)"`` (allowed to download on first use), ``"hub (offline, not
    cached)"``, ``"off"`` (no local folder and no repo) or ``"huggingface_hub not installed"``.
    """
    if local_dir is not None:
        try:
            check_hf_folder(local_dir)
        except BokehError as exc:
            return f"local-dir ({exc})"
        return "local-dir"
    if not repo:
        return "off"
    try:
        offline = _hub_offline()
    except ImportError:
        return "huggingface_hub not installed"
    if _cached_snapshot(repo, revision) is not None:
        return "hub (cached)"
    return "hub (offline, not cached)" if offline else "hub (not downloaded)"


def hub_reachable(repo: str, revision: str) -> bool:
    """Whether ``repo@revision`` can be downloaded now: False when offline, else one small
    request (its config.json metadata), asked once per process and remembered."""
    try:
        if _hub_offline():
            return False
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
    except ImportError:
        return False
    with _HUB_LOCK:
        if (repo, revision) not in _HUB_REACHABLE:
            try:
                get_hf_file_metadata(hf_hub_url(repo, HF_CONFIG_FILES[0], revision=revision),
                                     timeout=_HUB_PROBE_TIMEOUT_S)
                _HUB_REACHABLE[(repo, revision)] = True
            except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
                logger.info("Hugging Face Hub %s@%s is not reachable (%s: %s)", repo, revision,
                            type(exc).__name__, exc)
                _HUB_REACHABLE[(repo, revision)] = False
        return _HUB_REACHABLE[(repo, revision)]


def forget_hub_reachability() -> None:
    """Forget what :func:`hub_reachable` learnt (e.g. after the network came back)."""
    with _HUB_LOCK:
        _HUB_REACHABLE.clear()


def _hub_description(repo: str, revision: str, folder: Path) -> tuple[str, str | None]:
    commit = folder.name if folder.parent.name == "snapshots" else None
    desc = f"Hub: {repo}@{revision}"
    if commit and commit != revision:
        desc += f", commit {commit[:7]}"
    return desc, commit


def resolve_hf_snapshot(
    repo: str | None,
    revision: str = "main",
    *,
    local_dir: str | Path | None = None,
    download: bool = True,
) -> HFSnapshot:
    """A checked local folder for a transformers model: ``local_dir`` if given (final: a broken
    folder raises rather than falling back), else the snapshot of ``repo@revision`` in the HF
    cache, else (when ``download`` and not ``HF_HUB_OFFLINE``) a download of its config files
    and ``model.safetensors`` only, done at most once at a time and logged.

    Raises :class:`WeightsNotFoundError` saying why, :class:`UnsafeCheckpointError` when the
    weights are pickle files only.
    """
    if local_dir is not None and str(local_dir) != "":
        folder = Path(local_dir).expanduser().resolve()
        check_hf_folder(folder)
        return HFSnapshot(folder, "local-dir", f"local folder {folder}")
    if not repo:
        raise WeightsNotFoundError("No model folder or Hugging Face repo is configured.")
    try:
        offline = _hub_offline()
    except ImportError:
        raise WeightsNotFoundError("huggingface_hub is not installed.") from None
    folder = _cached_snapshot(repo, revision)
    if folder is None and (offline or not download):
        why = "HF_HUB_OFFLINE is set" if offline else "downloads are not allowed here"
        raise WeightsNotFoundError(
            f"{repo}@{revision} is not in the Hugging Face cache and {why}.")
    if folder is None:
        from huggingface_hub import snapshot_download

        with _DOWNLOAD_LOCK:  # one download at a time; a second caller then finds it cached
            folder = _cached_snapshot(repo, revision)
            if folder is None:
                logger.info("Downloading %s@%s from the Hugging Face Hub (once; then cached)",
                            repo, revision)
                try:
                    folder = Path(snapshot_download(
                        repo, revision=revision,
                        allow_patterns=[*HF_CONFIG_FILES, HF_WEIGHTS_FILE]))
                except Exception as exc:  # noqa: BLE001 - network, auth, missing repo, ...
                    with _HUB_LOCK:  # auto stops trying it in this process
                        _HUB_REACHABLE[(repo, revision)] = False
                    raise WeightsNotFoundError(
                        f"Could not download {repo}@{revision} from the Hugging Face Hub "
                        f"({type(exc).__name__}: {exc}).") from exc
                logger.info("Downloaded %s@%s to %s", repo, revision, folder)
    check_hf_folder(folder)
    desc, commit = _hub_description(repo, revision, folder)
    return HFSnapshot(folder, "hub", desc, repo=repo, revision=revision, commit=commit)



def depth_anything_status() -> str:
    """:func:`hf_snapshot_status` for the configured Depth Anything model (cheap; never
    downloads), or ``"transformers not installed"``."""
    import importlib.util

    if importlib.util.find_spec("transformers") is None:
        return "transformers not installed"
    repo, revision = _config.depth_anything_repo()
    return hf_snapshot_status(repo, revision, local_dir=_config.depth_anything_dir())


def resolve_depth_anything(*, download: bool = True) -> HFSnapshot:
    """The Depth Anything model folder: ``$BOKEH_DEPTH_ANYTHING_DIR``, else the HF cache, else
    a download of ``$BOKEH_DEPTH_ANYTHING_REPO`` (see :func:`resolve_hf_snapshot`)."""
    repo, revision = _config.depth_anything_repo()
    try:
        return resolve_hf_snapshot(repo, revision, local_dir=_config.depth_anything_dir(),
                                   download=download)
    except WeightsNotFoundError as exc:
        name = repo or _config.DEFAULT_DEPTH_ANYTHING_REPO
        why = str(exc).rstrip(".")
        if why.startswith(("The ", "No ", "Could ")):
            why = why[0].lower() + why[1:]
        raise WeightsNotFoundError(
            f"Depth Anything is not available ({why}): put {name} in the "
            f"Hugging Face cache (run `hf download {name}` once with network access), set "
            "BOKEH_DEPTH_ANYTHING_DIR to a save_pretrained folder of it, or allow downloads "
            "(network access, HF_HUB_OFFLINE unset).") from exc


def prefetch(names: list[str] | None = None) -> dict[str, str]:
    """Fetch what the configured Hub repos hold into the local cache, so that first use does
    not wait for a download (the app runs this in a thread at start-up). Never raises.

    ``names``: checkpoints to fetch from ``$BOKEH_HUB_REPO`` (default: every network a
    registered method runs; none when the variable is unset). Depth Anything is fetched when it
    is configured, not cached yet and downloads are allowed. Returns ``{name: where it is now,
    or why it was not fetched}``.
    """
    out: dict[str, str] = {}
    repo, _ = _config.hub_repo()
    if repo:
        if names is None:
            from bokeh.registry import METHODS

            names = sorted({n for spec in METHODS.values() for n in spec.networks})
        for name in names:
            try:
                out[name] = resolve(name).description
            except (BokehError, OSError) as exc:
                out[name] = f"not fetched: {exc}"
    status = depth_anything_status()
    if status == "hub (not downloaded)":
        try:
            out["depth-anything"] = resolve_depth_anything(download=True).description
        except (BokehError, OSError) as exc:
            out["depth-anything"] = f"not fetched: {exc}"
    else:
        out["depth-anything"] = status
    return out


def load_depth_anything(snapshot: HFSnapshot, *, device: str | torch.device = "cpu"):
    """``(model, image_processor)`` from a checked snapshot folder: transformers'
    ``AutoModelForDepthEstimation`` (safetensors only, no remote code) in eval mode on
    ``device``, and its ``AutoImageProcessor``. The config must be a ``depth_anything`` model."""
    check_hf_folder(snapshot.folder)
    try:
        meta = json.loads((snapshot.folder / HF_CONFIG_FILES[0]).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BokehError(f"Cannot read {snapshot.folder / HF_CONFIG_FILES[0]}: {exc}.") from exc
    if not isinstance(meta, dict) or meta.get("model_type") != "depth_anything":
        kind = meta.get("model_type") if isinstance(meta, dict) else None
        raise BokehError(
            f"{snapshot.folder} holds a {kind!r} model, not a Depth Anything one "
            "(model_type 'depth_anything').")
    try:
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation
    except ImportError as exc:
        raise BokehError(
            f"Depth Anything needs the transformers package (>= 5.0), which is missing: {exc}."
        ) from exc
    try:
        model = AutoModelForDepthEstimation.from_pretrained(
            str(snapshot.folder), use_safetensors=True, local_files_only=True)
        processor = AutoImageProcessor.from_pretrained(str(snapshot.folder),
                                                       local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise BokehError(f"Cannot load the model in {snapshot.folder}: {exc}.") from exc
    model.to(device)
    model.eval()
    model.requires_grad_(False)
    return model, processor


# --------------------------------------------------------------------------- save / load


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
    from safetensors.torch import save_file

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

    from bokeh import __version__

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
    from safetensors.torch import load_file

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
    import torch

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
    import torch

    try:
        return torch.hub.load_state_dict_from_url(
            url, progress=False, check_hash=True, weights_only=True, map_location="cpu"
        )
    except Exception as exc:  # noqa: BLE001 - offline or blocked: the caller warns
        logger.warning("Could not download torchvision weights %s: %s", url, exc)
        return None


__all__ = [
    "prefetch",
    "HFSnapshot",
    "ResolvedWeights",
    "SOURCES",
    "check_hf_folder",
    "check_safetensors_file",
    "check_state_matches",
    "depth_anything_status",
    "forget_hub_reachability",
    "hf_snapshot_status",
    "hub_reachable",
    "load_depth_anything",
    "load_model",
    "load_state",
    "resolve",
    "resolve_depth_anything",
    "resolve_hf_snapshot",
    "save_checkpoint",
    "torchvision_cached_state",
    "torchvision_download_state",
    "weights_status",
]

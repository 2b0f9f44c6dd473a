"""The Hugging Face Hub: checkpoint files from a model repo, and ``save_pretrained`` snapshots.

Nothing here loads a model. Downloads honour ``HF_HUB_OFFLINE`` and the local HF cache;
:func:`snapshot_status` and :func:`cached_files` never touch the network.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
from huggingface_hub import constants as hf_constants

from bokeh.errors import BokehError, UnsafeCheckpointError, WeightsNotFoundError
from bokeh.weights.files import check_safetensors_file

logger = logging.getLogger("bokeh.weights")

HF_CONFIG_FILES = ("config.json", "preprocessor_config.json")
HF_WEIGHTS_FILE = "model.safetensors"
_HF_PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_PROBE_TIMEOUT_S = 5.0
_REACHABLE: dict[tuple[str, str], bool] = {}
_FAILED: dict[tuple[str, str], str] = {}  # why a download failed (not retried in this process)
_REASON_CHARS = 60
_REACH_LOCK = threading.Lock()
_DOWNLOAD_LOCK = threading.Lock()


def offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` forbids network access."""
    return bool(hf_constants.is_offline_mode())


def describe(repo: str, revision: str, folder: Path) -> tuple[str, str | None]:
    """``("Hub: repo@revision, commit abc1234", commit)`` for a file or snapshot in the cache."""
    commit = folder.name if folder.parent.name == "snapshots" else None
    desc = f"Hub: {repo}@{revision}"
    if commit and commit != revision:
        desc += f", commit {commit[:7]}"
    return desc, commit


def cached_files(repo: str, revision: str, filenames: tuple[str, ...]) -> list[Path] | None:
    """Local paths of ``filenames`` when every one is in the HF cache, else None (cheap)."""
    found = []
    for filename in filenames:
        try:
            path = huggingface_hub.try_to_load_from_cache(repo, filename, revision=revision)
        except ValueError:  # a malformed repo id or revision: treat as not cached
            return None
        if not isinstance(path, str):
            return None
        found.append(Path(path))
    return found


def download_files(repo: str, revision: str, filenames: tuple[str, ...]) -> list[Path]:
    """Local paths of ``filenames`` from ``repo@revision`` (the HF cache, else a download).

    Raises :class:`WeightsNotFoundError` saying why when a file cannot be had.
    """
    try:
        return [
            Path(huggingface_hub.hf_hub_download(repo, f, revision=revision)) for f in filenames
        ]
    except Exception as exc:  # noqa: BLE001 - any Hub/network failure means "not found there"
        if offline():
            raise WeightsNotFoundError(
                f"not found on the Hub (offline: HF_HUB_OFFLINE is set and {repo}@{revision} "
                f"is not in the local cache)"
            ) from exc
        raise WeightsNotFoundError(
            f"not found on the Hub {repo}@{revision} ({type(exc).__name__}: {exc})"
        ) from exc


def reachable(repo: str, revision: str) -> bool:
    """Whether ``repo@revision`` can be downloaded now: False when offline, else one small
    request (its config.json metadata), asked once per process and remembered."""
    if offline():
        return False
    with _REACH_LOCK:
        if (repo, revision) not in _REACHABLE:
            try:
                url = huggingface_hub.hf_hub_url(repo, HF_CONFIG_FILES[0], revision=revision)
                huggingface_hub.get_hf_file_metadata(url, timeout=_PROBE_TIMEOUT_S)
                _REACHABLE[(repo, revision)] = True
            except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
                logger.info(
                    "Hugging Face Hub %s@%s is not reachable (%s: %s)",
                    repo, revision, type(exc).__name__, exc,
                )  # fmt: skip
                _REACHABLE[(repo, revision)] = False
        return _REACHABLE[(repo, revision)]


def forget_reachability() -> None:
    """Forget what :func:`reachable` and failed downloads learnt (e.g. after the network came
    back)."""
    with _REACH_LOCK:
        _REACHABLE.clear()
        _FAILED.clear()


def _failure(repo: str, revision: str) -> str | None:
    """Why ``repo@revision`` cannot be downloaded in this process (a failed download or an
    unanswered probe), in a few words, or None when nothing failed."""
    with _REACH_LOCK:
        if _REACHABLE.get((repo, revision)) is not False:
            return None
        return _FAILED.get((repo, revision), "the Hugging Face Hub did not answer")


# --------------------------------------------------------------------------- snapshots
# Models used as they are published (Depth Anything) live in a transformers ``save_pretrained``
# folder: a local one or a snapshot in the Hugging Face cache.


@dataclass(frozen=True)
class HFSnapshot:
    """A checked local folder holding a transformers model with safetensors weights.

    ``source`` is ``"local-dir"`` or ``"hub"``; ``description`` says where it came from, for
    people (``"Hub: owner/name@main, commit 1234abc"`` or ``"local folder /path"``).
    """

    folder: Path
    source: str
    description: str
    repo: str | None = None
    revision: str | None = None
    commit: str | None = None


@dataclass(frozen=True)
class SnapshotStatus:
    """Where :func:`resolve_snapshot` would find a model now, without downloading anything.

    source:       "local-dir", "hub", or None (turned off, or a package is missing).
    cached:       on disk and checked: usable at once.
    downloadable: not on disk, but a download on first use is allowed (online).
    reason:       why it is not usable ("" when it is).
    """

    source: str | None
    cached: bool = False
    downloadable: bool = False
    reason: str = ""
    repo: str | None = None
    revision: str = "main"
    folder: Path | None = None

    @property
    def usable(self) -> bool:
        return self.cached or self.downloadable


def check_snapshot_folder(folder: Path) -> None:
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


def read_model_type(folder: Path) -> str | None:
    """The ``model_type`` of a snapshot's config.json (None when it has none)."""
    path = folder / HF_CONFIG_FILES[0]
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BokehError(f"Cannot read {path}: {exc}.") from exc
    return meta.get("model_type") if isinstance(meta, dict) else None


def _cached_snapshot(repo: str, revision: str) -> Path | None:
    files = cached_files(repo, revision, (*HF_CONFIG_FILES, HF_WEIGHTS_FILE))
    if files is None:
        return None
    folders = {f.parent for f in files}
    return folders.pop() if len(folders) == 1 else None


def snapshot_status(repo: str | None, revision: str, *, local_dir: Path | None) -> SnapshotStatus:
    """Where :func:`resolve_snapshot` would find the model (cheap; never downloads)."""
    if local_dir is not None:
        try:
            check_snapshot_folder(local_dir)
        except BokehError as exc:
            return SnapshotStatus("local-dir", reason=str(exc), folder=local_dir)
        return SnapshotStatus("local-dir", cached=True, folder=local_dir)
    if not repo:
        return SnapshotStatus(None, reason="turned off")
    folder = _cached_snapshot(repo, revision)
    if folder is not None:
        return SnapshotStatus("hub", cached=True, repo=repo, revision=revision, folder=folder)
    if offline():
        return SnapshotStatus(
            "hub", repo=repo, revision=revision,
            reason="not in the local Hugging Face cache, and HF_HUB_OFFLINE is set",
        )  # fmt: skip
    failed = _failure(repo, revision)
    if failed:
        return SnapshotStatus("hub", repo=repo, revision=revision, reason=failed)
    return SnapshotStatus("hub", downloadable=True, repo=repo, revision=revision)


def resolve_snapshot(
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
        check_snapshot_folder(folder)
        return HFSnapshot(folder, "local-dir", f"local folder {folder}")
    if not repo:
        raise WeightsNotFoundError("No model folder or Hugging Face repo is configured.")
    folder = _cached_snapshot(repo, revision)
    if folder is None and (offline() or not download):
        why = "HF_HUB_OFFLINE is set" if offline() else "downloads are not allowed here"
        raise WeightsNotFoundError(f"{repo}@{revision} is not in the Hugging Face cache and {why}.")
    failed = _failure(repo, revision) if folder is None else None
    if failed:  # not retried: every pick would wait for the network again
        raise WeightsNotFoundError(
            f"{repo}@{revision} is not in the Hugging Face cache ({failed})."
        )
    if folder is None:
        folder = _download_snapshot(repo, revision)
    check_snapshot_folder(folder)
    desc, commit = describe(repo, revision, folder)
    return HFSnapshot(folder, "hub", desc, repo=repo, revision=revision, commit=commit)


def _download_snapshot(repo: str, revision: str) -> Path:
    with _DOWNLOAD_LOCK:  # one download at a time; a second caller then finds it cached
        folder = _cached_snapshot(repo, revision)
        if folder is not None:
            return folder
        logger.info(
            "Downloading %s@%s from the Hugging Face Hub (once; then cached)", repo, revision
        )
        try:
            folder = Path(
                huggingface_hub.snapshot_download(
                    repo, revision=revision, allow_patterns=[*HF_CONFIG_FILES, HF_WEIGHTS_FILE]
                )
            )
        except Exception as exc:  # noqa: BLE001 - network, auth, missing repo, ...
            why = " ".join(f"{type(exc).__name__}: {exc}".split())
            if len(why) > _REASON_CHARS:
                why = why[: _REASON_CHARS - 1] + "…"
            with _REACH_LOCK:  # auto stops trying it in this process
                _REACHABLE[(repo, revision)] = False
                _FAILED[(repo, revision)] = f"its download failed: {why}"
            logger.warning(
                "Downloading %s@%s failed: %s: %s", repo, revision, type(exc).__name__, exc
            )
            raise WeightsNotFoundError(
                f"Could not download {repo}@{revision} from the Hugging Face Hub "
                f"({type(exc).__name__}: {exc})."
            ) from exc
        logger.info("Downloaded %s@%s to %s", repo, revision, folder)
        return folder


__all__ = [
    "HF_CONFIG_FILES",
    "HF_WEIGHTS_FILE",
    "HFSnapshot",
    "SnapshotStatus",
    "cached_files",
    "check_snapshot_folder",
    "describe",
    "download_files",
    "forget_reachability",
    "offline",
    "reachable",
    "read_model_type",
    "resolve_snapshot",
    "snapshot_status",
]

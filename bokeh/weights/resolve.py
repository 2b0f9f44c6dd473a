"""Where weights come from: the resolution order of :mod:`bokeh.weights`, and typed statuses.

The order itself is stated once, in the :mod:`bokeh.weights` docstring; :func:`resolve`
implements it and :func:`weights_status` reports, without downloading, what it would find.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bokeh import config as _config
from bokeh import lazy
from bokeh.errors import BokehError, WeightsNotFoundError
from bokeh.weights import hub
from bokeh.weights.files import (
    CONFIG_SUFFIX,
    PICKLE_SUFFIXES,
    WEIGHTS_SUFFIX,
    ResolvedWeights,
    checked_checkpoint,
    file_sha256,
    pickles_beside,
    refuse_pickle,
)

logger = logging.getLogger("bokeh.weights")

WEIGHTS_SOURCES = ("explicit", "weights-dir", "hub", "bundled")


@dataclass(frozen=True)
class WeightsStatus:
    """Where :func:`resolve` would find checkpoint ``name`` now (never downloads).

    source:      "weights-dir", "hub" or "bundled"; None when no source holds it.
    cached:      on disk now (False: the Hub file is downloaded on first use).
    complete:    ``NAME.json`` sits beside ``NAME.safetensors``.
    hub_pending: a Hub repo is configured but not cached, so :func:`resolve` tries it before
                 the ``source`` found here (the demo weights serve when it cannot be reached).
    reason:      what is wrong or missing, for people ("" when nothing is).
    """

    name: str
    source: str | None
    cached: bool = True
    complete: bool = True
    hub_pending: bool = False
    reason: str = ""
    path: Path | None = None
    hub: str | None = None  # "repo@revision" when BOKEH_HUB_REPO is set

    @property
    def usable(self) -> bool:
        """A checkpoint will resolve (perhaps after a download)."""
        return self.source is not None and self.complete

    @property
    def is_demo(self) -> bool:
        """The bundled demo weights (trained on synthetic scenes only)."""
        return self.source == "bundled"

    @property
    def sha256(self) -> str | None:
        """SHA-256 of the weights file when it is on disk."""
        return file_sha256(self.path) if self.path is not None and self.path.is_file() else None

    @property
    def summary(self) -> str:
        """A few words: ``bundled``, ``hub (cached)``, ``weights-dir (NAME.json missing)``..."""
        if self.source is None:
            return "no weights"
        text = f"{self.source} ({'cached' if self.cached else 'not downloaded'})" if (
            self.source == "hub") else self.source  # fmt: skip
        if not self.complete:
            text += f" ({self.name}{CONFIG_SUFFIX} missing)"
        if self.hub_pending:
            text += " (hub not downloaded yet)"
        return text

    def badge(self) -> tuple[str, str]:
        """(a sentence, a few words) for people: where these weights come from."""
        if self.source == "bundled":
            return (
                "demo weights trained on synthetic scenes (bundled in assets/weights)",
                "demo weights (synthetic)",
            )
        if self.source == "weights-dir":
            return f"local folder $BOKEH_WEIGHTS_DIR ({_config.weights_dir()})", "local weights"
        if self.source == "hub":
            return f"Hugging Face Hub {self.hub} ({self.summary})", "Hub weights"
        return self.summary, self.summary


def _bundled_dir() -> Path:
    # Read at call time so tests (and packagers) can point it elsewhere.
    return Path(_config.BUNDLED_WEIGHTS_DIR)


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(_config.REPO_DIR))
    except ValueError:
        return str(path)


def _local_status(name: str, source: str, folder: Path | None) -> WeightsStatus | None:
    if folder is None:
        return None
    path = folder / f"{name}{WEIGHTS_SUFFIX}"
    if not path.is_file():
        return None
    complete = path.with_suffix(CONFIG_SUFFIX).is_file()
    reason = "" if complete else f"{name}{CONFIG_SUFFIX} is missing beside {path}"
    return WeightsStatus(name, source, complete=complete, reason=reason, path=path)


def _hub_files(name: str) -> tuple[str, str]:
    return f"{name}{WEIGHTS_SUFFIX}", f"{name}{CONFIG_SUFFIX}"


def weights_status(name: str) -> WeightsStatus:
    """What :func:`resolve` would find for ``name``, in its order, without downloading."""
    found = _local_status(name, "weights-dir", _config.weights_dir())
    if found:
        return found
    repo, revision = _config.hub_repo()
    where = f"{repo}@{revision}" if repo else None
    if repo:
        cached = hub.cached_files(repo, revision, _hub_files(name))
        if cached:
            return WeightsStatus(name, "hub", path=cached[0], hub=where)
    bundled = _local_status(name, "bundled", _bundled_dir())
    if bundled:
        return WeightsStatus(
            name, "bundled", complete=bundled.complete, hub_pending=bool(repo),
            reason=bundled.reason, path=bundled.path, hub=where,
        )  # fmt: skip
    if repo:  # resolve() downloads it on first use
        return WeightsStatus(name, "hub", cached=False, hub=where)
    return WeightsStatus(name, None, reason=f"no weights for {name}")


def _from_explicit(name: str, explicit: str | Path) -> ResolvedWeights:
    path = Path(explicit).expanduser()
    if path.suffix.lower() in PICKLE_SUFFIXES:
        refuse_pickle(path)
    if path.is_dir():
        candidate = path / f"{name}{WEIGHTS_SUFFIX}"
        if not candidate.is_file():
            pickles = pickles_beside(path, name)
            if pickles:
                refuse_pickle(pickles[0])
            raise WeightsNotFoundError(
                f"The folder {path} has no {candidate.name}; pass the .safetensors file itself or "
                f"a folder holding {name}.safetensors and {name}.json."
            )
        path = candidate
    elif not path.is_file():
        raise WeightsNotFoundError(f"Weights file {path} does not exist.")
    path = path.resolve()
    return checked_checkpoint(name, path, "explicit", f"local file {path}")


def _from_folder(name: str, folder: Path, source: str, description: str) -> ResolvedWeights | None:
    path = folder / f"{name}{WEIGHTS_SUFFIX}"
    if path.is_file():
        return checked_checkpoint(name, path.resolve(), source, description)
    return None


def _from_hub(name: str, repo: str, revision: str) -> ResolvedWeights:
    weights_path, config_path = hub.download_files(repo, revision, _hub_files(name))
    desc, _ = hub.describe(repo, revision, weights_path.parent)
    return checked_checkpoint(name, weights_path, "hub", desc, config_path=config_path)


def resolve(name: str, *, explicit: str | Path | None = None) -> ResolvedWeights:
    """Find the checkpoint ``name`` in the order of :mod:`bokeh.weights` and log which source
    served it.

    An explicit path is final: if it is missing or unsafe, the error is raised rather than
    falling back to other sources. Raises :class:`WeightsNotFoundError` (listing what was tried),
    :class:`UnsafeCheckpointError` for pickle files, :class:`BokehError` for a checkpoint without
    its JSON config.
    """
    if not name or "/" in name or "\\" in name:
        raise ValueError(f"Checkpoint name must be a plain name like 'densedepth', got {name!r}.")
    if explicit is not None and str(explicit) != "":
        found = _from_explicit(name, explicit)
        logger.info("%s weights: %s", name, found.description)
        return found
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
        pickles += pickles_beside(wdir, name)
    else:
        tried.append("BOKEH_WEIGHTS_DIR (not set)")
    repo, revision = _config.hub_repo()
    if repo:
        try:
            found = _from_hub(name, repo, revision)
        except WeightsNotFoundError as exc:
            tried.append(str(exc))
        else:
            logger.info("%s weights: %s", name, found.description)
            return found
    else:
        tried.append("Hugging Face Hub (BOKEH_HUB_REPO not set)")
    bundled = _bundled_dir()
    found = _from_folder(name, bundled, "bundled", f"demo weights bundled in {_short(bundled)}")
    if found:
        logger.info("%s weights: %s", name, found.description)
        return found
    tried.append(f"bundled weights ({bundled})")
    pickles += pickles_beside(bundled, name)
    hint = ""
    if pickles:
        hint = f" Found {pickles[0]}, a pickle checkpoint that is never loaded; convert it to safetensors."
    raise WeightsNotFoundError(
        f"No weights found for '{name}'; tried: {'; '.join(tried)}. To get weights, train them with "
        f"`python -m training {name} ...`, put {name}.safetensors + {name}.json in "
        f"$BOKEH_WEIGHTS_DIR, or set BOKEH_HUB_REPO to a Hugging Face repo that holds them.{hint}"
    )


# --------------------------------------------------------------------------- Depth Anything


@dataclass(frozen=True)
class _PublishedModel:
    """A model used as published (a ``save_pretrained`` folder) and where its settings live."""

    label: str  # "Depth Anything", for messages
    repo: Callable[[], tuple[str | None, str]]  # (repo, revision) from the environment
    local_dir: Callable[[], Path | None]
    default_repo: str
    dir_variable: str


DEPTH_ANYTHING = _PublishedModel(
    "Depth Anything", _config.depth_anything_repo, _config.depth_anything_dir,
    _config.DEFAULT_DEPTH_ANYTHING_REPO, "BOKEH_DEPTH_ANYTHING_DIR",
)  # fmt: skip
DEPTH_METRIC = _PublishedModel(
    "Metric Depth Anything", _config.depth_metric_repo, _config.depth_metric_dir,
    _config.DEFAULT_DEPTH_METRIC_REPO, "BOKEH_DEPTH_METRIC_DIR",
)  # fmt: skip


def snapshot_status(model: _PublishedModel) -> hub.SnapshotStatus:
    """Where ``model`` would come from now (cheap; never downloads)."""
    if not lazy.available("transformers"):
        return hub.SnapshotStatus(None, reason="the transformers package is not installed")
    repo, revision = model.repo()
    return hub.snapshot_status(repo, revision, local_dir=model.local_dir())


def unavailable_message(what: str, repo: str, env_dir: str, status: hub.SnapshotStatus,
                        exc: Exception | None = None) -> str:  # fmt: skip
    """One sentence for people: ``what`` is not available here, why (``status``), and what to
    do (choose another depth source, download it once, or point ``env_dir`` at a copy)."""
    why = status.reason or " ".join(str(exc or "not found").split())
    why = (why[0].lower() + why[1:]).rstrip(".") if why else "not found"
    if status.source == "local-dir":
        todo = f"point {env_dir} at a save_pretrained folder of {repo}"
    elif status.source is None and status.reason == "turned off":
        why, todo = f"turned off ({env_dir.replace('_DIR', '_REPO')}=none)", "unset it"
    elif status.source is None:
        todo = "install it"
    else:
        todo = f"run `hf download {repo}` once online (or set {env_dir} to a saved copy)"
    return f"{what} is not available here ({why}): use Automatic or Classical depth, or {todo}."


def resolve_snapshot(model: _PublishedModel, *, download: bool = True) -> hub.HFSnapshot:
    """``model``'s folder: its local folder variable, else the HF cache, else a download of its
    repo (see :func:`hub.resolve_snapshot`); WeightsNotFoundError says how to get it."""
    repo, revision = model.repo()
    try:
        return hub.resolve_snapshot(repo, revision, local_dir=model.local_dir(), download=download)
    except WeightsNotFoundError as exc:
        name = repo or model.default_repo
        raise WeightsNotFoundError(
            unavailable_message(model.label, name, model.dir_variable, snapshot_status(model), exc)
        ) from exc


def depth_anything_status() -> hub.SnapshotStatus:
    """Where the configured Depth Anything model would come from (cheap; never downloads)."""
    return snapshot_status(DEPTH_ANYTHING)


def resolve_depth_anything(*, download: bool = True) -> hub.HFSnapshot:
    """The Depth Anything model folder (:func:`resolve_snapshot`)."""
    return resolve_snapshot(DEPTH_ANYTHING, download=download)


def depth_metric_status() -> hub.SnapshotStatus:
    """Where the configured metric Depth Anything model would come from (never downloads)."""
    return snapshot_status(DEPTH_METRIC)


def resolve_depth_metric(*, download: bool = True) -> hub.HFSnapshot:
    """The metric Depth Anything folder (:func:`resolve_snapshot`)."""
    return resolve_snapshot(DEPTH_METRIC, download=download)


def prefetch(names: list[str]) -> dict[str, str]:
    """Fetch what the configured Hub repos hold into the local cache, so that first use does
    not wait for a download (the app runs this in a thread at start-up). Never raises.

    ``names``: checkpoints to fetch from ``$BOKEH_HUB_REPO`` (none when it is unset). Depth
    Anything is fetched when it is configured, not cached yet and downloads are allowed.
    Returns ``{name: where it is now, or why it was not fetched}``.
    """
    out: dict[str, str] = {}
    repo, _ = _config.hub_repo()
    for name in names if repo else []:
        try:
            out[name] = resolve(name).description
        except (BokehError, OSError) as exc:
            out[name] = f"not fetched: {exc}"
    status = depth_anything_status()
    if status.downloadable:
        try:
            out["depth-anything"] = resolve_depth_anything(download=True).description
        except (BokehError, OSError) as exc:
            out["depth-anything"] = f"not fetched: {exc}"
    else:
        out["depth-anything"] = "cached" if status.cached else f"not fetched: {status.reason}"
    return out


__all__ = [
    "WEIGHTS_SOURCES",
    "WeightsStatus",
    "depth_anything_status",
    "depth_metric_status",
    "prefetch",
    "resolve",
    "resolve_depth_anything",
    "resolve_depth_metric",
    "unavailable_message",
    "weights_status",
]

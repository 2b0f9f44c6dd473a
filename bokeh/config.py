"""Paths and settings read from the environment, in one place.

Environment variables (all optional):

``BOKEH_DATA_DIR``     where caches, generated data and results go (default: ``<repo>/data``,
                       or ``~/.cache/bokeh`` when the repository is not writable)
``BOKEH_WEIGHTS_DIR``  a folder of ``<model>.safetensors`` + ``<model>.json`` checkpoints
``BOKEH_HUB_REPO``     a Hugging Face model repo holding the same files (``owner/name``)
``BOKEH_HUB_REVISION`` revision of that repo (default ``main``)
``BOKEH_DEPTH_ANYTHING_REPO``      Hugging Face repo of the Depth Anything depth source (default
                                   ``depth-anything/Depth-Anything-V2-Small-hf``; ``none`` or
                                   ``off`` turns the Hub off for it)
``BOKEH_DEPTH_ANYTHING_REVISION``  revision of that repo (default ``main``)
``BOKEH_DEPTH_ANYTHING_DIR``       a local ``save_pretrained`` folder of a Depth Anything model
                                   (``config.json``, ``preprocessor_config.json``,
                                   ``model.safetensors``); used instead of the Hub when set
``BOKEH_DEPTH_METRIC_REPO``, ``BOKEH_DEPTH_METRIC_REVISION``, ``BOKEH_DEPTH_METRIC_DIR``
                       the metric Depth Anything model of depth source ``metric`` (the same
                       rules; default ``depth-anything/Depth-Anything-V2-Metric-Outdoor-Small-hf``)
``BOKEH_MAX_SIDE``     long-side limit in pixels for uploads (default 2048)
``BOKEH_RESULTS_DIR``  evaluation runs and reviews (default: ``<data dir>/results``)
``BOKEH_ADMIN_TOKEN``  when set, starting an evaluation from the web page needs this token
``BOKEH_RESULTS_REPO`` where evaluation runs and reviews are mirrored so that they outlive the
                       machine (a Space's disk is ephemeral; see ``eval/persist.py``): a Hugging
                       Face *dataset* repo ``owner/name`` (created private if missing), or a
                       folder given as an absolute path or ``file:///abs/path``. Unset: results
                       stay on this machine only
``BOKEH_RESULTS_PUSH_IMAGES``  ``0`` leaves the output PNGs out of that mirror (default: pushed,
                       the Review tab shows them)
``BOKEH_REALDATA``     real development photos (default: ``<repo>/../shared/realdata``), read in
                       place by the real-photo benchmark and tests; never copied
``HF_TOKEN``           Hugging Face token with write access to ``BOKEH_RESULTS_REPO`` (on a Space:
                       a Secret). Unset: huggingface_hub's own login, if any. Never logged
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
ASSETS_DIR = REPO_DIR / "assets"
BUNDLED_WEIGHTS_DIR = ASSETS_DIR / "weights"

DEFAULT_MAX_SIDE = 2048


def data_dir() -> Path:
    """The writable data directory (created on demand)."""
    env = os.environ.get("BOKEH_DATA_DIR")
    if env:
        path = Path(env).expanduser()
    elif os.access(REPO_DIR, os.W_OK):
        path = REPO_DIR / "data"
    else:
        path = Path.home() / ".cache" / "bokeh"
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_dir() -> Path:
    """Where evaluation runs and the review database live (created on demand)."""
    env = os.environ.get("BOKEH_RESULTS_DIR")
    path = Path(env).expanduser() if env else data_dir() / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def max_side() -> int:
    """Long-side limit for uploads, from ``BOKEH_MAX_SIDE`` (default 2048)."""
    raw = os.environ.get("BOKEH_MAX_SIDE", "")
    try:
        value = int(raw) if raw else DEFAULT_MAX_SIDE
    except ValueError:
        value = DEFAULT_MAX_SIDE
    return max(64, value)


def _positive_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, "") or default))
    except ValueError:
        return default


def concurrency() -> int:
    """Renders the app runs at once, from ``BOKEH_CONCURRENCY`` (default 1: suits 2 vCPUs)."""
    return _positive_int("BOKEH_CONCURRENCY", 1)


def max_upload_mb() -> int:
    """The upload size limit in MB, from ``BOKEH_MAX_UPLOAD_MB`` (default 25)."""
    return _positive_int("BOKEH_MAX_UPLOAD_MB", 25)


def max_sessions() -> int:
    """Visitor sessions the app keeps, from ``BOKEH_MAX_SESSIONS`` (default 200)."""
    return _positive_int("BOKEH_MAX_SESSIONS", 200)


def realdata_dir() -> Path:
    """The real development photos (``BOKEH_REALDATA``, else ``<repo>/../shared/realdata``);
    the folder may not exist: callers skip or say so."""
    env = os.environ.get("BOKEH_REALDATA")
    return Path(env).expanduser() if env else REPO_DIR.parent / "shared" / "realdata"


def weights_dir() -> Path | None:
    env = os.environ.get("BOKEH_WEIGHTS_DIR")
    return Path(env).expanduser() if env else None


def hub_repo() -> tuple[str | None, str]:
    """(repo id or None, revision) of the Hugging Face repo that holds weights."""
    return os.environ.get("BOKEH_HUB_REPO") or None, os.environ.get("BOKEH_HUB_REVISION", "main")


DEFAULT_DEPTH_ANYTHING_REPO = "depth-anything/Depth-Anything-V2-Small-hf"


def depth_anything_repo() -> tuple[str | None, str]:
    """(repo id or None when turned off, revision) of the Depth Anything model on the Hub."""
    raw = os.environ.get("BOKEH_DEPTH_ANYTHING_REPO")
    repo = DEFAULT_DEPTH_ANYTHING_REPO if raw is None else raw.strip()
    if repo.lower() in ("", "none", "off"):
        repo = None
    return repo, os.environ.get("BOKEH_DEPTH_ANYTHING_REVISION") or "main"


def depth_anything_dir() -> Path | None:
    """A local ``save_pretrained`` folder of the Depth Anything model, or None when unset."""
    env = os.environ.get("BOKEH_DEPTH_ANYTHING_DIR")
    return Path(env).expanduser() if env else None


DEFAULT_DEPTH_METRIC_REPO = "depth-anything/Depth-Anything-V2-Metric-Outdoor-Small-hf"


def depth_metric_repo() -> tuple[str | None, str]:
    """(repo id or None when turned off, revision) of the metric Depth Anything model
    (``BOKEH_DEPTH_METRIC_REPO``, default the Outdoor Small model; the Indoor one is
    ``depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf``)."""
    raw = os.environ.get("BOKEH_DEPTH_METRIC_REPO")
    repo = DEFAULT_DEPTH_METRIC_REPO if raw is None else raw.strip()
    if repo.lower() in ("", "none", "off"):
        repo = None
    return repo, os.environ.get("BOKEH_DEPTH_METRIC_REVISION") or "main"


def depth_metric_dir() -> Path | None:
    """A local ``save_pretrained`` folder of a metric Depth Anything model, or None."""
    env = os.environ.get("BOKEH_DEPTH_METRIC_DIR")
    return Path(env).expanduser() if env else None


def space_id() -> str | None:
    """``owner/name`` when running on a Hugging Face Space (the platform sets ``SPACE_ID``)."""
    return os.environ.get("SPACE_ID") or None


def admin_token() -> str | None:
    """The token that gates evaluations on public deployments, or None when unset."""
    return os.environ.get("BOKEH_ADMIN_TOKEN") or None


def results_repo() -> str | None:
    """Where results are mirrored (``BOKEH_RESULTS_REPO``): a Hub dataset repo id, a
    ``file://`` URL or an absolute folder; None when unset."""
    return (os.environ.get("BOKEH_RESULTS_REPO") or "").strip() or None


def results_push_images() -> bool:
    """Whether output PNGs go to the results mirror (``BOKEH_RESULTS_PUSH_IMAGES``, default
    on; ``0``, ``false``, ``no`` or ``off`` turn it off)."""
    raw = os.environ.get("BOKEH_RESULTS_PUSH_IMAGES", "").strip().lower()
    return raw not in ("0", "false", "no", "off")


def hf_token() -> str | None:
    """``HF_TOKEN`` (a Space Secret), or None to let huggingface_hub use its own login."""
    return os.environ.get("HF_TOKEN") or None

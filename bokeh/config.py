"""Paths and settings read from the environment, in one place.

Environment variables (all optional):

``BOKEH_DATA_DIR``     where caches, generated data and results go (default: ``<repo>/data``,
                       or ``~/.cache/bokeh`` when the repository is not writable)
``BOKEH_WEIGHTS_DIR``  a folder of ``<model>.safetensors`` + ``<model>.json`` checkpoints
``BOKEH_HUB_REPO``     a Hugging Face model repo holding the same files (``owner/name``)
``BOKEH_HUB_REVISION`` revision of that repo (default ``main``)
``BOKEH_MAX_SIDE``     long-side limit in pixels for uploads (default 2048)
``BOKEH_RESULTS_DIR``  evaluation runs and reviews (default: ``<data dir>/results``)
``BOKEH_ADMIN_TOKEN``  when set, starting an evaluation from the web page needs this token
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


def weights_dir() -> Path | None:
    env = os.environ.get("BOKEH_WEIGHTS_DIR")
    return Path(env).expanduser() if env else None


def hub_repo() -> tuple[str | None, str]:
    """(repo id or None, revision) of the Hugging Face repo that holds weights."""
    return os.environ.get("BOKEH_HUB_REPO") or None, os.environ.get("BOKEH_HUB_REVISION", "main")


def admin_token() -> str | None:
    """The token that gates evaluations on public deployments, or None when unset."""
    return os.environ.get("BOKEH_ADMIN_TOKEN") or None

"""What a run records about where it ran and which weights it used (cheap; never downloads)."""

from __future__ import annotations

import platform
import socket
import subprocess
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from bokeh.config import REPO_DIR
from bokeh.depth import resolve_source
from bokeh.errors import BokehError
from bokeh.registry import get_method
from bokeh.version import __version__
from bokeh.weights.files import checked_checkpoint, file_sha256
from bokeh.weights.resolve import resolve_depth_anything, resolve_depth_metric, weights_status


def git_commit() -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        res = subprocess.run(
            ["git", "-C", str(REPO_DIR), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if res.returncode == 0:
            out["git_commit"] = res.stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(REPO_DIR), "status", "--porcelain"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            if dirty.returncode == 0:
                out["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def environment() -> dict[str, Any]:

    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        device = f"cpu ({torch.get_num_threads()} torch threads)"
    return {
        "code": {"bokeh": __version__, **git_commit()},
        "device": device,
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def weights_info(method: str, oracle: bool, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Which weights a method uses, with checksums when they are on disk (never downloads)."""
    if oracle:
        return {"summary": "true depth (no weights)"}
    spec = get_method(method)
    if not spec.networks:
        return {"summary": "none"}
    if spec.kind == "depth":
        source = resolve_source(settings.get("depth_source", "auto"))
        if source == "classical":
            return {"summary": "classical depth (no weights)"}
        if source == "anything":
            return depth_anything_info()
        if source == "metric":
            try:
                where = resolve_depth_metric(download=False).description
            except BokehError as exc:
                return {"summary": f"metric Depth Anything: not resolved yet ({exc})"}
            return {"summary": f"metric Depth Anything: {where}"}
    networks: dict[str, Any] = {}
    parts = []
    for net in (n.name for n in spec.networks):
        status = weights_status(net)
        entry: dict[str, Any] = {"status": status.summary}
        if status.usable and status.cached:
            try:
                found = checked_checkpoint(net, status.path, status.source, status.badge()[0])
                entry.update(
                    source=found.source,
                    description=found.description,
                    sha256=found.sha256,
                    path=str(found.path),
                    provenance=found.provenance,
                )
                parts.append(f"{net}: {found.source} sha256 {found.sha256[:12]}")
            except (BokehError, OSError) as exc:
                entry["error"] = str(exc)
                parts.append(f"{net}: {status.summary} (unresolved)")
        else:
            parts.append(f"{net}: {status.summary}")
        networks[net] = entry
    return {"summary": "; ".join(parts), "networks": networks}


def depth_anything_info() -> dict[str, Any]:
    try:
        snap = resolve_depth_anything(download=False)
    except BokehError as exc:
        return {"summary": f"Depth Anything: not resolved yet ({exc})"}
    sha = file_sha256(snap.folder / "model.safetensors")
    return {
        "summary": f"depth-anything: {snap.source} sha256 {sha[:12]}",
        "networks": {
            "depth-anything": {
                "source": snap.source,
                "sha256": sha,
                "description": snap.description,
                "commit": snap.commit,
                "path": str(snap.folder),
            }
        },
    }


def method_availability(name: str) -> tuple[bool, str]:
    """Whether ``name`` can run here without training anything: ``(True, "")``, or
    ``(False, reason)`` for a method that needs weights none of the sources holds. Cheap; never
    downloads (weights on the Hub that are not cached yet count as available)."""
    spec = get_method(name)
    if not spec.weights_required:
        return True, ""
    missing = [f"{w.name} ({w.summary})" for w in map(weights_status, (n.name for n in spec.networks))
               if not w.usable]  # fmt: skip
    if not missing:
        return True, ""
    return False, (
        f"{name} needs trained weights: {', '.join(missing)}; train them, or set "
        "BOKEH_WEIGHTS_DIR or BOKEH_HUB_REPO to where they are"
    )

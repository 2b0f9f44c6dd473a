"""Depth sources for depth + blur. Each gives normalised disparity (H, W) in [0, 1], 1 = nearest.

- ``anything``: Depth Anything V2 Small through ``transformers`` (a local
  ``$BOKEH_DEPTH_ANYTHING_DIR`` folder, the Hugging Face cache, or one download from the Hub);
- ``model``: the DenseDepth network (needs weights: explicit, $BOKEH_WEIGHTS_DIR, bundled or Hub);
- ``metric``: Depth Anything V2 Metric (Outdoor or Indoor, Small): depth in metres, so the lens
  renderer's blur scale comes from the camera model (chosen explicitly; ``auto`` never picks it);
- ``classical``: a weights-free subject-click estimate (segmentation seeded at the focus point);
- ``file``: a depth or disparity map supplied by the user (8/16-bit PNG, .npy, .npz or .pfm);
- ``auto``: ``file`` when one is given, else ``anything`` when Depth Anything is at hand (local
  folder, cached snapshot, or a reachable Hub when downloads are allowed), else ``model`` when
  real DenseDepth weights are at hand (``$BOKEH_WEIGHTS_DIR`` or a cached Hub repo), else
  ``classical``. The bundled demo depth model was trained on synthetic scenes only, so ``auto``
  does not pick it for photos; choose ``model`` to use it anyway. If Depth Anything cannot be
  downloaded after all, ``auto`` moves on to the next source (and stops trying the Hub for the
  rest of the process).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from bokeh.errors import BokehError, WeightsNotFoundError

logger = logging.getLogger("bokeh.depth")

SOURCES = ("auto", "anything", "model", "classical", "file", "metric")
# Names for people (e.g. the app's radio buttons), by source.
SOURCE_LABELS = {
    "auto": "Automatic",
    "anything": "Depth Anything V2 Small",
    "model": "DenseDepth",
    "classical": "Classical (subject click)",
    "file": "Uploaded depth map",
    "metric": "Depth Anything V2 Metric (metres)",
}


@dataclass(frozen=True)
class DepthEstimate:
    disparity: np.ndarray  # (H, W) float32 in [0, 1], 1 = nearest
    source: str  # "anything", "model", "classical" or "file"
    description: str  # for people, e.g. "DenseDepth (demo weights bundled in assets/weights)"
    metric_scale: float | None = None  # inverse metres per unit when metric (0 = infinity)


def model_available(*, include_demo: bool = False) -> bool:
    """True when DenseDepth weights resolve without a download (cheap; never downloads).
    The bundled demo weights count only with ``include_demo``."""
    from bokeh.weights import weights_status

    status = weights_status("densedepth")
    return status in ("weights-dir", "hub (cached)") or (include_demo and status == "bundled")


_WARNED: set[str] = set()


def anything_available() -> bool:
    """True when Depth Anything can be used: ``$BOKEH_DEPTH_ANYTHING_DIR`` holds a valid model
    folder, or the configured snapshot is in the Hugging Face cache, or downloads are allowed
    (``HF_HUB_OFFLINE`` unset) and the Hub answers (asked once per process). Never downloads."""
    from bokeh import config
    from bokeh.weights import depth_anything_status, hub_reachable

    status = depth_anything_status()
    if status in ("local-dir", "hub (cached)"):
        return True
    if status == "hub (not downloaded)":
        repo, revision = config.depth_anything_repo()
        return bool(repo) and hub_reachable(repo, revision)
    if status.startswith("local-dir (") and status not in _WARNED:
        _WARNED.add(status)  # a misconfigured folder: say so once, then fall back quietly
        logger.warning("BOKEH_DEPTH_ANYTHING_DIR is not usable, so auto skips Depth Anything: %s",
                       status)
    return False


def describe_anything() -> str:
    """Where Depth Anything comes from here, in a few words for people (cheap: never downloads
    and never asks the network), e.g. for a line under the app's depth source choice."""
    from bokeh import config
    from bokeh.weights import depth_anything_status

    status = depth_anything_status()
    repo, revision = config.depth_anything_repo()
    if status == "local-dir":
        return f"local folder {config.depth_anything_dir()} ($BOKEH_DEPTH_ANYTHING_DIR)"
    if status.startswith("local-dir ("):
        return f"not usable: $BOKEH_DEPTH_ANYTHING_DIR {status[len('local-dir '):]}"
    if status == "hub (cached)":
        return f"Hugging Face Hub {repo}@{revision} (in the local cache)"
    if status == "hub (not downloaded)":
        size = ", about 100 MB" if repo == config.DEFAULT_DEPTH_ANYTHING_REPO else ""
        return f"Hugging Face Hub {repo}@{revision} (downloaded on first use{size})"
    if status == "hub (offline, not cached)":
        return f"not available: {repo}@{revision} is not in the Hugging Face cache (offline)"
    if status == "off":
        return "turned off (BOKEH_DEPTH_ANYTHING_REPO=none)"
    return f"not available: {status}"


def resolve_source(source: str, *, has_file: bool = False, exclude: tuple[str, ...] = ()) -> str:
    """The concrete source that ``source`` means now: itself, or for ``auto`` the first of
    ``file`` (when ``has_file``), ``anything``, ``model`` and ``classical`` that is at hand and
    not in ``exclude``. Cheap; never downloads (online and not cached, the Hub is asked once
    per process whether it is reachable)."""
    if source not in SOURCES:
        raise BokehError(f"Unknown depth source {source!r}; choose one of {', '.join(SOURCES)}.")
    if source != "auto":
        return source
    if has_file and "file" not in exclude:
        return "file"
    if "anything" not in exclude and anything_available():
        return "anything"
    if "model" not in exclude and model_available():
        return "model"
    return "classical"


def estimate_depth(
    image: np.ndarray,
    *,
    source: str = "auto",
    focus: tuple[float, float] | None = None,
    depth_file=None,
    depth_kind: str = "disparity",
    depth_invalid: float | None = None,
) -> DepthEstimate:
    """Normalised disparity for ``image`` ((H, W, 3) float in [0, 1]) from the chosen source.

    ``depth_file`` (path, bytes or array) is used by the ``file`` source, read as ``depth_kind``
    ("depth": larger is farther, or "disparity": larger is nearer) and resized to the image;
    pixels equal to ``depth_invalid`` (0 for Middlebury disparity) are unknown and filled.
    An explicitly chosen source that is not available raises :class:`WeightsNotFoundError`
    saying how to get it; ``auto`` moves on to the next source instead.
    """
    requested = source
    source = resolve_source(source, has_file=depth_file is not None)
    h, w = image.shape[:2]
    if source == "file":
        if depth_file is None:
            raise BokehError("Depth source 'file' needs a depth map: upload one or pick another source.")
        from bokeh.depth.files import read_depth_map

        read = read_depth_map(depth_file, kind=depth_kind, size=(w, h), invalid=depth_invalid)
        description = f"uploaded {depth_kind} map"
        if depth_invalid is not None:
            description += (f"; {read.filled:.1%} of its pixels were unknown (value "
                            f"{depth_invalid:g}) and filled from the nearest known ones")
        return DepthEstimate(read.disparity, "file", description)
    if source == "metric":
        from bokeh.depth.metric import MetricDepthEstimator

        disparity, scale, description = MetricDepthEstimator().predict(image)
        return DepthEstimate(disparity, "metric", description, metric_scale=scale)
    if source == "anything":
        from bokeh.depth.anything import DepthAnythingEstimator

        try:
            disparity, description = DepthAnythingEstimator().predict(image)
        except WeightsNotFoundError as exc:
            if requested != "auto":
                raise
            logger.warning("Depth Anything is not available, auto uses another source: %s", exc)
            source = resolve_source("auto", exclude=("file", "anything"))
        else:
            return DepthEstimate(disparity, "anything", description)
    if source == "model":
        from bokeh.depth.model import DenseDepthEstimator

        estimator = DenseDepthEstimator()
        try:
            disparity = estimator(image)
        except WeightsNotFoundError:
            if requested != "auto":
                raise
        else:
            return DepthEstimate(disparity, "model", f"DenseDepth ({estimator.resolved.description})")
    from bokeh.depth.classical import estimate_disparity

    disparity = estimate_disparity(image, focus=focus)
    return DepthEstimate(disparity, "classical", "classical subject-click estimate (no weights)")

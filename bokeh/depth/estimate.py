"""Run a depth source (see :mod:`bokeh.depth`): an image in, normalised disparity out."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from bokeh.depth import resolve_source
from bokeh.depth.anything import DepthAnythingEstimator
from bokeh.depth.classical import estimate_disparity
from bokeh.depth.files import read_depth_map
from bokeh.depth.metric import MetricDepthEstimator
from bokeh.depth.model import DenseDepthEstimator
from bokeh.depth.phone import EmbeddedDepth
from bokeh.errors import BokehError, WeightsNotFoundError

logger = logging.getLogger("bokeh.depth")


@dataclass(frozen=True)
class DepthEstimate:
    disparity: np.ndarray  # (H, W) float32 in [0, 1], 1 = nearest
    source: str  # "anything", "model", "classical", "file", "embedded" or "given"
    description: str  # for people, e.g. "DenseDepth (demo weights bundled in assets/weights)"
    focus_disparity: float | None = None  # the focal plane the photo stored (embedded), if any
    metric_scale: float | None = None  # inverse metres per unit when metric (0 = infinity)


def _from_file(depth_file, *, kind: str, size: tuple[int, int], invalid: float | None):
    if depth_file is None:
        raise BokehError(
            "Depth source 'file' needs a depth map: upload one or pick another source."
        )
    read = read_depth_map(depth_file, kind=kind, size=size, invalid=invalid)
    description = f"uploaded {kind} map"
    if invalid is not None:
        description += (f"; {read.filled:.1%} of its pixels were unknown (value {invalid:g}) and "
                        "filled from the nearest known ones")  # fmt: skip
    return DepthEstimate(read.disparity, "file", description)


def estimate_depth(
    image: np.ndarray,
    *,
    source: str = "auto",
    focus: tuple[float, float] | None = None,
    depth_file=None,
    depth_kind: str = "disparity",
    depth_invalid: float | None = None,
    embedded: EmbeddedDepth | None = None,
) -> DepthEstimate:
    """Normalised disparity for ``image`` ((H, W, 3) float in [0, 1]) from the chosen source.

    ``depth_file`` (path, bytes or array) is used by the ``file`` source, read as ``depth_kind``
    ("depth": larger is farther, or "disparity": larger is nearer) and resized to the image;
    pixels equal to ``depth_invalid`` (0 for Middlebury disparity) are unknown and filled.
    ``embedded`` (the depth map stored in the photo, :mod:`bokeh.depth.phone`) is used by the
    ``embedded`` source, stretched to the image, with its stored focal plane when it has one.
    An explicitly chosen source that is not available raises :class:`WeightsNotFoundError`
    saying how to get it; ``auto`` moves on to the next source instead.
    """
    requested = source
    source = resolve_source(source, has_file=depth_file is not None,
                            has_embedded=embedded is not None)  # fmt: skip
    h, w = image.shape[:2]
    if source == "embedded":
        if embedded is None:
            raise BokehError(
                "Depth source 'embedded' needs a photo that carries a depth map (a Google "
                "Camera portrait JPEG or an iPhone portrait HEIC); this one has none."
            )
        return DepthEstimate(embedded.at_size(w, h), "embedded", embedded.describe(),
                             embedded.focus_disparity)  # fmt: skip
    if source == "file":
        return _from_file(depth_file, kind=depth_kind, size=(w, h), invalid=depth_invalid)
    if source == "metric":
        disparity, scale, description = MetricDepthEstimator().predict(image)
        return DepthEstimate(disparity, "metric", description, metric_scale=scale)
    if source == "anything":
        try:
            disparity, description = DepthAnythingEstimator().predict(image)
        except WeightsNotFoundError as exc:
            if requested != "auto":
                raise
            logger.warning("Depth Anything is not available, auto uses another source: %s", exc)
            source = resolve_source("auto", exclude=("file", "embedded", "anything"))
        else:
            return DepthEstimate(disparity, "anything", description)
    if source == "model":
        estimator = DenseDepthEstimator()
        try:
            disparity = estimator(image)
        except WeightsNotFoundError:
            if requested != "auto":
                raise
        else:
            return DepthEstimate(
                disparity, "model", f"DenseDepth ({estimator.resolved.description})"
            )
    disparity = estimate_disparity(image, focus=focus)
    return DepthEstimate(disparity, "classical", "classical subject-click estimate (no weights)")


__all__ = ["DepthEstimate", "estimate_depth"]

"""Depth sources for depth + blur. Each gives normalised disparity (H, W) in [0, 1], 1 = nearest.

- ``model``: the DenseDepth network (needs weights: explicit, $BOKEH_WEIGHTS_DIR, bundled or Hub);
- ``classical``: a weights-free subject-click estimate (segmentation seeded at the focus point);
- ``file``: a depth or disparity map supplied by the user (8/16-bit PNG, .npy, .npz or .pfm);
- ``auto``: ``file`` when one is given, else ``model`` when real DenseDepth weights are at hand
  (``$BOKEH_WEIGHTS_DIR`` or a cached Hub repo), else ``classical``. The bundled demo depth
  model was trained on synthetic scenes only, so ``auto`` does not pick it for photos; choose
  ``model`` to use it anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bokeh.errors import BokehError, WeightsNotFoundError

SOURCES = ("auto", "model", "classical", "file")


@dataclass(frozen=True)
class DepthEstimate:
    disparity: np.ndarray  # (H, W) float32 in [0, 1], 1 = nearest
    source: str  # "model", "classical" or "file"
    description: str  # for people, e.g. "DenseDepth (demo weights bundled in assets/weights)"


def model_available(*, include_demo: bool = False) -> bool:
    """True when DenseDepth weights resolve without a download (cheap; never downloads).
    The bundled demo weights count only with ``include_demo``."""
    from bokeh.weights import weights_status

    status = weights_status("densedepth")
    return status in ("weights-dir", "hub (cached)") or (include_demo and status == "bundled")


def estimate_depth(
    image: np.ndarray,
    *,
    source: str = "auto",
    focus: tuple[float, float] | None = None,
    depth_file=None,
    depth_kind: str = "disparity",
) -> DepthEstimate:
    """Normalised disparity for ``image`` ((H, W, 3) float in [0, 1]) from the chosen source.

    ``depth_file`` (path, bytes or array) is used by the ``file`` source, read as ``depth_kind``
    ("depth": larger is farther, or "disparity": larger is nearer) and resized to the image.
    """
    if source not in SOURCES:
        raise BokehError(f"Unknown depth source {source!r}; choose one of {', '.join(SOURCES)}.")
    h, w = image.shape[:2]
    if source == "file" or (source == "auto" and depth_file is not None):
        if depth_file is None:
            raise BokehError("Depth source 'file' needs a depth map: upload one or pick another source.")
        from bokeh.depth.files import load_depth_file

        disparity = load_depth_file(depth_file, kind=depth_kind, size=(w, h))
        return DepthEstimate(disparity, "file", f"uploaded {depth_kind} map")
    if source == "model" or (source == "auto" and model_available()):
        from bokeh.depth.model import DenseDepthEstimator

        estimator = DenseDepthEstimator()
        try:
            disparity = estimator(image)
        except WeightsNotFoundError:
            if source == "model":
                raise
        else:
            return DepthEstimate(disparity, "model", f"DenseDepth ({estimator.resolved.description})")
    from bokeh.depth.classical import estimate_disparity

    disparity = estimate_disparity(image, focus=focus)
    return DepthEstimate(disparity, "classical", "classical subject-click estimate (no weights)")

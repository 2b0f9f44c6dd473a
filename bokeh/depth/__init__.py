"""Depth sources for depth + blur. Each gives normalised disparity (H, W) in [0, 1], 1 = nearest.

- ``anything``: Depth Anything V2 Small through ``transformers`` (a local
  ``$BOKEH_DEPTH_ANYTHING_DIR`` folder, the Hugging Face cache, or one download from the Hub);
- ``model``: the DenseDepth network (needs weights; see :mod:`bokeh.weights`);
- ``metric``: Depth Anything V2 Metric (Outdoor or Indoor, Small): depth in metres, so the lens
  renderer's blur scale comes from the camera model (chosen explicitly; ``auto`` never picks it);
- ``classical``: a weights-free subject-click estimate (segmentation seeded at the focus point);
- ``file``: a depth or disparity map supplied by the user (8/16-bit PNG, .npy, .npz or .pfm);
- ``embedded``: the depth map a phone stored in the photo (GDepth or Dynamic Depth JPEG, HEIC
  depth image; see :mod:`bokeh.depth.phone`);
- ``auto``: ``file`` when one is given, else ``embedded`` when the photo carries a depth map,
  else ``anything`` when Depth Anything is at hand (local
  folder, cached snapshot, or a reachable Hub when downloads are allowed), else ``model`` when
  real DenseDepth weights are at hand (``$BOKEH_WEIGHTS_DIR`` or a cached Hub repo), else
  ``classical``. The bundled demo depth model was trained on synthetic scenes only, so ``auto``
  does not pick it for photos; choose ``model`` to use it anyway. If Depth Anything cannot be
  downloaded after all, ``auto`` moves on to the next source (and stops trying the Hub for the
  rest of the process).

This package is light (no torch): it says which source ``auto`` means and where each comes
from. :mod:`bokeh.depth.estimate` runs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bokeh import config
from bokeh.errors import BokehError
from bokeh.weights import hub
from bokeh.weights.resolve import (
    depth_anything_status,
    depth_metric_status,
    unavailable_message,
    weights_status,
)

logger = logging.getLogger("bokeh.depth")

DEPTH_SOURCES = ("auto", "anything", "model", "classical", "file", "embedded", "metric")
# Names for people (e.g. the app's radio buttons), by source.
SOURCE_LABELS = {
    "auto": "Automatic",
    "anything": "Depth Anything V2 Small",
    "model": "DenseDepth",
    "classical": "Classical (subject click)",
    "file": "Uploaded depth map",
    "embedded": "Depth map stored in the photo",
    "metric": "Depth Anything V2 Metric (metres)",
}
DENSEDEPTH = "densedepth"  # the checkpoint the ``model`` source runs

_WARNED: set[str] = set()


def model_available() -> bool:
    """True when real (non-demo) DenseDepth weights are on disk (cheap; never downloads)."""
    status = weights_status(DENSEDEPTH)
    return status.usable and status.cached and not status.is_demo


def anything_available() -> bool:
    """True when Depth Anything can be used: ``$BOKEH_DEPTH_ANYTHING_DIR`` holds a valid model
    folder, or the configured snapshot is in the Hugging Face cache, or downloads are allowed
    (``HF_HUB_OFFLINE`` unset) and the Hub answers (asked once per process). Never downloads."""
    status = depth_anything_status()
    if status.cached:
        return True
    if status.downloadable:
        return hub.reachable(status.repo, status.revision)
    if status.source == "local-dir" and status.reason not in _WARNED:
        _WARNED.add(status.reason)  # a misconfigured folder: say so once, then fall back quietly
        logger.warning(
            "BOKEH_DEPTH_ANYTHING_DIR is not usable, so auto skips Depth Anything: %s",
            status.reason,
        )
    return False


def describe_anything() -> str:
    """Where Depth Anything comes from here, in a few words for people (cheap: never downloads
    and never asks the network), e.g. for a line under the app's depth source choice."""
    status = depth_anything_status()
    where = f"{status.repo}@{status.revision}"
    if status.source == "local-dir":
        if status.cached:
            return f"local folder {status.folder} ($BOKEH_DEPTH_ANYTHING_DIR)"
        return f"not usable: $BOKEH_DEPTH_ANYTHING_DIR ({status.reason})"
    if status.source == "hub" and status.cached:
        return f"Hugging Face Hub {where} (in the local cache)"
    if status.downloadable:
        size = ", about 100 MB" if status.repo == config.DEFAULT_DEPTH_ANYTHING_REPO else ""
        return f"Hugging Face Hub {where} (downloaded on first use{size})"
    if status.source == "hub":
        return f"not available: {where} is not in the Hugging Face cache (offline)"
    if status.reason == "turned off":
        return "turned off (BOKEH_DEPTH_ANYTHING_REPO=none)"
    return f"not available: {status.reason}"


@dataclass(frozen=True)
class SourceState:
    """What a depth source would be here, now: ``available`` (a render with it can run) and
    ``text``, one sentence for people (what it uses, or why not and what to do)."""

    source: str
    available: bool
    text: str

    @property
    def label(self) -> str:
        """The source's name for people, marked when it is not available here."""
        name = SOURCE_LABELS.get(self.source, self.source)
        return name if self.available else f"{name} (not available here)"


def _snapshot_state(source: str, status, repo: str, env_dir: str) -> SourceState:
    name = SOURCE_LABELS[source]
    if status.cached:
        where = status.folder if status.source == "local-dir" else "the local Hugging Face cache"
        return SourceState(source, True, f"{name}: from {where}.")
    if status.downloadable:
        return SourceState(source, True, f"{name}: downloaded from the Hugging Face Hub on "
                                         f"first use ({status.repo}).")  # fmt: skip
    what = "Depth Anything" if source == "anything" else "Metric Depth Anything"
    return SourceState(source, False, unavailable_message(what, repo, env_dir, status))


def source_states() -> dict[str, SourceState]:
    """:class:`SourceState` of every depth source, cheaply (never downloads; online and not
    cached, the Hub is asked once per process whether it answers). ``auto`` says which source
    it stands for now."""
    anything_repo = config.depth_anything_repo()[0] or config.DEFAULT_DEPTH_ANYTHING_REPO
    metric_repo = config.depth_metric_repo()[0] or config.DEFAULT_DEPTH_METRIC_REPO
    states = {
        "anything": _snapshot_state("anything", depth_anything_status(), anything_repo,
                                    "BOKEH_DEPTH_ANYTHING_DIR"),
        "metric": _snapshot_state("metric", depth_metric_status(), metric_repo,
                                  "BOKEH_DEPTH_METRIC_DIR"),
        "classical": SourceState("classical", True, "Classical: estimated from the photo and "
                                 "the focus click (no weights)."),
        "file": SourceState("file", True, "Uploaded depth map: the file you give."),
        "embedded": SourceState("embedded", True, "Depth map stored in the photo: for phone "
                                "portrait photos that carry one."),
    }  # fmt: skip
    densedepth = weights_status(DENSEDEPTH)
    if model_available():
        states["model"] = SourceState("model", True, f"DenseDepth: {densedepth.summary} weights.")
    elif densedepth.usable:
        states["model"] = SourceState("model", True, "DenseDepth: only the demo weights, trained "
                                      "on synthetic scenes (Automatic skips them for photos; "
                                      "put real weights in $BOKEH_WEIGHTS_DIR).")  # fmt: skip
    else:
        states["model"] = SourceState("model", False, f"DenseDepth: {densedepth.reason}; train "
                                      "it with `python -m training densedepth` or set "
                                      "$BOKEH_WEIGHTS_DIR.")  # fmt: skip
    auto = resolve_source("auto")
    states["auto"] = SourceState(
        "auto",
        True,
        f"Automatic: an uploaded or stored depth map "
        f"when there is one, else {SOURCE_LABELS[auto]} here.",
    )
    return {s: states[s] for s in DEPTH_SOURCES}


def resolve_source(
    source: str,
    *,
    has_file: bool = False,
    has_embedded: bool = False,
    exclude: tuple[str, ...] = (),
) -> str:
    """The concrete source that ``source`` means now: itself, or for ``auto`` the first of
    ``file`` (when ``has_file``), ``embedded`` (when ``has_embedded``: the photo carries a depth
    map), ``anything``, ``model`` and ``classical`` that is at hand and not in ``exclude``.
    Cheap; never downloads (online and not cached, the Hub is asked once per process whether
    it is reachable)."""
    if source not in DEPTH_SOURCES:
        raise BokehError(
            f"Unknown depth source {source!r}; choose one of {', '.join(DEPTH_SOURCES)}."
        )
    if source != "auto":
        return source
    if has_file and "file" not in exclude:
        return "file"
    if has_embedded and "embedded" not in exclude:
        return "embedded"
    if "anything" not in exclude and anything_available():
        return "anything"
    if "model" not in exclude and model_available():
        return "model"
    return "classical"


__all__ = [
    "DEPTH_SOURCES",
    "SOURCE_LABELS",
    "SourceState",
    "anything_available",
    "describe_anything",
    "model_available",
    "resolve_source",
    "source_states",
]

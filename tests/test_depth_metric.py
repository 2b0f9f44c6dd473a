"""Depth source ``metric`` (Depth Anything V2 Metric through transformers), with a tiny random
metric model in a local HF cache or folder: resolved and loaded like the relative model,
offline, and its metres drive the lens renderer's blur scale through the camera model."""

from __future__ import annotations

import numpy as np
import pytest

from bokeh import config
from bokeh.depth import metric as dm
from bokeh.depth.estimate import estimate_depth
from bokeh.errors import WeightsNotFoundError
from bokeh.registry import load_method
from bokeh.renderers.camera import DEFAULT_CAMERA
from tests.test_depth_anything import _build_tiny, _hub_cache
from tests.test_depth_anything import env as _env  # noqa: F401  (offline, empty HF cache)

REPO = config.DEFAULT_DEPTH_METRIC_REPO


@pytest.fixture(autouse=True)
def _metric_env(monkeypatch, _env):  # noqa: F811
    for name in (
        "BOKEH_DEPTH_METRIC_REPO",
        "BOKEH_DEPTH_METRIC_REVISION",
        "BOKEH_DEPTH_METRIC_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    dm.clear_model_cache()
    yield
    dm.clear_model_cache()


@pytest.fixture(scope="module")
def tiny_metric(tmp_path_factory):
    return _build_tiny(tmp_path_factory.mktemp("dm") / "metric", metric=True)


def test_missing_model_says_how_to_get_it(photo):
    assert not dm.metric_available()
    with pytest.raises(WeightsNotFoundError, match="hf download " + REPO):
        estimate_depth(np.array(photo), source="metric")


def test_cached_metric_model_gives_a_scale(photo, _env, tiny_metric):  # noqa: F811
    _hub_cache(_env, tiny_metric, repo=REPO)
    assert dm.metric_available()
    est = estimate_depth(np.array(photo), source="metric")
    assert est.source == "metric" and est.description.startswith(dm.LABEL)
    d, scale = est.disparity, est.metric_scale
    assert d.shape == photo.shape[:2] and d.dtype == np.float32
    assert d.min() > 0.0 and d.max() == 1.0 and scale > 0
    # d * scale is the model's own inverse depth (1/m), up to the near clip.
    model, processor, _ = dm.MetricDepthEstimator().load()
    inv = dm.predict_raw(model, processor, np.array(photo))
    below = d < 1.0
    np.testing.assert_allclose(d[below] * scale, inv[below], rtol=1e-5)


def test_relative_model_is_refused_for_metric(photo, monkeypatch, tmp_path):
    folder = _build_tiny(tmp_path / "relative")
    monkeypatch.setenv("BOKEH_DEPTH_METRIC_DIR", str(folder))
    with pytest.raises(WeightsNotFoundError, match="relative Depth Anything model"):
        estimate_depth(np.array(photo), source="metric")


def test_metres_set_the_blur_through_the_camera_model(photo, monkeypatch, tiny_metric):
    monkeypatch.setenv("BOKEH_DEPTH_METRIC_DIR", str(tiny_metric))
    out = load_method("depth-lens")(
        np.array(photo), focus=(200, 120), depth_source="metric", fnumber=2.8
    )
    info = out.info
    scale = estimate_depth(np.array(photo), source="metric").metric_scale
    z_f = 1.0 / (info["focus_disparity"] * scale)
    k_m = DEFAULT_CAMERA.strength_metric(fnumber=2.8, focus_distance_m=z_f, image_shape=photo.shape)
    assert info["strength"] == pytest.approx(k_m * scale)
    assert info["blur_scale"].startswith("metric depth, subject at")


def test_metric_disparity_checks_its_input():
    with pytest.raises(ValueError):
        dm.metric_disparity(np.zeros((4, 4)))
    d, scale = dm.metric_disparity(np.array([[0.1, 0.5], [1.0, 2.0]]))
    assert d.max() == 1.0 and scale == pytest.approx(np.percentile([0.1, 0.5, 1.0, 2.0], 99.5))

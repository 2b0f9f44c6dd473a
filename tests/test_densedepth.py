"""DenseDepth architecture (bokeh.models.densedepth) and its inference wrapper (bokeh.depth.model)."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
from torch import nn

from bokeh import config
from bokeh.depth import model as depth_model
from bokeh.errors import BokehError, WeightsNotFoundError
from bokeh.models.densedepth import (
    DenseDepth,
    DenseDepthConfig,
    build_densedepth,
    count_parameters,
    depth_to_target,
    target_to_depth_cm,
)
from bokeh.weights import checkpoint as wckpt

SMALL = 0.125  # decoder width that keeps the tests fast


@pytest.fixture(scope="module")
def small_model() -> DenseDepth:
    torch.manual_seed(0)
    return DenseDepth(DenseDepthConfig(decoder_width=SMALL)).eval()


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("BOKEH_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("BOKEH_HUB_REPO", raising=False)
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    monkeypatch.setattr(config, "BUNDLED_WEIGHTS_DIR", bundled)
    depth_model.clear_model_cache()
    yield bundled
    depth_model.clear_model_cache()


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([xx, yy, 0.5 * (xx + yy)], axis=-1)
    return (0.7 * base + 0.3 * rng.random((h, w, 3))).astype(np.float32)


# ----------------------------------------------------------------------------- architecture


@pytest.mark.parametrize(("width", "reference_millions"), [(1.0, 42.6), (0.5, 21.4)])
def test_parameter_count_matches_reference(width, reference_millions):
    n = count_parameters(DenseDepth(DenseDepthConfig(decoder_width=width)))
    assert abs(n / 1e6 - reference_millions) / reference_millions < 0.01, n


def test_encoder_skips_and_channels(small_model):
    feats = {}
    h = small_model.mean.new_zeros(1, 3, 64, 96)
    for name, module in small_model.encoder.named_children():
        h = module(h)
        feats[name] = h.shape
    assert feats["relu0"][1:] == (64, 32, 48)
    assert feats["pool0"][1:] == (64, 16, 24)
    assert feats["transition1"][1:] == (128, 8, 12)
    assert feats["transition2"][1:] == (256, 4, 6)
    assert feats["norm5"][1:] == (1664, 2, 3)
    width = int(1664 * SMALL)
    assert small_model.bottleneck.out_channels == width
    assert [b.conv_b.out_channels for b in small_model.up] == [width // 2**i for i in (1, 2, 3, 4)]
    assert small_model.head.out_channels == 1


@pytest.mark.parametrize("hw", [(64, 96), (33, 47), (97, 131)])
def test_output_is_half_resolution(small_model, hw):
    with torch.no_grad():
        out = small_model(torch.rand(2, 3, *hw))
    assert out.shape == (2, 1, math.ceil(hw[0] / 2), math.ceil(hw[1] / 2))
    assert torch.isfinite(out).all()


def test_rejects_bad_input(small_model):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        small_model(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match=">= 32"):
        small_model(torch.rand(1, 3, 16, 64))


def test_config_validation_and_unknown_fields():
    with pytest.raises(ValueError, match="decoder_width"):
        DenseDepthConfig(decoder_width=0.001)
    with pytest.raises(BokehError, match="unknown fields colour"):
        build_densedepth({"decoder_width": 0.125, "colour": 1})


def test_pretrained_encoder_without_cache_warns(monkeypatch):
    monkeypatch.setattr(wckpt, "torchvision_cached_state", lambda url: None)
    with pytest.warns(RuntimeWarning, match="ImageNet weights"):
        DenseDepth(DenseDepthConfig(decoder_width=SMALL, pretrained_encoder=True))


def test_pretrained_encoder_loads_old_torchvision_keys(monkeypatch):
    # torchvision's densenet files use 'norm.1'-style keys and carry a classifier; fake one.
    import torchvision

    ref = torchvision.models.densenet169(weights=None)
    state = {}
    for key, value in ref.state_dict().items():
        for part in ("norm", "relu", "conv"):
            for idx in ("1", "2"):
                key = key.replace(f".{part}{idx}.", f".{part}.{idx}.")
        state[key] = value
    assert any(".norm.1." in k for k in state)
    monkeypatch.setattr(wckpt, "torchvision_cached_state", lambda url: state)
    model = DenseDepth(DenseDepthConfig(decoder_width=SMALL, pretrained_encoder=True))
    assert torch.equal(model.encoder.conv0.weight, ref.features.conv0.weight)
    assert torch.equal(
        model.encoder.denseblock4.denselayer32.norm2.weight,
        ref.features.denseblock4.denselayer32.norm2.weight,
    )


def test_target_conversion_round_trip():
    cfg = DenseDepthConfig()
    depth = torch.tensor([5.0, 10.0, 250.0, 1000.0, 5000.0])
    target = depth_to_target(depth, cfg)
    assert target[1] == pytest.approx(100.0) and target[3] == pytest.approx(1.0)
    assert torch.allclose(target_to_depth_cm(target, cfg), depth.clamp(10, 1000))
    assert isinstance(depth_to_target(np.array([100.0]), cfg), np.ndarray)


# ----------------------------------------------------------------------------- inference


def test_working_size_multiple_of_32():
    assert depth_model.working_size(1024, 1536, max_side=640) == (416, 640)
    h, w = depth_model.working_size(50, 75, max_side=640)
    assert h % 32 == 0 and w % 32 == 0 and h >= 32 and w >= 32
    assert max(depth_model.working_size(5000, 300, max_side=640)) <= 640


@pytest.mark.parametrize("hw", [(50, 75), (61, 33)])
def test_predict_disparity_shape_and_range(small_model, hw):
    disp = depth_model.predict_disparity(small_model, _image(*hw), max_side=128)
    assert disp.shape == hw and disp.dtype == np.float32
    assert disp.min() == pytest.approx(0.0) and disp.max() == pytest.approx(1.0)


def test_predict_disparity_is_mirror_equivariant(small_model):
    img = _image(64, 96, seed=3)
    disp = depth_model.predict_disparity(small_model, img, max_side=128)
    disp_flipped = depth_model.predict_disparity(small_model, img[:, ::-1], max_side=128)
    np.testing.assert_allclose(disp_flipped, disp[:, ::-1], atol=1e-4)
    # The random network itself is not mirror-symmetric, so the averaging did something.
    with torch.no_grad():
        x = torch.from_numpy(img).permute(2, 0, 1)[None]
        raw = small_model(x)
        raw_f = small_model(x.flip(-1)).flip(-1)
    assert (raw - raw_f).abs().max() > 1e-4


class _Ramp(nn.Module):
    """Ignores the image and predicts a left-to-right ramp at half resolution."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        ramp = torch.linspace(0, 1, w // 2).expand(b, 1, h // 2, w // 2)
        return ramp + self.dummy


def test_mirror_average_cancels_an_asymmetric_prediction():
    # f(x) = ramp, flip(f(flip(x))) = reversed ramp: their mean is flat, i.e. no depth at all.
    raw = depth_model.predict_raw(_Ramp(), _image(64, 64), max_side=64)
    assert raw.shape == (64, 64)
    np.testing.assert_allclose(raw, 0.5, atol=1e-5)
    assert (depth_model.predict_disparity(_Ramp(), _image(64, 64)) == 0).all()


def test_larger_output_means_nearer():
    class Scale(nn.Module):  # target proportional to brightness: bright = near
        def __init__(self) -> None:
            super().__init__()
            self.dummy = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return nn.functional.avg_pool2d(x.mean(1, keepdim=True), 2) + self.dummy

    img = np.zeros((64, 64, 3), np.float32)
    img[:, :32] = 0.9
    disp = depth_model.predict_disparity(Scale(), img)
    assert disp[:, :20].mean() > 0.95 and disp[:, 44:].mean() < 0.05


@pytest.mark.parametrize(
    "bad", [np.zeros((8, 8)), np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 2.0)]
)
def test_predict_rejects_bad_images(small_model, bad):
    with pytest.raises(ValueError, match="image|Image"):
        depth_model.predict_disparity(small_model, bad)


def test_normalise_disparity():
    out = depth_model.normalise_disparity(np.array([[2.0, 4.0], [6.0, 10.0]]))
    np.testing.assert_allclose(out, [[0.0, 0.25], [0.5, 1.0]])
    assert (depth_model.normalise_disparity(np.full((3, 3), 7.0)) == 0).all()


# ----------------------------------------------------------------------------- estimator


def test_estimator_loads_checkpoint_and_caches(tmp_path, clean_env, monkeypatch, small_model):
    with pytest.raises(WeightsNotFoundError):
        depth_model.DenseDepthEstimator()(_image(40, 40))

    wckpt.save_checkpoint(
        small_model, tmp_path / "densedepth", model_name="densedepth",
        config=small_model.config,
    )  # fmt: skip
    monkeypatch.setenv("BOKEH_WEIGHTS_DIR", str(tmp_path))
    est = depth_model.DenseDepthEstimator(max_side=64)
    img = _image(48, 80)
    expected = depth_model.predict_disparity(small_model, img, max_side=64)
    np.testing.assert_allclose(est(img), expected, atol=1e-6)
    assert est.resolved.source == "weights-dir"

    # One model per process, even when many threads ask at once.
    models = []
    threads = [
        threading.Thread(target=lambda: models.append(depth_model.DenseDepthEstimator().model))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(m is est.model for m in models)
    assert not est.model.training

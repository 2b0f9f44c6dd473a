"""Translation pipelines (pix2pix, CycleGAN, BGGAN): weights round trip, sizes, tiles, errors."""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pytest
import torch
from torch import nn

from bokeh import config
from bokeh.errors import BokehError, WeightsNotFoundError
from bokeh.models import glassnet, resnet, unet
from bokeh.pipelines import translate
from bokeh.registry import METHODS, NETWORKS, get_method, load_method
from bokeh.weights.checkpoint import save_checkpoint

# method -> (network, model class, demo config)
GENERATORS = {
    "pix2pix": ("pix2pix-unet", unet.UNetGenerator, unet.preset("demo")),
    "cyclegan": ("cyclegan-resnet", resnet.ResnetGenerator, resnet.preset("demo")),
    "bggan": ("bggan-glassnet", glassnet.GlassNet, glassnet.preset("demo")),
}


@pytest.fixture(autouse=True)
def isolated_weights(tmp_path, monkeypatch):
    """An empty weights folder, no bundled weights, no Hub, and no cached models."""
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    empty = tmp_path / "bundled"
    empty.mkdir()
    monkeypatch.setenv("BOKEH_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.delenv("BOKEH_HUB_REPO", raising=False)
    monkeypatch.setattr(config, "BUNDLED_WEIGHTS_DIR", empty)
    translate.clear_model_cache()
    yield weights_dir
    translate.clear_model_cache()


def _randomise_batchnorm(model: nn.Module) -> None:
    # Fresh BatchNorm running stats are (0, 1); make them matter for the round trip.
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)


def _save_demo(method: str, folder) -> nn.Module:
    network, cls, cfg = GENERATORS[method]
    torch.manual_seed(0)
    model = cls(cfg)
    _randomise_batchnorm(model)
    save_checkpoint(model, folder / network, model_name=network, config=cfg)
    return model.eval()


def _direct(model: nn.Module, image: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(image).permute(2, 0, 1)[None] * 2 - 1
    with torch.no_grad():
        out = model(x)
    out = out[0] if isinstance(out, tuple) else out
    return ((out[0].permute(1, 2, 0).numpy() + 1) / 2).clip(0, 1)


@pytest.mark.parametrize("method", sorted(GENERATORS))
def test_saved_checkpoint_round_trips_through_the_pipeline(method, isolated_weights, rng):
    model = _save_demo(method, isolated_weights)
    image = rng.random((64, 128, 3), dtype=np.float32)  # a multiple of every demo network
    result = load_method(method)(image)
    np.testing.assert_allclose(result.image, _direct(model, image), atol=1e-5)
    network = GENERATORS[method][0]
    info = result.info
    assert info["method"] == method and info["network"] == network
    assert info["weights_source"] == "weights-dir"
    assert str(isolated_weights) in info["weights"]
    digest = hashlib.sha256((isolated_weights / f"{network}.safetensors").read_bytes()).hexdigest()
    assert info["weights_sha256"] == digest
    assert info["model_config"] == GENERATORS[method][2].__dict__
    assert info["seconds"] > 0
    assert result.disparity is None


@pytest.mark.parametrize("method", sorted(GENERATORS))
@pytest.mark.parametrize("size", [(37, 53), (5, 70), (66, 65)])
def test_output_has_exactly_the_input_size(method, size, isolated_weights, rng):
    _save_demo(method, isolated_weights)
    image = rng.random((*size, 3), dtype=np.float32)
    out = load_method(method)(image).image
    assert out.shape == (*size, 3) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_odd_sizes_are_reflect_padded_and_centred(isolated_weights, rng):
    model = _save_demo("bggan", isolated_weights)
    image = rng.random((21, 30, 3), dtype=np.float32)
    padded = np.pad(image, ((1, 2), (1, 1), (0, 0)), mode="reflect")  # to 24 x 32, centred
    expected = _direct(model, padded)[1:22, 1:31]
    np.testing.assert_allclose(load_method("bggan")(image).image, expected, atol=1e-5)


def test_pipeline_uses_the_preset_stored_with_the_weights(isolated_weights, rng):
    _save_demo("pix2pix", isolated_weights)
    model, resolved = translate.load_generator(NETWORKS["pix2pix-unet"])
    assert model.config.num_downs == unet.PRESETS["demo"]["num_downs"]
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    # The demo U-Net needs multiples of 64, not 256.
    info = load_method("pix2pix")(rng.random((70, 40, 3), dtype=np.float32)).info
    assert info["padded_size"] == [128, 64]


@pytest.mark.parametrize("method", sorted(GENERATORS))
def test_missing_weights_raise_with_how_to_get_them(method):
    with pytest.raises(WeightsNotFoundError, match="python -m training") as err:
        load_method(method)(np.zeros((16, 16, 3), np.float32))
    assert GENERATORS[method][0] in str(err.value)
    assert not translate._MODELS  # nothing half-loaded, no random weights cached


def test_focus_is_accepted_and_noted(isolated_weights, rng):
    _save_demo("cyclegan", isolated_weights)
    image = rng.random((16, 24, 3), dtype=np.float32)
    with_focus = load_method("cyclegan")(image, focus=(3, 4))
    without = load_method("cyclegan")(image)
    assert translate.FOCUS_NOTE in with_focus.info["notes"]
    assert without.info["notes"] == []
    np.testing.assert_array_equal(with_focus.image, without.image)


def test_settings_are_validated(isolated_weights, rng):
    _save_demo("cyclegan", isolated_weights)
    image = rng.random((16, 24, 3), dtype=np.float32)
    with pytest.raises(BokehError, match="does not take strength"):
        load_method("cyclegan")(image, strength=2)
    with pytest.raises(BokehError, match="tile"):
        load_method("cyclegan")(image, tile=-64)
    with pytest.raises(BokehError, match=r"\(H, W, 3\)"):
        load_method("cyclegan")(np.zeros((16, 24), np.float32))


def test_model_is_loaded_once_per_process_across_threads(isolated_weights):
    _save_demo("cyclegan", isolated_weights)
    got = []
    threads = [
        threading.Thread(
            target=lambda: got.append(translate.load_generator(NETWORKS["cyclegan-resnet"])[0])
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(m is got[0] for m in got)


def test_registry_lists_the_translation_methods():
    for method, (network, _, _) in GENERATORS.items():
        spec = get_method(method)
        assert spec.kind == "translation" and spec.weights_required
        assert [n.name for n in spec.networks] == [network]
        assert [p.name for p in spec.params] == ["tile"]
    assert [n for n, s in METHODS.items() if s.kind == "translation"] == [
        "pix2pix",
        "cyclegan",
        "bggan",
    ]


# --------------------------------------------------------------------------- geometry, stub models


class Echo(nn.Module):
    """Returns its input (optionally as Glass-Net's (y2, y1) pair); needs multiples of 8."""

    multiple = 8
    min_side = 16

    def __init__(self, pair: bool = False):
        super().__init__()
        self.pair = pair
        self.scale = nn.Parameter(torch.ones(()))
        self.seen: list[tuple[int, int]] = []

    def forward(self, x):
        if x.shape[-2] % 8 or x.shape[-1] % 8 or min(x.shape[-2:]) < 16:
            raise AssertionError(f"bad size {tuple(x.shape)}")
        self.seen.append(tuple(x.shape[-2:]))
        return (x * self.scale, -x) if self.pair else x * self.scale


@pytest.mark.parametrize("tile", [0, 16, 40, 64])
@pytest.mark.parametrize("size", [(1, 1), (7, 13), (33, 100), (129, 71)])
def test_padding_and_tiles_crop_back_exactly(tile, size, rng):
    image = rng.random((*size, 3), dtype=np.float32)
    out, how = translate.translate_image(Echo(), image, tile=tile)
    assert out.shape == image.shape
    np.testing.assert_allclose(out, image, atol=1e-6)  # every pixel lands where it came from
    assert how["tiles"] >= 1


def test_tiles_have_the_requested_size_and_overlap(rng):
    model = Echo()
    image = rng.random((100, 150, 3), dtype=np.float32)
    _, how = translate.translate_image(model, image, tile=60)  # rounded up to 64
    assert how["tile_size"] == 64 and how["tile_overlap"] == 16
    assert set(model.seen) == {(64, 64)}
    assert how["tiles"] == len(model.seen) == 2 * 3


def test_tiled_seams_blend_smoothly(rng):
    # A network whose output depends on the tile (a per-call offset) leaves no hard seam:
    # the 0.5 jump between neighbouring tiles is spread over the 16 px overlap.
    class Offset(Echo):
        def forward(self, x):
            self.seen.append(tuple(x.shape[-2:]))
            return torch.zeros_like(x) + (len(self.seen) % 2) * 0.5

    out, how = translate.translate_image(Offset(), np.zeros((40, 200, 3), np.float32), tile=64)
    assert how["tiles"] > 2
    step = np.abs(np.diff(out[..., 0], axis=1)).max()
    assert 0 < step <= 0.5 / 16 + 1e-6


def test_glassnet_like_pairs_use_the_first_output(rng):
    image = rng.random((10, 12, 3), dtype=np.float32)
    out, _ = translate.translate_image(Echo(pair=True), image)
    np.testing.assert_allclose(out, image, atol=1e-6)


def test_an_extra_multiple_is_respected(rng):
    model = Echo()
    translate.translate_image(model, rng.random((10, 12, 3), dtype=np.float32), multiple=12)
    assert model.seen == [(24, 24)]


def test_non_finite_images_are_refused():
    image = np.zeros((8, 8, 3), np.float32)
    image[0, 0, 0] = np.nan
    with pytest.raises(BokehError, match="NaN"):
        translate.translate_image(Echo(), image)


def test_geometry_helpers():
    assert translate.padded_side(37, 8) == 40
    assert translate.padded_side(3, 4, 8) == 8
    assert translate.padded_side(256, 256) == 256
    assert translate.tile_starts(100, 64, 16) == [0, 36]
    assert translate.tile_starts(50, 64, 16) == [0]
    ramp = translate.blend_ramp(8, 2)
    assert ramp.min() > 0 and ramp.max() == 1 and np.allclose(ramp, ramp[::-1])

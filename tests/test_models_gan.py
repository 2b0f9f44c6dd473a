"""The GAN architectures: published sizes, layer rules, shapes, presets and configs."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from bokeh.errors import BokehError
from bokeh.models import glassnet, patchgan, resnet, unet
from bokeh.models.layers import count_parameters, network_parameters
from bokeh.registry import NETWORKS


def meta_count(build, *args) -> int:
    with torch.device("meta"):
        return count_parameters(build(*args))


# --------------------------------------------------------------------------- published sizes


def test_unet_256_has_the_published_size():
    n = meta_count(unet.UNetGenerator, unet.UNetConfig())
    assert round(n / 1e6, 2) == 54.41


def test_patchgan_has_the_published_sizes():
    six = meta_count(patchgan.PatchGANDiscriminator, patchgan.PatchGANConfig(in_channels=6))
    # CycleGAN's critics use InstanceNorm (no affine parameters; the convs keep their bias).
    three = meta_count(
        patchgan.PatchGANDiscriminator, patchgan.PatchGANConfig(in_channels=3, norm="instance")
    )
    assert round(six / 1e6, 2) == 2.77
    assert round(three / 1e6, 2) == 2.76


def test_resnet_9_blocks_has_the_published_size():
    n = meta_count(resnet.ResnetGenerator, resnet.ResnetConfig())
    assert round(n / 1e6, 2) == 11.38


def test_glassnet_has_the_size_of_the_layer_rules():
    assert meta_count(glassnet.GlassNet, glassnet.GlassNetConfig()) == 10_352_784


@pytest.mark.parametrize(
    ("name", "millions"),
    [
        ("pix2pix-unet", 54.41),
        ("pix2pix-patchgan", 2.77),
        ("cyclegan-resnet", 11.38),
        ("cyclegan-patchgan", 2.76),
        ("bggan-glassnet", 10.35),
    ],
)
def test_registered_networks_build_the_published_defaults(name, millions):
    assert round(network_parameters(NETWORKS[name]) / 1e6, 2) == millions


def test_registered_networks_rebuild_a_stored_demo_config():
    # A checkpoint's JSON holds the preset that training used; build() must honour it.
    cfg = unet.preset("demo").__dict__
    with torch.device("meta"):
        model = NETWORKS["pix2pix-unet"].build(json.loads(json.dumps(cfg)))
    assert model.config == unet.preset("demo")
    with torch.device("meta"):
        critic = NETWORKS["cyclegan-patchgan"].build({"ndf": 16})
    assert critic.config.in_channels == 3 and critic.config.norm == "instance"


# --------------------------------------------------------------------------- layer rules


def test_unet_reaches_1x1_and_has_dropout_in_three_innermost_decoder_blocks():
    with torch.device("meta"):
        model = unet.UNetGenerator()
    drops = [i for i, block in enumerate(model.up) if any(isinstance(m, nn.Dropout) for m in block)]
    assert drops == [5, 6, 7]  # up[7] takes the 1x1 bottleneck
    assert all(m.p == 0.5 for m in model.modules() if isinstance(m, nn.Dropout))
    assert isinstance(model.up[0][-1], nn.Tanh)
    assert model.multiple == 256
    # Eight stride-2 convs: a 256x256 input reaches 1x1 at the bottleneck.
    convs = [m for m in model.down.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8 and all(c.stride == (2, 2) for c in convs)


def test_unet_demo_keeps_size_and_range_and_refuses_bad_sizes():
    torch.manual_seed(0)
    model = unet.UNetGenerator(unet.preset("demo")).eval()
    x = torch.rand(2, 3, 64, 128) * 2 - 1
    y = model(x)
    assert y.shape == x.shape
    assert y.abs().max() <= 1
    with pytest.raises(ValueError, match="multiples of 64"):
        model(torch.zeros(1, 3, 64, 96))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.zeros(1, 4, 64, 64))


def test_resnet_keeps_size_for_multiples_of_4():
    torch.manual_seed(0)
    model = resnet.ResnetGenerator(resnet.preset("demo")).eval()
    x = torch.rand(1, 3, 20, 36) * 2 - 1
    y = model(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    with pytest.raises(ValueError, match="multiples of 4"):
        model(torch.zeros(1, 3, 22, 36))
    blocks = [m for m in model.modules() if isinstance(m, resnet.ResidualBlock)]
    assert len(blocks) == resnet.PRESETS["demo"]["n_blocks"]


def test_resnet_full_has_nine_residual_blocks_and_reflection_padding():
    with torch.device("meta"):
        model = resnet.ResnetGenerator()
    assert sum(isinstance(m, resnet.ResidualBlock) for m in model.modules()) == 9
    assert any(isinstance(m, nn.ReflectionPad2d) for m in model.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_glassnet_returns_final_and_rough_outputs():
    torch.manual_seed(0)
    model = glassnet.GlassNet(glassnet.preset("demo", residual=False)).eval()
    x = torch.rand(1, 3, 32, 48) * 2 - 1
    out = model(x)
    assert isinstance(out, tuple) and len(out) == 2
    y2, y1 = out
    assert y2.shape == y1.shape == x.shape
    assert y2.abs().max() <= 1 and y1.abs().max() <= 1
    assert not torch.allclose(y2, y1)
    # Stage 2 sees concat[y1, x - y1]: its result is the stage-2 network applied to that.
    assert torch.allclose(model.stage2(torch.cat([y1, x - y1], 1)), y2)
    with pytest.raises(ValueError, match="multiples of 8"):
        model(torch.zeros(1, 3, 36, 48))


def test_glassnet_layer_rules():
    with torch.device("meta"):
        model = glassnet.GlassNet()
    convs = [m for m in model.modules() if type(m) is nn.Conv2d]
    ups = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert all(c.bias is None and c.kernel_size == (3, 3) for c in convs)
    assert all(u.bias is not None and u.kernel_size == (4, 4) and u.stride == (2, 2) for u in ups)
    norms = [m for m in model.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 2 * 2 * 9 and not any(n.affine for n in norms)
    assert model.stage2.enc[0][0].in_channels == 6


def _support(model: nn.Module, channels: int, size: int) -> int:
    """Side of the input region that one central output value depends on."""
    x = torch.randn(1, channels, size, size, requires_grad=True)
    out = model(x)
    out = out if isinstance(out, torch.Tensor) else out[0]
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    return int(rows.max() - rows.min() + 1)


def test_patchgan_output_size_and_70px_receptive_field():
    torch.manual_seed(0)
    model = patchgan.PatchGANDiscriminator(
        patchgan.PatchGANConfig(in_channels=6, ndf=8, norm="none")
    )
    assert model(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)
    assert _support(model, 6, 160) == patchgan.receptive_field(3, multi=False) == 70


def test_multi_critic_returns_two_maps_with_46_and_190_px_fields():
    torch.manual_seed(0)
    model = patchgan.MultiPatchGAN(patchgan.multi_preset("demo"))
    maps = model(torch.randn(2, 3, 256, 384))
    assert [tuple(m.shape) for m in maps] == [(2, 1, 31, 47), (2, 1, 7, 11)]
    # Without normalisation (InstanceNorm mixes the whole image), each critic is local.
    local = patchgan.MultiPatchGAN(patchgan.MultiPatchGANConfig(ndf=4, norm="none"))
    assert _support(local.critics[0], 3, 128) == 46
    assert _support(local.critics[1], 3, 320) == 190
    assert [patchgan.receptive_field(n, multi=True) for n in (3, 5)] == [46, 190]


def test_multi_critic_layer_widths_follow_the_rule():
    with torch.device("meta"):
        model = patchgan.MultiPatchGAN()
    for critic, n_layers in zip(model.critics, (3, 5), strict=True):
        convs = [m for m in critic.modules() if isinstance(m, nn.Conv2d)]
        widths = [c.out_channels for c in convs]
        assert widths == [64 * min(2**n, 8) for n in range(n_layers + 1)] + [1]
        assert [c.stride[0] for c in convs] == [2] * n_layers + [1, 1]
        assert convs[-1].kernel_size == (1, 1)
        norms = [m for m in critic.modules() if isinstance(m, nn.InstanceNorm2d)]
        assert len(norms) == n_layers + 1


# --------------------------------------------------------------------------- presets and configs

DEMO_MODELS = [
    (unet.UNetGenerator, unet.preset("demo")),
    (resnet.ResnetGenerator, resnet.preset("demo")),
    (glassnet.GlassNet, glassnet.preset("demo")),
    (patchgan.PatchGANDiscriminator, patchgan.preset("demo", in_channels=6)),
    (patchgan.MultiPatchGAN, patchgan.multi_preset("demo")),
]


@pytest.mark.parametrize(("cls", "config"), DEMO_MODELS, ids=lambda v: getattr(v, "__name__", ""))
def test_demo_presets_are_under_10_mb_as_float32(cls, config):
    with torch.device("meta"):
        model = cls(config)
    assert 4 * count_parameters(model) < 10e6


@pytest.mark.parametrize("module", [unet, resnet, glassnet, patchgan])
def test_full_presets_are_the_default_configs(module):
    assert module.preset("full") == module.preset("full").__class__()
    with pytest.raises(BokehError, match="available: full, demo"):
        module.preset("huge")


def test_configs_round_trip_through_json_and_refuse_unknown_fields():
    for cfg in (
        unet.UNetConfig(ngf=8),
        resnet.ResnetConfig(n_blocks=2),
        glassnet.GlassNetConfig(c1=4),
        patchgan.PatchGANConfig(ndf=8),
        patchgan.MultiPatchGANConfig(layers=(2, 4)),
    ):
        stored = json.loads(json.dumps(cfg.__dict__))
        assert type(cfg).from_dict(stored) == cfg
        with pytest.raises(BokehError, match="unknown fields"):
            type(cfg).from_dict({**stored, "future_option": 1})


def test_configs_reject_bad_values():
    with pytest.raises(ValueError, match="norm"):
        unet.UNetConfig(norm="layer")
    with pytest.raises(ValueError, match="padding"):
        resnet.ResnetConfig(padding="circular")
    with pytest.raises(ValueError, match="dropout"):
        glassnet.GlassNetConfig(dropout=1.0)
    with pytest.raises(ValueError, match="layers"):
        patchgan.MultiPatchGANConfig(layers=())


@pytest.mark.parametrize("name", ["unet", "resnet", "glassnet"])
def test_residual_generators_start_as_identity_and_learn(name):
    """Residual demo generators return their input until trained; one step moves them off it."""
    torch.manual_seed(0)
    module = {"unet": unet, "resnet": resnet, "glassnet": glassnet}[name]
    build = {
        "unet": unet.UNetGenerator,
        "resnet": resnet.ResnetGenerator,
        "glassnet": glassnet.GlassNet,
    }[name]
    model = build(module.preset("demo", residual=True))
    x = torch.rand(2, 3, 64, 64) * 1.6 - 0.8
    first = model(x)
    first = first[0] if isinstance(first, tuple) else first
    assert torch.allclose(first, x)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = (first - x.flip(-1)).abs().mean()
    loss.backward()
    opt.step()
    after = model(x)
    after = after[0] if isinstance(after, tuple) else after
    assert not torch.allclose(after, x)
    assert not module.preset("full").residual  # the published network is not residual

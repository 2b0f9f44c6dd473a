"""training.losses: GAN objectives, WGAN-GP, SSIM, gradients, perceptual, DenseDepth loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from training import losses


def test_gan_loss_vanilla_is_bce_on_logits():
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 3.0]]]])
    real = losses.gan_loss(logits, True, mode="vanilla")
    fake = losses.gan_loss(logits, False, mode="vanilla")
    p = torch.sigmoid(logits)
    assert real.item() == pytest.approx((-torch.log(p)).mean().item(), rel=1e-6)
    assert fake.item() == pytest.approx((-torch.log(1 - p)).mean().item(), rel=1e-6)
    # at logit 0 both targets cost log 2
    zero = torch.zeros(1, 1, 3, 3)
    assert losses.gan_loss(zero, True, mode="vanilla").item() == pytest.approx(math.log(2))


def test_gan_loss_lsgan_and_lists():
    pred = torch.full((2, 1, 4, 4), 0.25)
    assert losses.gan_loss(pred, True, mode="lsgan").item() == pytest.approx(0.75**2)
    assert losses.gan_loss(pred, False, mode="lsgan").item() == pytest.approx(0.25**2)
    # a list of critic maps is averaged
    other = torch.ones(2, 1, 2, 2)
    both = losses.gan_loss([pred, other], True, mode="lsgan").item()
    assert both == pytest.approx(0.5 * (0.75**2 + 0.0))
    with pytest.raises(ValueError, match="lsgan"):
        losses.gan_loss(pred, True, mode="hinge")


def test_critic_score_averages_critics():
    a = torch.full((2, 1, 3, 3), 2.0)
    b = torch.full((2, 1, 1, 1), -1.0)
    assert losses.critic_score([a, b]).item() == pytest.approx(0.5)


def test_gradient_penalty_of_a_linear_critic():
    # critic(x) = sum(w * x) per pixel map mean; its input gradient has a known norm.
    torch.manual_seed(0)
    w = torch.randn(1, 3, 8, 8)

    def critic(x):
        return (x * w).sum(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)

    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    gp = losses.gradient_penalty(critic, real, fake, weight=10.0)
    expected = 10.0 * (w.norm() - 1.0) ** 2
    assert gp.item() == pytest.approx(expected.item(), rel=1e-5)
    # a critic with unit gradient norm is not penalised
    w.div_(w.norm())
    assert losses.gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-8)


def test_gradient_penalty_trains_the_critic():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    gp = losses.gradient_penalty(critic, torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16))
    gp.backward()
    # every weight shapes the input gradient (a bias added at the end does not)
    weights = [critic[0].weight, critic[2].weight]
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in weights)


def test_ssim_matches_the_evaluation_metric(rng):
    from eval.metrics import ssim_gauss

    a = rng.random((2, 3, 40, 48)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    ours = losses.differentiable_ssim(ta, tb, data_range=1.0, reduction="none")
    ref = ssim_gauss(ta, tb, data_range=1.0)
    assert torch.allclose(ours.double(), ref, atol=2e-5)
    # scaling images and data range together changes nothing; shifting them does (the
    # luminance term), which is why BGGAN's SSIM maps [-1, 1] images to [0, 1] first
    same = losses.differentiable_ssim(ta * 2, tb * 2, data_range=2.0, reduction="none")
    assert torch.allclose(same, ours, atol=1e-5)
    shifted = losses.differentiable_ssim(ta * 2 - 1, tb * 2 - 1, data_range=2.0, reduction="none")
    assert not torch.allclose(shifted, ours, atol=1e-3)
    assert losses.differentiable_ssim(ta, ta, data_range=1.0).item() == pytest.approx(1.0, abs=1e-6)


def test_ssim_is_differentiable_and_checks_shapes():
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    y = torch.rand(1, 3, 16, 16)
    (1 - losses.differentiable_ssim(x, y, data_range=1.0)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same shape"):
        losses.differentiable_ssim(x, y[:, :, :8], data_range=1.0)
    with pytest.raises(ValueError, match=">= 11"):
        losses.differentiable_ssim(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), data_range=1.0)


def test_image_gradients_follow_tensorflow_convention():
    x = torch.arange(12, dtype=torch.float32).reshape(1, 1, 3, 4)
    dy, dx = losses.image_gradients(x)
    assert torch.equal(dy[0, 0, :2], torch.full((2, 4), 4.0))
    assert torch.equal(dy[0, 0, 2], torch.zeros(4))
    assert torch.equal(dx[0, 0, :, :3], torch.ones(3, 3))
    assert torch.equal(dx[0, 0, :, 3], torch.zeros(3))
    # a constant offset has no gradient difference
    assert losses.gradient_l1_loss(x + 5, x).item() == 0.0
    assert losses.gradient_l1_loss(x * 2, x).item() > 0


def test_densedepth_loss_terms():
    torch.manual_seed(0)
    target = torch.rand(2, 1, 32, 32) * 99 + 1
    total, parts = losses.densedepth_loss(target.clone(), target, max_val=100.0)
    assert total.item() == pytest.approx(0.0, abs=1e-5)
    pred = target + 10.0  # a constant offset: L1 10, no gradient change, SSIM below 1
    total, parts = losses.densedepth_loss(pred, target, max_val=100.0)
    assert parts["l1"].item() == pytest.approx(10.0, rel=1e-5)
    assert parts["grad"].item() == pytest.approx(0.0, abs=1e-4)
    assert 0 < parts["ssim"].item() < 1
    assert total.item() == pytest.approx(
        0.1 * 10.0 + parts["grad"].item() + parts["ssim"].item(), rel=1e-5
    )


def test_vgg_feature_layer_is_conv5_4_before_relu():
    feats = losses.vgg19_features(pretrained=False)
    assert len(feats) == losses.VGG_LAYER + 1
    last = feats[-1]
    assert isinstance(last, nn.Conv2d) and last.out_channels == 512
    # exactly 16 convolutions (VGG19) and 4 max-pools before it: output at 1/16 resolution
    assert sum(isinstance(m, nn.Conv2d) for m in feats) == 16
    loss = losses.VGGPerceptualLoss(feats)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    out = loss.features(loss._prep(x))
    assert out.shape == (1, 512, 2, 2)
    assert (out < 0).any()  # pre-activation
    assert loss(x, x).item() == 0.0
    y = torch.rand(1, 3, 32, 32, requires_grad=True)
    loss(y, x).backward()
    assert y.grad is not None and not any(p.requires_grad for p in loss.parameters())


def test_vgg_weights_missing_offline_names_the_flag(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(losses.PerceptualUnavailableError, match="--perceptual none"):
        losses.vgg19_perceptual(pretrained=True, allow_download=False)


def test_image_pool_behaviour():
    from training.recipes.cyclegan import ImagePool

    torch.manual_seed(0)
    pool = ImagePool(3)
    first = torch.arange(3, dtype=torch.float32).view(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as is
    new = torch.full((20, 1, 1, 1), 100.0)
    out = pool.query(new)
    assert out.shape == new.shape
    from_pool = (out < 100).sum().item()
    assert 0 < from_pool < 20  # some swapped for stored images, some passed through
    state = pool.train_state()
    other = ImagePool(3)
    other.load_train_state(state)
    assert torch.equal(torch.cat(other.images), torch.cat(pool.images))
    assert torch.equal(ImagePool(0).query(new), new)

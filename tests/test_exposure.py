"""Exposure-matched PSNR tells an exposure change from blur."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from eval.exposure import channel_gains, exposure_matched, psnr_exposure_matched
from eval.metrics import psnr


def _scene(rng) -> np.ndarray:
    return rng.integers(10, 180, (48, 64, 3)).astype(np.uint8)


def test_an_exposure_change_costs_plain_psnr_but_not_the_matched_one(rng):
    target = _scene(rng)
    darker = np.round(target * np.array([0.7, 0.75, 0.8])).astype(np.uint8)
    plain = float(psnr(darker, target, data_range=255)[0])
    matched = float(psnr_exposure_matched(darker, target, data_range=255)[0])
    assert plain < 20 and matched > 40


def test_blur_is_still_counted(rng):
    target = _scene(rng)
    blurred = ndimage.uniform_filter(target.astype(np.float64), size=(5, 5, 1))
    blurred = np.round(blurred).astype(np.uint8)
    plain = float(psnr(blurred, target, data_range=255)[0])
    matched = float(psnr_exposure_matched(blurred, target, data_range=255)[0])
    assert matched < plain + 0.5  # a gain cannot undo a blur


def test_gains_are_per_channel_least_squares(rng):
    pred = rng.uniform(0, 1, (2, 3, 8, 8))
    target = pred * torch.tensor([[1.5], [0.5], [2.0]]).numpy()[None, :, :, None]
    gains = channel_gains(torch.from_numpy(pred), torch.from_numpy(target))
    np.testing.assert_allclose(gains.numpy(), [[1.5, 0.5, 2.0]] * 2, rtol=1e-12)
    out = exposure_matched(torch.from_numpy(pred), torch.from_numpy(target), data_range=1.0)
    assert float(out.max()) <= 1.0  # clipped to the data range


def test_checks_its_inputs(rng):
    a = _scene(rng)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr_exposure_matched(a[:40], a, data_range=255)
    with pytest.raises(ValueError, match="data_range"):
        psnr_exposure_matched(a, a, data_range=0)
    with pytest.raises(TypeError):
        psnr_exposure_matched([1, 2], a, data_range=255)


@pytest.mark.parametrize("layout", ["array", "tensor", "batch"])
def test_uint8_histogram_path_equals_the_definition(rng, layout):
    """uint8 images are scored from joint histograms; the result equals the definition
    (matched image, clipped, then PSNR) computed in float64, including pixels that the gain
    pushes past the data range."""
    target = rng.integers(0, 256, (2, 40, 56, 3)).astype(np.uint8)
    pred = np.clip(target * np.array([0.6, 0.8, 1.1]) + rng.normal(0, 6, target.shape), 0, 255)
    pred = pred.astype(np.uint8)
    gains = channel_gains(pred, target)
    assert float((gains[:, 0:1, None] * pred[..., 0].max()).max()) > 255  # clipping happens
    if layout == "array":
        pred, target = pred[0], target[0]
    elif layout == "tensor":
        pred, target = (torch.from_numpy(a[0]).permute(2, 0, 1) for a in (pred, target))

    def as_float(a):
        return a.double() if isinstance(a, torch.Tensor) else a.astype(np.float64)

    definition = psnr_exposure_matched(as_float(pred), as_float(target), data_range=255)
    fast = psnr_exposure_matched(pred, target, data_range=255)
    np.testing.assert_allclose(fast.numpy(), definition.numpy(), rtol=0, atol=1e-9)
    assert float(psnr_exposure_matched(target, target, data_range=255)[0]) == float("inf")


def test_read_only_arrays_are_scored_without_a_warning(rng):
    import warnings

    a = _scene(rng)
    b = np.clip(a.astype(int) + 3, 0, 255).astype(np.uint8)
    a.flags.writeable = False
    b.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = float(psnr_exposure_matched(b, a, data_range=255)[0])
    assert 30 < value < float("inf")

"""training.data: aligned crops, unpaired sampling, depth targets, deterministic augmentation."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bokeh.errors import DatasetNotFoundError
from training import data


def _pairs(n: int = 4, h: int = 48, w: int = 80) -> list[SimpleNamespace]:
    """Pairs whose pixels encode (scene, row, column), so crops can be located exactly."""
    out = []
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        orig = np.stack([yy * 5 % 256, xx * 3 % 256, np.full_like(yy, i * 30)], -1).astype(np.uint8)
        bok = orig.copy()
        bok[..., 2] += 1  # bokeh differs from its original only in channel 2, by 1
        disp = (xx / (w - 1)).astype(np.float32)  # 0 at the left, 1 at the right
        out.append(SimpleNamespace(original=orig, bokeh=bok, depth=disp, key=str(i)))
    return out


def _u8(t: torch.Tensor) -> np.ndarray:
    return np.round((t.permute(1, 2, 0).numpy() + 1) * 127.5).astype(int)


def test_paired_crops_are_aligned_and_scaled():
    ds = data.PairedCrops(_pairs(), crop=32, seed=3)
    assert len(ds) == 4
    for i in range(len(ds)):
        item = ds[i]
        a, b = item["original"], item["bokeh"]
        assert a.shape == b.shape == (3, 32, 32) and a.dtype == torch.float32
        assert a.min() >= -1 and a.max() <= 1
        ua, ub = _u8(a), _u8(b)
        assert np.array_equal(ua[..., :2], ub[..., :2])  # the same crop and flip
        assert np.all(ub[..., 2] - ua[..., 2] == 1)
        assert np.all(ua[..., 2] == i * 30)  # the right scene


def test_augmentation_depends_only_on_seed_epoch_and_index():
    a = data.PairedCrops(_pairs(), crop=32, seed=3)
    b = data.PairedCrops(_pairs(), crop=32, seed=3)
    assert torch.equal(a[2]["original"], b[2]["original"])  # another "process" agrees
    seen = set()
    for epoch in range(6):
        a.set_epoch(epoch)
        seen.add(a[2]["original"].numpy().tobytes())
    assert len(seen) > 1  # crops and flips change between epochs


def test_flip_mirrors_the_columns():
    ds = data.PairedCrops(_pairs(1), crop=0, seed=0)
    flipped = plain = None
    for epoch in range(20):
        ds.set_epoch(epoch)
        cols = _u8(ds[0]["original"])[0, :, 1]
        if cols[0] > cols[-1]:
            flipped = cols
        else:
            plain = cols
    assert flipped is not None and plain is not None
    assert np.array_equal(flipped, plain[::-1])


def test_small_images_are_scaled_up_to_the_crop():
    ds = data.PairedCrops(_pairs(h=24, w=40), crop=32, seed=0)
    assert ds[0]["original"].shape == (3, 32, 32)
    half = data.PairedCrops(_pairs(), crop=16, seed=0, scale=0.5)
    assert half[0]["original"].shape == (3, 16, 16)
    with pytest.raises(ValueError, match="crop"):
        data.PairedCrops(_pairs(), crop=-1)


def test_unpaired_draws_the_domains_independently():
    pairs = _pairs(8)
    ds = data.UnpairedCrops(pairs, crop=16, seed=1)
    partners = [ds.partner(i) for i in range(8)]
    assert sorted(partners) == list(range(8))  # a permutation: every bokeh image is used
    assert partners != list(range(8))
    for i in range(8):
        item = ds[i]
        assert np.all(_u8(item["original"])[..., 2] == i * 30)
        assert np.all(_u8(item["bokeh"])[..., 2] == partners[i] * 30 + 1)
    ds.set_epoch(1)
    assert [ds.partner(i) for i in range(8)] != partners


def test_depth_targets_from_synthetic_disparity():
    from bokeh.models.densedepth import DenseDepthConfig

    ds = data.DepthCrops(_pairs(1), crop=0, seed=0, flip=False)
    item = ds[0]
    t = item["target"]
    assert t.shape == (1, 48, 80) and item["image"].shape == (3, 48, 80)
    # disparity 0 (far) -> 1000 / 1000 cm = 1; disparity 1 (near) -> 1000 / 10 cm = 100
    assert t[0, :, 0].allclose(torch.tensor(1.0))
    assert t[0, :, -1].allclose(torch.tensor(100.0))
    assert bool((t[0, 0, 1:] > t[0, 0, :-1]).all())  # affine in disparity: monotone
    cfg = DenseDepthConfig(max_depth_cm=500.0)
    assert data.DepthCrops(_pairs(1), config=cfg, crop=0, flip=False)[0]["target"].min() == 2.0


def test_depth_targets_from_nyu_metres_and_shared_flip():
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:, :20] = 255  # bright left half
    depth = np.full((40, 40), 2.0, np.float32)
    depth[:, :20] = 0.5  # the bright half is near
    sample = SimpleNamespace(rgb=rgb, depth=depth)
    ds = data.DepthCrops([sample], crop=0, seed=0)
    for epoch in range(8):
        ds.set_epoch(epoch)
        item = ds[0]
        img, t = item["image"][0], item["target"][0]
        bright = img > 0
        assert torch.allclose(t[bright], torch.tensor(1000.0 / 50.0))  # 0.5 m = 50 cm
        assert torch.allclose(t[~bright], torch.tensor(1000.0 / 200.0))


def test_build_dataset_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        data.build_dataset("paired", tmp_path / "nope", "ebb")
    with pytest.raises(DatasetNotFoundError, match="not an EBB"):
        data.build_dataset("paired", tmp_path, "synth")
    with pytest.raises(DatasetNotFoundError, match="use --dataset nyu"):
        data.build_dataset("depth", tmp_path, "ebb")
    with pytest.raises(DatasetNotFoundError, match="NYU Depth v2 not found"):
        data.build_dataset("depth", tmp_path, "nyu")
    with pytest.raises(DatasetNotFoundError, match="ebb or --dataset synth"):
        data.build_dataset("paired", tmp_path, "nyu")
    with pytest.raises(DatasetNotFoundError, match="Unknown dataset"):
        data.build_dataset("paired", tmp_path, "imagenet")


def test_synthetic_set_round_trip(tmp_path):
    from bokeh.data.synth import generate

    root = generate(tmp_path / "s", count=2, size=(64, 48), seed=0, split="train")
    paired = data.build_dataset("paired", root, "synth", crop=32)
    item = paired[0]
    assert item["original"].shape == (3, 32, 32)
    assert not torch.equal(item["original"], item["bokeh"])
    depth = data.build_dataset("depth", root, "synth", crop=32)
    t = depth[1]["target"]
    assert t.shape == (1, 32, 32) and 1.0 <= float(t.min()) <= float(t.max()) <= 100.0

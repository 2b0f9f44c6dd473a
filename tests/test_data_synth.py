"""Synthetic bokeh benchmark: layout, splits, determinism, depth, blur where it belongs."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from bokeh.data import synth
from bokeh.data.ebb import PairDataset, detect_layout
from bokeh.errors import BokehError, DatasetNotFoundError

SIZE = (384, 256)  # blur at this size is large enough to measure (f/1.8: 6.1 px per unit)


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "set"
    return synth.generate(root, count=5, size=SIZE, seed=3)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_layout_and_metadata(synth_set):
    assert detect_layout(synth_set) == ("synth", synth_set)
    for sub in ("Training/original", "Training/bokeh", "depth"):
        assert sorted(p.name for p in (synth_set / sub).iterdir()) == [f"{i}.png" for i in range(5)]
    meta = json.loads((synth_set / "metadata.json").read_text())
    assert meta["generator"] == "bokeh.data.synth" and meta["version"] == synth.GENERATOR_VERSION
    assert meta["args"] == {"count": 5, "size": list(SIZE), "seed": 3, "split": None}
    assert meta["render"]["bokeh"]["fnumber"] == 1.8
    assert meta["render"]["bokeh"]["strength"] > 5 * meta["render"]["original"]["strength"]
    assert [s["id"] for s in meta["scenes"]] == list(range(5))
    assert not list(synth_set.parent.glob(".*tmp*"))  # temporary folder renamed away


def test_splits_from_metadata(synth_set):
    train = PairDataset(synth_set, "train")
    holdout = PairDataset(synth_set, "holdout")
    assert train.ids == [0, 1, 2, 3] and holdout.ids == [4]
    assert len(PairDataset(synth_set, "all")) == 5
    assert PairDataset(synth_set, "all").name == "synth"
    with pytest.raises(DatasetNotFoundError, match="holdout"):
        PairDataset(synth_set, "val294")


def test_items_carry_depth_and_focus(synth_set):
    meta = json.loads((synth_set / "metadata.json").read_text())
    for item in PairDataset(synth_set, "all"):
        h, w = SIZE[1], SIZE[0]
        assert item.original.shape == item.bokeh.shape == (h, w, 3)
        assert item.original.dtype == np.uint8
        d = item.depth
        assert d.shape == (h, w) and d.dtype == np.float32
        assert d.min() >= 0.0 and d.max() <= 1.0
        assert d.max() - d.min() > 0.2  # background far, objects near
        scene = meta["scenes"][item.id]
        fx, fy = item.focus
        assert (fx, fy) == tuple(scene["focus"])
        # the focus point lies on the focused surface
        assert d[int(fy), int(fx)] == pytest.approx(item.focus_disparity, abs=1e-4)
        # the farthest surface is the background, behind the focused object
        assert np.percentile(d, 1) < item.focus_disparity - 0.2


def test_resized_items_scale_focus(synth_set):
    item = PairDataset(synth_set, "all", size=(192, 128))[0]
    full = PairDataset(synth_set, "all")[0]
    assert item.original.shape == (128, 192, 3) and item.depth.shape == (128, 192)
    assert item.focus[0] == pytest.approx((full.focus[0] + 0.5) / 2 - 0.5)


def _laplacian_energy(img: np.ndarray, mask: np.ndarray) -> float:
    grey = img.astype(np.float64).mean(axis=2)
    return float((ndimage.laplace(grey) ** 2)[mask].mean())


def test_out_of_focus_regions_are_blurred_and_focus_is_sharp(synth_set):
    meta = json.loads((synth_set / "metadata.json").read_text())
    strength = meta["render"]["bokeh"]["strength"]
    checked_blur = checked_sharp = 0
    for item in PairDataset(synth_set, "all"):
        coc = strength * np.abs(item.depth - item.focus_disparity)
        margin = int(np.ceil(strength)) + 2  # no surface spreads further than this
        far = ndimage.binary_erosion(coc >= 3.0, iterations=margin)
        if far.sum() > 2000:
            ratio = _laplacian_energy(item.bokeh, far) / _laplacian_energy(item.original, far)
            assert ratio < 0.3, f"scene {item.id}: blurred region keeps {ratio:.2f} of its detail"
            checked_blur += 1
        sharp = ndimage.binary_erosion(coc < 1e-3, iterations=margin)
        if sharp.sum() > 500:
            diff = item.bokeh[sharp].astype(np.float64) - item.original[sharp]
            psnr = 10 * np.log10(255.0**2 / max(float(np.mean(diff**2)), 1e-12))
            assert psnr > 38, f"scene {item.id}: in-focus object PSNR {psnr:.1f} dB"
            checked_sharp += 1
    assert checked_blur >= 3 and checked_sharp >= 3


def test_light_sources_are_bright_in_the_background(synth_set):
    item = PairDataset(synth_set, "all")[0]
    far = item.depth < 0.1
    assert (item.original[far].max(axis=1) >= 240).sum() >= 3  # several near-white light pixels


def test_determinism_same_arguments_same_bytes(tmp_path):
    a = synth.generate(tmp_path / "a", count=2, size=(96, 64), seed=11, split="train")
    b = synth.generate(tmp_path / "b", count=2, size=(96, 64), seed=11, split="train")
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys() and len(fa) == 7
    assert all(fa[k] == fb[k] for k in fa)
    # scenes do not depend on the count, and the seed matters
    c = synth.generate(tmp_path / "c", count=3, size=(96, 64), seed=11, split="train")
    assert _files(c)["Training/bokeh/1.png"] == fa["Training/bokeh/1.png"]
    d = synth.generate(tmp_path / "d", count=1, size=(96, 64), seed=12, split="train")
    assert _files(d)["Training/original/0.png"] != fa["Training/original/0.png"]


def test_depth_png_is_16_bit(synth_set):
    from PIL import Image

    with Image.open(synth_set / "depth/0.png") as im:
        raw = np.asarray(im)
    assert raw.dtype == np.uint16 and raw.max() > 255


def test_generate_refuses_non_empty_output_and_bad_arguments(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(BokehError, match="not empty"):
        synth.generate(tmp_path / "full", count=1, size=(64, 64), seed=0)
    assert (tmp_path / "full" / "x").read_text() == "keep me"
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        synth.generate(tmp_path / "o", count=1, size="64by64", seed=0)
    with pytest.raises(ValueError, match="count"):
        synth.generate(tmp_path / "o", count=0, size=(64, 64), seed=0)
    with pytest.raises(ValueError, match="split"):
        synth.generate(tmp_path / "o", count=1, size=(64, 64), seed=0, split="val")
    assert not (tmp_path / "o").exists()


def test_synth_main_summary(tmp_path, capsys):
    summary = synth.synth_main(tmp_path / "cli", 2, "64x48", 5, split="holdout", progress=True)
    assert summary["count"] == 2 and summary["size"] == [64, 48]
    assert summary["splits"] == {"holdout": 2}
    assert Path(summary["root"]) == tmp_path / "cli"
    assert "2/2" in capsys.readouterr().err
    assert len(PairDataset(tmp_path / "cli", "holdout")) == 2


@pytest.fixture
def small_holdout(monkeypatch):
    monkeypatch.setattr(synth, "HOLDOUT_COUNT", 2)
    monkeypatch.setattr(synth, "HOLDOUT_SIZE", (64, 48))


def test_ensure_holdout_generates_once(tmp_path, small_holdout):
    root = synth.ensure_holdout(tmp_path)
    assert root == tmp_path / synth.HOLDOUT_NAME
    ds = PairDataset(root, "holdout")
    assert len(ds) == 2
    stamp = (root / "metadata.json").stat().st_mtime_ns
    assert synth.ensure_holdout(tmp_path) == root
    assert (root / "metadata.json").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [synth.HOLDOUT_NAME]  # no temp leftovers


def test_ensure_holdout_default_location_is_the_data_dir(tmp_path, small_holdout, monkeypatch):
    monkeypatch.setenv("BOKEH_DATA_DIR", str(tmp_path))
    assert synth.ensure_holdout() == tmp_path / "synth" / synth.HOLDOUT_NAME


def test_ensure_holdout_losing_the_race_uses_the_winner(tmp_path, small_holdout, monkeypatch):
    real_generate = synth.generate

    def racing_generate(out, **kwargs):
        built = real_generate(out, **kwargs)
        # another process finishes first and renames its copy into place
        real_generate(tmp_path / synth.HOLDOUT_NAME, **kwargs)
        (tmp_path / synth.HOLDOUT_NAME / "winner").write_text("1")
        return built

    monkeypatch.setattr(synth, "generate", racing_generate)
    root = synth.ensure_holdout(tmp_path)
    assert (root / "winner").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [synth.HOLDOUT_NAME]


def test_ensure_holdout_concurrent_calls(tmp_path, small_holdout):
    results, errors = [], []

    def call():
        try:
            results.append(synth.ensure_holdout(tmp_path))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    assert len(PairDataset(results[0], "holdout")) == 2
    assert [p.name for p in tmp_path.iterdir()] == [synth.HOLDOUT_NAME]


def test_motorcycle_sample():
    s = synth.motorcycle_sample()
    h, w = s.image.shape[:2]
    assert s.image.shape == (500, 741, 3) and s.image.dtype == np.float32
    assert s.image.min() >= 0.0 and s.image.max() <= 1.0
    assert s.disparity.shape == (h, w) and s.disparity.dtype == np.float32
    assert np.isfinite(s.disparity).all()
    assert s.disparity.min() == 0.0 and s.disparity.max() == 1.0
    assert 0.85 < s.valid.mean() < 1.0  # Middlebury leaves some pixels without ground truth
    x, y = s.focus
    assert s.valid[y, x]
    # the motorcycle is in front of most of the scene
    assert s.disparity[y, x] > np.percentile(s.disparity, 60)
    assert not s.image.flags.writeable


@pytest.mark.slow
def test_default_holdout_full_size(tmp_path):
    start = time.perf_counter()
    root = synth.ensure_holdout(tmp_path)
    seconds = time.perf_counter() - start
    ds = PairDataset(root, "holdout")
    assert len(ds) == synth.HOLDOUT_COUNT == 64
    assert ds[0].original.shape == (256, 384, 3)
    meta = json.loads((root / "metadata.json").read_text())
    assert meta["args"] == {"count": 64, "size": [384, 256], "seed": synth.HOLDOUT_SEED,
                            "split": "holdout"}  # fmt: skip
    print(f"default holdout: 64 scenes at 384x256 in {seconds:.1f} s")

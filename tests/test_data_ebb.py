"""EBB! loader: layouts, splits, missing/unreadable pairs, size policy, Hub fallback."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bokeh.data import ebb
from bokeh.data.ebb import EBB_SPLITS, PairDataset, detect_layout, load_ebb
from bokeh.errors import DatasetNotFoundError, ImageReadError


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("EBB_ROOT", "BOKEH_EBB_REPO", "BOKEH_EBB_REVISION"):
        monkeypatch.delenv(name, raising=False)


def _img(seed: int, w: int = 24, h: int = 16) -> np.ndarray:
    """A smooth seeded colour gradient (survives JPEG), different for every seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    base, gx, gy = rng.uniform(40, 160, 3), rng.uniform(-60, 60, 3), rng.uniform(-60, 60, 3)
    img = base + xx[..., None] * gx + yy[..., None] * gy
    return np.clip(img, 0, 255).astype(np.uint8)


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "PNG" if path.suffix == ".png" else "JPEG"
    Image.fromarray(array).save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))


def _make_pairs(folder: Path, ids, ext: str = ".jpg", w: int = 24, h: int = 16) -> None:
    for i in ids:
        _write(folder / "original" / f"{i}{ext}", _img(2 * i, w, h))
        _write(folder / "bokeh" / f"{i}{ext}", _img(2 * i + 1, w, h))


def test_split_definitions_match_the_reference():
    assert (EBB_SPLITS["train"].start, EBB_SPLITS["train"].stop) == (0, 4400)
    assert list(EBB_SPLITS["val294"]) == list(range(4400, 4694))
    assert len(EBB_SPLITS["val294"]) == 294
    assert list(EBB_SPLITS["holdout100"]) == list(range(4400, 4500))
    assert set(EBB_SPLITS["train"]).isdisjoint(EBB_SPLITS["val294"])


def test_released_layout_reads_pairs_lazily(tmp_path):
    _make_pairs(tmp_path / "Training", [0, 1, 2])
    ds = load_ebb(tmp_path)
    assert ds.layout == "released" and ds.name == "ebb"
    assert len(ds) == 3 and ds.ids == [0, 1, 2] and ds.keys == ["0", "1", "2"]
    item = ds[1]
    assert item.id == 1 and item.original.dtype == np.uint8 and item.original.shape == (16, 24, 3)
    assert item.bokeh.shape == item.original.shape
    assert item.original_path == tmp_path / "Training/original/1.jpg"
    assert item.depth is None and item.focus is None
    # JPEG at quality 95 stays close to what was written
    assert np.abs(item.original.astype(int) - _img(2)).mean() < 4
    assert np.abs(item.bokeh.astype(int) - _img(2)).mean() > 4
    assert [p.id for p in ds] == [0, 1, 2]
    assert [p.id for p in ds[1:]] == [1, 2]


def test_png_and_jpg_are_both_accepted(tmp_path):
    _make_pairs(tmp_path / "Training", [0], ext=".png")
    _make_pairs(tmp_path / "Training", [1], ext=".jpg")
    ds = load_ebb(tmp_path)
    assert ds.ids == [0, 1]
    np.testing.assert_array_equal(ds[0].original, _img(0))  # PNG is lossless


def test_root_may_be_training_folder_or_one_level_up(tmp_path):
    _make_pairs(tmp_path / "EBB" / "Training", [5, 6])
    assert detect_layout(tmp_path)[1] == tmp_path / "EBB"
    assert load_ebb(tmp_path).ids == [5, 6]
    assert load_ebb(tmp_path / "EBB" / "Training").ids == [5, 6]


def test_named_splits_select_the_released_ids(tmp_path):
    present = [4398, 4399, 4400, 4401, 4499, 4500, 4693]
    _make_pairs(tmp_path / "Training", present)
    with pytest.warns(UserWarning, match="Skipping"):
        val = load_ebb(tmp_path, "val294", missing="skip")
    assert val.ids == [4400, 4401, 4499, 4500, 4693]
    assert len(val.missing_ids) == 294 - 5
    with pytest.warns(UserWarning):
        hold = load_ebb(tmp_path, "holdout100", missing="skip")
    assert hold.ids == [4400, 4401, 4499]
    with pytest.warns(UserWarning):
        train = load_ebb(tmp_path, "train", missing="skip")
    assert train.ids == [4398, 4399]
    assert load_ebb(tmp_path, "all").ids == present


def test_unknown_split_lists_the_available_ones(tmp_path):
    _make_pairs(tmp_path / "Training", [0])
    with pytest.raises(DatasetNotFoundError, match="val294"):
        load_ebb(tmp_path, "validation")


def test_missing_pair_is_reported_with_its_id(tmp_path):
    _make_pairs(tmp_path / "Training", [0, 1, 2, 3])
    (tmp_path / "Training/bokeh/2.jpg").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"ids 2\b"):
        load_ebb(tmp_path)
    with pytest.warns(UserWarning, match=r"ids 2\b"):
        ds = load_ebb(tmp_path, missing="skip")
    assert ds.ids == [0, 1, 3] and ds.missing_ids == ("2",)


def test_missing_ids_are_summarised_as_ranges(tmp_path):
    _make_pairs(tmp_path / "Training", [4400])
    with pytest.raises(DatasetNotFoundError, match="4401-4693"):
        load_ebb(tmp_path, "val294")


def test_unreadable_pair_names_its_id_and_skip_policy_records_it(tmp_path):
    _make_pairs(tmp_path / "Training", [0, 1, 2])
    (tmp_path / "Training/original/1.jpg").write_bytes(b"not a jpeg")
    ds = load_ebb(tmp_path)
    with pytest.raises(ImageReadError, match="Pair 1"):
        ds[1]
    with pytest.raises(ImageReadError):
        list(ds)
    skipping = load_ebb(tmp_path, missing="skip")
    with pytest.warns(UserWarning, match="Pair 1"):
        ids = [p.id for p in skipping]
    assert ids == [0, 2] and skipping.unreadable_ids == ["1"]


def test_small_size_mismatch_is_cropped_top_left(tmp_path):
    base = _img(7, 100, 80)
    _write(tmp_path / "Training/original/0.png", base)
    _write(tmp_path / "Training/bokeh/0.png", base[:79, :99])
    item = load_ebb(tmp_path)[0]
    assert item.original.shape == item.bokeh.shape == (79, 99, 3)
    np.testing.assert_array_equal(item.original, base[:79, :99])


def test_large_size_mismatch_raises_with_id_and_sizes(tmp_path):
    _write(tmp_path / "Training/original/3.png", _img(1, 100, 80))
    _write(tmp_path / "Training/bokeh/3.png", _img(2, 90, 80))
    ds = load_ebb(tmp_path)
    with pytest.raises(ImageReadError, match=r"Pair 3.*100x80.*90x80"):
        ds[0]
    # a looser tolerance accepts it
    assert load_ebb(tmp_path, mismatch_tolerance=0.15)[0].original.shape == (80, 90, 3)


def test_resize_option(tmp_path):
    _make_pairs(tmp_path / "Training", [0], w=48, h=32)
    item = load_ebb(tmp_path, size=(20, 10))[0]
    assert item.original.shape == item.bokeh.shape == (10, 20, 3)
    with pytest.raises(ValueError, match="width, height"):
        load_ebb(tmp_path, size=(0, 10))


def test_pynet_layout_has_its_own_splits(tmp_path):
    _make_pairs(tmp_path / "train", [0, 1, 2])
    _make_pairs(tmp_path / "test", [0, 1])
    assert detect_layout(tmp_path)[0] == "pynet"
    assert len(load_ebb(tmp_path, "train")) == 3
    test = load_ebb(tmp_path, "test")
    assert test.keys == ["test/0", "test/1"]
    everything = load_ebb(tmp_path, "all")
    assert len(everything) == 5 and len(set(everything.keys)) == 5
    assert everything.name == "ebb-pynet"
    with pytest.raises(DatasetNotFoundError, match="PyNET"):
        load_ebb(tmp_path, "val294")


def test_bad_layouts_raise_helpful_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="Training/original"):
        load_ebb(tmp_path)  # empty folder
    (tmp_path / "Training" / "original").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="Training/bokeh"):
        load_ebb(tmp_path)  # half a layout
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_ebb(tmp_path / "nowhere")
    (tmp_path / "Training" / "bokeh").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no image pairs"):
        load_ebb(tmp_path)


def test_two_datasets_in_one_folder_is_ambiguous(tmp_path):
    _make_pairs(tmp_path / "a" / "Training", [0])
    _make_pairs(tmp_path / "b" / "Training", [0])
    with pytest.raises(DatasetNotFoundError, match="several datasets"):
        load_ebb(tmp_path)


def test_no_root_no_env_says_how_to_get_data():
    with pytest.raises(DatasetNotFoundError, match="EBB_ROOT") as info:
        load_ebb()
    assert "BOKEH_EBB_REPO" in str(info.value)


def test_env_root_is_used(tmp_path, monkeypatch):
    _make_pairs(tmp_path / "Training", [9])
    monkeypatch.setenv("EBB_ROOT", str(tmp_path))
    assert PairDataset().ids == [9]


def test_hub_repo_is_fetched_as_a_dataset(tmp_path, monkeypatch):
    import huggingface_hub

    _make_pairs(tmp_path / "snap" / "Training", [4400, 4401])
    calls = []

    def fake_snapshot_download(**kwargs):
        calls.append(kwargs)
        return str(tmp_path / "snap")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.setenv("BOKEH_EBB_REPO", "someone/ebb")
    ds = load_ebb(split="all")
    assert ds.ids == [4400, 4401]
    assert calls and calls[0]["repo_id"] == "someone/ebb"
    assert calls[0]["repo_type"] == "dataset" and calls[0]["revision"] == "main"


def test_hub_failure_is_a_clear_dataset_error(monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(**kwargs):
        raise LocalEntryNotFoundError("offline and not cached")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    monkeypatch.setenv("BOKEH_EBB_REPO", "someone/ebb")
    with pytest.raises(DatasetNotFoundError, match="someone/ebb.*EBB_ROOT"):
        load_ebb()


def test_hub_offline_with_real_client_gives_dataset_error(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("BOKEH_EBB_REPO", "nobody/not-a-real-ebb-repo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DatasetNotFoundError, match="not-a-real-ebb-repo"):
            ebb.find_ebb_root()


def test_explicit_root_beats_env(tmp_path, monkeypatch):
    _make_pairs(tmp_path / "a" / "Training", [1])
    _make_pairs(tmp_path / "b" / "Training", [2])
    monkeypatch.setenv("EBB_ROOT", str(tmp_path / "a"))
    assert load_ebb(tmp_path / "b").ids == [2]


def test_bad_arguments():
    with pytest.raises(ValueError, match="missing"):
        PairDataset("x", missing="ignore")

"""NYU Depth v2 loader on a tiny archive built in tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bokeh.data.nyu import EigenTest, NYUPairs, load_nyu
from bokeh.errors import DatasetNotFoundError, ImageReadError

W, H = 16, 12


def _rgb(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.uniform(30, 220, 3) + np.zeros((H, W, 3)), 0, 255).astype(np.uint8)


def _archive(root: Path, n: int = 3, split: str = "train", bits: int = 8) -> list[np.ndarray]:
    """Write ``data/nyu2_{split}.csv`` and its images; return the raw depth arrays."""
    folder = root / "data" / f"nyu2_{split}" / "living_room_0001_out"
    folder.mkdir(parents=True, exist_ok=True)
    lines, raws = [], []
    for i in range(n):
        Image.fromarray(_rgb(i)).save(folder / f"{i}.png")
        if bits == 8:
            raw = np.full((H, W), 10 + 50 * i, np.uint8)
            raw[0, 0], raw[0, 1] = 255, 0
        else:
            raw = np.full((H, W), 1000 + 1500 * i, np.uint16)
        Image.fromarray(raw).save(folder / f"{i}_depth.png")
        raws.append(raw)
        rel = f"data/nyu2_{split}/living_room_0001_out"
        lines.append(f"{rel}/{i}.png,{rel}/{i}_depth.png")
    (root / "data" / f"nyu2_{split}.csv").write_text("\n".join(lines) + "\n")
    return raws


def test_train_rows_give_rgb_and_metres(tmp_path):
    raws = _archive(tmp_path)
    ds = load_nyu(tmp_path, "train")
    assert isinstance(ds, NYUPairs) and len(ds) == 3
    s = ds[1]
    assert s.rgb.dtype == np.uint8 and s.rgb.shape == (H, W, 3)
    np.testing.assert_array_equal(s.rgb, _rgb(1))
    assert s.depth.dtype == np.float32 and s.depth.shape == (H, W)
    np.testing.assert_allclose(s.depth, raws[1] / 255.0 * 10.0, rtol=1e-6)
    assert s.depth[0, 0] == pytest.approx(10.0) and s.depth[0, 1] == 0.0
    assert s.rgb_path.name == "1.png" and s.depth_path.name == "1_depth.png"
    assert [x.index for x in ds] == [0, 1, 2]
    assert ds[-1].index == 2


def test_sixteen_bit_test_depth_is_millimetres(tmp_path):
    raws = _archive(tmp_path, n=2, split="test", bits=16)
    s = load_nyu(tmp_path, "test")[1]
    np.testing.assert_allclose(s.depth, raws[1] / 1000.0, rtol=1e-6)


def test_missing_archive_and_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="nyu2_train.csv"):
        load_nyu(tmp_path)
    _archive(tmp_path)
    (tmp_path / "data/nyu2_train/living_room_0001_out/2_depth.png").unlink()
    ds = load_nyu(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="row 2"):
        ds[2]


def test_bad_csv_row_names_its_line(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data/nyu2_train.csv").write_text("a.jpg,a.png\nonly_one_column\n")
    with pytest.raises(DatasetNotFoundError, match="line 2"):
        load_nyu(tmp_path)


def test_unreadable_image_names_the_row(tmp_path):
    _archive(tmp_path)
    (tmp_path / "data/nyu2_train/living_room_0001_out/0.png").write_bytes(b"junk")
    with pytest.raises(ImageReadError, match="row 0"):
        load_nyu(tmp_path)[0]


def test_unknown_split():
    with pytest.raises(ValueError, match="split"):
        NYUPairs(".", "val")


def _eigen(folder: Path, n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 9.5, (n, H, W)).astype(np.float32)
    np.save(folder / "eigen_test_rgb.npy", rgb)
    np.save(folder / "eigen_test_depth.npy", depth)
    np.save(folder / "eigen_test_crop.npy", np.array([2, 10, 3, 14]))
    return rgb, depth


def test_eigen_arrays(tmp_path):
    rgb, depth = _eigen(tmp_path / "data")
    ds = load_nyu(tmp_path, "eigen")
    assert isinstance(ds, EigenTest) and len(ds) == 2
    s = ds[1]
    np.testing.assert_array_equal(s.rgb, rgb[1])
    np.testing.assert_array_equal(s.depth, depth[1])
    assert s.depth.dtype == np.float32 and s.crop == (2, 10, 3, 14)
    with pytest.raises(IndexError):
        ds[2]


def test_eigen_refuses_pickled_arrays(tmp_path):
    _eigen(tmp_path)
    np.save(tmp_path / "eigen_test_crop.npy", np.array([{"evil": 1}], dtype=object))
    with pytest.raises(DatasetNotFoundError, match="could not be loaded"):
        EigenTest(tmp_path)


def test_eigen_shape_checks_and_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="eigen_test_rgb.npy"):
        EigenTest(tmp_path)
    _eigen(tmp_path)
    np.save(tmp_path / "eigen_test_depth.npy", np.zeros((3, H, W), np.float32))
    with pytest.raises(DatasetNotFoundError, match="eigen_test_depth.npy must have shape"):
        EigenTest(tmp_path)

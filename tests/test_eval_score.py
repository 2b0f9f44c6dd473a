"""``python -m eval score PRED_DIR GT_DIR``: matching by name, CSV with a mean row last."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bokeh.errors import BokehError
from eval.__main__ import main as eval_main
from eval.metric_table import METRICS
from eval.score import natural_key, score_folders, score_pair, to_csv


def _save(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


@pytest.fixture
def folders(tmp_path, rng):
    """gt: 2, 3, 10, 11 (png); pred: 2 (png), 10 (png), 11 (wrong size), 7 (no gt); 3 missing."""
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    pairs = {}
    for i in ("2", "3", "10", "11"):
        gt = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        _save(gt_dir / f"{i}.png", gt)
        noise = rng.integers(-20, 21, gt.shape)
        pairs[i] = (np.clip(gt.astype(int) + noise, 0, 255).astype(np.uint8), gt)
    _save(pred_dir / "2.png", pairs["2"][0])
    _save(pred_dir / "10.png", pairs["10"][0])
    _save(pred_dir / "11.png", pairs["11"][0][:20])
    _save(pred_dir / "7.png", pairs["2"][0])
    (pred_dir / "notes.txt").write_text("not an image")
    return pred_dir, gt_dir, pairs


def _parse(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_scores_match_score_pair_and_mean_row_is_last(folders):
    pred_dir, gt_dir, pairs = folders
    report = score_folders(pred_dir, gt_dir)
    rows = _parse(to_csv(report))
    assert list(rows[0]) == ["id", *METRICS]
    assert [r["id"] for r in rows] == ["2", "10", "mean"]
    for r in rows[:-1]:
        expected = score_pair(*pairs[r["id"]])
        for key in METRICS:
            assert float(r[key]) == pytest.approx(expected[key], abs=1e-6)
    for key in METRICS:
        assert float(rows[-1][key]) == pytest.approx(
            np.mean([float(r[key]) for r in rows[:-1]]), abs=1e-6
        )
    assert report.missing_pred == ["3"] and report.missing_gt == ["7"]
    assert "11" in report.errors and "32x20" in report.errors["11"]


def test_cli_writes_stdout_or_file_and_reports_problems(folders, capsys, tmp_path):
    pred_dir, gt_dir, _ = folders
    assert eval_main(["score", str(pred_dir), str(gt_dir)]) == 0
    out = capsys.readouterr()
    assert [r["id"] for r in _parse(out.out)] == ["2", "10", "mean"]
    assert "no output: 3" in out.err and "no ground truth: 7" in out.err
    assert "11: size mismatch" in out.err

    target = tmp_path / "scores.csv"
    assert eval_main(["score", str(pred_dir), str(gt_dir), "--out", str(target)]) == 0
    assert capsys.readouterr().out == ""
    assert _parse(target.read_text())[-1]["id"] == "mean"
    assert eval_main(["score", str(pred_dir), str(gt_dir), "--strict"]) == 1


def test_jpg_and_png_match_by_stem_and_png_wins(tmp_path, rng):
    gt = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    _save(tmp_path / "gt" / "a.JPG", gt)
    _save(tmp_path / "pred" / "a.png", gt)
    _save(tmp_path / "pred" / "a.jpg", 255 - gt)
    report = score_folders(tmp_path / "pred", tmp_path / "gt")
    assert [r["id"] for r in report.rows] == ["a"]
    assert any("a.png" in n for n in report.notes)  # the duplicate stem is reported


def test_nothing_to_score_is_an_error(tmp_path, capsys, rng):
    (tmp_path / "empty").mkdir()
    _save(tmp_path / "gt" / "1.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    with pytest.raises(BokehError, match="holds no"):
        score_folders(tmp_path / "empty", tmp_path / "gt")
    assert eval_main(["score", str(tmp_path / "empty"), str(tmp_path / "gt")]) == 1
    assert "error:" in capsys.readouterr().err
    _save(tmp_path / "other" / "2.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    assert eval_main(["score", str(tmp_path / "other"), str(tmp_path / "gt")]) == 1
    with pytest.raises(BokehError, match="not a folder"):
        score_folders(tmp_path / "missing", tmp_path / "gt")


def test_natural_order():
    assert sorted(["10", "2", "b1", "a10", "a2"], key=natural_key) == ["2", "10", "a2", "a10", "b1"]

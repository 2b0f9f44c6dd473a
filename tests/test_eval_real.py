"""Evaluation on real pairs: rows per depth source, the pair's f-numbers and focus origin reach
the method and the row, and the leaderboard labels real and synthetic data and ranks them
apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bokeh.data.colormap import encode_depth
from bokeh.imaging import from_uint8, to_uint8
from bokeh.registry import load_method
from eval.datasets import open_dataset
from eval.runs import evaluate
from eval.store import load_rows, run_summary


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope="module")
def vabm(tmp_path_factory, photo):
    """Two scenes at f/1.8 and f/8 (the coffee photo as input), colour-mapped depth, one mask."""
    root = tmp_path_factory.mktemp("vabm")
    image = (np.asarray(photo) * 255).astype(np.uint8)
    h, w = image.shape[:2]
    disparity = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
    for name in ("0001", "0002"):
        _save(root / "test" / "input" / f"{name}.png", image)
        for sub in ("1_8", "8"):
            _save(root / "test" / sub / f"{name}.png", image[:, ::-1].copy())
        _save(root / "test" / "depth" / f"{name}.png", encode_depth(disparity))
    mask = np.zeros((h, w), np.uint8)
    mask[100:150, 300:340] = 255
    _save(root / "test" / "focal" / "0001.png", mask)
    return root


def test_rows_per_depth_source_with_the_pairs_f_numbers(vabm, tmp_path):
    run = evaluate(["identity", "depth-lens"], "vabm", "all@8", root=vabm, results_dir=tmp_path)
    rows = load_rows(run)
    assert set(rows["method"]) == {
        "identity",
        "depth-lens (dataset depth)",
        "depth-lens (classical)",
    }
    assert rows["error"].isna().all()
    assert set(rows["oracle"]) == {False}  # the dataset's depth is no oracle
    by = rows.set_index(["method", "id"])
    assert by.loc[("identity", "test/0001@f8"), "focus_source"] == "annotation"
    assert by.loc[("identity", "test/0002@f8"), "focus_source"].startswith("image centre")
    # The output equals the pipeline called with the pair's aperture and the input's f/16.
    item = open_dataset("vabm", "all@8", root=vabm)[0]
    want = load_method("depth-lens")(
        from_uint8(item.input), focus=item.focus, depth=item.depth, fnumber=8.0, input_fnumber=16.0
    )
    out_path = Path(run) / by.loc[("depth-lens (dataset depth)", item.id), "output"]
    np.testing.assert_array_equal(np.asarray(Image.open(out_path)), to_uint8(want.image))
    summary = run_summary(run).set_index("method")
    assert summary.loc["identity", "focus"] == (
        "annotation (1), image centre (no focus annotation) (1)"
    )
    meta = json.loads((Path(run) / "run.json").read_text())
    assert meta["weights"]["depth-lens (dataset depth)"]["summary"].startswith("the dataset's")


def test_cli_aperture_and_input_fnumber(vabm, tmp_path, capsys):
    from eval.__main__ import main

    code = main(
        [
            "run",
            "--dataset",
            "vabm",
            "--root",
            str(vabm),
            "--aperture",
            "1.8",
            "--input-fnumber",
            "11",
            "--methods",
            "depth-lens",
            "--results",
            str(tmp_path),
        ]
    )
    assert code == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    meta = json.loads((run / "run.json").read_text())
    assert meta["split"] == "all@1.8" and meta["n_selected"] == 2
    assert meta["settings"] == {"depth-lens": {"input_fnumber": 11.0}}


def test_leaderboard_labels_real_and_synthetic_and_ranks_them_apart(vabm, tmp_path):
    from bokeh.data.synth import generate
    from eval.leaderboard import leaderboard_frame, leaderboard_table

    synth = tmp_path / "synth"
    generate(synth, count=2, size=(96, 64), seed=3, split="holdout")
    evaluate(["identity"], "synth", "holdout", root=synth, results_dir=tmp_path / "r")
    evaluate(["identity"], "vabm", "all@8", root=vabm, results_dir=tmp_path / "r")
    frame = leaderboard_frame(tmp_path / "r").set_index("dataset")
    assert frame.loc["vabm", "data"] == "real photos"
    assert frame.loc["synth", "data"] == "synthetic scenes"
    assert frame.loc["vabm", "rank"] == 1 and frame.loc["synth", "rank"] == 1
    table = leaderboard_table(tmp_path / "r")
    assert {"Data", "Rank", "Focus"} <= set(table.columns)


def test_review_says_when_a_runs_images_are_not_here(vabm, tmp_path, monkeypatch):
    import shutil

    from bokeh.errors import BokehError
    from eval import actions

    copy = tmp_path / "data"
    shutil.copytree(vabm, copy)
    run = evaluate(["identity"], "vabm", "all@8", root=copy, results_dir=tmp_path / "r")
    shutil.rmtree(Path(run) / "outputs")  # a run that ships scores only ...
    shutil.rmtree(copy)  # ... of photos that are not on this machine
    monkeypatch.setenv("BOKEH_REALDATA", str(tmp_path / "nowhere"))
    with pytest.raises(BokehError, match="images of run .* are not on this machine"):
        actions.worst(Path(run).name, "identity", "psnr", results_dir=tmp_path / "r")

"""The command line (bokeh.cli): most tests call ``main(argv)`` in-process; two run
``python -m bokeh`` in a subprocess to prove the module entry point works offline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import bokeh
from bokeh import cli
from bokeh.cli import main
from bokeh.depth import DEPTH_SOURCES
from bokeh.registry import METHODS, NETWORKS
from tests import phone_photos as pp

REPO = Path(__file__).resolve().parents[1]
W, H = 96, 64  # small, so that every render takes well under a second


def _texture(w: int = W, h: int = H, seed: int = 0) -> np.ndarray:
    """A uint8 RGB texture with lots of fine detail (blur removes it visibly)."""
    rng = np.random.default_rng(seed)
    return (rng.random((h, w, 3)) * 255).astype(np.uint8)


def _detail(img: np.ndarray) -> float:
    """Mean absolute difference between horizontal neighbours (high-frequency energy)."""
    return float(np.abs(np.diff(img.astype(np.float32), axis=1)).mean())


@pytest.fixture
def scene(tmp_path):
    """INPUT.png (noise texture) and a disparity map: left half near (255), right half far (0)."""
    w, h = W, H
    image = _texture(w, h)
    Image.fromarray(image).save(tmp_path / "in.png")
    disp = np.zeros((h, w), np.uint8)
    disp[:, : w // 2] = 255
    Image.fromarray(disp).save(tmp_path / "disp.png")
    return tmp_path, image


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_error_line(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def _env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    env.pop("BOKEH_HUB_REPO", None)
    return env


# --------------------------------------------------------------------------- module entry


def test_module_entry_lists_methods_offline():
    proc = subprocess.run(
        [sys.executable, "-m", "bokeh", "methods"],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n\n")[0].splitlines()  # the methods, before the depth sources
    assert len(lines) == len(METHODS)
    by_name = {line.split()[0]: line for line in lines}
    assert set(by_name) == set(METHODS)
    for line in lines:
        assert re.search(r"\s\d+\.\d\dM\s", line), line
    assert " 42.66M " in by_name["depth-lens"]
    assert " 0.00M " in by_name["identity"]
    # columns are aligned: the count column starts at the same offset on every line
    starts = {re.search(r"\d+\.\d\dM", line).start() for line in lines}
    assert len(starts) == 1


def test_module_entry_unreadable_input_is_one_clear_line(tmp_path):
    bad = tmp_path / "photo.jpg"
    bad.write_text("this is not a photo\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bokeh", "render", str(bad), "-o", str(tmp_path / "o.png"),
         "--method", "depth-lens"],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    _assert_one_error_line(proc.stderr)
    assert not (tmp_path / "o.png").exists()


# --------------------------------------------------------------------------- methods / version


def test_methods_in_process(capsys):
    code, out, _ = _run(capsys, "methods")
    assert code == 0
    methods, _, sources = out.partition("\n\n")
    rows = {line.split()[0]: line.split() for line in methods.splitlines()}
    assert set(rows) == set(METHODS)
    for name, cols in rows.items():
        assert cols[1] == METHODS[name].kind
        assert re.fullmatch(r"\d+\.\d\dM", cols[2])
    assert rows["depth-lens"][2] == "42.66M"
    assert rows["identity"][2] == "0.00M"
    assert "none needed" in " ".join(rows["identity"])
    # depth methods say what auto would use here, not the demo DenseDepth weights
    assert "densedepth" not in " ".join(rows["depth-lens"])
    assert "auto = Classical (subject click)" in " ".join(rows["depth-lens"])
    assert "demo weights (synthetic)" in " ".join(rows["pix2pix"])


def test_methods_list_what_each_depth_source_would_be(capsys, monkeypatch):
    monkeypatch.delenv("BOKEH_DEPTH_ANYTHING_DIR", raising=False)
    monkeypatch.delenv("BOKEH_DEPTH_ANYTHING_REPO", raising=False)  # the default model
    code, out, _ = _run(capsys, "methods")
    assert code == 0
    head, _, table = out.partition("depth sources (what each would be here):")
    rows = {ln.split()[0]: ln.split(None, 2) for ln in table.splitlines()[1:] if ln.strip()}
    assert set(rows) == set(DEPTH_SOURCES)
    assert rows["classical"][1] == "yes" and rows["anything"][1] in ("yes", "no")
    if rows["anything"][1] == "no":  # offline without the model: why, and what to do
        assert "hf download" in rows["anything"][2] and "HF_HUB_OFFLINE" in rows["anything"][2]
    assert "Automatic skips them" in rows["model"][2]  # the demo DenseDepth weights


def test_methods_all_lists_every_network(capsys):
    code, out, _ = _run(capsys, "methods", "--all")
    assert code == 0
    head, _, tail = out.partition("networks:")
    assert tail, out
    net_rows = {line.split()[0]: line.split() for line in tail.splitlines() if line.strip()}
    assert set(net_rows) == set(NETWORKS)
    for name, cols in net_rows.items():
        assert cols[1] == NETWORKS[name].role
        assert re.fullmatch(r"\d+\.\d\dM", cols[2])
    assert net_rows["densedepth"][2] == "42.66M"
    for name in METHODS:  # the method section is still there
        assert re.search(rf"^\s*{re.escape(name)}\s", head, re.M)


def test_version(capsys):
    code, out, _ = _run(capsys, "--version")
    assert code == 0
    assert bokeh.__version__ in out


# --------------------------------------------------------------------------- render


def test_render_depth_lens_with_depth_file_blurs_background(scene, capsys):
    tmp, image = scene
    out_path = tmp / "out.png"
    code, out, err = _run(
        capsys, "render", tmp / "in.png", "-o", out_path, "--method", "depth-lens",
        "--depth", tmp / "disp.png", "--depth-kind", "disparity", "--focus", "20,32",
        "--fnumber", "1.4", "--save-depth", tmp / "used.png",
    )  # fmt: skip
    assert code == 0, err
    assert str(out_path) in out and "depth-lens" in out and "file" in out
    assert len(out.strip().splitlines()) == 1
    with Image.open(out_path) as im:
        assert im.format == "PNG" and im.size == (W, H) and im.mode == "RGB"
        result = np.asarray(im)
    # keep away from the near/far boundary, where the blur legitimately mixes both
    near, far = np.s_[:, 4 : W // 2 - 12], np.s_[:, W // 2 + 12 : -4]
    assert _detail(result[far]) < 0.5 * _detail(image[far])  # background blurred
    err_near = np.abs(result[near].astype(float) - image[near]).mean()
    assert err_near < 3.0  # the focused subject stays sharp
    with Image.open(tmp / "used.png") as im:
        used = np.asarray(im).astype(np.float64) / 65535.0
    assert used.shape == (H, W)
    assert used[near].min() > 0.9 and used[far].max() < 0.1


def test_depth_kind_flips_the_meaning_of_the_map(tmp_path, capsys):
    Image.fromarray(_texture()).save(tmp_path / "in.png")
    ramp = np.full((H, W), 255, np.uint8)
    ramp[:, W // 2 :] = 64  # as depth: left far, right near (zero depth would mean "invalid")
    Image.fromarray(ramp).save(tmp_path / "map.png")
    used = {}
    for kind in ("depth", "disparity"):
        code, _, err = _run(
            capsys, "render", tmp_path / "in.png", "-o", tmp_path / f"{kind}.png",
            "-m", "depth-lens", "--depth", tmp_path / "map.png", "--depth-kind", kind,
            "--save-depth", tmp_path / f"{kind}.npy",
        )  # fmt: skip
        assert code == 0, err
        used[kind] = np.load(tmp_path / f"{kind}.npy")
        assert used[kind].shape == (H, W) and used[kind].dtype == np.float32
    left, right = np.s_[:, : W // 2], np.s_[:, W // 2 :]
    assert used["depth"][left].mean() < used["depth"][right].mean()  # bright = far
    assert used["disparity"][left].mean() > used["disparity"][right].mean()  # bright = near


def test_render_classical_depth_source(scene, capsys):
    tmp, _ = scene
    out_path = tmp / "classical.png"
    code, out, err = _run(
        capsys, "render", tmp / "in.png", "-o", out_path, "--method", "depth-gauss",
        "--depth-source", "classical", "--focus", "48,32", "--threshold", "0.3",
    )  # fmt: skip
    assert code == 0, err
    assert "classical" in out
    with Image.open(out_path) as im:
        assert im.format == "PNG" and im.size == (W, H)


def test_identity_returns_the_input(scene, capsys):
    tmp, image = scene
    code, out, err = _run(capsys, "render", tmp / "in.png", "-o", tmp / "id.png", "-m", "identity")
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(Image.open(tmp / "id.png")), image)


def test_max_side_downscales_and_scales_focus(tmp_path, capsys):
    w, h = 200, 100
    image = _texture(w, h, seed=1)
    Image.fromarray(image).save(tmp_path / "big.png")
    disp = np.zeros((h, w), np.uint8)
    disp[:, : w // 2] = 255  # left near, right far
    Image.fromarray(disp).save(tmp_path / "disp.png")
    out_path = tmp_path / "small.png"
    # (180, 50) is in the far right half of the ORIGINAL image and outside the 100x50 result
    code, out, err = _run(
        capsys, "render", tmp_path / "big.png", "-o", out_path, "--method", "depth-lens",
        "--depth", tmp_path / "disp.png", "--max-side", "100", "--focus", "180,50",
    )  # fmt: skip
    assert code == 0, err
    assert "Downscaled" in err and "200x100" in err
    result = np.asarray(Image.open(out_path)).astype(np.float32)
    assert result.shape == (50, 100, 3)
    left, right = result[:, 3:38], result[:, 62:97]
    # focus landed in the right (far) half: it is sharp, the near left half is blurred
    assert _detail(right) > 2.0 * _detail(left)


def test_focus_outside_the_original_image(scene, capsys):
    tmp, _ = scene
    code, _, err = _run(
        capsys, "render", tmp / "in.png", "-o", tmp / "o.png", "--method", "depth-lens",
        "--focus", f"{W + 5},10",
    )  # fmt: skip
    assert code == 1
    _assert_one_error_line(err, "outside", f"{W}x{H}")
    assert not (tmp / "o.png").exists()


def test_unknown_method_suggests(scene, capsys):
    tmp, _ = scene
    code, _, err = _run(capsys, "render", tmp / "in.png", "-o", tmp / "o.png", "-m", "depth-lense")
    assert code != 0
    _assert_one_error_line(err, "did you mean", "depth-lens")


def test_flag_the_method_does_not_take(scene, capsys):
    tmp, _ = scene
    code, _, err = _run(
        capsys, "render", tmp / "in.png", "-o", tmp / "o.png", "-m", "depth-lens",
        "--threshold", "0.3",
    )  # fmt: skip
    assert code != 0
    _assert_one_error_line(err, "--threshold", "depth-lens")
    code, _, err = _run(
        capsys, "render", tmp / "in.png", "-o", tmp / "o.png", "-m", "identity", "--fnumber", "2"
    )
    assert code != 0
    _assert_one_error_line(err, "--fnumber")


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--fnumber", "0"], "--fnumber"),  # below the Param's minimum
        (["--fnumber", "fast"], "--fnumber"),  # not a number
        (["--blades", "2.5"], "--blades"),  # not a whole number
        (["--focus", "10"], "--focus"),  # malformed (argparse)
        (["--depth-source", "lidar"], "--depth-source"),  # not a choice (argparse)
        (["--depth-source", "file"], "--depth"),  # needs a map
        (["--depth", "missing.png"], "missing.png"),  # no such file
        (["--save-depth", "d.jpg"], "--save-depth"),
    ],
)
def test_bad_arguments_are_one_line(scene, capsys, extra, needle):
    tmp, _ = scene
    argv = ["render", tmp / "in.png", "-o", tmp / "o.png", "-m", "depth-lens", *extra]
    code, _, err = _run(capsys, *argv)
    assert code in (1, 2)
    _assert_one_error_line(err, needle)
    assert not (tmp / "o.png").exists()


def test_output_must_be_png(scene, capsys):
    tmp, _ = scene
    code, _, err = _run(capsys, "render", tmp / "in.png", "-o", tmp / "o.jpg", "-m", "identity")
    assert code == 1
    _assert_one_error_line(err, ".png")
    assert not (tmp / "o.jpg").exists()


def test_missing_input_and_verbose_traceback(tmp_path, capsys):
    argv = ["render", tmp_path / "nope.png", "-o", tmp_path / "o.png", "-m", "identity"]
    code, _, err = _run(capsys, *argv)
    assert code == 1
    _assert_one_error_line(err, "nope.png")
    code, _, err = _run(capsys, "--verbose", *argv)
    assert code == 1 and "Traceback" in err and err.rstrip().splitlines()[-1].startswith("error: ")


def test_no_command_and_missing_required(capsys):
    code, _, err = _run(capsys)
    assert code == 2
    _assert_one_error_line(err, "command")
    code, _, err = _run(capsys, "render", "x.png")
    assert code == 2
    _assert_one_error_line(err, "required")


# --------------------------------------------------------------------------- stored depth


def _portrait(path: Path, *, near: str = "left", seed: int = 0) -> Path:
    """A GDepth portrait JPEG of a texture whose stored map is near on one half (``near``)
    and far on the other."""
    codes = np.zeros((H, W), np.uint8)  # RangeInverse: 0 = near, 255 = far
    codes[:, W // 2 :] = 255
    if near == "right":
        codes = 255 - codes
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pp.gdepth_jpeg(_texture(seed=seed), codes))
    return path


LEFT, RIGHT = np.s_[:, 4 : W // 2 - 12], np.s_[:, W // 2 + 12 : -4]


def _sharp_side(photo: Path, rendered: Path) -> str:
    """Which half of ``rendered`` kept the detail of ``photo`` ("left" or "right")."""
    src = np.asarray(Image.open(photo).convert("RGB"))
    out = np.asarray(Image.open(rendered).convert("RGB"))
    keep = {side: _detail(out[sl]) / _detail(src[sl]) for side, sl in
            (("left", LEFT), ("right", RIGHT))}  # fmt: skip
    sharp = max(keep, key=keep.get)
    assert keep[sharp] > 0.8 and min(keep.values()) < 0.5, keep
    return sharp


def test_render_uses_the_depth_map_stored_in_the_photo(tmp_path, capsys):
    photo = _portrait(tmp_path / "portrait.jpg")
    code, out, err = _run(
        capsys, "render", photo, "-o", tmp_path / "o.png", "-m", "depth-lens", "--focus", "10,32",
        "--fnumber", "1.4", "--save-depth", tmp_path / "used.npy",
    )  # fmt: skip
    assert code == 0, err
    assert "depth embedded: depth map stored in the photo (GDepth, RangeInverse" in out
    assert "carries its own depth map" in err
    used = np.load(tmp_path / "used.npy")
    assert used[LEFT].min() > 0.9 and used[RIGHT].max() < 0.1
    assert _sharp_side(photo, tmp_path / "o.png") == "left"


# --------------------------------------------------------------------------- batches


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


def test_batch_renders_a_folder_and_goes_past_a_bad_file(tmp_path, capsys):
    photos = tmp_path / "photos"
    _portrait(photos / "a.jpg")
    _portrait(photos / "b.jpg", seed=1)
    Image.fromarray(_texture(seed=2)).save(photos / "c.png")  # no stored map
    (photos / "bad.png").write_text("not a photo")
    (photos / "notes.txt").write_text("not an image name: skipped")
    code, out, err = _run(capsys, "render", photos, "-o", tmp_path / "out", "-m", "depth-gauss")
    assert code == 1  # one photo failed
    errors = _errors(err)
    assert len(errors) == 1 and "bad.png" in errors[0] and "Could not read" in errors[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png"]
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("rendered 3 of 4 photos with depth-gauss")
    assert "failed 1" in summary and "depth: classical 1, embedded 2" in summary


def test_batch_glob_with_focus_from_a_csv(tmp_path, capsys):
    a = _portrait(tmp_path / "photos" / "a.jpg")
    b = _portrait(tmp_path / "photos" / "b.jpg", seed=1)
    csv = tmp_path / "focus.csv"
    csv.write_text(f"file,x,y\na.jpg,10,32\n{b},{W - 10},32\nmissing.jpg,1,1\n")
    code, out, err = _run(
        capsys, "render", str(tmp_path / "photos" / "*.jpg"), "-o", tmp_path / "out",
        "-m", "depth-lens", "--fnumber", "1.4", "--focus-csv", csv,
    )  # fmt: skip
    assert code == 0, err
    assert "missing.jpg" in err and not _errors(err)  # a row for no input is a note
    assert _sharp_side(a, tmp_path / "out" / "a.png") == "left"
    assert _sharp_side(b, tmp_path / "out" / "b.png") == "right"


def test_batch_loads_the_method_once_and_shows_progress(tmp_path, capsys, monkeypatch):
    for i in range(3):
        Image.fromarray(_texture(seed=i)).save(tmp_path / f"{i}.png")
    loads = []
    real = cli.load_method
    monkeypatch.setattr(cli, "load_method", lambda name: loads.append(name) or real(name))
    inputs = [tmp_path / f"{i}.png" for i in range(3)]
    code, out, err = _run(capsys, "render", *inputs, "-o", tmp_path / "out", "-m", "identity")
    assert code == 0, err
    assert loads == ["identity"]
    assert "100%" in err and "3/3" in err  # the progress bar
    assert out.strip().startswith("rendered 3 of 3 photos with identity")
    code, _, err = _run(capsys, "render", *inputs, "-o", tmp_path / "q", "-m", "identity", "-q")
    assert code == 0 and err == ""


def test_batch_output_names_keep_apart(tmp_path, capsys):
    Image.fromarray(_texture()).save(tmp_path / "a.png")
    Image.fromarray(_texture(seed=1)).save(tmp_path / "a.jpg")
    code, _, err = _run(capsys, "render", tmp_path / "a.png", tmp_path / "a.jpg",
                        "-o", tmp_path / "out", "-m", "identity", "-q")  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_jpg.png", "a_png.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "a_png.png")),
                                  _texture())  # fmt: skip


@pytest.mark.parametrize(("extra", "csv_text", "needle"), [
    (["-o", "out.png"], None, "names a folder"),
    (["--depth", "disp.png"], None, "single INPUT"),
    (["--save-depth", "d.png"], None, "--save-depth names a folder"),
    ([], "name,x,y\na.png,1,2\n", "header file,x,y"),
    ([], "file,x,y\na.png,left,2\n", "line 2"),
    ([], "file,x,y\na.png,1,2\na.png,3,4\n", "listed twice"),
])  # fmt: skip
def test_bad_batches_are_one_line(tmp_path, capsys, extra, csv_text, needle):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(_texture()).save(folder / "a.png")
    Image.fromarray(np.zeros((H, W), np.uint8)).save(tmp_path / "disp.png")
    argv = ["render", folder, "-m", "depth-lens"]
    if "-o" not in extra:
        argv += ["-o", tmp_path / "out"]
    if csv_text is not None:
        (tmp_path / "f.csv").write_text(csv_text)
        argv += ["--focus-csv", tmp_path / "f.csv"]
    extra = [str(tmp_path / e) if e.endswith(".png") else e for e in extra]
    code, _, err = _run(capsys, *argv, *extra)
    assert code == 1
    _assert_one_error_line(err, needle)
    assert not (tmp_path / "out").exists()


def test_batches_with_nothing_to_render(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, "render", tmp_path / "empty", "-o", tmp_path / "o",
                        "-m", "identity")  # fmt: skip
    assert code == 1
    _assert_one_error_line(err, "holds no images")
    code, _, err = _run(capsys, "render", str(tmp_path / "*.png"), "-o", tmp_path / "o",
                        "-m", "identity")  # fmt: skip
    assert code == 1
    _assert_one_error_line(err, "no file matches")


# --------------------------------------------------------------------------- synth


def test_synth_writes_ebb_layout(tmp_path, capsys):
    out_dir = tmp_path / "set"
    argv = ["synth", "--out", out_dir, "--count", "2", "--size", "64x48", "--seed", "5", "-q"]
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    for sub in ("Training/original", "Training/bokeh", "depth"):
        names = sorted(p.name for p in (out_dir / sub).iterdir())
        assert names == ["0.png", "1.png"], sub
    with Image.open(out_dir / "Training/original/0.png") as im:
        assert im.size == (64, 48)
    assert (out_dir / "metadata.json").is_file()
    assert "2 scenes" in out
    # a second run into the same (now non-empty) folder is refused in one line
    code, _, err = _run(capsys, *argv)
    assert code == 1
    _assert_one_error_line(err, "not empty")


def test_synth_bad_size(tmp_path, capsys):
    code, _, err = _run(capsys, "synth", "--out", tmp_path / "s", "--count", "1", "--size", "64")
    assert code == 1
    _assert_one_error_line(err, "size")

"""Depth Anything as a depth source (bokeh.depth.anything, its resolution in bokeh.weights and
the ``auto`` order in bokeh.depth), with a tiny randomly initialised model built here: the real
transformers code path (save_pretrained -> from_pretrained), no download, no network."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from bokeh import config
from bokeh.depth import (
    DEPTH_SOURCES,
    SOURCE_LABELS,
    anything_available,
    describe_anything,
    resolve_source,
)
from bokeh.depth import anything as da
from bokeh.depth.estimate import estimate_depth
from bokeh.errors import BokehError, UnsafeCheckpointError, WeightsNotFoundError
from bokeh.weights import checkpoint as wckpt
from bokeh.weights import hub as whub
from bokeh.weights import resolve as wres

REPO = config.DEFAULT_DEPTH_ANYTHING_REPO
COMMIT = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


def _build_tiny(folder: Path, *, seed: int = 0, metric: bool = False) -> Path:
    """A ~140k-parameter Depth Anything (4-layer Dinov2 backbone, width 32) and a DPT image
    processor with a 56 px side, written with save_pretrained like the published model."""
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    backbone = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        patch_size=14,
        image_size=56,
        out_indices=[1, 2, 3, 4],
        reshape_hidden_states=False,
        initializer_range=0.1,
    )
    cfg = DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=14,
        reassemble_hidden_size=32,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        initializer_range=0.1,
        depth_estimation_type="metric" if metric else "relative",
        max_depth=10,
    )
    torch.manual_seed(seed)
    model = DepthAnythingForDepthEstimation(cfg).eval()
    with torch.no_grad():  # keep the last ReLU open, so that the random output varies
        model.head.conv3.bias.fill_(0.1)
    model.save_pretrained(folder)
    DPTImageProcessor(
        size={"height": 56, "width": 56},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        do_pad=False,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return _build_tiny(tmp_path_factory.mktemp("da") / "tiny")


@pytest.fixture(scope="module")
def tiny_other(tmp_path_factory) -> Path:
    return _build_tiny(tmp_path_factory.mktemp("da") / "other", seed=1)


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    """Offline, an empty HF cache, the default repo, no DenseDepth weights, empty caches."""
    import huggingface_hub.constants as hf_constants

    from bokeh.pipelines import depth_blur

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    for name in (
        "BOKEH_DEPTH_ANYTHING_REPO",
        "BOKEH_DEPTH_ANYTHING_REVISION",
        "BOKEH_DEPTH_ANYTHING_DIR",
        "BOKEH_WEIGHTS_DIR",
        "BOKEH_HUB_REPO",
    ):
        monkeypatch.delenv(name, raising=False)
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    monkeypatch.setattr(config, "BUNDLED_WEIGHTS_DIR", bundled)

    def clear():
        da.clear_model_cache()
        whub.forget_reachability()
        from bokeh.depth import model as depth_model

        depth_model.clear_model_cache()
        with depth_blur.DEPTH_CACHE._lock:
            depth_blur.DEPTH_CACHE._items.clear()

    clear()
    yield cache
    clear()


def _hub_cache(cache: Path, folder: Path, *, repo: str = REPO, commit: str = COMMIT) -> Path:
    """Lay ``folder`` out as huggingface_hub does: blobs named by hash, snapshots/<commit>/
    holding relative symlinks to them, refs/main naming the commit."""
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    blobs, snapshot = repo_dir / "blobs", repo_dir / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True)
    for file in sorted(folder.iterdir()):
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, blobs / digest)
        (snapshot / file.name).symlink_to(Path("..") / ".." / "blobs" / digest)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return snapshot


def _status() -> tuple:
    """(source, cached, downloadable) of the configured Depth Anything model."""
    s = wres.depth_anything_status()
    return s.source, s.cached, s.downloadable


def _image(h: int = 60, w: int = 90, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([xx, yy, 0.5 * (xx + yy)], axis=-1)
    return (0.7 * base + 0.3 * rng.random((h, w, 3))).astype(np.float32)


def _check_disparity(disparity: np.ndarray, shape: tuple[int, int]) -> None:
    assert disparity.shape == shape and disparity.dtype == np.float32
    assert np.isfinite(disparity).all()
    assert disparity.min() == 0.0 and disparity.max() == 1.0  # robustly normalised
    assert np.unique(disparity).size > 10  # an actual map, not a constant or two planes


# ----------------------------------------------------------------------------- sources


def test_anything_is_a_listed_source_with_a_label():
    from bokeh.methods.depth_blur import GAUSS_PARAMS, LENS_PARAMS

    assert DEPTH_SOURCES[0] == "auto" and "anything" in DEPTH_SOURCES
    assert set(SOURCE_LABELS) == set(DEPTH_SOURCES)
    for params in (LENS_PARAMS, GAUSS_PARAMS):
        param = next(p for p in params if p.name == "depth_source")
        assert param.choices == DEPTH_SOURCES and param.default == "auto"
        assert "Depth Anything" in param.help


def test_importing_bokeh_does_not_import_transformers():
    code = (
        "import sys, bokeh, bokeh.depth, bokeh.depth.anything, bokeh.weights, "
        "bokeh.pipelines.depth_blur; print('transformers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- local folder


def test_local_folder_end_to_end(tiny, monkeypatch):
    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_DIR", str(tiny))
    assert _status() == ("local-dir", True, False)
    assert describe_anything().startswith(f"local folder {tiny}")
    assert anything_available() and resolve_source("auto") == "anything"
    image = _image()
    estimate = estimate_depth(image)  # auto
    _check_disparity(estimate.disparity, (60, 90))
    assert estimate.source == "anything"
    assert estimate.description == f"Depth Anything (local folder {tiny.resolve()})"
    explicit = estimate_depth(image, source="anything")
    np.testing.assert_array_equal(explicit.disparity, estimate.disparity)  # deterministic
    # An uploaded map still wins under auto; the other sources stay selectable.
    assert estimate_depth(image, depth_file=np.ones((6, 9)) + np.eye(6, 9)).source == "file"
    assert estimate_depth(image, source="classical").source == "classical"


def test_local_folder_through_the_depth_lens_pipeline(tiny, monkeypatch):
    from bokeh.registry import load_method

    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_DIR", str(tiny))
    image = _image(64, 96, seed=2)
    pipe = load_method("depth-lens")
    for source in ("auto", "anything"):
        result = pipe(image, focus=(48.0, 32.0), depth_source=source, fnumber=1.4)
        assert result.info["depth_source"] == "anything"
        assert result.info["depth_description"].startswith("Depth Anything (local folder")
        _check_disparity(result.disparity, (64, 96))
        assert result.image.shape == image.shape and np.isfinite(result.image).all()
        assert result.image.min() >= 0.0 and result.image.max() <= 1.0
        assert not np.allclose(result.image, image, atol=1e-3)  # something was blurred
    from bokeh.service import Photo, render

    photo = Photo((image * 255).round().astype(np.uint8), ())
    rendered = render(
        photo, method="depth-lens", focus=(48.0, 32.0), settings={"depth_source": "anything"}
    )
    assert "Depth: Depth Anything (local folder" in rendered.summary


def test_matches_a_direct_transformers_forward(tiny, monkeypatch):
    """The estimator is the model's own forward pass: same numbers as calling transformers
    directly on the same resized, normalised input."""
    import torch.nn.functional as F
    from transformers import AutoModelForDepthEstimation

    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_DIR", str(tiny))
    image = _image(50, 80, seed=3)
    ours = da.DepthAnythingEstimator(device="cpu")(image)
    model = AutoModelForDepthEstimation.from_pretrained(tiny).eval()
    size = da.working_size(50, 80, side=56)
    assert size == (56, 84)  # short side to the processor's 56, multiples of 14
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    x = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        raw = model(pixel_values=(x.clamp(0, 1) - mean) / std).predicted_depth[:, None]
    raw = F.interpolate(raw, size=(50, 80), mode="bilinear", align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(ours, da.normalise_relative(raw), atol=1e-4)
    # Larger model output = nearer: the pixel with the largest output is at 1.
    assert ours.flat[np.argmax(raw)] == 1.0 and ours.flat[np.argmin(raw)] == 0.0


def test_metric_depth_output_is_inverted(tmp_path, monkeypatch):
    relative = _build_tiny(tmp_path / "relative", seed=4)
    metric = _build_tiny(tmp_path / "metric", seed=4, metric=True)  # same weights, metres out
    image = _image(42, 56, seed=4)
    maps = {}
    for name, folder in (("relative", relative), ("metric", metric)):
        monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_DIR", str(folder))
        maps[name] = da.DepthAnythingEstimator(device="cpu")(image)
    # Both are monotone in the head's last activation, in opposite directions.
    rank = lambda a: np.argsort(np.argsort(a.ravel()))  # noqa: E731
    corr = np.corrcoef(rank(maps["relative"]), rank(maps["metric"]))[0, 1]
    assert corr < -0.9


# ----------------------------------------------------------------------------- HF cache


def test_hub_snapshot_in_the_local_cache_is_used_by_auto(tiny, env):
    assert _status() == ("hub", False, False)
    assert describe_anything().startswith("not available")
    snapshot_dir = _hub_cache(env, tiny)
    assert _status() == ("hub", True, False)
    assert describe_anything() == f"Hugging Face Hub {REPO}@main (in the local cache)"
    assert resolve_source("auto") == "anything"
    snapshot = wres.resolve_depth_anything()
    assert snapshot.source == "hub" and snapshot.folder == snapshot_dir
    assert snapshot.commit == COMMIT and snapshot.repo == REPO
    estimate = estimate_depth(_image(), source="auto")
    assert estimate.source == "anything"
    assert estimate.description == (
        f"Depth Anything V2 Small (Hub: {REPO}@main, commit {COMMIT[:7]})"
    )
    _check_disparity(estimate.disparity, (60, 90))


def test_revision_and_repo_come_from_the_environment(tiny, env, monkeypatch):
    _hub_cache(env, tiny)
    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_REVISION", "v2")  # not in the cache
    assert _status() == ("hub", False, False)
    assert resolve_source("auto") == "classical"
    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_REVISION", COMMIT)  # a commit hash works too
    assert _status() == ("hub", True, False)
    monkeypatch.delenv("BOKEH_DEPTH_ANYTHING_REVISION")
    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_REPO", "none")  # turned off
    assert _status() == (None, False, False)
    assert "turned off" in describe_anything()
    assert resolve_source("auto") == "classical"


def test_offline_empty_cache_falls_back_and_explicit_choice_explains(env):
    image = _image(seed=5)
    assert not anything_available()
    estimate = estimate_depth(image, focus=(45, 30))
    assert estimate.source == "classical"  # as before Depth Anything existed
    with pytest.raises(WeightsNotFoundError) as info:
        estimate_depth(image, source="anything")
    message = str(info.value)
    assert message.startswith("Depth Anything is not available")
    for hint in (REPO, "Hugging Face cache", "BOKEH_DEPTH_ANYTHING_DIR", "HF_HUB_OFFLINE"):
        assert hint in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence

    from bokeh.registry import load_method

    result = load_method("depth-gauss")(image, focus=(45, 30))
    assert result.info["depth_source"] == "classical"
    with pytest.raises(WeightsNotFoundError, match="Depth Anything is not available"):
        load_method("depth-gauss")(image, focus=(45, 30), depth_source="anything")


def test_offline_empty_cache_still_prefers_real_densedepth_weights(tmp_path, monkeypatch):
    from bokeh.models.densedepth import MODEL_NAME, DenseDepthConfig, build_densedepth

    cfg = DenseDepthConfig(
        decoder_width=2.0, growth_rate=4, block_config=(1, 1, 1, 1), num_init_features=8
    )
    torch.manual_seed(0)
    wckpt.save_checkpoint(
        build_densedepth(cfg), tmp_path / "w" / "densedepth", model_name=MODEL_NAME, config=cfg
    )
    monkeypatch.setenv("BOKEH_WEIGHTS_DIR", str(tmp_path / "w"))
    assert resolve_source("auto") == "model"
    assert estimate_depth(_image(64, 64)).source == "model"


# ----------------------------------------------------------------------------- online (faked)


def test_online_hub_is_asked_once_and_unreachable_means_fallback(env, monkeypatch):
    import huggingface_hub
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    calls = []

    def unreachable(url, **kwargs):
        calls.append(url)
        raise OSError("no route to host")

    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", unreachable)
    assert _status() == ("hub", False, True)
    assert "downloaded on first use" in describe_anything()
    for _ in range(3):
        assert resolve_source("auto") == "classical"
    assert len(calls) == 1 and REPO in calls[0]  # decided once per process


def test_online_download_happens_once_and_failure_falls_back(tiny, env, monkeypatch, caplog):
    import huggingface_hub
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", lambda url, **kw: object())
    downloads = []

    def fake_download(repo_id, *, revision=None, allow_patterns=None, **kwargs):
        downloads.append((repo_id, revision, tuple(allow_patterns or ())))
        return str(_hub_cache(env, tiny, repo=repo_id))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    assert resolve_source("auto") == "anything"
    with caplog.at_level("INFO", logger="bokeh.weights"):
        first = estimate_depth(_image(seed=6))
        second = estimate_depth(_image(seed=7))
    assert first.source == second.source == "anything"
    assert len(downloads) == 1 and downloads[0][:2] == (REPO, "main")
    assert "model.safetensors" in downloads[0][2] and "pytorch_model.bin" not in downloads[0][2]
    assert "Downloading" in caplog.text  # the download is logged

    # A download that fails: auto moves on (and stops asking), an explicit choice explains.
    da.clear_model_cache()
    whub.forget_reachability()
    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_REPO", "someone/missing")

    def failing(repo_id, **kwargs):
        downloads.append(repo_id)
        raise OSError("connection reset")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", failing)
    from bokeh.registry import load_method

    assert resolve_source("auto") == "anything"  # the Hub answered the probe
    result = load_method("depth-lens")(_image(seed=8), focus=(40, 30))
    assert result.info["depth_source"] == "classical"
    assert resolve_source("auto") == "classical"  # not tried again in this process
    with pytest.raises(WeightsNotFoundError, match="connection reset"):
        estimate_depth(_image(seed=8), source="anything")


def test_a_download_that_failed_at_start_is_not_offered_or_retried(env, monkeypatch):
    """Issue #14: after the start-up download failed, the page must not keep offering Depth
    Anything as "downloaded on first use", and picking it says why in one short sentence
    (without waiting for the network again)."""
    import huggingface_hub
    import huggingface_hub.constants as hf_constants

    from bokeh.depth import source_states

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", lambda url, **kw: object())
    calls = []

    def failing(repo_id, **kwargs):
        calls.append(repo_id)
        raise OSError("connection reset by peer; " + "a very long transport detail " * 30)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", failing)
    assert _status() == ("hub", False, True)
    assert source_states()["anything"].available  # offered before anything failed
    where = wres.prefetch([])["depth-anything"]  # what the app does at start
    assert where.startswith("not fetched") and len(calls) == 1
    assert _status() == ("hub", False, False)
    state = source_states()["anything"]
    assert not state.available and state.label.endswith("(not available here)")
    assert "download failed" in state.text and "hf download" in state.text
    assert "first use" not in describe_anything()
    assert resolve_source("auto") == "classical"
    with pytest.raises(WeightsNotFoundError) as info:
        estimate_depth(_image(seed=9), source="anything")
    message = str(info.value)
    assert len(calls) == 1  # not tried again
    assert message.count(". ") == 0 and len(message) <= 300 and "connection reset" in message


# ----------------------------------------------------------------------------- refusals


def test_folder_with_only_pickle_weights_is_refused(tiny, tmp_path, monkeypatch):
    folder = tmp_path / "pickled"
    folder.mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy(tiny / name, folder / name)
    torch.save({"w": torch.zeros(1)}, folder / "pytorch_model.bin")
    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_DIR", str(folder))
    assert _status() == ("local-dir", False, False)
    assert describe_anything().startswith("not usable") and "pickle" in describe_anything()
    assert resolve_source("auto") == "classical"  # a broken folder is skipped by auto ...
    with pytest.raises(UnsafeCheckpointError, match="pickle"):  # ... and refused when chosen
        estimate_depth(_image(), source="anything")
    with pytest.raises(UnsafeCheckpointError):
        whub.check_snapshot_folder(folder)


def test_incomplete_or_wrong_folders_are_refused(tiny, tmp_path, monkeypatch):
    folder = tmp_path / "noproc"
    shutil.copytree(tiny, folder)
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(WeightsNotFoundError, match="preprocessor_config.json"):
        whub.check_snapshot_folder(folder)
    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        estimate_depth(_image(), source="anything")
    # A pickle disguised as model.safetensors.
    fake = tmp_path / "fake"
    shutil.copytree(tiny, fake)
    torch.save({"w": torch.zeros(1)}, fake / "model.safetensors")
    with pytest.raises(UnsafeCheckpointError):
        whub.check_snapshot_folder(fake)
    # Another architecture is not Depth Anything.
    other = tmp_path / "other"
    shutil.copytree(tiny, other)
    text = (other / "config.json").read_text().replace('"depth_anything"', '"dpt"')
    (other / "config.json").write_text(text)
    with pytest.raises(BokehError, match="not a Depth Anything"):
        wckpt.load_depth_anything(whub.resolve_snapshot(None, local_dir=other))


# ----------------------------------------------------------------------------- cache


def test_model_is_cached_per_folder_and_reloaded_when_the_source_changes(
    tiny, tiny_other, monkeypatch
):
    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_DIR", str(tiny))
    first = da.DepthAnythingEstimator(device="cpu").load()[0]
    models = []
    threads = [
        threading.Thread(
            target=lambda: models.append(da.DepthAnythingEstimator(device="cpu").load()[0])
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(models) == 4 and all(m is first for m in models)
    assert not first.training and not any(p.requires_grad for p in first.parameters())

    image = _image(seed=9)
    a = estimate_depth(image, source="anything")
    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_DIR", str(tiny_other))
    second = da.DepthAnythingEstimator(device="cpu").load()[0]
    assert second is not first
    b = estimate_depth(image, source="anything")
    assert str(tiny_other.resolve()) in b.description and not np.array_equal(
        a.disparity, b.disparity
    )
    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_DIR", str(tiny))
    assert da.DepthAnythingEstimator(device="cpu").load()[0] is first


# ----------------------------------------------------------------------------- helpers


def test_working_size():
    assert da.working_size(518, 518) == (518, 518)
    assert da.working_size(1365, 2048) == (518, 784)  # short side to 518, multiples of 14
    h, w = da.working_size(30, 40)  # small images go up to the model's resolution
    assert h == 518 and w % 14 == 0 and abs(w / h - 4 / 3) < 0.03
    h, w = da.working_size(100, 1000)  # a panorama: long side capped at 2 x 518
    assert w <= 1036 and h % 14 == 0 and w % 14 == 0 and h >= 14
    assert da.working_size(1, 1000, side=56) == (14, 112)
    with pytest.raises(ValueError, match="side"):
        da.working_size(10, 10, side=7)


def test_normalise_relative_is_robust_to_a_speckle():
    raw = np.tile(np.linspace(1.0, 2.0, 200, dtype=np.float32), (50, 1))
    raw[10, 10] = 1e6  # one hot pixel does not squash the rest of the range
    out = da.normalise_relative(raw)
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
    assert out[20, 100] == pytest.approx(0.5, abs=0.02)
    assert np.all(da.normalise_relative(np.full((4, 4), 3.0)) == 0.0)
    with pytest.raises(ValueError, match="NaN"):
        da.normalise_relative(np.array([[1.0, np.nan]]))


def test_bad_images_are_refused(tiny, monkeypatch):
    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_DIR", str(tiny))
    estimator = da.DepthAnythingEstimator(device="cpu")
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        estimator(np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        estimator(np.full((10, 10, 3), 3.0, np.float32))


def test_evaluation_provenance_names_the_depth_anything_weights(tiny, monkeypatch):
    """A run that used Depth Anything records which model file it was (sha256), not DenseDepth."""
    from bokeh.weights.files import file_sha256
    from eval.provenance import weights_info

    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_DIR", str(tiny))
    for source in ("auto", "anything"):
        info = weights_info("depth-lens", False, {"depth_source": source})
        entry = info["networks"]["depth-anything"]
        assert entry["sha256"] == file_sha256(tiny / "model.safetensors")
        assert info["summary"].startswith("depth-anything: local-dir sha256 ")
    assert weights_info("depth-lens", False, {"depth_source": "classical"})["summary"] == (
        "classical depth (no weights)"
    )

"""bokeh.weights: resolution order, safetensors-only loading, config beside weights, Hub cache."""

from __future__ import annotations

import json
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from bokeh import config
from bokeh.errors import BokehError, UnsafeCheckpointError, WeightsNotFoundError
from bokeh.weights import checkpoint as wckpt
from bokeh.weights import files as wfiles
from bokeh.weights import resolve as wres


@dataclass
class TinyConfig:
    hidden: int = 4


class Tiny(nn.Module):
    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        self.a = nn.Linear(3, cfg.hidden)
        self.b = nn.Linear(cfg.hidden, 2)
        self.register_buffer("scale", torch.tensor([2.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.a(x))) * self.scale


def build_tiny(cfg: dict) -> Tiny:
    return Tiny(TinyConfig(**cfg))


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No weights anywhere unless a test puts them there."""
    monkeypatch.delenv("BOKEH_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("BOKEH_HUB_REPO", raising=False)
    monkeypatch.delenv("BOKEH_HUB_REVISION", raising=False)
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    monkeypatch.setattr(config, "BUNDLED_WEIGHTS_DIR", bundled)
    return bundled


def _save(folder: Path, hidden: int, name: str = "tiny", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return wckpt.save_checkpoint(
        Tiny(TinyConfig(hidden)), folder / name, model_name="tiny", config=TinyConfig(hidden)
    )


# ----------------------------------------------------------------------------- save / load


def test_round_trip_gives_identical_outputs(tmp_path, clean_env):
    torch.manual_seed(1)
    model = Tiny(TinyConfig(hidden=5))
    with torch.no_grad():
        model.scale.fill_(3.0)  # a buffer must survive too
    path = wckpt.save_checkpoint(
        model, tmp_path / "ckpt" / "tiny", model_name="tiny", config=TinyConfig(5),
        provenance={"steps": 7},
    )  # fmt: skip
    assert path == tmp_path / "ckpt" / "tiny.safetensors"
    meta = json.loads((tmp_path / "ckpt" / "tiny.json").read_text())
    assert meta["model"] == "tiny" and meta["config"] == {"hidden": 5}
    assert meta["format_version"] == 1 and meta["provenance"]["steps"] == 7
    assert not list((tmp_path / "ckpt").glob("*.tmp"))  # atomic writes leave no temp files

    loaded, resolved = wckpt.load_model("tiny", build_tiny, explicit=path)
    assert resolved.source == "explicit" and resolved.config == {"hidden": 5}
    assert str(path) in resolved.description
    assert not loaded.training
    assert all(not p.requires_grad for p in loaded.parameters())
    x = torch.randn(6, 3)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_stem_may_carry_suffix(tmp_path):
    path = wckpt.save_checkpoint(
        Tiny(TinyConfig()), tmp_path / "m.safetensors", model_name="tiny", config={"hidden": 4}
    )
    assert path.name == "m.safetensors" and (tmp_path / "m.json").is_file()


def test_shared_tensors_are_saved(tmp_path, clean_env):
    class Tied(nn.Module):
        def __init__(self, cfg: dict) -> None:
            super().__init__()
            self.enc = nn.Linear(4, 4, bias=False)
            self.dec = nn.Linear(4, 4, bias=False)
            self.dec.weight = self.enc.weight  # tied weights share storage

    model = Tied({})
    path = wckpt.save_checkpoint(model, tmp_path / "tied", model_name="tied", config={})
    loaded, _ = wckpt.load_model("tied", Tied, explicit=path)
    assert torch.equal(loaded.dec.weight, model.enc.weight)


def test_sha256_matches_file(tmp_path, clean_env):
    import hashlib

    path = _save(tmp_path, 4)
    resolved = wres.resolve("tiny", explicit=path)
    assert resolved.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_shape_mismatch_names_the_key(tmp_path, clean_env):
    path = _save(tmp_path, 4)
    meta_path = tmp_path / "tiny.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["hidden"] = 6  # config no longer matches the tensors
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BokehError, match=r"shape mismatch.*a\.weight"):
        wckpt.load_model("tiny", build_tiny, explicit=path)


def test_missing_and_unexpected_keys_are_named(tmp_path, clean_env):
    path = _save(tmp_path, 4)

    class Other(nn.Module):
        def __init__(self, cfg: dict) -> None:
            super().__init__()
            self.a = nn.Linear(3, 4)
            self.c = nn.Linear(4, 2)

    with pytest.raises(BokehError, match=r"missing keys c\.weight.*unexpected keys .*b\.weight"):
        wckpt.load_model("tiny", Other, explicit=path)


def test_expect_model_checks_architecture(tmp_path, clean_env):
    path = _save(tmp_path, 4)
    with pytest.raises(BokehError, match="'tiny' model, not 'unet'"):
        wckpt.load_model("tiny", build_tiny, explicit=path, expect_model="unet")


def test_config_must_be_serialisable(tmp_path):
    with pytest.raises(ValueError, match="JSON-serialisable"):
        wckpt.save_checkpoint(
            Tiny(TinyConfig()), tmp_path / "x", model_name="tiny", config={"f": object()}
        )


# ----------------------------------------------------------------------------- safety


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt", ".bin", ".pkl"])
def test_pickle_suffix_is_refused(tmp_path, clean_env, suffix):
    path = tmp_path / f"tiny{suffix}"
    torch.save(Tiny(TinyConfig()).state_dict(), path)  # a real pickle checkpoint (test only)
    with pytest.raises(UnsafeCheckpointError, match="pickle"):
        wckpt.load_model("tiny", build_tiny, explicit=path)


def test_pickle_disguised_as_safetensors_is_refused(tmp_path, clean_env):
    zipped = tmp_path / "tiny.safetensors"
    torch.save(Tiny(TinyConfig()).state_dict(), zipped)  # torch zip format
    (tmp_path / "tiny.json").write_text(json.dumps({"model": "tiny", "config": {}}))
    with pytest.raises(UnsafeCheckpointError, match="pickle"):
        wres.resolve("tiny", explicit=zipped)

    raw = tmp_path / "raw" / "tiny.safetensors"
    raw.parent.mkdir()
    raw.write_bytes(pickle.dumps({"a": 1}, protocol=4))  # plain pickle
    (raw.parent / "tiny.json").write_text(json.dumps({"model": "tiny", "config": {}}))
    with pytest.raises(UnsafeCheckpointError):
        wres.resolve("tiny", explicit=raw.parent)  # folder form too


def test_garbage_file_is_not_safetensors(tmp_path, clean_env):
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(b"hello, this is not a checkpoint")
    (tmp_path / "tiny.json").write_text(json.dumps({"model": "tiny", "config": {}}))
    with pytest.raises(BokehError, match="not a valid .safetensors"):
        wres.resolve("tiny", explicit=path)


def test_never_calls_torch_load(tmp_path, clean_env, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("torch.load must not be called")

    path = _save(tmp_path, 4)
    monkeypatch.setattr(torch, "load", boom)
    wckpt.load_model("tiny", build_tiny, explicit=path)


def test_missing_config_is_a_clear_error(tmp_path, clean_env):
    path = _save(tmp_path, 4)
    (tmp_path / "tiny.json").unlink()
    with pytest.raises(BokehError, match=r"no config file tiny\.json"):
        wres.resolve("tiny", explicit=path)


def test_bad_config_is_a_clear_error(tmp_path, clean_env):
    path = _save(tmp_path, 4)
    (tmp_path / "tiny.json").write_text('{"config": {}}')
    with pytest.raises(BokehError, match="string 'model'"):
        wres.resolve("tiny", explicit=path)
    (tmp_path / "tiny.json").write_text('{"model": "tiny", "config": {}, "format_version": 99}')
    with pytest.raises(BokehError, match="format_version"):
        wres.resolve("tiny", explicit=path)


# ----------------------------------------------------------------------------- resolution


def test_nothing_found_lists_what_was_tried(clean_env):
    with pytest.raises(WeightsNotFoundError) as info:
        wres.resolve("tiny")
    msg = str(info.value)
    for part in ("BOKEH_WEIGHTS_DIR", str(clean_env), "BOKEH_HUB_REPO", "python -m training tiny"):
        assert part in msg
    assert wres.weights_status("tiny").summary == "no weights"


def test_missing_explicit_path_does_not_fall_back(tmp_path, clean_env):
    _save(clean_env, 4)  # bundled weights exist, but an explicit path was asked for
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        wres.resolve("tiny", explicit=tmp_path / "nope.safetensors")


def test_resolution_order(tmp_path, clean_env, monkeypatch, caplog):
    wdir, other = tmp_path / "wdir", tmp_path / "other"
    _save(clean_env, 2)  # bundled
    assert wres.resolve("tiny").source == "bundled"
    assert wres.weights_status("tiny").summary == "bundled"
    assert "bundled" in wres.resolve("tiny").description

    _save(wdir, 3)
    monkeypatch.setenv("BOKEH_WEIGHTS_DIR", str(wdir))
    with caplog.at_level(logging.INFO, logger="bokeh.weights"):
        got = wres.resolve("tiny")
    assert got.source == "weights-dir" and got.config == {"hidden": 3}
    assert wres.weights_status("tiny").summary == "weights-dir"
    assert "BOKEH_WEIGHTS_DIR" in caplog.text  # logs which source it used

    _save(other, 5)
    got = wres.resolve("tiny", explicit=other)  # a folder works as an explicit path
    assert got.source == "explicit" and got.config == {"hidden": 5}


def test_configured_hub_beats_bundled_and_bundled_is_the_fallback(tmp_path, clean_env, monkeypatch):
    """A configured, reachable (here: cached) Hub repo is preferred to the demo weights; an
    unreachable one falls back to them; weights_status agrees with resolve."""
    import huggingface_hub.constants as hf_constants

    _save(clean_env, 2)  # bundled demo weights
    assert wres.resolve("tiny").source == "bundled"
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)  # never the network in tests
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("BOKEH_HUB_REPO", "owner/other")  # configured but not cached, offline
    assert wres.resolve("tiny").source == "bundled"
    assert wres.weights_status("tiny").summary == "bundled (hub not downloaded yet)"
    hub_cache = _fake_hub_cache(tmp_path / "hf", "owner/repo", hidden=7, monkeypatch=monkeypatch)
    assert hub_cache.is_dir()
    monkeypatch.setenv("BOKEH_HUB_REPO", "owner/repo")
    assert wres.resolve("tiny").source == "hub"
    assert wres.weights_status("tiny").summary == "hub (cached)"


def test_status_is_typed_and_a_pending_hub_keeps_the_demo_weights_checksum(
        tmp_path, clean_env, monkeypatch):  # fmt: skip
    """With BOKEH_HUB_REPO set (not cached, offline) and only the demo weights on disk, the
    status still says they serve, usable, with their checksum; run provenance records it."""
    import huggingface_hub.constants as hf_constants

    from bokeh.depth import model_available
    from eval.provenance import weights_info

    path = _save(clean_env, 2, name="densedepth")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("BOKEH_HUB_REPO", "owner/other")
    status = wres.weights_status("densedepth")
    assert (status.source, status.hub_pending, status.usable, status.is_demo) == (
        "bundled",
        True,
        True,
        True,
    )
    assert status.sha256 == wfiles.file_sha256(path)
    assert not model_available()  # demo weights never count as real depth weights
    info = weights_info("depth-lens", False, {"depth_source": "model"})
    assert info["networks"]["densedepth"]["sha256"] == status.sha256
    monkeypatch.delenv("BOKEH_HUB_REPO")
    monkeypatch.setenv("BOKEH_WEIGHTS_DIR", str(clean_env))  # the same file, as real weights
    assert model_available() and not wres.weights_status("densedepth").is_demo


def test_weights_status_flags_missing_json(tmp_path, clean_env, monkeypatch):
    _save(tmp_path, 3)
    (tmp_path / "tiny.json").unlink()
    monkeypatch.setenv("BOKEH_WEIGHTS_DIR", str(tmp_path))
    assert wres.weights_status("tiny").summary == "weights-dir (tiny.json missing)"


def test_pickle_in_weights_dir_is_mentioned(tmp_path, clean_env, monkeypatch):
    torch.save({"w": torch.zeros(1)}, tmp_path / "tiny.pth")
    monkeypatch.setenv("BOKEH_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match=r"tiny\.pth, a pickle checkpoint"):
        wres.resolve("tiny")


# ----------------------------------------------------------------------------- Hub (offline)


def _fake_hub_cache(cache: Path, repo: str, *, hidden: int, monkeypatch) -> Path:
    """Write a real HF cache layout (refs/main -> snapshots/<commit>/FILES) and go offline."""
    import huggingface_hub.constants as hf_constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    snap = repo_dir / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    torch.manual_seed(hidden)
    wckpt.save_checkpoint(
        Tiny(TinyConfig(hidden)), snap / "tiny", model_name="tiny", config=TinyConfig(hidden)
    )
    # huggingface_hub reads these at import time, so set both the env and its constants.
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    return repo_dir


def test_hub_offline_uses_local_cache(tmp_path, clean_env, monkeypatch):
    _fake_hub_cache(tmp_path / "hf", "owner/repo", hidden=6, monkeypatch=monkeypatch)
    monkeypatch.setenv("BOKEH_HUB_REPO", "owner/repo")
    assert wres.weights_status("tiny").summary == "hub (cached)"
    model, resolved = wckpt.load_model("tiny", build_tiny)
    assert resolved.source == "hub" and resolved.config == {"hidden": 6}
    assert resolved.description.startswith("Hub: owner/repo@main")
    assert "0123456" in resolved.description
    assert model.a.out_features == 6


def test_hub_offline_not_cached(tmp_path, clean_env, monkeypatch):
    _fake_hub_cache(tmp_path / "hf", "owner/repo", hidden=6, monkeypatch=monkeypatch)
    monkeypatch.setenv("BOKEH_HUB_REPO", "owner/elsewhere")
    assert wres.weights_status("tiny").summary == "hub (not downloaded)"
    with pytest.raises(WeightsNotFoundError, match=r"not found on the Hub \(offline"):
        wres.resolve("tiny")


def test_prefetch_fetches_hub_checkpoints_and_never_raises(tmp_path, clean_env, monkeypatch):
    _fake_hub_cache(tmp_path / "hf", "owner/repo", hidden=6, monkeypatch=monkeypatch)
    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_REPO", "none")
    assert wres.prefetch(["tiny"]) == {"depth-anything": "not fetched: turned off"}  # no Hub repo
    monkeypatch.setenv("BOKEH_HUB_REPO", "owner/repo")
    got = wres.prefetch(["tiny", "absent"])
    assert got["tiny"].startswith("Hub: owner/repo@main")
    assert got["absent"].startswith("not fetched:") and "absent" in got["absent"]
    monkeypatch.delenv("BOKEH_DEPTH_ANYTHING_REPO")  # the default repo, offline, not cached
    assert "HF_HUB_OFFLINE is set" in wres.prefetch([])["depth-anything"]

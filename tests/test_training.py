"""Training end to end on a tiny synthetic set: each method learns, checkpoints rebuild the same
networks, resume continues exactly, and the command line fails with clear messages."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from training.data import build_dataset
from training.loop import TrainOptions, train
from training.recipes import get_recipe

# crop per method: the smallest each demo network accepts (BGGAN's 5-layer critic needs 96 px)
CROP = {"pix2pix": 64, "cyclegan": 32, "bggan": 96, "densedepth": 32}
# the supervised term that must fall while overfitting one batch
LOSS = {"pix2pix": "G_L1", "cyclegan": "cycle", "bggan": "G_L1", "densedepth": "loss"}
LR = {"pix2pix": 1e-3, "cyclegan": 1e-3, "bggan": 3e-3, "densedepth": 1e-3}


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    from bokeh.data.synth import generate

    root = tmp_path_factory.mktemp("synth") / "train"
    return generate(root, count=4, size=(96, 64), seed=0, split="train")


class _SameBatch(torch.utils.data.Dataset):
    """The method's dataset with augmentation frozen: every epoch serves the same crops."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        return self.ds[i]

    def set_epoch(self, epoch):
        pass


def _opts(method, root, out, **kw):
    base = dict(
        method=method,
        data=root,
        dataset="synth",
        preset="demo",
        steps=4,
        batch_size=2,
        crop=CROP[method],
        perceptual="none",
        out=out,
        log_every=1,
        progress=False,
        download=False,
        seed=0,
    )
    base.update(kw)
    return TrainOptions(**base)


def _probe(network: str, model: torch.nn.Module, side: int) -> torch.Tensor:
    channels = getattr(getattr(model, "config", None), "in_channels", 3)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, channels, side, side, generator=g)
    return x if network == "densedepth" else x * 2 - 1


def _flat(out) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize("method", ["pix2pix", "cyclegan", "bggan", "densedepth"])
def test_method_learns_and_checkpoints_rebuild_it(method, synth_root, tmp_path, monkeypatch):
    from bokeh.models import glassnet, resnet, unet
    from bokeh.weights.checkpoint import load_model

    # Residual demo generators start as the identity (zero cycle/identity loss at step 0);
    # learning is shown on the published, non-residual form of the same preset.
    for module in (unet, resnet, glassnet):
        monkeypatch.setitem(module.PRESETS["demo"], "residual", False)

    recipe = get_recipe(method)
    same = dataclasses.replace(
        recipe,
        build_data=lambda o, hp: _SameBatch(
            build_dataset(
                recipe.data_kind, synth_root, "synth", crop=CROP[method], seed=0, flip=False
            )
        ),
    )
    out = tmp_path / "run"
    res = train(_opts(method, synth_root, out, steps=6, batch_size=4, lr=LR[method]), recipe=same)

    # the loss falls while overfitting one batch
    values = [h[LOSS[method]] for h in res.history]
    assert len(values) == 6
    assert sum(values[-2:]) < sum(values[:2]), values

    # files: every network, resume state and metrics
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["step"] for h in metrics["history"]] == list(range(1, 7))
    assert (out / "train_state.safetensors").is_file() and (out / "train_state.json").is_file()
    state = json.loads((out / "train_state.json").read_text())
    assert state["step"] == 6

    # each checkpoint rebuilds the same network (identical outputs)
    for slot in recipe.slots:
        trained = res.models[slot.key].eval()
        loaded, resolved = load_model(
            slot.checkpoint, slot.network.build, explicit=out, expect_model=slot.network.name
        )
        assert resolved.provenance["steps"] == 6
        assert resolved.provenance["method"] == method
        assert resolved.provenance["seed"] == 0
        assert resolved.provenance["data"]["dataset"] == "synth"
        assert "command" in resolved.provenance and "train_seconds" in resolved.provenance
        x = _probe(slot.network.name, trained, CROP[method] if method != "densedepth" else 64)
        with torch.no_grad():
            for a, b in zip(_flat(trained(x)), _flat(loaded(x)), strict=True):
                assert torch.equal(a, b)
    inference = [s for s in recipe.slots if s.inference]
    assert len(inference) == 1 and inference[0].checkpoint == inference[0].network.name


@pytest.mark.parametrize("method", ["pix2pix", "cyclegan"])
def test_resume_continues_exactly(method, synth_root, tmp_path):
    hp = {"pool_size": 2} if method == "cyclegan" else {}  # so that the pool swaps images
    # Extending a finished 2-step run to 4 steps changes a decaying schedule's total; with a
    # constant learning rate the extended run must equal the 4-step run exactly.
    hp["lr_decay"] = 0.0
    full = train(_opts(method, synth_root, tmp_path / "full", steps=4, batch_size=1, hparams=hp))
    part = tmp_path / "part"
    first = train(_opts(method, synth_root, part, steps=2, batch_size=1, hparams=hp))
    assert first.step == 2
    # stopping at step 2 of a 4-batch epoch: the resumed run skips the 2 batches already used
    resumed = train(_opts(method, synth_root, part, steps=4, batch_size=1, hparams=hp, resume=True))
    assert resumed.step == 4
    assert [h["step"] for h in resumed.history] == [1, 2, 3, 4]
    for key, model in full.models.items():
        for (name, a), b in zip(
            model.state_dict().items(), resumed.models[key].state_dict().values(), strict=True
        ):
            assert torch.equal(a, b), f"{key}.{name}"
    # nothing left to do: resuming a finished run keeps its weights
    again = train(_opts(method, synth_root, part, steps=4, batch_size=1, hparams=hp, resume=True))
    assert again.step == 4


def test_run_folder_guards(synth_root, tmp_path):
    from bokeh.errors import BokehError

    with pytest.raises(BokehError, match="No training state to resume"):
        train(_opts("pix2pix", synth_root, tmp_path / "empty", resume=True))
    out = tmp_path / "run"
    train(_opts("pix2pix", synth_root, out, steps=1))
    with pytest.raises(BokehError, match="already holds a training run"):
        train(_opts("pix2pix", synth_root, out, steps=1))
    with pytest.raises(BokehError, match="saved run has method"):
        train(_opts("cyclegan", synth_root, out, steps=1, resume=True))
    with pytest.raises(BokehError, match="multiple of 64"):
        train(_opts("pix2pix", synth_root, tmp_path / "odd", crop=48))
    with pytest.raises(BokehError, match="Unknown hyper-parameter"):
        train(_opts("pix2pix", synth_root, tmp_path / "hp", hparams={"lambda_l2": 1.0}))


def test_bggan_extra_critic_steps(synth_root, tmp_path):
    res = train(_opts("bggan", synth_root, tmp_path / "b", steps=1, hparams={"n_critic": 2}))
    assert res.step == 1 and "D_gp" in res.history[-1]


def test_mixed_precision_with_a_grad_scaler():
    """The fp16-style path (autocast + GradScaler) that CUDA GPUs without bfloat16 take,
    exercised on the CPU with bfloat16 autocast and a CPU scaler."""
    from training import losses
    from training.recipe import StepConfig
    from training.runtime import Amp

    amp = Amp(torch.device("cpu"))
    assert not amp.enabled  # off on the CPU by default
    amp.enabled, amp.dtype = True, torch.bfloat16
    amp.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)

    # the scaled input gradient is unscaled again: the same penalty as without a scaler
    w = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))

    def critic(x):
        return (x * w).sum(dim=(1, 2, 3), keepdim=True)

    real, fake = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    torch.manual_seed(1)
    plain = losses.gradient_penalty(critic, real, fake)
    torch.manual_seed(1)
    scaled = losses.gradient_penalty(critic, real, fake, input_grad=amp.input_grad)
    assert scaled.item() == pytest.approx(plain.item(), rel=1e-5)

    recipe = get_recipe("bggan")
    hp = {**recipe.default_hparams(), "perceptual": "none"}
    models, _ = recipe.build_models("demo", hp)
    before = models["G"].stage2.head[0].weight.detach().clone()
    opts = recipe.build_optimizers(models, hp)
    cfg = StepConfig(hp=hp, device=torch.device("cpu"), amp=amp)
    batch = {
        "original": torch.rand(2, 3, 96, 96) * 2 - 1,
        "bokeh": torch.rand(2, 3, 96, 96) * 2 - 1,
    }
    out = recipe.train_step(batch, models, opts, cfg)
    amp.update()
    assert all(torch.isfinite(torch.tensor(v)) for v in out.values())
    assert not torch.equal(before, models["G"].stage2.head[0].weight)
    state = amp.state()
    assert state["scale"] == 1024.0
    other = Amp(torch.device("cpu"))
    other.scaler = torch.amp.GradScaler("cpu", init_scale=8.0)
    other.load_state(state)
    assert other.scaler.get_scale() == 1024.0


# --------------------------------------------------------------------------- command line


def test_cli_unknown_method(capsys):
    from training.cli import main

    assert main(["pix2px", "--data", "x"]) == 2
    err = capsys.readouterr().err
    assert "unknown training method 'pix2px'" in err and "did you mean 'pix2pix'" in err


def test_cli_missing_data(tmp_path, capsys):
    from training.cli import main

    code = main(
        [
            "pix2pix",
            "--data",
            str(tmp_path / "missing"),
            "--dataset",
            "synth",
            "--preset",
            "demo",
            "--steps",
            "1",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err


def test_cli_vgg_unavailable_offline(synth_root, tmp_path, monkeypatch, capsys):
    from training.cli import main

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    code = main(
        [
            "bggan",
            "--data",
            str(synth_root),
            "--dataset",
            "synth",
            "--preset",
            "demo",
            "--steps",
            "1",
            "--crop",
            "96",
            "--offline",
            "--out",
            str(tmp_path / "o"),
            "--no-progress",
        ]
    )
    assert code == 2
    assert "--perceptual none" in capsys.readouterr().err


def test_cli_trains_and_reports(synth_root, tmp_path, capsys):
    from training.cli import main

    out = tmp_path / "o"
    code = main(
        [
            "pix2pix",
            "--data",
            str(synth_root),
            "--dataset",
            "synth",
            "--preset",
            "demo",
            "--steps",
            "2",
            "--batch-size",
            "2",
            "--crop",
            "64",
            "--out",
            str(out),
            "--no-progress",
            "--log-every",
            "1",
        ]
    )
    assert code == 0
    assert "pix2pix: 2 steps" in capsys.readouterr().out
    meta = json.loads((out / "pix2pix-unet.json").read_text())
    assert meta["model"] == "pix2pix-unet"
    assert meta["provenance"]["command"].startswith("python -m training pix2pix")
    assert meta["config"]["ngf"] == 16  # the demo preset actually used


def test_push_to_hub_offline_is_a_clear_error(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from bokeh.errors import BokehError
    from training.checkpoint import push_to_hub

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(BokehError, match="HF_HUB_OFFLINE is set"):
        push_to_hub(tmp_path, "someone/bokeh-weights")


@pytest.mark.slow
def test_demo_script_writes_weights_with_provenance(synth_root, tmp_path, monkeypatch, capsys):
    from bokeh.data.synth import generate
    from bokeh.registry import NETWORKS
    from bokeh.weights.checkpoint import load_model
    from training import demo

    monkeypatch.setenv("BOKEH_DATA_DIR", str(tmp_path / "data"))
    holdout = generate(tmp_path / "hold", count=2, size=(96, 64), seed=5, split="holdout")
    out = tmp_path / "weights"
    argv = [f"--steps={m}=2" for m in demo.METHOD_NAMES] + [f"--crop={m}={CROP[m]}" for m in CROP]
    argv += [
        "--data",
        str(synth_root),
        "--holdout",
        str(holdout),
        "--out",
        str(out),
        "--runs",
        str(tmp_path / "runs"),
        "--batch-size",
        "2",
        "--no-progress",
    ]
    assert demo.main(argv) == 0
    printed = capsys.readouterr().out
    assert "vs identity" in printed and "vs constant" in printed
    summary = json.loads((out / "demo_summary.json").read_text())
    assert set(summary["methods"]) == set(demo.METHOD_NAMES)
    for method, row in summary["methods"].items():
        network = row["network"]
        model, resolved = load_model(network, NETWORKS[network].build, explicit=out)
        prov = resolved.provenance
        assert prov["steps"] == 2 and prov["seed"] == 0 and prov["preset"] == "demo"
        assert prov["command"].startswith("python -m training.demo")
        assert prov["holdout"]["images"] == 2
        key = "constant_rmse" if method == "densedepth" else "identity_psnr"
        assert key in prov["holdout"]


class TestLearningRateDecay:
    def test_reference_schedule(self):
        """CycleGAN/pix2pix reference: 100 epochs at lr, then linear decay over 100 more
        (factor 1 - max(0, epoch + 1 - 100) / 101)."""
        from training.runtime import lr_factor

        f = [lr_factor(e, 200, 0.5) for e in range(200)]
        assert f[:100] == [1.0] * 100
        assert f[100] == pytest.approx(1 - 1 / 101) and f[199] == pytest.approx(1 / 101)
        assert all(a > b for a, b in zip(f[99:], f[100:], strict=False))
        assert [lr_factor(s, 7, 0.0) for s in range(7)] == [1.0] * 7
        with pytest.raises(ValueError, match="fraction"):
            lr_factor(0, 10, 1.5)

    def test_training_applies_it_and_records_it(self, synth_root, tmp_path):
        import json

        from training.runtime import lr_factor

        out = tmp_path / "run"
        train(
            _opts(
                "cyclegan",
                synth_root,
                out,
                steps=4,
                batch_size=1,
                hparams={"lr_decay": 0.5, "lr": 1e-3},
            )
        )
        meta = json.loads((out / "train_state.json").read_text())
        for name in ("G", "D"):
            group = meta["optimizers"][name]["param_groups"][0]
            assert group["initial_lr"] == 1e-3
            assert group["lr"] == pytest.approx(1e-3 * lr_factor(3, 4, 0.5))  # the last step

    def test_bad_decay_is_refused_before_training(self, synth_root, tmp_path):
        from bokeh.errors import BokehError

        with pytest.raises(BokehError, match="lr decay must be a fraction"):
            train(_opts("pix2pix", synth_root, tmp_path / "bad", hparams={"lr_decay": 2.0}))

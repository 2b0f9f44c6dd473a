"""DistributedDataParallel through the training loop: two CPU processes (gloo) on a global
batch train the same weights as one process on that batch; a GAN recipe runs under DDP too."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time

import pytest
import torch
import torch.nn.functional as F

from bokeh.methods.pix2pix import GENERATOR
from bokeh.specs import TrainingSpec
from training.loop import TrainOptions, train
from training.recipe import NetworkSlot, Recipe

WORLD = 2
PER_RANK = 2
STEPS = 3


# A deterministic recipe (no BatchNorm, no dropout, no GAN noise) so that the only difference
# between the runs is how the global batch is split: a small U-Net from bokeh.models, L1 loss.
def _models(preset, hp):
    from bokeh.models.unet import UNetConfig, UNetGenerator

    cfg = UNetConfig(ngf=4, num_downs=3, norm="none", dropout=0.0)
    return {"G": UNetGenerator(cfg)}, {"G": cfg}


def _optimizers(models, hp):
    return {"G": torch.optim.Adam(models["G"].parameters(), lr=hp["lr"])}


def _step(batch, models, optimizers, cfg):
    opt = optimizers["G"]
    opt.zero_grad(set_to_none=True)
    with cfg.amp.autocast():
        loss = F.l1_loss(models["G"](batch["original"]), batch["bokeh"])
    cfg.amp.backward(loss)
    cfg.amp.step(opt)
    return {"L1": loss.item()}


TOY_NET = dataclasses.replace(
    GENERATOR,
    training=TrainingSpec(name="toy-l1", data_kind="paired", datasets=("synth",), crop=32),
)
TOY = Recipe(
    description="U-Net + L1 (test)",
    slots=(NetworkSlot("G", TOY_NET, "toy-unet", inference=True),),
    default_hparams=lambda: {"lr": 1e-3},
    build_models=_models,
    build_optimizers=_optimizers,
    train_step=_step,
)


def _opts(method, root, out, batch_size, **kw):
    return TrainOptions(
        method=method,
        data=root,
        dataset="synth",
        preset="demo",
        steps=STEPS,
        batch_size=batch_size,
        crop=32,
        out=out,
        log_every=1,
        progress=False,
        download=False,
        perceptual="none",
        seed=0,
        **kw,
    )


def _worker(rank: int, port: int, root: str, out: str) -> None:
    os.environ.update(
        {
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(WORLD),
            "LOCAL_WORLD_SIZE": str(WORLD),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    train(_opts("toy-l1", root, os.path.join(out, "toy"), PER_RANK), recipe=TOY)
    # a GAN recipe: discriminator frozen and unwrapped in the generator step, several forwards
    gan = TrainOptions(
        method="pix2pix",
        data=root,
        dataset="synth",
        preset="demo",
        steps=2,
        batch_size=1,
        crop=64,
        out=os.path.join(out, "gan"),
        log_every=1,
        progress=False,
        download=False,
    )
    train(gan)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    from bokeh.data.synth import generate

    root = tmp_path_factory.mktemp("synth") / "train"
    return generate(root, count=4, size=(96, 64), seed=0, split="train")


@pytest.mark.slow
def test_two_processes_equal_one_process_on_the_global_batch(tmp_path):
    """Runs the check below in a fresh interpreter, up to six times: on this 2-core machine the
    two spawned gloo ranks sometimes never finish (one launch in four to one in two; a passing
    launch takes ~8 s; where they hang is not established yet). A launch that hangs is killed
    after 45 s and retried; the weights comparison itself is never relaxed."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "BOKEH_DDP_CHECK": "1", "GLOO_SOCKET_IFNAME": "lo"}
    outputs = []
    for attempt in range(6):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                f"{__file__}::test_ddp_check",
                "-q",
                "-p",
                "no:cacheprovider",
                "--basetemp",
                str(tmp_path / f"inner{attempt}"),
            ],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        outputs.append(out.stdout[-3000:] + out.stderr[-1000:])
        if out.returncode == 0:
            assert "1 passed" in out.stdout
            return
        start_up = ("did not finish within", "connectFullMesh")  # hung, or gloo's rendezvous
        if not any(sign in out.stdout for sign in start_up):
            break  # a real failure, not a failed start-up: report it
    pytest.fail("\n---\n".join(outputs))


@pytest.mark.skipif(
    os.environ.get("BOKEH_DDP_CHECK") != "1",
    reason="run by test_two_processes_equal_one_process_on_the_global_batch",
)
def test_ddp_check(synth_root, tmp_path):
    import torch.multiprocessing as mp
    from safetensors.torch import load_file

    ddp_out = tmp_path / "ddp"
    ctx = mp.spawn(
        _worker, args=(_free_port(), str(synth_root), str(ddp_out)), nprocs=WORLD, join=False
    )
    deadline = time.monotonic() + 45
    while not ctx.join(timeout=2):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("the two DDP processes did not finish within 45 s")

    single = train(_opts("toy-l1", synth_root, tmp_path / "single", WORLD * PER_RANK), recipe=TOY)
    assert single.step == STEPS

    a = load_file(str(ddp_out / "toy" / "toy-unet.safetensors"))
    b = load_file(str(tmp_path / "single" / "toy-unet.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=0, atol=1e-5), k
    # ... and training did change the weights (the comparison is not vacuous)
    torch.manual_seed(0)
    start = TOY.build_models("demo", {})[0]["G"].state_dict()
    assert any(not torch.allclose(start[k], b[k], atol=1e-4) for k in b)

    # the logged losses are averaged over ranks: the same as one process on the global batch
    ddp_hist = json.loads((ddp_out / "toy" / "metrics.json").read_text())["history"]
    for d, s in zip(ddp_hist, single.history, strict=True):
        assert d["L1"] == pytest.approx(s["L1"], abs=1e-5)

    # the GAN run under DDP wrote one checkpoint set (rank 0) with its provenance
    meta = json.loads((ddp_out / "gan" / "pix2pix-unet.json").read_text())
    assert meta["provenance"]["world_size"] == WORLD and meta["provenance"]["steps"] == 2
    assert json.loads((ddp_out / "gan" / "train_state.json").read_text())["step"] == 2

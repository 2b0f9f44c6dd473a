"""``python -m training.demo``: train the four demo presets on synthetic scenes and ship them.

What it does, with fixed seeds (every number below is a flag):

1. generates the synthetic training set (``--train-count`` scenes at ``--train-size``, seed
   ``--data-seed``, split ``train``) under ``<data dir>/synth/`` unless it exists, and the
   standard synthetic holdout (``bokeh.data.synth.ensure_holdout``: 64 scenes, 384x256, a
   different seed, so no scene is shared);
2. trains each method's ``demo`` preset for its step count (``--steps METHOD=N``) on random
   crops (``--crop METHOD=N``) through :func:`training.loop.train`, in
   ``<data dir>/runs/demo/<method>`` (with ``--resume``, continues runs found there);
3. scores the inference network on the holdout with :mod:`eval.metrics` at full resolution
   (the same ``translate_image`` / ``predict_raw`` code the app runs): generators by PSNR and
   SSIM against ``identity`` (the input itself); DenseDepth by the RMSE of its disparity
   against the ground truth, next to a constant prediction (the holdout's mean disparity);
4. writes ``<network>.safetensors`` + ``<network>.json`` into ``--out`` (default
   ``assets/weights``) with provenance: command, steps, data, seed, time, holdout metrics;
5. prints a summary table (and writes it as ``demo_summary.json`` beside the weights).

Runs on the CPU by default (``--device``). BGGAN's VGG19 term is used only when its ImageNet
weights are already in the torch hub cache (``--perceptual vgg19`` to require it).

Typical use::

    python -m training.demo                                  # all four, default step counts
    python -m training.demo --methods pix2pix --steps pix2pix=500
    python -m training.demo --steps bggan=4000 --resume      # train BGGAN further
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.models import VGG19_Weights

from bokeh import config
from bokeh.config import data_dir
from bokeh.data.synth import GENERATOR_VERSION, ensure_holdout, generate, load_synth
from bokeh.depth.model import normalise_disparity, predict_raw
from bokeh.errors import BokehError
from bokeh.pipelines.translate import translate_image
from bokeh.registry import trained_networks
from bokeh.weights.checkpoint import save_checkpoint
from eval.metrics import psnr, ssim
from training.checkpoint import atomic_write_text, has_train_state
from training.loop import TrainOptions, config_dict, train
from training.losses import weights_cache_path
from training.recipes import get_recipe

# The demo presets (steps, crop, learning rate, loss weights) are declared with each network
# in bokeh.methods (TrainingSpec.demo_*); step counts suit a 2-core CPU (measured on an idle one
# at batch 4, crop 128: pix2pix ~0.06 s/step, CycleGAN ~0.7, BGGAN ~0.25, DenseDepth ~0.4;
# about 40 minutes for all four). Tune with --steps / --crop / --lr / --hp.
TRAINED = trained_networks()
METHOD_NAMES = tuple(TRAINED)
DEFAULT_STEPS = {m: n.training.demo_steps for m, n in TRAINED.items()}
DEFAULT_CROP = {m: n.training.demo_crop for m, n in TRAINED.items()}
DEFAULT_LR = {m: n.training.demo_lr for m, n in TRAINED.items() if n.training.demo_lr}
DEFAULT_HP = {m: dict(n.training.demo_hparams) for m, n in TRAINED.items()}
TRAIN_COUNT = 192
TRAIN_SIZE = (384, 256)
DATA_SEED = 7
SEED = 0
BATCH_SIZE = 4
MAX_FILE_MB = 10.0
DESCRIPTION = "demo weights trained on synthetic scenes"


def _method_values(items: Sequence[str], cast, flag: str) -> dict[str, Any]:
    out = {}
    for item in items:
        if "=" not in item:
            raise BokehError(f"{flag} expects METHOD=VALUE (e.g. pix2pix=500), got {item!r}.")
        key, value = item.split("=", 1)
        if key not in METHOD_NAMES:
            raise BokehError(
                f"{flag}: unknown method {key!r}; available: {', '.join(METHOD_NAMES)}."
            )
        try:
            out[key] = cast(value)
        except ValueError:
            raise BokehError(f"{flag}: {value!r} is not a valid value for {key}.") from None
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training.demo",
        description="Train the demo presets on synthetic scenes and write assets/weights.",
    )
    p.add_argument("--methods", default=",".join(METHOD_NAMES), help="comma-separated subset")
    p.add_argument(
        "--steps",
        action="append",
        default=[],
        metavar="METHOD=N",
        help=f"training steps per method (defaults: {DEFAULT_STEPS})",
    )
    p.add_argument(
        "--crop",
        action="append",
        default=[],
        metavar="METHOD=N",
        help=f"crop side per method (defaults: {DEFAULT_CROP})",
    )
    p.add_argument(
        "--lr",
        action="append",
        default=[],
        metavar="METHOD=LR",
        help="learning rate per method (default: the published one)",
    )
    p.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="METHOD:KEY=VALUE",
        help=f"a recipe hyper-parameter per method (demo defaults: {DEFAULT_HP})",
    )
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    p.add_argument("--seed", type=int, default=SEED, help="training seed")
    p.add_argument("--train-count", type=int, default=TRAIN_COUNT, help="synthetic scenes")
    p.add_argument("--train-size", default=f"{TRAIN_SIZE[0]}x{TRAIN_SIZE[1]}", help="WxH")
    p.add_argument("--data-seed", type=int, default=DATA_SEED, help="seed of the training scenes")
    p.add_argument("--data", help="an existing synthetic training set (skips generation)")
    p.add_argument("--holdout", help="synthetic holdout root (default: the standard holdout)")
    p.add_argument("--holdout-limit", type=int, default=0, help="score only the first N scenes")
    p.add_argument("--out", help="where the weights go (default: assets/weights)")
    p.add_argument("--runs", help="training run folders (default: <data dir>/runs/demo)")
    p.add_argument("--resume", action="store_true", help="continue the runs found in --runs")
    p.add_argument(
        "--perceptual",
        choices=("auto", "vgg19", "none"),
        default="auto",
        help="BGGAN's VGG19 term: auto = only if the weights are cached",
    )
    p.add_argument(
        "--half",
        action="store_true",
        help="store the shipped weights as float16 (half the file size)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    return p


# --------------------------------------------------------------------------- data


def training_set(args: argparse.Namespace) -> Path:
    """The synthetic training set root (generated on first use, deterministic)."""
    if args.data:
        return Path(args.data)

    w, h = (int(v) for v in str(args.train_size).lower().split("x"))
    name = f"demo-train-v{GENERATOR_VERSION}-n{args.train_count}-{w}x{h}-s{args.data_seed}"
    root = data_dir() / "synth" / name
    if not (root / "metadata.json").is_file():
        print(f"demo: generating {args.train_count} training scenes into {root}", flush=True)
        generate(
            root,
            count=args.train_count,
            size=(w, h),
            seed=args.data_seed,
            split="train",
            progress=True,
        )
    return root


def holdout_set(args: argparse.Namespace):
    root = Path(args.holdout) if args.holdout else ensure_holdout()
    ds = load_synth(root, "holdout")
    n = len(ds) if not args.holdout_limit else min(len(ds), args.holdout_limit)
    return root, [ds[i] for i in range(n)]


# --------------------------------------------------------------------------- scoring


def score_generator(model, pairs) -> dict[str, float]:
    """Mean PSNR / SSIM (eval.metrics, data range 1) of the model and of identity."""

    rows = {"psnr": [], "ssim": [], "identity_psnr": [], "identity_ssim": []}
    model.eval()
    for pair in pairs:
        x = pair.original.astype(np.float32) / 255.0
        gt = pair.bokeh.astype(np.float32) / 255.0
        pred, _ = translate_image(model, x)
        rows["psnr"].append(float(psnr(pred, gt, data_range=1.0)[0]))
        rows["ssim"].append(float(ssim(pred, gt, data_range=1.0)[0]))
        rows["identity_psnr"].append(float(psnr(x, gt, data_range=1.0)[0]))
        rows["identity_ssim"].append(float(ssim(x, gt, data_range=1.0)[0]))
    out = {k: round(float(np.mean(v)), 4) for k, v in rows.items()}
    out["beats_identity_psnr"] = out["psnr"] > out["identity_psnr"]
    out["images"] = len(pairs)
    return out


def score_depth(model, pairs) -> dict[str, float]:
    """RMSE of predicted vs true disparity on the holdout, and of a constant prediction.

    ``rmse``: the network output mapped back through the training target map (disparity =
    (target - lo) / (hi - lo), see training.data); ``rmse_minmax``: the app's min-max normalised
    disparity; ``constant_rmse``: the holdout's mean disparity predicted everywhere.
    """

    cfg = model.config
    lo, hi = cfg.depth_scale / cfg.max_depth_cm, cfg.depth_scale / cfg.min_depth_cm
    model.eval()
    gts, preds, minmax = [], [], []
    for pair in pairs:
        raw = predict_raw(model, pair.original.astype(np.float32) / 255.0)
        gts.append(pair.depth.astype(np.float64))
        preds.append(np.clip((raw - lo) / (hi - lo), 0.0, 1.0).astype(np.float64))
        minmax.append(normalise_disparity(raw).astype(np.float64))
    gt = np.concatenate([g.ravel() for g in gts])
    const = float(gt.mean())

    def rmse(pred_list) -> float:
        p = np.concatenate([q.ravel() for q in pred_list])
        return round(float(np.sqrt(np.mean((p - gt) ** 2))), 5)

    out = {
        "rmse": rmse(preds),
        "rmse_minmax": rmse(minmax),
        "constant_rmse": round(float(np.sqrt(np.mean((gt - const) ** 2))), 5),
        "constant": round(const, 5),
        "images": len(pairs),
    }
    out["beats_constant"] = out["rmse"] < out["constant_rmse"]
    return out


# --------------------------------------------------------------------------- main


def _perceptual(choice: str) -> str:
    if choice != "auto":
        return choice
    return (
        "vgg19" if Path(weights_cache_path(VGG19_Weights.IMAGENET1K_V1.url)).is_file() else "none"
    )


@dataclass
class _Plan:
    """The demo settings per method, from the specs' demo presets and the flags."""

    methods: list[str]
    steps: dict[str, int]
    crops: dict[str, int]
    lrs: dict[str, float]
    hps: dict[str, dict[str, float]]
    out_dir: Path
    runs_dir: Path
    command: str
    perceptual: str


def _hp_overrides(items: Sequence[str]) -> dict[str, dict[str, float]]:
    hps: dict[str, dict[str, float]] = {m: dict(v) for m, v in DEFAULT_HP.items()}
    for item in items:
        method, _, assignment = item.partition(":")
        key, _, value = assignment.partition("=")
        if method not in METHOD_NAMES or not key or not value:
            raise BokehError(f"--hp expects METHOD:KEY=VALUE (e.g. bggan:lambda_adv=0.05), "
                             f"got {item!r}.")  # fmt: skip
        try:
            hps.setdefault(method, {})[key] = float(value)
        except ValueError:
            raise BokehError(f"--hp: {value!r} is not a number.") from None
    return hps


def _plan(args: argparse.Namespace, argv: Sequence[str]) -> _Plan:
    methods = [m.strip() for m in str(args.methods).split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHOD_NAMES]
    if unknown:
        raise BokehError(
            f"Unknown method(s) {', '.join(unknown)}; available: {', '.join(METHOD_NAMES)}."
        )
    return _Plan(
        methods=methods,
        steps={**DEFAULT_STEPS, **_method_values(args.steps, int, "--steps")},
        crops={**DEFAULT_CROP, **_method_values(args.crop, int, "--crop")},
        lrs={**DEFAULT_LR, **_method_values(args.lr, float, "--lr")},
        hps=_hp_overrides(args.hp),
        out_dir=Path(args.out) if args.out else config.BUNDLED_WEIGHTS_DIR,
        runs_dir=Path(args.runs) if args.runs else config.data_dir() / "runs" / "demo",
        command="python -m training.demo " + " ".join(shlex.quote(a) for a in argv),
        perceptual=_perceptual(args.perceptual),
    )


def _train_one(method: str, plan: _Plan, args: argparse.Namespace, train_root: Path):
    """Train one method's demo preset; returns (TrainResult, wall seconds)."""
    run_dir = plan.runs_dir / method
    steps = plan.steps[method]
    opts = TrainOptions(
        method=method, data=train_root, dataset="synth", preset="demo", steps=steps,
        batch_size=args.batch_size, crop=plan.crops[method], lr=plan.lrs.get(method),
        hparams=dict(plan.hps.get(method, {})), perceptual=plan.perceptual, seed=args.seed,
        out=run_dir, resume=args.resume and has_train_state(run_dir), save_every=0,
        save_every_steps=max(100, steps // 10), log_every=25, device=args.device,
        progress=not args.no_progress, command=plan.command, download=False,
    )  # fmt: skip
    print(f"demo: training {method} ({steps} steps, crop {plan.crops[method]}, "
          f"batch {args.batch_size}) in {run_dir}", flush=True)  # fmt: skip
    t0 = time.perf_counter()
    result = train(opts)
    return result, time.perf_counter() - t0


def _export(method: str, plan: _Plan, args, result, seconds: float, holdout) -> dict[str, Any]:
    """Score the trained inference network on the holdout and write it with provenance."""
    holdout_root, pairs = holdout
    recipe = get_recipe(method)
    slot = recipe.inference_slot
    model = result.models[slot.key].to("cpu").eval()
    print(f"demo: scoring {method} on {len(pairs)} holdout scenes", flush=True)
    scorer = score_depth if recipe.data_kind == "depth" else score_generator
    metrics = scorer(model, pairs)
    prov = json.loads((plan.runs_dir / method / f"{slot.checkpoint}.json").read_text())
    prov = prov["provenance"]
    prov.update({
        "description": DESCRIPTION,
        "holdout": {"root": str(holdout_root), "split": "holdout", **metrics},
        "train_seconds": round(result.seconds, 1),
        "wall_seconds_this_session": round(seconds, 1),
    })  # fmt: skip
    prov.pop("bokeh_version", None)
    prov.pop("saved_at", None)
    export = copy.deepcopy(model).half() if args.half else model
    path = save_checkpoint(export, plan.out_dir / slot.network.name, model_name=slot.network.name,
                           config=config_dict(model.config), provenance=prov)  # fmt: skip
    size_mb = path.stat().st_size / 2**20
    if size_mb > MAX_FILE_MB:
        print(f"demo: warning: {path.name} is {size_mb:.1f} MB, over the {MAX_FILE_MB:.0f} MB "
              "budget for shipped weights", file=sys.stderr)  # fmt: skip
    return {
        "network": slot.network.name, "file": str(path), "size_mb": round(size_mb, 2),
        "parameters": sum(p.numel() for p in model.parameters()), "steps": result.step,
        "train_seconds": round(result.seconds, 1),
        "perceptual": plan.perceptual if "perceptual" in recipe.default_hparams() else None,
        **metrics,
    }  # fmt: skip


def _merge_previous(summary: dict[str, Any], out_dir: Path) -> None:
    """Keep the entries of methods trained in earlier invocations whose weights are still
    there, so that training one method again does not drop the others from the record."""
    previous = out_dir / "demo_summary.json"
    if not previous.is_file():
        return
    try:
        old = json.loads(previous.read_text())
    except (OSError, ValueError):
        return
    for method, entry in old.get("methods", {}).items():
        still_there = (out_dir / Path(entry.get("file", "")).name).is_file()
        if method not in summary["methods"] and still_there:
            summary["methods"][method] = {"command": old.get("command"), **entry}


def run(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    """Train, score and export; returns the summary (also written as demo_summary.json)."""
    plan = _plan(args, argv)
    train_root = training_set(args)
    holdout = holdout_set(args)
    summary: dict[str, Any] = {"command": plan.command, "train_data": str(train_root),
                               "holdout": str(holdout[0]), "methods": {}}  # fmt: skip
    for method in plan.methods:
        result, seconds = _train_one(method, plan, args, train_root)
        summary["methods"][method] = _export(method, plan, args, result, seconds, holdout)
        del result
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    _merge_previous(summary, plan.out_dir)
    summary["total_mb"] = round(sum(v["size_mb"] for v in summary["methods"].values()), 2)
    atomic_write_text(plan.out_dir / "demo_summary.json", json.dumps(summary, indent=1) + "\n")
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    print("\nmethod      network           steps  train s  size MB  holdout")
    for method, s in summary["methods"].items():
        if "rmse" in s:
            score = (
                f"RMSE {s['rmse']:.4f} (min-max {s['rmse_minmax']:.4f}) vs constant "
                f"{s['constant_rmse']:.4f}"
            )
        else:
            score = (
                f"PSNR {s['psnr']:.2f} / SSIM {s['ssim']:.4f} vs identity "
                f"{s['identity_psnr']:.2f} / {s['identity_ssim']:.4f}"
            )
        print(
            f"{method:<11} {s['network']:<17} {s['steps']:>5}  {s['train_seconds']:>7.0f}  "
            f"{s['size_mb']:>7.2f}  {score}"
        )
    print(f"total size: {summary['total_mb']:.2f} MB")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        summary = run(args, argv)
    except BokehError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_summary(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m training METHOD --data DIR ...``: parse, pick the recipe, run the loop."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from bokeh.errors import BokehError
from training.loop import TrainOptions, train
from training.recipes import RECIPES, get_recipe

EXIT_USAGE = 2


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text}")
    return value


def _hparam(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    value: Any = raw
    for cast in (int, float):
        try:
            value = cast(raw)
            break
        except ValueError:
            continue
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training",
        description="Train pix2pix, CycleGAN, BGGAN or DenseDepth (see training/__init__.py).",
    )
    p.add_argument("method", help=f"one of: {', '.join(RECIPES)}")
    p.add_argument("--data", help="training set folder (EBB!-layout, synthetic set, or NYU)")
    p.add_argument(
        "--dataset",
        choices=("ebb", "synth", "nyu"),
        help="kind of --data (default: ebb for the GANs, nyu for densedepth)",
    )
    p.add_argument("--split", default="train", help="split of --data (default: train)")
    p.add_argument(
        "--preset",
        choices=("full", "demo"),
        default="full",
        help="network sizes: full = published, demo = CPU-sized (default: full)",
    )
    p.add_argument("--epochs", type=_positive_int, help="epochs to train (default: the paper's)")
    p.add_argument("--steps", type=_positive_int, help="optimisation steps (overrides --epochs)")
    p.add_argument(
        "--batch-size", type=_positive_int, default=1, help="batch size per process (default: 1)"
    )
    p.add_argument(
        "--crop",
        type=_positive_int,
        help="random square crop side in pixels, 0 = whole images (default: 256)",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="resize images by this factor before cropping (default: 1)",
    )
    p.add_argument("--lr", type=float, help="learning rate (default: the paper's)")
    p.add_argument(
        "--hp",
        type=_hparam,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a hyper-parameter of the recipe (repeatable)",
    )
    p.add_argument(
        "--perceptual",
        choices=("vgg19", "none"),
        default="vgg19",
        help="BGGAN's VGG19 perceptual term (needs ImageNet weights; default: vgg19)",
    )
    _add_run_flags(p)
    return p


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    """Flags about the run rather than the model: seeds, checkpoints, devices, uploads."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="checkpoint folder (default: <data dir>/runs/METHOD)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument(
        "--save-every",
        type=_positive_int,
        default=1,
        help="save every N epochs, 0 = only at the end (default: 1)",
    )
    p.add_argument(
        "--save-every-steps",
        type=_positive_int,
        default=0,
        help="also save every N steps (default: off)",
    )
    p.add_argument("--log-every", type=int, default=10, help="log mean losses every N steps")
    p.add_argument("--workers", type=_positive_int, default=0, help="data-loading processes")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument(
        "--offline",
        action="store_true",
        help="never download ImageNet weights (VGG19, DenseNet-169)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--push-to-hub",
        metavar="REPO",
        help="upload the checkpoint folder to this Hugging Face model repo at the end",
    )


def options_from_args(args: argparse.Namespace, argv: Sequence[str]):
    return TrainOptions(
        method=args.method,
        data=args.data,
        dataset=args.dataset,
        split=args.split,
        preset=args.preset,
        epochs=args.epochs,
        steps=args.steps,
        batch_size=args.batch_size,
        crop=args.crop,
        scale=args.scale,
        lr=args.lr,
        hparams=dict(args.hp),
        perceptual=args.perceptual,
        seed=args.seed,
        out=args.out,
        resume=args.resume,
        save_every=args.save_every,
        save_every_steps=args.save_every_steps,
        log_every=args.log_every,
        device=args.device,
        amp=not args.no_amp,
        workers=args.workers,
        progress=not args.no_progress,
        push_to_hub=args.push_to_hub,
        command="python -m training " + " ".join(shlex.quote(a) for a in argv),
        download=not args.offline,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 for a user error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        get_recipe(args.method)  # unknown names fail before anything heavy happens
        result = train(options_from_args(args, argv))
    except BokehError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if result.rank == 0:
        last = result.history[-1] if result.history else {}
        losses = ", ".join(
            f"{k} {v:.4g}" for k, v in last.items() if k not in ("step", "epoch", "seconds")
        )
        print(
            f"{args.method}: {result.step} steps in {result.seconds:.1f} s; saved to "
            f"{result.out}" + (f"; last losses: {losses}" if losses else "")
        )
        if result.hub_url:
            print(f"uploaded: {result.hub_url}")
    return 0


__all__ = ["build_parser", "main"]

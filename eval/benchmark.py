"""Speed, as ratios against references measured in the same run, with the same thread count.

    python -m eval benchmark [--quick] [--strict] [--threads 1,2] [--repeats N] [--size WxH]

Every row names what it measures, the thread count of *both* sides, the median times, the
ratio, its target and whether the target is met (``ok`` / ``MISS``; rows without a target
are for information). ``--strict`` exits with status 1 when any target is missed.

- depth-lens on two scenes (``eval/bench_lens.py``: a synthetic one and the motorcycle's
  measured disparity) against ``scipy.ndimage.gaussian_filter(sigma=(10, 10, 0))``, at each
  thread count: target <= 1.0x; the paper's threshold Gaussian for information;
- the metrics (PSNR + SSIM + Gaussian SSIM, ``eval/bench_metrics.py``) against
  scikit-image at each thread count: target >= 10x faster, and equal within 1e-4;
- the app's PNG input and output (``eval/bench_png.py``) against Pillow, one thread on both
  sides, for information;
- unless ``--quick``: depth-lens PSNR against the exact reference (``tests/lens_reference.py``)
  on both scenes (target >= 54 dB); how depth-lens time grows with pixel count
  (512..3072 px wide at f/1.8, target exponent <= 1.05) and with blur radius (f/1.4, f/2.8,
  f/8 at 1536 px, target exponent <= 0.2); the web app's end-to-end time for a render and for
  Compare at 2048 px against the same calls in-process (``eval/bench_app.py``, target <= 1.2x);
  the generators' forward passes against ``torch.mm`` and a 1x1 convolution
  (``eval/bench_models.py``, for information).

Times are medians of ``--repeats`` alternating runs of subject and reference, after a warm-up
(at least :data:`eval.bench_metrics.METRIC_PAIRS` for the metrics, whose side of ours is short).
The header says when, on what machine and under what load (``os.getloadavg``) it ran: the
machine this project runs on is shared, and load from elsewhere slows both sides.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from eval import bench_app, bench_lens, bench_models, bench_png
from eval.bench_lens import SCENES
from eval.bench_metrics import METRIC_PAIRS, measure
from eval.timing import Timer, wall_timer

PIXEL_EXPONENT_MAX = 1.05
RADIUS_EXPONENT_MAX = 0.2
LENS_RATIO_MAX = 1.0
LENS_PSNR_MIN = 54.0
METRICS_SPEEDUP_MIN = 10.0
METRICS_DIFF_MAX = 1e-4
APP_RATIO_MAX = 1.2


@dataclass(frozen=True)
class Target:
    """``value <op> bound``, op one of ``"<="`` and ``">="``."""

    op: str
    bound: float

    def met(self, value: float) -> bool:
        if self.op == "<=":
            return value <= self.bound
        if self.op == ">=":
            return value >= self.bound
        raise ValueError(f"unknown target operator {self.op!r}")

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}"


@dataclass(frozen=True)
class Row:
    """One measurement: ``value`` (in ``unit``) is what ``target`` applies to."""

    name: str
    threads: str  # the thread count of both sides, e.g. "1 vs 1"
    value: float
    unit: str
    target: Target | None = None
    seconds: float | None = None
    reference_seconds: float | None = None
    reference: str = ""
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "ok" if self.target.met(self.value) else "MISS"


def missed(rows: Sequence[Row]) -> list[Row]:
    """The rows whose target is not met."""
    return [r for r in rows if r.verdict == "MISS"]


def exit_status(rows: Sequence[Row], *, strict: bool) -> int:
    """0, or 1 under ``strict`` when a target is missed."""
    return 1 if strict and missed(rows) else 0


def machine() -> str:
    """CPU model, logical cores, Python/torch versions."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} logical cores; Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )


def load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def lens_rows(
    width: int, height: int, threads: Sequence[int], repeats: int, timer: Timer
) -> list[Row]:
    rows = []
    for name in SCENES:
        scene = bench_lens.make_scene(name, width, height)
        for t in threads:
            r = bench_lens.lens_ratio(scene, threads=t, repeats=repeats, timer=timer)
            rows.append(
                Row(
                    f"depth-lens {width}x{height} {name}",
                    f"{t} vs {t}",
                    r["ratio"],
                    "x",
                    Target("<=", LENS_RATIO_MAX),
                    r["seconds"],
                    r["reference_seconds"],
                    "gaussian_filter sigma 10",
                )
            )
        if name == "bench":
            r = bench_lens.gauss_ratio(scene, repeats=repeats, timer=timer)
            rows.append(
                Row(
                    f"depth-gauss (paper) {width}x{height} {name}",
                    "1 vs 1",
                    r["ratio"],
                    "x",
                    None,
                    r["seconds"],
                    r["reference_seconds"],
                    "gaussian_filter sigma 10",
                )
            )
    return rows


def metric_rows(
    width: int, height: int, threads: Sequence[int], repeats: int, timer: Timer
) -> list[Row]:
    """The metrics' rows, at least :data:`eval.bench_metrics.METRIC_PAIRS` pairs each."""
    rows, worst = [], 0.0
    for t in threads:
        pairs = max(repeats, METRIC_PAIRS)
        m = measure(height=height, width=width, repeats=pairs, threads=t, timer=timer)
        worst = max(worst, *m["max_abs_diff"].values())
        rows.append(
            Row(
                f"psnr+ssim+ssim_gauss {width}x{height}",
                f"{t} vs {t}",
                m["ratio"],
                "x faster",
                Target(">=", METRICS_SPEEDUP_MIN),
                m["ours_s"],
                m["skimage_s"],
                "scikit-image",
            )
        )
    rows.append(
        Row("metrics max |ours - scikit-image|", "-", worst, "", Target("<=", METRICS_DIFF_MAX))
    )
    return rows


def png_rows(width: int, height: int, repeats: int, timer: Timer) -> list[Row]:
    r = bench_png.measure(size=(width, height), repeats=repeats, timer=timer)
    (dec, dec_ref), (enc, enc_ref) = r["times"]["decode"], r["times"]["encode"]
    size, mb = f"{width}x{height}", {k: f"{v / 1e6:.2f} MB" for k, v in r["bytes"].items()}
    return [
        Row(
            f"PNG upload decode {size} (load_image)",
            "1 vs 1",
            dec / dec_ref,
            "x",
            None,
            dec,
            dec_ref,
            "Pillow open + load",
        ),
        Row(
            f"PNG output encode {size} (pngout)",
            "1 vs 1",
            enc / enc_ref,
            "x",
            None,
            enc,
            enc_ref,
            "Pillow save, compress_level=1",
            f"{mb['ours']} vs {mb['pillow level 1']} (Pillow default {mb['pillow default']})",
        ),
    ]


def accuracy_rows(width: int, height: int) -> list[Row]:
    rows = []
    for name in SCENES:
        scene = bench_lens.make_scene(name, width, height)
        value = bench_lens.psnr_against_reference(scene)
        rows.append(
            Row(
                f"depth-lens PSNR {width}x{height} {name}",
                "-",
                value,
                "dB",
                Target(">=", LENS_PSNR_MIN),
                reference="tests/lens_reference.py",
            )
        )
    return rows


def growth_rows(repeats: int, timer: Timer) -> list[Row]:
    g = bench_lens.growth(repeats=repeats, timer=timer)
    sizes = ", ".join(f"{w}: {s:.2f}s" for w, s in zip(g["widths"], g["size_seconds"], strict=True))
    radii = ", ".join(
        f"f/{n:g} ({r:.0f}px): {s:.2f}s"
        for n, r, s in zip(g["fnumbers"], g["max_radius_px"], g["fnumber_seconds"], strict=True)
    )
    return [
        Row(
            "depth-lens time ~ pixels^k, motorcycle f/1.8",
            "1",
            g["pixel_exponent"],
            "k",
            Target("<=", PIXEL_EXPONENT_MAX),
            note=sizes,
        ),
        Row(
            "depth-lens time ~ radius^k, motorcycle 1536 px",
            "1",
            g["radius_exponent"],
            "k",
            Target("<=", RADIUS_EXPONENT_MAX),
            note=radii,
        ),
    ]


def app_rows(repeats: int) -> list[Row]:
    """The app rows swing more than the rest: Compare takes 5 pairs, the render
    :data:`eval.bench_app.RENDER_PAIRS`, measured against the render inside each call."""
    rows = []
    for r in bench_app.overhead(
        repeats=repeats, render_repeats=max(repeats, bench_app.RENDER_PAIRS)
    ):
        app, local = r["app_runs_s"], r.get("inside_runs_s", r["inprocess_runs_s"])
        spread = (
            f"{len(app)} pairs: app {min(app):.2f}-{max(app):.2f} s, "
            f"in-process {min(local):.2f}-{max(local):.2f} s"
        )
        rows.append(
            Row(
                r["name"],
                "app vs in-process",
                r["ratio"],
                "x",
                Target("<=", APP_RATIO_MAX),
                r["app_s"],
                r["inprocess_s"],
                r.get("reference", "the same call in-process"),
                "; ".join(x for x in (spread, r.get("note", "")) if x),
            )
        )
    return rows


def model_rows(threads: Sequence[int], repeats: int) -> list[Row]:
    rows = []
    for t in threads:
        result = bench_models.measure(size=512, repeats=repeats, threads=t)
        mm, conv = result["matmul"]["gflops"], result["conv1x1"]["gflops"]
        for g in result["generators"]:
            rows.append(
                Row(
                    f"{g['network']} forward 512x512",
                    str(t),
                    g["ratio"],
                    "of mm",
                    None,
                    g["seconds"],
                    None,
                    f"torch.mm {mm:.0f} GFLOP/s",
                    f"{g['gflops']:.0f} GFLOP/s = {g['ratio_conv1x1']:.2f} of a 1x1 "
                    f"conv ({conv:.0f} GFLOP/s)",
                )
            )
    return rows


def run(
    *,
    quick: bool = False,
    repeats: int = 5,
    width: int = 1536,
    height: int = 1024,
    threads: Sequence[int] = (1, 2),
    timer: Timer = wall_timer,
) -> list[Row]:
    """Every benchmark row (see the module docstring); ``quick`` keeps the ratio rows only."""
    rows = lens_rows(width, height, threads, repeats, timer)
    rows += metric_rows(width, height, threads, repeats, timer)
    rows += png_rows(width, height, repeats, timer)
    if not quick:
        rows += accuracy_rows(width, height)
        rows += growth_rows(max(1, min(repeats, 3)), timer)
        rows += app_rows(max(1, min(repeats, 5)))
        rows += model_rows(threads, max(1, min(repeats, 2)))
    return rows


def format_rows(rows: Sequence[Row]) -> str:
    def num(v: float | None) -> str:
        return "" if v is None else f"{v:.3f}s"

    lines = [
        f"{'benchmark':46s} {'threads':>17s} {'time':>8s} {'ref':>8s} {'value':>12s}  "
        "target   verdict  reference / note"
    ]
    for r in rows:
        value = f"{r.value:.3g} {r.unit}".strip() if r.value == r.value else "n/a"
        lines.append(
            f"{r.name:46s} {r.threads:>17s} {num(r.seconds):>8s} "
            f"{num(r.reference_seconds):>8s} {value:>12s}  {str(r.target or ''):8s} "
            f"{r.verdict:7s}  {'; '.join(x for x in (r.reference, r.note) if x)}"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per side (median)")
    parser.add_argument("--size", default="1536x1024", help="WxH of the ratio rows")
    parser.add_argument("--threads", default="1,2", help="thread counts, e.g. 1,2")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="only the ratio rows (no accuracy, growth, app or generator rows)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")


def main(
    args: argparse.Namespace, parser: argparse.ArgumentParser, *, timer: Timer = wall_timer
) -> int:
    """Run the benchmark for parsed ``args``; print the header, the rows and the verdict."""
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
        threads = [int(v) for v in args.threads.split(",")]
    except ValueError:
        parser.error(
            f"--size must look like 1536x1024 and --threads like 1,2; got "
            f"{args.size!r} and {args.threads!r}"
        )
    if min(threads) < 1 or width < 64 or height < 64:
        parser.error("thread counts must be >= 1 and the size at least 64x64")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{when}; {machine()}; load before {load()}")
    rows = run(
        quick=args.quick,
        repeats=max(1, args.repeats),
        width=width,
        height=height,
        threads=threads,
        timer=timer,
    )
    print(format_rows(rows))
    miss = missed(rows)
    print(
        f"load after {load()}; "
        + (
            f"{len(miss)} target(s) missed: " + ", ".join(f"{r.name} ({r.threads})" for r in miss)
            if miss
            else "every target met"
        )
    )
    return exit_status(rows, strict=args.strict)

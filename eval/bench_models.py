"""Generator throughput on this machine's CPU, as a fraction of its own matrix-multiply rate.

    python -m eval.bench_models [--size 512] [--repeats 3]     # prints a table and a JSON dict

For each generator the app serves (pix2pix U-Net 256, CycleGAN ResNet-9, BGGAN Glass-Net, in
their full published configurations with random weights: speed does not depend on the
weights), one forward pass on a 1x3xSxS input is timed (best of ``repeats`` after a warm-up)
and its FLOPs are counted with :class:`torch.utils.flop_counter.FlopCounterMode`. Two
references are timed in the same run with the same threads: ``torch.mm`` on two 2048x2048
float32 matrices (2 * 2048**3 FLOPs), and a 1x1 convolution (256 -> 256 channels on a 128x128
map, oneDNN's convolution path, which on CPUs runs faster than ``torch.mm``): the 1x1
convolution's rate is the practical ceiling for these networks' convolutions, so each network
is reported as a fraction of both.

FlopCounterMode counts the FLOPs of convolutions and matrix products (2 per multiply-add), not
of normalisation, activations or padding; those take time without being counted, which is part
of why a network reaches only a fraction of the matmul rate.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from bokeh.registry import get_network, method_specs
from eval.bench_lens import with_threads

# The generator of every translation method, in registry order.
GENERATORS = tuple(s.networks[0].name for s in method_specs(kind="translation", variants=False))
MATMUL_N = 2048
CONV1X1_CHANNELS = 256
CONV1X1_SIZE = 128


def _best(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_rate(n: int = MATMUL_N, repeats: int = 5) -> dict[str, float]:
    """This machine's float32 ``torch.mm`` rate on n x n matrices: ``{"gflops", "seconds",
    "flops"}`` (best of ``repeats``)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen)
    b = torch.randn(n, n, generator=gen)
    seconds = _best(lambda: torch.mm(a, b), repeats)
    flops = 2.0 * n**3
    return {"flops": flops, "seconds": seconds, "gflops": flops / seconds / 1e9}


def conv1x1_rate(
    channels: int = CONV1X1_CHANNELS, size: int = CONV1X1_SIZE, repeats: int = 5
) -> dict[str, float]:
    """This machine's float32 rate for a 1x1 convolution (``channels`` -> ``channels`` on a
    1 x channels x size x size input, inference): ``{"gflops", "seconds", "flops"}``."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(channels, channels, 1, bias=False).eval()
    x = torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(1))

    def forward():
        with torch.inference_mode():
            conv(x)

    seconds = _best(forward, repeats)
    flops = 2.0 * channels * channels * size * size
    return {"flops": flops, "seconds": seconds, "gflops": flops / seconds / 1e9}


def count_flops(model, x) -> int:
    """FLOPs of one forward pass of ``model`` on ``x`` (convolutions and matmuls)."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def generator_rate(name: str, *, size: int = 512, repeats: int = 3) -> dict[str, Any]:
    """Forward time and GFLOP/s of network ``name`` (default config, random weights) on a
    1x3x``size``x``size`` input in [-1, 1]."""
    if size < 256 or size % 256:
        raise ValueError(f"size must be a multiple of 256 (the U-Net 256 needs it); got {size}.")
    torch.manual_seed(0)
    model = get_network(name).build(None).eval()
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    flops = count_flops(model, x)

    def forward():
        with torch.inference_mode():
            model(x)

    seconds = _best(forward, repeats)
    return {
        "network": name,
        "label": get_network(name).label,
        "size": size,
        "flops": flops,
        "seconds": seconds,
        "gflops": flops / seconds / 1e9,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def measure(
    *,
    size: int = 512,
    repeats: int = 3,
    networks: tuple[str, ...] = GENERATORS,
    threads: int | None = None,
) -> dict[str, Any]:
    """Both reference rates, then each generator, then the references again (the better of
    each pair is kept, so that a burst of load from elsewhere does not flatter the networks).

    Returns ``{"matmul": {...}, "conv1x1": {...}, "generators": [{..., "ratio": gflops /
    matmul gflops, "ratio_conv1x1": gflops / 1x1 conv gflops}], "threads": n}``."""
    if threads is not None:
        with with_threads(threads):
            return measure(size=size, repeats=repeats, networks=networks)
    refs = [matmul_rate(repeats=5), conv1x1_rate(repeats=5)]
    rows = [generator_rate(name, size=size, repeats=repeats) for name in networks]
    again = [matmul_rate(repeats=5), conv1x1_rate(repeats=5)]
    mm, conv = (max(a, b, key=lambda r: r["gflops"]) for a, b in zip(refs, again, strict=True))
    for row in rows:
        row["ratio"] = row["gflops"] / mm["gflops"]
        row["ratio_conv1x1"] = row["gflops"] / conv["gflops"]
    return {"matmul": mm, "conv1x1": conv, "generators": rows, "threads": torch.get_num_threads()}


def benchmark_rows(
    *, size: int = 512, repeats: int = 3, result: dict[str, Any] | None = None
) -> list[dict]:
    """Rows for :func:`eval.benchmark.format_rows` (from ``result`` of :func:`measure`, or a new
    measurement): ``seconds`` is the forward pass, ``reference_seconds`` the time the measured
    matmul rate needs for the same FLOPs, so ``ratio`` (their quotient) says how many times
    slower than matmul speed the network runs."""
    result = result or measure(size=size, repeats=repeats)
    size = result["generators"][0]["size"]
    ref = result["matmul"]
    rows = []
    for g in result["generators"]:
        ideal = g["flops"] / (ref["gflops"] * 1e9)
        rows.append(
            {
                "benchmark": f"{g['network']} forward {size}x{size} (CPU)",
                "reference": f"torch.mm {MATMUL_N}^3 float32 at {ref['gflops']:.1f} GFLOP/s",
                "seconds": g["seconds"],
                "reference_seconds": ideal,
                "ratio": g["seconds"] / ideal,
                "target": f"{g['gflops']:.1f} GFLOP/s = {g['ratio']:.2f} of matmul "
                f"({g['flops'] / 1e9:.1f} GFLOP)",
            }
        )
    return rows


def format_result(result: dict[str, Any]) -> str:
    ref, conv = result["matmul"], result["conv1x1"]
    lines = [
        f"torch.mm {MATMUL_N}x{MATMUL_N} float32: {ref['gflops']:.1f} GFLOP/s; 1x1 conv "
        f"{CONV1X1_CHANNELS}->{CONV1X1_CHANNELS} on {CONV1X1_SIZE}x{CONV1X1_SIZE}: "
        f"{conv['gflops']:.1f} GFLOP/s ({result['threads']} threads)",
        f"{'network':18s} {'params':>8s} {'GFLOP':>8s} {'seconds':>8s} {'GFLOP/s':>8s} "
        f"{'of mm':>6s} {'of 1x1':>6s}",
    ]
    for g in result["generators"]:
        lines.append(
            f"{g['network']:18s} {g['parameters'] / 1e6:7.2f}M {g['flops'] / 1e9:8.1f} "
            f"{g['seconds']:8.3f} {g['gflops']:8.1f} {g['ratio']:6.2f} "
            f"{g['ratio_conv1x1']:6.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.bench_models",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--size", type=int, default=512, help="input side in pixels (a multiple of 256)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as set)")
    args = parser.parse_args(argv)
    result = measure(size=args.size, repeats=args.repeats, threads=args.threads)
    print(format_result(result))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

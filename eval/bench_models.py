"""Generator throughput on this machine's CPU, as a fraction of its own matrix-multiply rate.

    python -m eval.bench_models [--size 512] [--repeats 3]     # prints a table and a JSON dict

For each generator the app serves (pix2pix U-Net 256, CycleGAN ResNet-9, BGGAN Glass-Net, in
their full published configurations with random weights: speed does not depend on the
weights), one forward pass on a 1x3xSxS input is timed (best of ``repeats`` after a warm-up)
and its FLOPs are counted with :class:`torch.utils.flop_counter.FlopCounterMode`. The
reference is ``torch.mm`` on two 2048x2048 float32 matrices (2 * 2048**3 FLOPs), timed in the
same run with the same threads, so the ratio ``generator GFLOP/s / matmul GFLOP/s`` can be
compared across machines.

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

# The generator of every translation method, in registry order.
GENERATORS = tuple(s.networks[0].name for s in method_specs(kind="translation", variants=False))
MATMUL_N = 2048


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
    *, size: int = 512, repeats: int = 3, networks: tuple[str, ...] = GENERATORS
) -> dict[str, Any]:
    """Matmul rate, then each generator, then the matmul rate again (the better of the two is
    the reference, so that a burst of load from elsewhere does not flatter the networks).

    Returns ``{"matmul": {...}, "generators": [{..., "ratio": gflops / matmul gflops}],
    "threads": n}``."""
    ref = matmul_rate(repeats=5)
    rows = [generator_rate(name, size=size, repeats=repeats) for name in networks]
    again = matmul_rate(repeats=5)
    if again["gflops"] > ref["gflops"]:
        ref = again
    for row in rows:
        row["ratio"] = row["gflops"] / ref["gflops"]
    return {"matmul": ref, "generators": rows, "threads": torch.get_num_threads()}


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
    ref = result["matmul"]
    lines = [
        f"torch.mm {MATMUL_N}x{MATMUL_N} float32: {ref['gflops']:.1f} GFLOP/s "
        f"({result['threads']} threads)",
        f"{'network':18s} {'params':>8s} {'GFLOP':>8s} {'seconds':>8s} {'GFLOP/s':>8s} "
        f"{'of matmul':>9s}",
    ]
    for g in result["generators"]:
        lines.append(
            f"{g['network']:18s} {g['parameters'] / 1e6:7.2f}M {g['flops'] / 1e9:8.1f} "
            f"{g['seconds']:8.3f} {g['gflops']:8.1f} {g['ratio']:9.2f}"
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
    args = parser.parse_args(argv)
    result = measure(size=args.size, repeats=args.repeats)
    print(format_result(result))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

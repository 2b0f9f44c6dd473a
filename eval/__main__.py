"""``python -m eval benchmark``: speed ratios measured in one run (evaluation runs come later)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("benchmark", help="print speed ratios against references")
    bench.add_argument("--repeats", type=int, default=5)
    bench.add_argument("--size", default="1536x1024", help="WxH of the benchmark image")
    args = parser.parse_args(argv)
    if args.command == "benchmark":
        from eval.benchmark import format_rows, run

        try:
            width, height = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            parser.error(f"--size must look like 1536x1024, got {args.size!r}")
        print(format_rows(run(repeats=max(1, args.repeats), width=width, height=height)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

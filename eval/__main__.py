"""``python -m eval run | score | runs | benchmark``.

run        score methods on a dataset into a resumable run folder; prints the per-method
           summary and the folder (Ctrl-C cancels: rows are kept, ``--resume RUN_ID`` goes on)
score      score a folder of outputs against a folder of ground truth (CSV, mean row last)
runs       list the runs in the results directory, newest first
benchmark  speed ratios against references with the same threads, pass/fail per target
realbench  what the renderer does to real photos (VABD, Middlebury), against the targets

Exit status: 0 success, 1 a clear error (printed as one line), 2 bad arguments, 130 cancelled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from bokeh.errors import BokehError, UnknownMethodError
from bokeh.registry import get_method, list_methods
from eval import persist
from eval.benchmark import add_arguments as benchmark_arguments
from eval.benchmark import main as benchmark_main
from eval.datasets import SCORED_DATASETS
from eval.metric_table import METRICS
from eval.provenance import method_availability
from eval.realbench import main as realbench
from eval.runs import iter_evaluate
from eval.score import score_folders, to_csv
from eval.store import get_run, list_runs, run_summary


def format_summary(summary) -> str:
    """A fixed-width text table of a run summary (method, n, metrics, seconds)."""
    headers = ["method", "n", *(spec.label for spec in METRICS.values()), "s/image"]
    lines = []
    for _, r in summary.iterrows():
        n = f"{r['n']}/{r['n_images']}" + (f" ({r['n_errors']} failed)" if r["n_errors"] else "")
        cells = [str(r["method"]), n]
        for key, spec in METRICS.items():
            mean, std = spec.format(r[key]), spec.format(r[f"{key}_std"])
            cells.append(mean if std == "n/a" else f"{mean} ± {std}")
        secs = r["seconds"]
        cells.append("n/a" if secs != secs else f"{secs:.3f}")
        lines.append(cells)
    widths = [
        max(len(h), *(len(c[k]) for c in lines)) if lines else len(h) for k, h in enumerate(headers)
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [
            fmt.format(*headers),
            fmt.format(*("-" * w for w in widths)),
            *(fmt.format(*c) for c in lines),
        ]
    )


def _methods_and_settings(args) -> tuple[list[str] | None, dict | None]:
    """The methods to run (default: every available one, the others named on stderr) and the
    per-method settings the flags give."""
    methods = args.methods.split(",") if args.methods else None
    if not methods and not args.resume:
        methods = []
        for name in list_methods():
            ok, why = method_availability(name)
            if ok:
                methods.append(name)
            else:
                print(f"skipping {why}", file=sys.stderr)
    settings = None
    if args.input_fnumber is not None and methods:
        settings = {
            m: {"input_fnumber": args.input_fnumber}
            for m in methods
            if any(p.name == "input_fnumber" for p in get_method(m).params)
        }
    return methods, settings or None


def _follow(gen) -> tuple[str | None, str | None, str, int]:
    """Show a run's events as a progress bar (the first failure of each method as a line);
    return (run folder, run id, status, number of failed pairs). Ctrl-C cancels the run."""
    bar, run_dir, run_id, status, failures = None, None, None, "failed", 0
    failed_methods: set[str] = set()
    try:
        for event in gen:
            run_dir, run_id = event["run_dir"], event["run_id"]
            if event["event"] == "start":
                bar = tqdm(total=event["total"], initial=event["done"], file=sys.stderr,
                           unit="img", dynamic_ncols=True, desc=f"run {run_id}")  # fmt: skip
            elif event["event"] == "row":
                bar.update(1)
                bar.set_postfix_str(f"{event['method']} · {event['id']}", refresh=False)
                if event["error"]:
                    failures += 1
                    if event["method"] not in failed_methods:  # the first failure of each
                        failed_methods.add(event["method"])
                        tqdm.write(f"{event['method']} failed on {event['id']}: "
                                   f"{event['error']}", file=sys.stderr)  # fmt: skip
            else:
                status = event["status"]
    except KeyboardInterrupt:
        gen.close()  # marks the run cancelled if the interrupt came outside the generator
        status = "cancelled"
    finally:
        if bar is not None:
            bar.close()
    return run_dir, run_id, status, failures


def _run(args) -> int:
    methods, settings = _methods_and_settings(args)
    split = f"{args.split or 'all'}@{args.aperture}" if args.aperture else args.split
    gen = iter_evaluate(methods, args.dataset, split, limit=args.limit, results_dir=args.results,
                        resume=args.resume, root=args.root, settings=settings)  # fmt: skip
    run_dir, run_id, status, failures = _follow(gen)
    if run_dir is None:
        print("Cancelled before the run started.", file=sys.stderr)
        return 130
    print(format_summary(run_summary(run_dir)))
    if persist.enabled():  # BOKEH_RESULTS_REPO: keep the run there too
        persist.push_run(run_id, results_dir=args.results)
        persist.flush(timeout=300)
        print(persist.status(), file=sys.stderr)
    if status != "complete":
        state = get_run(run_id, args.results).status
        resume = f"python -m eval run --resume {run_id}"
        resume += f" --results {args.results}" if args.results else ""
        print(f"Run {run_id} is {state}; its rows are kept. Resume with: {resume}", file=sys.stderr)
    if failures:
        print(f"{failures} (method, image) pair(s) failed; see the error column of "
              "per_image.csv.", file=sys.stderr)  # fmt: skip
    print(run_dir)
    return 0 if status == "complete" else 130


def _score(args) -> int:
    report = score_folders(args.pred_dir, args.gt_dir)
    text = to_csv(report)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    for line in report.problems():
        print(f"warning: {line}", file=sys.stderr)
    if not report.rows:
        print("error: no pair could be scored.", file=sys.stderr)
        return 1
    if args.strict and report.problems():
        return 1
    return 0


def _runs(args) -> int:
    runs = list_runs(args.results)
    if not runs:
        print("No runs yet.", file=sys.stderr)
    for r in runs:
        print(f"{r.label}\t{r.path}")
    return 0


def _add_run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--dataset",
        choices=SCORED_DATASETS,
        default=None,
        help="synth (default; generated on first use), ebb (needs EBB_ROOT), vabm "
        "(real pairs in the VABM layout: --root, else the development copy) or "
        "pairs (a folder of original/ + bokeh/ pairs: --root)",
    )
    run.add_argument(
        "--split",
        default=None,
        help="synth: holdout (default), train; ebb: val294 (default), holdout100, "
        "train; vabm: all (default), train, test",
    )
    run.add_argument(
        "--aperture",
        choices=("1.8", "2.8", "8"),
        default=None,
        help="vabm: only the pairs shot at this f-number",
    )
    run.add_argument(
        "--input-fnumber",
        type=float,
        default=None,
        help="the inputs' own f-number for methods that take it (default: the "
        "dataset's: 16 for vabm and ebb)",
    )
    run.add_argument(
        "--methods",
        default=None,
        help="comma-separated method names (default: every registered method)",
    )
    run.add_argument("--limit", type=int, default=None, help="only the first N images")
    run.add_argument(
        "--results",
        default=None,
        help="results directory (default: $BOKEH_RESULTS_DIR or DATA_DIR/results)",
    )
    run.add_argument(
        "--resume",
        default=None,
        metavar="RUN_ID",
        help="continue a cancelled or killed run with its own settings",
    )
    run.add_argument(
        "--root",
        default=None,
        help="dataset folder (default: EBB_ROOT, or the generated synthetic holdout)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    benchmark_arguments(sub.add_parser("benchmark", help="speed against references, pass/fail"))

    real = sub.add_parser("realbench", help="real-photo benchmark (VABD, Middlebury)")
    real.add_argument(
        "--root", default=None, help="real photos (default: $BOKEH_REALDATA or ../shared/realdata)"
    )
    real.add_argument("--only", choices=("vabd", "middlebury"), default=None)
    real.add_argument("--json", default=None, help="also write every number to this file")

    run = sub.add_parser("run", help="score methods on a dataset (resumable run folder)")
    _add_run_arguments(run)

    score = sub.add_parser("score", help="score PRED_DIR against GT_DIR (matched by file name)")
    score.add_argument("pred_dir")
    score.add_argument("gt_dir")
    score.add_argument("--out", default=None, help="CSV file (default: stdout)")
    score.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when any id is missing, mismatched or unreadable",
    )

    runs = sub.add_parser("runs", help="list evaluation runs, newest first")
    runs.add_argument("--results", default=None)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    try:
        if args.command == "benchmark":
            return benchmark_main(args, parser)
        if args.command == "realbench":
            parts = (args.only,) if args.only else ("vabd", "middlebury")
            return realbench(args.root, parts=parts, json_out=args.json)
        if args.command == "run":
            if args.limit is not None and args.limit < 1:
                parser.error("--limit must be a positive number of images")
            return _run(args)
        if args.command == "score":
            return _score(args)
        return _runs(args)
    except UnknownMethodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BokehError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Where the web app's time goes in one ``/render_depth`` call, phase by phase.

    python -m eval.app_phases                 # 2048x2048, median of 12 calls
    python -m eval.app_phases --size 1024 683 --repeats 20

The app runs as a separate process (``app.main``, as ``python app.py`` runs it, through
:func:`eval.bench_app.serve_process`) and is called with ``gradio_client`` as
:mod:`eval.bench_app` calls it: the same photo, disparity map and settings. Timestamps (the
system's monotonic clock, shared by both processes) are taken at the edges of each step: in
this process, the client's uploads and downloads (``gradio_client``'s
``Endpoint._upload_file`` and ``_download_file``); in the app, gradio's
``Blocks.process_api`` and ``postprocess_data`` and our handler's steps (the photo's lookup,
the render, the PNG files), written to a file as they happen. Each printed line is the median
time from the previous edge to this one, so the lines add up to the call's time; the line
``render<`` is the render itself (as its ``total_seconds`` counts it), every other line is
the app's own part. The line ``download>`` (from gradio's reply to the client's first
download) includes ``gradio_client``'s wait: its job thread looks for the server's messages
every 50 ms, which a browser, reading the event stream itself, does not.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from gradio_client import client as gradio_client

from eval.bench_app import ROOT, client_for, predict_args, serve_process, write_inputs

# The app's process: app.main() with its steps wrapped, each edge appended to PHASES_FILE.
_SERVER = """
import functools, inspect, os, sys, time
sys.path.insert(0, {root!r})
import app
from bokeh import service

Blocks = app.gr.blocks.Blocks

log = open(os.environ["PHASES_FILE"], "a", buffering=1)

def timed(name, fn):
    def mark(edge):
        log.write(f"{{name}}{{edge}} {{time.perf_counter()}}\\n")
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def wrapper(*args, **kwargs):
            mark(">")
            try:
                return await fn(*args, **kwargs)
            finally:
                mark("<")
        return wrapper
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        mark(">")
        try:
            return fn(*args, **kwargs)
        finally:
            mark("<")
    return wrapper

for owner, attr, name in ((Blocks, "process_api", "gradio"),
                          (Blocks, "postprocess_data", "postprocess"),
                          (service, "load_photo", "photo"), (app, "render", "render"),
                          (app, "_png", "png")):
    setattr(owner, attr, timed(name, getattr(owner, attr)))
app.main()
"""

_CLIENT_STEPS = (("_upload_file", "upload"), ("_download_file", "download"))


def _timed(name: str, fn, events: list[tuple[str, float]]):
    """``fn`` appending (``name>``, t) and (``name<``, t) to ``events`` around each call."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        events.append((f"{name}>", time.perf_counter()))
        try:
            return fn(*args, **kwargs)
        finally:
            events.append((f"{name}<", time.perf_counter()))

    return wrapper


def _read_events(path: Path, seen: int) -> tuple[list[tuple[str, float]], int]:
    """The app's events written since the first ``seen`` lines, and the new count."""
    lines = path.read_text().splitlines()
    events = [(name, float(t)) for name, t in (line.split() for line in lines[seen:])]
    return events, len(lines)


def phases(*, size: tuple[int, int] = (2048, 2048), repeats: int = 12) -> dict[str, float]:
    """Median milliseconds from each timed edge to the next, in call order (``"total"`` last),
    over ``repeats`` calls after 3 warm-up calls."""
    for attr, _ in _CLIENT_STEPS:
        if not hasattr(gradio_client.Endpoint, attr):
            raise RuntimeError(f"gradio_client's Endpoint.{attr} is gone: update {__name__}")
    with tempfile.TemporaryDirectory(prefix="app-phases-") as tmp:
        workdir = Path(tmp)
        log = workdir / "phases.txt"
        log.touch()
        server = [sys.executable, "-c", _SERVER.format(root=str(ROOT))]
        events: list[tuple[str, float]] = []
        saved = {attr: getattr(gradio_client.Endpoint, attr) for attr, _ in _CLIENT_STEPS}
        try:
            for attr, name in _CLIENT_STEPS:
                setattr(gradio_client.Endpoint, attr, _timed(name, saved[attr], events))
            with serve_process(workdir, env={"PHASES_FILE": str(log)}, command=server) as (url, _):
                client = client_for(url)
                args = predict_args(write_inputs(workdir / "inputs", size))
                for _ in range(3):
                    client.predict(*args, api_name="/render_depth")
                seen = len(log.read_text().splitlines())
                gaps: dict[tuple[int, str], list[float]] = defaultdict(list)
                for _ in range(repeats):
                    events.clear()
                    start = time.perf_counter()
                    client.predict(*args, api_name="/render_depth")
                    end = time.perf_counter()
                    served, seen = _read_events(log, seen)
                    timeline = [("start", start), *sorted(events + served, key=lambda e: e[1]),
                                ("end", end)]  # fmt: skip
                    seen_names: Counter = Counter()
                    for i, ((_, before), (name, at)) in enumerate(itertools.pairwise(timeline)):
                        seen_names[name] += 1  # the second upload: upload#2>
                        label = (
                            name
                            if seen_names[name] == 1
                            else f"{name[:-1]}#{seen_names[name]}{name[-1]}"
                        )
                        gaps[(i, label)].append(1e3 * (at - before))
                    gaps[(len(timeline), "total")].append(1e3 * (end - start))
                client.close()
        finally:
            for attr, fn in saved.items():
                setattr(gradio_client.Endpoint, attr, fn)
    return {name: float(np.median(v)) for (_, name), v in sorted(gaps.items())}  # names unique


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, nargs=2, default=(2048, 2048), metavar=("W", "H"))
    parser.add_argument("--repeats", type=int, default=12)
    a = parser.parse_args(argv)
    result = phases(size=(a.size[0], a.size[1]), repeats=a.repeats)
    print(f"/render_depth {a.size[0]}x{a.size[1]}, medians of {a.repeats} calls, ms since the "
          "previous edge (name> starts a step, name< ends it):")  # fmt: skip
    for name, ms in result.items():
        print(f"  {name:<14} {ms:8.1f}")
    own = result["total"] - result["render<"]
    print(
        f"the app's own part: {own:.1f} ms of {result['total']:.1f} ms "
        f"({result['total'] / result['render<']:.2f}x the render)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

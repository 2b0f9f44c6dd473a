"""How long the first lens render of a new process takes, with and without the warm-up.

    python -m eval.bench_start [--size 1536x1024] [--repeats 3] [--new-machine]

Each case runs in a fresh Python process: it renders the motorcycle scene (app defaults, f/1.8)
twice, after :func:`bokeh.renderers.lens.warm_up` or without it, and reports the warm-up, the
first render and the second (a render in a process that has rendered before). numba keeps
compiled loops on disk; ``--new-machine`` points each process at an empty cache folder, as on a
new machine or a restarted Space. Medians over ``repeats`` processes per case.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from bokeh.renderers import lens, native
from eval.bench_lens import lens_kwargs, make_scene

def compiled():
    return sum(native.compiled_loops().values())

scene = make_scene("motorcycle", {width}, {height})
kwargs = lens_kwargs(scene)
out = {{"warm_up_s": 0.0}}
if {warm}:
    t = time.perf_counter(); lens.warm_up(); out["warm_up_s"] = time.perf_counter() - t
before = compiled()
for key in ("first_s", "second_s"):
    t = time.perf_counter()
    lens.render_lens(scene.image, scene.disparity, **kwargs)
    out[key] = time.perf_counter() - t
out["loops_loaded_by_renders"] = compiled() - before
print(json.dumps(out))
"""


def run_child(*, width: int, height: int, warm: bool, cache_dir: str | None) -> dict[str, float]:
    """One fresh process's times (see the module docstring); ``cache_dir``: numba's cache."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    code = _CHILD.format(root=str(ROOT), width=width, height=height, warm=bool(warm))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"the render process failed: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(
    *, size: tuple[int, int] = (1536, 1024), repeats: int = 3, new_machine: bool = False
) -> dict[str, Any]:
    """Median warm-up, first and second render times of fresh processes, with and without
    the warm-up (alternating), each with an empty numba cache when ``new_machine``."""
    width, height = size
    runs: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
    for _ in range(max(1, repeats)):
        for case in runs:
            with tempfile.TemporaryDirectory(prefix="bench-start-") as empty:
                runs[case].append(run_child(width=width, height=height, warm=case == "with",
                                            cache_dir=empty if new_machine else None))  # fmt: skip
    medians = {
        case: {key: float(np.median([r[key] for r in rs])) for key in rs[0]}
        for case, rs in runs.items()
    }
    return {"size": [width, height], "repeats": repeats, "new_machine": new_machine,
            "medians": medians, "runs": runs}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench_start", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--size", default="1536x1024", help="WxH of the scene")
    parser.add_argument("--repeats", type=int, default=3, help="processes per case (median)")
    parser.add_argument("--new-machine", action="store_true", help="an empty numba cache")
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size is WxH, e.g. 1536x1024; got {args.size!r}")
    result = measure(size=(width, height), repeats=args.repeats, new_machine=args.new_machine)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

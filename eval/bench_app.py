"""The web app's request latency against the same work done in-process, and a load test.

    python -m eval.bench_app                      # sequential latency, median of 5
    python -m eval.bench_app --overhead           # render and Compare at 2048x2048
    python -m eval.bench_app --load               # 16 clients x 5 renders at 1024x683

Both launch ``python app.py`` as a separate process on a free loopback port (results and data
in a temporary folder) and talk to it with ``gradio_client``, as any script would. The request
is the Depth + Blur endpoint ``/render_depth``: the physically based lens renderer at f/1.8 on
a 1024x683 photo (scikit-image's ``chelsea``, resized) with a disparity map uploaded beside
it, focused on the subject. The in-process reference is :func:`bokeh.service.render` on
the same decoded photo with the same settings, timed in this process while the server idles.

What the ratio contains: upload of the photo and the map, decoding, queueing, the render, PNG
encoding of the result and of the depth view, and the download (not the client's own TLS
set-up on a plain-HTTP URL: see :func:`client_for`). The app runs model work one
request at a time (``BOKEH_CONCURRENCY``, default 1, for 2 vCPUs), so under load most of a
request's latency is waiting in the queue: the load test reports the queue-inclusive p50/p95
and, separately, the wall time per request at full load (wall time / requests), which is what
throughput costs per render.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from gradio_client import Client, handle_file
from PIL import Image
from skimage import data, transform

from bokeh import service
from eval.timing import alternate, wall_timer

ROOT = Path(__file__).resolve().parents[1]
SIZE = (1024, 683)  # (width, height)
RENDER_PAIRS = 25  # the render's pairs in overhead(): 15 times quicker than Compare, noisier
METHOD = "depth-lens"
SETTINGS = {
    "depth_source": "file",
    "depth_kind": "disparity",
    "fnumber": 1.8,
    "band": 0.03,
    "blades": 0,
    "rotation": 0.0,
    "highlight_boost": 1.5,
}


# ----------------------------------------------------------------------------- inputs


def write_inputs(folder: str | os.PathLike, size: tuple[int, int] = SIZE) -> dict[str, Any]:
    """Write ``photo.png`` (chelsea resized to ``size`` = (w, h)) and ``disparity.png`` (16-bit:
    a ground plane receding upwards with the cat's head near) into ``folder``; return the
    paths and the focus point (on the head)."""
    width, height = size
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    photo = transform.resize(data.chelsea(), (height, width), anti_aliasing=True)
    photo_path = folder / "photo.png"
    Image.fromarray(np.clip(photo * 255 + 0.5, 0, 255).astype(np.uint8)).save(photo_path)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    disparity = 0.15 + 0.4 * yy / height
    head = ((xx - 0.42 * width) / (0.25 * width)) ** 2 + (
        (yy - 0.45 * height) / (0.4 * height)
    ) ** 2
    disparity[head < 1] = 0.85
    depth_path = folder / "disparity.png"
    Image.fromarray(np.round(disparity * 65535).astype(np.uint16)).save(depth_path)
    return {
        "photo": photo_path,
        "depth": depth_path,
        "focus": (0.42 * width, 0.45 * height),
        "size": (width, height),
    }


def predict_args(inputs: dict[str, Any]) -> tuple:
    """The positional arguments of ``/render_depth`` for ``inputs`` (see README)."""
    x, y = inputs["focus"]
    return (handle_file(str(inputs["photo"])), x, y, METHOD, SETTINGS,
            handle_file(str(inputs["depth"])))  # fmt: skip


def inprocess_times(inputs: dict[str, Any], repeats: int = 5) -> list[float]:
    """Wall times of :func:`bokeh.service.render` on the decoded photo (after a warm-up)."""
    photo = service.load_photo(str(inputs["photo"]))

    def once() -> float:
        start = time.perf_counter()
        service.render(photo, method=METHOD, focus=inputs["focus"], settings=SETTINGS,
                       depth_file=str(inputs["depth"]))  # fmt: skip
        return time.perf_counter() - start

    once()
    return [once() for _ in range(repeats)]


# ----------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_process(
    workdir: str | os.PathLike,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 180.0,
    command: list[str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``python app.py`` (or ``command``, which must serve the app) on a free loopback port
    until the block ends; yield (URL, process). Its output goes to ``workdir/server.log``;
    results and data go under ``workdir``; ``env`` adds to or overrides the child's
    environment. Stopped with SIGTERM (then SIGKILL)."""
    workdir = Path(workdir)
    port = _free_port()
    child_env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "BOKEH_DATA_DIR": str(workdir / "data"),
        "BOKEH_RESULTS_DIR": str(workdir / "results"),
        **(env or {}),
    }
    log_path = workdir / "server.log"
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command or [sys.executable, str(ROOT / "app.py")],
            cwd=ROOT,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"app.py exited ({proc.returncode}): "
                    f"{log_path.read_text(errors='replace')[-2000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not answer within {timeout:.0f} s")
            time.sleep(0.25)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@contextlib.contextmanager
def serve(
    workdir: str | os.PathLike, *, env: dict[str, str] | None = None, timeout: float = 180.0
) -> Iterator[str]:
    """:func:`serve_process`, yielding only the URL."""
    with serve_process(workdir, env=env, timeout=timeout) as (url, _):
        yield url


def client_for(url: str) -> Client:
    """A ``gradio_client.Client`` for the served app. On a plain ``http://`` URL (the loopback
    server here) certificate checks are off: there is no TLS to check, but gradio_client would
    otherwise build a TLS context, loading the CA bundle, for each of the five or six requests of
    a call (about 30 ms each on 2 vCPUs), a cost of this client that no browser pays."""
    return Client(url, verbose=False, ssl_verify=not url.startswith("http://"))


def _check_output(result, size: tuple[int, int]) -> None:
    with Image.open(result[0]) as im:
        if im.format != "PNG" or im.size != tuple(size):
            raise AssertionError(f"expected a {size} PNG, got {im.format} {im.size}")


# ----------------------------------------------------------------------------- measurements


def app_latency(
    *, repeats: int = 5, size: tuple[int, int] = SIZE, workdir: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Sequential requests (one at a time, after a warm-up) against in-process time for the
    same render: medians and ``ratio`` = app median / in-process median."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-app-"))
        inputs = write_inputs(Path(workdir) / "inputs", size)
        url = stack.enter_context(serve(workdir))
        client = client_for(url)
        stack.callback(client.close)
        args = predict_args(inputs)
        _check_output(client.predict(*args, api_name="/render_depth"), inputs["size"])  # warm-up
        app_times = []
        for _ in range(repeats):
            start = time.perf_counter()
            client.predict(*args, api_name="/render_depth")
            app_times.append(time.perf_counter() - start)
        local = inprocess_times(inputs, repeats)
    app_median, local_median = float(np.median(app_times)), float(np.median(local))
    return {
        "size": inputs["size"],
        "repeats": repeats,
        "app_s": app_times,
        "inprocess_s": local,
        "app_median_s": app_median,
        "inprocess_median_s": local_median,
        "ratio": app_median / local_median,
    }


def load_test(
    *,
    clients: int = 16,
    requests: int = 5,
    size: tuple[int, int] = SIZE,
    workdir: str | os.PathLike | None = None,
    timeout: float = 900.0,
) -> dict[str, Any]:
    """``clients`` threads, each with its own ``gradio_client.Client``, send ``requests``
    renders one after another, all starting together. Every result is checked (a PNG of the
    photo's size). Returns counts, errors, latencies (queue included), p50/p95, the wall time,
    the wall time per request, the in-process median and the ratios of both to it."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-load-"))
        inputs = write_inputs(Path(workdir) / "inputs", size)
        local = inprocess_times(inputs, 5)
        url = stack.enter_context(serve(workdir))
        pool = [client_for(url) for _ in range(clients)]
        for c in pool:
            stack.callback(c.close)
        args = predict_args(inputs)
        _check_output(pool[0].predict(*args, api_name="/render_depth"), inputs["size"])
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(clients + 1)
        deadline = time.monotonic() + timeout

        def worker(client) -> None:
            barrier.wait()
            for _ in range(requests):
                if time.monotonic() > deadline:
                    with lock:
                        errors.append("not sent: the load test ran out of time")
                    continue
                start = time.perf_counter()
                try:
                    result = client.predict(*args, api_name="/render_depth")
                    _check_output(result, inputs["size"])
                except Exception as exc:  # counted, not raised: the report says what failed
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    latencies.append(time.perf_counter() - start)

        threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in pool]
        for t in threads:
            t.start()
        barrier.wait()
        start = time.perf_counter()
        for t in threads:
            t.join(max(1.0, deadline - time.monotonic()))
        wall = time.perf_counter() - start
    local_median = float(np.median(local))
    lat = np.asarray(latencies) if latencies else np.asarray([np.nan])
    per_request = wall / max(1, len(latencies))
    return {
        "clients": clients,
        "requests_per_client": requests,
        "size": inputs["size"],
        "expected": clients * requests,
        "completed": len(latencies),
        "errors": errors,
        "wall_s": wall,
        "p50_s": float(np.percentile(lat, 50)),
        "p95_s": float(np.percentile(lat, 95)),
        "max_s": float(np.max(lat)),
        "per_request_s": per_request,
        "inprocess_median_s": local_median,
        "p50_ratio": float(np.percentile(lat, 50)) / local_median,
        "per_request_ratio": per_request / local_median,
    }


def overhead(
    *,
    repeats: int = 3,
    render_repeats: int | None = None,
    size: tuple[int, int] = (2048, 2048),
    workdir: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """End-to-end time through the launched app (``gradio_client``, sequential, median) of
    ``/render_depth`` and of ``/compare`` (all five methods, the uploaded disparity as depth)
    on a ``size`` photo, against the same calls in-process (:func:`bokeh.service.render`,
    :func:`bokeh.service.compare` on the decoded photo; the app also decodes the upload and
    encodes and sends the PNGs). ``repeats`` pairs of each, in a random order (``render_repeats``
    of the render, which is 15 times quicker, when given). Returns one dict per call:
    ``name``, ``app_s``, ``inprocess_s``, ``ratio``, ``note`` (Compare's: the sum of its
    per-method times and the page faults of one in-process Compare, medians), ``app_runs_s``,
    ``inprocess_runs_s``. The render's ``ratio`` and ``inprocess_s`` are against the render's
    own time inside each app call (:func:`_against_inside`; ``inside_runs_s``)."""

    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-overhead-"))
        inputs = write_inputs(Path(workdir) / "inputs", size)
        url = stack.enter_context(serve(workdir))
        client = client_for(url)
        stack.callback(client.close)
        photo = service.load_photo(str(inputs["photo"]))
        depth, (x, y) = str(inputs["depth"]), inputs["focus"]
        cmp_settings = {"depth_source": "file", "depth_kind": "disparity"}
        cmp_args = (handle_file(str(inputs["photo"])), x, y, cmp_settings, handle_file(depth))

        inside: list[float] = []  # the render's own time inside each app call

        def app_render():
            result = client.predict(*predict_args(inputs), api_name="/render_depth")
            _check_output(result, inputs["size"])
            inside.append(result[2]["total_seconds"])

        def local_render():
            service.render(photo, method=METHOD, focus=(x, y), settings=SETTINGS, depth_file=depth)

        def app_compare():
            client.predict(*cmp_args, api_name="/compare")

        methods: list[float] = []
        faults: list[int] = []

        def local_compare():  # every other setting at its default, as in the app
            start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            tiles = list(
                service.compare(photo, focus=(x, y), settings=cmp_settings, depth_file=depth)
            )
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
            methods.append(sum(t.seconds or 0.0 for t in tiles))

        calls = (
            ("render_depth", app_render, local_render),
            ("compare", app_compare, local_compare),
        )
        pairs = (render_repeats or repeats, repeats)
        rows = [
            _paired(f"app /{name} {size[0]}x{size[1]}", app_fn, local_fn, n)
            for (name, app_fn, local_fn), n in zip(calls, pairs, strict=True)
        ]
        rows[0] = _against_inside(rows[0], inside[1:])
        rows[1]["note"] = (
            f"per-method times add to {np.median(methods[1:]):.2f} s; "
            f"{np.median(faults[1:]) / 1e6:.2f} million page faults in-process"
        )
    return rows


def _against_inside(row: dict[str, Any], inside: list[float]) -> dict[str, Any]:
    """The render row against the render's own time inside each app call (``total_seconds``
    of its JSON): both halves of each ratio come from one call, so load from other jobs hits
    both, where a render in this process runs seconds apart (0.8-1.4 s for the same render on
    a shared machine). The separate in-process calls stay in the note, as a cross-check."""
    ratios = [a / b for a, b in zip(row["app_runs_s"], inside, strict=True)]
    local = row["inprocess_s"]
    return {**row, "ratio": float(np.median(ratios)), "inprocess_s": float(np.median(inside)),
            "inside_runs_s": inside, "reference": "the render inside the same call",
            "note": f"separate in-process calls: median {local:.2f} s, "
                    f"{row['app_s'] / local:.2f}x"}  # fmt: skip


def _paired(name: str, app_fn, local_fn, repeats: int) -> dict[str, Any]:
    """Medians of app and in-process calls (:func:`eval.timing.alternate`: a warm-up of
    each, models loaded and caches filled on both sides, then pairs in a random order)."""
    app_t, local_t = alternate(app_fn, local_fn, repeats=repeats, timer=wall_timer, label=name)
    a, b = float(np.median(app_t)), float(np.median(local_t))
    return {"name": name, "app_s": a, "inprocess_s": b, "ratio": a / b, "note": "",
            "app_runs_s": app_t, "inprocess_runs_s": local_t}  # fmt: skip


def format_load(r: dict[str, Any]) -> str:
    w, h = r["size"]
    return "\n".join(
        [
            f"load: {r['clients']} clients x {r['requests_per_client']} renders at {w}x{h}: "
            f"{r['completed']}/{r['expected']} completed, {len(r['errors'])} errors, "
            f"wall {r['wall_s']:.1f} s",
            f"  latency (queue included): p50 {r['p50_s']:.2f} s, p95 {r['p95_s']:.2f} s, "
            f"max {r['max_s']:.2f} s; p50 / in-process = {r['p50_ratio']:.1f}x",
            f"  throughput: {r['per_request_s']:.3f} s per request at full load; "
            f"/ in-process = {r['per_request_ratio']:.2f}x",
            f"  in-process render median: {r['inprocess_median_s']:.3f} s",
        ]
    )


def format_latency(r: dict[str, Any]) -> str:
    w, h = r["size"]
    return (
        f"app /render_depth {w}x{h}, sequential median of {r['repeats']}: "
        f"{r['app_median_s']:.3f} s; in-process {r['inprocess_median_s']:.3f} s; "
        f"ratio {r['ratio']:.2f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.bench_app",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--load", action="store_true", help="run the load test")
    parser.add_argument(
        "--overhead",
        action="store_true",
        help="render and Compare at 2048x2048 through the app vs in-process",
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=5, help="renders per client")
    parser.add_argument("--repeats", type=int, default=5, help="sequential requests timed")
    parser.add_argument("--json", action="store_true", help="also print the raw numbers")
    args = parser.parse_args(argv)
    if args.load:
        result = load_test(clients=args.clients, requests=args.requests)
        print(format_load(result))
    elif args.overhead:
        result = overhead(repeats=args.repeats, render_repeats=max(args.repeats, RENDER_PAIRS))
        for r in result:
            print(
                f"{r['name']}: app {r['app_s']:.2f} s, in-process {r['inprocess_s']:.2f} s, "
                f"ratio {r['ratio']:.2f}x {r['note']}"
            )
            pairs = zip(r["app_runs_s"], r["inprocess_runs_s"], strict=True)
            print(
                "  pairs (app / in-process): " + ", ".join(f"{a:.2f} / {b:.2f}" for a, b in pairs)
            )
    else:
        result = app_latency(repeats=args.repeats)
        print(format_latency(result))
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

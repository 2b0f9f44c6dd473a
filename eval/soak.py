"""What a public deployment spends under sustained use: server memory over rounds of load,
and the disk its uploads take (during use and after it stops).

    python -m eval.soak memory                 # 4 rounds of 16 clients x 3 renders at 1024x683
    python -m eval.soak uploads --count 50     # 50 uploads of 20 MB, then stop the server
    python -m eval.soak peaks                  # the costliest inputs the limits let through
    python -m eval.soak idle                   # CPU an idle server takes (10 s, after 15 s)

Both launch ``python app.py`` as its own process on a free loopback port (everything in a
temporary folder, its gradio upload folder included) and talk to it over HTTP as any client
would. ``memory`` reads the server's resident memory (``VmRSS``) after each round and after
an idle pause; the renders are the Depth + Blur endpoint of :mod:`eval.bench_app`.
``uploads`` sends random (incompressible) files through ``/gradio_api/upload`` and reports the
bytes of the upload folder after the uploads and after the server stopped. ``peaks`` runs,
each in a fresh process, the most expensive work one request can ask for within the limits
(the largest photo, the largest depth map, a render at the long-side limit) and reports its
peak memory above the process's baseline and its time. ``idle`` reads the CPU time the
server's process spends while nobody uses it (gradio's own loops, the app's timers).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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
from gradio_client import Client
from PIL import Image
from skimage import data, transform

from eval.bench_app import predict_args, serve_process, write_inputs

ROOT = Path(__file__).resolve().parents[1]


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@contextlib.contextmanager
def serve(
    workdir: Path, env: dict[str, str] | None = None, timeout: float = 180.0
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python app.py`` on a free loopback port (:func:`eval.bench_app.serve_process`), its
    data, results and gradio upload folder under ``workdir``, no Depth Anything download;
    yields (URL, process) and stops it (SIGTERM) at the end."""
    own = {"BOKEH_DEPTH_ANYTHING_REPO": "none", "GRADIO_TEMP_DIR": str(workdir / "gradio")}
    with serve_process(workdir, env={**own, **(env or {})}, timeout=timeout) as served:
        yield served


def _round(url: str, inputs: dict[str, Any], clients: int, requests: int) -> list[str]:
    """``clients`` threads (a gradio_client session each) send ``requests`` renders each."""
    errors: list[str] = []
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="soak-downloads-") as downloads:

        def work() -> None:
            client = Client(url, verbose=False, download_files=downloads)
            try:
                for _ in range(requests):
                    try:
                        client.predict(*predict_args(inputs), api_name="/render_depth")
                    except Exception as exc:  # counted, not raised
                        with lock:
                            errors.append(f"{type(exc).__name__}: {exc}"[:200])
            finally:
                client.close()

        threads = [threading.Thread(target=work, daemon=True) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return errors


def memory_rounds(
    *,
    rounds: int = 4,
    clients: int = 16,
    requests: int = 3,
    size: tuple[int, int] = (1024, 683),
    idle_s: float = 30.0,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Server RSS (MiB) at start, after each round of ``clients`` x ``requests`` renders, and
    after ``idle_s`` seconds of idle."""
    with tempfile.TemporaryDirectory(prefix="soak-memory-") as tmp:
        work = Path(tmp)
        inputs = write_inputs(work / "inputs", size)
        with serve(work, env) as (url, proc):
            start = rss_mib(proc.pid)
            after, errors = [], []
            for _ in range(rounds):
                errors += _round(url, inputs, clients, requests)
                after.append(rss_mib(proc.pid))
            time.sleep(idle_s)
            idle = rss_mib(proc.pid)
    return {
        "rounds": rounds,
        "clients": clients,
        "requests": requests,
        "size": size,
        "start_mib": start,
        "after_round_mib": after,
        "idle_mib": idle,
        "errors": errors,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) in seconds (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(
    *, settle_s: float = 15.0, seconds: float = 10.0, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """CPU seconds per second that the launched app spends with no request, measured over
    ``seconds`` after ``settle_s`` seconds (start-up and warm-up done)."""
    with tempfile.TemporaryDirectory(prefix="soak-idle-") as tmp:
        with serve(Path(tmp), env) as (_, proc):
            time.sleep(settle_s)
            before = cpu_seconds(proc.pid)
            time.sleep(seconds)
            used = cpu_seconds(proc.pid) - before
    return {"seconds": seconds, "cpu_s": used, "cpu_per_s": used / seconds}


def upload_leftovers(
    *, count: int = 50, mb: float = 20.0, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Upload ``count`` random files of ``mb`` MB each; bytes in the server's upload folder
    after the uploads and after the server stopped."""
    env = {"BOKEH_MAX_UPLOAD_MB": str(int(mb) + 1), **(env or {})}
    with tempfile.TemporaryDirectory(prefix="soak-uploads-") as tmp:
        work = Path(tmp)
        payload = work / "random.bin"
        payload.write_bytes(os.urandom(int(mb * 2**20)))
        refused = 0
        with serve(work, env) as (url, _proc):
            for _ in range(count):
                with open(payload, "rb") as fh:
                    r = httpx.post(f"{url}gradio_api/upload", files={"files": fh}, timeout=120)
                refused += r.status_code != 200
                payload.write_bytes(os.urandom(int(mb * 2**20)))  # a new file each time
            during = folder_bytes(work / "gradio")
        after = folder_bytes(work / "gradio")
    return {
        "count": count,
        "mb": mb,
        "refused": refused,
        "during_mib": during / 2**20,
        "after_stop_mib": after / 2**20,
    }


_PEAK_CASES = {
    "photo": (
        "decode the largest photo accepted (100 MP PNG, 10000x10000) to the 2048 px limit",
        "from bokeh import service; service.load_photo(INPUT)",
    ),
    "depth": (
        "read the largest depth map accepted (a .npz of 16 MP float32) for a 2048x1365 photo",
        "from bokeh.depth.files import load_depth_file; "
        "load_depth_file(INPUT, kind='disparity', size=(2048, 1365))",
    ),
    "render": (
        "depth-lens render at the limit (2048x1365, classical depth, f/1.8)",
        "from bokeh import service; import numpy as np; "
        "p = service.Photo(np.asarray(__import__('PIL.Image').Image.open(INPUT)"
        ".convert('RGB')), ()); "
        "service.render(p, method='depth-lens', focus=(1024, 682), "
        "settings={'depth_source': 'classical'})",
    ),
}


def _peak_inputs(folder: Path) -> dict[str, Path]:
    photo = folder / "huge.png"
    ramp = np.linspace(0, 255, 10000, dtype=np.float32).astype(np.uint8)
    Image.fromarray(np.broadcast_to(ramp, (10000, 10000))).save(photo, compress_level=1)
    depth = folder / "huge.npz"
    rows = np.linspace(0, 1, 3264, dtype=np.float32)[:, None]
    np.savez_compressed(depth, depth=np.broadcast_to(rows, (3264, 4896)).copy())
    render = folder / "render.png"

    cat = transform.resize(data.chelsea(), (1365, 2048), anti_aliasing=True)
    Image.fromarray((cat * 255 + 0.5).astype(np.uint8)).save(render)
    return {"photo": photo, "depth": depth, "render": render}


def peaks() -> list[dict[str, Any]]:
    """Peak resident memory (MiB above the resident memory after imports; Linux, the peak is
    reset first) and wall time of each case in :data:`_PEAK_CASES`, each in a fresh
    interpreter."""
    code = (
        "import json, sys, time; sys.path.insert(0, ROOT)\n"
        "import bokeh.service, bokeh.depth.files, numpy, PIL.Image, skimage, scipy.ndimage\n"
        "def status(key):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(key):\n"
        "            return int(line.split()[1]) / 1024\n"
        "open('/proc/self/clear_refs', 'w').write('5')  # resets the peak (VmHWM)\n"
        "base = status('VmRSS:')\n"
        "t = time.perf_counter()\n"
        "STEP\n"
        "dt = time.perf_counter() - t\n"
        "print(json.dumps({'peak_mib': status('VmHWM:') - base, 'seconds': dt}))\n"
    )
    out = []
    with tempfile.TemporaryDirectory(prefix="soak-peaks-") as tmp:
        inputs = _peak_inputs(Path(tmp))
        for name, (what, step) in _PEAK_CASES.items():
            script = code.replace("STEP", step.replace("INPUT", repr(str(inputs[name]))))
            script = script.replace("ROOT", repr(str(ROOT)))
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "BOKEH_DEPTH_ANYTHING_REPO": "none"}
            done = subprocess.run(
                [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=900
            )
            if done.returncode != 0:
                raise RuntimeError(f"{name}: {done.stderr[-1500:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            out.append(
                {
                    "case": name,
                    "what": what,
                    "input_mib": inputs[name].stat().st_size / 2**20,
                    **result,
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="what", required=True)
    mem = sub.add_parser("memory", help="server memory over rounds of renders")
    mem.add_argument("--rounds", type=int, default=4)
    mem.add_argument("--clients", type=int, default=16)
    mem.add_argument("--requests", type=int, default=3, help="renders per client per round")
    mem.add_argument("--idle", type=float, default=30.0, help="seconds idle at the end")
    up = sub.add_parser("uploads", help="disk taken by uploads, during use and after a stop")
    up.add_argument("--count", type=int, default=50)
    up.add_argument("--mb", type=float, default=20.0)
    sub.add_parser("peaks", help="peak memory and time of the costliest accepted inputs")
    idle = sub.add_parser("idle", help="CPU the server takes while nobody uses it")
    idle.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.what == "memory":
        r = memory_rounds(
            rounds=args.rounds, clients=args.clients, requests=args.requests, idle_s=args.idle
        )
        rounds = ", ".join(f"{v:.0f}" for v in r["after_round_mib"])
        print(
            f"server RSS (MiB): start {r['start_mib']:.0f}; after each round of "
            f"{r['clients']} x {r['requests']} renders at {r['size'][0]}x{r['size'][1]}: "
            f"{rounds}; after {args.idle:.0f} s idle {r['idle_mib']:.0f}; "
            f"errors {len(r['errors'])}"
        )
    elif args.what == "idle":
        r = idle_cpu(seconds=args.seconds)
        print(
            f"idle server: {r['cpu_s'] * 1000:.0f} ms of CPU over {r['seconds']:.0f} s "
            f"({100 * r['cpu_per_s']:.1f}% of one core)"
        )
    elif args.what == "peaks":
        for r in peaks():
            print(
                f"{r['case']}: {r['what']}: input {r['input_mib']:.1f} MiB, peak "
                f"+{r['peak_mib']:.0f} MiB, {r['seconds']:.1f} s"
            )
    else:
        r = upload_leftovers(count=args.count, mb=args.mb)
        print(
            f"{r['count']} uploads of {r['mb']:.0f} MB ({r['refused']} refused): upload "
            f"folder {r['during_mib']:.0f} MiB while running, {r['after_stop_mib']:.0f} MiB "
            "after the server stopped"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

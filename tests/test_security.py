"""Security of the launched app: the admin token gates evaluations over every HTTP route and
never leaks (pages, config, logs, messages, results); no endpoint reads a server file named by
a user; ``allowed_paths`` is empty; uploads have a size limit.

Checkpoints load only from safetensors: see tests/test_weights.py
(``test_pickle_suffix_is_refused``, ``test_pickle_disguised_as_safetensors_is_refused``,
``test_never_calls_torch_load``); not repeated here."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[1]
LENS = "depth-lens"
CLASSICAL = {"depth_source": "classical"}
# A per-run token that nothing else in the process could print by chance.
TOKEN = "adm-" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app with BOKEH_ADMIN_TOKEN set, a 1 MB upload limit and a tiny synthetic holdout."""
    from gradio_client import Client

    from bokeh.data import synth

    data = tmp_path_factory.mktemp("data")
    results = tmp_path_factory.mktemp("results")
    synth.generate(
        data / "synth" / synth.HOLDOUT_NAME,
        count=2,
        size=(96, 64),
        seed=7,
        split="holdout",
        progress=False,
    )
    mp = pytest.MonkeyPatch()
    for name, value in (
        ("BOKEH_ADMIN_TOKEN", TOKEN),
        ("BOKEH_MAX_UPLOAD_MB", "1"),
        ("BOKEH_DATA_DIR", str(data)),
        ("BOKEH_RESULTS_DIR", str(results)),
    ):
        mp.setenv(name, value)
    for name in ("EBB_ROOT", "BOKEH_EBB_REPO", "GRADIO_ALLOWED_PATHS"):
        mp.delenv(name, raising=False)
    import app

    kwargs = app.launch_kwargs()
    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **kwargs)
    client = Client(url, verbose=False)
    try:
        yield {
            "url": url,
            "client": client,
            "demo": demo,
            "kwargs": kwargs,
            "results": results,
            "data": data,
        }
    finally:
        client.close()
        demo.close()
        mp.undo()


def _runs(results: Path) -> list[Path]:
    runs = results / "runs"
    return sorted(runs.iterdir()) if runs.is_dir() else []


def _events(url: str, api: str, data: list, timeout: float = 60.0) -> tuple[str, str]:
    """POST to gradio's /call route and read the result stream: (last SSE event, its data)."""
    import httpx

    r = httpx.post(f"{url}gradio_api/call/{api}", json={"data": data}, timeout=timeout)
    if r.status_code != 200:
        return "http", f"{r.status_code} {r.text}"
    event_id = r.json()["event_id"]
    stream = httpx.get(f"{url}gradio_api/call/{api}/{event_id}", timeout=timeout).text
    return re.findall(r"^event: (\w+)\s*\ndata: (.*)$", stream, re.M)[-1]


def _fn_index(url: str, api_name: str) -> int:
    import httpx

    config = httpx.get(f"{url}config", timeout=30).json()
    [dep] = [d for d in config["dependencies"] if d.get("api_name") == api_name]
    return dep["id"]


def _queue_join(
    url: str, fn_index: int, data: list, timeout: float = 60.0, event_data=None
) -> dict:
    """The websocket-free queue protocol the page itself uses: join, then read the SSE stream
    until the job completes; returns the ``process_completed`` message."""
    import httpx

    session = secrets.token_hex(6)
    r = httpx.post(
        f"{url}gradio_api/queue/join",
        timeout=timeout,
        json={
            "data": data,
            "fn_index": fn_index,
            "session_hash": session,
            "event_data": event_data,
            "trigger_id": None,
        },
    )
    assert r.status_code == 200, r.text
    with httpx.stream(
        "GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=timeout
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: ") and '"process_completed"' in line:
                return json.loads(line[len("data: ") :])
    raise AssertionError("the queue stream ended without a result")


# ----------------------------------------------------------------------------- settings


def test_launch_settings(server):
    kwargs = server["kwargs"]
    assert kwargs["allowed_paths"] == []
    assert server["demo"].allowed_paths == []  # nothing of the server's disk is served
    assert kwargs["max_file_size"] == "1mb"  # from BOKEH_MAX_UPLOAD_MB
    assert "share" not in kwargs or kwargs["share"] is False


def test_run_history_is_off(server):
    """gradio 6 keeps a "run history" of every call's inputs in the browser's localStorage and
    shows it at /gradio_api/runs: with it on, the admin token typed into the Leaderboard form
    is stored in plain text on that computer (checked in chromium). It must be off."""
    import httpx

    assert server["kwargs"].get("run_history") is False
    assert httpx.get(f"{server['url']}gradio_api/runs", timeout=30).status_code == 404


# ----------------------------------------------------------------------------- the token


def test_evaluation_needs_the_token_through_gradio_client(server):
    from gradio_client.exceptions import AppError

    client = server["client"]
    for given in ("wrong-" + TOKEN[:6], None, TOKEN.upper()):
        with pytest.raises(AppError) as err:
            client.predict(["identity"], "synth", "", 1, given, api_name="/run_eval")
        message = str(err.value)
        assert "admin token" in message
        assert TOKEN not in message and TOKEN[4:] not in message
        assert given is None or given not in message
    assert _runs(server["results"]) == []  # nothing was started


def test_evaluation_needs_the_token_over_raw_http(server):
    """Every HTTP route that reaches the queue: /call, /run (direct), and /queue/join."""
    import httpx

    url, args = server["url"], [["identity"], "synth", "", 1]
    event, data = _events(url, "run_eval", [*args, "nope"])
    assert event == "error" and "admin token" in data and TOKEN not in data
    event, data = _events(url, "run_eval", [*args, None])
    assert event == "error" and "admin token" in data
    r = httpx.post(f"{url}gradio_api/run/run_eval", json={"data": [*args, ""]}, timeout=60)
    assert r.status_code != 200 and "admin token" in r.text and TOKEN not in r.text
    done = _queue_join(url, _fn_index(url, "run_eval"), [*args, "guess"])
    assert done["success"] is False
    assert "admin token" in json.dumps(done) and TOKEN not in json.dumps(done)
    assert _runs(server["results"]) == []


def test_token_never_appears_in_pages_logs_messages_or_results(server, caplog, capfd):
    """Run an evaluation with the right token (and fail one with a wrong one), with every
    logger at DEBUG: the token is in no log line, no output, no page, no result file."""
    import httpx

    caplog.set_level(logging.DEBUG)
    client, url = server["client"], server["url"]
    status, table, _, _ = client.predict(["identity"], "synth", "", 1, TOKEN, api_name="/run_eval")
    assert "complete" in status and "identity" in [row[0] for row in table["data"]]
    _events(url, "run_eval", [["identity"], "synth", "", 1, TOKEN[:-1]])
    out, err = capfd.readouterr()
    # the server did log the refusal (one line, a visitor's mistake)
    assert any(
        "refused: Starting an evaluation needs the admin token" in r.getMessage()
        for r in caplog.records
    )
    assert TOKEN not in caplog.text
    assert TOKEN not in out and TOKEN not in err
    for page in ("", "config", "gradio_api/info", "gradio_api/openapi.json"):
        r = httpx.get(f"{url}{page}", timeout=60)
        assert r.status_code in (200, 404), page
        assert TOKEN not in r.text, page
    [run] = _runs(server["results"])
    for path in server["results"].rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert (run / "run.json").is_file()


# ----------------------------------------------------------------------------- server files


def _file_data(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": Path(path).name}


SERVER_FILES = [
    "/etc/passwd",
    str(ROOT / "app.py"),
    str(ROOT / "assets/examples/motorcycle.png"),
    "../../../../etc/passwd",
]


@pytest.mark.parametrize("path", SERVER_FILES)
def test_no_endpoint_reads_a_server_path(server, path, tmp_path):
    """A FileData that names a file on the server (not one the user uploaded) is refused before
    our code sees it, for the photo, the depth map and the translation endpoints; nothing of the
    file comes back."""
    import httpx

    url = server["url"]
    secret_bits = ("root:x:", "import gradio", "IHDR")
    # An honest upload, to use where the other input needs a real file.
    photo = tmp_path / "p.png"
    Image.fromarray(np.full((32, 48, 3), 128, np.uint8)).save(photo)
    with open(photo, "rb") as fh:
        uploaded = httpx.post(f"{url}gradio_api/upload", files={"files": fh}, timeout=30).json()[0]
    honest = _file_data(uploaded)
    attempts = {
        "photo": ("render_depth", [_file_data(path), 5, 5, LENS, CLASSICAL, None]),
        "depth": ("render_depth", [honest, 5, 5, LENS, {"depth_source": "file"}, _file_data(path)]),
        "pix2pix": ("render_pix2pix", [_file_data(path)]),
        "plain string": ("render_depth", [path, 5, 5, LENS, CLASSICAL, None]),
    }
    for what, (api, data) in attempts.items():
        event, payload = _events(url, api, data)
        assert event in ("error", "http"), (what, event, payload)
        assert not any(bit in payload for bit in secret_bits), (what, payload)
    # The honest upload itself works, so the refusals above were about the path.
    event, payload = _events(url, "render_depth", [honest, 5, 5, LENS, CLASSICAL, None])
    assert event == "complete", payload


def test_evaluation_split_is_not_a_path(server):
    """run_eval's free-text split names a split, never a folder: a path is refused."""
    from gradio_client.exceptions import AppError

    for split in ("../../../../etc", "/etc/passwd", str(ROOT / "assets")):
        with pytest.raises(AppError) as err:
            server["client"].predict(["identity"], "synth", split, 1, TOKEN, api_name="/run_eval")
        message = str(err.value)
        assert "split" in message.lower() and "root:x:" not in message
        assert "Traceback" not in message


@pytest.mark.parametrize("path", SERVER_FILES[:3])
def test_file_route_serves_no_server_file(server, path):
    import httpx

    r = httpx.get(f"{server['url']}gradio_api/file={path}", timeout=30)
    assert r.status_code in (403, 404)
    assert "root:" not in r.text and "import gradio" not in r.text


# ----------------------------------------------------------------------------- uploads


def test_uploads_over_the_limit_are_refused(server, tmp_path):
    """BOKEH_MAX_UPLOAD_MB=1: a 2.4 MB PNG is refused (client and raw upload), a small one
    goes through."""
    import httpx
    from gradio_client import handle_file

    rng = np.random.default_rng(0)
    big = tmp_path / "noise.png"
    Image.fromarray(rng.integers(0, 256, (900, 900, 3), dtype=np.uint8)).save(big)
    assert os.path.getsize(big) > 2 * 2**20
    with pytest.raises(Exception, match="maximum") as err:
        server["client"].predict(
            handle_file(str(big)), 5, 5, LENS, CLASSICAL, None, api_name="/render_depth"
        )
    assert "Traceback" not in str(err.value)
    with open(big, "rb") as fh:
        r = httpx.post(f"{server['url']}gradio_api/upload", files={"files": fh}, timeout=60)
    assert r.status_code == 413
    small = tmp_path / "small.png"
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(small)
    out, _, _ = server["client"].predict(
        handle_file(str(small)), 5, 5, LENS, CLASSICAL, None, api_name="/render_depth"
    )
    assert Image.open(out).size == (96, 64)


# ----------------------------------------------------------------------------- issue #12


def _upload(url: str, path) -> str:
    import httpx

    with open(path, "rb") as fh:
        r = httpx.post(f"{url}gradio_api/upload", files={"files": fh}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()[0]


def _probes(tmp_path: Path) -> list:
    """File references an attacker would try: an image, a text file, a folder and a missing
    file outside the upload folder, the server's own files, a data: URL, with and without
    gradio's meta marker."""
    import base64
    import io

    secret = tmp_path / "secret.png"
    Image.fromarray(np.full((20, 30, 3), (17, 99, 201), np.uint8)).save(secret)
    text = tmp_path / "notes.txt"
    text.write_text("a server file " * 20)
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 9, np.uint8)).save(buf, "PNG")
    data_url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    paths = [secret, tmp_path / "missing.png", tmp_path, text, Path("/etc/passwd"), ROOT / "app.py"]
    return (
        [{"path": str(p)} for p in paths]
        + [_file_data(str(secret))]
        + [{"path": None, "url": data_url}, {"path": str(secret), "url": data_url}]
    )


def test_upload_and_example_events_take_only_uploaded_files(server, tmp_path):
    """Issue #12, item 1: the photo's upload event (preprocess=False) and the example event,
    driven through the queue protocol with a forged file reference, answer one and the same
    line whatever the path (nothing to tell a missing file from a folder or a text file),
    and send nothing back; an honest upload still works."""
    from bokeh.webguard import FILE_REFUSED

    url = server["url"]
    for api, make in (("on_upload", lambda p: [p]), ("example_session", lambda p: [p, 3, 3])):
        fn = _fn_index(url, api)
        for probe in _probes(tmp_path):
            done = _queue_join(url, fn, make(probe))
            assert done["success"] is False, (api, probe)
            assert done["output"]["error"] == FILE_REFUSED, (api, probe, done["output"])
            assert "data" not in done["output"]
    photo = tmp_path / "honest.png"
    Image.fromarray(np.full((24, 36, 3), 77, np.uint8)).save(photo)
    done = _queue_join(url, _fn_index(url, "on_upload"), [_file_data(_upload(url, photo))])
    assert done["success"] is True, done


def test_no_event_takes_a_file_that_was_not_uploaded(server, tmp_path):
    """Issue #12, item 1: every event with a file input (public or private) refuses a server
    file in each file slot, with the same message."""
    import httpx

    from bokeh.webguard import FILE_REFUSED

    url = server["url"]
    secret = _probes(tmp_path)[0]
    config = httpx.get(f"{url}config", timeout=30).json()
    kinds = {c["id"]: c["type"] for c in config["components"]}
    tried = []
    for dep in config["dependencies"]:
        slots = [
            k
            for k, cid in enumerate(dep["inputs"])
            if kinds.get(cid) in ("image", "file", "gallery", "imageslider")
        ]
        for k in slots:
            data = [None] * len(dep["inputs"])
            data[k] = secret
            done = _queue_join(url, dep["id"], data)
            assert done["success"] is False and done["output"]["error"] == FILE_REFUSED, (
                dep.get("api_name"),
                k,
                done,
            )
            tried.append(dep.get("api_name"))
    assert {"on_upload", "example_session", "render_depth", "compare", "render_pix2pix"} <= set(
        tried
    )


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def test_json_bodies_and_data_urls_are_bounded(server, tmp_path):
    """Issue #12, item 4: a JSON body with an 8 MB data: URL is refused with 413 before it is
    read (the server's memory does not grow by what four of them would take to parse); a
    small data: URL is refused as a file that was not uploaded."""
    import base64

    import httpx

    from bokeh.webguard import FILE_REFUSED

    url = server["url"]
    fn = _fn_index(url, "example_session")
    big = "data:image/png;base64," + base64.b64encode(os.urandom(6 << 20)).decode()
    body = json.dumps(
        {
            "data": [{"path": None, "url": big}, 3, 3],
            "fn_index": fn,
            "session_hash": secrets.token_hex(6),
        }
    ).encode()
    del big
    headers = {"content-type": "application/json"}
    before = _rss_mib()
    for route in ["gradio_api/queue/join"] * 4 + [
        "gradio_api/call/render_depth",
        "gradio_api/run/render_depth",
    ]:
        r = httpx.post(f"{url}{route}", content=body, headers=headers, timeout=60)
        assert r.status_code == 413, (route, r.status_code, r.text[:200])
        assert "limit" in r.text
    assert _rss_mib() - before < 48  # client and server share this process
    done = _queue_join(url, fn, [{"path": None, "url": _probes(tmp_path)[-1]["url"]}, 3, 3])
    assert done["output"]["error"] == FILE_REFUSED


def test_uploads_are_swept_by_age_and_size_and_deleted_at_shutdown(tmp_path, monkeypatch):
    """Issue #12, item 4: uploads no longer stay for ever. With a 1 MB cache and a 2 s age:
    the oldest uploads go when the cache would pass its size, the rest when they are older
    than the age, and whatever is left when the server stops."""
    import time

    monkeypatch.setenv("BOKEH_UPLOAD_CACHE_MB", "1")
    monkeypatch.setenv("BOKEH_UPLOAD_MAX_AGE_S", "2")
    monkeypatch.setenv("BOKEH_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("BOKEH_DATA_DIR", str(tmp_path / "data"))
    import app

    rng = np.random.default_rng(0)
    files = []
    for k in range(4):
        f = tmp_path / f"noise{k}.png"
        Image.fromarray(rng.integers(0, 256, (300, 500, 3), dtype=np.uint8)).save(f)
        files.append(f)
    assert all(400_000 < f.stat().st_size < 1 << 20 for f in files)
    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs())
    try:
        first = [Path(_upload(url, f)) for f in files[:3]]
        on_disk = [p for p in first if p.exists()]
        assert not first[0].exists() and first[2].exists()  # the oldest made room
        assert sum(p.stat().st_size for p in on_disk) <= 1 << 20
        deadline = time.monotonic() + 20
        while any(p.exists() for p in first) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert not any(p.exists() for p in first)  # older than 2 s: swept
        last = Path(_upload(url, files[3]))
        assert last.exists()
    finally:
        demo.close()
    deadline = time.monotonic() + 10
    while last.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not last.exists()  # deleted when the server stopped


@pytest.fixture(scope="module")
def space_layout(tmp_path_factory):
    """The app with its results folder outside the working directory and outside the temp
    dir (the README's /data/... layout on a Space; here a folder in the home directory,
    deleted afterwards), holding one scored run."""
    import shutil
    import tempfile

    from bokeh.data import synth
    from eval.runs import evaluate

    outside = Path(tempfile.mkdtemp(prefix=".bokeh-test-results-", dir=Path.home()))
    results, data = outside / "results", tmp_path_factory.mktemp("data")
    assert not str(outside).startswith((tempfile.gettempdir(), os.getcwd()))
    root = synth.generate(
        data / "synth" / synth.HOLDOUT_NAME,
        count=2,
        size=(96, 64),
        seed=7,
        split="holdout",
        progress=False,
    )
    mp = pytest.MonkeyPatch()
    for name, value in (("BOKEH_RESULTS_DIR", str(results)), ("BOKEH_DATA_DIR", str(data))):
        mp.setenv(name, value)
    try:
        run_dir = evaluate(["identity"], "synth", "holdout", root=root, results_dir=results)
        import app

        demo = app.build_demo()
        _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs())
        try:
            yield {"url": url, "run_id": run_dir.name, "results": results}
        finally:
            demo.close()
    finally:
        mp.undo()
        shutil.rmtree(outside, ignore_errors=True)


def _open_review(url: str, session: str, run_id: str) -> dict:
    """What the page does before "Show worst images": load the run list (page load), pick the
    run (fills the methods), then show the worst images."""
    assert _in_session(url, session, "refresh_leaderboard", ["comparable", None])["success"]
    assert _in_session(url, session, "_on_load", [])["success"]  # the metric choices
    assert _in_session(url, session, "review_methods", [run_id])["success"]
    return _in_session(url, session, "worst_gallery", [run_id, "identity", "psnr"])


def _in_session(url: str, session: str, api: str, data: list, event_data=None) -> dict:
    import httpx

    r = httpx.post(
        f"{url}gradio_api/queue/join",
        timeout=60,
        json={
            "data": data,
            "fn_index": _fn_index(url, api),
            "session_hash": session,
            "event_data": event_data,
            "trigger_id": None,
        },
    )
    assert r.status_code == 200, r.text
    with httpx.stream(
        "GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=60
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: ") and '"process_completed"' in line:
                return json.loads(line[len("data: ") :])
    raise AssertionError("the queue stream ended without a result")


def test_review_works_with_results_outside_the_working_and_temp_dirs(space_layout):
    """Issue #12, item 5: the Review tab shows a run's worst images and a picked image when
    the results folder is neither under the working directory nor the temp dir; no message
    names a server path."""
    url, run_id = space_layout["url"], space_layout["run_id"]
    session = secrets.token_hex(6)
    shown = _open_review(url, session, run_id)
    assert shown["success"] is True, json.dumps(shown)[:600]
    gallery = shown["output"]["data"][0]
    assert len(gallery) == 2
    picked = _in_session(
        url, session, "pick_review", [None, run_id], event_data={"index": 1, "value": None}
    )
    assert picked["success"] is True, json.dumps(picked)[:600]
    assert str(space_layout["results"]) not in json.dumps(shown) + json.dumps(picked)


def test_forged_events_get_one_clear_line(server, tmp_path, monkeypatch):
    """Issue #12, items 8 and 9 through the page's own protocol: a forged gallery click, a
    forged photo click, a 400-digit focus, text where a number goes and an aperture the
    renderer cannot draw each get one short line, with no server path and no Python type."""
    from bokeh.data import synth
    from eval.runs import evaluate

    results = tmp_path / "results"
    monkeypatch.setenv("BOKEH_RESULTS_DIR", str(results))  # read by the server per request
    run_id = evaluate(
        ["identity"],
        "synth",
        "holdout",
        results_dir=results,
        root=server["data"] / "synth" / synth.HOLDOUT_NAME,
    ).name
    url, session = server["url"], secrets.token_hex(6)
    assert _open_review(url, session, run_id)["success"]
    messages = {}
    done = _in_session(
        url, session, "pick_review", [None, run_id], event_data={"index": 99, "value": None}
    )
    messages["gallery click"] = done
    photo = tmp_path / "p.png"
    Image.fromarray(np.full((32, 48, 3), 128, np.uint8)).save(photo)
    uploaded_photo = _in_session(url, session, "on_upload", [_file_data(_upload(url, photo))])
    assert uploaded_photo["success"], json.dumps(uploaded_photo)
    messages["photo click"] = _in_session(
        url, session, "on_click", [None], event_data={"index": None, "value": None}
    )
    uploaded = _file_data(_upload(url, photo))
    fn = _fn_index(url, "render_depth")
    for what, data in {
        "400-digit focus": [uploaded, int("9" * 400), 5, LENS, CLASSICAL, None],
        "text for a number": [uploaded, 5, 5, LENS, {**CLASSICAL, "fnumber": "abc"}, None],
        "two blades": [uploaded, 5, 5, LENS, {**CLASSICAL, "blades": 2}, None],
        "settings not an object": [uploaded, 5, 5, LENS, "fnumber=2", None],
    }.items():
        messages[what] = _queue_join(url, fn, data)
    for what, done in messages.items():
        assert done["success"] is False, what
        text = done["output"]["error"]
        assert text and "\n" not in text and len(text) <= 300, (what, text)
        for leak in ("Error:", "Traceback", "index out of range", "pydantic", "/tmp", str(ROOT)):
            assert leak not in text, (what, text)
    assert "Pick one of the images" in messages["gallery click"]["output"]["error"]
    assert "fnumber must be a number" in messages["text for a number"]["output"]["error"]
    assert "blades must be 0 or 3 to 16" in messages["two blades"]["output"]["error"]
    assert "JSON object of named settings" in messages["settings not an object"]["output"]["error"]

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
    synth.generate(data / "synth" / synth.HOLDOUT_NAME, count=2, size=(96, 64), seed=7,
                   split="holdout", progress=False)
    mp = pytest.MonkeyPatch()
    for name, value in (("BOKEH_ADMIN_TOKEN", TOKEN), ("BOKEH_MAX_UPLOAD_MB", "1"),
                        ("BOKEH_DATA_DIR", str(data)), ("BOKEH_RESULTS_DIR", str(results))):
        mp.setenv(name, value)
    for name in ("EBB_ROOT", "BOKEH_EBB_REPO", "GRADIO_ALLOWED_PATHS"):
        mp.delenv(name, raising=False)
    import app

    kwargs = app.launch_kwargs()
    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **kwargs)
    client = Client(url, verbose=False)
    try:
        yield {"url": url, "client": client, "demo": demo, "kwargs": kwargs, "results": results,
               "data": data}
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


def _queue_join(url: str, fn_index: int, data: list, timeout: float = 60.0) -> dict:
    """The websocket-free queue protocol the page itself uses: join, then read the SSE stream
    until the job completes; returns the ``process_completed`` message."""
    import httpx

    session = secrets.token_hex(6)
    r = httpx.post(f"{url}gradio_api/queue/join", timeout=timeout, json={
        "data": data, "fn_index": fn_index, "session_hash": session, "event_data": None,
        "trigger_id": None})
    assert r.status_code == 200, r.text
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session},
                      timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: ") and '"process_completed"' in line:
                return json.loads(line[len("data: "):])
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
    status, table, _, _ = client.predict(["identity"], "synth", "", 1, TOKEN,
                                         api_name="/run_eval")
    assert "complete" in status and "identity" in [row[0] for row in table["data"]]
    _events(url, "run_eval", [["identity"], "synth", "", 1, TOKEN[:-1]])
    out, err = capfd.readouterr()
    assert caplog.records and err  # the server did log (the wrong token is refused on stderr)
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


SERVER_FILES = ["/etc/passwd", str(ROOT / "app.py"), str(ROOT / "assets/examples/motorcycle.png"),
                "../../../../etc/passwd"]


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
            server["client"].predict(["identity"], "synth", split, 1, TOKEN,
                                     api_name="/run_eval")
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
        server["client"].predict(handle_file(str(big)), 5, 5, LENS, CLASSICAL, None,
                                 api_name="/render_depth")
    assert "Traceback" not in str(err.value)
    with open(big, "rb") as fh:
        r = httpx.post(f"{server['url']}gradio_api/upload", files={"files": fh}, timeout=60)
    assert r.status_code == 413
    small = tmp_path / "small.png"
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(small)
    out, _, _ = server["client"].predict(handle_file(str(small)), 5, 5, LENS, CLASSICAL, None,
                                         api_name="/render_depth")
    assert Image.open(out).size == (96, 64)

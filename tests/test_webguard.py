"""bokeh.webguard on its own: which files a request may name, request-size limits, and the
upload cache's age and size bounds (the launched app is attacked in tests/test_security.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from bokeh import webguard
from bokeh.errors import FileNotAvailableError
from bokeh.webguard import (
    FILE_REFUSED,
    BodyLimit,
    CachedFile,
    FileGuard,
    UploadCache,
    plan_sweep,
)

# ----------------------------------------------------------------------------- FileGuard


@pytest.fixture
def guard_setup(tmp_path):
    cache = tmp_path / "cache"
    examples = tmp_path / "examples"
    uploaded = cache / "abc" / "photo.png"
    stray = cache / "def" / "other.png"  # in the cache folder, but not known to the server
    for f in (uploaded, stray, examples / "cat.png", tmp_path / "secret.png"):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"\x89PNG fake")
    known = [{str(uploaded)}]
    guard = FileGuard(known=lambda: known, cache_roots=lambda: [cache], public_dirs=[examples])
    return guard, uploaded, stray, examples, tmp_path


def test_guard_allows_known_uploads_and_examples_only(guard_setup):
    guard, uploaded, stray, examples, root = guard_setup
    assert guard.allowed(str(uploaded))
    assert guard.allowed(str(examples / "cat.png"))
    refused = [
        str(stray),
        str(root / "secret.png"),
        "/etc/passwd",
        str(root / "missing.png"),
        str(root),
        str(examples),
        str(uploaded.parent / ".." / "abc" / "photo.png"),
        "http://127.0.0.1/x.png",
        "data:image/png;base64,AAAA",
        "",
        "a\x00b",
        None,
        5,
    ]
    for path in refused:
        assert not guard.allowed(path), path


def test_guard_refuses_a_symlink_out_of_the_examples(guard_setup):
    guard, _, _, examples, root = guard_setup
    link = examples / "link.png"
    os.symlink(root / "secret.png", link)
    assert not guard.allowed(str(link))


def test_guard_checks_every_payload_with_one_message(guard_setup):
    guard, uploaded, stray, _, _ = guard_setup
    ok = {"path": str(uploaded), "meta": {"_type": "gradio.FileData"}}
    guard.check(ok, file_input=True)
    guard.check([ok, ok], file_input=True)
    guard.check(None, file_input=True)
    guard.check({"value": 3, "label": "x"})  # not a file payload
    guard.check("any text", file_input=False)  # a textbox value is not a path
    bad = [
        {"path": str(stray)},  # no meta: the bypass gradio leaves open with preprocess=False
        {"path": None, "url": "data:image/png;base64,AAAA"},
        {"path": str(uploaded), "url": "data:image/png;base64,AAAA"},
        {"url": "http://169.254.169.254/latest"},
        {"nested": [{"path": "/etc/passwd"}]},
    ]
    for value in bad:
        with pytest.raises(FileNotAvailableError) as err:
            guard.check(value)
        assert str(err.value) == FILE_REFUSED
    for value in (str(uploaded), 42, [str(uploaded)]):  # a file input takes payloads only
        with pytest.raises(FileNotAvailableError):
            guard.check(value, file_input=True)


# ----------------------------------------------------------------------------- BodyLimit


def _asgi_call(app, path: str, body: bytes, *, declared: bool = True, chunk: int = 1 << 16):
    """Run one POST through an ASGI app; return (status, response text)."""
    sent = []
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]

    async def receive():
        if chunks:
            part = chunks.pop(0)
            return {"type": "http.request", "body": part, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    headers = [(b"content-length", str(len(body)).encode())] if declared else []
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], text.decode()


def test_body_limit_refuses_declared_and_streamed_bodies():
    seen = {}

    async def inner(scope, receive, send):
        n = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RuntimeError("disconnected")
            n += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        seen["read"] = n
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    rooms = []
    app = BodyLimit(
        inner,
        upload_limit=lambda: 3000,
        json_limit=1000,
        before_upload=lambda scope, n: rooms.append(n),
    )
    status, text = _asgi_call(app, "/gradio_api/queue/join", b"x" * 999)
    assert status == 200 and seen["read"] == 999
    seen.clear()
    status, text = _asgi_call(app, "/gradio_api/queue/join", b"x" * 1001)
    assert status == 413 and "limit" in text and "read" not in seen  # never reached the app
    status, _ = _asgi_call(app, "/gradio_api/queue/join", b"x" * 5000, declared=False, chunk=500)
    assert status == 413 and "read" not in seen  # chunked: cut off once past the limit
    status, _ = _asgi_call(app, "/gradio_api/upload", b"x" * 2500)
    assert status == 200 and rooms == [2500]  # uploads: their own (larger) limit
    status, _ = _asgi_call(app, "/gradio_api/upload", b"x" * 3001)
    assert status == 413 and rooms == [2500]


# ----------------------------------------------------------------------------- upload cache


def test_plan_sweep_drops_old_files_then_the_oldest_over_the_cap():
    now = 1000.0
    files = [
        CachedFile("a", now - 500, 10),
        CachedFile("b", now - 50, 40),
        CachedFile("c", now - 40, 40),
        CachedFile("d", now - 10, 40),
    ]
    assert plan_sweep(files, now=now, max_age_s=100, max_bytes=1000) == ["a"]
    assert plan_sweep(files, now=now, max_age_s=100, max_bytes=80) == ["a", "b"]
    assert plan_sweep(files, now=now, max_age_s=100, max_bytes=80, incoming=40) == ["a", "b", "c"]
    assert plan_sweep(files, now=now, max_age_s=1000, max_bytes=1000) == []


def test_upload_cache_sweeps_by_age_and_size_and_clears(tmp_path):
    tracked = [set(), set()]
    paths = []
    for k in range(5):
        f = tmp_path / f"h{k}" / "f.bin"
        f.parent.mkdir()
        f.write_bytes(b"x" * 1000)
        os.utime(f, (time.time() - 100 * (5 - k),) * 2)  # h0 is the oldest
        tracked[k % 2].add(str(f))
        paths.append(f)
    kept = tmp_path / "example.png"
    kept.write_bytes(b"y" * 10_000)
    os.utime(kept, (0, 0))
    tracked[0].add(str(kept))
    cache = UploadCache(
        tracked=lambda: tracked, keep=lambda: {str(kept)}, max_age_s=350, max_bytes=2500
    )
    assert cache.sweep() == 3  # h0 by age (500 s), then h1, h2 until 2 files (2000 B) remain
    assert [p.exists() for p in paths] == [False, False, False, True, True]
    assert not (tmp_path / "h0").exists()  # gradio's one-file folder goes too
    assert kept.exists() and str(kept) in tracked[0]  # cached examples are never deleted
    assert str(paths[0]) not in tracked[0] | tracked[1]
    cache.make_room(1000)  # 2000 + 1000 > 2500: the oldest goes before the upload
    assert not paths[3].exists() and paths[4].exists()
    assert cache.clear() == 1 and not paths[4].exists() and kept.exists()


def test_upload_cache_lifespan_sweeps_on_schedule_and_clears_at_exit(tmp_path):
    f = tmp_path / "h" / "f.bin"
    f.parent.mkdir()
    f.write_bytes(b"x")
    tracked = [{str(f)}]
    cache = UploadCache(tracked=lambda: tracked, max_age_s=0.2, max_bytes=10**9, interval_s=0.1)

    async def run():
        async with cache.lifespan():
            await asyncio.sleep(0.6)
            gone_while_running = not f.exists()
            g = tmp_path / "h2" / "g.bin"
            g.parent.mkdir()
            g.write_bytes(b"x")
            tracked[0].add(str(g))
        return gone_while_running, g

    gone_while_running, g = asyncio.run(run())
    assert gone_while_running  # swept by age while the server ran
    assert not g.exists()  # everything left is deleted when the server stops


# ----------------------------------------------------------------------------- releasing memory


@pytest.fixture
def releases(monkeypatch):
    """Calls of release_free_memory, in order with what the test's work appends."""
    calls: list[str] = []
    monkeypatch.setattr(webguard, "release_free_memory", lambda: calls.append("release"))
    return calls


def _wait_for(condition, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_idle_release_waits_for_the_last_block_and_the_delay(releases):
    idle = webguard.IdleRelease(delay_s=0.3)
    with idle.working():
        with idle.working():  # two requests at once
            pass
        time.sleep(0.5)  # past the delay, but one block is still open
        assert releases == []
    assert releases == []  # the countdown starts now
    assert _wait_for(lambda: releases == ["release"])
    time.sleep(0.5)
    assert releases == ["release"]  # once per idle period


def test_idle_release_is_put_off_by_work_within_the_delay(releases):
    idle = webguard.IdleRelease(delay_s=0.4)
    for _ in range(4):  # back-to-back requests keep their pages
        with idle.working():
            time.sleep(0.05)
    assert releases == []
    assert _wait_for(lambda: releases == ["release"])


def test_a_countdown_of_an_earlier_idle_period_does_not_release(releases):
    idle = webguard.IdleRelease(delay_s=60.0)  # no countdown fires during the test
    with idle.working():
        pass
    first = idle._idle_since
    with idle.working():  # work came as the first countdown fired
        pass
    idle._release(first)
    assert releases == []
    idle._release(idle._idle_since)
    assert releases == ["release"]
    idle._timer.cancel()


def test_releasing_memory_counts_calls_and_errors_as_work(releases, monkeypatch):
    idle = webguard.IdleRelease(delay_s=0.05)
    monkeypatch.setattr(webguard, "idle_release", lambda: idle)

    def work(x):
        assert idle._busy == 1  # inside the block
        if x < 0:
            raise ValueError("negative")
        return 2 * x

    wrapped = webguard.releasing_memory(work)
    assert wrapped(3) == 6
    assert _wait_for(lambda: releases == ["release"])
    with pytest.raises(ValueError, match="negative"):
        wrapped(-1)
    assert _wait_for(lambda: releases == ["release"] * 2)
    assert wrapped.__wrapped__ is work  # gradio reads the handler's signature through it


def test_idle_release_delay_from_the_environment(monkeypatch):
    webguard.idle_release.cache_clear()
    monkeypatch.setenv("BOKEH_IDLE_RELEASE_S", "12")
    assert webguard.idle_release().delay_s == 12.0
    webguard.idle_release.cache_clear()
    monkeypatch.setenv("BOKEH_IDLE_RELEASE_S", "soon")
    assert webguard.idle_release().delay_s == webguard.DEFAULT_IDLE_RELEASE_S
    webguard.idle_release.cache_clear()


MALLOC_PROBE = """
import ctypes, resource, sys, threading
from bokeh import webguard
if sys.argv[1] == "tuned":
    assert webguard.tune_malloc()
libc = webguard._glibc()
libc.malloc.restype = ctypes.c_void_p
def work():
    for _ in range(6):  # a render's array, allocated, filled and freed on a worker thread
        block = libc.malloc(48 << 20)
        ctypes.memset(block, 1, 48 << 20)
        libc.free(ctypes.c_void_p(block))
def faults():
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start
faults()  # the first time maps and faults in the pages in any case
print(faults())
"""


@pytest.mark.skipif(webguard._glibc() is None, reason="glibc's mallopt is not available")
def test_tuned_malloc_reuses_a_worker_threads_large_blocks():
    """With glibc's defaults a worker thread's 48 MiB block is a fresh mapping every time
    (12,288 faults of 4 KiB each); tuned, it is the same heap pages again."""

    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", MALLOC_PROBE, mode], capture_output=True,
                             text=True, check=True, timeout=120)  # fmt: skip
        return int(out.stdout.split()[-1])

    pages = 6 * (48 << 20) // 4096
    assert faults("default") > 0.8 * pages
    assert faults("tuned") < 0.05 * pages

"""ZeroGPU: spaces.GPU wraps model work when the package is present, and nothing changes without."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fake_spaces(calls: list) -> types.ModuleType:
    module = types.ModuleType("spaces")

    def GPU(duration=60):  # noqa: N802 - the real decorator's name
        def decorate(fn):
            def wrapper(*args, **kwargs):
                calls.append((fn.__name__, duration))
                return fn(*args, **kwargs)

            return wrapper

        return decorate

    module.GPU = GPU
    return module


def test_without_spaces_the_function_is_returned_unchanged(monkeypatch):
    from bokeh import zerogpu

    monkeypatch.setitem(sys.modules, "spaces", None)  # import spaces -> ImportError

    def work(x):
        return x + 1

    assert zerogpu.gpu_task(work) is work
    assert not zerogpu.available()


def test_with_spaces_calls_go_through_its_decorator(monkeypatch):
    from bokeh import zerogpu

    calls: list = []
    monkeypatch.setitem(sys.modules, "spaces", _fake_spaces(calls))

    def work(x):
        """Doubles x."""
        return 2 * x

    wrapped = zerogpu.gpu_task(work, duration=90)
    assert wrapped is not work and zerogpu.available()
    assert wrapped(21) == 42
    assert calls == [("work", 90)]
    assert wrapped.__name__ == "work" and wrapped.__doc__ == "Doubles x."


def test_bad_duration_and_broken_spaces(monkeypatch, caplog):
    from bokeh import zerogpu

    with pytest.raises(ValueError, match="positive"):
        zerogpu.gpu_task(print, duration=0)
    broken = types.ModuleType("spaces")  # imports, but has no GPU decorator
    monkeypatch.setitem(sys.modules, "spaces", broken)
    assert zerogpu.gpu_task(print) is print


def test_app_model_work_runs_under_spaces_gpu(tmp_path):
    """With a `spaces` package on the path, the app's renders go through spaces.GPU; the
    decorator is applied at import (ZeroGPU's rule) and the result is the same as without."""
    (tmp_path / "spaces.py").write_text(
        textwrap.dedent("""
        CALLS = []
        def GPU(duration=60):
            def decorate(fn):
                def wrapper(*args, **kwargs):
                    CALLS.append(fn.__name__)
                    return fn(*args, **kwargs)
                return wrapper
            return decorate
    """)
    )
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        import app, spaces
        from bokeh import service
        assert app.render is not service.render
        photo = service.load_photo({str(ROOT / "assets/examples/cat.png")!r})
        app.render(photo, method="depth-gauss", focus=(175, 115),
                   settings={{"depth_source": "classical"}})
        print(spaces.CALLS)
    """)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "['render']"


def test_models_go_to_cuda_exactly_when_it_is_visible(monkeypatch):
    """Inside spaces.GPU a CUDA device becomes visible; every loader follows one rule."""
    import torch

    from bokeh.depth import anything
    from bokeh.devices import default_device
    from bokeh.pipelines import translate

    assert translate.default_device is default_device is anything.default_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device() == "cpu"

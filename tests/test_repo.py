"""Repository contracts: the README's commands are what CI runs; the layout is the agreed one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_test_command():
    ci_lines = [
        ln.strip()
        for ln in (ROOT / ".ci" / "run").read_text().splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    test_cmds = [c for c in _readme_commands() if "pytest" in c and "\n" not in c]
    assert len(test_cmds) == 1, test_cmds
    assert test_cmds[0] in ci_lines


def test_readme_starts_the_app():
    assert any("python app.py" in c for c in _readme_commands())


def test_top_level_layout():
    for name in (
        "app.py",
        "bokeh",
        "training",
        "eval",
        "assets",
        "tests",
        "requirements.txt",
        "README.md",
        ".ci/run",
        "pyproject.toml",
    ):
        assert (ROOT / name).exists(), name


def test_torch_pins():
    req = (ROOT / "requirements.txt").read_text().splitlines()
    assert "torch==2.14.1" in req and "torchvision==0.29.1" in req


def test_no_unsafe_loading_in_library_code():
    pattern = re.compile(r"torch\.load\(|pickle\.load|weights_only=False")
    offenders = [
        str(p)
        for d in ("bokeh", "eval", "training")
        for p in (ROOT / d).rglob("*.py")
        if pattern.search(p.read_text())
    ] + ([str(ROOT / "app.py")] if pattern.search((ROOT / "app.py").read_text()) else [])
    assert not offenders


def test_a_test_session_leaves_nothing_in_the_temp_dir(tmp_path):
    """Issue #12, item 11: gradio_client leaves an empty 40-hex-character folder in the temp
    dir for every file it downloads, and gradio leaves its upload folder; a test session
    (here: one test that launches the app and downloads its results) must leave nothing
    there."""
    import os
    import subprocess
    import sys

    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTEST_DEBUG_TEMPROOT", "GRADIO_EXAMPLES_CACHE", "GRADIO_TEMP_DIR")
    }
    env.update(TMPDIR=str(system_tmp), HF_HUB_OFFLINE="1")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_app.py::test_render_depth_endpoint",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert sorted(p.name for p in system_tmp.iterdir()) == []

"""Every room small: no module over 600 lines and no function over 80 lines outside tests."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _sources() -> list[Path]:
    files = [p for pkg in ("bokeh", "eval", "training") for p in (ROOT / pkg).rglob("*.py")]
    return sorted(files) + [ROOT / "app.py", *sorted((ROOT / "assets").glob("*.py"))]


def _too_long(path: Path, root: Path = ROOT) -> list[str]:
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(root)
    found = []
    if len(text.splitlines()) > MAX_MODULE_LINES:
        found.append(f"{rel}: {len(text.splitlines())} lines")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found.append(f"{rel}:{node.lineno} {node.name}(): {lines} lines")
    return found


def test_modules_and_functions_stay_small():
    assert len(_sources()) > 50
    assert [msg for path in _sources() for msg in _too_long(path)] == []


def test_the_size_check_sees_a_long_function_and_module(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    path = tmp_path / "probe.py"
    path.write_text(f"def long():\n{body}\n")
    assert _too_long(path, tmp_path) == ["probe.py:1 long(): 81 lines"]
    path.write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    assert _too_long(path, tmp_path) == [f"probe.py: {MAX_MODULE_LINES + 1} lines"]

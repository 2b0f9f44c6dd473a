"""The import graph of bokeh/, eval/, training/ and app.py: no cycles, imports at the top.

Edges are read from the source (AST): every ``import`` statement, and every lazy reference
``"module:attr"`` (``bokeh.lazy``, the one documented way light code names heavy code), so a
cycle cannot hide in a function body or a string.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bokeh import lazy

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bokeh", "eval", "training")
REF = re.compile(r"^((?:bokeh|eval|training)(?:\.\w+)+):([\w.]+)$")
# Optional third-party packages, imported inside the function that needs them (bokeh.lazy).
OPTIONAL = ("transformers", "spaces", "playwright", "pillow_heif", "psutil", "threadpoolctl")


def _files() -> list[Path]:
    return [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))] + [ROOT / "app.py"]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in _files()}


def _known(name: str) -> str | None:
    """The longest internal module that ``name`` (a module or module.attr) lies in."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in MODULES:
            return candidate
    return None


def _targets(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            here = module.split(".") if is_package else module.split(".")[:-1]
            here = here[: len(here) - node.level + 1]
            base = ".".join([*here, *([node.module] if node.module else [])])
        # "from pkg import sub" depends on pkg.sub (a module) or on pkg (a name in it)
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    return []


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _in_function(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return True
    return False


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, int, str]], list[str]]:
    """(edges, imports inside functions, lazy references)."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    nested, refs = [], []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = _parents(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = REF.match(node.value)
                if match and _known(match.group(1)):
                    refs.append(node.value)
                    edges[module].add(_known(match.group(1)))
                continue
            targets = _targets(node, module, path.name == "__init__.py")
            if targets and _in_function(node, parents):
                nested.append((module, node.lineno, ast.unparse(node)))
            for target in targets:
                dep = _known(target)
                if dep and dep != module:
                    edges[module].add(dep)
    return edges, nested, refs


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


GRAPH = _graph()


def test_the_import_graph_has_no_cycle():
    edges, _, _ = GRAPH
    assert len(edges) > 50  # the walk found the code
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_planted_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]


def test_internal_imports_sit_at_the_top_of_each_module():
    _, nested, _ = GRAPH
    internal_or_required = [
        (m, line, text) for m, line, text in nested
        if not any(re.search(rf"\b(import|from) {opt}\b", text) for opt in OPTIONAL)
    ]  # fmt: skip
    assert internal_or_required == []


@pytest.mark.parametrize("ref", sorted(set(GRAPH[2])))
def test_every_lazy_reference_resolves(ref):
    assert lazy.load(ref) is not None


def test_only_the_app_and_its_gradio_adapter_import_gradio():
    users = sorted(
        module for module, path in MODULES.items()
        if re.search(r"^\s*(import gradio|from gradio\b)", path.read_text(encoding="utf-8"), re.M)
    )  # fmt: skip
    assert users == ["app", "bokeh.webhooks"]


def test_layers_point_one_way():
    """app and training and eval import bokeh; bokeh imports none of them."""
    edges, _, _ = GRAPH
    upward = [(m, d) for m, ds in edges.items() if m.startswith("bokeh") for d in ds
              if not d.startswith("bokeh")]  # fmt: skip
    assert upward == []
    assert not [(m, d) for m, ds in edges.items() if m.startswith("eval") for d in ds
                if d.startswith(("training", "app"))]  # fmt: skip

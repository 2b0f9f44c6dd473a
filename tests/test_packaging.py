"""`pip install -e .` (README, Set up) installs every package the commands import."""

from __future__ import annotations

from pathlib import Path

import setuptools
import tomllib

import bokeh.version

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_build_finds_every_package_the_commands_import():
    conf = _pyproject()
    assert conf["build-system"]["build-backend"] == "setuptools.build_meta"
    include = conf["tool"]["setuptools"]["packages"]["find"]["include"]
    found = set(setuptools.find_packages(where=str(ROOT), include=include))
    for package in (
        "bokeh",
        "bokeh.methods",
        "bokeh.weights",
        "bokeh.pipelines",
        "eval",
        "training",
    ):
        assert package in found, package
    assert not {p for p in found if p.split(".")[0] in ("tests", "assets")}


def test_the_version_comes_from_the_package():
    conf = _pyproject()
    assert conf["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "bokeh.version.__version__"
    assert bokeh.version.__version__.count(".") >= 1

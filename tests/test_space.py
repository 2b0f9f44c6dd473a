"""Deploying as a Hugging Face Space: the README front matter and the documented settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def front() -> dict:
    match = re.match(r"---\n(.*?)\n---\n", README, flags=re.S)
    assert match, "README.md must start with the Space's YAML front matter"
    return yaml.safe_load(match.group(1))


def test_front_matter_has_what_a_gradio_space_needs(front):
    for key in (
        "title",
        "emoji",
        "sdk",
        "sdk_version",
        "app_file",
        "python_version",
        "license",
        "short_description",
        "models",
        "datasets",
    ):
        assert key in front, key
    assert front["sdk"] == "gradio"
    assert (ROOT / front["app_file"]).is_file()
    assert len(front["short_description"]) <= 60  # the Hub's limit
    assert len(front["title"]) <= 30


def test_versions_agree_with_the_project(front):
    gradio_req = next(
        Requirement(line)
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("gradio")
    )
    assert Version(str(front["sdk_version"])) in gradio_req.specifier
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"]["text"].lower() == front["license"]
    python = Version(str(front["python_version"]))
    assert python.major == 3 and python.minor == 11


def test_preloaded_depth_model_is_the_default_depth_repo(front, monkeypatch):
    from bokeh import config

    monkeypatch.delenv("BOKEH_DEPTH_ANYTHING_REPO", raising=False)
    repo, _ = config.depth_anything_repo()
    assert repo in front["models"]
    preload = [entry.split()[0] for entry in front["preload_from_hub"]]
    assert repo in preload
    files = next(e for e in front["preload_from_hub"] if e.startswith(repo)).split()[1]
    assert "model.safetensors" in files.split(",")  # safetensors, never the pickle .bin


def _settings_read_by_the_code() -> set[str]:
    names: set[str] = set()
    sources = [ROOT / "app.py", *(ROOT / "bokeh").rglob("*.py"), *(ROOT / "eval").rglob("*.py")]
    for path in sources:
        names |= set(re.findall(r"[\"'](BOKEH_[A-Z_]+)[\"']", path.read_text()))
    return names


def test_every_setting_the_code_reads_is_documented():
    names = _settings_read_by_the_code()
    assert {"BOKEH_ADMIN_TOKEN", "BOKEH_HUB_REPO", "BOKEH_RESULTS_REPO"} <= names
    missing = sorted(n for n in names if n not in README)
    assert not missing, f"not in README.md: {missing}"


def test_space_section_names_the_secrets():
    section = README[README.index("## Deploy as a Hugging Face Space") :]
    section = section[: section.index("\n## ", 3)]
    for name in (
        "BOKEH_ADMIN_TOKEN",
        "HF_TOKEN",
        "BOKEH_RESULTS_REPO",
        "BOKEH_HUB_REPO",
        "BOKEH_EBB_REPO",
    ):
        assert name in section, name
    assert "Secret" in section

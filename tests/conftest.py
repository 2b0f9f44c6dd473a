"""Small shared fixtures: seeded randomness and a textured test photo (no network, no files)."""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
import pytest

# Everything the tests and the servers they start put in the temp dir (gradio's uploads and
# cache, gradio_client's downloads, which it leaves behind in 40-hex-character folders,
# browser profiles, the example cache, pytest's tmp_path folders) goes into one folder per
# test session, deleted at the end. (tmp_path must stay inside the temp dir: gradio serves
# files a test hands it from there.)
_SYSTEM_TMPDIR = os.environ.get("TMPDIR")
SESSION_TMP = tempfile.mkdtemp(prefix="bokeh-tests-")
os.environ["TMPDIR"] = SESSION_TMP
tempfile.tempdir = None  # recomputed from TMPDIR on next use
# Gradio caches example outputs under the working directory; tests use a fresh folder per run
# (inherited by the servers they start), so a stale cache never answers for new code.
os.environ.setdefault("GRADIO_EXAMPLES_CACHE", tempfile.mkdtemp(prefix="bokeh-examples-"))
# The real Depth Anything model is never used by tests (not even from a developer's HF cache):
# depth source "auto" keeps its weights-free behaviour; tests/test_depth_anything.py builds a
# tiny model and sets these itself.
os.environ["BOKEH_DEPTH_ANYTHING_REPO"] = "none"
os.environ.pop("BOKEH_DEPTH_ANYTHING_DIR", None)
# Nothing in the tests pushes results anywhere unless a test sets this itself.
os.environ.pop("BOKEH_RESULTS_REPO", None)
os.environ.pop("SPACE_ID", None)  # tests run as a local install unless they say otherwise


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh seeded generator per test, so tests do not depend on their order."""
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """scikit-image's bundled "coffee" photo, area-downscaled to (256, 384, 3) float32 in [0, 1].

    Read-only: a function that writes into its input fails loudly instead of corrupting the
    fixture for the tests that follow.
    """
    from skimage import data, transform

    image = transform.resize(data.coffee(), (256, 384), anti_aliasing=True)
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    image.setflags(write=False)
    return image


@pytest.fixture(autouse=True, scope="session")
def _no_bundled_runs():
    """Tests see only the runs they make, not the reference runs shipped in assets/results."""
    import os

    old = os.environ.get("BOKEH_BUNDLED_RUNS")
    os.environ["BOKEH_BUNDLED_RUNS"] = "0"
    yield
    if old is None:
        os.environ.pop("BOKEH_BUNDLED_RUNS", None)
    else:
        os.environ["BOKEH_BUNDLED_RUNS"] = old


@pytest.fixture(autouse=True, scope="session")
def _session_temp_dir():
    """Delete this session's temp folder (see the top of this file) when the tests end."""
    yield
    shutil.rmtree(SESSION_TMP, ignore_errors=True)
    if _SYSTEM_TMPDIR is None:  # anything that runs at exit uses the system's temp dir again
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = _SYSTEM_TMPDIR
    tempfile.tempdir = None


@pytest.fixture(scope="module")
def client():
    """A gradio_client Client on the app launched in-process (one per test module)."""
    from gradio_client import Client

    import app

    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, **app.launch_kwargs())
    c = Client(url, verbose=False)
    yield c
    c.close()
    demo.close()

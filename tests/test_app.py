"""The Gradio app: built by a factory, nothing heavy at import, explicit API endpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "assets" / "examples"


def test_import_and_build_load_no_model():
    """Importing app.py and building the UI must not import torch (models load lazily)."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import app; app.build_demo(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


@pytest.fixture(scope="module")
def demo():
    import app

    return app.build_demo()


def test_app_builds_with_a_plot(demo):
    """gr.Plot imports `bokeh` (our package) and reads __version__: the app must still build."""
    import gradio as gr

    import bokeh

    assert isinstance(bokeh.__version__, str) and bokeh.__version__
    plots = [b for b in demo.blocks.values() if isinstance(b, gr.Plot)]
    assert plots, "the Leaderboard tab should hold a gr.Plot"
    config = plots[0].get_config()
    assert config["value"] is not None  # the reference scatter was serialised


def test_tabs_in_order(demo):
    import gradio as gr

    labels = [b.label for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert labels == [
        "Depth + Blur",
        "Pix2Pix",
        "CycleGAN",
        "BGGAN",
        "Compare",
        "Leaderboard",
        "Review",
    ]


def test_depth_tab_offers_the_depth_map_stored_in_the_photo(demo):
    import gradio as gr

    radios = [b for b in demo.blocks.values() if isinstance(b, gr.Radio)
              and b.label == "Depth source"]  # fmt: skip
    assert len(radios) == 1
    assert ("Depth map stored in the photo", "embedded") in radios[0].choices


def test_api_names_unique_and_render_depth_public(demo):
    names = [
        fn.api_name
        for fn in demo.fns.values()
        if getattr(fn, "api_visibility", "public") != "private" and fn.api_name
    ]
    assert "render_depth" in names
    assert len(names) == len(set(names))


@pytest.fixture(scope="module")
def client(demo):
    from gradio_client import Client

    import app

    _, url, _ = demo.launch(prevent_thread_lock=True, **app.launch_kwargs())
    c = Client(url, verbose=False)
    yield c
    c.close()
    demo.close()


def _render(client, image, x, y, *, method="depth-lens", source="file", depth=None, **settings):
    """/render_depth with named settings (the rest at their defaults)."""
    from gradio_client import handle_file

    return client.predict(
        handle_file(str(image)),
        x,
        y,
        method,
        {"depth_source": source, **settings},
        handle_file(str(depth)) if depth else None,
        api_name="/render_depth",
    )


def _laplacian_energy(a: np.ndarray) -> float:
    g = a.astype(np.float64).mean(axis=2)
    lap = g[1:-1, 1:-1] * 4 - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float((lap**2).mean())


@pytest.mark.app
def test_render_depth_endpoint(client):
    """Focus on the motorcycle with its measured disparity: it stays sharp, the far wall blurs."""
    out_path, depth_path, info = _render(
        client, EXAMPLES / "motorcycle.png", 300, 250, depth=EXAMPLES / "motorcycle_disparity.png"
    )
    src = np.asarray(Image.open(EXAMPLES / "motorcycle.png").convert("RGB"))
    out_img = Image.open(out_path)
    assert out_img.format == "PNG"
    out = np.asarray(out_img.convert("RGB"))
    assert out.shape == src.shape
    assert Image.open(depth_path).size == (src.shape[1], src.shape[0])
    assert info["depth_source"] == "file" and info["method"] == "depth-lens"
    assert info["total_seconds"] >= info["seconds"] > 0  # the whole render, and its method
    disp = np.asarray(Image.open(EXAMPLES / "motorcycle_disparity.png"), dtype=np.float64) / 65535
    near = disp > disp[250, 300] - 0.02
    far = disp < 0.3
    diff = np.abs(out.astype(int) - src.astype(int)).mean(axis=2)
    assert diff[near & (np.abs(disp - disp[250, 300]) < 0.02)].mean() < 2.0
    wall = (slice(0, 120), slice(0, 200))
    assert far[wall].mean() > 0.9
    assert _laplacian_energy(out[wall]) < 0.3 * _laplacian_energy(src[wall])


@pytest.mark.app
def test_render_depth_uses_the_depth_map_stored_in_the_photo(client, tmp_path):
    """A GDepth portrait JPEG (near left half, far right half, focus stored at the far end)
    through /render_depth with the named setting depth_source "embedded" and no focus point:
    the stored focus keeps the far half sharp and blurs the near half."""
    from tests import phone_photos as pp

    h, w = 48, 64
    pixels = (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)
    codes = np.zeros((h, w), np.uint8)
    codes[:, w // 2 :] = 255  # RangeInverse: 0 = near, 255 = far
    path = tmp_path / "portrait.jpg"
    path.write_bytes(pp.gdepth_jpeg(pixels, codes, focus=4.1))
    out_path, depth_path, info = _render(client, path, None, None, source="embedded",
                                         fnumber=1.4)  # fmt: skip
    assert info["depth_source"] == "embedded" and info["focus_stored"]
    assert "GDepth, RangeInverse" in info["depth_description"]
    photo = np.asarray(Image.open(path).convert("RGB")).astype(float)
    out = np.asarray(Image.open(out_path).convert("RGB")).astype(float)
    near, far = np.s_[:, 4 : w // 2 - 10], np.s_[:, w // 2 + 10 : -4]
    detail = lambda a: np.abs(np.diff(a, axis=1)).mean()  # noqa: E731
    assert detail(out[near]) < 0.5 * detail(photo[near])
    assert np.abs(out[far] - photo[far]).mean() < 3
    shown = np.asarray(Image.open(depth_path).convert("L")).astype(float)
    assert shown[near].mean() > shown[far].mean() + 100  # the stored map: bright = near


@pytest.mark.app
def test_a_resent_photo_is_decoded_once_per_session(client, monkeypatch):
    """The API keeps a session's last photo decoded; another session decodes its own."""
    from gradio_client import Client

    from bokeh import photos

    monkeypatch.setattr(photos, "_RECENT", photos.RecentPhoto())
    decoded = []
    real = photos.load_with_depth
    monkeypatch.setattr(
        photos, "load_with_depth", lambda *a, **k: decoded.append(1) or real(*a, **k)
    )
    photo = EXAMPLES / "motorcycle.png"
    for _ in range(2):
        _render(client, photo, 300, 250, method="depth-gauss", source="classical")
    assert len(decoded) == 1
    other = Client(client.src, verbose=False)
    try:
        _render(other, photo, 300, 250, method="depth-gauss", source="classical")
    finally:
        other.close()
    assert len(decoded) == 2


@pytest.mark.app
def test_unreadable_upload_is_a_clear_error_and_server_keeps_serving(client, tmp_path):
    from gradio_client.exceptions import AppError

    bad = tmp_path / "holiday.png"
    bad.write_text("this is not an image")
    with pytest.raises(AppError, match="Could not read the upload as an image"):
        _render(client, bad, 1, 1, source="classical")
    with pytest.raises(AppError, match="outside"):
        _render(client, EXAMPLES / "motorcycle.png", 5000, 10, source="classical")
    # Still serving: a valid request right after succeeds, with the paper's renderer.
    out_path, _, info = _render(
        client, EXAMPLES / "motorcycle.png", 300, 250, method="depth-gauss", source="classical"
    )
    assert info["method"] == "depth-gauss" and info["depth_source"] == "classical"
    assert Image.open(out_path).size == (741, 500)


class TestService:
    def test_focus_marker_is_drawn_at_the_focus(self):
        from bokeh.service import draw_focus

        pixels = np.full((100, 120, 3), 128, np.uint8)
        marked = draw_focus(pixels, (30, 70))
        changed = np.argwhere((marked != pixels).any(axis=2))
        assert changed.size and np.allclose(changed.mean(axis=0), (70, 30), atol=1.5)
        assert (pixels == 128).all()  # the input is not modified

    def test_clamp_focus(self):
        from bokeh.errors import BokehError
        from bokeh.service import Photo, clamp_focus

        photo = Photo(np.zeros((50, 80, 3), np.uint8), ())
        assert clamp_focus(photo, None, None) == (39.5, 24.5)
        assert clamp_focus(photo, -5, 500) == (0.0, 49.0)
        with pytest.raises(BokehError):
            clamp_focus(photo, "left", 3)

    def test_colorize_is_monotone_in_brightness(self):
        from bokeh.service import colorize_disparity

        ramp = np.linspace(0, 1, 50, dtype=np.float32)[None, :].repeat(3, 0)
        lum = colorize_disparity(ramp).astype(float).mean(axis=2)[0]
        assert (np.diff(lum) >= 0).all() and lum[-1] > lum[0] + 150

    def test_method_status_says_what_is_missing(self, monkeypatch, tmp_path):
        from bokeh.errors import UnknownMethodError
        from bokeh.service import method_status
        from bokeh.weights import resolve as wres

        with pytest.raises(UnknownMethodError, match="did you mean 'pix2pix'"):
            method_status("pix2px")
        assert method_status("depth-lens").runnable  # depth methods run without weights
        monkeypatch.setattr(wres, "_bundled_dir", lambda: tmp_path)  # no weights anywhere
        monkeypatch.delenv("BOKEH_WEIGHTS_DIR", raising=False)
        monkeypatch.delenv("BOKEH_HUB_REPO", raising=False)
        status = method_status("pix2pix")
        assert not status.runnable and "has no weights here" in status.message
        assert "pix2pix-unet: no weights" in status.message


def test_every_depth_control_offers_exactly_what_the_renderer_accepts(demo):
    """Issue #12, item 8: the page's controls allow exactly what the code accepts. Each slider
    spans its setting's declared range, and the renderer takes its ends (and every value of
    an integer setting); a setting whose range has holes (aperture blades: round, or 3 to
    16; the renderer refuses 1 and 2) is a dropdown of exactly its valid values."""
    import gradio as gr

    from bokeh.methods.depth_blur import GAUSS_PARAMS, LENS_PARAMS
    from bokeh.registry import load_method

    rng = np.random.default_rng(0)
    image = rng.random((24, 32, 3), dtype=np.float32)
    depth = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (24, 1))
    methods = {p.label: ("depth-lens", p) for p in LENS_PARAMS}
    methods.update({p.label: ("depth-gauss", p) for p in GAUSS_PARAMS})
    checked = set()
    for block in demo.blocks.values():
        method, p = methods.get(getattr(block, "label", None), (None, None))
        if p is None or p.kind not in ("int", "float") or block.interactive is False:
            continue
        if isinstance(block, gr.Dropdown):
            values = [v for _, v in block.choices]
            assert sorted(values) == sorted(p.allowed) and p.allowed, p.name
        else:
            assert isinstance(block, gr.Slider), p.name
            assert (block.minimum, block.maximum) == (p.minimum, p.maximum), p.name
            assert not p.allowed, f"{p.name}: a slider cannot leave out values"
            values = (
                [int(v) for v in np.arange(p.minimum, p.maximum + 1, p.step)]
                if p.kind == "int"
                else [p.minimum, (p.minimum + p.maximum) / 2, p.maximum]
            )
        for value in values:
            out = load_method(method)(image, focus=(10, 10), depth=depth, **{p.name: value})
            assert out.image.shape == image.shape, (p.name, value)
        checked.add(p.name)
    assert {
        "fnumber",
        "band",
        "blades",
        "rotation",
        "highlight_boost",
        "threshold",
        "sigma",
    } <= checked


def test_the_queue_looks_for_events_every_10_ms_not_every_1_ms(demo):
    """gradio's queue loop polled every 1 ms (the GIL taken a thousand times a second, during
    every render too; tests/test_soak.py measures the CPU); the app sets its interval."""
    from types import SimpleNamespace

    from bokeh import webhooks

    assert demo._queue.sleep_when_free == webhooks.QUEUE_POLL_S == 0.01
    assert webhooks.quiet_queue(SimpleNamespace()) is False  # a gradio without the setting


@pytest.mark.parametrize(("value", "expected"), [("0.001", 0.001), ("0.05", 0.05), ("", 0.01),
                                                 ("soon", 0.01), ("-1", 0.0), ("nan", 0.01)])  # fmt: skip
def test_the_queue_poll_interval_from_the_environment(monkeypatch, value, expected):
    from types import SimpleNamespace

    from bokeh import webhooks

    monkeypatch.setenv("BOKEH_QUEUE_POLL_S", value)
    queue = SimpleNamespace(sleep_when_free=0.001)
    assert webhooks.quiet_queue(SimpleNamespace(_queue=queue)) is True
    assert queue.sleep_when_free == expected


def test_start_up_compiles_the_renderer_before_the_first_visitor(monkeypatch):
    """main()'s warm-up thread compiles the lens renderer's loops (3 s on a new machine, see
    tests/test_render_native.py), the depth views' and the PNG reader's, before fetching
    weights."""
    import app
    from bokeh import depthviews, lazy
    from bokeh.renderers import lens

    calls = []
    monkeypatch.setattr(lens, "warm_up", lambda: calls.append("renderer"))
    monkeypatch.setattr(depthviews, "warm_up", lambda: calls.append("views"))
    monkeypatch.setattr(app.pngfast, "warm_up", lambda: calls.append("png"))
    monkeypatch.setattr(app, "prefetch", lambda networks: calls.append("weights") or {})
    lazy.load.cache_clear()  # resolve the patched function
    try:
        app._warm_up()
    finally:
        lazy.load.cache_clear()
    assert calls == ["png", "renderer", "views", "weights"]

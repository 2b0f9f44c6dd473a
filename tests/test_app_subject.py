"""The app's subject-distance control: a slider in the Depth + Blur tab (the render_depth API keeps
its inputs), and it sets the blur scale."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
LENS = "Lens (physically based)"


def _render(*extra):
    import app

    return app.render_depth(
        str(EXAMPLES / "motorcycle.png"),
        300,
        250,
        LENS,
        "file",
        str(EXAMPLES / "motorcycle_disparity.png"),
        "disparity",
        1.8,
        0.03,
        0,
        0.0,
        1.0,
        0.25,
        10.0,
        *extra,
    )


def test_subject_distance_sets_the_blur_scale():
    _, _, default = _render()
    _, _, near = _render(1.0)
    assert default["blur_scale"].startswith("default scale")
    assert near["blur_scale"].startswith("subject at 1 m")
    assert near["strength"] > 1.5 * default["strength"]
    assert any(n.startswith("Blur scale: subject at 1 m") for n in near["notes"])


def test_slider_is_in_the_depth_tab():
    import gradio as gr

    import app

    demo = app.build_demo()
    labels = [b.label for b in demo.blocks.values() if isinstance(b, gr.Slider)]
    assert "Subject distance (m)" in labels

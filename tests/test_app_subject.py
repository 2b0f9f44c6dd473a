"""The subject-distance control: a slider in the Depth + Blur tab and a named setting of the
render_depth API, and it sets the blur scale."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"


def _render(**settings):
    """The /render_depth handler on the motorcycle with its measured disparity."""
    import app
    from bokeh import service

    photo = service.load_photo(str(EXAMPLES / "motorcycle.png"))
    out = service.render(photo, method="depth-lens", focus=(300, 250),
                         settings={"depth_source": "file", **settings},
                         depth_file=str(EXAMPLES / "motorcycle_disparity.png"))  # fmt: skip
    assert app.render is not None  # the app serves the same call
    return out.image, out.depth, out.info


def test_subject_distance_sets_the_blur_scale():
    _, _, default = _render()
    _, _, near = _render(subject_distance=1.0)
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

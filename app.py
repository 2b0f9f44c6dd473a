"""The bokeh web app: one shared photo upload, click to focus, a tab per method.

UI wiring only: the work lives in ``bokeh.service`` and the library. Nothing heavy happens at
import time; models load on first use and are cached per process. Per-user data (the photo and
its focus point) lives in ``gr.State``, never in module globals.

Run: ``python app.py`` (env: GRADIO_SERVER_NAME, GRADIO_SERVER_PORT, BOKEH_MAX_SIDE,
BOKEH_CONCURRENCY, BOKEH_MAX_UPLOAD_MB; see README).
"""

from __future__ import annotations

import logging
import os

# Environment first: huggingface_hub (imported by gradio) reads these at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

import bokeh  # noqa: E402
from bokeh import service  # noqa: E402
from bokeh.errors import BokehError  # noqa: E402

log = logging.getLogger("bokeh.app")

MODEL_QUEUE = "model"  # one concurrency group for all model work (2 vCPU)
TITLE = "Bokeh: realistic shallow depth of field from one photo"
CSS = ".bokeh-info {min-height: 3em} #photo img {cursor: crosshair}"
TRANSLATION_TABS = (("Pix2Pix", "pix2pix"), ("CycleGAN", "cyclegan"), ("BGGAN", "bggan"))


def _concurrency() -> int:
    try:
        return max(1, int(os.environ.get("BOKEH_CONCURRENCY", "1")))
    except ValueError:
        return 1


def _max_upload_mb() -> int:
    try:
        return max(1, int(os.environ.get("BOKEH_MAX_UPLOAD_MB", "25")))
    except ValueError:
        return 25


def _user_error(exc: Exception) -> gr.Error:
    """A clear message for the page (and for API clients); details go to the log."""
    if isinstance(exc, BokehError):
        return gr.Error(str(exc))
    log.exception("unexpected error")
    return gr.Error(f"Something went wrong ({type(exc).__name__}); the details are in the server log.")


# ----------------------------------------------------------------------------- handlers


def on_upload(path):
    """New photo: decode it once, keep it in the session, show it with the focus marker."""
    if path is None:
        return None, None, None, None, ""
    if isinstance(path, dict):  # raw upload payload (the event skips gradio's preprocessing)
        path = path.get("path")
    try:
        photo = service.load_photo(path)
    except Exception as exc:
        raise _user_error(exc) from exc
    x, y = service.default_focus(photo)
    note = "  \n".join(photo.notes)
    return service.draw_focus(photo.pixels, (x, y)), photo, round(x), round(y), note


def on_click(photo, evt: gr.SelectData):
    """Click on the photo: move the focus there."""
    if photo is None:
        raise gr.Error("Upload a photo first.")
    x, y = service.clamp_focus(photo, *evt.index[:2])
    return service.draw_focus(photo.pixels, (x, y)), round(x), round(y)


def on_focus_typed(photo, x, y):
    if photo is None:
        return gr.skip()
    try:
        focus = service.clamp_focus(photo, x, y)
    except BokehError as exc:
        raise gr.Error(str(exc)) from exc
    return service.draw_focus(photo.pixels, focus)


def _depth_settings(mode, depth_source, depth_kind, fnumber, band, blades, rotation, boost,
                    threshold, sigma):
    method = service.DEPTH_MODES.get(mode)
    if method is None:
        raise gr.Error(f"Unknown mode {mode!r}; choose one of {', '.join(service.DEPTH_MODES)}.")
    settings = {"depth_source": depth_source, "depth_kind": depth_kind, "fnumber": fnumber,
                "band": band, "blades": blades, "rotation": rotation, "highlight_boost": boost,
                "threshold": threshold, "sigma": sigma}
    return method, settings


def _render_depth(photo, x, y, mode, depth_source, depth_file, depth_kind, fnumber, band, blades,
                  rotation, boost, threshold, sigma):
    method, settings = _depth_settings(mode, depth_source, depth_kind, fnumber, band, blades,
                                       rotation, boost, threshold, sigma)
    try:
        focus = service.clamp_focus(photo, x, y)
        return service.run_method(method, photo, focus, settings, depth_file=depth_file)
    except Exception as exc:
        raise _user_error(exc) from exc


def render_depth_ui(photo, x, y, *settings):
    if photo is None:
        raise gr.Error("Upload a photo first (or load the example).")
    out = _render_depth(photo, x, y, *settings)
    before_after = (photo.pixels, out.image)
    return out.image, before_after, out.depth, out.summary


def render_depth(image, x, y, mode, depth_source, depth_file, depth_kind, fnumber, band, blades,
                 rotation, highlight_boost, threshold, sigma):
    """API: render depth + blur for an image with explicit focus (x, y in the image's pixels
    after EXIF rotation and the size limit) and settings. Returns the PNG, the depth map used
    and a JSON description (method, depth source, seconds, notes)."""
    try:
        photo = service.load_photo(image)
        if x is None or y is None:
            raise BokehError("Focus x and y are required (pixels in the uploaded image).")
        from bokeh.pipelines.base import check_focus

        focus = check_focus((x, y), *photo.size)
    except Exception as exc:
        raise _user_error(exc) from exc
    out = _render_depth(photo, *focus, mode, depth_source, depth_file, depth_kind, fnumber, band,
                        blades, rotation, highlight_boost, threshold, sigma)
    return out.image, out.depth, out.info


def load_example():
    from bokeh.config import ASSETS_DIR

    photo_path = ASSETS_DIR / "examples" / "motorcycle.png"
    depth_path = ASSETS_DIR / "examples" / "motorcycle_disparity.png"
    shown, photo, x, y, note = on_upload(str(photo_path))
    x, y = 300, 250  # on the motorcycle's engine
    shown = service.draw_focus(photo.pixels, (x, y))
    return (shown, photo, x, y, note + "  \nExample: Middlebury motorcycle (scikit-image) with "
            "its measured disparity.", "file", str(depth_path), "disparity")


def on_clear():
    return None, None, None, ""


# ----------------------------------------------------------------------------- layout


def _leaderboard_tab():
    from eval.leaderboard import scatter_figure

    gr.Markdown(
        "No evaluation runs yet. The plot shows published results as reference markers "
        "(reported elsewhere, on other protocols: not directly comparable)."
    )
    gr.Plot(value=scatter_figure(), label="PSNR against SSIM")


def build_demo() -> gr.Blocks:
    """Build the Blocks app (cheap: no model is loaded here)."""
    lens_defaults = {p.name: p for p in __import__("bokeh.pipelines.depth_blur",
                                                   fromlist=["x"]).LENS_PARAMS}
    gauss_defaults = {p.name: p for p in __import__("bokeh.pipelines.depth_blur",
                                                    fromlist=["x"]).GAUSS_PARAMS}

    def slider(p, **kw):
        return gr.Slider(p.minimum, p.maximum, value=p.default, step=p.step, label=p.label,
                         info=p.help or None, **kw)

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\nUpload a sharp photo, **click the subject** to focus on it, "
                    "and pick a method below. Everything runs on this server's CPU.")
        photo_state = gr.State(None, time_to_live=3600)
        with gr.Row():
            with gr.Column(scale=3):
                photo = gr.Image(label="Photo (click to set the focus point)", type="filepath",
                                 sources=["upload", "clipboard"], format="png", elem_id="photo",
                                 height=420)
            with gr.Column(scale=1, min_width=220):
                focus_x = gr.Number(label="Focus x (px)", precision=0)
                focus_y = gr.Number(label="Focus y (px)", precision=0)
                upload_note = gr.Markdown(elem_classes="bokeh-info")
                example_btn = gr.Button("Load the motorcycle example", size="sm")

        with gr.Tabs():
            with gr.Tab("Depth + Blur", id="depth"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=280):
                        mode = gr.Radio(list(service.DEPTH_MODES), value=next(iter(service.DEPTH_MODES)),
                                        label="Renderer")
                        p = lens_defaults["depth_source"]
                        depth_source = gr.Radio(list(p.choices), value=p.default, label=p.label,
                                                info=p.help)
                        depth_file = gr.File(label="Depth map (PNG 8/16-bit, .npy, .npz, .pfm)",
                                             file_types=[".png", ".npy", ".npz", ".pfm"],
                                             type="filepath", height=80)
                        p = lens_defaults["depth_kind"]
                        depth_kind = gr.Radio(list(p.choices), value=p.default, label=p.label,
                                              info=p.help)
                        with gr.Group() as lens_group:
                            fnumber = slider(lens_defaults["fnumber"])
                            band = slider(lens_defaults["band"])
                            blades = slider(lens_defaults["blades"])
                            rotation = slider(lens_defaults["rotation"])
                            boost = slider(lens_defaults["highlight_boost"])
                        with gr.Group(visible=False) as gauss_group:
                            threshold = slider(gauss_defaults["threshold"])
                            sigma = slider(gauss_defaults["sigma"])
                        render_btn = gr.Button("Render", variant="primary")
                    with gr.Column(scale=2):
                        out_image = gr.Image(label="Result", format="png", interactive=False,
                                             buttons=["download", "fullscreen"])
                        info = gr.Markdown(elem_classes="bokeh-info")
                        with gr.Row():
                            before_after = gr.ImageSlider(label="Before / after", format="png",
                                                          interactive=False)
                            depth_view = gr.Image(label="Depth used (bright = near)",
                                                  format="png", interactive=False)
            for label, method in TRANSLATION_TABS:
                with gr.Tab(label, id=method):
                    gr.Markdown(service.unavailable_message(method, label) or "")
            with gr.Tab("Leaderboard", id="leaderboard"):
                _leaderboard_tab()

        # Hidden components of the explicit API endpoint (click handlers can't be scripted).
        with gr.Row(visible=False):
            # A file, not gr.Image: our loader (not PIL inside gradio) must see every upload,
            # so that bad files get our messages and size checks run before decoding.
            api_image = gr.File(type="filepath", label="image")
            api_x = gr.Number(label="x")
            api_y = gr.Number(label="y")
            api_depth = gr.File(type="filepath", label="depth_file")
            api_out = gr.Image(format="png", label="output")
            api_depth_out = gr.Image(format="png", label="depth")
            api_info = gr.JSON(label="info")

        settings = [mode, depth_source, depth_file, depth_kind, fnumber, band, blades, rotation,
                    boost, threshold, sigma]
        outputs = [out_image, before_after, depth_view, info]
        model_work = {"concurrency_id": MODEL_QUEUE, "concurrency_limit": _concurrency()}
        private = {"api_visibility": "private"}

        # preprocess=False: the raw upload goes to our loader, not to PIL inside gradio.
        photo.upload(on_upload, photo, [photo, photo_state, focus_x, focus_y, upload_note],
                     preprocess=False, **private).then(render_depth_ui, [photo_state, focus_x, focus_y, *settings],
                                     outputs, **private, **model_work)
        photo.clear(on_clear, None, [photo_state, focus_x, focus_y, upload_note], **private)
        photo.select(on_click, photo_state, [photo, focus_x, focus_y], **private).then(
            render_depth_ui, [photo_state, focus_x, focus_y, *settings], outputs, **private,
            **model_work)
        for number in (focus_x, focus_y):
            number.submit(on_focus_typed, [photo_state, focus_x, focus_y], photo, **private)
        example_btn.click(load_example, None, [photo, photo_state, focus_x, focus_y, upload_note,
                                               depth_source, depth_file, depth_kind],
                          **private).then(render_depth_ui, [photo_state, focus_x, focus_y,
                                                            *settings], outputs, **private,
                                          **model_work)
        render_btn.click(render_depth_ui, [photo_state, focus_x, focus_y, *settings], outputs,
                         **private, **model_work)
        for control in (fnumber, band, blades, rotation, boost, threshold, sigma):
            control.release(render_depth_ui, [photo_state, focus_x, focus_y, *settings], outputs,
                            **private, **model_work, trigger_mode="always_last")
        mode.change(lambda m: (gr.update(visible=m == "Lens (physically based)"),
                               gr.update(visible=m != "Lens (physically based)")),
                    mode, [lens_group, gauss_group], **private)

        api_btn = gr.Button(visible=False)
        api_btn.click(render_depth, [api_image, api_x, api_y, mode, depth_source, api_depth,
                                     depth_kind, fnumber, band, blades, rotation, boost,
                                     threshold, sigma],
                      [api_out, api_depth_out, api_info], api_name="render_depth", **model_work)
    demo.queue(default_concurrency_limit=_concurrency(), max_size=64)
    return demo


def launch_kwargs() -> dict:
    """Settings for ``demo.launch`` suited to a 2-vCPU Space."""
    return {
        "max_file_size": f"{_max_upload_mb()}mb",
        "allowed_paths": [],
        "show_error": True,
        "css": CSS,
        "theme": gr.themes.Soft(),
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    log.info("bokeh %s", bokeh.__version__)
    build_demo().launch(**launch_kwargs())


if __name__ == "__main__":
    main()

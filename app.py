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
import warnings
from pathlib import Path

# Environment first: huggingface_hub (imported by gradio) reads these at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402
from gradio.utils import get_upload_folder  # noqa: E402

import bokeh  # noqa: E402
from bokeh import service  # noqa: E402
from bokeh.errors import BokehError  # noqa: E402
from bokeh.pngout import png_files  # noqa: E402
from bokeh.zerogpu import gpu_task  # noqa: E402

log = logging.getLogger("bokeh.app")
# Examples without a depth map leave that input empty on purpose (example_render handles None).
warnings.filterwarnings("ignore", message="Examples will be cached but not all input")

MODEL_QUEUE = "model"  # one concurrency group for all model work (2 vCPU)
TITLE = "Bokeh: realistic shallow depth of field from one photo"
CSS = """
.bokeh-info {min-height: 3em}
#photo img {cursor: crosshair}
/* Compare: show every result without a scroll box inside the page. */
#compare-gallery .grid-wrap {max-height: none !important; height: auto !important}
/* Phones: the result comes before the settings, so a visitor sees it without scrolling. */
@media (max-width: 640px) {
  .result-first {flex-direction: column-reverse}
  #compare-gallery .grid-container {grid-template-columns: repeat(2, minmax(0, 1fr)) !important}
  /* Point labels crowd a phone-sized plot; a tap on a point still shows its name. */
  #leaderboard-tab .js-plotly-plot .textpoint {display: none}
}
"""
TRANSLATION_TABS = (("Pix2Pix", "pix2pix"), ("CycleGAN", "cyclegan"), ("BGGAN", "bggan"))

# All model work goes through this: on a ZeroGPU Space (the `spaces` package is present) it runs
# with a GPU attached; elsewhere it is service.run_method itself. Decorated at import, as
# ZeroGPU requires; nothing is loaded here.
run_method = gpu_task(service.run_method)


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


def _png(*images):
    """Output images as PNG files, each written once into Gradio's cache (bokeh.pngout): Gradio
    would re-encode a numpy image, slowly, every time an output updates."""
    return png_files(images, Path(get_upload_folder()) / "bokeh-outputs")


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
        return run_method(method, photo, focus, settings, depth_file=depth_file)
    except Exception as exc:
        raise _user_error(exc) from exc


def render_depth_ui(photo, x, y, *settings):
    if photo is None:
        raise gr.Error("Upload a photo first (or load the example).")
    out = _render_depth(photo, x, y, *settings)
    image, depth, original = _png(out.image, out.depth, photo.pixels)
    return image, (original, image), depth, out.summary


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
    return *_png(out.image, out.depth), out.info


def on_clear():
    return None, None, None, ""


def _translation_ui(method):
    def run(photo):
        if photo is None:
            raise gr.Error("Upload a photo first (or load the example).")
        try:
            out = run_method(method, photo, None, {})
        except Exception as exc:
            raise _user_error(exc) from exc
        image, original = _png(out.image, photo.pixels)
        return image, (original, image), out.summary

    return run


def _translation_api(method):
    def run(image):
        try:
            photo = service.load_photo(image)
            out = run_method(method, photo, None, {})
        except Exception as exc:
            raise _user_error(exc) from exc
        return *_png(out.image), out.info

    run.__name__ = f"render_{method}"
    return run


def _compare_rows(tiles):
    import pandas as pd

    return pd.DataFrame(
        [{"method": t.label, "seconds": None if t.seconds is None else round(t.seconds, 2),
          "weights": t.short_badge,
          "result": "ok" if t.image is not None else t.message}
         for t in tiles], columns=["method", "seconds", "weights", "result"])


def _default_settings(depth_source, depth_kind) -> dict:
    """Every depth + blur setting at its default, with the given depth source and kind."""
    from bokeh.pipelines.depth_blur import GAUSS_PARAMS, LENS_PARAMS

    settings = {p.name: p.default for p in (*GAUSS_PARAMS, *LENS_PARAMS)}
    settings.update(depth_source=depth_source, depth_kind=depth_kind)
    return settings


def _compare(photo, x, y, settings, depth_file):
    """Yield (gallery items, tiles) as each method finishes."""
    try:
        focus = service.clamp_focus(photo, x, y)
    except Exception as exc:
        raise _user_error(exc) from exc
    gallery, tiles = [(*_png(photo.pixels), "Original (input)")], []
    try:
        for tile in service.compare(photo, focus, settings, depth_file=depth_file,
                                    run=run_method):
            tiles.append(tile)
            if tile.image is not None:  # a file, encoded once: the gallery updates each step
                gallery.append((*_png(tile.image), tile.caption))
            yield gallery, tiles
    except Exception as exc:
        raise _user_error(exc) from exc


def compare_ui(photo, x, y, mode, depth_source, depth_file, depth_kind, *sliders):
    if photo is None:
        raise gr.Error("Upload a photo first (or pick an example).")
    _, settings = _depth_settings(mode, depth_source, depth_kind, *sliders)
    for gallery, tiles in _compare(photo, x, y, settings, depth_file):
        yield gallery, _compare_rows(tiles)


def compare(image, x, y, depth_source, depth_file, depth_kind):
    """API: every available method on one image (focus x, y in pixels; depth settings as in
    render_depth, the rest at their defaults). Returns the gallery (the input first, then one
    PNG per method that ran) and a JSON list of {method, label, seconds, weights, message}."""
    try:
        photo = service.load_photo(image)
        if x is None or y is None:
            raise BokehError("Focus x and y are required (pixels in the uploaded image).")
    except Exception as exc:
        raise _user_error(exc) from exc
    gallery, tiles = [], []
    for step in _compare(photo, x, y, _default_settings(depth_source, depth_kind), depth_file):
        gallery, tiles = step  # the last step holds every method
    return gallery, [{"method": t.method, "label": t.label, "seconds": t.seconds,
                      "weights": t.badge, "message": t.message} for t in tiles]


def example_render(photo_path, depth_file, depth_source, depth_kind, x, y):
    """Examples (cached lazily): the Depth + Blur result for an example at default settings."""
    try:
        photo = service.load_photo(photo_path)
        focus = service.clamp_focus(photo, x, y)
        out = run_method("depth-lens", photo, focus, _default_settings(depth_source, depth_kind),
                         depth_file=depth_file)
    except Exception as exc:
        raise _user_error(exc) from exc
    return out.image, (photo.pixels, out.image), out.depth, out.summary


def example_session(path, x, y):
    """After an example fills the inputs: keep its photo in the session, mark the focus."""
    if isinstance(path, dict):
        path = path.get("path")
    if not path:
        return gr.skip(), None, ""
    try:
        photo = service.load_photo(path)
        focus = service.clamp_focus(photo, x, y)
    except Exception as exc:
        raise _user_error(exc) from exc
    notes = [*photo.notes, "Example loaded: click anywhere on the photo to refocus there."]
    return service.draw_focus(photo.pixels, focus), photo, "  \n".join(notes)


def refresh_leaderboard(run):
    from eval import webui

    try:
        table, fig, csv_path = webui.leaderboard(run or "latest")
        choices = webui.run_choices()
    except Exception as exc:
        raise _user_error(exc) from exc
    return (table, fig, csv_path, gr.update(choices=choices), gr.update(choices=choices[2:]),
            webui.storage_status())


def run_eval(methods, dataset, split, limit, token, progress=gr.Progress()):
    """API: evaluate methods on a dataset split (limit = images, empty for all); yields a status
    line and the updated table and plot after each image. Needs the admin token when
    BOKEH_ADMIN_TOKEN is set; one evaluation runs at a time."""
    from eval import webui

    try:
        events = webui.stream_evaluation(methods or [], dataset, split, limit or None, token)
        status, done = "Starting…", 0
        for event in events:
            total = max(event.get("total") or 1, 1)
            done = event.get("done", done)
            if event.get("event") == "start":
                status = f"Run {event['run_id']}: 0 / {total}"
            elif event.get("event") == "row":
                status = (f"Run {event['run_id']}: {done} / {total} "
                          f"(last: {event.get('method')} on {event.get('id')})")
            elif event.get("event") == "end":
                status = f"Run {event['run_id']} {event.get('status')}: {done} / {total}"
            progress(done / total, desc=status)
            table, fig, csv_path = webui.leaderboard("latest")
            yield status, table, fig, csv_path
    except Exception as exc:
        raise _user_error(exc) from exc


def stop_eval(token):
    """API: stop the running evaluation after the current image (needs the admin token when
    BOKEH_ADMIN_TOKEN is set)."""
    from eval import webui

    try:
        webui.check_admin_token(token)
    except Exception as exc:
        raise _user_error(exc) from exc
    webui.STOP.request()
    return "Stopping after the current image…"


def show_worst(run_id, method, metric):
    from eval import webui

    try:
        items = webui.worst(run_id, method, metric)
    except Exception as exc:
        raise _user_error(exc) from exc
    gallery = [(it["output"], it["caption"]) for it in items]
    return gallery, items


def pick_review(items, run_id, evt: gr.SelectData):
    from eval import webui

    if not items:
        raise gr.Error("Show a run's worst images first.")
    item = items[evt.index]
    try:
        inp, out, gt, heat = webui.review_images(item, run_id)
        notes = webui.notes_table(run_id, item["method"], str(item["id"]))
    except Exception as exc:
        raise _user_error(exc) from exc
    title = f"**{item['id']}** · {item['method']} · {item['caption']}"
    return item, inp, out, gt, heat, (out, gt), title, notes


def save_review(run_id, item, reviewer, tags, custom_tags, note):
    from eval import webui

    if not item:
        raise gr.Error("Select an image in the gallery first.")
    try:
        all_tags = list(tags or []) + [t for t in (custom_tags or "").split(",") if t.strip()]
        webui.save_review(run_id, item["method"], str(item["id"]),
                          reviewer=reviewer or "anonymous", note=note or "", tags=all_tags)
        notes = webui.notes_table(run_id, item["method"], str(item["id"]))
    except Exception as exc:
        raise _user_error(exc) from exc
    return notes, gr.update(value="")


def review_methods(run_id):
    from eval import webui

    if not run_id:
        return gr.update(choices=[], value=None)
    methods = webui.method_choices(run_id)
    return gr.update(choices=methods, value=methods[0] if methods else None)


def export_reviews(run_id):
    from eval import webui

    return webui.export_reviews(run_id)


# ----------------------------------------------------------------------------- layout


def _depth_tab(lens, gauss, slider):
    with gr.Row(elem_classes="result-first"):
        with gr.Column(scale=1, min_width=280):
            mode = gr.Radio(list(service.DEPTH_MODES), value=next(iter(service.DEPTH_MODES)),
                            label="Renderer")
            p = lens["depth_source"]
            from bokeh.depth import SOURCE_LABELS, describe_anything

            depth_source = gr.Radio([(SOURCE_LABELS.get(c, c), c) for c in p.choices],
                                    value=p.default, label=p.label,
                                    info=f"{p.help} Depth Anything: {describe_anything()}.")
            depth_file = gr.File(label="Depth map (PNG 8/16-bit, .npy, .npz, .pfm)",
                                 file_types=[".png", ".npy", ".npz", ".pfm"], type="filepath",
                                 height=80)
            p = lens["depth_kind"]
            depth_kind = gr.Radio(list(p.choices), value=p.default, label=p.label, info=p.help)
            with gr.Group() as lens_group:
                lens_controls = [slider(lens[n]) for n in
                                 ("fnumber", "band", "blades", "rotation", "highlight_boost")]
            with gr.Group(visible=False) as gauss_group:
                gauss_controls = [slider(gauss[n]) for n in ("threshold", "sigma")]
            render_btn = gr.Button("Render", variant="primary")
        with gr.Column(scale=2):
            out_image = gr.Image(label="Result", format="png", interactive=False,
                                 buttons=["download", "fullscreen"], elem_id="depth-result")
            info = gr.Markdown(elem_classes="bokeh-info")
            with gr.Row():
                before_after = gr.ImageSlider(label="Before / after", format="png",
                                              interactive=False)
                depth_view = gr.Image(label="Depth used (bright = near)", format="png",
                                      interactive=False)
    settings = [mode, depth_source, depth_file, depth_kind, *lens_controls, *gauss_controls]
    return {"settings": settings, "outputs": [out_image, before_after, depth_view, info],
            "render": render_btn, "mode": mode, "groups": (lens_group, gauss_group),
            "sliders": lens_controls + gauss_controls, "depth_source": depth_source,
            "depth_file": depth_file, "depth_kind": depth_kind}


def _translation_tab(method, label, photo_state, model_work):
    from bokeh.registry import METHODS

    missing = service.unavailable_message(method, label)
    spec = METHODS.get(method)
    badge = missing or f"**{spec.label}** · weights: {service.weights_badge(method)}"
    gr.Markdown(badge)
    with gr.Row(elem_classes="result-first"):
        with gr.Column(scale=1, min_width=220):
            btn = gr.Button(f"Render with {label}", variant="primary", interactive=missing is None)
            info = gr.Markdown(elem_classes="bokeh-info")
        with gr.Column(scale=2):
            out = gr.Image(label="Result", format="png", interactive=False,
                           buttons=["download", "fullscreen"])
            before_after = gr.ImageSlider(label="Before / after", format="png", interactive=False)
    btn.click(_translation_ui(method), photo_state, [out, before_after, info],
              api_visibility="private", **model_work)
    with gr.Row(visible=False):
        api_in = gr.File(type="filepath", label="image")
        api_out = gr.Image(format="png", label="output")
        api_info = gr.JSON(label="info")
        api_btn = gr.Button()
    api_btn.click(_translation_api(method), api_in, [api_out, api_info],
                  api_name=f"render_{method}", **model_work)


def _leaderboard_tab(model_work):
    from bokeh.registry import list_methods
    from eval import webui
    from eval.leaderboard import scatter_figure

    gr.Markdown("Scores on a held-out set; the plot also shows published results as reference "
                "markers (reported elsewhere, on other protocols: not directly comparable). "
                "PSNR can rank a visibly wrong method high: look at the images in the Review tab.")
    with gr.Row():
        run_pick = gr.Dropdown([(webui.LATEST, "latest"), (webui.ALL_RUNS, "all")],
                               value="latest", label="Runs shown", scale=3)
        refresh = gr.Button("Refresh", scale=1, size="sm")
    table = gr.Dataframe(label="Leaderboard", interactive=False, show_search="search",
                         wrap=True)
    storage = gr.Markdown(elem_id="storage-status")  # where results are kept
    csv = gr.DownloadButton("Download CSV", size="sm")
    plot = gr.Plot(value=scatter_figure(), label="PSNR against SSIM")
    with gr.Accordion("Run an evaluation", open=False):
        data_note = gr.Markdown()
        with gr.Row():
            methods = gr.CheckboxGroup(label="Methods", choices=list_methods(),
                                       value=webui.default_methods(), scale=3)
            with gr.Column(scale=1, min_width=200):
                dataset = gr.Radio(["synth", "ebb"], value="synth", label="Dataset")
                split = gr.Textbox(label="Split", placeholder="default (holdout / val294)")
                limit = gr.Number(label="Images (empty = all)", value=8, precision=0, minimum=1)
                token = gr.Textbox(label="Admin token", type="password",
                                   visible=webui.admin_token_required())
        with gr.Row():
            start = gr.Button("Run evaluation", variant="primary")
            stop = gr.Button("Stop", variant="stop")
        status = gr.Markdown()
    # concurrency 2: a second request must reach the evaluation lock and be refused with a
    # message, not wait silently in gradio's queue (the lock keeps runs single-flight).
    run_event = start.click(run_eval, [methods, dataset, split, limit, token],
                            [status, table, plot, csv], api_name="run_eval",
                            concurrency_id="evaluation", concurrency_limit=2)
    stop.click(stop_eval, token, status, api_name="stop_eval", queue=False)
    return {"run_pick": run_pick, "refresh": refresh, "table": table, "plot": plot, "csv": csv,
            "storage": storage,
            "methods": methods, "dataset": dataset, "data_note": data_note,
            "run_event": run_event}


def _review_tab():
    from eval.review import DEFAULT_TAGS

    items_state = gr.State([])
    item_state = gr.State(None)
    with gr.Row():
        run = gr.Dropdown(label="Run", choices=[], scale=3, elem_id="review-run")
        method = gr.Dropdown(label="Method", choices=[], scale=2)
        metric = gr.Radio([], label="Worst by", scale=2)  # filled on load (imports torch)
        show = gr.Button("Show worst images", scale=1)
    gallery = gr.Gallery(label="Worst images (click one)", columns=6, height=260,
                         allow_preview=False, elem_id="review-gallery")
    title = gr.Markdown()
    with gr.Row():
        inp = gr.Image(label="Input", format="png", interactive=False)
        out = gr.Image(label="Output", format="png", interactive=False)
        gt = gr.Image(label="Ground truth", format="png", interactive=False)
        heat = gr.Image(label="Error (bright = large)", format="png", interactive=False)
    slider = gr.ImageSlider(label="Output / ground truth", format="png", interactive=False)
    with gr.Row():
        with gr.Column():
            reviewer = gr.Textbox(label="Reviewer", placeholder="your name",
                                  elem_id="review-reviewer")
            tags = gr.CheckboxGroup(list(DEFAULT_TAGS), label="Tags")
            custom = gr.Textbox(label="Other tags (comma separated)")
            note = gr.Textbox(label="Note", lines=3, elem_id="review-note")
            with gr.Row():
                save = gr.Button("Save review", variant="primary")
                export = gr.DownloadButton("Export reviews (CSV)")
        notes = gr.Dataframe(headers=["when", "reviewer", "tags", "note"], label="Notes on this image",
                             interactive=False, wrap=True, elem_id="review-notes")
    private = {"api_visibility": "private"}
    run.change(review_methods, run, method, **private)
    show.click(show_worst, [run, method, metric], [gallery, items_state], **private)
    gallery.select(pick_review, [items_state, run],
                   [item_state, inp, out, gt, heat, slider, title, notes], **private)
    save.click(save_review, [run, item_state, reviewer, tags, custom, note], [notes, note],
               **private)
    export.click(export_reviews, run, export, **private)
    return {"run": run, "metric": metric}


# (label, photo, depth map or None, depth source, depth kind, focus x, focus y); all in assets/.
EXAMPLES = (
    ("Motorcycle + measured disparity", "motorcycle.png", "motorcycle_disparity.png", "file",
     "disparity", 300, 250),
    ("Motorcycle, depth estimated", "motorcycle.png", None, "auto", "disparity", 300, 250),
    ("Cat", "cat.png", None, "auto", "disparity", 175, 115),
    ("Espresso", "coffee.png", None, "auto", "disparity", 290, 150),
)


def _examples() -> list[list]:
    from bokeh.config import ASSETS_DIR

    folder = ASSETS_DIR / "examples"
    return [[str(folder / photo), str(folder / depth) if depth else None, source, kind, x, y]
            for _, photo, depth, source, kind, x, y in EXAMPLES]


def _compare_tab():
    gr.Markdown("Every available method on the shared photo, side by side, with the focus "
                "point and the depth settings of the Depth + Blur tab. Each caption gives the "
                "method, its run time and where its weights come from.")
    run = gr.Button("Compare all methods", variant="primary")
    gallery = gr.Gallery(label="Results (click to enlarge)", columns=3, height="auto",
                         object_fit="contain", format="png", elem_id="compare-gallery",
                         buttons=["download", "fullscreen"])
    table = gr.Dataframe(headers=["method", "seconds", "weights", "result"], label="Run times "
                         "and weights", interactive=False, wrap=True, elem_id="compare-table")
    return {"run": run, "outputs": [gallery, table]}


def build_demo() -> gr.Blocks:
    """Build the Blocks app (cheap: no model is loaded here)."""
    from bokeh.pipelines.depth_blur import GAUSS_PARAMS, LENS_PARAMS

    lens = {p.name: p for p in LENS_PARAMS}
    gauss = {p.name: p for p in GAUSS_PARAMS}

    def slider(p, **kw):
        return gr.Slider(p.minimum, p.maximum, value=p.default, step=p.step, label=p.label,
                         info=p.help or None, **kw)

    model_work = {"concurrency_id": MODEL_QUEUE, "concurrency_limit": _concurrency()}
    private = {"api_visibility": "private"}
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\nUpload a sharp photo, **click the subject** to focus on it, "
                    "and pick a method below. Everything runs on this server's CPU.")
        photo_state = gr.State(None, time_to_live=3600)
        with gr.Row():
            with gr.Column(scale=3):
                photo = gr.Image(label="Photo (click to set the focus point)", type="filepath",
                                 sources=["upload", "clipboard"], format="png", elem_id="photo",
                                 height=420)
            with gr.Column(scale=1, min_width=220) as side:
                with gr.Row():
                    focus_x = gr.Number(label="Focus x (px)", precision=0, min_width=100)
                    focus_y = gr.Number(label="Focus y (px)", precision=0, min_width=100)
                upload_note = gr.Markdown(elem_classes="bokeh-info")

        with gr.Tabs():
            with gr.Tab("Depth + Blur", id="depth"):
                depth = _depth_tab(lens, gauss, slider)
            for label, method in TRANSLATION_TABS:
                with gr.Tab(label, id=method):
                    _translation_tab(method, label, photo_state, model_work)
            with gr.Tab("Compare", id="compare", elem_id="compare-tab"):
                compare_tab = _compare_tab()
            with gr.Tab("Leaderboard", id="leaderboard", elem_id="leaderboard-tab"):
                board = _leaderboard_tab(model_work)
            with gr.Tab("Review", id="review", elem_id="review-tab"):
                review = _review_tab()

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
            api_btn = gr.Button()
            api_gallery = gr.Gallery(format="png", label="gallery")
            api_compare = gr.Button()

        settings, outputs = depth["settings"], depth["outputs"]
        render_inputs = [photo_state, focus_x, focus_y, *settings]

        # preprocess=False: the raw upload goes to our loader, not to PIL inside gradio.
        photo.upload(on_upload, photo, [photo, photo_state, focus_x, focus_y, upload_note],
                     preprocess=False, **private).then(
            render_depth_ui, render_inputs, outputs, **private, **model_work)
        photo.clear(on_clear, None, [photo_state, focus_x, focus_y, upload_note], **private)
        photo.select(on_click, photo_state, [photo, focus_x, focus_y], **private).then(
            render_depth_ui, render_inputs, outputs, **private, **model_work)
        for number in (focus_x, focus_y):
            number.submit(on_focus_typed, [photo_state, focus_x, focus_y], photo, **private)
        with side:  # examples sit beside the upload; lazily cached: computed on first click
            examples = gr.Examples(
                _examples(), [photo, depth["depth_file"], depth["depth_source"],
                              depth["depth_kind"], focus_x, focus_y],
                outputs, fn=example_render, cache_examples=True, cache_mode="lazy",
                example_labels=[label for label, *_ in EXAMPLES], label="Examples (no upload "
                "needed)", examples_per_page=len(EXAMPLES), api_visibility="private")
        examples.load_input_event.then(example_session, [photo, focus_x, focus_y],
                                       [photo, photo_state, upload_note], **private)
        compare_tab["run"].click(compare_ui, render_inputs, compare_tab["outputs"], **private,
                                 **model_work)
        depth["render"].click(render_depth_ui, render_inputs, outputs, **private, **model_work)
        for control in depth["sliders"]:
            control.release(render_depth_ui, render_inputs, outputs, **private, **model_work,
                            trigger_mode="always_last")
        lens_group, gauss_group = depth["groups"]
        depth["mode"].change(lambda m: (gr.update(visible=m == "Lens (physically based)"),
                                        gr.update(visible=m != "Lens (physically based)")),
                             depth["mode"], [lens_group, gauss_group], **private)
        mode, depth_source, _, depth_kind, *sliders = settings
        api_btn.click(render_depth, [api_image, api_x, api_y, mode, depth_source, api_depth,
                                     depth_kind, *sliders],
                      [api_out, api_depth_out, api_info], api_name="render_depth", **model_work)
        api_compare.click(compare, [api_image, api_x, api_y, depth_source, api_depth, depth_kind],
                          [api_gallery, api_info], api_name="compare", **model_work)

        # Leaderboard and review read the results folder on every page load (they survive
        # restarts) and after each refresh.
        board_outputs = [board["table"], board["plot"], board["csv"], board["run_pick"],
                         review["run"], board["storage"]]
        board["refresh"].click(refresh_leaderboard, board["run_pick"], board_outputs, **private)
        board["run_pick"].input(refresh_leaderboard, board["run_pick"], board_outputs, **private)
        board["run_event"].then(refresh_leaderboard, board["run_pick"], board_outputs, **private)
        demo.load(refresh_leaderboard, board["run_pick"], board_outputs, **private)
        demo.load(_eval_form, None, [board["methods"], board["dataset"], board["data_note"],
                                     review["metric"]], **private)
    demo.queue(default_concurrency_limit=_concurrency(), max_size=64)
    return demo


def _eval_form():
    from bokeh.registry import list_methods
    from eval import webui
    from eval.metrics import METRICS

    return (gr.update(choices=list_methods(), value=webui.default_methods()),
            gr.update(value=webui.default_dataset()), webui.dataset_note(),
            gr.update(choices=[(m.label, k) for k, m in METRICS.items()], value="psnr"))


def launch_kwargs() -> dict:
    """Settings for ``demo.launch`` suited to a 2-vCPU Space."""
    return {
        "max_file_size": f"{_max_upload_mb()}mb",
        "allowed_paths": [],
        # Gradio 6 would keep every call's inputs (the admin token included) in the browser.
        "run_history": False,
        "show_error": True,
        "css": CSS,
        "theme": gr.themes.Soft(),
    }


def _warm_up() -> None:
    """Start-up work that must not delay the page: download weights from the Hub repos
    (BOKEH_HUB_REPO, Depth Anything) so that the first visitor does not wait for them."""
    from bokeh.weights import prefetch

    for name, where in prefetch().items():
        log.info("weights %s: %s", name, where)


def _flush_on_sigterm() -> None:
    """Spaces stop a container with SIGTERM: push pending results before exiting."""
    import signal
    import sys

    def stop(signum, frame):
        from eval import persist

        persist.flush(timeout=20)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)


def main() -> None:
    import threading

    from eval import persist

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    log.info("bokeh %s", bokeh.__version__)
    persist.restore(timeout=120)  # runs and reviews from BOKEH_RESULTS_REPO, when set
    log.info("%s", persist.status())
    threading.Thread(target=_warm_up, name="bokeh-warm-up", daemon=True).start()
    _flush_on_sigterm()
    build_demo().launch(**launch_kwargs())


if __name__ == "__main__":
    main()

"""The bokeh web app: one shared photo upload, click to focus, a tab per method.

UI wiring only. Every user action is one call of ``bokeh.service`` (the photo, a render, a
comparison) or ``eval.actions`` (leaderboard, evaluation, review); each handler and each API
endpoint is a line or two on top of it. Tabs, controls and the Compare list come from the method
specs (``bokeh.methods``). Nothing heavy happens at import or in :func:`build_demo` (no torch);
models load on first use. Per-user data (the photo, its focus) lives in ``gr.State``.

Run: ``python app.py`` (settings in the README: GRADIO_SERVER_NAME, BOKEH_CONCURRENCY, ...).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import warnings
from types import SimpleNamespace

# Environment first: huggingface_hub (imported by gradio) reads these at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

from bokeh import __version__, config, pngfast, service, studio, webguard, webhooks  # noqa: E402
from bokeh.errors import BokehError  # noqa: E402
from bokeh.registry import get_method, list_methods, method_networks, method_specs  # noqa: E402
from bokeh.weights.resolve import prefetch  # noqa: E402
from bokeh.zerogpu import gpu_task  # noqa: E402
from eval import actions, persist  # noqa: E402
from eval.metric_table import METRICS  # noqa: E402
from eval.review import DEFAULT_TAGS  # noqa: E402

log = logging.getLogger("bokeh.app")
# Examples without a depth map leave that input empty on purpose (example_render handles None).
warnings.filterwarnings("ignore", message="Examples will be cached but not all input")

MODEL_QUEUE = "model"  # one concurrency group for all model work (2 vCPU)
TITLE = "Bokeh: realistic shallow depth of field from one photo"
PRIVATE = {"api_visibility": "private"}
SHOWN = {"format": "png", "interactive": False}  # read-only PNG outputs
SAVABLE = {**SHOWN, "buttons": ["download", "fullscreen"]}

# All model work goes through this: on a ZeroGPU Space (the `spaces` package is present) it runs
# with a GPU attached; elsewhere it is service.render itself. Decorated at import, as ZeroGPU
# requires; nothing is loaded here. Its temporary memory goes back to the OS once the server
# has been idle a few seconds (webguard.IdleRelease).
render = webguard.releasing_memory(gpu_task(service.render))
_png = webhooks.png_outputs  # outputs as PNG files, written once
_on = webhooks.on_event  # progress and errors on the result's line
_control = webhooks.param_control  # a setting's control


def _need(photo):
    if photo is None:
        raise BokehError("Upload a photo first (or pick an example).")
    return photo


# ----------------------------------------------------------------------------- the photo


def on_upload(path, request: gr.Request):
    """New photo: decode it once, keep it in the session, show it with the focus marker."""
    view = service.open_photo(path, owner=webhooks.owner(request))
    return view.marked, view.photo, view.x, view.y, view.note


def on_click(photo, mode, pending, evt: gr.SelectData):
    """Click on the photo: move the focus there (clearing a focus range), or set a corner of
    the focus range."""
    if not isinstance(evt.index, (list, tuple)) or len(evt.index) < 2:
        raise BokehError("Click on the photo to set the focus point.")
    x, y = service.clamp_focus(_need(photo), *evt.index[:2])
    if mode == "range":
        return webhooks.range_click(photo.pixels, pending, x, y)
    return service.draw_focus(photo.pixels, (x, y)), round(x), round(y), "", None


def on_focus_typed(photo, x, y):
    """Focus typed into the boxes (then Enter): clamped into the photo, marked, and said so."""
    view = service.typed_focus(_need(photo), x, y)
    return view.marked, view.x, view.y, view.note


def example_render(photo_path, depth_file, depth_source, depth_kind, x, y):
    """Examples (cached lazily): the Depth + Blur result for an example at default settings."""
    photo, method = service.load_photo(photo_path), service.EXAMPLE_METHOD
    settings = service.default_settings(method, depth_source=depth_source, depth_kind=depth_kind)
    focus = service.clamp_focus(photo, x, y)
    out = render(photo, method=method, focus=focus, settings=settings, depth_file=depth_file)
    depth_png = webhooks.depth_download(out.disparity)
    return out.image, (photo.pixels, out.image), out.depth, out.summary, out.histogram, depth_png


def example_session(path, x, y):
    """After an example fills the inputs: keep its photo in the session, mark the focus."""
    if not (path.get("path") if isinstance(path, dict) else path):
        return gr.skip(), None, ""
    view = service.open_photo(path, focus=(x, y), note=service.EXAMPLE_NOTE)
    return view.marked, view.photo, view.note


def _photo_panel():
    """The shared upload, its focus boxes and the notes beside it."""
    with gr.Row():
        with gr.Column(scale=3):
            photo = gr.Image(label="Photo (click to set the focus point)", type="filepath",
                             sources=["upload", "clipboard"], format="png", elem_id="photo",
                             height=420)  # fmt: skip
        with gr.Column(scale=1, min_width=220) as side:
            with gr.Row():
                x = gr.Number(label="Focus x (px)", precision=0, min_width=100)
                y = gr.Number(label="Focus y (px)", precision=0, min_width=100)
            note = gr.Markdown(elem_classes="bokeh-info")
    return SimpleNamespace(photo=photo, x=x, y=y, note=note, side=side)


# ----------------------------------------------------------------------------- depth + blur


APERTURE = ("blades", "rotation")  # shown side by side with a picture of the blur spot
SPOT = (*APERTURE, "cat_eye", "bubble", "ring", "chromatic_aberration")  # what it shows


class DepthControls:
    """The Depth + Blur tab's settings: one control per parameter name of the depth methods
    (shared ones once, in declaration order), shown when the chosen renderer takes it. Settings
    that belong together share a row with a picture (``APERTURE``); add such groups in
    :meth:`build`."""

    def __init__(self, specs) -> None:
        self.specs = specs
        self.params: dict = {}
        for spec in specs:
            for p in spec.params:
                self.params.setdefault(p.name, p)
        self.names = list(self.params)
        self.components: list = []
        self.aperture = None  # the aperture picture beside blades and rotation

    def build(self) -> list:
        takes = {p.name for p in self.specs[0].params}
        made: dict = {}
        for name, p in self.params.items():
            if name in APERTURE and name not in made:
                made.update(self._aperture(takes))
            elif name not in made:
                made[name] = _control(p, name in takes)
        self.components = [made[n] for n in self.names]
        return self.components

    def _aperture(self, takes: set) -> dict:
        with gr.Row(equal_height=True, elem_id="aperture-row"):
            with gr.Column(scale=3, min_width=160):
                made = {n: _control(self.params[n], n in takes) for n in APERTURE
                        if n in self.params}  # fmt: skip
            self.aperture = gr.Image(service.aperture_preview(0, 0), label="Blur spot", scale=1,
                                     min_width=100, buttons=[], elem_id="aperture-preview",
                                     visible="blades" in takes, **SHOWN)  # fmt: skip
        return made

    @property
    def toggled(self) -> list:
        """What :meth:`visibility` shows or hides."""
        return self.components + ([self.aperture] if self.aperture else [])

    def settings(self, method: str, values) -> dict:
        """The settings of ``method`` from the controls' values."""
        return service.settings_for(get_method(method), dict(zip(self.names, values, strict=True)))

    def visibility(self, method: str) -> list:
        takes = {p.name for p in get_method(method).params}
        shown = [gr.update(visible=name in takes) for name in self.names]
        return shown + ([gr.update(visible="blades" in takes)] if self.aperture else [])


def _depth_tab(controls: DepthControls):
    with gr.Row(elem_classes="result-first"):
        with gr.Column(scale=1, min_width=280):
            choices = [(s.ui_label, s.name) for s in controls.specs]
            method = gr.Radio(choices, value=controls.specs[0].name, label="Renderer")
            depth_file = gr.File(label="Depth map (PNG 8/16-bit, .npy, .npz, .pfm)",
                                 file_types=[".png", ".npy", ".npz", ".pfm"], type="filepath",
                                 elem_id="depth-file")  # fmt: skip
            controls.build()
            render_btn = gr.Button("Render", variant="primary")
        with gr.Column(scale=2):
            result = gr.Image(label="Result", elem_id="depth-result", **SAVABLE)
            info = gr.Markdown(elem_classes="bokeh-info", elem_id="depth-info")
            with gr.Row():
                before_after = gr.ImageSlider(label="Before / after", **SHOWN)
                depth_view = gr.Image(label="Depth used (bright = near)", **SHOWN)
            edit = webhooks.depth_edit_panel(SHOWN)
    method.change(controls.visibility, method, controls.toggled, **PRIVATE)
    outputs = [result, before_after, depth_view, info, edit.histogram, edit.export]
    return SimpleNamespace(method=method, depth_file=depth_file, render=render_btn,
                           outputs=outputs, info=info, edit=edit)  # fmt: skip


# ----------------------------------------------------------------------------- translation


def _translation_tab(spec, photo_state, model_work) -> None:
    status = service.method_status(spec.name)
    gr.Markdown(status.message or f"**{spec.label}** · weights: {status.badge}")

    def run_ui(photo):
        out = render(_need(photo), method=spec.name, with_difference=True)
        image, original, change = _png(out.image, photo.pixels, out.difference.image)
        return image, (original, image), gr.Image(change, label=out.difference.label), out.summary

    with gr.Row(elem_classes="result-first"):
        with gr.Column(scale=1, min_width=220):
            label = f"Render with {spec.ui_label}"
            btn = gr.Button(label, variant="primary", interactive=status.runnable)
        with gr.Column(scale=2):
            out = gr.Image(label="Result", elem_id=f"{spec.name}-result", **SAVABLE)
            info = gr.Markdown(elem_classes="bokeh-info", elem_id=f"{spec.name}-info")
            with gr.Row():
                before_after = gr.ImageSlider(label="Before / after", **SHOWN)
                diff = gr.Image(label="What changed (amplified)", elem_id=f"{spec.name}-diff",
                                **SHOWN)  # fmt: skip
    _on(btn.click, run_ui, photo_state, [out, before_after, diff, info], info, **model_work)


def _translation_api(spec):
    def run_api(image, request: gr.Request):
        out = render(service.load_photo(image, owner=webhooks.owner(request)), method=spec.name)
        return *_png(out.image), out.info

    run_api.__name__ = f"render_{spec.name}"
    return run_api


# ----------------------------------------------------------------------------- compare


def _gallery(label: str, elem_id: str, **kw):
    return gr.Gallery(label=label, columns=3, height="auto", object_fit="contain", format="png",
                      elem_id=elem_id, elem_classes="captioned", **kw)  # fmt: skip


def _compare_tab():
    gr.Markdown(service.COMPARE_INTRO)
    run = gr.Button("Compare all methods", variant="primary")
    gallery = _gallery("Results (click to enlarge)", "compare-gallery",
                       buttons=["download", "fullscreen"])  # fmt: skip
    note = gr.Markdown(elem_id="compare-note")
    with gr.Accordion("What each method changed (amplified differences)", open=False):
        diffs = _gallery("|result − input| × gain (the gain is in each caption)",
                         "compare-differences")  # fmt: skip
    headers = ["method", "seconds", "weights", "changed (grey levels)", "result"]
    table = gr.Dataframe(headers=headers, label="Run times and weights", interactive=False,
                         wrap=True, elem_id="compare-table")  # fmt: skip
    return SimpleNamespace(run=run, outputs=[gallery, diffs, note, table], note=note)


# ----------------------------------------------------------------------------- leaderboard


def refresh_leaderboard(run, review_run):
    choices, picked = actions.review_runs(keep=review_run)  # the reviewer's pick stays
    runs = gr.update(choices=actions.run_choices())
    review = gr.update(choices=choices, value=picked)
    return *actions.leaderboard(run or "comparable"), runs, review, actions.storage_status()


def run_eval(methods, dataset, split, limit, token, progress=gr.Progress()):
    """API: evaluate methods on a dataset split (limit = images, empty for all); yields a status
    line at once, then the updated table and plot after each image. Needs the admin token when
    BOKEH_ADMIN_TOKEN is set; one evaluation runs at a time."""
    steps = actions.evaluation_progress(methods or [], dataset, split, limit or None, token)
    for step in steps:
        progress(step.fraction, desc=step.status)
        board = actions.leaderboard(live=step.run_id) if step.redraw else [gr.skip()] * 3
        yield step.status, *board


def stop_eval(token):
    """API: stop the running evaluation after the current image (needs the admin token when
    BOKEH_ADMIN_TOKEN is set)."""
    return actions.request_stop(token)


def _evaluation_form(board) -> None:
    """The "Run an evaluation" accordion of the Leaderboard tab."""
    with gr.Accordion("Run an evaluation", open=False):
        board.data_note = gr.Markdown()
        with gr.Row():
            board.methods = gr.CheckboxGroup(label="Methods", choices=list_methods(),
                                             value=actions.default_methods(), scale=3)  # fmt: skip
            with gr.Column(scale=1, min_width=200):
                board.dataset = gr.Radio(actions.dataset_choices(), value="synth", label="Dataset")
                split = gr.Textbox(label="Split", placeholder="default: holdout, val294 or all")
                limit = gr.Number(label="Images (empty = all)", value=8, precision=0, minimum=1)
                visible = actions.admin_token_required()
                token = gr.Textbox(label="Admin token", type="password", visible=visible)
        with gr.Row():
            start = gr.Button("Run evaluation", variant="primary")
            stop = gr.Button("Stop", variant="stop")
        status = gr.Markdown(elem_id="eval-status")
    # concurrency 2: a second request must reach the evaluation lock and be refused with a
    # message, not wait silently in gradio's queue (the lock keeps runs single-flight).
    inputs = [board.methods, board.dataset, split, limit, token]
    outputs = [status, board.table, board.plot, board.csv]
    evaluation = dict(concurrency_id="evaluation", concurrency_limit=2, show_progress_on=status)
    board.run_event = start.click(run_eval, inputs, outputs, api_name="run_eval", **evaluation)
    stop.click(stop_eval, token, status, api_name="stop_eval", queue=False)


def _leaderboard_tab():
    gr.Markdown(actions.BOARD_INTRO)
    board = SimpleNamespace()
    with gr.Row():
        runs = [(actions.COMPARABLE, "comparable"), (actions.ALL_RUNS, "all")]
        board.run_pick = gr.Dropdown(runs, value="comparable", label="Runs shown", scale=3)
        board.refresh = gr.Button("Refresh", scale=1, size="sm")
    board.table = gr.Dataframe(label="Leaderboard", interactive=False, show_search="search",
                               wrap=True, elem_id="board-table",
                               column_widths=actions.table_widths())  # fmt: skip
    board.storage = gr.Markdown(elem_id="storage-status")  # where results are kept
    board.csv = gr.DownloadButton("Download CSV (every column)", size="sm")
    board.plot = gr.Plot(value=actions.empty_figure(), show_label=False, elem_id="board-plot")
    _evaluation_form(board)
    return board


def _on_load():
    """What depends on this machine's state, read on every page load."""
    methods = gr.update(choices=list_methods(), value=actions.default_methods())
    metrics = gr.update(choices=[(m.label, k) for k, m in METRICS.items()], value="psnr")
    datasets = gr.update(choices=actions.dataset_choices(), value=actions.default_dataset())
    sources = gr.update(**service.depth_source_choices())
    return methods, datasets, actions.dataset_note(), metrics, sources


# ----------------------------------------------------------------------------- review


def pick_review(items, run_id, evt: gr.SelectData):
    """A click on a worst image: its input, output, ground truth, error and notes."""
    r = actions.review_selection(items, evt.index, run_id)
    return r.item, r.input, r.output, r.gt, r.heat, (r.output, r.gt), r.title, r.notes


def review_methods(run_id):
    methods = actions.method_choices(run_id) if run_id else []
    return gr.update(choices=methods, value=methods[0] if methods else None)


def _review_form():
    """The reviewer's note form and the notes on the selected image."""
    with gr.Row():
        with gr.Column():
            form = SimpleNamespace()
            form.reviewer = gr.Textbox(label="Reviewer", placeholder="your name (remembered)",
                                       elem_id="review-reviewer")  # fmt: skip
            form.tags = gr.CheckboxGroup(list(DEFAULT_TAGS), label="Tags")
            form.custom = gr.Textbox(label="Other tags (comma separated)")
            form.note = gr.Textbox(label="Note", lines=3, elem_id="review-note")
            with gr.Row():
                form.save = gr.Button("Save review", variant="primary")
                form.export = gr.DownloadButton("Export reviews (CSV)")
        form.notes = gr.Dataframe(headers=["when", "reviewer", "tags", "note"], wrap=True,
                                  label="Notes on this image", interactive=False,
                                  column_widths=["24%", "16%", "20%", "40%"],
                                  elem_id="review-notes")  # fmt: skip
    return form


def _review_tab():
    items_state, item_state = gr.State([]), gr.State(None)
    with gr.Row():
        run = gr.Dropdown(label="Run", choices=[], scale=3, elem_id="review-run")
        method = gr.Dropdown(label="Method", choices=[], scale=2)
        metric = gr.Radio([], label="Worst by", scale=2)  # filled on load
        show = gr.Button("Show worst images", scale=1)
    gallery = gr.Gallery(label="Worst images (click one)", columns=6, height="auto",
                         allow_preview=False, fit_columns=False,
                         elem_id="review-gallery")  # fmt: skip
    title = gr.Markdown()
    with gr.Row():
        labels = ("Input", "Output", "Ground truth", "Error (bright = large)")
        inp, out, gt, heat = (gr.Image(label=label, **SHOWN) for label in labels)
    slider = gr.ImageSlider(label="Output / ground truth", **SHOWN)
    form = _review_form()
    run.change(review_methods, run, method, **PRIVATE)
    show.click(actions.worst_gallery, [run, method, metric], [gallery, items_state],
               **PRIVATE)  # fmt: skip
    picked = [item_state, inp, out, gt, heat, slider, title, form.notes]
    gallery.select(pick_review, [items_state, run], picked, **PRIVATE)
    fields = [run, item_state, form.reviewer, form.tags, form.custom, form.note]
    form.save.click(actions.save_review_form, fields, [form.notes, form.note], **PRIVATE)
    form.export.click(actions.export_reviews, run, form.export, **PRIVATE)
    return SimpleNamespace(run=run, metric=metric, form=form)


# ----------------------------------------------------------------------------- the page


def _api_endpoints(model_work) -> None:
    """Explicit endpoints for scripts (click handlers cannot be driven from gradio_client).
    Settings are named: a JSON object of the method's parameters (defaults for the rest)."""

    def render_depth(image, x, y, method, settings, depth_file, request: gr.Request):
        """API: one depth method on an image with explicit focus (x, y in the image's pixels
        after EXIF rotation and the size limit) and named settings. Returns the PNG, the depth
        map used and a JSON description (method, depth source, seconds of the method and
        total_seconds of the render, notes)."""
        photo = service.load_photo(image, owner=webhooks.owner(request))
        out = render(photo, method=method or service.EXAMPLE_METHOD, settings=settings,
                     focus=service.api_focus(photo, x, y), depth_file=depth_file)  # fmt: skip
        return *_png(out.image, out.depth), out.info

    def compare(image, x, y, settings, depth_file, request: gr.Request):
        """API: every available method on one image (focus x, y in pixels; settings as in
        render_depth, shared by the methods that take them). Returns the gallery (the input
        first, then one PNG per method that ran) and a JSON list of {method, label, seconds,
        weights, message}."""
        photo = service.load_photo(image, owner=webhooks.owner(request))
        focus = service.api_focus(photo, x, y) or (None, None)  # None: the stored focus
        steps = service.compare_views(photo, *focus, settings or {}, depth_file, run=render)
        view, tiles = list(steps)[-1]  # the last step holds every method
        return webhooks.png_items(view.gallery, {}), [t.as_json() for t in tiles]

    with gr.Row(visible=False):
        # A file, not gr.Image: our loader (not PIL inside gradio) must see every upload,
        # so that bad files get our messages and size checks run before decoding.
        image, depth_file = gr.File(label="image"), gr.File(label="depth_file")
        x, y = gr.Number(label="x"), gr.Number(label="y")
        method = gr.Textbox(value=service.EXAMPLE_METHOD, label="method")
        settings, info = gr.JSON(value={}, label="settings"), gr.JSON(label="info")
        out, depth_out = gr.Image(format="png", label="output"), gr.Image(format="png")
        gallery = gr.Gallery(format="png", label="gallery")
        render_btn, compare_btn = gr.Button(), gr.Button()
    inputs = [image, x, y, method, settings, depth_file]
    render_btn.click(render_depth, inputs, [out, depth_out, info], api_name="render_depth",
                     **model_work)  # fmt: skip
    inputs = [image, x, y, settings, depth_file]
    compare_btn.click(compare, inputs, [gallery, info], api_name="compare", **model_work)
    for spec in method_specs(kind="translation", variants=False):  # image -> PNG + info
        with gr.Row(visible=False):
            button = gr.Button()
        name = f"render_{spec.name}"
        button.click(_translation_api(spec), image, [out, info], api_name=name, **model_work)


def _wire_depth(ui, state, depth, compare_tab, controls: DepthControls, work: dict) -> None:
    """Upload, click, examples, sliders and buttons -> the Depth + Blur and Compare renders."""

    def render_depth_ui(photo, x, y, method, depth_file, store, *values):
        focus = service.clamp_focus(_need(photo), x, y)
        mask = studio.session_mask(store, photo.pixels, photo.pixels_key)  # hashed once
        settings = studio.with_refine(controls.settings(method, values), mask)
        out = render(photo, method=method, focus=focus, settings=settings, depth_file=depth_file)
        image, depth, original = _png(out.image, out.depth, photo.pixels)
        depth_png = webhooks.depth_download(out.disparity)
        return image, (original, image), depth, out.summary, out.histogram, depth_png

    def compare_ui(photo, x, y, method, depth_file, _store, *values):
        settings = dict(zip(controls.names, values, strict=True))
        done: dict = {}  # each image written once
        for view, _ in service.compare_views(_need(photo), x, y, settings, depth_file, run=render):
            files = [webhooks.png_items(v, done) for v in (view.gallery, view.differences)]
            yield *files, view.note, view.rows

    photo, x, y, note = ui.photo, ui.x, ui.y, ui.note
    edit, by_name = depth.edit, dict(zip(controls.names, controls.components, strict=True))
    inputs = [state, x, y, depth.method, depth.depth_file, edit.store, *controls.components]
    run = (render_depth_ui, inputs, depth.outputs, depth.info)
    # preprocess=False: the raw upload goes to our loader, not to PIL inside gradio.
    uploaded = photo.upload(on_upload, photo, [photo, state, x, y, note], preprocess=False,
                            **PRIVATE)  # fmt: skip
    _on(uploaded.then, *run, **work)
    cleared = photo.clear(lambda: (None, None, None, ""), None, [state, x, y, note], **PRIVATE)
    clicked = photo.select(on_click, [state, edit.mode, edit.pending],
                           [photo, x, y, by_name["focus_range"], edit.pending], **PRIVATE)  # fmt: skip
    _on(clicked.then, *run, **work)
    for number in (x, y):  # Enter in a focus box: move the marker and render there
        typed = number.submit(on_focus_typed, [state, x, y], [photo, x, y, note], **PRIVATE)
        _on(typed.success, *run, **work)
    fills = [photo, depth.depth_file, by_name["depth_source"], by_name["depth_kind"], x, y]
    with ui.side:  # examples sit beside the upload; lazily cached: computed on first click
        examples = gr.Examples(
            service.example_rows(), fills, depth.outputs, fn=example_render,
            cache_examples=True, cache_mode="lazy", label="Examples (no upload needed)",
            example_labels=[e.label for e in service.EXAMPLES],
            examples_per_page=len(service.EXAMPLES), **PRIVATE)  # fmt: skip
    # preprocess=False: the example's file goes to our loader, never to PIL inside gradio.
    example = examples.load_input_event.then(example_session, [photo, x, y], [photo, state, note],
                                             preprocess=False, **PRIVATE)  # fmt: skip
    webhooks.wire_depth_edit(edit, state=state, loads=[uploaded, example, cleared],
                             rerun=lambda event: _on(event, *run, **work))  # fmt: skip
    _on(compare_tab.run.click, compare_ui, inputs, compare_tab.outputs, compare_tab.note, **work)
    _on(depth.render.click, *run, **work)
    for control in controls.components:
        if isinstance(control, (gr.Slider, gr.Dropdown)):
            event = control.release if isinstance(control, gr.Slider) else control.input
            _on(event, *run, **work, trigger_mode="always_last")
        elif isinstance(control, gr.Textbox):  # the focus range typed in, then Enter
            _on(control.submit, *run, **work)
    if controls.aperture is not None:  # the blur spot follows blades, rotation and character
        shape = [by_name[n] for n in SPOT]
        for control in shape:
            control.change(service.aperture_preview, shape, controls.aperture, queue=False,
                           **PRIVATE)  # fmt: skip


def _wire_board(demo, board, review, depth_source) -> None:
    """Leaderboard and review re-read the results folder on load, refresh and evaluation."""
    outputs = [board.table, board.plot, board.csv, board.run_pick, review.run, board.storage]
    refresh = (refresh_leaderboard, [board.run_pick, review.run], outputs)
    board.refresh.click(*refresh, **PRIVATE)
    board.run_pick.input(*refresh, **PRIVATE)
    board.run_event.then(*refresh, **PRIVATE)
    demo.load(*refresh, **PRIVATE)
    form = [board.methods, board.dataset, board.data_note, review.metric, depth_source]
    demo.load(_on_load, None, form, **PRIVATE)
    # The reviewer's name is remembered in this browser (local storage; outside the tabs, so
    # that it is read on arrival; a fixed key, so that it outlives a restart: only a name).
    saved = gr.BrowserState("", storage_key="bokeh-reviewer", secret="bokeh-reviewer-name")
    name = review.form.reviewer
    name.blur(lambda text: text, name, saved, queue=False, **PRIVATE)
    demo.load(lambda text: text or "", saved, name, **PRIVATE)


def build_demo() -> gr.Blocks:
    """Build the Blocks app (cheap: no model is loaded here)."""
    controls = DepthControls(method_specs(kind="depth", variants=False))
    concurrency = config.concurrency()
    model_work = {"concurrency_id": MODEL_QUEUE, "concurrency_limit": concurrency}
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\nUpload a sharp photo, **click the subject** to focus on it, "
                    "and pick a method below. Everything runs on this server's CPU.",
                    elem_id="title")  # fmt: skip
        state = gr.State(None, time_to_live=3600)
        ui = _photo_panel()
        with gr.Tabs():
            with gr.Tab("Depth + Blur", id="depth"):
                depth = _depth_tab(controls)
            for spec in method_specs(kind="translation", variants=False):
                with gr.Tab(spec.ui_label, id=spec.name):
                    _translation_tab(spec, state, model_work)
            with gr.Tab("Compare", id="compare", elem_id="compare-tab"):
                compare_tab = _compare_tab()
            with gr.Tab("Leaderboard", id="leaderboard", elem_id="leaderboard-tab"):
                board = _leaderboard_tab()
            with gr.Tab("Review", id="review", elem_id="review-tab"):
                review = _review_tab()
        _api_endpoints(model_work)
        _wire_depth(ui, state, depth, compare_tab, controls, {**PRIVATE, **model_work})
        sources = dict(zip(controls.names, controls.components, strict=True))["depth_source"]
        _wire_board(demo, board, review, sources)
    demo.queue(default_concurrency_limit=concurrency, max_size=64)
    # Every event: only uploaded or example files, one-line messages; uploads swept.
    webhooks.install(demo, public_dirs=[webhooks.examples_dir()])
    webhooks.quiet_queue(demo)
    return demo


def launch_kwargs() -> dict:
    """Settings for ``demo.launch`` suited to a 2-vCPU Space (:func:`webhooks.launch_kwargs`)."""
    return webhooks.launch_kwargs(css=config.ASSETS_DIR / "app.css", theme=gr.themes.Soft())


def _warm_up() -> None:
    """Compiled loops (PNG reader, renderer, depth views), Hub downloads: before any visitor."""
    pngfast.warm_up()
    service.warm_up()
    for name, where in prefetch(method_networks()).items():
        log.info("weights %s: %s", name, where)


def _flush_on_sigterm() -> None:
    """Spaces stop a container with SIGTERM: push pending results before exiting."""

    def stop(signum, frame):
        persist.flush(timeout=20)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)


def main() -> None:
    webguard.tune_malloc()  # before any worker thread allocates (README, Security, Speed)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    log.info("bokeh %s", __version__)
    persist.restore(timeout=120)  # runs and reviews from BOKEH_RESULTS_REPO, when set
    log.info("%s", persist.status())
    threading.Thread(target=_warm_up, name="bokeh-warm-up", daemon=True).start()
    _flush_on_sigterm()
    build_demo().launch(**launch_kwargs())


if __name__ == "__main__":
    main()

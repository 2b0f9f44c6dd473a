"""Install :mod:`bokeh.webguard` on the app's gradio Blocks: the one place every event goes
through (public or private, the page's own and forged ones alike).

* Before gradio touches an event's inputs, every file reference in them goes through the
  :class:`~bokeh.webguard.FileGuard`; anything not uploaded here or an example is refused
  with one message, whatever the path.
* Whatever fails while preprocessing inputs, running a handler or postprocessing outputs
  reaches the visitor as one short line (gradio's own messages can span lines and name
  server paths): a :class:`~bokeh.errors.BokehError` (a message written for people) as it is,
  logged in one line; anything else as "Something went wrong", logged with its traceback. The
  app's handlers therefore just raise; nothing converts errors twice.
* :func:`app_kwargs` gives ``launch(app_kwargs=...)`` the request-size middleware and the
  upload-cache lifespan; :func:`launch_kwargs` is every launch setting the app uses.
* :func:`failure_note` gives an event's ``.failure`` the message the visitor was just shown.
* :func:`depth_edit_panel` and :func:`wire_depth_edit`: the Depth + Blur tab's focus range
  (two clicks) and refine brush (an image editor), over :mod:`bokeh.studio`.

This is the one module below ``app.py`` that imports gradio (it patches gradio's Blocks); the
rest of the library never needs it, and only ``app.py`` imports this module.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import re
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
from gradio import components
from gradio.utils import get_upload_folder
from starlette.middleware import Middleware

from bokeh import config, service, studio
from bokeh.config import ASSETS_DIR
from bokeh.editing import BLUR_COLOR, FOCUS_COLOR
from bokeh.errors import BokehError, FileNotAvailableError
from bokeh.pngout import png_files
from bokeh.webguard import FILE_REFUSED, BodyLimit, FileGuard, UploadCache, env_number

log = logging.getLogger("bokeh.webhooks")

# Components whose value is a file reference (gradio.components names).
FILE_COMPONENTS = (
    "Image",
    "File",
    "ImageSlider",
    "Gallery",
    "UploadButton",
    "DownloadButton",
    "Video",
    "Audio",
    "Model3D",
    "ImageEditor",
    "AnnotatedImage",
)
MAX_MESSAGE_CHARS = 300
UNEXPECTED = "Something went wrong ({}); the details are in the server log."
_REMEMBERED = 1000  # sessions whose last message is kept for failure_note
_LAST: OrderedDict[str, str] = OrderedDict()
_LAST_LOCK = threading.Lock()


def _session(requests: Any) -> str | None:
    request = requests[0] if isinstance(requests, list) and requests else requests
    return getattr(request, "session_hash", None)


def _remember(requests: Any, message: str) -> None:
    session = _session(requests)
    if not session:
        return
    with _LAST_LOCK:
        _LAST[session] = message
        _LAST.move_to_end(session)
        while len(_LAST) > _REMEMBERED:
            _LAST.popitem(last=False)


def failure_note(request: gr.Request) -> str:
    """For an event's ``.failure``: the message this visitor was just shown, as the line
    beside the results (in place of the previous result's description)."""
    with _LAST_LOCK:
        message = _LAST.get(getattr(request, "session_hash", None) or "", "")
    return f"**Not done:** {message}" if message else "**Not done** (see the message)."


def one_line(text: Any, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` as one line of at most ``limit`` characters (whitespace collapsed)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _input_message(block_fn, exc: Exception) -> str:
    """One line for an input gradio could not preprocess, naming the input when it can."""
    found = re.search(r"at index (\d+)", str(exc))
    label = None
    if found and int(found.group(1)) < len(block_fn.inputs):
        block = block_fn.inputs[int(found.group(1))]
        label = getattr(block, "label", None) or type(block).__name__.lower()
    what = f"'{one_line(label, 60)}'" if label else "one of the inputs"
    return f"The value given for {what} is not valid; check it and try again."


def install(demo, *, public_dirs=()) -> UploadCache:
    """Guard every event of ``demo`` (see the module docstring) and return the
    :class:`~bokeh.webguard.UploadCache` of its uploads and outputs, for :func:`app_kwargs`."""

    def cache_roots() -> set[str]:
        # gradio's folder when the page was built, and the one its server uploads to
        server = getattr(demo, "app", None)
        return {demo.GRADIO_CACHE, getattr(server, "uploaded_file_dir", demo.GRADIO_CACHE)}

    guard = FileGuard(
        known=lambda: demo.temp_file_sets, cache_roots=cache_roots, public_dirs=public_dirs
    )
    file_types = tuple(getattr(components, n) for n in FILE_COMPONENTS if hasattr(components, n))
    preprocess, call, postprocess = demo.preprocess_data, demo.call_function, demo.postprocess_data

    def clean(exc: gr.Error) -> gr.Error:
        text = one_line(exc.message)
        if text == exc.message:
            return exc
        return gr.Error(text, duration=exc.duration, visible=exc.visible, title=exc.title)

    async def preprocess_data(block_fn, inputs, *args, **kwargs):
        try:
            for block, value in zip(block_fn.inputs, inputs, strict=False):
                if not getattr(block, "stateful", False):
                    guard.check(value, file_input=isinstance(block, file_types))
            return await preprocess(block_fn, inputs, *args, **kwargs)
        except FileNotAvailableError:
            raise gr.Error(FILE_REFUSED, print_exception=False) from None
        except gr.Error as exc:
            raise clean(exc) from None
        except Exception as exc:
            log.info("refused an input: %s", one_line(exc, 2000))
            raise gr.Error(_input_message(block_fn, exc), print_exception=False) from None

    async def call_function(*args, **kwargs):
        requests = kwargs.get("requests", args[3] if len(args) > 3 else None)
        try:
            return await call(*args, **kwargs)
        except gr.Error as exc:
            _remember(requests, one_line(exc.message))
            raise clean(exc) from exc
        except BokehError as exc:  # a visitor's mistake: one line in the log, no traceback
            log.info("refused: %s", one_line(exc, 2000))
            _remember(requests, one_line(exc))
            raise gr.Error(one_line(exc), print_exception=False) from None
        except Exception as exc:
            log.exception("unexpected error in an event handler")
            _remember(requests, UNEXPECTED.format(type(exc).__name__))
            raise gr.Error(UNEXPECTED.format(type(exc).__name__)) from exc

    async def postprocess_data(*args, **kwargs):
        try:
            return await postprocess(*args, **kwargs)
        except gr.Error as exc:
            raise clean(exc) from exc
        except Exception as exc:
            log.exception("unexpected error while sending a result")
            raise gr.Error(UNEXPECTED.format(type(exc).__name__)) from exc

    demo.preprocess_data = preprocess_data
    demo.call_function = call_function
    demo.postprocess_data = postprocess_data

    # Files gradio copied while the page was built (the examples' photos and depth map): the
    # page points at them for as long as it runs, so they are never swept.
    built = {path for files in list(demo.temp_file_sets) for path in list(files)}

    def keep() -> set[str]:
        kept = set(built)
        for block in list(demo.blocks.values()):
            kept |= set(getattr(block, "keep_in_cache", ()))
        return kept

    cache = UploadCache(tracked=lambda: demo.temp_file_sets, keep=keep)
    demo.bokeh_upload_cache = cache  # for tests and the launch settings
    # A server stopped by SIGTERM (how Spaces stop) exits without its lifespan's shutdown.
    atexit.register(_clear_at_exit, weakref.ref(cache))
    return cache


QUEUE_POLL_S = 0.01  # gradio's queue: seconds between looks for new events when idle


def queue_poll_s() -> float:
    """``BOKEH_QUEUE_POLL_S`` (seconds, 0 to 1, default :data:`QUEUE_POLL_S`; 0.001 is
    gradio's own)."""
    return min(env_number("BOKEH_QUEUE_POLL_S", QUEUE_POLL_S, minimum=0.0), 1.0)


def quiet_queue(demo, poll_s: float | None = None) -> bool:
    """Let gradio's queue look for new events every ``poll_s`` seconds (default
    :func:`queue_poll_s`) instead of every 1 ms (``Queue.sleep_when_free``; a new event then
    waits ``poll_s`` / 2 on average). Its 1 ms loop woke the event loop, which takes the GIL, a
    thousand times a second, during every render too (``python -m eval.soak idle`` measures
    what an idle server spends). Returns whether it was set (False when gradio's queue has no
    such setting)."""
    queue = getattr(demo, "_queue", None)
    if queue is None or not hasattr(queue, "sleep_when_free"):
        return False
    queue.sleep_when_free = queue_poll_s() if poll_s is None else poll_s
    return True


def _clear_at_exit(ref) -> None:
    cache = ref()
    if cache is not None:
        with contextlib.suppress(Exception):
            cache.clear()


def _cache_of(app) -> UploadCache | None:
    """The UploadCache :func:`install` put on the Blocks that ``app`` (gradio's) serves."""
    try:
        blocks = app.get_blocks()
    except Exception:
        return None
    return getattr(blocks, "bokeh_upload_cache", None)


def _make_room(scope, nbytes: int) -> None:
    cache = _cache_of(scope.get("app"))
    if cache is not None:
        cache.make_room(nbytes)


@contextlib.asynccontextmanager
async def _lifespan(app):
    cache = _cache_of(app)
    if cache is None:
        yield
        return
    async with cache.lifespan(app):
        yield


def app_kwargs() -> dict[str, Any]:
    """``launch(app_kwargs=...)``: request bodies bounded (uploads: ``BOKEH_MAX_UPLOAD_MB``,
    everything else 1 MiB), room made in the upload cache before each upload, the cache swept
    on a schedule and cleared when the server stops (for a Blocks set up by :func:`install`)."""
    return {"middleware": [Middleware(BodyLimit, before_upload=_make_room)], "lifespan": _lifespan}


def launch_kwargs(*, css: Path, theme: Any) -> dict[str, Any]:
    """Settings for ``demo.launch`` suited to a 2-vCPU Space, with ``css`` (a file) and
    ``theme``."""
    return {
        "max_file_size": f"{config.max_upload_mb()}mb",
        # gradio keeps every visitor session (its photo and a copy of the page's settings,
        # ~0.26 MB) up to this many, least recently used first out; its default is 10,000.
        "state_session_capacity": config.max_sessions(),
        "allowed_paths": [],
        # Gradio 6 would keep every call's inputs (the admin token included) in the browser.
        "run_history": False,
        # Only messages written for people (gr.Error) reach the page; this module turns every
        # other failure into one of those.
        "show_error": False,
        # Request bodies bounded, uploads swept on a schedule and deleted at shutdown.
        "app_kwargs": app_kwargs(),
        "css": Path(css).read_text(encoding="utf-8"),
        "theme": theme,
    }


def examples_dir() -> Path:
    return ASSETS_DIR / "examples"


def owner(request: gr.Request | None) -> str | None:
    """Whose upload it is (the visitor's session), for :func:`bokeh.photos.load_photo`."""
    return getattr(request, "session_hash", None)


def png_outputs(*images) -> list[str]:
    """Outputs as PNG files written once into Gradio's cache (:mod:`bokeh.pngout`), not
    re-encoded by Gradio on every update."""
    return png_files(images, Path(get_upload_folder()) / "bokeh-outputs")


def png_items(items, written: dict) -> list:
    """Gallery items (image, caption) as PNG files, each image written once: ``written`` keeps
    them across the steps of one Compare run (and the images, so that their ids stay unique)."""
    for image, _ in items:
        if id(image) not in written:
            written[id(image)] = (image, *png_outputs(image))
    return [(written[id(image)][1], caption) for image, caption in items]


# ----------------------------------------------------------------------------- app parts


def on_event(event, fn, inputs, outputs, info, **kw):
    """``event(fn, ...)``; progress and errors on ``info`` only (images keep the last result)."""
    done = event(fn, inputs, outputs, show_progress_on=info, **kw)
    done.failure(failure_note, None, info, api_visibility="private")
    return done


def param_control(p, visible: bool):
    """The control of a method's setting (:class:`bokeh.params.Param`)."""
    common = {"label": p.label, "info": p.help or None, "visible": visible}
    if p.name == "depth_source":  # what each source is here: refreshed on every page load
        return gr.Radio(value=p.default, **{**common, **service.depth_source_choices()})
    if p.allowed:  # a range with holes (blades: 0 or 3..16): offer exactly those values
        choices = [("round" if v == 0 else str(v), v) for v in p.allowed]
        return gr.Dropdown(choices, value=p.default, **common)
    if p.kind == "choice":
        return gr.Radio(list(p.choices), value=p.default, **common)
    if p.kind == "bool":
        return gr.Checkbox(value=p.default, **common)
    if p.kind in ("box", "refine"):  # a focus range box, refine strokes: typed or set on the photo
        return gr.Textbox(value="", **common)
    return gr.Slider(p.minimum, p.maximum, value=p.default, step=p.step, **common)


# ----------------------------------------------------------------------------- depth editing

_PRIVATE = {"api_visibility": "private"}
_BRUSH = ["#{:02x}{:02x}{:02x}".format(*c) for c in (FOCUS_COLOR, BLUR_COLOR)]


def depth_edit_panel(shown: dict) -> SimpleNamespace:
    """The Depth + Blur tab's editing panel: what a click on the photo sets, the refine brush
    (an image editor over the photo: green keeps sharp, magenta blurs; its own undo, and a
    button that clears it), the depth histogram and the edited depth's download. The session
    keeps a pending focus-range corner and the painted layers per photo (``gr.State``)."""
    with gr.Accordion("Focus range, refine brush, depth histogram", open=True):
        choices = [("focus point", "point"), ("focus range: two clicks, opposite corners", "range")]
        mode = gr.Radio(choices, value="point", label="A click on the photo sets",
                        elem_id="click-mode")  # fmt: skip
        editor = gr.ImageEditor(
            label="Refine: paint green to keep sharp, magenta to blur, then ✓ to apply",
            type="numpy", image_mode="RGBA", sources=(), transforms=(), layers=False,
            brush=gr.Brush(colors=_BRUSH, default_color=_BRUSH[0], color_mode="fixed",
                           default_size=40), elem_id="refine-editor",
        )  # fmt: skip
        with gr.Row():
            clear = gr.Button("Clear refine", size="sm", elem_id="clear-refine")
            export = gr.DownloadButton("Depth used (16-bit PNG)", size="sm", elem_id="depth-png")
        histogram = gr.Image(label="Depths (green: in focus, yellow: focal plane)",
                             elem_id="depth-histogram", **shown)  # fmt: skip
    return SimpleNamespace(mode=mode, editor=editor, clear=clear, export=export,
                           histogram=histogram, pending=gr.State(None), store=gr.State({}))  # fmt: skip


def range_click(pixels, pending, x: float, y: float) -> tuple:
    """A click in focus-range mode: (photo marked with the corner or box, x, y (unchanged),
    the focus range's text (unchanged until both corners are set), the pending corner)."""
    pending, box = studio.click_box(pending, x, y)
    text = studio.box_text(box) if box else gr.skip()
    return studio.mark_box(pixels, pending, box), gr.skip(), gr.skip(), text, pending


def _editor_for(photo, store):
    return studio.editor_value(getattr(photo, "pixels", None), store, _key(photo))


def _key(photo) -> str | None:
    return photo.pixels_key if photo is not None else None  # computed once per photo


def _keep(photo, value, store):
    return studio.remember(store, _key(photo), value)


def _clear(photo, store):
    store = studio.remember(store, _key(photo), None)
    return _editor_for(photo, store), store


def wire_depth_edit(edit: SimpleNamespace, *, state, loads, rerun) -> None:
    """A new photo (after each event of ``loads``) shows in the editor with what was painted
    on it earlier in the session; ✓ in the editor keeps its layers and re-renders
    (``rerun(event)``), as does "Clear refine"."""
    for event in loads:
        event.then(_editor_for, [state, edit.store], edit.editor, **_PRIVATE)
    rerun(edit.editor.apply(_keep, [state, edit.editor, edit.store], edit.store, **_PRIVATE).then)
    rerun(edit.clear.click(_clear, [state, edit.store], [edit.editor, edit.store], **_PRIVATE).then)


def depth_download(disparity) -> str | None:
    """The depth a render used as a 16-bit PNG file (bright = near), for the download button."""
    return studio.depth_png_file(disparity, Path(get_upload_folder()) / "bokeh-outputs")

"""The command line: ``python -m bokeh {methods,render,synth}``.

::

    python -m bokeh methods [--all]
    python -m bokeh render INPUT -o OUTPUT.png --method NAME [--depth FILE] [--focus X,Y] ...
    python -m bokeh render INPUT... -o FOLDER --method NAME [--focus-csv FILE] ...   (a batch)
    python -m bokeh synth --out DIR --count N [--size WxH] [--seed S] [--split train|holdout]

The render flags for method settings (``--fnumber``, ``--threshold``, ...) are generated from the
registry's :class:`~bokeh.params.Param` declarations, so the CLI, the app and the pipelines share
one definition. A flag the chosen method does not declare is refused.

Errors a person can cause (bad arguments, unreadable files, unknown methods, a focus point outside
the image) end the program with ONE line on stderr that starts with ``error: `` and a non-zero
status: 2 for malformed command lines, 1 for everything else. ``--verbose`` adds tracebacks.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bokeh import config
from bokeh.batch import collect_inputs, is_batch, output_paths, read_focus_csv, run_batch
from bokeh.data.synth import synth_main
from bokeh.depth import SOURCE_LABELS, resolve_source, source_states
from bokeh.depth.phone import load_with_depth
from bokeh.editing import scale_edits
from bokeh.errors import BokehError
from bokeh.imaging import save_png
from bokeh.models.layers import network_parameters
from bokeh.params import Param
from bokeh.registry import METHODS, NETWORKS, get_method, load_method
from bokeh.service import method_status
from bokeh.version import __version__

__all__ = ["build_parser", "main"]

PROG = "python -m bokeh"

# Extra, shorter spellings of some generated flags.
_ALIASES: dict[str, tuple[str, ...]] = {"highlight_boost": ("--boost",)}


class CliError(BokehError):
    """A usage problem found after parsing (for example a flag the method does not take)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: MESSAGE (see '... --help')``, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


# --------------------------------------------------------------------------- parser


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _setting_params() -> dict[str, list[tuple[Any, Param]]]:
    """Every setting any registered method declares: name -> [(MethodSpec, Param), ...]."""
    found: dict[str, list[tuple[Any, Param]]] = {}
    for spec in METHODS.values():
        for p in spec.params:
            found.setdefault(p.name, []).append((spec, p))
    return found


def _describe(uses: list[tuple[Any, Param]]) -> str:
    p = uses[0][1]
    text = p.label
    if p.help:
        text += f": {p.help}"
    if p.kind in ("float", "int") and p.minimum is not None and p.maximum is not None:
        text += f" [{p.minimum:g}..{p.maximum:g}]"
    defaults = {str(q.default) for _, q in uses}
    if len(defaults) == 1:
        text += f" (default {defaults.pop()})"
    methods = [spec.name for spec, _ in uses if spec.family is None]
    return text + f"; for {', '.join(methods or [spec.name for spec, _ in uses])}"


def _add_setting_flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Add one flag per declared setting; return {dest: canonical flag} for error messages."""
    group = parser.add_argument_group(
        "method settings (generated from the registry; only the chosen method's are accepted)"
    )
    flags: dict[str, str] = {}
    for name, uses in _setting_params().items():
        p = uses[0][1]
        names = [_flag(name), *_ALIASES.get(name, ())]
        kwargs: dict[str, Any] = {
            "dest": name,
            "default": argparse.SUPPRESS,
            "help": _describe(uses),
        }
        if p.kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif p.kind == "choice":
            choices: list[str] = []
            for _, q in uses:
                choices += [c for c in q.choices if c not in choices]
            kwargs["choices"] = choices
        else:  # numbers, boxes, strokes stay text here; the method's Param converts them
            kwargs["metavar"] = p.metavar
        group.add_argument(*names, **kwargs)
        flags[name] = names[0]
    return flags


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _focus(text: str) -> tuple[float, float]:
    parts = text.replace(" ", "").split(",")
    try:
        x, y = (float(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"focus must be X,Y in pixels of the input image (e.g. 320,240), got {text!r}"
        ) from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise argparse.ArgumentTypeError(f"focus must be finite numbers, got {text!r}")
    return x, y


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; method settings become flags from the registry's specs."""
    parser = _Parser(prog=PROG, description="Realistic shallow depth of field from one photo.")
    parser.add_argument("--version", action="version", version=f"bokeh {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show full tracebacks on errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in (_add_methods, _add_render, _add_synth):
        p = add(sub)
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS)  # fmt: skip
    return parser


def _add_methods(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "methods",
        help="list the registered methods",
        description="List every registered method with its kind, parameter count "
        "and weights status (offline, nothing is downloaded).",
    )
    p.add_argument("--all", action="store_true", help="also list every network the project defines")
    p.set_defaults(func=cmd_methods)
    return p


def _add_render(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "render",
        help="render one image, or a batch, with a method",
        description="Render INPUT with a registered method and write a PNG. Several INPUTs, "
        "a folder or a glob pattern render every photo with the same settings into the "
        "OUTPUT folder (a progress bar on stderr; a photo that fails prints one line and the "
        "rest still run; the exit status is 1 when any failed).",
    )
    p.add_argument(
        "input",
        metavar="INPUT",
        nargs="+",
        help="the photo (PNG, JPEG, HEIC, WebP, TIFF, ...); or several: files, folders (their "
        "images) or quoted glob patterns such as 'photos/*.jpg'",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUTPUT",
        help="where to write the result; must end in .png (a batch: a folder, created if "
        "needed, that gets NAME.png per photo)",
    )
    p.add_argument(
        "-m",
        "--method",
        required=True,
        metavar="NAME",
        help="a registered method (see 'python -m bokeh methods')",
    )
    p.add_argument(
        "--depth",
        metavar="DEPTH_FILE",
        default=None,
        help="a depth or disparity map for the input (8/16-bit PNG, .npy, .npz, "
        ".pfm); say which with --depth-kind",
    )
    p.add_argument(
        "--focus",
        type=_focus,
        default=None,
        metavar="X,Y",
        help="the point to keep sharp, in pixels of the original INPUT (default: the focus "
        "distance stored in the photo, else the centre)",
    )
    p.add_argument(
        "--focus-csv",
        metavar="FILE",
        default=None,
        help="per-photo focus points: a CSV with the header file,x,y (x, y in pixels of each "
        "original photo; file a path or a file name); photos it does not list use --focus",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar (batches)")
    p.add_argument(
        "--max-side",
        type=_positive_int,
        default=None,
        metavar="N",
        help="downscale the input so that its long side is at most N px "
        "(default: BOKEH_MAX_SIDE or 2048)",
    )
    p.add_argument(
        "--save-depth",
        metavar="PATH",
        default=None,
        help="also write the disparity map used (.png: 16-bit, 1 = near; .npy: float32; "
        "a batch: a folder that gets NAME.png per photo)",
    )
    p.set_defaults(func=cmd_render, setting_flags=_add_setting_flags(p))
    return p


def _add_synth(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "synth",
        help="generate the synthetic bokeh benchmark",
        description="Write synthetic (original, bokeh, depth) pairs in the EBB! "
        "layout, deterministically.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (new or empty)")
    p.add_argument(
        "--count", required=True, type=_positive_int, metavar="N", help="number of scenes"
    )
    p.add_argument("--size", default="384x256", metavar="WxH", help="image size (default 384x256)")
    p.add_argument(
        "--seed", type=_non_negative_int, default=0, metavar="S", help="random seed (default 0)"
    )
    p.add_argument(
        "--split",
        choices=("train", "holdout"),
        default=None,
        help="put every scene in this split (default: last 20%% holdout, rest train)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_synth)
    return p


# --------------------------------------------------------------------------- methods


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f}M"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
        for r in rows
    ]


def _weights_text(spec, auto: str) -> str:
    """Where a method's weights come from, in a few words per network; for depth methods, the
    depth source that ``auto`` stands for here (the depth sources are listed below)."""
    if spec.kind == "depth":
        return f"depth: auto = {SOURCE_LABELS[auto]} (see depth sources)"
    if not spec.networks:
        return "none needed"
    statuses = method_status(spec.name).weights
    return ", ".join(f"{w.name}: {w.badge()[1] if w.usable else w.summary}" for w in statuses)


def cmd_methods(args: argparse.Namespace) -> int:
    states = source_states()
    auto = resolve_source("auto")
    rows = [
        (
            s.name,
            s.kind,
            _millions(sum(network_parameters(n) for n in s.networks)),
            _weights_text(s, auto),
        )
        for s in METHODS.values()
    ]
    if args.all:
        print("methods:")
    for line in _table(rows):
        print(("  " if args.all else "") + line)
    print()
    print("depth sources (what each would be here):")
    for line in _table([(name, "yes" if st.available else "no", st.text)
                        for name, st in states.items()]):  # fmt: skip
        print("  " + line)
    if args.all:
        nets = [
            (n.name, n.role, _millions(network_parameters(n)), n.label) for n in NETWORKS.values()
        ]
        print()
        print("networks:")
        for line in _table(nets):
            print("  " + line)
    return 0


# --------------------------------------------------------------------------- render


def _chosen_settings(args: argparse.Namespace, spec) -> dict[str, Any]:
    """The settings given on the command line, checked against what ``spec`` declares."""
    flags: dict[str, str] = args.setting_flags
    given = {name: getattr(args, name) for name in flags if hasattr(args, name)}
    declared = {p.name: p for p in spec.params}
    refused = [flags[n] for n in given if n not in declared]
    if refused:
        takes = ", ".join(flags.get(n, _flag(n)) for n in declared) or "no settings"
        raise CliError(
            f"method {spec.name!r} does not take {', '.join(refused)}; it takes {takes}."
        )
    settings = {}
    for name, value in given.items():
        try:
            settings[name] = declared[name].validate(value)
        except BokehError as exc:  # name the flag, not the Python parameter
            raise CliError(f"{flags[name]}: {exc}") from None
    return settings


def _check_png_name(path: str, option: str) -> Path:
    out = Path(path).expanduser()
    if out.suffix.lower() != ".png":
        raise CliError(
            f"{option} must be a .png file name (the output is always PNG); got {path!r}."
        )
    if out.is_dir():
        raise CliError(f"{option} {path!r} is a folder; give a file name ending in .png.")
    return out


def _scaled_focus(focus, original: tuple[int, int], size: tuple[int, int]):
    """Focus given in the original image's pixels -> pixels of the (downscaled) working image."""
    if focus is None:
        return None
    (ow, oh), (w, h) = original, size
    x, y = focus
    if not (0 <= x <= ow - 1 and 0 <= y <= oh - 1):
        raise CliError(
            f"focus point ({x:g}, {y:g}) lies outside the {ow}x{oh} input image; "
            f"x must be in 0..{ow - 1} and y in 0..{oh - 1}."
        )
    if (w, h) == (ow, oh):
        return x, y
    # Pixel centres map as (x + 0.5) * w / ow - 0.5; clamp the half-pixel at the borders.
    sx, sy = (x + 0.5) * w / ow - 0.5, (y + 0.5) * h / oh - 0.5
    return min(max(sx, 0.0), w - 1.0), min(max(sy, 0.0), h - 1.0)


def _save_depth(disparity, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".npy":
        np.save(path, np.asarray(disparity, dtype=np.float32))
        return

    values = np.round(np.clip(disparity, 0.0, 1.0) * 65535.0).astype(np.uint16)
    Image.fromarray(values).save(path, format="PNG")  # 16-bit grey, 1 = near


def _write(save, path: Path):
    """Run ``save()``; a failure (read-only folder, disk full, ...) becomes one clear line."""
    try:
        return save()
    except OSError as exc:
        raise CliError(f"could not write {path}: {exc.strerror or exc}.") from exc


@dataclass(frozen=True)
class _Job:
    """What every photo of a render command shares: method, settings, where depth goes."""

    spec: Any
    pipe: Callable
    settings: dict[str, Any]
    call: dict[str, Any]  # depth_file, when given
    max_side: int
    uses_depth: bool


def _save_depth_target(args: argparse.Namespace, uses_depth: bool, batch: bool) -> Path | None:
    if args.save_depth is None:
        return None
    target = Path(args.save_depth).expanduser()
    if not batch and target.suffix.lower() not in (".png", ".npy"):
        raise CliError(f"--save-depth must end in .png or .npy; got {args.save_depth!r}.")
    if batch and target.suffix.lower() in (".png", ".npy"):
        raise CliError(f"with several inputs, --save-depth names a folder; "
                       f"got {args.save_depth!r}.")  # fmt: skip
    if not uses_depth:
        raise CliError(f"method {args.method!r} uses no depth map, so --save-depth has nothing "
                       "to write.")  # fmt: skip
    return target


def _depth_call(args: argparse.Namespace, settings: dict, uses_depth: bool, batch: bool) -> dict:
    if args.depth is None:
        if settings.get("depth_source") == "file":
            raise CliError("--depth-source file needs a depth map: add --depth DEPTH_FILE.")
        return {}
    if not uses_depth:
        raise CliError(f"method {args.method!r} uses no depth map; drop --depth.")
    if batch:
        raise CliError("--depth gives one photo's depth map, so it takes a single INPUT.")
    if settings.get("depth_source", "auto") not in ("auto", "file"):
        raise CliError(
            f"--depth is only read with --depth-source file or auto, not "
            f"{settings['depth_source']!r}."
        )
    depth_path = Path(args.depth).expanduser()
    if not depth_path.is_file():
        raise CliError(f"the depth file {args.depth!r} does not exist.")
    return {"depth_file": str(depth_path)}


def _render_file(job: _Job, source, output: Path, *, focus, save_depth: Path | None,
                 say: Callable[[str], None]):  # fmt: skip
    """Render one photo into ``output``; returns (result, written path)."""
    loaded, embedded, notes = load_with_depth(str(source), max_side=job.max_side)
    for note in notes:
        say(f"note: {note}")
    h, w = loaded.image.shape[:2]
    scaled = _scaled_focus(focus, loaded.original_size, (w, h))
    if scaled is not None and (w, h) != tuple(loaded.original_size):
        say(f"note: focus ({focus[0]:g}, {focus[1]:g}) in the input is "
            f"({scaled[0]:.1f}, {scaled[1]:.1f}) in the {w}x{h} working image.")  # fmt: skip
    extra = {"embedded": embedded} if job.uses_depth else {}
    settings = scale_edits(job.settings, loaded.original_size, (w, h))  # boxes, strokes
    result = job.pipe(loaded.image, focus=scaled, **job.call, **extra, **settings)
    for note in result.info.get("notes", ()):
        say(f"note: {note}")
    written = _write(lambda: save_png(result.image, output), output)
    if save_depth is not None and result.disparity is not None:
        _write(lambda: _save_depth(result.disparity, save_depth), save_depth)
    return result, written


def cmd_render(args: argparse.Namespace) -> int:
    spec = get_method(args.method)  # UnknownMethodError says "did you mean ..."
    settings = _chosen_settings(args, spec)
    batch = is_batch(args.input)
    if batch:
        output = Path(args.output).expanduser()
        if output.suffix.lower() == ".png" or output.is_file():
            raise CliError(f"with several inputs, --output names a folder; got {args.output!r}.")
    else:
        output = _check_png_name(args.output, "--output")
    uses_depth = any(p.name == "depth_source" for p in spec.params)
    save_depth = _save_depth_target(args, uses_depth, batch)
    call = _depth_call(args, settings, uses_depth, batch)
    inputs = collect_inputs(args.input) if batch else [Path(args.input[0])]
    focus_of: dict[Path, tuple[float, float]] = {}
    if args.focus_csv is not None:
        focus_of, unmatched = read_focus_csv(args.focus_csv, inputs)
        if unmatched:
            print(f"note: {Path(args.focus_csv).name} lists {len(unmatched)} file(s) that are "
                  f"not inputs: {', '.join(unmatched[:5])}", file=sys.stderr)  # fmt: skip
    max_side = args.max_side if args.max_side is not None else config.max_side()
    job = _Job(spec, load_method(spec.name), settings, call, max_side, uses_depth)
    if batch:
        return _render_batch(job, args, inputs, output, save_depth, focus_of)

    start = time.perf_counter()
    focus = focus_of.get(inputs[0], args.focus)
    result, written = _render_file(job, args.input[0], output, focus=focus, save_depth=save_depth,
                                   say=lambda line: print(line, file=sys.stderr))  # fmt: skip
    seconds = time.perf_counter() - start
    source = result.info.get("depth_source", "none")
    description = result.info.get("depth_description", "")
    shown = ("model", "anything", "embedded")
    depth_text = f"{source}: {description}" if source in shown else source
    oh, ow = result.image.shape[:2]
    print(f"wrote {written} ({ow}x{oh}, {spec.name}, depth {depth_text}, {seconds:.2f} s)")
    return 0


def _render_batch(job: _Job, args, inputs: list[Path], folder: Path, save_depth: Path | None,
                  focus_of: dict) -> int:  # fmt: skip
    """Render every input into ``folder``; 1 when any photo failed."""
    outputs = output_paths(inputs, folder)
    _write(lambda: folder.mkdir(parents=True, exist_ok=True), folder)
    if save_depth is not None:
        _write(lambda: save_depth.mkdir(parents=True, exist_ok=True), save_depth)

    def one(pair):
        path, out = pair
        depth_to = None if save_depth is None else save_depth / out.name
        result, _ = _render_file(job, path, out, focus=focus_of.get(path, args.focus),
                                 save_depth=depth_to, say=lambda line: None)  # fmt: skip
        return result.info

    summary = run_batch(list(zip(inputs, outputs, strict=True)), one, quiet=args.quiet,
                        name=lambda pair: str(pair[0]))  # fmt: skip
    print(summary.line(job.spec.name, folder))
    return 1 if summary.failed else 0


# --------------------------------------------------------------------------- synth


def cmd_synth(args: argparse.Namespace) -> int:
    try:
        summary = synth_main(
            args.out, args.count, args.size, args.seed, split=args.split, progress=not args.quiet
        )
    except ValueError as exc:  # bad --size and the like: say it in one line
        raise CliError(str(exc)) from exc
    splits = ", ".join(f"{k}: {v}" for k, v in summary["splits"].items())
    w, h = summary["size"]
    print(
        f"wrote {summary['count']} scenes ({splits}) at {w}x{h}, seed {summary['seed']}, "
        f"to {summary['root']} in {summary['seconds']:.1f} s; "
        f"sha256 {summary['content_sha256'][:16]}"
    )
    return 0


# --------------------------------------------------------------------------- main


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 error, 2 bad command line)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a malformed command line
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if not getattr(args, "command", None):
        print(
            f"error: choose a command: methods, render or synth (see '{PROG} --help')",
            file=sys.stderr,
        )
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (BokehError, OSError, ValueError) as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, the traceback on request
        if args.verbose:
            traceback.print_exc()
        print(
            f"error: unexpected {type(exc).__name__}: {_one_line(exc)} "
            "(run with --verbose for the traceback)",
            file=sys.stderr,
        )
        return 1

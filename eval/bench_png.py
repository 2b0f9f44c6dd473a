"""The app's PNG input and output against Pillow, one thread on both sides.

    python -m eval.bench_png [--size 2048] [--repeats 7]

- decode: :func:`bokeh.imaging.load_image` (``uint8=True``, as the app loads an upload; the
  common PNG goes through :mod:`bokeh.pngfast`) against ``Image.open(...).load()`` and
  ``numpy.asarray`` (Pillow's decoder alone, without the completeness check the app needs);
- encode: :func:`bokeh.pngout.encode_png` on one thread against Pillow's ``save`` at
  ``compress_level=1`` (its fastest compressing level) and at its default, with file sizes.

The photo is the one ``eval/bench_app.py`` uploads (scikit-image's ``chelsea``, resized).
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bokeh import deflate, pngout
from bokeh.imaging import load_image
from eval.bench_app import write_inputs
from eval.timing import Timer, paired_medians, wall_timer


def measure(
    *, size: tuple[int, int] = (2048, 2048), repeats: int = 7, timer: Timer = wall_timer
) -> dict[str, Any]:
    """Median times on a ``size`` = (w, h) photo (alternating ours and Pillow's, after a
    warm-up each) and file sizes."""
    with tempfile.TemporaryDirectory(prefix="bench-png-") as folder:
        path = write_inputs(Path(folder), size)["photo"]
        data = Path(path).read_bytes()
        pixels = load_image(data, uint8=True, max_side=None).image

        def pillow_decode():
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                return np.asarray(im)

        def pillow_save(**kw) -> bytes:
            out = io.BytesIO()
            Image.fromarray(pixels).save(out, "PNG", **kw)
            return out.getvalue()

        pairs = {
            "decode": (lambda: load_image(data, uint8=True, max_side=None), pillow_decode),
            "encode": (
                lambda: pngout.encode_png(pixels, workers=1),
                lambda: pillow_save(compress_level=1),
            ),
        }
        times = {
            name: paired_medians(ours, theirs, repeats=repeats, timer=timer, label=f"png {name}")
            for name, (ours, theirs) in pairs.items()
        }
        sizes = {
            "ours": len(pngout.encode_png(pixels)),
            "pillow level 1": len(pillow_save(compress_level=1)),
            "pillow default": len(pillow_save()),
        }
    return {"size": size, "times": times, "bytes": sizes, "backend": deflate.BACKEND}


def format_result(r: dict[str, Any]) -> str:
    w, h = r["size"]
    lines = [f"PNG {w}x{h} photo, one thread on both sides (deflate backend: {r['backend']})"]
    for name, (ours, theirs) in r["times"].items():
        ref = "Image.open().load()" if name == "decode" else "PIL save compress_level=1"
        lines.append(f"  {name}: ours {ours * 1000:.1f} ms, {ref} {theirs * 1000:.1f} ms, "
                     f"ratio {ours / theirs:.2f}x")  # fmt: skip
    lines.append("  bytes: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in r["bytes"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench_png", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--size", type=int, default=2048, help="photo side in pixels")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    result = measure(size=(args.size, args.size), repeats=max(1, args.repeats))
    print(format_result(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

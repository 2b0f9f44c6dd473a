"""PNG files for the web app's outputs, written once, fast.

Gradio encodes every numpy image it is handed (PIL, PNG at zlib level 6) each time an output
updates, and the Compare view updates its gallery after every method: a 2048 px photo spends
about a second per encode, most of Compare's time through the app. The app writes each output
once, here, straight into Gradio's cache folder (which Gradio serves as it is), and hands
Gradio the paths.

:func:`encode_png` is a plain PNG writer: every row "Sub"-filtered (one numpy subtraction),
then zlib at level 1; about 8x faster than PIL's default for a photo, files about a third
larger. Nothing here imports gradio.
"""

from __future__ import annotations

import os
import struct
import uuid
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

COMPRESS_LEVEL = 1
_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)


def encode_png(image: np.ndarray, *, level: int = COMPRESS_LEVEL) -> bytes:
    """PNG bytes of a uint8 image: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA, 8 bits."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(
            f"image must be a uint8 array; got {getattr(image, 'dtype', type(image).__name__)}"
        )
    c = 1 if image.ndim == 2 else (image.shape[2] if image.ndim == 3 else 0)
    if c not in _COLOR_TYPES or min(image.shape[:2]) < 1:
        raise ValueError(f"image must be (H, W), (H, W, 3) or (H, W, 4); got {image.shape}")
    h, w = image.shape[:2]
    rows = np.ascontiguousarray(image).reshape(h, w * c)
    raw = np.empty((h, 1 + w * c), np.uint8)
    raw[:, 0] = 1  # filter "Sub": each byte minus the one a pixel to its left (mod 256)
    raw[:, 1 : 1 + c] = rows[:, :c]
    np.subtract(rows[:, c:], rows[:, :-c], out=raw[:, 1 + c :])
    data = zlib.compress(memoryview(raw).cast("B"), level)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", w, h, 8, _COLOR_TYPES[c], 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def png_file(image: np.ndarray, folder: str | os.PathLike) -> str:
    """Write uint8 ``image`` (see :func:`encode_png`) as a new PNG in ``folder``; its path.

    The file appears complete or not at all (written under a temporary name, then renamed).
    """
    data = encode_png(image)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex
    tmp, path = folder / f".{name}.png.tmp", folder / f"{name}.png"
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return str(path)


def png_files(images: Sequence[np.ndarray | None], folder: str | os.PathLike) -> list[str | None]:
    """:func:`png_file` for each image (None stays None), on parallel threads (zlib releases
    the GIL)."""
    todo = [i for i, im in enumerate(images) if im is not None]
    out: list[str | None] = [None] * len(images)
    if len(todo) <= 1:
        for i in todo:
            out[i] = png_file(images[i], folder)
        return out
    with ThreadPoolExecutor(min(len(todo), os.cpu_count() or 1)) as pool:
        for i, path in zip(
            todo, pool.map(lambda i: png_file(images[i], folder), todo), strict=True
        ):
            out[i] = path
    return out

"""PNG files for the web app's outputs, written once, fast.

Gradio encodes every numpy image it is handed (PIL, PNG at zlib level 6) each time an output
updates, and the Compare view updates its gallery after every method: a 2048 px photo spends
about a second per encode, most of Compare's time through the app. The app writes each output
once, here, straight into Gradio's cache folder (which Gradio serves as it is), and hands
Gradio the paths.

:func:`encode_png` is a plain PNG writer: every row "Sub"-filtered (one numpy subtraction),
then deflated at level 1 (ISA-L's fastest level when it is installed, :mod:`bokeh.deflate`:
4x zlib's level 1 and slightly smaller; zlib's level 1 was about 8x faster than PIL's default
for a photo, with files about a third larger). A large image is deflated in row bands on
parallel threads (both backends release the GIL): each band is a raw deflate stream ended with
a sync flush (byte-aligned, not final), the last one finished, so the bands joined under one
zlib header and one Adler-32 are one valid stream.
Nothing here imports gradio.
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

from bokeh import deflate

COMPRESS_LEVEL = 1
BAND_BYTES = 1 << 20  # filtered bytes per band deflated on its own thread (at least)
_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)
_ADLER_BASE = 65521


def encode_png(
    image: np.ndarray, *, level: int = COMPRESS_LEVEL, workers: int | None = None
) -> bytes:
    """PNG bytes of a uint8 image: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA, 8 bits.

    ``level``: zlib level 0..9. ``workers``: threads deflating row bands of at least
    :data:`BAND_BYTES` each (None: one per CPU; 1: one stream on this thread). The pixels
    decode the same whatever the number of bands.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(
            f"image must be a uint8 array; got {getattr(image, 'dtype', type(image).__name__)}"
        )
    c = 1 if image.ndim == 2 else (image.shape[2] if image.ndim == 3 else 0)
    if c not in _COLOR_TYPES or min(image.shape[:2]) < 1:
        raise ValueError(f"image must be (H, W), (H, W, 3) or (H, W, 4); got {image.shape}")
    if isinstance(level, bool) or level not in range(10):
        raise ValueError(f"level must be an int in 0..9; got {level!r}")
    h, w = image.shape[:2]
    rows = np.ascontiguousarray(image).reshape(h, w * c)
    workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    bands = max(1, min(workers, h, rows.nbytes // BAND_BYTES))
    edges = np.linspace(0, h, bands + 1).round().astype(int)
    jobs = [(rows[a:b], c, level, b == h) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    if bands == 1:
        parts = [_deflate_band(*jobs[0])]
    else:
        with ThreadPoolExecutor(bands) as pool:
            parts = list(pool.map(lambda job: _deflate_band(*job), jobs))
    checksum = parts[0][1]
    for _, adler, n in parts[1:]:
        checksum = _adler32_combine(checksum, adler, n)
    # zlib header: deflate with a 32 KiB window, no dictionary (0x78 0x01 passes its check)
    data = b"".join([b"\x78\x01", *(p[0] for p in parts), struct.pack(">I", checksum)])

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", w, h, 8, _COLOR_TYPES[c], 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def _deflate_band(rows: np.ndarray, c: int, level: int, last: bool) -> tuple[bytes, int, int]:
    """(raw deflate data, Adler-32, length) of ``rows`` (uint8 (n, W*c), pixels of ``c``
    channels), each row "Sub"-filtered; sync-flushed unless ``last`` (then finished)."""
    n, width = rows.shape
    raw = np.empty((n, 1 + width), np.uint8)
    raw[:, 0] = 1  # filter "Sub": each byte minus the one a pixel to its left (mod 256)
    raw[:, 1 : 1 + c] = rows[:, :c]
    np.subtract(rows[:, c:], rows[:, :-c], out=raw[:, 1 + c :])
    data = memoryview(raw).cast("B")
    stream = deflate.compressobj(level, -15)  # raw deflate: no header, no checksum
    out = stream.compress(data) + stream.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
    return out, deflate.adler32(data), len(data)


def _adler32_combine(first: int, second: int, length: int) -> int:
    """Adler-32 of A + B from Adler-32 of A, of B, and B's length (zlib's adler32_combine)."""
    a = ((first & 0xFFFF) + (second & 0xFFFF) - 1) % _ADLER_BASE
    b = ((first >> 16) + (second >> 16) + length * ((first & 0xFFFF) - 1)) % _ADLER_BASE
    return (b << 16) | a


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
    """:func:`png_file` for each image (None stays None), one after another, each deflated on
    parallel threads."""
    return [None if image is None else png_file(image, folder) for image in images]

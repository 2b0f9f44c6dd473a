"""Pixels of the common PNG (8-bit grey, grey + alpha, RGB or RGBA, not interlaced), fast.

Pillow inflates a PNG with zlib and unfilters it on one thread, and :mod:`bokeh.pngcheck`
inflated the same data a second time to catch files whose data ends early: a 2048 px photo
took 85 ms to decode and 47 ms more CPU to check. :func:`decode` inflates once, with ISA-L
when it is installed (:mod:`bokeh.deflate`), into exactly the bytes the header declares (which
is the completeness check), then unfilters the rows in one compiled loop
(:mod:`bokeh.pngfilter`).

Anything else returns None, and Pillow decodes it as before (with the completeness check
beside it): palette and 16-bit images, interlaced files, and files with a chunk after the
image data other than IEND (a late eXIf or text chunk, which Pillow reads while decoding).
Chunks before the image data (ICC profile, EXIF, transparency, ...) are Pillow's to read: the
caller opens the file with Pillow first and keeps its ``info``.
"""

from __future__ import annotations

import struct

import numpy as np
from PIL import Image

from bokeh import deflate, lazy
from bokeh.pngcheck import PngDataError, png_header

_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour types read here -> channels (L, RGB, LA, RGBA)
_MODES = ("L", "LA", "RGB", "RGBA")  # Pillow's modes for them
_BAND_BYTES = 1 << 22  # inflated bytes unfiltered at a time (at least one row)


class PngFilterError(ValueError):
    """A row of the image data names a filter type that does not exist (a damaged file)."""


def decode(data: bytes | bytearray | memoryview) -> np.ndarray | None:
    """The pixels of a PNG file's bytes, or None when this reader does not take the file.

    Returns:
        uint8 (H, W) for grey, else (H, W, C) with C = 2 (grey, alpha), 3 (RGB) or 4 (RGBA),
        C-contiguous; the same values as Pillow's decoding.

    Raises:
        PngDataError: the image data ends before the last row, or is not valid zlib data.
        PngFilterError: a row has an unknown filter type.
    """
    view = memoryview(data).cast("B")
    try:
        w, h, depth, colour, method, filtering, interlace = png_header(view)
    except PngDataError:
        return None
    if depth != 8 or colour not in _CHANNELS or method or filtering or interlace or not w * h:
        return None
    c = _CHANNELS[colour]
    stride = w * c
    row = 1 + stride  # the filter byte, then the row's bytes
    parts = _image_data(view)
    if parts is None:
        return None
    pixels = np.empty((h, stride), np.uint8)
    inflater, data, y = deflate.decompressobj(), b"".join(parts), 0
    unfilter = _unfilter()
    while y < h:  # a band of rows at a time: the inflated bytes never sit whole in memory
        rows = min(h - y, max(1, _BAND_BYTES // row))
        try:
            band = inflater.decompress(data, rows * row)
        except deflate.error as exc:
            raise PngDataError(f"the image data is corrupt ({exc})") from None
        data = inflater.unconsumed_tail
        if len(band) < rows * row:
            raise PngDataError(f"image data ends early ({y * row + len(band)} of {h * row} bytes)")
        bad = unfilter(np.frombuffer(band, np.uint8).reshape(rows, row), pixels, c, y)
        if bad >= 0:
            raise PngFilterError(f"row {bad} has an unknown filter type")
        y += rows
    if not inflater.eof and inflater.decompress(data, 1):
        return None  # more data than rows: Pillow ignores the rest; leave such files to it
    return pixels.reshape(h, w) if c == 1 else pixels.reshape(h, w, c)


def decode_pil(im: Image.Image, data: bytes) -> Image.Image | None:
    """:func:`decode` of ``data``, the file of a PNG that Pillow opened as ``im`` (its header
    and the chunks before the image data read): a PIL image of the same mode keeping
    ``im.info`` (EXIF, ICC profile, transparency), or None when Pillow should decode it (at
    once, without decoding, when ``im``'s mode is not one read here). Raises as
    :func:`decode` does."""
    if im.mode not in _MODES:
        return None
    pixels = decode(data)
    if pixels is None:
        return None
    out = Image.fromarray(pixels)  # no copy; L, LA, RGB or RGBA from the shape
    out.info = dict(im.info)
    return out


def warm_up() -> None:
    """Compile the unfilter loop now (about 3 s on a new machine, then cached on disk), so that
    the first upload does not wait for it."""
    _unfilter()(np.zeros((1, 4), np.uint8), np.empty((1, 3), np.uint8), 3, 0)


def _unfilter():
    """The compiled unfilter loop (numba is imported with the first PNG, not with this module)."""
    return lazy.load("bokeh.pngfilter:unfilter")


def _image_data(view: memoryview) -> list[memoryview] | None:
    """The IDAT chunks' bodies, in order; None when a chunk other than IEND follows them or
    when there are none. Raises PngDataError when the file ends inside or before them."""
    parts: list[memoryview] = []
    pos, size = 8, len(view)
    while True:
        if pos + 8 > size:
            if parts:
                return None  # no IEND: unusual; Pillow decides
            raise PngDataError("the file ends before its image data")
        length, kind = struct.unpack_from(">I4s", view, pos)
        end = pos + 8 + length
        if kind == b"IDAT":
            if end > size:
                raise PngDataError("the file ends inside its image data")
            parts.append(view[pos + 8 : end])
        elif parts:
            return parts if kind == b"IEND" else None
        if length > 0x7FFFFFFF:
            raise PngDataError("a chunk has an impossible length")
        pos = end + 4  # the CRC (Pillow does not check the image data's either: zlib does)

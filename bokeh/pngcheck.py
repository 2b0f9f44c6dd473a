"""Refuse PNG files whose pixel data ends before their last row.

Pillow decodes a PNG whose compressed image data (the IDAT stream) is complete as zlib but
holds fewer rows than the header declares, and fills the missing rows with zeros: a 69-byte
file that claims 1x100,000,000 pixels decodes (into 100 MB), and a photo with a cut body
comes out with black rows. :func:`check_png_complete` inflates the IDAT stream once, without
keeping it, and compares its length with what the header implies, before Pillow allocates
anything; :func:`check_png_beside` does the same on another thread while Pillow decodes a
file whose size is plausible for what it declares.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
# Adam7 passes: (x start, y start, x step, y step)
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
_PIECE = 1 << 16
BESIDE_RATIO = 16  # declared data / file size up to which check_png_beside runs beside decoding
_CHECKS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bokeh-pngcheck")


class PngDataError(ValueError):
    """The PNG's image data is shorter than its header says (or unreadable)."""


def expected_data_bytes(
    width: int, height: int, bit_depth: int, color_type: int, interlace: int
) -> int:
    """Bytes of the filtered image data (one filter byte per row) a PNG header implies."""
    if color_type not in _CHANNELS or bit_depth not in (1, 2, 4, 8, 16):
        raise PngDataError("unsupported PNG header")
    bits = _CHANNELS[color_type] * bit_depth

    def rows(w: int, h: int) -> int:
        return 0 if w <= 0 or h <= 0 else h * (1 + (w * bits + 7) // 8)

    if interlace == 0:
        return rows(width, height)
    return sum(
        rows((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy) for x0, y0, dx, dy in _ADAM7
    )


def check_png_complete(fp: BinaryIO) -> None:
    """Raise :class:`PngDataError` unless the PNG in ``fp`` (a seekable binary stream at any
    position; left at an unspecified one) has an IDAT stream that inflates to at least the
    bytes its header declares and ends properly. Memory use stays under a few hundred kB
    whatever the file declares."""
    expected = _declared_bytes(fp)
    inflater, produced, seen_data = zlib.decompressobj(), 0, False
    while True:
        length, kind = _chunk_head(fp)
        if kind == b"IEND":
            break
        if kind != b"IDAT":
            fp.seek(length + 4, 1)
            continue
        seen_data = True
        left = length
        while left > 0:
            piece = fp.read(min(left, _PIECE))
            if not piece:
                raise PngDataError("the file ends inside its image data")
            left -= len(piece)
            produced += _inflate(inflater, piece, expected - produced)
            if produced > expected:
                break
        if produced > expected or inflater.eof:
            break
        fp.seek(4, 1)  # CRC
    if not seen_data or produced < expected:
        raise PngDataError(f"image data ends early ({produced} of {expected} bytes)")


def check_png_beside(data: bytes) -> Callable[[], None]:
    """Start :func:`check_png_complete` on a PNG file's bytes and return a function that waits
    for its verdict (raising :class:`PngDataError`).

    The check runs on another thread, beside the caller's decoding, when the data the header
    declares is at most :data:`BESIDE_RATIO` times the file's size (photos: 2 to 5); a file
    that declares more (69 bytes claiming 100 megapixels) is checked before this returns, so
    that nothing is decoded for it. Raises :class:`PngDataError` for a broken header at once.
    """
    if _declared_bytes(io.BytesIO(data)) > BESIDE_RATIO * len(data):
        check_png_complete(io.BytesIO(data))
        return passed
    return _CHECKS.submit(check_png_complete, io.BytesIO(data)).result


def passed() -> None:
    """The verdict of a check already made (or of a file that needs none)."""


def png_header(data: bytes | memoryview) -> tuple[int, int, int, int, int, int, int]:
    """(width, height, bit depth, colour type, compression, filter method, interlace) from
    the first 33 bytes of a PNG file (signature and IHDR); PngDataError when they are not."""
    if len(data) < 33 or bytes(data[:8]) != PNG_SIGNATURE:
        raise PngDataError("not a PNG file")
    if struct.unpack_from(">I4s", data, 8) != (13, b"IHDR"):
        raise PngDataError("the PNG header is missing")
    return struct.unpack_from(">IIBBBBB", data, 16)


def _declared_bytes(fp: BinaryIO) -> int:
    """The filtered data bytes the PNG header in ``fp`` declares (``fp`` left after IHDR)."""
    fp.seek(0)
    width, height, depth, colour, _, _, interlace = png_header(fp.read(33))
    return expected_data_bytes(width, height, depth, colour, interlace)


def _chunk_head(fp: BinaryIO) -> tuple[int, bytes]:
    head = fp.read(8)
    if len(head) < 8:
        raise PngDataError("the file ends before its last chunk")
    length, kind = struct.unpack(">I4s", head)
    if length > 0x7FFFFFFF:
        raise PngDataError("a chunk has an impossible length")
    return length, kind


def _inflate(inflater, data: bytes, room: int) -> int:
    """Inflate ``data``, counting and dropping the output; stop once past ``room`` bytes."""
    produced = 0
    while not inflater.eof:
        try:
            out = inflater.decompress(data, _PIECE)
        except zlib.error as exc:
            raise PngDataError(f"the image data is corrupt ({exc})") from None
        produced += len(out)
        if produced > room:
            break
        data = inflater.unconsumed_tail
        if not out and not data:
            break  # everything given is inflated; the stream goes on in the next chunk
    return produced

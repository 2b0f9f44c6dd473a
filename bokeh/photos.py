"""A photo as the library keeps it (:class:`Photo`), decoded from an upload by
:func:`load_photo`, which keeps a visitor's last photo for the next call with the same bytes."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from bokeh import config
from bokeh.depth.phone import EmbeddedDepth, load_with_depth
from bokeh.errors import BokehError
from bokeh.pixels import from_uint8


@dataclass(frozen=True)
class Photo:
    """An upload in the library's format, kept per session (uint8 to keep sessions small),
    with the depth map the phone stored in it, if any (at the map's own resolution)."""

    pixels: np.ndarray  # (H, W, 3) uint8 sRGB
    notes: tuple[str, ...]
    depth: EmbeddedDepth | None = None
    owner: str | None = None  # whose upload (the visitor's session), as load_photo was told

    @property
    def stored_focus(self) -> bool:
        """Whether the photo stores a focus distance (its focal plane until someone clicks)."""
        return self.depth is not None and self.depth.focus_disparity is not None

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]

    def as_float(self) -> np.ndarray:
        return from_uint8(self.pixels)

    @cached_property
    def pixels_key(self) -> str:
        """:func:`pixels_key` of the pixels, computed once per photo (a kept photo keeps it)."""
        return pixels_key(self.pixels)

    @cached_property
    def content_key(self) -> str:
        """The pixels' key and the owner: the depth cache's key for :meth:`as_float`'s image
        (whose pixels hash in a quarter of its bytes). The owner keeps one visitor's cached
        depth from another, as :class:`RecentPhoto` keeps their photos: otherwise a render's
        time would tell whether someone else had just rendered the same photo."""
        return f"pixels:{self.pixels_key}:owner:{self.owner or '-'}"


def pixels_key(pixels: np.ndarray) -> str:
    """A content key of an image: the SHA-256 of its pixels and their shape (hex)."""
    digest = hashlib.sha256(np.ascontiguousarray(pixels).data)
    digest.update(str(pixels.shape).encode())
    return digest.hexdigest()


def load_photo(source: Any, *, owner: str | None = None) -> Photo:
    """Decode an upload (path, bytes, PIL image or array) with the size policy applied, and
    the depth map a phone stored in it (read from the same bytes, once). Its arrays are
    read-only: a file's photo is kept decoded for the next call from the same ``owner`` (the
    app passes the visitor's session) with the same bytes (:class:`RecentPhoto`).

    Raises :class:`bokeh.errors.ImageReadError` with a message for people.
    """
    if source is None:
        raise BokehError("Upload a photo first.")
    key = _RECENT.key(source, owner)
    if key is not None and (photo := _RECENT.get(key)) is not None:
        return photo
    loaded, depth, notes = load_with_depth(source, uint8=True)
    loaded.image.flags.writeable = False
    if depth is not None:
        depth.disparity.flags.writeable = False
    photo = Photo(loaded.image, notes, depth, owner)
    if key is not None:
        _RECENT.put(key, photo)
    return photo


class RecentPhoto:
    """The last photo decoded from a file, by the SHA-256 of the file's bytes, the size limit
    and its owner. A script sends the same photo with every API call (a focus or aperture
    sweep), and Gradio stores each upload as a new file: hashing its bytes replaces decoding
    them again (a fraction of the cost). One photo of at most ``max_bytes`` of pixels is kept.
    The owner keeps one visitor's photo from another: otherwise the time of an upload would
    tell whether the same photo was the last one someone else sent."""

    def __init__(self, max_bytes: int = 64 << 20):
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._item: tuple[tuple, Photo] | None = None

    @staticmethod
    def key(source: Any, owner: str | None) -> tuple | None:
        """(digest, size limit, owner) of a file's bytes; None for other sources and
        unreadable paths (the decoder says why)."""
        if not isinstance(source, (str, os.PathLike)):
            return None
        try:
            with open(source, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").digest()
        except (OSError, ValueError):
            return None
        return digest, config.max_side(), owner

    def get(self, key: tuple) -> Photo | None:
        with self._lock:
            return self._item[1] if self._item is not None and self._item[0] == key else None

    def put(self, key: tuple, photo: Photo) -> None:
        if photo.pixels.nbytes <= self.max_bytes:
            with self._lock:
                self._item = (key, photo)


_RECENT = RecentPhoto()

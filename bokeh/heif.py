"""HEIC/HEIF photos (iPhone) through the optional package pillow-heif.

:func:`register` lets PIL open HEIF files (so :func:`bokeh.imaging.load_image` decodes them);
:func:`open_heif` reads a file's structure for its depth image (:mod:`bokeh.depth.phone`).
Without pillow-heif, HEIC uploads are refused with a sentence that names the package.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from bokeh import lazy
from bokeh.errors import BokehError

logger = logging.getLogger("bokeh.heif")

PACKAGE = "pillow_heif"
PURPOSE = "Reading HEIC/HEIF photos (pip install pillow-heif)"


def available() -> bool:
    """Whether pillow-heif is installed (nothing is imported)."""
    return lazy.available(PACKAGE)


@functools.cache
def register() -> bool:
    """Register pillow-heif's HEIF opener with PIL, once per process; False when the package
    is not installed or cannot be imported (logged once: other formats must keep working)."""
    if not available():
        return False
    try:
        lazy.optional(PACKAGE, purpose=PURPOSE).register_heif_opener()
    except BokehError as exc:
        logger.warning("HEIC photos cannot be read: %s", exc)
        return False
    return True


def open_heif(data: bytes) -> Any:
    """pillow-heif's ``HeifFile`` for ``data`` (parses the container; decodes no pixels).
    Raises BokehError naming the package when it is not installed."""
    pillow_heif = lazy.optional(PACKAGE, purpose=PURPOSE)
    return pillow_heif.open_heif(data, convert_hdr_to_8bit=False)

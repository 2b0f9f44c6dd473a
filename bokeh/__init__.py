"""bokeh: realistic shallow depth of field from one photo.

Public API (light: importing it loads no model and no torch; gradio's ``gr.Plot`` imports this
package and reads ``__version__``)::

    import bokeh
    bokeh.list_methods()                       # registered method names
    pipe = bokeh.load_method("depth-lens")     # cached pipeline
    result = pipe(bokeh.load_image("photo.jpg").image, focus=(320, 240), fnumber=1.8)
    result = bokeh.render("photo.jpg", method="depth-lens", focus=(320, 240))  # the same
"""

from __future__ import annotations

import os

# PyTorch's CPU allocator reads this at its first block of 2 MiB or more: such blocks are then
# 2 MiB-aligned and advised as transparent huge pages (kernel THP mode "madvise" or "always").
# A network's activations are fresh mappings at every layer, faulted in 4 KiB at a time
# without it (README, Speed: the page faults of a Compare at 2048 px, with and without).
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from bokeh.errors import BokehError
from bokeh.imaging import load_image
from bokeh.registry import list_methods, load_method
from bokeh.version import __version__

__all__ = ["BokehError", "__version__", "list_methods", "load_image", "load_method", "render"]


def render(image, method: str = "depth-lens", **settings):
    """Load ``image`` (path, bytes, PIL image or array), run ``method``, return its Result."""
    return load_method(method)(load_image(image).image, **settings)

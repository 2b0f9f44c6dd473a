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

from bokeh.errors import BokehError
from bokeh.imaging import load_image
from bokeh.registry import list_methods, load_method
from bokeh.version import __version__

__all__ = ["BokehError", "__version__", "list_methods", "load_image", "load_method", "render"]


def render(image, method: str = "depth-lens", **settings):
    """Load ``image`` (path, bytes, PIL image or array), run ``method``, return its Result."""
    return load_method(method)(load_image(image).image, **settings)

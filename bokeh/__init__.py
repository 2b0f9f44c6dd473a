"""bokeh: realistic shallow depth of field from one photo.

Public API (heavy modules load lazily, so ``import bokeh`` stays cheap; gradio's ``gr.Plot``
imports this package and reads ``__version__``)::

    import bokeh
    bokeh.list_methods()                       # registered method names
    pipe = bokeh.load_method("depth-lens")     # cached pipeline
    result = pipe(bokeh.load_image("photo.jpg").image, focus=(320, 240), fnumber=1.8)
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "list_methods", "load_method", "load_image", "render", "BokehError"]

from bokeh.errors import BokehError


def list_methods(**kwargs):
    from bokeh.registry import list_methods as _list

    return _list(**kwargs)


def load_method(name: str, **kwargs):
    from bokeh.registry import load_method as _load

    return _load(name, **kwargs)


def load_image(source, **kwargs):
    from bokeh.imaging import load_image as _load

    return _load(source, **kwargs)


def render(image, method: str = "depth-lens", **settings):
    """Load ``image`` (path, bytes, PIL image or array), run ``method``, return its Result."""
    loaded = load_image(image)
    return load_method(method)(loaded.image, **settings)

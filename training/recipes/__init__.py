"""The training recipes, one module per trained network (see :mod:`training.recipe`).

Each module defines ``RECIPE``; its name is its network's ``TrainingSpec.name`` in
:mod:`bokeh.methods`. Adding a trained method is its spec file there plus a module here and one
line in :data:`MODULES`.
"""

from __future__ import annotations

import difflib

from bokeh.errors import UnknownMethodError
from training.recipe import Recipe
from training.recipes import bggan, cyclegan, densedepth, pix2pix

MODULES = (pix2pix, cyclegan, bggan, densedepth)
RECIPES: dict[str, Recipe] = {m.RECIPE.name: m.RECIPE for m in MODULES}


def get_recipe(name: str) -> Recipe:
    """The recipe of training method ``name``; :class:`UnknownMethodError` lists them."""
    recipe = RECIPES.get(name)
    if recipe is None:
        close = difflib.get_close_matches(str(name), RECIPES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownMethodError(
            f"unknown training method {name!r}{hint}; available: {', '.join(RECIPES)}."
        )
    return recipe


__all__ = ["RECIPES", "get_recipe"]

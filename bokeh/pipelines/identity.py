"""The baseline: returns the input unchanged (what a method must beat)."""

from __future__ import annotations

import time

from bokeh.checks import check_image
from bokeh.params import validate_settings
from bokeh.pipelines.base import Result, check_focus
from bokeh.specs import MethodSpec


class IdentityPipeline:
    def __init__(self, spec: MethodSpec) -> None:
        self.spec = spec

    def __call__(self, image, *, focus=None, **settings) -> Result:
        start = time.perf_counter()
        image = check_image(image)
        validate_settings(self.spec.params, settings, self.spec.name)
        focus = check_focus(focus, image.shape[1], image.shape[0])
        info = {"method": self.spec.name, "focus": focus, "notes": [],
                "seconds": time.perf_counter() - start}  # fmt: skip
        return Result(image.copy(), None, info)

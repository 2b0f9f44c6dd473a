"""The baseline: returns the input unchanged (what a method must beat)."""

from __future__ import annotations

import time

from bokeh.pipelines.base import Result, check_focus, check_input


class IdentityPipeline:
    name = "identity"

    def __call__(self, image, *, focus=None, **settings) -> Result:
        start = time.perf_counter()
        image = check_input(image)
        focus = check_focus(focus, image.shape[1], image.shape[0])
        return Result(image.copy(), None, {
            "method": self.name, "focus": focus, "seconds": time.perf_counter() - start,
            "notes": [],
        })

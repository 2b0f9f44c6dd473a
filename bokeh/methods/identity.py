"""The baseline every method must beat: the input, unchanged."""

from __future__ import annotations

from bokeh.specs import MethodSpec

IDENTITY = MethodSpec(
    name="identity",
    label="Identity (input unchanged)",
    kind="baseline",
    description="Returns the input: the baseline every method must beat.",
    pipeline="bokeh.pipelines.identity:IdentityPipeline",
)

SPECS = (IDENTITY,)

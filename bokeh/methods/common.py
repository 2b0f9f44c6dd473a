"""Pieces shared by several method specs."""

from __future__ import annotations

from bokeh.params import Param
from bokeh.specs import MethodSpec, NetworkSpec

MAX_TILE = 4096
TRANSLATE_PARAMS: tuple[Param, ...] = (
    Param("tile", "int", 0, "Tile size (px)",
          "0 = whole image at once; else overlapping tiles of this size with blended seams "
          "(less memory on large images)", 0, MAX_TILE, 64),
)  # fmt: skip


def translation_method(
    name: str, *, label: str, ui_label: str, network: NetworkSpec, description: str
) -> MethodSpec:
    """An image-to-image method that runs one trained generator (pix2pix, CycleGAN, BGGAN)."""
    return MethodSpec(
        name=name,
        label=label,
        ui_label=ui_label,
        kind="translation",
        description=description,
        pipeline="bokeh.pipelines.translate:TranslationPipeline",
        params=TRANSLATE_PARAMS,
        networks=(network,),
        weights_required=True,
    )

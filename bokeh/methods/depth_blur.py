"""Depth + blur: a depth source, then a renderer (the lens model or the paper's threshold blur)."""

from __future__ import annotations

from bokeh.depth import DEPTH_SOURCES
from bokeh.methods.densedepth import DENSEDEPTH
from bokeh.params import Param
from bokeh.specs import MethodSpec

PIPELINE = "bokeh.pipelines.depth_blur:DepthBlurPipeline"

# Settings every depth method takes (where its depth comes from).
DEPTH_PARAMS = (
    Param("depth_source", "choice", "auto", "Depth source", choices=DEPTH_SOURCES,
          help="auto: uploaded map, else the depth map stored in the photo (phone portrait "
               "JPEG or HEIC), else Depth Anything V2 Small (local folder, HF cache or Hub), "
               "else DenseDepth with real (non-demo) weights, else classical"),
    Param("depth_kind", "choice", "disparity", "Depth map holds", choices=("disparity", "depth"),
          help="disparity: brighter is nearer; depth: brighter is farther"),
    Param("depth_invalid", "choice", "none", "Unknown value in the depth map",
          choices=("none", "0"), help="0: pixels at 0 are unknown (Middlebury disparity) and "
          "are filled from the nearest known ones, not read as infinitely far"),
)  # fmt: skip
# What a photographer edits (bokeh.editing): the focus range, the falloff, refine strokes, and
# how the depth used is shown.
EDIT_PARAMS = (
    Param("focus_range", "box", None, "Focus range (x0,y0,x1,y1 px)",
          "a box on the photo whose depth stays sharp: sets the focal plane and the in-focus band "
          "from the depth inside it (replaces the focus point and the band); empty = off"),
    Param("falloff", "float", 0.0, "Falloff",
          "softens the step from sharp to blurred: the blur fades in over this much disparity "
          "past the in-focus band (0 = starts at once)", 0.0, 0.5, 0.01),
    Param("refine", "refine", None, "Refine strokes",
          'painted depth corrections: a JSON list of {"mode": "focus" or "blur", "size": brush '
          'diameter px, "points": [[x, y], ...]}; focus pulls a region onto the focal plane, '
          "blur pushes it away"),
    Param("refine_strength", "float", 1.0, "Refine strength",
          "how far the refine strokes move the depth (1 = all the way)", 0.0, 1.0, 0.05),
    Param("depth_overlay", "float", 1.0, "Depth overlay opacity",
          "Visualize depth: the depth map's colours over the photo (1 = depth only, 0 = photo "
          "only), the in-focus range in green", 0.0, 1.0, 0.05),
)  # fmt: skip
# Lens character (bokeh.renderers.character): 0 = off; they combine.
CHARACTER_PARAMS = (
    Param("cat_eye", "float", 0.0, "Cat-eye",
          "discs clipped by the lens barrel towards the frame edges (0 = off, 1 = strong)",
          0.0, 1.0, 0.05),
    Param("bubble", "float", 0.0, "Soap bubble",
          "bright-rimmed discs behind the focal plane, soft ones in front (0 = off)", 0.0, 1.0,
          0.05),
    Param("ring", "float", 0.0, "Ring (mirror lens)",
          "a hole in every disc, as a fraction of its radius (0 = off)", 0.0, 0.9, 0.05),
    Param("chromatic_aberration", "float", 0.0, "Colour fringes",
          "longitudinal chromatic aberration: warm fringes behind the focal plane, cool in "
          "front (0 = off)", 0.0, 1.0, 0.05),
)  # fmt: skip
LENS_PARAMS = DEPTH_PARAMS + (
    Param("fnumber", "float", 1.8, "f-number", "smaller is blurrier (blur ~ 1/N)", 0.5, 32.0, 0.1),
    Param("band", "float", 0.03, "In-focus band", "disparity half-width kept sharp", 0.0, 0.5,
          0.01),
    Param("blades", "int", 0, "Aperture blades", "0 = round, else 3..16", 0, 16, 1,
          allowed=(0, *range(3, 17))),
    Param("rotation", "float", 0.0, "Aperture rotation (deg)", "", 0.0, 360.0, 1.0),
) + CHARACTER_PARAMS + (
    Param("highlight_boost", "float", 1.0, "Highlight boost",
          "brightens small clipped highlights (lights, glints) into bright bokeh discs; 1 keeps "
          "the brightness of a 4 px light", 0.0, 10.0, 0.1),
    Param("input_fnumber", "float", 0.0, "Input f-number",
          "the photo's own f-number when it has a depth of field (16 for EBB! and VABD); "
          "0 = sharp everywhere", 0.0, 64.0, 0.1),
    Param("subject_distance", "float", 0.0, "Subject distance (m)",
          "sets the blur scale of relative depth; 0 = estimate", 0.0, 100.0, 0.1),
) + EDIT_PARAMS  # fmt: skip
GAUSS_PARAMS = DEPTH_PARAMS + (
    Param("threshold", "float", 0.25, "Depth threshold",
          "normalised depth above which the image is blurred (paper: 0.2, 0.25, 0.3)", 0.0, 1.0,
          0.01),
    Param("sigma", "float", 10.0, "Gaussian sigma (px at 1024 px height)", "", 0.0, 100.0, 0.5),
    Param("feather", "float", 0.0, "Feather", "0 = the paper's hard mask", 0.0, 0.5, 0.01),
)  # fmt: skip

LENS = MethodSpec(
    name="depth-lens",
    label="Depth + lens blur",
    ui_label="Lens (physically based)",
    kind="depth",
    description="Depth source, then an occlusion-aware layered lens renderer in linear light "
    "(f-number, in-focus band, aperture blades, highlight boost).",
    pipeline=PIPELINE,
    renderer="bokeh.pipelines.depth_blur:render_lens_settings",
    params=LENS_PARAMS,
    networks=(DENSEDEPTH,),
)
GAUSS = MethodSpec(
    name="depth-gauss",
    label="Depth + threshold Gaussian (paper)",
    ui_label="Paper: threshold Gaussian",
    kind="depth",
    description="The paper's renderer: Gaussian blur wherever normalised depth exceeds a "
    "threshold.",
    pipeline=PIPELINE,
    renderer="bokeh.pipelines.depth_blur:render_gauss_settings",
    params=GAUSS_PARAMS,
    networks=(DENSEDEPTH,),
)


def _paper_threshold(t: str) -> MethodSpec:
    return MethodSpec(
        name=f"depth-gauss-{t}",
        label=f"Depth + threshold Gaussian, threshold {t} (paper)",
        kind="depth",
        description=f"The paper's renderer with its threshold {t}.",
        pipeline=PIPELINE,
        renderer=GAUSS.renderer,
        params=GAUSS_PARAMS,
        networks=GAUSS.networks,
        family=GAUSS.name,
        defaults={"threshold": float(t)},
    )


SPECS = (LENS, GAUSS, *(_paper_threshold(t) for t in ("0.2", "0.25", "0.3")))

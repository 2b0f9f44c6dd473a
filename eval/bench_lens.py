"""depth-lens against scipy's Gaussian filter with the same thread count, its accuracy against the
exact reference, and how its cost grows with image size and blur radius.

Scenes (1536x1024 unless asked otherwise), rendered at the app's defaults (f/1.8, in-focus band
0.03, highlight boost 1.5):

- ``bench``: scikit-image's astronaut over a synthetic disparity: a subject in focus (an ellipse
  with soft edges) over a ground plane receding to the top;
- ``motorcycle``: the Middlebury motorcycle shipped in ``assets/examples`` with its *measured*
  disparity (16-bit PNG), both upscaled bilinearly, focused on the engine as the app's example
  is (the point (300, 250) of the 741x500 original).

The reference is ``scipy.ndimage.gaussian_filter(image, sigma=(10, 10, 0))``. With ``threads``
threads, the renderer gets ``torch.set_num_threads(threads)`` and the reference runs on
``threads`` Python threads over row bands, each with a halo of 41 rows (the filter's reach:
the result equals one call on the whole image). Neither side uses numpy's BLAS. Reference and
renderer calls alternate in a random order (:func:`eval.timing.alternate`) and the medians are
compared, so that load from other processes hits both alike.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage
from skimage import data, transform

from bokeh.pipelines.depth_blur import focus_disparity
from bokeh.renderers.coc import signed_coc, strength_for_fnumber
from bokeh.renderers.gauss import render_threshold_gauss
from bokeh.renderers.lens import render_lens
from eval.timing import Timer, paired_medians, wall_timer
from tests.lens_reference import reference_render

ROOT = Path(__file__).resolve().parents[1]
SCENES = ("bench", "motorcycle")
SIGMA = 10.0
_HALO = int(4.0 * SIGMA + 0.5) + 1  # gaussian_filter's default truncate (4 sigma), plus one
MOTO_FOCUS = (300.0, 250.0)  # the app's example focus, in the 741x500 original
GROWTH_WIDTHS = (512, 1024, 1536, 2048, 3072)
GROWTH_FNUMBERS = (1.4, 2.8, 8.0)


@dataclass(frozen=True)
class Scene:
    """image (H, W, 3) float32 sRGB in [0, 1]; disparity (H, W) float32 in [0, 1], 1 = near."""

    name: str
    image: np.ndarray
    disparity: np.ndarray
    focus_disparity: float


def _resize(array: np.ndarray, height: int, width: int) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    t = t.permute(2, 0, 1)[None] if t.ndim == 3 else t[None, None]
    out = F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)[0]
    out = out.permute(1, 2, 0) if array.ndim == 3 else out[0]
    return np.ascontiguousarray(np.clip(out.numpy(), 0.0, 1.0))


def make_scene(name: str, width: int = 1536, height: int = 1024) -> Scene:
    """One of :data:`SCENES` at ``width`` x ``height``."""
    if name == "bench":
        image = transform.resize(data.astronaut(), (height, width), order=1, anti_aliasing=True)
        image = np.ascontiguousarray(image, dtype=np.float32)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        disparity = 0.15 + 0.35 * yy / height
        subject = ((xx - 0.45 * width) / (0.2 * width)) ** 2 + (
            (yy - 0.5 * height) / (0.4 * height)
        ) ** 2 < 1
        disparity[subject] = 0.8
        disparity = ndimage.gaussian_filter(disparity, 2).astype(np.float32)
        return Scene(name, image, disparity, 0.8)
    if name == "motorcycle":
        folder = ROOT / "assets" / "examples"
        photo = np.asarray(Image.open(folder / "motorcycle.png").convert("RGB"), np.float32)
        disp = np.asarray(Image.open(folder / "motorcycle_disparity.png"), np.float32) / 65535
        h0, w0 = disp.shape
        image, disparity = _resize(photo / 255.0, height, width), _resize(disp, height, width)
        focus = (MOTO_FOCUS[0] * width / w0, MOTO_FOCUS[1] * height / h0)
        return Scene(name, image, disparity, focus_disparity(disparity, focus))
    raise ValueError(f"unknown scene {name!r}; choose from {SCENES}")


def lens_kwargs(scene: Scene, fnumber: float = 1.8) -> dict:
    """render_lens keyword arguments for ``scene`` at ``fnumber`` (the app's defaults)."""
    return {
        "focus_disparity": scene.focus_disparity,
        "strength": strength_for_fnumber(fnumber, scene.image.shape[0]),
        "band": 0.03,
        "highlight_boost": 1.5,
    }


def gaussian_reference(
    image: np.ndarray, pool: ThreadPoolExecutor | None = None, threads: int = 1
) -> np.ndarray:
    """``gaussian_filter(image, sigma=(10, 10, 0))``, on ``threads`` bands of rows run on
    ``pool`` (one call when ``pool`` is None)."""
    if pool is None or threads <= 1:
        return ndimage.gaussian_filter(image, sigma=(SIGMA, SIGMA, 0))
    h = image.shape[0]
    out = np.empty_like(image)
    cuts = np.linspace(0, h, threads + 1).astype(int)

    def band(i: int) -> None:
        y0, y1 = cuts[i], cuts[i + 1]
        lo, hi = max(0, y0 - _HALO), min(h, y1 + _HALO)
        blurred = ndimage.gaussian_filter(image[lo:hi], sigma=(SIGMA, SIGMA, 0))
        out[y0:y1] = blurred[y0 - lo : y1 - lo]

    list(pool.map(band, range(len(cuts) - 1)))
    return out


def with_threads(threads: int):
    """Context manager: torch at ``threads`` threads (restored after)."""

    @contextlib.contextmanager
    def scope():
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    return scope()


def lens_ratio(scene: Scene, *, threads: int, repeats: int, timer: Timer) -> dict:
    """Median times of depth-lens and of the Gaussian reference on ``scene`` at ``threads``."""
    kwargs = lens_kwargs(scene)
    with with_threads(threads), ThreadPoolExecutor(threads) as pool:
        use = pool if threads > 1 else None
        lens_s, ref_s = paired_medians(
            lambda: render_lens(scene.image, scene.disparity, **kwargs),
            lambda: gaussian_reference(scene.image, use, threads),
            repeats=repeats,
            timer=timer,
            label=f"depth-lens {scene.name} {threads}t",
        )
    return {"seconds": lens_s, "reference_seconds": ref_s, "ratio": lens_s / ref_s}


def gauss_ratio(scene: Scene, *, repeats: int, timer: Timer) -> dict:
    """The paper's threshold Gaussian against the reference, one thread each."""
    with with_threads(1):
        s, r = paired_medians(
            lambda: render_threshold_gauss(
                scene.image, scene.disparity, threshold=0.25, sigma=SIGMA
            ),
            lambda: gaussian_reference(scene.image),
            repeats=repeats,
            timer=timer,
            label=f"depth-gauss {scene.name} 1t",
        )
    return {"seconds": s, "reference_seconds": r, "ratio": s / r}


def psnr_against_reference(scene: Scene) -> float:
    """PSNR (dB, peak 1) of depth-lens against the exact slow reference
    (``tests/lens_reference.py``: full resolution, direct convolution of every level)."""
    kwargs = lens_kwargs(scene)
    fast = render_lens(scene.image, scene.disparity, **kwargs).astype(np.float64)
    exact = reference_render(scene.image, scene.disparity, **kwargs)
    mse = float(np.mean((fast - exact) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def fit_exponent(xs: Sequence[float], ts: Sequence[float]) -> float:
    """Least-squares slope of log(t) against log(x): cost ~ x ** slope."""
    lx, lt = np.log(np.asarray(xs, float)), np.log(np.asarray(ts, float))
    if len(lx) < 2 or np.ptp(lx) == 0:
        raise ValueError("need at least two distinct x values to fit an exponent")
    return float(np.polyfit(lx, lt, 1)[0])


def max_radius(scene: Scene, fnumber: float) -> float:
    """The largest blur radius (px) of ``scene`` at ``fnumber``."""
    kwargs = lens_kwargs(scene, fnumber)
    coc = signed_coc(
        scene.disparity,
        focus_disparity=kwargs["focus_disparity"],
        strength=kwargs["strength"],
        band=kwargs["band"],
    )
    return float(np.abs(coc).max())


def growth(
    *,
    scene_name: str = "motorcycle",
    widths: Sequence[int] = GROWTH_WIDTHS,
    fnumbers: Sequence[float] = GROWTH_FNUMBERS,
    width: int = 1536,
    repeats: int = 3,
    timer: Timer = wall_timer,
) -> dict:
    """depth-lens times (one thread, median of ``repeats``) at ``widths`` (3:2, f/1.8) and at
    ``fnumbers`` (``width`` wide), with the fitted exponents of time against pixel count and
    against the largest blur radius (px)."""

    def median_time(scene: Scene, fnumber: float) -> float:
        kwargs = lens_kwargs(scene, fnumber)
        label = f"growth {scene_name} {scene.image.shape[1]}x{scene.image.shape[0]} f/{fnumber:g}"
        render_lens(scene.image, scene.disparity, **kwargs)
        runs = [
            timer(label, lambda: render_lens(scene.image, scene.disparity, **kwargs))
            for _ in range(max(1, repeats))
        ]
        return float(np.median(runs))

    sizes, by_size, radii, by_radius = [], [], [], []
    with with_threads(1):
        for w in widths:
            scene = make_scene(scene_name, w, round(w * 2 / 3))
            sizes.append(scene.image.shape[0] * scene.image.shape[1])
            by_size.append(median_time(scene, 1.8))
        scene = make_scene(scene_name, width, round(width * 2 / 3))
        for n in fnumbers:
            radii.append(max_radius(scene, n))
            by_radius.append(median_time(scene, n))
    return {
        "widths": list(widths),
        "pixels": sizes,
        "size_seconds": by_size,
        "fnumbers": list(fnumbers),
        "max_radius_px": radii,
        "fnumber_seconds": by_radius,
        "pixel_exponent": fit_exponent(sizes, by_size),
        "radius_exponent": fit_exponent(radii, by_radius),
    }

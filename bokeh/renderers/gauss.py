"""The paper's depth + blur: a Gaussian-blurred image wherever normalised depth exceeds a threshold."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from bokeh.checks import check_image, check_map, check_unit_range


def normalise_depth(disparity: np.ndarray) -> np.ndarray:
    """Normalised depth in [0, 1] (0 = nearest) from normalised disparity (1 = nearest).

    The paper min-max normalises the predicted depth; our depth sources hand over normalised
    disparity, whose complement ``1 - d`` is the same ordering rescaled to [0, 1].
    """
    lo, hi = float(disparity.min()), float(disparity.max())
    if hi - lo < 1e-6:
        return np.zeros_like(disparity, dtype=np.float32)
    return ((hi - disparity) / (hi - lo)).astype(np.float32)


def render_threshold_gauss(
    image: np.ndarray,
    disparity: np.ndarray,
    *,
    threshold: float = 0.25,
    sigma: float = 10.0,
    feather: float = 0.0,
) -> np.ndarray:
    """The paper's renderer: pixels whose normalised depth exceeds ``threshold`` are replaced by
    a Gaussian-blurred copy of the image.

    Args:
        image: (H, W, 3) float sRGB in [0, 1].
        disparity: (H, W) normalised disparity in [0, 1], 1 = nearest; it is converted to
            normalised depth with :func:`normalise_depth`.
        threshold: depth threshold in [0, 1] (the paper uses 0.2, 0.25 and 0.3).
        sigma: Gaussian standard deviation in pixels (>= 0; 0 returns the input).
        feather: width of a smooth transition around the threshold, in depth units (>= 0);
            0 reproduces the paper's hard mask.

    Returns:
        (H, W, 3) float32 sRGB in [0, 1].
    """
    image = check_image(image)
    disparity = check_map(disparity, image.shape[:2], "disparity")
    check_unit_range(image, "image")
    check_unit_range(disparity, "disparity")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    if sigma < 0 or feather < 0:
        raise ValueError(f"sigma and feather must be >= 0, got {sigma} and {feather}")
    if sigma == 0:
        return image.copy()
    depth = normalise_depth(disparity)
    if feather > 0:
        t = np.clip((depth - (threshold - feather / 2)) / feather, 0.0, 1.0)
        mask = t * t * (3 - 2 * t)
    else:
        mask = (depth > threshold).astype(np.float32)
    blurred = ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0), mode="reflect")
    out = image + mask[..., None] * (blurred - image)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)

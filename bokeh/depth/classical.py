"""A classical, weights-free depth source: segment the clicked subject, then build a plausible
disparity map around it: a ground plane, upright segments standing on it, the subject in front.

This is a HEURISTIC, not a depth estimator. It answers "which part of the photo is the subject
the user clicked?" and invents a simple scene around it, so the depth + blur pipeline works
offline on real photos without any trained model:

1. Work on a copy whose long side is ``work_side`` pixels (default 384).
2. Split it into SLIC superpixels and link neighbours with colour-similarity weights.
3. Score each superpixel by a quadratic energy (a random walker with priors, in the spirit of
   Zhu et al., "Saliency optimization from robust background detection", CVPR 2014):

   * a hard subject seed: the superpixels under a small disc around the click;
   * a subject prior: geodesic colour proximity to the click (same-looking connected regions);
   * a background prior: "boundary connectivity" (regions that spread along the image border
     are background), a pull on superpixels touching the top, left and right edges (weaker on
     the bottom edge, which often cuts through the subject), and a weak pull on everything;
   * smoothness: neighbours with similar colour get similar scores.

   The minimiser of that energy is one small sparse linear solve. Its scores rank superpixels
   well but their scale varies between photos, so they are calibrated per photo: two Otsu
   thresholds (on the scores and on their logarithm) bracket the subject, and a smoothstep
   between them gives a soft mask in which doubtful regions get in-between values.
4. Feather the mask with an edge-aware guided filter (the photo is the guide) and carry it to
   full resolution with the "fast guided filter" trick (coefficients upsampled, then applied to
   the full-resolution photo), so edges follow the photo's own edges.
5. The scene is a ground plane with upright things standing on it (a "pop-up" model, after
   Hoiem, Efros & Hebert, "Automatic photo pop-up", SIGGRAPH 2005, who also combine several
   segmentations). The ground-plane prior says "lower in the frame = nearer", strictly
   increasing down the frame: from 0 at the top to ``HORIZON_DISPARITY`` at a horizon at 40 %
   of the height, then linearly to ``GROUND_NEAR_DISPARITY`` at the bottom row. A segment that
   does not touch the bottom edge is taken for an upright surface standing where it ends below
   (its ``CONTACT_PERCENTILE``-th percentile row), so it gets the prior of that row; segments
   touching the bottom edge are ground (or cut by the frame) and keep the prior row by row.
   Any one segmentation leaks (one segment spanning a wall and the object before it), so each
   pixel takes the mean of its contact rows over 16 segmentations (SLIC at 4 sizes and 3
   compactnesses, Felzenszwalb at 4 scales, on a copy half the work size). Nothing is pushed
   behind the ground: a pixel's contact row is never above its own row.
6. The clicked subject stands on that ground: it takes the prior's disparity at its contact
   row (the bottom of the mask's region under the click, at most ``CONTACT_BELOW`` of the
   height below the click) plus a gentle bulge towards its middle (at most
   ``SUBJECT_RELIEF``), and is never pushed farther than the scene behind it. Above the click
   its mask keeps its full weight for ``SUBJECT_HOLD`` times the subject's reach below the
   click, then fades out over ``SUBJECT_FADE`` times that reach (at least ``SUBJECT_FADE_MIN``
   of the height): a subject seldom reaches much farther above the click than below it, and a
   segmentation that leaks upwards into the background (a frequent failure) then does not
   pull the far background forward.

   The prior is a strong ranking on its own (it is the baseline of
   ``python -m eval realbench --only middlebury``); the pop-up re-orders it only where
   segments say that something stands up, and on the Middlebury scenes with measured disparity
   the result ranks depth better than the prior, with and without a click, while the render
   with it is closer to the render with measured depth than the unblurred photo is.

Everything is deterministic (SLIC starts from a regular grid, Felzenszwalb merges a fixed
graph; no random numbers are drawn).
Focus points are ``(x, y)`` in pixels of the given image: ``0 <= x < width``,
``0 <= y < height``; a point outside the image raises :class:`ValueError` (no clamping: a
point outside means the caller mixed up coordinates, and guessing would hide that).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage, sparse
from scipy.sparse.csgraph import shortest_path
from scipy.sparse.linalg import spsolve
from skimage.color import rgb2lab
from skimage.segmentation import felzenszwalb, slic

from bokeh.checks import check_image

__all__ = ["estimate_disparity", "ground_prior", "subject_mask"]

SUBJECT_RELIEF = 0.05  # extra disparity at the subject's middle (a gentle bulge)
HORIZON_DISPARITY = 0.1  # background at the horizon (0 at the top row)
GROUND_NEAR_DISPARITY = 0.5  # background at the bottom row
HORIZON = 0.4  # horizon height, as a fraction of the image height from the top
# Above the click, the subject mask keeps its full weight for SUBJECT_HOLD times the subject's
# reach below the click, then fades out over SUBJECT_FADE times that reach (at least
# SUBJECT_FADE_MIN of the height).
SUBJECT_HOLD = 0.5
SUBJECT_FADE = 1.0
SUBJECT_FADE_MIN = 0.1
CONTACT_BELOW = 0.05  # the subject's contact row lies at most this fraction below the click
POPUP_SEGMENTS = (50, 100, 200, 400)  # SLIC superpixel counts of the pop-up segmentations ...
POPUP_COMPACTNESS = (5.0, 10.0, 20.0)  # ... each with these compactnesses
POPUP_SCALES = (50, 100, 200, 400)  # Felzenszwalb scales of the pop-up segmentations
CONTACT_PERCENTILE = 95  # a segment's contact row: this percentile of its rows

_POPUP_SIZE = 0.5  # the pop-up segmentations run on a copy this fraction of the work size
_SUPERPIXEL_AREA = 250  # target superpixel area in work-size pixels
_MAX_PIXEL_NODES = 1024  # images this small use one graph node per pixel (all-pairs paths: n^2)
_MAX_SEGMENTS = 1000  # cap on superpixels (the geodesic distance table is n x n)
_SIGMA_COLOUR = 10.0  # Lab distance scale for similarity (Zhu et al. use 10)
_SMOOTH_FLOOR = 0.01  # added to every neighbour weight so no superpixel is cut off
_SEED_WEIGHT = 1e3  # strength of the hard subject seed
_BACKGROUND_FLOOR = 0.05  # weak pull of every superpixel towards background
_EDGE_PRIOR = 0.5  # pull towards background of superpixels on the top, left and right edges
_BOTTOM_EDGE_PRIOR = 0.15  # the same for the bottom edge


# ------------------------------------------------------------------------------ public API


def subject_mask(
    image: np.ndarray,
    *,
    focus: tuple[float, float] | None,
    work_side: int = 384,
) -> np.ndarray:
    """Soft mask of the subject under ``focus`` (a heuristic segmentation, no trained weights).

    Args:
        image: float array ``HxWx3`` in ``[0, 1]`` (sRGB).
        focus: ``(x, y)`` pixel of the subject, ``0 <= x < W``, ``0 <= y < H``; ``None`` means
            the image centre.
        work_side: long side, in pixels, of the copy the segmentation runs on (>= 16).

    Returns:
        float32 array ``HxW`` in ``[0, 1]``, 1 = subject; feathered along the photo's edges.

    Raises:
        ValueError: wrong shape, dtype or range of ``image``, or ``focus`` outside the image.
    """
    image, point = _check_inputs(image, focus, work_side)
    return _subject_mask_and_fields(image, point, work_side)[0]


def estimate_disparity(
    image: np.ndarray,
    *,
    focus: tuple[float, float] | None,
    work_side: int = 384,
) -> np.ndarray:
    """Heuristic normalised disparity: the clicked subject near, the rest a ground plane with
    upright segments standing on it.

    See the module docstring for the method and its constants; it is a guess that makes the
    clicked subject sharp and the rest recede, not a measurement of the scene.

    Args:
        image: float array ``HxWx3`` in ``[0, 1]`` (sRGB).
        focus: ``(x, y)`` pixel of the subject, ``0 <= x < W``, ``0 <= y < H``; ``None`` means
            the image centre.
        work_side: long side, in pixels, of the copy the segmentation runs on (>= 16).

    Returns:
        float32 array ``HxW`` in ``[0, 1]``, 1 = nearest, never below the ground-plane prior
        of its row: segments at the prior's disparity where they stand, the subject at the
        prior's disparity where it stands (see the module docstring).

    Raises:
        ValueError: wrong shape, dtype or range of ``image``, or ``focus`` outside the image.
    """
    image, point = _check_inputs(image, focus, work_side)
    mask, bulge_small, small = _subject_mask_and_fields(image, point, work_side)
    height, width = mask.shape
    rows = np.arange(height, dtype=np.float32)[:, None]
    background = _scene_disparity(small, (width, height))
    bottom = _region_bottom(mask, point)
    mask = mask * _subject_weight(rows, point[1], bottom, height)
    contact = min(bottom, point[1] + CONTACT_BELOW * height)
    standing = ground_prior(height)[min(height - 1, int(round(contact)))]
    subject = standing + SUBJECT_RELIEF * _resize(bulge_small, (width, height))
    disparity = background + mask * np.maximum(subject - background, 0.0)
    return np.ascontiguousarray(np.clip(disparity, 0.0, 1.0), dtype=np.float32)


def ground_prior(height: int) -> np.ndarray:
    """(height,) float32 disparity per row, strictly increasing downwards: 0 at the top,
    ``HORIZON_DISPARITY`` at ``HORIZON``, ``GROUND_NEAR_DISPARITY`` at the bottom."""
    return _prior_at((np.arange(height, dtype=np.float32) + 0.5) / height)


def _scene_disparity(small: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The scene without the subject (module docstring, step 5): the ground-plane prior at each
    pixel's contact row, float32 ``HxW`` for ``size=(W, H)``, never below the prior of the
    pixel's own row. Images too small to segment get the prior alone."""
    width, height = size
    own = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / height
    standing_at = np.broadcast_to(own, (height, width))
    coarse_w, coarse_h = round(small.shape[1] * _POPUP_SIZE), round(small.shape[0] * _POPUP_SIZE)
    if coarse_w * coarse_h > _MAX_PIXEL_NODES:
        coarse = np.clip(_resize(small, (coarse_w, coarse_h)), 0.0, 1.0)
        contact = (_popup_rows(coarse) + 0.5) / coarse_h  # as fractions of the height
        standing_at = np.maximum(_resize(contact, (width, height)), own)
    return _prior_at(standing_at)


def _prior_at(fraction: np.ndarray) -> np.ndarray:
    """The ground-plane prior at row positions given as fractions of the height (0 = top edge,
    1 = bottom edge); any shape, float32, strictly increasing in ``fraction``."""
    fraction = np.asarray(fraction, dtype=np.float32)
    above = HORIZON_DISPARITY * fraction / HORIZON
    below = HORIZON_DISPARITY + (GROUND_NEAR_DISPARITY - HORIZON_DISPARITY) * (
        (fraction - HORIZON) / (1.0 - HORIZON)
    )
    return np.where(fraction < HORIZON, above, below).astype(np.float32)


def _subject_weight(rows: np.ndarray, click: float, bottom: float, height: int) -> np.ndarray:
    """Weight in [0, 1] per row (same shape as ``rows``) of the subject mask: 1 at and below
    the click and for ``SUBJECT_HOLD`` times the subject's reach below the click
    (``bottom - click``) above it, then fading linearly to 0 over ``SUBJECT_FADE`` times that
    reach (at least ``SUBJECT_FADE_MIN`` of the height): a subject seldom reaches much farther
    above the click than below it, and a segmentation leaking upwards then counts little."""
    reach = max(0.0, bottom - click)
    fade = max(SUBJECT_FADE_MIN * height, SUBJECT_FADE * reach)
    above = click - SUBJECT_HOLD * reach - rows  # rows above the held part
    return np.clip(1.0 - above / fade, 0.0, 1.0).astype(np.float32)


def _region_bottom(mask: np.ndarray, point: tuple[float, float]) -> float:
    """Lowest row (98th percentile) of the mask's region (> 0.5) under the point; the point's
    row when the point is outside the mask."""
    labels, _ = ndimage.label(mask > 0.5)
    k = labels[int(round(point[1])), int(round(point[0]))]
    if k == 0:
        return float(point[1])
    return float(np.percentile(np.nonzero(labels == k)[0], 98))


def _popup_rows(small: np.ndarray) -> np.ndarray:
    """Pop-up: each pixel's contact row (float32 HxW, work-size rows, >= its own row), the mean
    over several segmentations (SLIC and Felzenszwalb at several sizes) of its segment's
    contact row, so that one segmentation's leak weighs little."""
    height, width = small.shape[:2]
    min_size = max(10, height * width // 2500)  # about 50 px at the usual work size
    segmentations = [
        slic(small, n_segments=n, compactness=c, sigma=0.5, start_label=0, channel_axis=-1)
        for n in POPUP_SEGMENTS
        for c in POPUP_COMPACTNESS
    ] + [felzenszwalb(small, scale=s, sigma=0.8, min_size=min_size) for s in POPUP_SCALES]
    return np.mean([_segment_contact(labels) for labels in segmentations], axis=0)


def _segment_contact(labels: np.ndarray) -> np.ndarray:
    """Per pixel (float32 HxW), the row where its segment stands: the segment's
    ``CONTACT_PERCENTILE``-th percentile row, and never above the pixel's own row. Segments
    that touch the bottom edge are ground (or cut by the frame): their pixels keep their row."""
    height, width = labels.shape
    flat = np.unique(labels.ravel(), return_inverse=True)[1].ravel()
    counts = np.bincount(flat)
    # A stable sort keeps raster order inside each segment, so its rows come out ascending.
    rows = np.argsort(flat, kind="stable") // width
    starts = np.cumsum(counts) - counts
    contact = rows[starts + (CONTACT_PERCENTILE / 100.0 * (counts - 1)).astype(np.intp)]
    own = np.repeat(np.arange(height, dtype=np.float32)[:, None], width, axis=1)
    ground = np.zeros(counts.size, dtype=bool)
    ground[flat[-width:]] = True
    per_pixel = np.where(ground[flat], 0, contact[flat]).reshape(height, width)
    return np.maximum(per_pixel.astype(np.float32), own)


# ------------------------------------------------------------------------------ validation


def _check_inputs(
    image: np.ndarray, focus: tuple[float, float] | None, work_side: int
) -> tuple[np.ndarray, tuple[float, float]]:
    image = check_image(image, unit_range=True)
    height, width = image.shape[:2]
    if not isinstance(work_side, (int, np.integer)) or work_side < 16:
        raise ValueError(f"work_side must be a whole number of pixels >= 16; got {work_side!r}.")

    if focus is None:
        return image, ((width - 1) / 2.0, (height - 1) / 2.0)
    try:
        x, y = (float(v) for v in focus)
    except (TypeError, ValueError):
        raise ValueError(
            f"focus must be an (x, y) pair of numbers or None; got {focus!r}."
        ) from None
    if not (0 <= x < width and 0 <= y < height):  # also false for NaN
        raise ValueError(
            f"focus (x={x:g}, y={y:g}) lies outside the {width}x{height} image; "
            f"x must be in [0, {width}) and y in [0, {height})."
        )
    return image, (x, y)


# ------------------------------------------------------------------------------ the method


def _subject_mask_and_fields(
    image: np.ndarray, point: tuple[float, float], work_side: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-resolution soft mask (float32 HxW), the work-size bulge field in [0, 1] and the
    work-size copy of the photo (float32 hxwx3)."""
    height, width = image.shape[:2]
    scale = min(1.0, work_side / max(height, width))
    small_w, small_h = max(1, round(width * scale)), max(1, round(height * scale))
    small = np.clip(_resize(image, (small_w, small_h)), 0.0, 1.0)
    # The click in work-size pixel coordinates (pixel centres map onto pixel centres).
    sx = min(small_w - 1.0, max(0.0, (point[0] + 0.5) * small_w / width - 0.5))
    sy = min(small_h - 1.0, max(0.0, (point[1] + 0.5) * small_h / height - 0.5))

    labels = _superpixels(small)
    probability = _solve_subject_probability(small, labels, (sx, sy))
    coarse = probability[labels]

    radius = max(1, round(0.012 * max(small_h, small_w)))
    coef_a, coef_b = _guided_coefficients(small, coarse, radius=radius, eps=2e-3)
    if (small_w, small_h) == (width, height):
        mask = np.einsum("hwc,hwc->hw", coef_a, image.astype(np.float32)) + coef_b
    else:
        # Fast guided filter: upsample the linear coefficients, apply them to the full photo.
        full_a = _resize(coef_a, (width, height))
        full_b = _resize(coef_b, (width, height))
        mask = np.einsum("hwc,hwc->hw", full_a, image.astype(np.float32, copy=False)) + full_b
    mask = np.clip(mask, 0.0, 1.0).astype(np.float32)

    bulge = _bulge(coarse)
    return mask, bulge, small


def _superpixels(small: np.ndarray) -> np.ndarray:
    """Integer labels 0..n-1 (HxW). Tiny images use one node per pixel."""
    height, width = small.shape[:2]
    count = height * width
    if count <= _MAX_PIXEL_NODES:
        return np.arange(count, dtype=np.intp).reshape(height, width)

    labels = slic(
        small,
        # ~250 px per superpixel at the usual work size; at least 64, and at most _MAX_SEGMENTS
        # so that the all-pairs geodesic distances stay small (a big work_side costs no memory).
        n_segments=min(_MAX_SEGMENTS, max(64, count // _SUPERPIXEL_AREA)),
        compactness=10.0,
        sigma=0.5,
        start_label=0,
        channel_axis=-1,
    )
    # Relabel to 0..n-1 without gaps.
    _, labels = np.unique(labels, return_inverse=True)
    return labels.reshape(height, width).astype(np.intp)


def _solve_subject_probability(
    small: np.ndarray, labels: np.ndarray, click: tuple[float, float]
) -> np.ndarray:
    """Soft subject probability per superpixel (float64, length n) in [0, 1]."""
    height, width = labels.shape
    n = int(labels.max()) + 1
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=n).astype(np.float64)
    lab = rgb2lab(small).reshape(-1, 3)
    colour = np.stack([np.bincount(flat, lab[:, c], minlength=n) for c in range(3)], 1)
    colour /= counts[:, None]

    if n == 1:
        return np.ones(1)

    # Neighbouring superpixel pairs (4-connectivity), each pair once.
    left, right = labels[:, :-1].ravel(), labels[:, 1:].ravel()
    top, bottom = labels[:-1, :].ravel(), labels[1:, :].ravel()
    a = np.concatenate([left, top])
    b = np.concatenate([right, bottom])
    keep = a != b
    a, b = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    pairs = np.unique(a * n + b)
    a, b = pairs // n, pairs % n

    distance = np.linalg.norm(colour[a] - colour[b], axis=1)
    # Geodesic colour distance between all superpixels (path sums of neighbour distances).
    # A tiny floor keeps zero-distance edges in the sparse graph.
    graph = sparse.coo_matrix((distance + 1e-6, (a, b)), shape=(n, n)).tocsr()
    geodesic = shortest_path(graph, method="D", directed=False)
    similarity = np.exp(-(geodesic**2) / (2 * _SIGMA_COLOUR**2))

    # Background prior: boundary connectivity (Zhu et al. 2014).
    border = np.zeros(n, dtype=bool)
    border[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = True
    # Superpixels on the top, left or right edge are seldom the subject; the bottom edge is
    # often cut through the subject (portraits, objects on a table), so it gets a weaker pull.
    edge_prior = np.zeros(n)
    edge_prior[np.unique(labels[-1])] = _BOTTOM_EDGE_PRIOR
    edge_prior[np.unique(np.concatenate([labels[0], labels[:, 0], labels[:, -1]]))] = _EDGE_PRIOR

    # Subject seed: superpixels under a small disc around the click.
    yy, xx = np.mgrid[0:height, 0:width]
    radius = max(1.0, 0.012 * max(height, width))
    disc = (xx - click[0]) ** 2 + (yy - click[1]) ** 2 <= radius**2
    seeds = np.unique(labels[disc])
    click_label = labels[int(round(click[1])), int(round(click[0]))]
    # Keep disc superpixels that look like the clicked one (a disc may straddle an edge).
    similar = np.linalg.norm(colour[seeds] - colour[click_label], axis=1) < 2 * _SIGMA_COLOUR
    seeds = np.union1d(seeds[similar], [click_label])

    area = similarity.sum(1)
    boundary_length = similarity[:, border].sum(1)
    connectivity = boundary_length / np.sqrt(area)
    background = 1.0 - np.exp(-(connectivity**2) / 2.0)
    background = np.maximum(np.maximum(background, edge_prior), _BACKGROUND_FLOOR)

    # Subject prior: geodesic proximity to the click.
    foreground = similarity[seeds].max(0)
    foreground[seeds] = _SEED_WEIGHT
    background[seeds] = 0.0

    weights = np.exp(-(distance**2) / (2 * _SIGMA_COLOUR**2)) + _SMOOTH_FLOOR
    adjacency = sparse.coo_matrix((weights, (a, b)), shape=(n, n))
    adjacency = (adjacency + adjacency.T).tocsr()
    laplacian = sparse.diags(np.asarray(adjacency.sum(1)).ravel()) - adjacency
    system = (laplacian + sparse.diags(background + foreground)).tocsc()
    probability = np.clip(spsolve(system, foreground), 0.0, 1.0)
    return _calibrate(probability, counts)


def _calibrate(probability: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Map raw scores to a soft mask in [0, 1].

    The raw solution ranks superpixels well but its scale varies from photo to photo. Two
    area-weighted Otsu thresholds bracket the subject: one on the scores (tight: the part most
    surely connected to the click) and one on log scores (loose: everything that stands out from
    the background at all). Scores above the tight one map to 1, below the loose one to 0, and a
    smoothstep in log space fills the band, so doubtful regions get intermediate values (and so
    intermediate disparity) rather than a hard wrong decision.
    """
    log_p = np.log(probability + 1e-4)
    tight = _weighted_otsu(log_p, counts, log_domain=True)
    loose = _weighted_otsu(log_p, counts, log_domain=False)
    if not np.isfinite(tight) or not np.isfinite(loose):
        return probability
    low, high = min(loose, tight), max(loose, tight)
    if high - low < 0.5:  # too narrow a band: centre a minimal one on the midpoint
        mid = 0.5 * (low + high)
        low, high = mid - 0.25, mid + 0.25
    t = np.clip((log_p - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _weighted_otsu(log_p: np.ndarray, weights: np.ndarray, *, log_domain: bool) -> float:
    """Otsu threshold of weighted samples, computed on exp(log_p) or on log_p; returned as log."""
    values = log_p if not log_domain else np.exp(log_p)
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    if values[-1] - values[0] <= 1e-12:
        return float("nan")
    w0 = np.cumsum(weights)[:-1]
    w1 = weights.sum() - w0
    m0 = np.cumsum(weights * values)[:-1]
    mu0 = m0 / w0
    mu1 = (np.sum(weights * values) - m0) / w1
    between = w0 * w1 * (mu0 - mu1) ** 2
    k = int(np.argmax(between))
    threshold = 0.5 * (values[k] + values[k + 1])
    return float(np.log(max(threshold, 1e-12))) if log_domain else float(threshold)


def _box(array: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1) square window per pixel (per channel for HxWxC)."""
    size = 2 * radius + 1
    window = (size, size) if array.ndim == 2 else (size, size, 1)
    return ndimage.uniform_filter(array, size=window, mode="reflect")


def _guided_coefficients(
    guide: np.ndarray, source: np.ndarray, *, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Colour guided filter (He et al. 2010): per-pixel ``a`` (HxWx3) and ``b`` (HxW), already
    box-averaged, so that the filtered output is ``sum(a * guide, -1) + b``."""
    guide = guide.astype(np.float64)
    source = source.astype(np.float64)
    mean_i = _box(guide, radius)
    mean_p = _box(source, radius)
    cov_ip = _box(guide * source[..., None], radius) - mean_i * mean_p[..., None]
    # 3x3 covariance of the guide per pixel.
    var = np.empty(guide.shape[:2] + (3, 3))
    for i in range(3):
        for j in range(i, 3):
            value = _box(guide[..., i] * guide[..., j], radius) - mean_i[..., i] * mean_i[..., j]
            var[..., i, j] = var[..., j, i] = value
    var += eps * np.eye(3)
    a = np.linalg.solve(var, cov_ip[..., None])[..., 0]
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    return _box(a, radius).astype(np.float32), _box(b, radius).astype(np.float32)


def _bulge(coarse: np.ndarray) -> np.ndarray:
    """Smooth field in [0, 1], highest deep inside the subject (work size)."""
    inside = coarse > 0.5
    if not inside.any():
        return np.zeros(coarse.shape, dtype=np.float32)
    depth = ndimage.distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1]
    depth = np.sqrt(depth / depth.max())  # rounded profile: rises fast at the rim, flat inside
    return ndimage.gaussian_filter(depth, 2.0).astype(np.float32)


def _resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear (antialiased when shrinking) resize of HxW or HxWxC to size=(w, h), float32."""
    array = np.asarray(array, dtype=np.float32)
    if array.shape[1::-1] == tuple(size):
        return array.copy()
    if array.ndim == 2:
        return np.asarray(Image.fromarray(array).resize(size, Image.Resampling.BILINEAR))
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(array[..., c])).resize(
                size, Image.Resampling.BILINEAR
            )
        )
        for c in range(array.shape[-1])
    ]
    return np.stack(channels, axis=-1)

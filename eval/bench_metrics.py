"""Speed of :mod:`eval.metrics` against scikit-image, measured on the same pair in one run.

    python -m eval.bench_metrics            # 1024 x 1536, one and two threads, prints JSON

Both sides score one uint8 RGB pair with PSNR + SSIM (7x7 uniform) + SSIM (11x11 Gaussian), with
the same thread count: ours with ``torch.set_num_threads(threads)``; scikit-image (single-threaded
by design) with the three colour channels' SSIMs spread over ``threads`` Python threads and then
averaged, which is what ``channel_axis=2`` computes. Runs alternate in a random order
(:func:`eval.timing.alternate`) and the medians of ``repeats`` are compared, so that load
from other processes hurts both alike.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from skimage import data, filters, transform
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from eval.bench_lens import with_threads
from eval.metric_table import METRICS
from eval.metrics import as_batch_native
from eval.timing import Timer, alternate, wall_timer

COMPARED = ("psnr", "ssim", "ssim_gauss")  # what scikit-image computes (not psnr_em)
# Pairs in `python -m eval benchmark`: ours takes about 0.05 s, so a burst of another job's load
# moves a pair's ratio by half; the reference side takes 0.6-1.2 s and the extra pairs 10 s.
METRIC_PAIRS = 11


def _test_pair(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A realistic (gt, pred) uint8 pair: a natural photo and a blurred, noisy version of it."""
    rng = np.random.default_rng(seed)
    photo = transform.resize(data.astronaut(), (height, width), anti_aliasing=True)
    gt = np.clip(photo * 255.0, 0, 255).round().astype(np.uint8)
    blurred = filters.gaussian(photo, sigma=2.0, channel_axis=2) * 255.0
    pred = np.clip(blurred + rng.normal(0.0, 4.0, blurred.shape), 0, 255).round()
    return gt, pred.astype(np.uint8)


def _skimage_scores(
    gt: np.ndarray, pred: np.ndarray, pool: ThreadPoolExecutor | None = None
) -> dict[str, float]:
    """scikit-image's PSNR and both SSIMs (REFERENCE.md's exact calls); with ``pool``, the
    per-channel SSIMs run on its threads (equal to the ``channel_axis=2`` call)."""
    gauss = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    if pool is None:
        return {
            "psnr": float(peak_signal_noise_ratio(gt, pred, data_range=255)),
            "ssim": float(structural_similarity(gt, pred, channel_axis=2, data_range=255)),
            "ssim_gauss": float(
                structural_similarity(gt, pred, channel_axis=2, data_range=255, **gauss)
            ),
        }
    jobs = [(c, kind) for kind in ("ssim", "ssim_gauss") for c in range(gt.shape[2])]

    def one(job: tuple[int, str]) -> float:
        c, kind = job
        extra = gauss if kind == "ssim_gauss" else {}
        return float(structural_similarity(gt[..., c], pred[..., c], data_range=255, **extra))

    values = list(pool.map(one, jobs))
    n = gt.shape[2]
    return {
        "psnr": float(peak_signal_noise_ratio(gt, pred, data_range=255)),
        "ssim": float(np.mean(values[:n])),
        "ssim_gauss": float(np.mean(values[n:])),
    }


def _our_scores(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Our PSNR and both SSIMs, as :func:`eval.score.score_pair` computes them (inputs
    converted once), without the metrics scikit-image does not compute."""
    p, g = as_batch_native(pred, "pred"), as_batch_native(gt, "gt")
    return {k: float(METRICS[k].compute(p, g, data_range=255)[0]) for k in COMPARED}


def measure(
    height: int = 1024,
    width: int = 1536,
    repeats: int = 3,
    *,
    threads: int = 1,
    timer: Timer = wall_timer,
) -> dict[str, Any]:
    """Time scikit-image and ours (:data:`COMPARED`) on one pair, in the same run.

    Args:
        height, width: size of the uint8 RGB test pair (EBB! images are 1024 x ~1536).
        repeats: timed runs per side (after one untimed warm-up each); the medians are kept.
        threads: threads of both sides (see the module docstring).
        timer: ``timer(label, fn) -> seconds`` of one call (tests inject one).

    Returns:
        dict with ``skimage_s`` and ``ours_s`` (median seconds), ``ratio`` (skimage_s /
        ours_s, > 1 means ours is faster), ``max_abs_diff`` per metric between the two
        implementations, and the settings used.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}.")
    gt, pred = _test_pair(height, width)
    with with_threads(threads), ThreadPoolExecutor(threads) as pool:
        use = pool if threads > 1 else None
        ref = _skimage_scores(gt, pred, use)  # warm-up for both sides
        ours = _our_scores(gt, pred)
        our_times, sk_times = alternate(
            lambda: _our_scores(gt, pred),
            lambda: _skimage_scores(gt, pred, use),
            repeats=repeats,
            timer=timer,
            label="metrics",
            names=("metrics ours", "metrics scikit-image"),
            warm_up=False,  # the scores above were the warm-up
        )
    sk_s, ours_s = float(np.median(sk_times)), float(np.median(our_times))
    return {
        "height": height,
        "width": width,
        "repeats": repeats,
        "threads": threads,
        "skimage_s": sk_s,
        "ours_s": ours_s,
        "ratio": sk_s / ours_s,
        "skimage_times_s": sk_times,
        "ours_times_s": our_times,
        "scores": ours,
        "max_abs_diff": {k: abs(ours[k] - ref[k]) for k in ref},
    }


if __name__ == "__main__":
    print(json.dumps([measure(threads=t) for t in (1, 2)], indent=2))

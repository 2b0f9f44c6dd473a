"""Speed of :mod:`eval.metrics` against scikit-image, measured on the same pair in one run.

    python -m eval.bench_metrics            # 1024 x 1536, prints a JSON dict

Both sides score one uint8 RGB pair with PSNR + SSIM (7x7 uniform) + SSIM (11x11 Gaussian).
Runs alternate (scikit-image, ours, scikit-image, ...) and the fastest of ``repeats`` is kept for
each side, so a burst of load from other processes hurts both about equally.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import torch
from skimage import data, filters, transform
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from eval.score import score_pair


def _test_pair(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A realistic (gt, pred) uint8 pair: a natural photo and a blurred, noisy version of it."""
    rng = np.random.default_rng(seed)
    photo = transform.resize(data.astronaut(), (height, width), anti_aliasing=True)
    gt = np.clip(photo * 255.0, 0, 255).round().astype(np.uint8)
    blurred = filters.gaussian(photo, sigma=2.0, channel_axis=2) * 255.0
    pred = np.clip(blurred + rng.normal(0.0, 4.0, blurred.shape), 0, 255).round()
    return gt, pred.astype(np.uint8)


def _skimage_scores(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {
        "psnr": float(peak_signal_noise_ratio(gt, pred, data_range=255)),
        "ssim": float(structural_similarity(gt, pred, channel_axis=2, data_range=255)),
        "ssim_gauss": float(
            structural_similarity(
                gt,
                pred,
                channel_axis=2,
                data_range=255,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
        ),
    }


def measure(
    height: int = 1024, width: int = 1536, repeats: int = 3, *, threads: int = 2
) -> dict[str, Any]:
    """Time scikit-image and :func:`eval.score.score_pair` on one pair, in the same run.

    Args:
        height, width: size of the uint8 RGB test pair (EBB! images are 1024 x ~1536).
        repeats: timed runs per side (after one untimed warm-up each); the minimum is kept.
        threads: torch intra-op threads for our side (restored afterwards).

    Returns:
        dict with ``skimage_s`` and ``ours_s`` (seconds, best of ``repeats``), ``ratio``
        (skimage_s / ours_s, > 1 means ours is faster), ``max_abs_diff`` per metric between the
        two implementations, and the settings used.
    """

    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}.")
    gt, pred = _test_pair(height, width)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ref = _skimage_scores(gt, pred)  # warm-up for both sides
        ours = score_pair(pred, gt)
        sk_times: list[float] = []
        our_times: list[float] = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            _skimage_scores(gt, pred)
            sk_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            score_pair(pred, gt)
            our_times.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(previous_threads)
    sk_s, ours_s = min(sk_times), min(our_times)
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
    print(json.dumps(measure(), indent=2))

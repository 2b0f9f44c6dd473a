"""The metrics a run records: names, labels, direction, decimals and conventions.

Light (no torch), so the app's Leaderboard and Review tabs read it at build time; the
functions themselves live in :mod:`eval.metrics` and are named here by reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bokeh import lazy


@dataclass(frozen=True)
class MetricSpec:
    """One metric column of the leaderboard.

    Attributes:
        name: key used in result rows (``"psnr"``).
        label: column header for people.
        higher_is_better: sort direction.
        decimals: digits shown after the decimal point.
        fn: reference (``"module:function"``) to ``fn(pred, target, *, data_range) -> (B,)``.
        description: the exact convention, for tooltips and the report.
    """

    name: str
    label: str
    higher_is_better: bool
    decimals: int
    fn: str
    description: str = ""

    @property
    def compute(self) -> Any:
        """The metric function (imported on first use)."""
        return lazy.load(self.fn)

    def format(self, value: float | None) -> str:
        """Format a value for display: ``"n/a"`` for missing/NaN, ``"inf"`` for +inf."""
        if value is None:
            return "n/a"
        v = float(value)
        if math.isnan(v):
            return "n/a"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.{self.decimals}f}"


METRICS: dict[str, MetricSpec] = {
    "psnr": MetricSpec(
        name="psnr",
        label="PSNR (dB)",
        higher_is_better=True,
        decimals=2,
        fn="eval.metrics:psnr",
        description="RGB uint8 at native resolution, data range 255 "
        "(skimage peak_signal_noise_ratio).",
    ),
    "ssim": MetricSpec(
        name="ssim",
        label="SSIM",
        higher_is_better=True,
        decimals=4,
        fn="eval.metrics:ssim",
        description="skimage structural_similarity(gt, pred, channel_axis=2, data_range=255): "
        "7x7 uniform window, sample covariance (DMSHN/BRViT convention).",
    ),
    "ssim_gauss": MetricSpec(
        name="ssim_gauss",
        label="SSIM (Gaussian)",
        higher_is_better=True,
        decimals=4,
        fn="eval.metrics:ssim_gauss",
        description="Wang et al.: 11x11 Gaussian window, sigma 1.5, population covariance "
        "(skimage gaussian_weights=True, use_sample_covariance=False; piq/torchmetrics/TF).",
    ),
    "psnr_em": MetricSpec(
        name="psnr_em",
        label="PSNR, exposure-matched (dB)",
        higher_is_better=True,
        decimals=2,
        fn="eval.exposure:psnr_exposure_matched",
        description="PSNR after one gain per colour channel fitted to the target (least "
        "squares), so that exposure differences are not counted as blur errors.",
    ),
}

__all__ = ["METRICS", "MetricSpec"]

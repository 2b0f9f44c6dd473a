"""Published results, shown on the leaderboard as reference markers (reported elsewhere, on
other protocols: not comparable with our runs). Sources: ../shared/REFERENCE.md sections 1-2."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReferencePoint:
    method: str
    psnr: float
    ssim: float
    source: str
    protocol: str


PAPER = "Singh & Gothe, Table 1"
PAPER_PROTOCOL = "their 100 images from the EBB! training set; protocol unstated"
VAL294 = "published, EBB! Val294"
VAL294_PROTOCOL = "full resolution, Val294 (ids 4400-4693)"

REFERENCE_POINTS: tuple[ReferencePoint, ...] = (
    ReferencePoint("Depth + blur, threshold 0.2", 29.086, 0.805, PAPER, PAPER_PROTOCOL),
    ReferencePoint("Depth + blur, threshold 0.25", 29.106, 0.790, PAPER, PAPER_PROTOCOL),
    ReferencePoint("Depth + blur, threshold 0.3", 29.127, 0.775, PAPER, PAPER_PROTOCOL),
    ReferencePoint("BGGAN", 30.967, 0.897, PAPER, PAPER_PROTOCOL),
    ReferencePoint("Pix2Pix", 16.743, 0.441, PAPER, PAPER_PROTOCOL),
    ReferencePoint("CycleGAN", 21.545, 0.741, PAPER, PAPER_PROTOCOL),
    ReferencePoint("Stacked DMSHN", 24.72, 0.8793, VAL294, VAL294_PROTOCOL),
    ReferencePoint("BRViT", 24.76, 0.8904, VAL294, VAL294_PROTOCOL),
)

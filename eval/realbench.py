"""``python -m eval realbench``: what the renderer does to real photographs, in two tables.

**VABD** (``<realdata>/vabd``, the VABM layout): each f/16 photo against the same scene shot at
f/1.8, f/2.8 and f/8 (6 scenes x 3 apertures), with the dataset's depth, the focus from its
focal mask and the nominal aperture; depth-lens also gets the input's f-number (16), as the
evaluation passes it. PSNR per aperture set, and the exposure-matched PSNR
(:mod:`eval.exposure`), for: returning the input, depth-lens with default settings, the same
with highlight boost 0, and the paper's threshold Gaussian. Then the issue's targets, each
marked ``met`` or ``NOT MET``.

**Middlebury** (``<realdata>/rgbd``: cones and teddy; plus scikit-image's motorcycle): how the
weights-free ``classical`` depth ranks depth against the measured disparity (Spearman, on
measured pixels), with the subject click and without one (image centre), beside the trivial
prior "lower in the frame = nearer"; and whether depth-lens with classical depth renders closer
to the render with measured depth than the unblurred input is (PSNR against that render).

Nothing is written; the photos are read in place (``BOKEH_REALDATA`` or ``../shared/realdata``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from bokeh.config import realdata_dir
from bokeh.data.middlebury import SCENES, load_middlebury
from bokeh.data.vabm import load_vabm
from bokeh.depth.classical import estimate_disparity
from bokeh.errors import DatasetNotFoundError
from bokeh.imaging import from_uint8, to_uint8
from bokeh.registry import get_method, load_method
from eval.exposure import psnr_exposure_matched
from eval.metrics import psnr

VABD_METHODS = {
    "input": None,
    "depth-lens": ("depth-lens", {}),
    "depth-lens, boost 0": ("depth-lens", {"highlight_boost": 0.0}),
    "depth-gauss": ("depth-gauss", {}),
}
INPUT_FNUMBER = 16.0
TARGETS = (
    "depth-lens >= input + 1.0 dB on average",
    "depth-lens >= input + 0.3 dB at each aperture",
    "depth-lens beats the input on >= 15 of 18 pairs",
    "depth-lens beats depth-gauss on average",
)


def _score(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    return {
        "psnr": float(psnr(pred, gt, data_range=255)[0]),
        "psnr_em": float(psnr_exposure_matched(pred, gt, data_range=255)[0]),
    }


def vabd_rows(root: str | os.PathLike, *, log=None) -> list[dict[str, Any]]:
    """One row per (pair, method): key, fnumber, method, psnr, psnr_em, seconds."""
    pairs = load_vabm(root, "all")
    rows = []
    for k, pair in enumerate(pairs):
        image = from_uint8(pair.input)
        for label, spec in VABD_METHODS.items():
            start = time.perf_counter()
            if spec is None:
                out = pair.input
            else:
                name, settings = spec
                pipe = load_method(name)
                extra = {"fnumber": pair.fnumber, "input_fnumber": INPUT_FNUMBER}
                extra = {
                    k: v for k, v in extra.items() if k in {p.name for p in get_method(name).params}
                }
                result = pipe(image, focus=pair.focus, depth=pair.depth, **extra, **settings)
                out = to_uint8(result.image)
            rows.append(
                {
                    "key": pair.key,
                    "fnumber": pair.fnumber,
                    "method": label,
                    **_score(out, pair.target),
                    "seconds": time.perf_counter() - start,
                }
            )
        if log:
            log(f"vabd {k + 1}/{len(pairs)} {pair.key}")
    return rows


def vabd_report(rows: list[dict[str, Any]]) -> tuple[str, dict[str, bool]]:
    """The per-aperture tables and the targets (text, {target: met})."""
    df = pd.DataFrame(rows)
    lines = []
    for metric, title in (("psnr", "PSNR (dB)"), ("psnr_em", "exposure-matched PSNR (dB)")):
        table = df.pivot_table(index="fnumber", columns="method", values=metric, aggfunc="mean")
        table = table[list(VABD_METHODS)]
        n = df[df["method"] == "input"].groupby("fnumber").size()
        lines.append(
            f"VABD, {title}: dataset depth, focal-mask focus, nominal aperture, "
            f"input f/{INPUT_FNUMBER:g}"
        )
        lines.append(f"{'set':<12}" + "".join(f"{m:>22}" for m in table.columns))
        for fnum, row in table.iterrows():
            lines.append(
                f"{f'f/{fnum:g} ({n[fnum]})':<12}" + "".join(f"{v:>22.2f}" for v in row.values)
            )
        mean = df.groupby("method")[metric].mean()[list(VABD_METHODS)]
        lines.append(
            f"{f'all ({len(df) // len(VABD_METHODS)})':<12}"
            + "".join(f"{v:>22.2f}" for v in mean.values)
        )
        lines.append("")
    wide = df.pivot_table(index="key", columns="method", values="psnr")
    gain = wide["depth-lens"] - wide["input"]
    per_set = df.pivot_table(index="fnumber", columns="method", values="psnr", aggfunc="mean")
    set_gain = per_set["depth-lens"] - per_set["input"]
    met = {
        TARGETS[0]: bool(gain.mean() >= 1.0),
        TARGETS[1]: bool((set_gain >= 0.3).all()),
        TARGETS[2]: bool((gain > 0).sum() >= 15),
        TARGETS[3]: bool(wide["depth-lens"].mean() > wide["depth-gauss"].mean()),
    }
    lines.append(
        f"depth-lens minus input: {gain.mean():+.2f} dB on average; per set "
        + ", ".join(f"f/{f:g} {v:+.2f}" for f, v in set_gain.items())
        + f"; better on {(gain > 0).sum()} of {len(gain)} pairs; "
        f"depth-lens minus depth-gauss {wide['depth-lens'].mean() - wide['depth-gauss'].mean():+.2f} dB"
    )
    worst = gain.sort_values().head(3)
    lines.append("smallest gains: " + ", ".join(f"{k} {v:+.2f}" for k, v in worst.items()))
    lines += [f"  [{'met' if ok else 'NOT MET'}] {t}" for t, ok in met.items()]
    return "\n".join(lines), met


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(spearmanr(a.ravel(), b.ravel()).statistic)


def middlebury_rows(root: str | os.PathLike | None, *, log=None) -> list[dict[str, Any]]:
    """One row per scene and click mode ("click", "no click"): Spearman of classical and of the
    prior against measured disparity, and PSNRs against the render with measured depth."""
    lens = load_method("depth-lens")
    rows = []
    for scene in SCENES:
        try:
            s = load_middlebury(root, scene)
        except DatasetNotFoundError as exc:
            if log:
                log(f"skipping {scene}: {exc}")
            continue
        h, w = s.disparity.shape
        prior = np.repeat(np.arange(h, dtype=np.float32)[:, None], w, axis=1)
        for mode, click in (("click", s.focus), ("no click", None)):
            focus = click if click is not None else ((w - 1) / 2, (h - 1) / 2)
            classical = estimate_disparity(s.image, focus=click)
            truth = to_uint8(lens(s.image, focus=focus, depth=s.disparity).image)
            guess = to_uint8(lens(s.image, focus=focus, depth=classical).image)
            rows.append(
                {
                    "scene": scene,
                    "mode": mode,
                    "spearman_classical": _spearman(classical[s.valid], s.disparity[s.valid]),
                    "spearman_prior": _spearman(prior[s.valid], s.disparity[s.valid]),
                    "psnr_classical_render": _score(guess, truth)["psnr"],
                    "psnr_input": _score(to_uint8(s.image), truth)["psnr"],
                }
            )
            if log:
                log(f"middlebury {scene} ({mode})")
    return rows


def middlebury_report(rows: list[dict[str, Any]]) -> tuple[str, dict[str, bool]]:
    lines = [
        "Middlebury: classical depth against measured disparity (Spearman) and its render "
        "against the render with measured depth (PSNR dB)",
        f"{'scene':<12}{'focus':<10}{'classical':>11}{'lower=nearer':>14}"
        f"{'classical render':>18}{'input':>8}",
    ]
    met: dict[str, bool] = {}
    for r in rows:
        lines.append(
            f"{r['scene']:<12}{r['mode']:<10}{r['spearman_classical']:>11.3f}"
            f"{r['spearman_prior']:>14.3f}{r['psnr_classical_render']:>18.2f}"
            f"{r['psnr_input']:>8.2f}"
        )
        met[f"{r['scene']} ({r['mode']}): classical ranks depth at least as well as the prior"] = (
            r["spearman_classical"] >= r["spearman_prior"]
        )
        met[f"{r['scene']} ({r['mode']}): classical render closer than the input"] = (
            r["psnr_classical_render"] > r["psnr_input"]
        )
    lines += [f"  [{'met' if ok else 'NOT MET'}] {t}" for t, ok in met.items()]
    return "\n".join(lines), met


def main(
    root: str | os.PathLike | None = None,
    *,
    parts=("vabd", "middlebury"),
    json_out: str | os.PathLike | None = None,
) -> int:
    """Print the tables; returns 0 when every target is met, 1 otherwise, 2 without data."""
    base = Path(root) if root else realdata_dir()
    if not base.is_dir():
        print(f"error: no real photos at {base} (set BOKEH_REALDATA or --root).", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    out: dict[str, Any] = {"root": str(base)}
    met: dict[str, bool] = {}
    if "vabd" in parts:
        out["vabd"] = vabd_rows(base / "vabd", log=log)
        text, ok = vabd_report(out["vabd"])
        print(text + "\n")
        met.update(ok)
    if "middlebury" in parts:
        out["middlebury"] = middlebury_rows(base / "rgbd", log=log)
        text, ok = middlebury_report(out["middlebury"])
        print(text)
        met.update(ok)
    if json_out:
        Path(json_out).write_text(json.dumps({**out, "targets": met}, indent=1) + "\n")
    return 0 if all(met.values()) else 1

"""eval.ssim_native (uint8 SSIM on the CPU): against scikit-image and the torch strip engine,
at the smallest sizes, across strip boundaries and thread counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from eval import metrics as M
from eval import ssim_native as N
from eval import ssim_strips as S

GAUSS = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
TOL = {"ssim": 1e-12, "ssim_gauss": 1e-6}


def _windows(name: str) -> dict:
    taps, cov = M._uniform_taps(7) if name == "ssim" else M._gauss_taps(1.5, 3.5)
    return {"taps": taps, "box": name == "ssim", "cov_norm": cov,
            "c1": (M.K1 * 255) ** 2, "c2": (M.K2 * 255) ** 2}  # fmt: skip


def _maps(n: int, h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, h, w) uint8 pairs: a smooth image reaching 0 and 255 and a noisy copy."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 127.5 + 127.5 * np.sin(xx / 3.0 + seed) * np.cos(yy / 4.0)
    x = np.clip(base + rng.normal(0, 10, (n, h, w)), 0, 255).round()
    y = np.clip(x + rng.normal(0, 12, x.shape), 0, 255).round()
    return x.astype(np.uint8), y.astype(np.uint8)


@pytest.mark.parametrize("name", ["ssim", "ssim_gauss"])
@pytest.mark.parametrize(("h", "w"), [(11, 11), (12, 40), (45, 13), (70, 33)])
def test_each_map_matches_scikit_image(name, h, w):
    x, y = _maps(2, h, w, seed=h * w)
    k = 7 if name == "ssim" else 11
    sums = N.ssim_sums_uint8(x, y, threads=1, **_windows(name))
    extra = GAUSS if name == "ssim_gauss" else {}
    for i in range(2):
        want = structural_similarity(y[i], x[i], data_range=255, **extra)
        assert abs(sums[i] / ((h - k + 1) * (w - k + 1)) - want) < TOL[name]


@pytest.mark.parametrize("name", ["ssim", "ssim_gauss"])
def test_strips_and_threads_do_not_change_the_sums(name, monkeypatch):
    x, y = _maps(3, 83, 29, seed=5)
    default = N.ssim_sums_uint8(x, y, threads=1, **_windows(name))
    monkeypatch.setattr(N, "STRIP_ROWS", 5)  # many strips, a partial last one
    np.testing.assert_allclose(N.ssim_sums_uint8(x, y, threads=1, **_windows(name)), default,
                               rtol=1e-13)  # fmt: skip
    three = N.ssim_sums_uint8(x, y, threads=3, **_windows(name))
    assert (three == N.ssim_sums_uint8(x, y, threads=1, **_windows(name))).all()


@pytest.mark.parametrize("name", ["ssim", "ssim_gauss"])
def test_equal_to_the_torch_strip_engine(name):
    x, y = _maps(3, 40, 50, seed=9)
    ours = N.ssim_sums_uint8(x, y, threads=1, **_windows(name))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    engine = S.ssim_sums(xt, yt, S.plan(xt, yt, dtype=torch.float64, **_windows(name)))
    np.testing.assert_allclose(ours, engine.numpy(), rtol=0, atol=TOL[name] * 40 * 50)


def test_identical_and_extreme_images():
    for fill in (0, 255):
        x = np.full((1, 20, 20), fill, np.uint8)
        for name in ("ssim", "ssim_gauss"):
            k = 7 if name == "ssim" else 11
            sums = N.ssim_sums_uint8(x, x.copy(), threads=1, **_windows(name))
            assert sums[0] / (20 - k + 1) ** 2 == pytest.approx(1.0, abs=1e-12)
    black, white = np.zeros((1, 16, 16), np.uint8), np.full((1, 16, 16), 255, np.uint8)
    sums = N.ssim_sums_uint8(black, white, threads=1, **_windows("ssim"))
    want = structural_similarity(white[0], black[0], data_range=255)
    assert abs(sums[0] / 100 - want) < 1e-12

"""eval.ssim_strips (the engine of eval.metrics.ssim / ssim_gauss): block edges, strip and chunk
boundaries, shifted float32 moments, threads; against scikit-image and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import structural_similarity

from bokeh.config import realdata_dir
from eval import metrics as M
from eval import ssim_strips as S

C1 = (M.K1 * 255) ** 2
GAUSS = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
# uint8 box window: exact window sums, float64 formula; Gaussian: shifted float32 moments
TOL = {"ssim": 1e-12, "ssim_gauss": 1e-6}
OURS = {"ssim": M.ssim, "ssim_gauss": M.ssim_gauss}


def sk(name: str, gt: np.ndarray, pred: np.ndarray, data_range: float = 255) -> float:
    extra = GAUSS if name == "ssim_gauss" else {}
    axis = 2 if gt.ndim == 3 else None
    return float(structural_similarity(gt, pred, channel_axis=axis, data_range=data_range, **extra))


def pair(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth uint8 (h, w, 3) image and a noisy copy (both reach 0 and 255)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 127.5 + 127.5 * np.sin(xx / 3.0 + seed) * np.cos(yy / 4.0)
    gt = np.clip(base[..., None] + rng.normal(0, 10, (h, w, 3)), 0, 255).round()
    pred = np.clip(gt + rng.normal(0, 12, gt.shape), 0, 255).round()
    return gt.astype(np.uint8), pred.astype(np.uint8)


# ------------------------------------------------------------------------------ geometry


@pytest.mark.parametrize("w", [11, 15, 16, 17, 26, 27, 31, 32, 33, 47, 48, 49])
def test_widths_around_the_16_column_blocks(w):
    """The Gaussian's horizontal product works on 16-column blocks whose last one reads into
    the next row: only columns past the valid width may see it."""
    gt, pred = pair(13, w, seed=w)
    for name, ours in OURS.items():
        got = float(ours(pred, gt, data_range=255)[0])
        assert abs(got - sk(name, gt, pred)) < TOL[name], (name, w)


def _engine_sums(x: torch.Tensor, y: torch.Tensor, name: str) -> torch.Tensor:
    """The torch strip engine's SSIM sums of uint8 maps (n, H, W) (on the CPU, the metrics
    take eval.ssim_native for uint8; the engine serves the GPU and float inputs)."""
    taps, cov = M._uniform_taps(7) if name == "ssim" else M._gauss_taps(1.5, 3.5)
    c1, c2 = (M.K1 * 255) ** 2, (M.K2 * 255) ** 2
    how = S.plan(x, y, taps=taps, box=name == "ssim", cov_norm=cov, c1=c1, c2=c2,
                 dtype=torch.float64)  # fmt: skip
    return S.ssim_sums(x, y, how)


def test_many_chunks_and_partial_strips(monkeypatch):
    """Strips of 5 rows and 4 maps per chunk over 2 images x 3 channels (a partial chunk of 2)
    and 37 rows (a partial last strip): the same sums as the default plan and scikit-image."""
    gts, preds = zip(*(pair(37, 45, seed=s) for s in (1, 2)), strict=True)
    g = torch.from_numpy(np.stack(gts)).permute(0, 3, 1, 2).contiguous()
    p = torch.from_numpy(np.stack(preds)).permute(0, 3, 1, 2).contiguous()
    x, y = p.reshape(6, 37, 45), g.reshape(6, 37, 45)
    default = {name: _engine_sums(x, y, name) for name in OURS}
    monkeypatch.setattr(S, "STRIP_ROWS", 5)
    monkeypatch.setattr(S, "STRIP_ELEMENTS", 4 * 45 * (5 + 10))
    gauss = S.plan(x, y, taps=[0.1] * 11, box=False, cov_norm=1, c1=1, c2=1, dtype=torch.float64)
    assert (gauss.rows, gauss.per_chunk) == (5, 4)
    for name in OURS:
        k = 7 if name == "ssim" else 11
        area = (37 - k + 1) * (45 - k + 1)
        small = _engine_sums(x, y, name) / area
        assert torch.allclose(small, default[name] / area, rtol=0, atol=TOL[name] / 10), name
        means = small.view(2, 3).mean(dim=1)
        for i in range(2):
            assert abs(float(means[i]) - sk(name, gts[i], preds[i])) < TOL[name], (name, i)


# ------------------------------------------------------------------------------ values


def test_constant_images_equal_the_luminance_term():
    """Constant images have no variance: SSIM = (2ab + C1) / (a^2 + b^2 + C1), for every pair
    of levels (float32 moments shifted by each channel's level stay exact enough)."""
    levels = np.arange(0, 256, 15)
    a, b = (v.ravel() for v in np.meshgrid(levels, levels, indexing="ij"))
    gt = torch.tensor(a, dtype=torch.uint8)[:, None, None, None].expand(-1, 3, 19, 23)
    pred = torch.tensor(b, dtype=torch.uint8)[:, None, None, None].expand(-1, 3, 19, 23)
    af, bf = a.astype(np.float64), b.astype(np.float64)
    want = (2 * af * bf + C1) / (af * af + bf * bf + C1)
    for name, ours in OURS.items():
        got = ours(pred.contiguous(), gt.contiguous(), data_range=255).numpy()
        assert np.abs(got - want).max() < TOL[name], name
    same = M.ssim_gauss(gt.contiguous(), gt.contiguous(), data_range=255)
    assert bool((same == 1.0).all())


@pytest.mark.parametrize(
    "kind", ["inverted_checkerboard", "black_and_white", "flat_bright", "flat_dark", "halves"]
)
def test_extreme_values(kind):
    rng = np.random.default_rng(5)
    checker = (np.indices((29, 41)).sum(0) % 2 * 255).astype(np.uint8)
    checker = np.repeat(checker[..., None], 3, axis=2)
    if kind == "inverted_checkerboard":
        gt, pred = checker, 255 - checker
    elif kind == "black_and_white":
        gt, pred = np.zeros_like(checker), np.full_like(checker, 255)
    elif kind in ("flat_bright", "flat_dark"):
        level = 254 if kind == "flat_bright" else 1
        gt = np.clip(level + rng.normal(0, 0.7, checker.shape), 0, 255).round().astype(np.uint8)
        pred = np.clip(gt + rng.integers(-1, 2, gt.shape), 0, 255).astype(np.uint8)
    else:  # half black, half white; the prediction far off in both halves
        gt = np.zeros_like(checker)
        gt[:, 20:] = 255
        pred = np.where(gt == 0, 165, 90).astype(np.uint8)
    for name, ours in OURS.items():
        got = float(ours(pred, gt, data_range=255)[0])
        # Large flat areas far from the channel's mean level, with x - y large too, are the
        # float32 moments' worst case (5e-5 seen on two-level images): the target's 1e-4.
        tol = 1e-4 if kind == "halves" and name == "ssim_gauss" else TOL[name]
        assert abs(got - sk(name, gt, pred)) < tol, name


def test_float_inputs_match_float64_skimage():
    gt, pred = pair(30, 37, seed=9)
    g32, p32 = (gt / 255).astype(np.float32), (pred / 255).astype(np.float32)
    for name, ours in OURS.items():
        got = float(ours(p32, g32, data_range=1.0)[0])
        want = sk(name, g32.astype(np.float64), p32.astype(np.float64), data_range=1.0)
        assert abs(got - want) < 1e-10, name
        # float32 computation: close, not exact
        got32 = ours(p32, g32, data_range=1.0, dtype=torch.float32)
        assert got32.dtype == torch.float32 and abs(float(got32[0]) - want) < 1e-4, name


def test_batch_entries_equal_single_calls():
    """A batch mixing a constant pair, an identical pair and a noisy pair of the same size."""
    gt, pred = pair(24, 35, seed=3)
    const_g, const_p = np.full_like(gt, 200), np.full_like(gt, 40)
    gts = np.stack([const_g, gt, gt])
    preds = np.stack([const_p, gt, pred])
    for name, ours in OURS.items():
        batched = ours(preds, gts, data_range=255)
        assert batched.shape == (3,)
        for i in range(3):
            single = float(ours(preds[i], gts[i], data_range=255)[0])
            assert abs(float(batched[i]) - single) < 1e-9, (name, i)
            assert abs(single - sk(name, gts[i], preds[i])) < TOL[name], (name, i)
        assert float(batched[1]) == 1.0


def test_result_is_an_ordinary_tensor():
    """The strips run under inference_mode; what comes back can be changed and used in
    autograd like any tensor."""
    gt, pred = pair(16, 20, seed=4)
    for ours in (M.psnr, *OURS.values()):
        r = ours(pred, gt, data_range=255)
        assert not r.is_inference()
        r.add_(0.0)
        w = torch.ones(1, dtype=r.dtype, requires_grad=True)
        (w * r).sum().backward()
        assert torch.equal(w.grad, r)


def test_two_threads_give_the_same_scores():
    """Strips (9 here) and PSNR chunks (2) are shared out as threads come free, but added in a
    fixed order: the same bits."""
    gt, pred = pair(150, 400, seed=6)
    metrics = {"psnr": M.psnr, **OURS}
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = {name: float(f(pred, gt, data_range=255)[0]) for name, f in metrics.items()}
        torch.set_num_threads(2)
        for _ in range(3):
            two = {name: float(f(pred, gt, data_range=255)[0]) for name, f in metrics.items()}
            assert two == one
        assert torch.get_num_threads() == 2  # restored after the metric's single-threaded run
    finally:
        torch.set_num_threads(saved)


def test_gaussian_taps_sum_to_exactly_one_in_float32():
    taps = S.unit_sum_taps(M._gauss_taps(M.GAUSS_SIGMA, M.GAUSS_TRUNCATE)[0])
    assert sum(taps) == 1.0  # multiples of 2^-25: the float sum is exact
    assert all(float(np.float32(t)) == t for t in taps)
    reference = M._gauss_taps(M.GAUSS_SIGMA, M.GAUSS_TRUNCATE)[0]
    assert max(abs(a - b) for a, b in zip(taps, reference, strict=True)) <= 2.0**-25


# ------------------------------------------------------------------------------ real photos

VABD = realdata_dir() / "vabd"


@pytest.mark.slow
@pytest.mark.skipif(not VABD.is_dir(), reason=f"real photos not found at {VABD}")
def test_real_photos_match_skimage():
    """f/16 input against the real f/1.8 photo, 1536 x 1024, as the benchmark's pair."""
    for split, scene in (("train", "0001"), ("test", "0101")):
        gt = np.asarray(Image.open(VABD / split / "1_8" / f"{scene}.JPG").convert("RGB"))
        pred = np.asarray(Image.open(VABD / split / "input" / f"{scene}.JPG").convert("RGB"))
        for name, ours in OURS.items():
            got = float(ours(pred, gt, data_range=255)[0])
            assert abs(got - sk(name, gt, pred)) < TOL[name], (name, scene)

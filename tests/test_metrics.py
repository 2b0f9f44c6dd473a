"""eval.metrics against scikit-image (the reference implementation of every convention)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage import data, filters
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from eval import metrics as M
from eval import ssim_native
from eval.metric_table import METRICS
from eval.score import score_pair

SSIM_TOL = 1e-4
PSNR_TOL = 1e-3


def sk_psnr(gt: np.ndarray, pred: np.ndarray, data_range: float = 255) -> float:
    return float(peak_signal_noise_ratio(gt, pred, data_range=data_range))


def sk_ssim(gt: np.ndarray, pred: np.ndarray, data_range: float = 255) -> float:
    axis = 2 if gt.ndim == 3 else None
    return float(structural_similarity(gt, pred, channel_axis=axis, data_range=data_range))


def sk_ssim_gauss(gt: np.ndarray, pred: np.ndarray, data_range: float = 255) -> float:
    axis = 2 if gt.ndim == 3 else None
    return float(
        structural_similarity(
            gt,
            pred,
            channel_axis=axis,
            data_range=data_range,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def np_psnr_em(gt: np.ndarray, pred: np.ndarray, data_range: float = 255) -> float:
    """Exposure-matched PSNR in plain numpy: least-squares gain per channel, clip, skimage."""
    p, g = pred.astype(np.float64), gt.astype(np.float64)
    gains = (p * g).sum(axis=(0, 1)) / (p * p).sum(axis=(0, 1))
    return sk_psnr(g, np.clip(p * gains, 0, data_range), data_range)


REFERENCES = {"psnr": sk_psnr, "ssim": sk_ssim, "ssim_gauss": sk_ssim_gauss, "psnr_em": np_psnr_em}
TOLS = {"psnr": PSNR_TOL, "ssim": SSIM_TOL, "ssim_gauss": SSIM_TOL, "psnr_em": PSNR_TOL}
OURS = {"psnr": M.psnr, "ssim": M.ssim, "ssim_gauss": M.ssim_gauss}


def noisy_pair(h: int, w: int, seed: int, noise: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth-ish uint8 ground truth and a correlated noisy prediction, (h, w, 3)."""
    rng = np.random.default_rng(seed)
    base = filters.gaussian(rng.random((h, w, 3)), sigma=2, channel_axis=2)
    base = (base - base.min()) / (np.ptp(base) + 1e-12)
    gt = (base * 255).round().astype(np.uint8)
    pred = np.clip(gt + rng.normal(0, noise, gt.shape), 0, 255).round().astype(np.uint8)
    return gt, pred


def assert_all_match(gt: np.ndarray, pred: np.ndarray, data_range: float = 255) -> None:
    for name, ours in OURS.items():
        got = ours(pred, gt, data_range=data_range)
        assert got.shape == (1,) and got.dtype == torch.float64
        want = REFERENCES[name](gt, pred, data_range)
        assert abs(float(got[0]) - want) < TOLS[name], (name, float(got[0]), want)


# ---------------------------------------------------------------------------------- equality


@pytest.mark.parametrize("size", [(37, 53), (128, 96), (11, 11), (12, 200), (64, 33)])
def test_matches_skimage_on_random_uint8(size):
    gt, pred = noisy_pair(*size, seed=sum(size))
    assert_all_match(gt, pred)


def test_matches_skimage_on_independent_noise():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)
    pred = rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)
    assert_all_match(gt, pred)


def test_matches_skimage_on_float_images_in_unit_range():
    rng = np.random.default_rng(2)
    gt = rng.random((40, 50, 3))
    pred = np.clip(gt + rng.normal(0, 0.1, gt.shape), 0, 1)
    assert_all_match(gt, pred, data_range=1.0)


def test_matches_skimage_on_astronaut_blurred_and_noised():
    gt = data.astronaut()
    rng = np.random.default_rng(3)
    blurred = filters.gaussian(gt / 255.0, sigma=2.0, channel_axis=2) * 255
    pred = np.clip(blurred + rng.normal(0, 6, gt.shape), 0, 255).round().astype(np.uint8)
    assert_all_match(gt, pred)


def test_matches_skimage_on_chelsea():
    gt = data.chelsea()  # 300 x 451: odd width
    rng = np.random.default_rng(4)
    pred = np.clip(gt.astype(float) * 0.9 + 10 + rng.normal(0, 8, gt.shape), 0, 255)
    assert_all_match(gt, pred.round().astype(np.uint8))


def test_matches_skimage_across_strips_and_chunks():
    # tall/wide enough for several row strips with a short last one, one image per chunk
    gt, pred = noisy_pair(203, 701, seed=5)
    assert_all_match(gt, pred)


def test_matches_skimage_on_grey_2d_images():
    gt, pred = noisy_pair(30, 41, seed=6)
    g, p = gt[..., 0], pred[..., 0]
    for name, ours in OURS.items():
        assert abs(float(ours(p, g, data_range=255)[0]) - REFERENCES[name](g, p)) < TOLS[name]


def test_uint8_box_window_is_exact_where_float32_would_cancel():
    """uint8 inputs take the integer path of the box window (window sums exact in float32).
    Bright, nearly flat images are where a float32 variance E[x^2] - E[x]^2 would lose
    everything; the result must still equal scikit-image to float64 precision."""
    rng = np.random.default_rng(11)
    for level, height in ((250, 40), (128, 23), (3, 64)):  # 23 rows: one partial strip
        gt = np.clip(level + rng.normal(0, 0.7, (height, 57, 3)), 0, 255).round().astype(np.uint8)
        pred = np.clip(gt + rng.integers(-1, 2, gt.shape), 0, 255).astype(np.uint8)
        got = float(M.ssim(pred, gt, data_range=255)[0])
        assert abs(got - sk_ssim(gt, pred)) < 1e-12
        # the same numbers as floats take the float64 path: the same answer
        same = float(M.ssim(pred.astype(np.float64), gt.astype(np.float64), data_range=255)[0])
        assert abs(got - same) < 1e-12


def test_psnr_known_value():
    gt = np.full((20, 30, 3), 100, dtype=np.uint8)
    pred = gt + np.uint8(5)  # MSE = 25 exactly
    got = float(M.psnr(pred, gt, data_range=255)[0])
    assert got == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-9)


class TestPsnrOfUint8:
    """uint8 images on the CPU sum their squared errors as integers in compiled chunks
    (eval.ssim_native.squared_error_uint8): the float64 path's value, on any threads."""

    def test_equals_the_float_path_and_scikit_image_across_chunks(self, monkeypatch):
        monkeypatch.setattr(ssim_native, "SSE_CHUNK", 1000)  # many chunks, a partial last one
        rng = np.random.default_rng(3)
        gt = rng.integers(0, 256, (2, 37, 53, 3), dtype=np.uint8)
        pred = np.clip(gt.astype(int) + rng.integers(-40, 41, gt.shape), 0, 255).astype(np.uint8)
        ours = M.psnr(pred, gt, data_range=255)
        floats = M.psnr(pred.astype(np.float64), gt.astype(np.float64), data_range=255)
        torch.testing.assert_close(ours, floats, rtol=0, atol=1e-12)
        for i in range(2):
            assert abs(float(ours[i]) - sk_psnr(gt[i], pred[i])) < 1e-12

    def test_the_sum_is_exact_and_the_same_on_any_threads(self):
        x = np.full((2, 1500, 1000), 255, np.uint8)  # more than one chunk of 2^20 per image
        y = np.zeros_like(x)
        y[1, ::2] = 255
        one = ssim_native.squared_error_uint8(x, y, threads=1)
        two = ssim_native.squared_error_uint8(x, y, threads=2)
        assert one.dtype == np.int64
        assert one.tolist() == two.tolist() == [1500 * 1000 * 255**2, 750 * 1000 * 255**2]

    def test_a_strided_tensor_and_identical_images(self):
        gt = torch.from_numpy(np.random.default_rng(5).integers(0, 256, (3, 40, 30), np.uint8))
        strided = gt.transpose(1, 2)  # not contiguous
        assert float(M.psnr(strided, strided.clone(), data_range=255)[0]) == math.inf
        pred = strided.clone()
        pred[0, 0, 0] ^= 1  # one value off by one: MSE 1 / 3600
        want = 10 * math.log10(255**2 * 3600)
        assert float(M.psnr(pred, strided, data_range=255)[0]) == pytest.approx(want, abs=1e-9)


# ---------------------------------------------------------------------------------- batching


def test_batched_equals_per_image_calls():
    pairs = [noisy_pair(64, 100, seed=s) for s in range(7)]  # 21 maps: 3 chunks
    gts = torch.stack([torch.from_numpy(g).permute(2, 0, 1) for g, _ in pairs])
    preds = torch.stack([torch.from_numpy(p).permute(2, 0, 1) for _, p in pairs])
    for name, ours in OURS.items():
        batched = ours(preds, gts, data_range=255)
        assert batched.shape == (7,)
        for i, (g, p) in enumerate(pairs):
            single = float(ours(p, g, data_range=255)[0])
            assert float(batched[i]) == pytest.approx(single, abs=1e-12), name
            assert abs(float(batched[i]) - REFERENCES[name](g, p)) < TOLS[name], name


def test_layouts_agree():
    gt, pred = noisy_pair(24, 31, seed=7)
    chw = (torch.from_numpy(pred).permute(2, 0, 1), torch.from_numpy(gt).permute(2, 0, 1))
    bhwc = (pred[None], gt[None])
    for name, ours in OURS.items():
        ref = float(ours(pred, gt, data_range=255)[0])
        assert float(ours(*chw, data_range=255)[0]) == pytest.approx(ref, abs=1e-12)
        assert float(ours(*bhwc, data_range=255)[0]) == pytest.approx(ref, abs=1e-12)
        # float input in the same range gives the same number as uint8 (the Gaussian SSIM of
        # uint8 images filters in float32 around 128: within 1e-6)
        as_float = ours(pred.astype(np.float32), gt.astype(np.float64), data_range=255)
        tol = 1e-6 if name == "ssim_gauss" else 1e-12
        assert float(as_float[0]) == pytest.approx(ref, abs=tol)


def test_as_batch_shapes_and_dtype():
    img = np.zeros((5, 7, 3), dtype=np.uint8)
    assert M.as_batch(img).shape == (1, 3, 5, 7)
    assert M.as_batch(img).dtype == torch.float64
    assert M.as_batch(np.zeros((2, 5, 7, 3))).shape == (2, 3, 5, 7)
    assert M.as_batch(torch.zeros(3, 5, 7)).shape == (1, 3, 5, 7)
    assert M.as_batch(torch.zeros(2, 3, 5, 7)).shape == (2, 3, 5, 7)
    assert M.as_batch(np.zeros((5, 7))).shape == (1, 1, 5, 7)
    assert M.as_batch(img, dtype=torch.float32).dtype == torch.float32
    x = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    assert torch.equal(M.as_batch(x)[0, 2], torch.from_numpy(x[..., 2]).double())


def test_float32_computation_is_close():
    gt, pred = noisy_pair(50, 60, seed=8)
    for name, ours in OURS.items():
        got = ours(pred, gt, data_range=255, dtype=torch.float32)
        assert got.dtype == torch.float32
        assert abs(float(got[0]) - REFERENCES[name](gt, pred)) < 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    pairs = [noisy_pair(150, 230, seed=s) for s in range(3)]
    gts = torch.stack([torch.from_numpy(g).permute(2, 0, 1) for g, _ in pairs])
    preds = torch.stack([torch.from_numpy(p).permute(2, 0, 1) for _, p in pairs])
    for ours in OURS.values():
        on_gpu = ours(preds.cuda(), gts.cuda(), data_range=255)
        assert on_gpu.device.type == "cuda"
        torch.testing.assert_close(
            on_gpu.cpu(), ours(preds, gts, data_range=255), rtol=0, atol=1e-9
        )


def test_requires_grad_input_is_accepted():
    gt, pred = noisy_pair(20, 20, seed=9)
    p = torch.from_numpy(pred).permute(2, 0, 1).double().requires_grad_(True)
    g = torch.from_numpy(gt).permute(2, 0, 1).double()
    assert abs(float(M.ssim(p, g, data_range=255)[0]) - sk_ssim(gt, pred)) < SSIM_TOL


# ---------------------------------------------------------------------------------- errors


def test_identical_images():
    gt, _ = noisy_pair(33, 47, seed=10)
    assert math.isinf(float(M.psnr(gt, gt, data_range=255)[0]))
    assert float(M.psnr(gt, gt, data_range=255)[0]) > 0
    assert float(M.ssim(gt, gt, data_range=255)[0]) == pytest.approx(1.0, abs=1e-12)
    assert float(M.ssim_gauss(gt, gt, data_range=255)[0]) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("fn", list(OURS.values()))
def test_shape_mismatch_names_both_shapes(fn):
    a = np.zeros((20, 30, 3), dtype=np.uint8)
    b = np.zeros((20, 31, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"\(20, 30, 3\).*\(20, 31, 3\)"):
        fn(a, b, data_range=255)


@pytest.mark.parametrize("fn", list(OURS.values()))
def test_data_range_is_required_and_checked(fn):
    a = np.zeros((20, 30, 3), dtype=np.uint8)
    with pytest.raises(TypeError):
        fn(a, a)
    with pytest.raises(TypeError):
        fn(a, a, 255)  # keyword-only
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="data_range"):
            fn(a, a, data_range=bad)
    with pytest.raises(TypeError, match="data_range"):
        fn(a, a, data_range="255")


def test_too_small_images_raise():
    six = np.zeros((6, 40, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="7x7"):
        M.ssim(six, six, data_range=255)
    ten = np.zeros((40, 10, 3), dtype=np.uint8)
    assert float(M.ssim(ten, ten, data_range=255)[0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="11x11"):
        M.ssim_gauss(ten, ten, data_range=255)
    assert math.isinf(float(M.psnr(six, six, data_range=255)[0]))  # PSNR has no window


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="channel-first"):
        M.ssim(np.zeros((3, 20, 20)), np.zeros((3, 20, 20)), data_range=1.0)
    with pytest.raises(ValueError, match="shape"):
        M.psnr(torch.zeros(1, 1, 3, 8, 8), torch.zeros(1, 1, 3, 8, 8), data_range=1.0)
    with pytest.raises(TypeError, match="numpy"):
        M.psnr([[1, 2]], [[1, 2]], data_range=1.0)
    with pytest.raises(ValueError, match="dtype"):
        M.ssim(np.zeros((20, 20, 3)), np.zeros((20, 20, 3)), data_range=1, dtype=torch.int32)


# ---------------------------------------------------------------------------------- helpers


def test_metric_specs_drive_the_leaderboard():
    assert list(METRICS) == ["psnr", "ssim", "ssim_gauss", "psnr_em"]
    gt, pred = noisy_pair(30, 30, seed=11)
    for key, spec in METRICS.items():
        assert spec.name == key and spec.label and spec.higher_is_better
        value = float(spec.compute(pred, gt, data_range=255)[0])
        assert abs(value - REFERENCES[key](gt, pred)) < TOLS[key]
    spec = METRICS["ssim"]
    assert spec.format(None) == "n/a" and spec.format(float("nan")) == "n/a"
    assert METRICS["psnr"].format(float("inf")) == "inf"
    assert spec.format(0.123456) == "0.1235"


def test_score_pair_matches_skimage_and_checks_inputs():
    gt, pred = noisy_pair(57, 81, seed=12)
    scores = score_pair(pred, gt)
    assert set(scores) == set(METRICS)
    for key, value in scores.items():
        assert isinstance(value, float)
        assert abs(value - REFERENCES[key](gt, pred)) < TOLS[key]
    with pytest.raises(ValueError, match="uint8"):
        score_pair(pred.astype(np.float32), gt)
    with pytest.raises(ValueError, match="same shape"):
        score_pair(pred[:50], gt)


def test_lpips_available_needs_package_and_both_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    pkg_root = tmp_path / "site"
    pkg = pkg_root / "lpips"
    (pkg / "weights" / "v0.1").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    monkeypatch.syspath_prepend(str(pkg_root))
    assert M.lpips_available() is False  # no linear weights, no AlexNet checkpoint
    (pkg / "weights" / "v0.1" / "alex.pth").write_bytes(b"x")
    assert M.lpips_available() is False  # AlexNet checkpoint still missing
    ckpt = tmp_path / "torch_home" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / "alexnet-owt-7be5be79.pth").write_bytes(b"x")
    assert M.lpips_available() is True


def test_bench_measure_smoke():
    from eval.bench_metrics import measure

    out = measure(height=48, width=64, repeats=1)
    assert out["ratio"] > 0 and out["skimage_s"] > 0 and out["ours_s"] > 0
    assert max(out["max_abs_diff"].values()) < 1e-4

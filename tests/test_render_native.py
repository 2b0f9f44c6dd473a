"""The compiled loops of the lens renderer (bokeh/renderers/native.py), one class per op, each
against its definition written out in numpy (float64) from the exact reference's pieces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bokeh.renderers import lens, native
from bokeh.renderers.character import PLAIN
from bokeh.renderers.composite import combine
from bokeh.renderers.kernels import KernelField, plain_kernel
from bokeh.renderers.levels import column_taps
from bokeh.rowbands import Workers
from tests.lens_reference import _tent

LEVELS = lens.level_values(30.0)
ROOT = Path(__file__).resolve().parents[1]


def _source(h: int, w: int, *, coverage: bool = False, seed: int = 0) -> np.ndarray:
    """(h, w, C) float32 channels-last source: colour in [0, 2), CoC over the levels' range
    (with values exactly on levels), and a coverage channel in [0, 1] when asked."""
    rng = np.random.default_rng(seed)
    src = np.empty((h, w, 5 if coverage else 4), np.float32)
    src[..., :3] = rng.random((h, w, 3)) * 2.0
    src[..., 3] = rng.uniform(-40.0, 40.0, (h, w))
    src[::7, ::5, 3] = rng.choice(LEVELS, src[::7, ::5, 3].shape)
    if coverage:
        src[..., 4] = rng.random((h, w))
    return src


def _tent_args(k: int) -> tuple[float, float, float]:
    lo = LEVELS[k - 1] if k > 0 else -np.inf
    hi = LEVELS[k + 1] if k + 1 < len(LEVELS) else np.inf
    return float(lo), float(LEVELS[k]), float(hi)


def _layer(src: np.ndarray, k: int) -> np.ndarray:
    """(4, h, w) float64 premultiplied layer of level k from a channels-last source."""
    w = _tent(src[..., 3].astype(np.float64), LEVELS, k)
    if src.shape[-1] > 4:
        w = w * src[..., 4]
    return np.concatenate([src[..., :3].transpose(2, 0, 1) * w, w[None]])


class TestLayerWindows:
    @pytest.mark.parametrize("coverage", [False, True])
    @pytest.mark.parametrize("k", [0, 5, len(LEVELS) // 2, len(LEVELS) - 1])
    def test_windows_are_the_layer_around_each_block(self, k, coverage):
        block, halo, r = 16, 6, 4
        src = _source(4 * block + 2 * halo, 5 * block + 2 * halo, coverage=coverage, seed=k)
        by, bx = np.array([0, 3, 2, 1]), np.array([4, 0, 2, 1])
        size = block + 2 * r
        got = native.layer_windows(src, by, bx, halo - r, size, block, *_tent_args(k))
        full = _layer(src, k)
        assert got.shape == (4, 4, size, size) and got.dtype == np.float32
        for i, (y, x) in enumerate(zip(by, bx, strict=True)):
            y0, x0 = y * block + halo - r, x * block + halo - r
            want = full[:, y0 : y0 + size, x0 : x0 + size]
            np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6)

    def test_weights_are_a_partition_of_unity(self):
        src = _source(16, 16)
        ones = np.zeros(1, np.int64)
        weights = np.stack(
            [
                native.layer_windows(src, ones, ones, 0, 16, 16, *_tent_args(k))[0, 3]
                for k in range(len(LEVELS))
            ]
        )
        assert weights.min() >= 0 and weights.max() <= 1
        np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-6)
        assert ((weights > 0).sum(axis=0) <= 2).all()  # each pixel in at most two levels


class TestBlurredRuns:
    """A level's layer blurred by column sums on runs of blocks: the layer convolved with the
    kernel (scipy, float64), for apertures (flat inside) and for a kernel that is not."""

    @staticmethod
    def _kernel(name: str) -> np.ndarray:
        if name == "bubble":  # not flat inside: a tap per difference
            rng = np.random.default_rng(1)
            kernel = rng.random((7, 7))
            return (kernel / kernel.sum()).astype(np.float32)
        radius, blades = {"disc-1": (1.0, 0), "disc-2.7": (2.7, 0), "hexagon-6.6": (6.64, 6)}[name]
        return plain_kernel(radius, 1, blades, 15.0)

    @pytest.mark.parametrize("coverage", [False, True])
    @pytest.mark.parametrize("name", ["disc-1", "disc-2.7", "hexagon-6.6", "bubble"])
    def test_blocks_are_the_layer_convolved_with_the_kernel(self, name, coverage):
        from scipy import ndimage

        kernel = self._kernel(name)
        block, halo, k = 16, 8, len(LEVELS) // 2 + 3
        r = kernel.shape[0] // 2
        src = _source(4 * block + 2 * halo, 6 * block + 2 * halo, coverage=coverage, seed=r)
        # runs: 3 blocks from (0, 1), 1 block at (2, 0), 6 blocks (a whole row) from (3, 0)
        runs = np.array([[0, 1, 3], [2, 0, 1], [3, 0, 6]], np.int64)
        out = np.full((10, 4, block, block), np.nan, np.float32)
        native.blurred_runs(src, runs, halo - r, block, r, *_tent_args(k), *column_taps(kernel),
                            out)  # fmt: skip
        layer = _layer(src, k)
        blurred = np.stack([ndimage.convolve(c, kernel.astype(np.float64)) for c in layer])
        blocks = [(y, x + j) for y, x, n in runs for j in range(n)]
        for i, (y, x) in enumerate(blocks):
            y0, x0 = y * block + halo, x * block + halo
            want = blurred[:, y0 : y0 + block, x0 : x0 + block]
            np.testing.assert_allclose(out[i], want, rtol=1e-5, atol=2e-6)

    def test_where_the_layer_is_empty_only_rounding_is_left(self):
        """Column sums of bright light leave at most float rounding (never negative light)
        where the kernel reaches no pixel of the level."""
        kernel = self._kernel("hexagon-6.6")
        r, block = kernel.shape[0] // 2, 16
        src = _source(block + 2 * r, 2 * block + 2 * r)
        src[..., :3] *= 50.0  # bright: large column sums
        src[r + 4 :, :, 3] = 1e3  # from row 4 of the blocks down, no pixel is in the level
        out = np.empty((2, 4, block, block), np.float32)
        native.blurred_runs(src, np.array([[0, 0, 2]], np.int64), 0, block, r,
                            *_tent_args(0), *column_taps(kernel), out)  # fmt: skip
        light = out[:, :3, :4].max()
        assert out.min() >= 0.0 and light > 1.0
        assert out[:, :, 4 + r :].max() <= 1e-6 * light


class TestColumnTaps:
    def test_an_aperture_has_few_taps(self):
        kernel = plain_kernel(6.64, 1, 0, 0.0)
        taps, weights = column_taps(kernel)
        assert kernel.shape == (15, 15) and len(taps) % 4 == 0 and len(taps) == len(weights)
        assert len(taps) <= 0.35 * kernel.size  # 68 taps against 225
        assert taps[:, 0].max() == 15 and taps[:, 1].max() == 14

    def test_kernels_of_one_tap_per_channel_or_per_block_have_none(self):
        assert column_taps(np.ones((1, 1), np.float32)) is None
        assert column_taps(np.ones((4, 5, 5), np.float32)) is None
        assert column_taps(KernelField(5.0, blades=0, rotation=0.0, character=PLAIN,
                                       front=False, frame=(64, 64))) is None  # fmt: skip


class TestScatterPoints:
    """scatter_points: the convolution of a frame that is zero but for a few points, mirrored
    at its edges as blur_same mirrors (np.pad "symmetric", repeatedly when the kernel is wider
    than the frame)."""

    @pytest.mark.parametrize(("h", "w", "k"), [(20, 31, 7), (5, 7, 13), (1, 9, 5), (40, 3, 9)])
    def test_equals_the_mirrored_convolution_of_the_points(self, h, w, k):
        from scipy.signal import convolve2d

        rng = np.random.default_rng(h * w + k)
        picked = rng.choice(h * w, min(6, h * w - 2), replace=False)
        points = np.unique(np.r_[0, h * w - 1, picked])  # both corners, row-major
        ys, xs = np.divmod(points.astype(np.int64), w)
        values = (rng.random((len(points), 3)) * 10 - 2).astype(np.float32)
        kernels = rng.random((3, k, k)).astype(np.float32)  # not symmetric: orientation counts
        dense = np.zeros((3, h, w))
        dense[:, ys, xs] = values.T
        r = k // 2
        want = np.stack([
            convolve2d(np.pad(dense[c], r, mode="symmetric"), kernels[c].astype(np.float64),
                       mode="valid")
            for c in range(3)
        ])  # fmt: skip
        y0 = min(2, h - 1)
        m = h - y0
        out = np.full((m, w * 3), 0.5, np.float32)  # added to what is there
        interleaved = np.ascontiguousarray(kernels.transpose(1, 2, 0)).reshape(k, 3 * k)
        native.scatter_points(ys, xs, values, interleaved, h, w, y0, out)
        got = out.reshape(m, w, 3).transpose(2, 0, 1) - 0.5
        np.testing.assert_allclose(got, want[:, y0:], atol=2e-5 * np.abs(want).max())

    def test_bright_points_are_the_pixels_with_colour_above_1(self):
        rng = np.random.default_rng(3)
        stack = rng.random((4, 9, 13), dtype=np.float32)
        stack[0, 2, 3] = stack[1, 5, 0] = stack[2, 8, 12] = 1.5
        stack[3, 4, 4] = 9.0  # the weight does not count
        stack[:3, 7, 7] = 1.0  # white is not above white
        ys, xs = native.bright_points(stack)
        assert list(zip(ys, xs, strict=True)) == [(2, 3), (5, 0), (8, 12)]
        assert native.bright_points(np.zeros((4, 3, 3), np.float32))[0].shape == (0,)


class TestDownsampledLayer:
    @pytest.mark.parametrize("s", [1, 2, 4, 32])
    def test_listed_tiles_hold_the_block_mean_of_the_layer(self, s):
        tile, halo, k = 32, 3, 9
        src = _source(3 * tile + 2 * halo, 4 * tile + 2 * halo, coverage=s == 2, seed=s)
        ty, tx = np.array([0, 2, 1]), np.array([3, 0, 1])
        out = np.full((4, 3 * tile // s, 4 * tile // s), -7.0, np.float32)
        native.downsampled_layer(src, (halo, halo), ty, tx, tile, s, *_tent_args(k), out)
        layer = _layer(src[halo:-halo, halo:-halo], k)
        mean = layer.reshape(4, 3 * tile // s, s, 4 * tile // s, s).mean(axis=(2, 4))
        t = tile // s
        written = np.zeros(out.shape[1:], bool)
        for y, x in zip(ty, tx, strict=True):
            written[y * t : (y + 1) * t, x * t : (x + 1) * t] = True
        np.testing.assert_allclose(out[:, written], mean[:, written], rtol=1e-5, atol=1e-6)
        assert (out[:, ~written] == -7.0).all()  # tiles not listed are left alone


class TestCompositeBlocks:
    @pytest.mark.parametrize("mode", ["over", "under", "add"])
    def test_blocks_are_combined_in_place(self, mode):
        rng = np.random.default_rng(len(mode))
        b = 16
        rgba = rng.random((4, 3 * b, 4 * b), dtype=np.float32) * 1.2  # alpha above 1 too
        sums = rng.random((3 * b, 4 * b), dtype=np.float32)
        layer = rng.random((3, 4, b, b), dtype=np.float32)
        by, bx = np.array([2, 0, 1]), np.array([1, 3, 1])
        want, want_sums = rgba.copy(), sums.copy()
        for i, (y, x) in enumerate(zip(by, bx, strict=True)):
            rows, cols = slice(y * b, (y + 1) * b), slice(x * b, (x + 1) * b)
            region = want[:, rows, cols].copy()
            combine(region, layer[i], mode)
            want[:, rows, cols] = region
            if mode == "under":
                want_sums[rows, cols] += layer[i, 3]
        native.composite_blocks(rgba, sums, layer, by, bx, native.MODES[mode])
        np.testing.assert_allclose(rgba, want, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(sums, want_sums)


class TestDarkestChannel:
    def test_equals_numpy_minimum_with_nan_and_returns_the_largest(self):
        rng = np.random.default_rng(8)
        image = rng.random((7, 11, 3), dtype=np.float32)
        image[1, 2] = [np.nan, 0.5, 0.9]
        image[3, 4] = [0.2, 0.3, np.nan]
        image[5, 6] = [0.99, 0.995, 0.999]  # the largest darkest channel
        out = np.empty((7, 11), np.float32)
        top = native.darkest_channel(image, out)
        want = np.minimum(np.minimum(image[..., 0], image[..., 1]), image[..., 2])
        np.testing.assert_array_equal(out, want)  # NaN where numpy has NaN
        assert top == np.float32(0.99)  # NaN left out
        assert (
            native.darkest_channel(np.full((2, 2, 3), np.nan, np.float32), out[:2, :2]) == -np.inf
        )


class TestBoostHighlights:
    def test_gain_is_the_reference_rule(self):
        rng = np.random.default_rng(5)
        image = rng.random((40, 30, 3), dtype=np.float32)
        image[::3, ::2] = rng.uniform(0.7, 1.0, (14, 15, 3))  # many near white
        coc = rng.uniform(-3.0, 3.0, (40, 30)).astype(np.float32)
        lin = image.astype(np.float32) ** np.float32(2.2)
        want = lin.astype(np.float64)
        t = np.clip((image.max(axis=2) - 0.75) / 0.25, 0, 1)
        u = np.clip((np.abs(coc) - 0.5) / 1.5, 0, 1)
        want = want * (1 + 1.5 * (t * t * (3 - 2 * t)) * (u * u * (3 - 2 * u)))[..., None]
        native.boost_highlights(lin, image, coc, 1.5)
        np.testing.assert_allclose(lin, want, rtol=2e-6)
        assert (lin > image**2.2 * 1.01).any()  # some pixels were boosted


class TestFinish:
    @pytest.mark.parametrize("threads", [1, 2])
    def test_finish_equals_its_definition(self, threads):
        """The filled background under the normalised foreground, in display values."""
        rng = np.random.default_rng(threads)
        h, w, hp, wp = 90, 70, 96, 96
        behind = rng.random((4, hp, wp), dtype=np.float32)
        behind[3, 30:50, 10:] = 0.0  # hidden background: filled by extrapolation
        behind[:3] *= behind[3:]
        front = rng.random((4, hp, wp), dtype=np.float32)
        front[:3] *= front[3:]
        coverage = rng.uniform(-0.2, 1.3, (hp, wp)).astype(np.float32)
        coverage[:, 40:] = 0.0
        background = lens._fill(behind)
        fg = front[:3] / np.maximum(front[3:], 1e-6)
        cover = np.clip(coverage, 0, 1)
        linear = background + (fg - background) * cover
        want = np.clip(linear, 0, 1)[:, :h, :w].transpose(1, 2, 0) ** (1 / 2.2)
        with Workers(threads) as workers:
            got = lens._finish(behind, front, coverage, (h, w), 2.2, workers)
        assert got.shape == (h, w, 3) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=2e-6)


class TestUpsample2:
    @pytest.mark.parametrize("shape", [(4, 37, 23), (1, 1, 9), (2, 6, 1), (3, 1, 1)])
    def test_rows_are_torch_bilinear_x2(self, shape):
        import torch
        import torch.nn.functional as F

        src = np.random.default_rng(sum(shape)).random(shape, dtype=np.float32)
        want = F.interpolate(
            torch.from_numpy(src)[None], scale_factor=2, mode="bilinear", align_corners=False
        ).numpy()[0]
        h = shape[1]
        out = np.full((shape[0], 2 * h, 2 * shape[2]), np.nan, np.float32)
        cut = h // 2  # two calls, each writing its own rows of the whole array
        native.upsample2_rows(src, 0, cut, out)
        assert np.isnan(out[:, 2 * cut :]).all()
        native.upsample2_rows(src, cut, h, out)
        np.testing.assert_allclose(out, want, atol=2e-7)

    @pytest.mark.parametrize("s", [2, 4])
    def test_the_fill_is_torch_bilinear_with_edges_repeated(self, s):
        """Where no weight was accumulated, fill_rows is the extrapolated colour upsampled as
        F.interpolate upsamples it, rows and columns beyond the whole blocks repeating the last."""
        import torch
        import torch.nn.functional as F

        from bokeh.renderers import fill_native

        src = np.random.default_rng(s).random((3, 9, 13), dtype=np.float32)
        full = F.interpolate(
            torch.from_numpy(src)[None], scale_factor=s, mode="bilinear", align_corners=False
        ).numpy()[0]
        h, w = 9 * s, 13 * s
        padded = np.pad(full, ((0, 0), (0, 5), (0, 7)), mode="edge")  # beyond: repeated
        rgba = np.zeros((4, h + 5, w + 7), np.float32)
        for y0, y1 in [(0, h + 5), (3, 11), (h - 2, h + 5)]:
            out = np.full((3, y1 - y0, w + 7), np.nan, np.float32)
            fill_native.fill_rows(rgba, src, s, np.float32(0.05), y0, out)
            np.testing.assert_allclose(out, padded[:, y0:y1], atol=3e-7)


_COUNT_COMPILED = """
import json, sys
sys.path.insert(0, {root!r})
import bokeh.renderers.native as native
from bokeh.renderers import lens
from eval.bench_lens import lens_kwargs, make_scene

before = native.compiled_loops()
lens.warm_up()
warmed = native.compiled_loops()
scene = make_scene("motorcycle", 768, 512)
lens.render_lens(scene.image, scene.disparity, **lens_kwargs(scene))
lens.render_lens(scene.image, scene.disparity, **lens_kwargs(scene, 1.4), blades=6)
print(json.dumps([before, warmed, native.compiled_loops()]))
"""


def test_warm_up_compiles_every_loop_that_a_render_runs():
    """After lens.warm_up() in a new process, renders of a real photo's depth compile nothing
    more (numba compiles a loop per argument types: a loop the small scene missed, or called
    with other types, would be compiled during the first visitor's render)."""
    out = subprocess.run(
        [sys.executable, "-c", _COUNT_COMPILED.format(root=str(ROOT))],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    before, warmed, after = json.loads(out.stdout.strip().splitlines()[-1])
    called = {name for name, n in after.items() if n}  # what the renders ran
    assert called >= {"layer_windows", "composite_blocks", "downsampled_layer", "upsample2_rows",
                      "blurred_runs", "finish_rows", "area_mean", "scatter_points"}  # fmt: skip
    assert not any(before.values())
    assert {name for name in called if warmed[name] >= 1} == called
    assert after == warmed

"""The renderer's pool of large work arrays (bokeh/renderers/scratch.py), and renders that
take their arrays from it: an array given back while still in use would mix two renders."""

from __future__ import annotations

import numpy as np

from bokeh.renderers.lens import render_lens
from bokeh.renderers.scratch import _MIN_BYTES, POOL, Pool

BIG = (_MIN_BYTES // 4 // 64 + 1, 64)  # just over the pooled size in float32


class TestPool:
    def test_a_given_array_is_handed_out_again_for_its_shape_and_dtype(self):
        pool = Pool()
        a = pool.empty(BIG)
        pool.give(a)
        assert pool.empty((BIG[0], 65)) is not a
        assert pool.empty(BIG, np.float64) is not a
        assert pool.empty(BIG) is a
        assert pool.empty(BIG) is not a  # handed out once

    def test_small_arrays_views_and_none_are_not_kept(self):
        pool = Pool()
        small = np.empty((8, 8), np.float32)
        big = np.empty((BIG[0] * 2, BIG[1]), np.float32)
        pool.give(small, big[: BIG[0]], None)
        assert pool.empty((8, 8)) is not small
        assert pool.empty(BIG) is not big

    def test_the_oldest_arrays_go_past_the_limit(self):
        first, second = np.empty(BIG, np.float32), np.empty(BIG, np.float32)
        pool = Pool(limit_bytes=first.nbytes)
        pool.give(first)
        pool.give(second)
        assert pool.empty(BIG) is second
        assert pool.empty(BIG) is not first


def _scene(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.random((768, 1024, 3), dtype=np.float32)  # linear light: 9 MiB, pooled
    disparity = np.tile(np.linspace(0.0, 1.0, 1024, dtype=np.float32), (768, 1))
    return image, disparity


def test_renders_that_reuse_pooled_arrays_equal_fresh_ones():
    """Two photos of one size, rendered in turns: each render equals the same photo's render
    with an empty pool (the linear light, among others, comes from the pool and goes back)."""
    options = {"focus_disparity": 0.5, "strength": 40.0, "band": 0.02, "highlight_boost": 1.0}
    scenes = [_scene(1), _scene(2)]
    fresh = []
    for image, disparity in scenes:
        POOL.clear()
        fresh.append(render_lens(image, disparity, **options))
    assert not np.array_equal(fresh[0], fresh[1])
    POOL.clear()
    for turn in range(4):
        image, disparity = scenes[turn % 2]
        np.testing.assert_array_equal(render_lens(image, disparity, **options), fresh[turn % 2])
    assert any(a.shape == (768, 1024, 3) for a in POOL._free.values())  # the linear light

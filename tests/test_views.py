"""What the page shows beside a result: the mean change, the amplified difference, the line
under a generator's result, and the aperture picture (bokeh.views, bokeh.service)."""

from __future__ import annotations

import numpy as np
import pytest

from bokeh import service, views
from bokeh.errors import BokehError
from bokeh.renderers.aperture import aperture_kernel


def _photo(seed: int = 0, shape=(40, 60, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(20, 230, shape, dtype=np.uint8)


def test_mean_change_in_grey_levels():
    a = _photo()
    b = a.copy()
    b[:, :30] += 4  # half the pixels, every channel, 4 grey levels
    assert views.mean_change(a, b) == pytest.approx(2.0)
    assert views.mean_change(a, a) == 0.0
    with pytest.raises(BokehError, match="shapes"):
        views.mean_change(a, a[:10])
    with pytest.raises(BokehError, match="types"):
        views.mean_change(a, a.astype(np.float32))


@pytest.mark.parametrize("cpus", [1, 3])
def test_mean_change_is_the_mean_absolute_difference(cpus, monkeypatch):
    """In one band of rows or in three (one per CPU)."""
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    a[0, :3], b[0, :3] = [0, 255, 7], [255, 0, 7]  # the extremes, both ways
    a[-1, -1], b[-1, -1] = [255, 255, 255], [0, 0, 0]  # in the last band
    want = np.abs(b.astype(np.int64) - a.astype(np.int64)).mean()
    assert views.mean_change(a, b) == want and views.mean_change(b, a) == want


def test_difference_is_amplified_and_states_its_gain():
    a = _photo(1)
    b = a.copy()
    b[5:10, 5:10] += 3  # a small change
    d = views.difference(a, b)
    assert d.gain == views.MAX_GAIN  # 3 grey levels at the 99th percentile or less: full gain
    assert d.image[7, 7].tolist() == [3 * d.gain] * 3 and d.image[20, 40].tolist() == [0, 0, 0]
    assert f"× {d.gain}" in d.caption and f"× {d.gain}" in d.label
    big = a.copy()
    big[:, :] = 255 - a  # a large change everywhere: no amplification needed
    assert views.difference(a, big).gain == 1
    fixed = views.difference(a, b, gain=10)
    assert fixed.gain == 10 and fixed.image[7, 7].tolist() == [30, 30, 30]
    with pytest.raises(BokehError, match="gain"):
        views.difference(a, b, gain=0)


def test_change_note_explains_tiny_changes_of_demo_weights():
    tiny = views.change_note(1.2, demo_weights=True, method="pix2pix")
    assert "1.2 grey levels" in tiny and "synthetic scenes" in tiny
    assert "python -m training pix2pix --dataset ebb" in tiny and "BOKEH_WEIGHTS_DIR" in tiny
    own = views.change_note(1.2, demo_weights=False, method="pix2pix")
    assert "barely visible" in own and "synthetic" not in own
    large = views.change_note(12.0, demo_weights=True, method="pix2pix")
    assert large == "Changed the photo by 12.0 grey levels on average (of 255)."


@pytest.mark.parametrize("blades", [0, 3, 5, 6, 9])
def test_aperture_preview_shows_the_kernel_shape(blades):
    pic = views.aperture_preview(blades, 0.0)
    assert pic.shape == (96, 96, 3) and pic.dtype == np.uint8
    lit = pic[..., 0] > 127
    assert not lit[0].any() and not lit[-1].any() and not lit[:, 0].any()  # it fits
    # the lit area has the kernel's shape: compare with the kernel drawn at the same size
    kernel = aperture_kernel(30.0, blades=blades) > 0
    ratio = lit.mean() / kernel.mean()
    assert 0.4 < ratio < 2.5
    if blades:  # a polygon: its corners make the shape asymmetric under a rotation
        turned = views.aperture_preview(blades, 180.0 / blades)[..., 0] > 127
        assert (turned != lit).mean() > 0.01


def test_aperture_preview_refuses_impossible_blades():
    with pytest.raises(BokehError, match="3 to 16"):
        views.aperture_preview(2, 0)
    assert np.array_equal(service.aperture_preview(0, 0), views.aperture_preview(None, None))


def test_typed_focus_outside_the_photo_is_moved_and_said_so():
    photo = service.Photo(_photo(2), ("Downscaled.",))
    view = service.typed_focus(photo, 5000, 10)
    assert (view.x, view.y) == (59, 10)
    assert "Focus x = 5000 lies outside the photo (0 to 59): moved to 59." in view.note
    assert view.note.startswith("Downscaled.")  # the photo's own notes stay
    inside = service.typed_focus(photo, 12, 30)
    assert (inside.x, inside.y) == (12, 30) and "outside" not in inside.note
    below = service.typed_focus(photo, 3, -8)
    assert (below.x, below.y) == (3, 0) and "Focus y = -8" in below.note
    yellow = (view.marked == (255, 214, 0)).all(axis=2)  # the marker's colour
    ys, xs = np.nonzero(yellow)
    assert abs(xs.mean() - 59) < 8 and abs(ys.mean() - 10) < 8  # the ring is where it says


def test_compare_note_names_the_methods_that_barely_changed_the_photo():
    def tile(method, change, demo):
        img = np.zeros((4, 4, 3), np.uint8)
        return service.CompareTile(
            method, method.title(), img, 0.1, "b", "b", "", change, None, demo
        )

    tiles = [
        tile("depth-lens", 9.0, False),
        tile("pix2pix", 0.9, True),
        tile("cyclegan", 1.5, True),
    ]
    note = service.compare_note(tiles)
    assert "Pix2Pix, Cyclegan" in note and "Depth-Lens" not in note
    assert "synthetic scenes" in note and "--dataset ebb" in note
    assert service.compare_note(tiles[:1]) == ""
    rows = service.compare_rows(tiles)
    assert [r[-1] for r in rows] == ["ok", "barely changed", "barely changed"]
    assert [r[3] for r in rows] == [9.0, 0.9, 1.5]

"""bokeh.photos.load_photo: read-only photos, and a visitor's last photo kept by its bytes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bokeh import photos
from bokeh.errors import BokehError


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    monkeypatch.setattr(photos, "_RECENT", photos.RecentPhoto())


def _png(path, seed: int = 0, size=(40, 30)):
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path), pixels


def test_the_same_bytes_at_a_new_path_are_not_decoded_again(tmp_path, monkeypatch):
    """Gradio stores every upload as a new file: the same bytes give the same photo."""
    first, pixels = _png(tmp_path / "a.png")
    second = tmp_path / "b.png"
    second.write_bytes((tmp_path / "a.png").read_bytes())
    photo = photos.load_photo(first)
    np.testing.assert_array_equal(photo.pixels, pixels)
    decodes = []
    real = photos.load_with_depth
    monkeypatch.setattr(
        photos, "load_with_depth", lambda *a, **k: decodes.append(a) or real(*a, **k)
    )
    assert photos.load_photo(str(second)) is photo
    assert decodes == []


def test_other_bytes_or_another_size_limit_decode_again(tmp_path, monkeypatch):
    path, _ = _png(tmp_path / "a.png", size=(128, 96))
    photo = photos.load_photo(path)
    _, other = _png(tmp_path / "a.png", seed=1, size=(128, 96))  # same path, new bytes
    again = photos.load_photo(path)
    assert again is not photo
    np.testing.assert_array_equal(again.pixels, other)
    monkeypatch.setenv("BOKEH_MAX_SIDE", "64")
    small = photos.load_photo(path)
    assert small.size == (64, 48) and any("64" in n for n in small.notes)


def test_another_owner_decodes_again(tmp_path):
    """One visitor's photo is not another's: the time of an upload must not tell anyone
    what someone else sent last."""
    path, _ = _png(tmp_path / "a.png")
    mine = photos.load_photo(path, owner="a")
    assert photos.load_photo(path, owner="a") is mine
    assert photos.load_photo(path, owner="b") is not mine


def test_photos_are_read_only(tmp_path):
    """A kept photo is shared between calls: nothing may paint on it."""
    path, _ = _png(tmp_path / "a.png")
    for source in (path, np.zeros((8, 8, 3), np.uint8)):
        photo = photos.load_photo(source)
        with pytest.raises(ValueError, match="read-only"):
            photo.pixels[0, 0] = 1


def test_only_a_photo_under_the_byte_limit_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(photos, "_RECENT", photos.RecentPhoto(max_bytes=40 * 30 * 3 - 1))
    path, _ = _png(tmp_path / "a.png")
    assert photos.load_photo(path) is not photos.load_photo(path)


def test_unreadable_paths_still_get_the_decoders_message(tmp_path):
    with pytest.raises(BokehError, match="not|could"):
        photos.load_photo(str(tmp_path / "missing.png"))


def test_content_key_names_the_pixels_and_is_computed_once():
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (6, 8, 3), np.uint8)
    photo = photos.Photo(pixels, ())
    assert photo.content_key is photo.content_key  # kept, not hashed again
    assert photos.Photo(pixels.copy(), ()).content_key == photo.content_key
    changed = pixels.copy()
    changed[5, 7, 2] ^= 1
    assert photos.Photo(changed, ()).content_key != photo.content_key
    same_bytes = pixels.reshape(8, 6, 3)
    assert photos.Photo(same_bytes, ()).content_key != photo.content_key
    # another visitor's photo with the same pixels: its own key (no shared depth, no timing)
    mine, theirs = (photos.Photo(pixels, (), owner=o).content_key for o in ("a", "b"))
    assert len({mine, theirs, photo.content_key}) == 3


@pytest.fixture
def depth_renders(monkeypatch):
    """render(photo): service.render of a depth-lens with classical depth, on an empty depth
    cache; ``render.estimated`` counts the depth estimates, ``render.hashed`` the types that
    the depth cache hashed."""
    from bokeh import service
    from bokeh.pipelines import depth_blur

    hashed, estimated = [], []
    real_digest, real_estimate = depth_blur._digest, depth_blur.estimate_depth
    monkeypatch.setattr(depth_blur, "_digest",
                        lambda v: hashed.append(type(v)) or real_digest(v))  # fmt: skip
    monkeypatch.setattr(depth_blur, "estimate_depth",
                        lambda *a, **k: estimated.append(1) or real_estimate(*a, **k))  # fmt: skip

    def render(photo):
        service.render(photo, method="depth-lens", focus=(10, 10),
                       settings={"depth_source": "classical"})  # fmt: skip

    render.hashed, render.estimated = hashed, estimated
    depth_blur.DEPTH_CACHE.clear()
    yield render
    depth_blur.DEPTH_CACHE.clear()


def test_a_kept_photo_is_not_hashed_again_for_the_depth_cache(tmp_path, depth_renders):
    """service.render names the photo to the depth cache by its content key: the second render
    of the same photo reuses the depth without hashing the float image (four times the
    pixels' bytes); another photo's key estimates again."""
    first = photos.load_photo(_png(tmp_path / "a.png", seed=1, size=(64, 48))[0])
    other = photos.load_photo(_png(tmp_path / "b.png", seed=2, size=(64, 48))[0])
    for photo in (first, first, other):
        depth_renders(photo)
    assert len(depth_renders.estimated) == 2  # the first photo once, the other once
    assert np.ndarray not in depth_renders.hashed


def test_the_same_photo_from_two_visitors_estimates_depth_for_each(tmp_path, depth_renders):
    """The depth cache is per visitor: the second visitor's render of the same bytes estimates
    depth again (a cache hit would be quicker, and tell them someone else sent that photo);
    the first visitor's second render reuses theirs."""
    path, _ = _png(tmp_path / "a.png", seed=3, size=(64, 48))
    for owner in ("alice", "alice", "bob"):
        photo = photos.load_photo(path, owner=owner)
        assert photo.owner == owner
        depth_renders(photo)
    assert len(depth_renders.estimated) == 2

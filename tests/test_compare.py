"""The Compare view: every available method on one photo, with run time and weights badge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "assets" / "examples"
EXPECTED = ["depth-lens", "depth-gauss", "pix2pix", "cyclegan", "bggan"]


@pytest.fixture(scope="module")
def cat():
    from bokeh.service import load_photo

    return load_photo(str(EXAMPLES / "cat.png"))


@pytest.fixture(scope="module")
def tiles(cat):
    from bokeh.service import compare

    return list(compare(cat, focus=(175, 115), settings={"depth_source": "classical"}))


class TestCompareService:
    def test_methods_are_every_pipeline_but_baseline_and_variants(self):
        from bokeh.registry import METHODS
        from bokeh.service import compare_methods

        methods = compare_methods()
        assert methods == EXPECTED
        assert all(METHODS[m].family is None for m in methods)

    def test_one_tile_per_method_in_order_with_images_times_badges(self, cat, tiles):
        assert [t.method for t in tiles] == EXPECTED
        for tile in tiles:
            assert tile.image is not None, tile.message
            assert tile.image.shape == cat.pixels.shape and tile.image.dtype == np.uint8
            assert tile.seconds is not None and tile.seconds > 0
            assert tile.label in tile.caption and f"{tile.seconds:.2f} s" in tile.caption
        badges = {t.method: t.badge for t in tiles}
        # Depth methods are badged with the depth source the render used.
        assert badges["depth-lens"] == badges["depth-gauss"] == "classical depth (no weights)"
        for method in ("pix2pix", "cyclegan", "bggan"):
            assert "bundled" in badges[method]
            assert "demo weights" in next(t.caption for t in tiles if t.method == method)

    def test_each_tile_says_how_much_it_changed_the_photo_and_shows_it(self, cat, tiles):
        from bokeh.service import compare_view
        from bokeh.views import TINY_CHANGE

        for tile in tiles:
            change = np.abs(tile.image.astype(float) - cat.pixels.astype(float)).mean()
            assert tile.change == pytest.approx(change, abs=0.01)
            diff = tile.difference
            assert diff.image.shape == cat.pixels.shape and diff.mean == pytest.approx(change)
            assert np.array_equal(
                diff.image,
                np.clip(
                    np.abs(tile.image.astype(int) - cat.pixels.astype(int)) * diff.gain, 0, 255
                ),
            )
        by = {t.method: t for t in tiles}
        assert all(by[m].demo for m in ("pix2pix", "cyclegan", "bggan"))
        assert not by["depth-lens"].demo
        view = compare_view(cat, tiles)
        assert len(view.gallery) == 1 + len(tiles) and len(view.differences) == len(tiles)
        assert all(
            f"× {t.difference.gain}" in caption
            for t, (_, caption) in zip(tiles, view.differences, strict=True)
        )
        tiny = [t.label for t in tiles if t.change < TINY_CHANGE]
        assert all(label in view.note for label in tiny)  # named under the gallery
        demo_tiny = [t for t in tiles if t.demo and t.change < TINY_CHANGE]
        assert ("synthetic scenes" in view.note) == bool(demo_tiny)

    def test_a_generator_render_says_how_little_it_changed_a_real_photo(self, cat):
        from bokeh.service import render

        out = render(cat, method="cyclegan", with_difference=True)
        change = np.abs(out.image.astype(float) - cat.pixels.astype(float)).mean()
        assert out.info["mean_change"] == pytest.approx(change, abs=0.01)
        line = out.summary.splitlines()[1]
        assert f"{change:.1f} grey levels" in line
        if change < 3:
            assert "demo weights were trained on synthetic scenes" in line
        assert out.difference is not None and out.difference.gain >= 1

    def test_methods_differ_and_depth_methods_keep_the_focus_sharp(self, cat, tiles):
        images = {t.method: t.image.astype(np.int16) for t in tiles}
        for a in EXPECTED:
            for b in EXPECTED:
                if a < b:
                    assert np.abs(images[a] - images[b]).mean() > 0.5, (a, b)
        src = cat.pixels.astype(np.int16)
        eye = (slice(105, 125), slice(165, 185))
        assert np.abs(images["depth-lens"][eye] - src[eye]).mean() < 3.0

    def test_a_failing_method_gets_a_tile_and_the_others_still_run(self, cat):
        from bokeh import service
        from bokeh.errors import BokehError

        def run(photo, *, method, **kwargs):
            if method == "cyclegan":
                raise BokehError("CycleGAN broke on purpose.")
            return service.render(photo, method=method, **kwargs)

        tiles = list(
            service.compare(
                cat,
                focus=None,
                settings={"depth_source": "classical"},
                methods=["cyclegan", "depth-gauss"],
                run=run,
            )
        )
        assert tiles[0].image is None and "broke on purpose" in tiles[0].message
        assert tiles[0].caption.endswith("not run")
        assert tiles[1].image is not None

    def test_methods_without_weights_are_listed_not_run(self, cat, monkeypatch, tmp_path):
        from bokeh import service
        from bokeh.weights import resolve as wres

        monkeypatch.setattr(wres, "_bundled_dir", lambda: tmp_path)
        monkeypatch.delenv("BOKEH_WEIGHTS_DIR", raising=False)
        monkeypatch.delenv("BOKEH_HUB_REPO", raising=False)
        called = []

        def run(photo, *, method, **kwargs):
            called.append(method)
            return service.render(photo, method=method, **kwargs)

        tiles = list(
            service.compare(
                cat,
                focus=None,
                settings={"depth_source": "classical"},
                methods=["pix2pix", "depth-gauss"],
                run=run,
            )
        )
        assert called == ["depth-gauss"]
        assert tiles[0].image is None and "no weights" in tiles[0].message

    def test_translation_methods_get_no_focus(self, cat):
        from bokeh import service

        seen = {}

        def run(photo, *, method, focus, **kwargs):
            seen[method] = focus
            return service.render(photo, method=method, focus=focus, **kwargs)

        list(
            service.compare(
                cat,
                focus=(10, 10),
                settings={"depth_source": "classical"},
                methods=["depth-gauss", "pix2pix"],
                run=run,
            )
        )
        assert seen == {"depth-gauss": (10, 10), "pix2pix": None}


@pytest.mark.app
def test_compare_endpoint(client):
    from gradio_client import handle_file

    gallery, info = client.predict(
        handle_file(str(EXAMPLES / "motorcycle.png")),
        300,
        250,
        {"depth_source": "file", "depth_kind": "disparity"},
        handle_file(str(EXAMPLES / "motorcycle_disparity.png")),
        api_name="/compare",
    )
    assert [row["method"] for row in info] == EXPECTED
    assert all(row["seconds"] > 0 and row["weights"] for row in info)
    assert len(gallery) == 1 + len(EXPECTED)
    src = np.asarray(Image.open(EXAMPLES / "motorcycle.png").convert("RGB"))
    first = np.asarray(Image.open(gallery[0]["image"]).convert("RGB"))
    assert np.array_equal(first, src)  # the input comes first, unchanged
    for item, row in zip(gallery[1:], info, strict=True):
        assert item["caption"].startswith(row["label"])
        image = Image.open(item["image"])
        assert image.format == "PNG" and image.size == (741, 500)


@pytest.mark.app
def test_compare_endpoint_refuses_bad_uploads_clearly(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(AppError, match="Could not read the upload"):
        client.predict(
            handle_file(str(bad)), 1, 1, {"depth_source": "classical"}, None, api_name="/compare"
        )


def test_depth_methods_are_badged_with_depth_anything_when_it_was_used(
    cat, tmp_path_factory, monkeypatch
):
    from bokeh import service
    from bokeh.depth import anything
    from bokeh.pipelines import depth_blur
    from tests.test_depth_anything import _build_tiny

    folder = _build_tiny(tmp_path_factory.mktemp("tiny-depth-anything"))
    monkeypatch.setenv("BOKEH_DEPTH_ANYTHING_DIR", str(folder))
    anything.clear_model_cache()
    depth_blur.DEPTH_CACHE.clear()
    try:
        tiles = list(
            service.compare(
                cat,
                focus=(175, 115),
                settings={"depth_source": "auto"},
                methods=["depth-lens", "pix2pix"],
            )
        )
    finally:
        anything.clear_model_cache()
        depth_blur.DEPTH_CACHE.clear()
    assert tiles[0].badge.startswith("Depth Anything V2 Small: local folder")
    assert "Depth Anything V2" in tiles[0].caption
    assert "Depth Anything" in tiles[0].message  # the summary's "Depth:" line
    assert "demo weights" in tiles[1].caption

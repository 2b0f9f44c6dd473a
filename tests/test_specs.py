"""One declaration per method: a spec defined here, and nowhere else, reaches the app, its API,
Compare and the command line; the registry's own specs are consistent."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from bokeh import cli, lazy, service
from bokeh.checks import check_image
from bokeh.methods.depth_blur import DEPTH_PARAMS
from bokeh.params import Param, validate_settings
from bokeh.pipelines.base import Result, check_focus
from bokeh.registry import METHODS, NETWORKS, get_method, registered, trained_networks
from bokeh.specs import MethodSpec
from training.recipes import RECIPES


class InvertPipeline:
    """A toy method for these tests: blends the image with its negative."""

    def __init__(self, spec: MethodSpec) -> None:
        self.spec = spec

    def __call__(self, image, *, focus=None, **settings) -> Result:
        start = time.perf_counter()
        image = check_image(image)
        opts = validate_settings(self.spec.params, settings, self.spec.name)
        out = (1 - opts["amount"]) * image + opts["amount"] * (1 - image)
        return Result(out, None, {"method": self.spec.name, "notes": [],
                                  "seconds": time.perf_counter() - start})  # fmt: skip


def render_flat(image, estimate, *, focus, settings, plane):
    """A toy depth renderer: everything nearer than ``cut`` becomes grey."""
    out = image.copy()
    out[estimate.disparity > settings["cut"]] = settings["grey"]
    return out, {"cut": settings["cut"]}


INVERT = MethodSpec(
    name="invert-test", label="Invert (test method)", ui_label="Invert", kind="translation",
    description="Blends the photo with its negative.", pipeline=f"{__name__}:InvertPipeline",
    params=(Param("amount", "float", 1.0, "Amount", "1 = the full negative", 0.0, 1.0, 0.05),),
)  # fmt: skip
FLAT = MethodSpec(
    name="depth-flat-test", label="Depth + flat grey (test renderer)", ui_label="Flat (test)",
    kind="depth", description="Greys out everything nearer than a cut.",
    pipeline="bokeh.pipelines.depth_blur:DepthBlurPipeline", renderer=f"{__name__}:render_flat",
    params=DEPTH_PARAMS + (Param("cut", "float", 0.5, "Cut", "", 0.0, 1.0, 0.05),
                           Param("grey", "float", 0.5, "Grey", "", 0.0, 1.0, 0.05)),
)  # fmt: skip


@pytest.fixture
def specs():
    with registered(INVERT, FLAT):
        yield


def _photo(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


class TestAMethodIsOneDeclaration:
    def test_the_library_runs_it(self, specs, tmp_path):
        photo = service.load_photo(_photo(tmp_path))
        out = service.render(photo, method="invert-test", settings={"amount": 1.0})
        assert np.abs(out.image.astype(int) + photo.pixels.astype(int) - 255).max() <= 1
        with pytest.raises(Exception, match="amount must lie between 0 and 1"):
            service.render(photo, method="invert-test", settings={"amount": 2})

    def test_compare_lists_it_and_a_new_renderer(self, specs, tmp_path):
        assert {"invert-test", "depth-flat-test"} <= set(service.compare_methods())
        photo = service.load_photo(_photo(tmp_path))
        tiles = list(service.compare(photo, focus=(10, 10), methods=["depth-flat-test"],
                                     settings={"depth_source": "classical", "cut": 1.0}))  # fmt: skip
        assert tiles[0].image is not None and tiles[0].label == FLAT.label

    def test_the_cli_lists_it_and_takes_its_flags(self, specs, tmp_path, capsys):
        assert cli.main(["methods"]) == 0
        assert "invert-test" in capsys.readouterr().out
        out = tmp_path / "out.png"
        code = cli.main(["render", str(_photo(tmp_path)), "-o", str(out), "-m", "invert-test",
                         "--amount", "0.5"])  # fmt: skip
        assert code == 0 and Image.open(out).size == (64, 48)
        code = cli.main(["render", str(_photo(tmp_path)), "-o", str(out), "-m", "depth-flat-test",
                         "--depth-source", "classical", "--cut", "0.0", "--grey", "1"])  # fmt: skip
        assert code == 0  # everything nearer than the farthest point turns white
        assert (np.asarray(Image.open(out)).min(axis=2) >= 254).mean() > 0.9

    def test_the_app_builds_its_tab_control_and_endpoint(self, specs, tmp_path):
        import gradio as gr
        from gradio_client import Client, handle_file

        import app

        demo = app.build_demo()
        tabs = [b.label for b in demo.blocks.values() if isinstance(b, gr.Tab)]
        assert "Invert" in tabs
        radios = [b for b in demo.blocks.values() if isinstance(b, gr.Radio)
                  and b.label == "Renderer"]  # fmt: skip
        assert ("Flat (test)", "depth-flat-test") in [tuple(c) for c in radios[0].choices]
        sliders = {b.label for b in demo.blocks.values() if isinstance(b, gr.Slider)}
        assert {"Cut", "Grey"} <= sliders
        names = {fn.api_name for fn in demo.fns.values()}
        assert {"render_invert-test", "render_depth", "compare"} <= names
        _, url, _ = demo.launch(prevent_thread_lock=True, **app.launch_kwargs())
        try:
            client = Client(url, verbose=False)
            out, info = client.predict(handle_file(str(_photo(tmp_path))),
                                       api_name="/render_invert-test")  # fmt: skip
            assert info["method"] == "invert-test" and Image.open(out).size == (64, 48)
            out, _, info = client.predict(
                handle_file(str(_photo(tmp_path))), 5, 5, "depth-flat-test",
                {"depth_source": "classical", "cut": 0.0, "grey": 0.0}, None,
                api_name="/render_depth")  # fmt: skip
            assert (
                info["cut"] == 0.0 and (np.asarray(Image.open(out)).max(axis=2) == 0).mean() > 0.9
            )
            client.close()
        finally:
            demo.close()

    def test_it_is_gone_after_the_block(self):
        assert "invert-test" not in METHODS and "depth-flat-test" not in METHODS


class TestRegistry:
    def test_a_typo_names_the_closest_method(self):
        with pytest.raises(KeyError, match="did you mean 'depth-lens'"):
            get_method("depth-lense")

    def test_a_name_is_registered_once(self, specs):
        from bokeh.registry import register

        with pytest.raises(ValueError, match="registered already"):
            register(INVERT)

    def test_every_reference_in_a_spec_resolves(self):
        for spec in METHODS.values():
            assert callable(lazy.load(spec.pipeline)), spec.name
            if spec.renderer:
                assert callable(lazy.load(spec.renderer)), spec.name
        for net in NETWORKS.values():
            assert callable(lazy.load(net.builder)) and callable(lazy.load(net.presets))

    def test_every_trained_network_has_a_recipe_and_back(self):
        assert set(trained_networks()) == set(RECIPES)
        for name, recipe in RECIPES.items():
            assert recipe.inference_slot.network is trained_networks()[name]

    def test_published_fixed_fields_reach_every_preset(self):
        critic = NETWORKS["pix2pix-patchgan"]
        for preset in ("full", "demo"):
            cfg = critic.config(preset)
            assert cfg.in_channels == 6 and cfg.norm == "batch"

    def test_focus_check_names_the_image_size(self):
        with pytest.raises(Exception, match="outside the 10x5 image"):
            check_focus((20, 1), 10, 5)


class TestPublicNames:
    def test_bokeh_render_stays_a_function_after_the_renderers_load(self):
        """The renderers' package must not shadow ``bokeh.render`` (it did when it was
        ``bokeh/render/``: the second call raised 'module object is not callable')."""
        import bokeh
        import bokeh.renderers.lens  # noqa: F401  (loads the renderers' package)

        image = np.full((16, 24, 3), 0.5, np.float32)
        for _ in range(2):
            result = bokeh.render(image, method="identity")
            assert result.image.shape == (16, 24, 3)
        assert callable(bokeh.render)

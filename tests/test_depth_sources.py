"""Tests of the weights-free depth sources: bokeh.depth.files and bokeh.depth.classical."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from bokeh.depth.classical import estimate_disparity, ground_prior, subject_mask
from bokeh.depth.files import load_depth_file
from bokeh.errors import ImageReadError

# ------------------------------------------------------------------------------ helpers


def _png(array: np.ndarray, path) -> None:
    Image.fromarray(array).save(path, format="PNG")


def _scene(height: int = 240, width: int = 320, seed: int = 0, grey: bool = False):
    """Textured background with a distinctly coloured disc; returns (image, disc mask, centre)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    background = ndimage.gaussian_filter(rng.random((height, width, 3)), (6, 6, 0))
    background = (background - background.min()) / np.ptp(background) * 0.6 + 0.2
    background += rng.normal(0.0, 0.05, background.shape)
    cx, cy, radius = 0.55 * width, 0.5 * height, 0.22 * min(height, width)
    yy, xx = np.mgrid[0:height, 0:width]
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 < radius**2
    image = background.copy()
    image[disc] = [0.9, 0.15, 0.1]
    if grey:
        luma = image @ np.array([0.299, 0.587, 0.114])
        luma[disc] = 0.97  # the disc stays distinct in brightness
        image = np.repeat(luma[..., None], 3, axis=-1)
    return np.clip(image, 0.0, 1.0).astype(np.float32), disc, (cx, cy)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


# ============================================================================== files


def test_8bit_png_disparity_round_trip(tmp_path):
    ramp = np.tile(np.arange(256, dtype=np.uint8), (8, 1))  # 256 wide, 8 high
    path = tmp_path / "disp8.png"
    _png(ramp, path)
    out = load_depth_file(path, kind="disparity")
    assert out.dtype == np.float32 and out.shape == (8, 256)
    np.testing.assert_allclose(out, ramp / 255.0, atol=1e-6)


def test_16bit_png_depth_is_inverted_and_keeps_precision(tmp_path):
    # Depth in millimetres: three bands that an 8-bit read would not tell apart (all > 255).
    depth = np.full((30, 60), 4000, dtype=np.uint16)
    depth[:, :20] = 1000
    depth[:, 20:40] = 1003
    path = tmp_path / "depth16.png"
    _png(depth, path)
    assert Image.open(path).mode.startswith("I")  # really written as 16-bit

    out = load_depth_file(str(path), kind="depth")
    inverse = 1.0 / depth.astype(np.float64)
    expected = (inverse - inverse.min()) / (inverse.max() - inverse.min())
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert out[0, 0] == pytest.approx(1.0)  # nearest band
    assert out[0, -1] == pytest.approx(0.0)  # farthest band
    assert 0.99 < out[0, 25] < 1.0  # 1003 mm: just behind the nearest band, not equal to it


def test_depth_and_disparity_readings_are_opposite():
    rng = np.random.default_rng(1)
    values = np.kron(rng.uniform(1.0, 10.0, (6, 8)), np.ones((4, 4)))  # 4x4 blocks
    as_depth = load_depth_file(values, kind="depth")
    as_disparity = load_depth_file(values, kind="disparity")
    near, far = (
        np.unravel_index(values.argmin(), values.shape),
        np.unravel_index(values.argmax(), values.shape),
    )
    assert as_depth[near] == 1.0 and as_depth[far] == 0.0  # smaller depth = nearer
    assert as_disparity[near] == 0.0 and as_disparity[far] == 1.0
    # Both are monotone in the raw values, in opposite directions.
    order = np.argsort(values, axis=None, kind="stable")
    assert np.all(np.diff(as_depth.ravel()[order]) <= 1e-7)
    assert np.all(np.diff(as_disparity.ravel()[order]) >= -1e-7)


def test_npy_from_path_bytes_and_file_object(tmp_path):
    rng = np.random.default_rng(2)
    values = np.kron(rng.uniform(0.5, 3.0, (5, 7)), np.ones((3, 3))).astype(np.float32)
    path = tmp_path / "depth.npy"
    np.save(path, values)
    from_path = load_depth_file(path, kind="depth")
    from_bytes = load_depth_file(path.read_bytes(), kind="depth")
    with open(path, "rb") as handle:
        from_file = load_depth_file(handle, kind="depth")
    from_array = load_depth_file(values, kind="depth")
    for out in (from_bytes, from_file, from_array):
        np.testing.assert_array_equal(out, from_path)
    assert from_path.shape == values.shape and from_path.min() == 0 and from_path.max() == 1


def test_npz_with_one_array(tmp_path):
    values = np.kron(np.arange(1, 7, dtype=np.float64).reshape(2, 3), np.ones((3, 3)))
    path = tmp_path / "d.npz"
    np.savez(path, depth=values)
    out = load_depth_file(path, kind="disparity")
    np.testing.assert_allclose(out, (values - 1) / 5, atol=1e-6)


def test_pfm_is_read_bottom_up(tmp_path):
    values = np.kron(np.array([[1.0, 2.0], [3.0, 4.0]], dtype="<f4"), np.ones((3, 3), "<f4"))
    header = f"Pf\n{values.shape[1]} {values.shape[0]}\n-1.0\n".encode()
    path = tmp_path / "disp.pfm"
    path.write_bytes(header + values[::-1].tobytes())  # PFM stores the bottom row first
    out = load_depth_file(path, kind="disparity")
    np.testing.assert_allclose(out, (values - 1) / 3, atol=1e-6)


def test_wrong_aspect_ratio_is_refused_with_both_sizes():
    with pytest.raises(ImageReadError) as info:
        load_depth_file(np.ones((480, 640)) + np.eye(480, 640), kind="depth", size=(1024, 683))
    message = str(info.value)
    assert "640x480" in message and "1024x683" in message and "aspect" in message


def test_same_aspect_map_is_resized_to_the_photo():
    ramp = np.tile(np.linspace(1.0, 2.0, 64), (48, 1))  # disparity grows to the right
    out = load_depth_file(ramp, kind="disparity", size=(128, 96))
    assert out.shape == (96, 128) and out.dtype == np.float32
    assert np.all(np.diff(out, axis=1) >= -1e-6)  # still a left-to-right ramp
    assert out[:, :4].mean() < 0.05 and out[:, -4:].mean() > 0.95
    # A ratio off by under 2 % (rounding in a resized photo) is accepted too.
    assert load_depth_file(ramp, kind="disparity", size=(129, 96)).shape == (96, 129)


def test_invalid_values_are_filled_from_the_nearest_valid_pixel():
    depth = np.full((40, 40), 2.0)
    depth[:, 20:] = 8.0
    depth[5:15, 2:8] = 0.0  # sensor holes inside the near half
    depth[25:30, 30:36] = np.nan  # and inside the far half
    depth[0, 39] = np.inf
    out = load_depth_file(depth, kind="depth")
    assert np.isfinite(out).all()
    assert np.all(out[:, :20] == 1.0) and np.all(out[:, 20:] == 0.0)

    disparity = np.where(np.isnan(depth), np.nan, 1.0 / np.where(depth > 0, depth, np.inf))
    disparity[5:15, 2:8] = -1.0  # negative disparity is invalid too
    out = load_depth_file(disparity, kind="disparity")
    assert np.all(out[:, :20] == 1.0) and np.all(out[:, 20:] == 0.0)


def test_zero_disparity_is_valid_but_zero_depth_is_not():
    values = np.zeros((9, 9))
    values[:, 6:] = 5.0
    out = load_depth_file(values, kind="disparity")
    assert np.all(out[:, :6] == 0.0) and np.all(out[:, 6:] == 1.0)  # zeros stay: far away
    out = load_depth_file(values, kind="depth")
    assert np.all(out == 1.0)  # zeros were holes, filled from the only (constant) depth


def test_all_invalid_map_is_refused():
    with pytest.raises(ImageReadError, match="no valid value"):
        load_depth_file(np.zeros((5, 5)), kind="depth")
    with pytest.raises(ImageReadError, match="no valid value"):
        load_depth_file(np.full((5, 5), np.nan), kind="disparity")


def test_constant_map_means_everything_is_the_subject_plane():
    for kind in ("depth", "disparity"):
        out = load_depth_file(np.full((12, 17), 3.5), kind=kind)
        assert out.shape == (12, 17) and np.all(out == 1.0)


def test_a_speckle_does_not_squash_the_range():
    values = np.full((50, 50), 0.2)
    values[:, 25:] = 0.8
    values[10, 10] = 1000.0  # one hot pixel
    out = load_depth_file(values, kind="disparity")
    assert np.all(out[:, 25:] == 1.0)
    assert out[10, 10] == 1.0 and np.all(np.delete(out[:, :25].ravel(), 10 * 25 + 10) == 0.0)


def test_grey_rgb_png_is_accepted_and_colour_png_refused(tmp_path):
    grey = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (6, 1))
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    _png(rgb, tmp_path / "grey_rgb.png")
    out = load_depth_file(tmp_path / "grey_rgb.png", kind="disparity")
    np.testing.assert_allclose(out, grey / 240.0, atol=1e-6)

    colour = rgb.copy()
    colour[..., 0] = 255 - colour[..., 0]
    _png(colour, tmp_path / "colour.png")
    with pytest.raises(ImageReadError, match="channels differ"):
        load_depth_file(tmp_path / "colour.png", kind="disparity")


def test_unreadable_inputs_raise_image_read_error(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not a depth map\n")
    with pytest.raises(ImageReadError, match="notes.png"):
        load_depth_file(text, kind="depth")

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((64, 64), np.uint8) + 7).save(buffer, format="PNG")
    with pytest.raises(ImageReadError):
        load_depth_file(buffer.getvalue()[:60], kind="depth")  # truncated

    with pytest.raises(ImageReadError, match="does not exist"):
        load_depth_file(tmp_path / "missing.png", kind="depth")
    with pytest.raises(ImageReadError):
        load_depth_file(b"", kind="depth")
    with pytest.raises(ImageReadError):
        load_depth_file(np.ones((4, 4, 5)), kind="depth")


def test_pickled_npy_is_refused(tmp_path):
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"depth": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ImageReadError, match="pickle"):
        load_depth_file(path, kind="depth")
    path = tmp_path / "evil.npz"
    np.savez(path, depth=np.array([{"depth": 1}], dtype=object))
    with pytest.raises(ImageReadError, match="pickle"):
        load_depth_file(path, kind="depth")


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="kind"):
        load_depth_file(np.ones((3, 3)), kind="distance")
    with pytest.raises(ValueError, match="size"):
        load_depth_file(np.ones((3, 3)), kind="depth", size=(0, 3))
    with pytest.raises(TypeError):
        load_depth_file(12345, kind="depth")


def test_middlebury_motorcycle_disparity_with_infinite_holes():
    from skimage import data

    left, _, disparity = data.stereo_motorcycle()
    invalid = ~np.isfinite(disparity)
    assert invalid.any()  # the ground truth marks unknown pixels with inf

    out = load_depth_file(disparity, kind="disparity", size=left.shape[1::-1])
    assert out.shape == left.shape[:2] and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() == 0.0 and out.max() == 1.0
    # Valid pixels keep their order (a monotone map of the measured disparity) ...
    valid_in, valid_out = disparity[~invalid], out[~invalid]
    order = np.argsort(valid_in, kind="stable")
    assert np.all(np.diff(valid_out[order]) >= -1e-6)
    # ... and each hole takes a value that some measured pixel has.
    assert np.isin(out[invalid], valid_out).all()


# ============================================================================== classical


def test_click_on_the_object_segments_it():
    image, disc, centre = _scene()
    mask = subject_mask(image, focus=centre)
    assert mask.shape == disc.shape and mask.dtype == np.float32
    assert _iou(mask > 0.5, disc) > 0.8

    disparity = estimate_disparity(image, focus=centre)
    h = image.shape[0]
    prior = ground_prior(h)
    assert (disparity >= prior[:, None] - 1e-6).all()  # nothing is pushed behind the ground
    # The subject stands at least at the ground's depth at its contact row (its bottom, at most
    # 5 % of the height below the click), and no nearer than the ground at its lowest row (plus
    # the relief towards its middle).
    rows = np.arange(h)[:, None]
    contact = round(centre[1] + 0.05 * h)
    lowest = int(np.nonzero(disc)[0].max())
    core = disc & (rows >= centre[1]) & (rows <= contact)  # above the contact row, unfaded
    assert prior[contact] - 1e-6 <= disparity[core].min()
    assert disparity[disc].max() <= prior[lowest] + 0.05 + 1e-6
    # The background above the subject is behind it.
    above = np.broadcast_to(rows < centre[1] - 0.22 * 240 - 5, disc.shape)
    assert disparity[above].max() < disparity[core].min()


def test_segmentation_works_on_a_downscaled_copy():
    image, disc, centre = _scene(height=500, width=760, seed=3)  # long side > work_side
    mask = subject_mask(image, focus=centre, work_side=256)
    assert _iou(mask > 0.5, disc) > 0.8


def test_click_on_the_background_gives_another_result():
    image, disc, centre = _scene(seed=1)
    on_object = estimate_disparity(image, focus=centre)
    mask = subject_mask(image, focus=(15.0, 20.0))
    assert mask[20, 15] > 0.5  # the clicked place is the subject now
    assert mask[disc].mean() < 0.5 and _iou(mask > 0.5, disc) < 0.2
    on_background = estimate_disparity(image, focus=(15.0, 20.0))
    # Not clicked, the disc still stands up from the ground (pop-up), and clicked, it is
    # pulled further forward, to where it stands as one subject.
    upper = disc & (np.arange(240)[:, None] < centre[1])
    ground = np.broadcast_to(ground_prior(240)[:, None], disc.shape)
    assert on_background[upper].mean() > ground[upper].mean() + 0.03
    assert on_object[upper].mean() > on_background[upper].mean() + 0.02


def _blocks(height: int = 240, width: int = 320):
    """Textured background with three flat blocks: a tall one standing low in the frame, a
    short one standing higher, and one cut by the bottom edge; returns (image, tall, short,
    base) with the blocks as (rows, columns) slices."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    image = ndimage.gaussian_filter(rng.random((height, width, 3)), (6, 6, 0))
    image = (image - image.min()) / np.ptp(image) * 0.5 + 0.25
    image += rng.normal(0.0, 0.03, image.shape)
    tall = (slice(40, 200), slice(40, 100))
    short = (slice(100, 140), slice(200, 280))
    base = (slice(190, height), slice(150, 190))
    image[tall], image[short], image[base] = [0.1, 0.3, 0.9], [0.9, 0.8, 0.1], [0.9, 0.1, 0.1]
    return np.clip(image, 0.0, 1.0).astype(np.float32), tall, short, base


def test_upright_segments_stand_where_they_end_below():
    image, tall, short, base = _blocks()
    disparity = estimate_disparity(image, focus=(300, 20))  # a click on the background
    prior = ground_prior(240)[:, None]
    assert (disparity >= prior - 1e-6).all()
    for block in (tall, short):
        rows = block[0]
        lift = disparity[block] - prior[rows]
        # Lifted above the ground of its own rows, most at the top; its bottom at the ground
        # where it stands (within a few rows: the segmentations run on a copy 1/3 the size).
        assert lift[:5].mean() > 0.04 and lift[:5].mean() > lift[-5:].mean()
        bottom = disparity[block][-5:].mean()
        assert prior[rows.stop - 8, 0] < bottom < prior[rows.stop + 8, 0]
    # What touches the bottom edge is ground or cut by the frame (the red block): the prior,
    # row by row.
    np.testing.assert_allclose(disparity[-1], prior[-1, 0], atol=1e-6)
    np.testing.assert_allclose(disparity[-20:, base[1]], np.broadcast_to(prior[-20:], (20, 40)),
                               atol=0.005)  # fmt: skip


def test_grey_looking_image():
    image, disc, centre = _scene(seed=2, grey=True)
    assert np.array_equal(image[..., 0], image[..., 2])
    mask = subject_mask(image, focus=centre)
    assert _iou(mask > 0.5, disc) > 0.8


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1), (3, 3), (37, 53), (101, 33), (9, 400)])
def test_output_shape_dtype_and_range_for_odd_sizes(shape):
    rng = np.random.default_rng(sum(shape))
    image = rng.random(shape + (3,))
    for focus in (None, (shape[1] - 1, shape[0] - 1), (0, 0)):
        disparity = estimate_disparity(image, focus=focus)
        mask = subject_mask(image, focus=focus)
        for out in (disparity, mask):
            assert out.shape == shape and out.dtype == np.float32
            assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


def test_uniform_image_does_not_break():
    image = np.full((48, 64, 3), 0.5, dtype=np.float32)
    disparity = estimate_disparity(image, focus=(10, 10))
    assert np.isfinite(disparity).all() and 0.0 <= disparity.min() <= disparity.max() <= 1.0


@pytest.mark.parametrize(
    "focus", [(-1, 5), (64, 5), (5, 48), (5, -0.5), (float("nan"), 3), (1e9, 1e9)]
)
def test_focus_outside_the_image_raises(focus):
    image = np.zeros((48, 64, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="outside the 64x48 image"):
        estimate_disparity(image, focus=focus)
    with pytest.raises(ValueError, match="outside"):
        subject_mask(image, focus=focus)


def test_focus_none_means_the_centre():
    image, _, _ = _scene(height=61, width=90, seed=4)
    np.testing.assert_array_equal(
        estimate_disparity(image, focus=None), estimate_disparity(image, focus=(44.5, 30.0))
    )


def test_results_are_deterministic():
    image, _, centre = _scene(seed=5)
    first = estimate_disparity(image, focus=centre)
    second = estimate_disparity(image.copy(), focus=centre)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(
        subject_mask(image, focus=centre), subject_mask(image, focus=centre)
    )


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        estimate_disparity(np.zeros((10, 10)), focus=None)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        subject_mask(np.zeros((10, 10, 4)), focus=None)
    with pytest.raises(ValueError, match="float"):
        estimate_disparity(np.zeros((10, 10, 3), dtype=np.uint8), focus=None)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        estimate_disparity(np.full((10, 10, 3), 2.0), focus=None)
    with pytest.raises(ValueError, match="work_side"):
        estimate_disparity(np.zeros((10, 10, 3)), focus=None, work_side=4)


def test_astronaut_face_click():
    from skimage import data

    image = data.astronaut().astype(np.float32) / 255.0
    face = (235, 125)  # (x, y) on her cheek
    mask = subject_mask(image, focus=face)
    assert mask[face[1], face[0]] > 0.9
    share = float((mask > 0.5).mean())
    assert 0.01 < share < 0.5  # a region around the face, not the whole picture
    # The top-left flag and the bottom-right helmet are not her face.
    assert mask[:60, :60].mean() < 0.5 and mask[-60:, -120:].mean() < 0.5
    disparity = estimate_disparity(image, focus=face)
    # The face stands on the ground lower in the frame: nearer than the ground at its own row.
    assert disparity[face[1], face[0]] > ground_prior(image.shape[0])[face[1]] + 0.01


# ------------------------------------------------------------------------------ hostile files


def _npz_with_zeros(path, shape, dtype="<f8", member="depth.npy") -> None:
    """A .npz whose one member declares ``shape`` and holds that many zero bytes, deflated
    (streamed: nothing of that size exists in memory here)."""
    import zipfile

    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open(member, "w", force_zip64=True) as fh,
    ):
        np.lib.format.write_array_header_1_0(
            fh, {"descr": dtype, "fortran_order": False, "shape": shape}
        )
        left = int(np.prod(shape)) * np.dtype(dtype).itemsize
        block = bytes(1 << 24)
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)


def test_compressed_npz_bomb_is_refused_before_decompression(tmp_path):
    """Issue #12, item 2: a .npz of ~0.6 MB whose member inflates to 648 MB (9000x9000
    float64) is refused on its declared shape, without inflating it (peak traced memory
    stays far below the member's size)."""
    import tracemalloc

    path = tmp_path / "bomb.npz"
    _npz_with_zeros(path, (9000, 9000))
    assert path.stat().st_size < 4 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ImageReadError, match="too large") as err:
            load_depth_file(path, kind="disparity")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"{peak / 2**20:.0f} MiB traced while refusing"
    assert "\n" not in str(err.value) and str(tmp_path) not in str(err.value)


def test_npz_member_that_lies_about_its_size_is_refused(tmp_path):
    """A member whose header declares a small map but holds more (or fewer) bytes than that:
    no more than the declared bytes are inflated, and the file is refused."""
    import zipfile

    path = tmp_path / "liar.npz"
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("depth.npy", "w") as fh,
    ):
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f4", "fortran_order": False, "shape": (4, 4)}
        )
        fh.write(bytes(1 << 20))
    with pytest.raises(ImageReadError, match="more data than its header"):
        load_depth_file(path, kind="disparity")
    short = io.BytesIO()
    np.save(short, np.ones((40, 40), np.float32))
    with pytest.raises(ImageReadError, match="truncated"):
        load_depth_file(short.getvalue()[:-100], kind="disparity")


def test_npz_member_that_is_not_npy_is_refused_clearly(tmp_path):
    """Issue #12, item 2: a .npz whose member is not a .npy array (np.load hands back raw
    bytes, which used to end in AttributeError) gets one clear line."""
    import zipfile

    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("depth.txt", "1 2 3\n4 5 6\n")
    with pytest.raises(ImageReadError, match="not a .npy array") as err:
        load_depth_file(path, kind="disparity")
    assert "\n" not in str(err.value)
    many = tmp_path / "many.npz"
    np.savez(many, a=np.ones((3, 3)), b=np.ones((3, 3)))
    with pytest.raises(ImageReadError, match="holds 2 arrays"):
        load_depth_file(many, kind="disparity")


def test_npy_header_declaring_a_huge_map_is_refused_before_reading():
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (100_000, 100_000)}
    )
    with pytest.raises(ImageReadError, match="too large"):
        load_depth_file(header.getvalue() + bytes(64), kind="disparity")


EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n%%EndComments\n"
    b"0 setgray 0 0 8 8 rectfill\nshowpage\n%%EOF\n"
)


@pytest.fixture
def stand_in_ghostscript(tmp_path, monkeypatch):
    """A fake ``gs`` first on PATH that records each call in a file (Pillow's EPS plugin runs
    Ghostscript to decode EPS files); returns that file."""
    from PIL import EpsImagePlugin

    calls = tmp_path / "gs_calls.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "gs"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\nexit 0\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # look for gs again
    return calls


def test_eps_depth_map_never_reaches_ghostscript(tmp_path, stand_in_ghostscript):
    """Issue #12, item 3: depth files are opened by Pillow as PNG only, so an uploaded .eps
    (named .png or not) never runs Ghostscript; nor does the photo loader."""
    from bokeh.imaging import load_image

    for name in ("depth.eps", "depth.png"):
        path = tmp_path / name
        path.write_bytes(EPS)
        with pytest.raises(ImageReadError) as err:
            load_depth_file(path, kind="disparity")
        assert "\n" not in str(err.value)
    with pytest.raises(ImageReadError):
        load_depth_file(EPS, kind="disparity")
    with pytest.raises(ImageReadError):
        load_image(EPS)
    assert not stand_in_ghostscript.exists() or "sDEVICE" not in stand_in_ghostscript.read_text()


def test_depth_png_with_missing_rows_is_refused(tmp_path):
    """Issue #12, item 7 for depth maps: a PNG whose zlib data is complete but holds fewer rows
    than its header declares is refused, not filled with zeros."""
    import struct
    import zlib

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + bytes(range(40)) for _ in range(10))  # 10 of 30 rows
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 40, 30, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(ImageReadError, match="truncated"):
        load_depth_file(data, kind="disparity")

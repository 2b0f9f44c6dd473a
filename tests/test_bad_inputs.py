"""Bad input: a corpus of broken, odd and hostile files (generated here, in a temporary folder)
goes through every render endpoint of the launched app (gradio_client) and through the command
line. Each item gets either a correct result (a PNG of the expected size) or a clear message (one
line for a person: no traceback, no Python exception names); the server keeps serving; the
process's memory stays bounded (the 40000x40000 "bomb" is refused from its header)."""

from __future__ import annotations

import io
import json
import re
import resource
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.app

W, H = 96, 64  # the corpus photos' displayed size (small: every item runs through 5 endpoints)
TRANSLATION = ("pix2pix", "cyclegan", "bggan")
CLI_METHODS = ("depth-lens", "depth-gauss", "pix2pix", "cyclegan", "bggan")
GIB = 1024**3


# ----------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Case:
    """One corpus item. ``expect``: "ok" (a PNG of ``size`` = (w, h) must come back), "error"
    (a clear message matching ``match`` must come back) or "either"."""

    path: Path
    expect: str
    size: tuple[int, int] | None = None
    match: str | None = None


def _photo(width: int = W, height: int = H) -> np.ndarray:
    """A textured uint8 RGB photo (scikit-image's astronaut, resized)."""
    from skimage import data, transform

    small = transform.resize(data.astronaut(), (height, width), anti_aliasing=True)
    return np.clip(small * 255 + 0.5, 0, 255).astype(np.uint8)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def bomb_png(width: int = 40000, height: int = 40000) -> bytes:
    """A small valid PNG whose IHDR (with a correct CRC) claims ``width`` x ``height``."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    data[8:33] = _png_chunk(b"IHDR", bytes(ihdr))
    return bytes(data)


def png16_rgb(pixels: np.ndarray) -> bytes:
    """Encode (H, W, 3) uint16 as a 16-bit-per-channel RGB PNG (PIL cannot write this mode)."""
    h, w, _ = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def exif_rotated_jpeg(displayed: np.ndarray, path: Path) -> None:
    """Save ``displayed`` (H, W, 3) uint8 as a JPEG stored rotated, with EXIF Orientation 6
    (viewers rotate it 90 degrees clockwise back to ``displayed``)."""
    stored = Image.fromarray(displayed).transpose(Image.Transpose.ROTATE_90)  # 90 deg CCW
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, format="JPEG", quality=95, exif=exif.tobytes())


def build_corpus(folder: Path) -> dict[str, Case]:
    """Write the corpus into ``folder``; return {name: Case}."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = _photo()
    cases: dict[str, Case] = {}

    def put(name: str, content: bytes, expect: str, size=None, match=None) -> None:
        path = folder / name
        path.write_bytes(content)
        cases[name] = Case(path, expect, size, match)

    def pil_bytes(im: Image.Image, fmt: str, **kw) -> bytes:
        buf = io.BytesIO()
        im.save(buf, format=fmt, **kw)
        return buf.getvalue()

    jpeg = pil_bytes(Image.fromarray(photo), "JPEG", quality=90)
    put("empty.jpg", b"", "error", match="empty")
    put("truncated.jpg", jpeg[: len(jpeg) * 6 // 10], "error", match="truncated|damaged")
    put(
        "text_renamed.png",
        b"Dear diary, today I renamed a text file to .png.\n" * 20,
        "error",
        match="text file",
    )
    put(
        "drawing.svg",
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
        b'width="96" height="64"><circle cx="48" cy="32" r="20" fill="red"/></svg>\n',
        "error",
        match="SVG",
    )
    put("bomb_40000x40000.png", bomb_png(), "error", match="too large")
    put(
        "one_pixel.png",
        pil_bytes(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG"),
        "either",
        size=(1, 1),
    )
    grey16 = (np.linspace(0, 65535, W)[None, :] * np.ones((H, 1))).astype(np.uint16)
    put("grey_16bit.png", pil_bytes(Image.fromarray(grey16), "PNG"), "ok", size=(W, H))
    put("rgb_16bit.png", png16_rgb(photo.astype(np.uint16) * 257), "ok", size=(W, H))
    put(
        "cmyk.jpg",
        pil_bytes(Image.fromarray(photo).convert("CMYK"), "JPEG", quality=90),
        "ok",
        size=(W, H),
    )
    palette = Image.fromarray(photo).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    put("palette_transparent.png", pil_bytes(palette, "PNG", transparency=0), "ok", size=(W, H))
    frames = [Image.fromarray(np.roll(photo, 8 * k, axis=1)) for k in range(3)]
    put(
        "animated.gif",
        pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
        "ok",
        size=(W, H),
    )
    exif_rotated_jpeg(_photo(H, W), folder / "exif_orientation6.jpg")  # displayed: W x H
    cases["exif_orientation6.jpg"] = Case(folder / "exif_orientation6.jpg", "ok", (H, W))
    put("greyscale.jpg", pil_bytes(Image.fromarray(photo).convert("L"), "JPEG"), "ok", size=(W, H))
    put("plain.png", pil_bytes(Image.fromarray(photo), "PNG"), "ok", size=(W, H))
    return cases


# ----------------------------------------------------------------------------- checks

_EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b|Traceback|File \"")


def assert_clear_message(message: str, *, match: str | None = None) -> None:
    """One line for a person: not empty, no traceback, no exception class names."""
    text = str(message).strip()
    assert text, "empty error message"
    assert "\n" not in text, f"multi-line message: {text!r}"
    assert not _EXCEPTION_NAME.search(text), f"message shows Python internals: {text!r}"
    assert len(text) < 700, f"message too long for a person: {text!r}"
    if match:
        assert re.search(match, text, re.IGNORECASE), f"{text!r} does not say /{match}/"


def assert_png(path, size: tuple[int, int]) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size == size, f"expected {size}, got {im.size}"
        return np.asarray(im.convert("RGB"))


def _laplacian_energy(a: np.ndarray) -> float:
    g = a.astype(np.float64).mean(axis=2)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float((lap**2).mean())


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Case]:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One launched app for the module (results and data in temporary folders)."""
    from gradio_client import Client

    mp = pytest.MonkeyPatch()
    mp.setenv("BOKEH_RESULTS_DIR", str(tmp_path_factory.mktemp("results")))
    mp.setenv("BOKEH_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    mp.delenv("BOKEH_MAX_SIDE", raising=False)
    import app

    start_rss = peak_rss_bytes()
    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs())
    client = Client(url, verbose=False)
    try:
        yield {"client": client, "url": url, "start_rss": start_rss}
    finally:
        client.close()
        demo.close()
        mp.undo()


def render_depth(
    client, image, x, y, *, depth=None, source="classical", method="depth-lens", **settings
):
    """/render_depth with named settings (the rest at their defaults)."""
    from gradio_client import handle_file

    return client.predict(
        handle_file(str(image)),
        x,
        y,
        method,
        {"depth_source": source, **settings},
        handle_file(str(depth)) if depth else None,
        api_name="/render_depth",
    )


def _outcome(call):
    """("ok", result) or ("error", message) for a gradio_client call."""
    from gradio_client.exceptions import AppError

    try:
        return "ok", call()
    except AppError as exc:
        return "error", str(exc)


def _check(case: Case, where: str, kind: str, value, *, weights: bool = False) -> None:
    """The outcome of one (case, endpoint) pair against the case's expectation."""
    if kind == "ok":
        assert case.expect in ("ok", "either"), f"{where}: {case.path.name} should be refused"
        out = value[0] if isinstance(value, (tuple, list)) else value
        assert_png(out, case.size)
        return
    if case.expect == "ok" and weights:
        # A translation method without weights: the right answer is a "no weights" message.
        assert_clear_message(value, match="weights")
        return
    assert case.expect in ("error", "either"), f"{where}: {case.path.name} refused: {value}"
    assert_clear_message(value, match=case.match if case.expect == "error" else None)


# ----------------------------------------------------------------------------- the app

CASE_NAMES = [
    "empty.jpg", "truncated.jpg", "text_renamed.png", "drawing.svg", "bomb_40000x40000.png",
    "one_pixel.png", "grey_16bit.png", "rgb_16bit.png", "cmyk.jpg", "palette_transparent.png",
    "animated.gif", "exif_orientation6.jpg", "greyscale.jpg", "plain.png",
]  # fmt: skip


def test_corpus_names_match():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        assert sorted(build_corpus(Path(tmp))) == sorted(CASE_NAMES)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_corpus_through_every_endpoint(server, corpus, name):
    from gradio_client import handle_file

    case, client = corpus[name], server["client"]
    w, h = case.size or (W, H)
    x, y = (w - 1) / 2, (h - 1) / 2
    kind, value = _outcome(lambda: render_depth(client, case.path, x, y))
    _check(case, "render_depth", kind, value)
    if kind == "ok":
        assert value[2]["method"] == "depth-lens"
        assert_png(value[1], case.size)  # the depth map shown
    for method in TRANSLATION:
        kind, value = _outcome(
            lambda m=method: client.predict(handle_file(str(case.path)), api_name=f"/render_{m}")
        )
        _check(case, f"render_{method}", kind, value, weights=True)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_corpus_through_the_command_line(corpus, name, tmp_path, capsys, monkeypatch):
    from bokeh.cli import main

    monkeypatch.delenv("BOKEH_MAX_SIDE", raising=False)
    case = corpus[name]
    for method in CLI_METHODS:
        out = tmp_path / f"{method}.png"
        extra = ["--depth-source", "classical"] if method.startswith("depth") else []
        status = main(["render", str(case.path), "-o", str(out), "--method", method, *extra])
        captured = capsys.readouterr()
        where = f"cli {method}"
        if status == 0:
            _check(case, where, "ok", out)
            assert "error" not in captured.err
        else:
            assert status == 1, captured.err
            lines = captured.err.strip().splitlines()
            assert lines and lines[-1].startswith("error: "), captured.err
            assert not [ln for ln in lines[:-1] if not ln.startswith("note: ")], captured.err
            assert not out.exists()
            _check(case, where, "error", lines[-1][len("error: ") :], weights=method in TRANSLATION)


def test_depth_map_of_another_aspect_ratio(server, corpus, tmp_path, capsys):
    """A 64x64 depth map for a 96x64 photo: refused with a message, through the API and CLI."""
    from gradio_client.exceptions import AppError

    from bokeh.cli import main

    square = tmp_path / "square_depth.png"
    Image.fromarray(np.full((64, 64), 30000, np.uint16)).save(square)
    photo = corpus["plain.png"].path
    with pytest.raises(AppError) as err:
        render_depth(server["client"], photo, 40, 30, depth=square, source="file")
    assert_clear_message(str(err.value), match="aspect")
    capsys.readouterr()  # drop the server's log of the refusal above
    status = main(
        [
            "render",
            str(photo),
            "-o",
            str(tmp_path / "o.png"),
            "--method",
            "depth-lens",
            "--depth",
            str(square),
            "--depth-source",
            "file",
        ]
    )
    err_text = capsys.readouterr().err.strip()
    assert status == 1 and err_text.startswith("error: ")
    assert_clear_message(err_text, match="aspect")
    # A map of the same aspect ratio but another size is resized: a correct result.
    half = tmp_path / "half_depth.png"
    Image.fromarray(np.full((32, 48), 30000, np.uint16)).save(half)
    out, depth, _ = render_depth(server["client"], photo, 40, 30, depth=half, source="file")
    assert_png(out, (W, H))
    assert_png(depth, (W, H))
    # A depth "map" that is not an image at all.
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(AppError) as err:
        render_depth(server["client"], photo, 40, 30, depth=junk, source="file")
    assert_clear_message(str(err.value))


@pytest.mark.parametrize("x,y", [(-1, 10), (10, -0.5), (W, 10), (10, 1e6), (1e12, 1e12)])
def test_focus_outside_the_image(server, corpus, tmp_path, capsys, x, y):
    from gradio_client.exceptions import AppError

    from bokeh.cli import main

    photo = corpus["plain.png"].path
    with pytest.raises(AppError) as err:
        render_depth(server["client"], photo, x, y)
    assert_clear_message(str(err.value), match="outside")
    capsys.readouterr()  # drop the server's log of the refusal above
    status = main(
        [
            "render",
            str(photo),
            "-o",
            str(tmp_path / "o.png"),
            "--method",
            "depth-lens",
            f"--focus={x},{y}",
        ]
    )
    err_text = capsys.readouterr().err.strip()
    assert status == 1
    assert_clear_message(err_text, match="outside")


ABSURD = [  # (setting, value, words the refusal must contain)
    ("fnumber", 0, "minimum|between"),
    ("fnumber", 1e9, "maximum|between"),
    ("blades", 99, "between"),  # the page offers a dropdown of exactly the valid values
    ("blades", 2, "0 or 3 to 16"),  # 1 and 2 are not apertures
    ("band", -1, "minimum|between"),
]


@pytest.mark.parametrize("setting,value,words", ABSURD)
def test_absurd_settings_through_the_api(server, corpus, setting, value, words):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        render_depth(server["client"], corpus["plain.png"].path, 40, 30, **{setting: value})
    assert_clear_message(str(err.value), match=words)


def _raw_call(url: str, api: str, body: bytes, timeout: float = 60.0) -> tuple[str, str]:
    """POST a raw JSON body to gradio's /call route; return (SSE event, data) of the result."""
    import httpx

    r = httpx.post(
        f"{url}gradio_api/call/{api}",
        content=body,
        headers={"content-type": "application/json"},
        timeout=timeout,
    )
    if r.status_code != 200:
        return "http", f"{r.status_code} {r.text}"
    event_id = r.json()["event_id"]
    stream = httpx.get(f"{url}gradio_api/call/{api}/{event_id}", timeout=timeout).text
    events = re.findall(r"^event: (\w+)\s*\ndata: (.*)$", stream, re.M)
    return events[-1]


def test_nan_settings_over_raw_http(server, corpus):
    """gradio_client cannot send NaN (not JSON); a raw client can: it must be refused clearly."""
    import httpx

    with open(corpus["plain.png"].path, "rb") as fh:
        r = httpx.post(f"{server['url']}gradio_api/upload", files={"files": fh}, timeout=30)
    r.raise_for_status()
    path = r.json()[0]
    image = {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "plain.png"}
    settings = {"depth_source": "classical", "fnumber": 1.8, "band": 0.03}
    template = [image, 40, 30, "depth-lens", settings, None]
    for name in ("fnumber", "band", "focus"):
        values = [*template[:4], dict(settings), None]
        if name == "focus":
            values[1] = "__NAN__"
        else:
            values[4][name] = "__NAN__"
        raw = json.dumps({"data": values}).replace('"__NAN__"', "NaN").encode()
        event, data = _raw_call(server["url"], "render_depth", raw)
        assert event == "error", (name, event, data)
        message = json.loads(data)["error"] if data.startswith("{") else data
        assert_clear_message(message, match="finite|number")
    event, data = _raw_call(server["url"], "render_depth", json.dumps({"data": template}).encode())
    assert event == "complete", data


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--fnumber", "0"),
        ("--fnumber", "1e9"),
        ("--fnumber", "nan"),
        ("--blades", "99"),
        ("--band", "-1"),
        ("--focus", "nan,3"),
    ],
)
def test_absurd_settings_through_the_command_line(corpus, tmp_path, capsys, flag, value):
    from bokeh.cli import main

    out = tmp_path / "o.png"
    status = main(
        [
            "render",
            str(corpus["plain.png"].path),
            "-o",
            str(out),
            "--method",
            "depth-lens",
            f"{flag}={value}",
        ]
    )
    err_text = capsys.readouterr().err.strip()
    assert status in (1, 2) and not out.exists()
    assert err_text.startswith("error: ")
    assert_clear_message(err_text)


def _two_halves() -> tuple[np.ndarray, np.ndarray]:
    """A displayed 192x128 photo whose halves carry different sharp textures, and a disparity
    map for it: left half near (1), right half far (0)."""
    rng = np.random.default_rng(3)
    h, w = 128, 192
    img = np.zeros((h, w, 3), np.uint8)
    noise = rng.integers(0, 256, (h, w // 2), dtype=np.uint8)
    img[:, : w // 2, 0] = noise  # left: red noise
    img[:, : w // 2, 1] = noise // 3
    yy, xx = np.mgrid[0:h, 0 : w // 2]
    checks = (((yy // 3) + (xx // 3)) % 2 * 255).astype(np.uint8)
    img[:, w // 2 :, 2] = checks  # right: blue checkerboard
    img[:, w // 2 :, 1] = checks // 2
    disparity = np.zeros((h, w), np.uint16)
    disparity[:, : w // 2] = 65535
    return img, disparity


def test_exif_rotated_focus_lands_on_the_displayed_content(server, tmp_path, capsys):
    """The API and the CLI take focus in the displayed (EXIF-rotated) frame: focusing on the
    left half keeps the left half sharp, and on the right half the right half."""
    from bokeh.cli import main

    shown, disparity = _two_halves()
    photo = tmp_path / "rotated.jpg"
    exif_rotated_jpeg(shown, photo)
    with Image.open(photo) as im:
        assert im.size == (128, 192)  # stored portrait; displayed landscape
    depth = tmp_path / "disparity.png"
    Image.fromarray(disparity).save(depth)
    left, right = (slice(20, 108), slice(12, 80)), (slice(20, 108), slice(112, 180))
    reference = np.asarray(Image.open(photo).transpose(Image.Transpose.ROTATE_270).convert("RGB"))
    for (x, y), sharp, blurred in (((40, 64), left, right), ((150, 64), right, left)):
        out, _, info = render_depth(
            server["client"], photo, x, y, depth=depth, source="file", fnumber=0.5, band=0.0
        )
        result = assert_png(out, (192, 128))
        for region_sharp, region_blurred in ((sharp, blurred),):
            ratio_sharp = _laplacian_energy(result[region_sharp]) / _laplacian_energy(
                reference[region_sharp]
            )
            ratio_blur = _laplacian_energy(result[region_blurred]) / _laplacian_energy(
                reference[region_blurred]
            )
            assert ratio_sharp > 0.8, (x, y, ratio_sharp)
            assert ratio_blur < 0.3, (x, y, ratio_blur)
        # The CLI: --focus in pixels of the input as displayed.
        capsys.readouterr()
        cli_out = tmp_path / f"cli_{x}.png"
        status = main(
            [
                "render",
                str(photo),
                "-o",
                str(cli_out),
                "--method",
                "depth-lens",
                "--depth",
                str(depth),
                "--depth-source",
                "file",
                "--focus",
                f"{x},{y}",
                "--fnumber",
                "0.5",
                "--band",
                "0",
            ]
        )
        assert status == 0, capsys.readouterr().err
        cli = assert_png(cli_out, (192, 128))
        assert _laplacian_energy(cli[sharp]) > 0.8 * _laplacian_energy(reference[sharp])
        assert _laplacian_energy(cli[blurred]) < 0.3 * _laplacian_energy(reference[blurred])


def test_server_keeps_serving_and_memory_stays_bounded(server, corpus):
    """Runs last in this module: after the whole corpus a valid request succeeds, and the
    process never came near decoding the 40000x40000 bomb (that alone would take 4.8 GB)."""
    out, depth, info = render_depth(server["client"], corpus["plain.png"].path, 40, 30)
    assert_png(out, (W, H))
    assert info["depth_source"] == "classical"
    peak = peak_rss_bytes()
    print(
        f"\npeak RSS after the corpus: {peak / 2**20:.0f} MiB "
        f"(at app start: {server['start_rss'] / 2**20:.0f} MiB)"
    )
    assert peak - server["start_rss"] < 1.5 * GIB
    if server["start_rss"] < 2.5 * GIB:
        assert peak < 4 * GIB

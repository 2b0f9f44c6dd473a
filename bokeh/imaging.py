"""Read any upload into the library's image format (conversions back out: :mod:`bokeh.pixels`).

This is the only module that decodes user images. Everything else in the library works on
**float32 HxWx3 arrays, sRGB-encoded, values in [0, 1], C-contiguous**; :func:`load_image`
produces exactly that from whatever a caller, the command line or Gradio hands over:

* a file path (``str`` / :class:`pathlib.Path`), ``bytes`` / ``bytearray``, a binary file object;
* a :class:`PIL.Image.Image` (any mode: 1, L, LA, P, PA, RGB, RGBA, CMYK, YCbCr, I;16, I, F, ...);
* a numpy array of dtype uint8, uint16, bool or float (values in [0, 1]) with shape HxW, HxWx1,
  HxWx3 or HxWx4.

What it does on the way, each step reported as a sentence in :attr:`LoadedImage.notes`:

* applies the EXIF orientation tag (files, bytes and PIL images);
* composites transparency (RGBA, LA, palette or colour-key transparency) **on white**;
* keeps the range of 16-bit data (65535 -> 1.0) and says so when the decoder only gives 8 bits;
* takes the first frame of animated images;
* refuses images whose *header* claims more than ``max_pixels`` pixels before any pixel is decoded
  (decompression bombs);
* downscales to the long-side limit (``BOKEH_MAX_SIDE`` via :func:`bokeh.config.max_side`).

Every failure is a :class:`bokeh.errors.ImageReadError` whose message is one sentence for a person.
No global PIL setting is changed (``LOAD_TRUNCATED_IMAGES`` stays off, so truncated files are
refused instead of being returned half grey); PNG files whose pixel data is complete as zlib but
shorter than the header declares (which Pillow would fill with black rows) are refused too
(:mod:`bokeh.pngcheck`); :mod:`bokeh.pngfast` decodes the common PNG, Pillow the rest.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageOps, UnidentifiedImageError

from bokeh import config, heif, pngfast
from bokeh.errors import ImageReadError
from bokeh.pixels import encode_png, from_uint8, resize, save_png, to_pil, to_uint8
from bokeh.pngcheck import PngDataError, check_png_beside, passed
from bokeh.sniff import diagnose, megapixels, too_large_message

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "LoadedImage",
    "encode_png",
    "from_uint8",
    "load_image",
    "resize",
    "save_png",
    "to_pil",
    "to_uint8",
]

DEFAULT_MAX_PIXELS = 100_000_000
"""Default refusal threshold for :func:`load_image`: 100 megapixels."""

_PREFIX = "Could not read the upload as an image: "
_SNIFF_BYTES = 4096

# Raster formats PIL may try, in this order. Everything else is refused: this keeps out plugins
# that run external programs (EPS -> Ghostscript) and ones that identify files too loosely (TGA
# has no magic number, so a text file can pass as one). HEIF only exists if pillow-heif is set up.
_ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "HEIF", "PPM", "ICO")
_ANIMATED_FORMATS = {"GIF", "WEBP", "PNG", "AVIF"}

_ORIENTATION_TAG = ExifTags.Base.Orientation  # 0x0112
_SWAPS_AXES = {5, 6, 7, 8}  # orientations that exchange width and height


@dataclass(frozen=True)
class LoadedImage:
    """An upload decoded into the library's format.

    Attributes:
        image: float32 array of shape (H, W, 3), sRGB-encoded, values in [0, 1], C-contiguous
            (uint8 (H, W, 3) when loaded with ``uint8=True``).
        original_size: ``(width, height)`` after applying the EXIF orientation, before downscaling.
        scale: output size / original size (1.0 when not downscaled).
        notes: human sentences describing what was done (downscaling, transparency, ...).
        mode: the original PIL mode (e.g. ``"RGBA"``, ``"I;16"``) or a description of the array
            (e.g. ``"uint8 array HxWx4"``).
    """

    image: np.ndarray
    original_size: tuple[int, int]
    scale: float
    notes: tuple[str, ...]
    mode: str


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def load_image(
    source: Any,
    *,
    max_side: int | None | Literal["config"] = "config",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    uint8: bool = False,
) -> LoadedImage:
    """Decode ``source`` into a float32 HxWx3 sRGB image in [0, 1].

    Args:
        source: a path (``str`` or ``os.PathLike``), ``bytes``/``bytearray``/``memoryview``, a
            binary file object, a :class:`PIL.Image.Image`, or a numpy array (uint8, uint16, bool,
            or float with values in [0, 1]; shape HxW, HxWx1, HxWx3 or HxWx4).
        max_side: long-side limit in pixels. ``"config"`` (default) uses
            :func:`bokeh.config.max_side` (``BOKEH_MAX_SIDE``, default 2048); ``None`` never
            downscales. Larger images are downscaled with Lanczos antialiasing, keeping the aspect
            ratio, and a note says so. Images are never upscaled.
        max_pixels: refuse images with more pixels than this (default 100 MP). Checked on the
            header, before pixel data is decoded. PIL's own limit (twice
            ``PIL.Image.MAX_IMAGE_PIXELS``, about 179 MP by default) still applies on top; it is
            not changed here because it is process-wide.
        uint8: return the pixels as uint8 (H, W, 3), exactly ``to_uint8`` of the float
            result; 8-bit files without transparency skip the float round trip.

    Returns:
        A :class:`LoadedImage`. Transparent regions are composited **on white**. Tiny images
        (even 1x1) are accepted: they are valid images, and callers decide whether they are
        useful. Embedded ICC profiles of RGB images are not applied (pixel values are taken as
        sRGB, as browsers without colour management and Gradio do); CMYK images are converted with
        their profile when one is embedded. PIL mode ``I`` (32-bit integers) is read as 16-bit
        data (0..65535) and refused outside that range; mode ``F`` and float arrays must already
        be in [0, 1].

    Raises:
        ImageReadError: the input is not a readable image, is too large, or has values out of
            range. The message is one sentence meant for a person.
        ValueError: ``max_side`` or ``max_pixels`` is invalid (a programming error).
    """
    limit = _resolve_max_side(max_side)
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive int, got {max_pixels!r}.")
    try:
        loaded = _dispatch(source, limit, max_pixels, bool(uint8))
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError(_PREFIX + "there is not enough memory to decode it.") from None
    except Exception as exc:  # safety net: no raw PIL/numpy error reaches the caller
        raise ImageReadError(
            _PREFIX + "the file is damaged or uses a variant of its format that is not supported."
        ) from exc
    if uint8 and loaded.image.dtype != np.uint8:
        loaded = dataclasses.replace(loaded, image=to_uint8(loaded.image))
    return loaded


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _resolve_max_side(max_side: int | None | str) -> int | None:
    if max_side is None:
        return None
    if isinstance(max_side, str):
        if max_side != "config":
            raise ValueError(f"max_side must be an int, None or 'config', got {max_side!r}.")
        return config.max_side()  # BOKEH_MAX_SIDE, read through the one config module
    if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) or max_side < 1:
        raise ValueError(f"max_side must be a positive int, None or 'config', got {max_side!r}.")
    return int(max_side)


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def _dispatch(source: Any, limit: int | None, max_pixels: int, uint8: bool) -> LoadedImage:
    if source is None:
        raise ImageReadError(_PREFIX + "no image was given.")
    if isinstance(source, np.ndarray):
        return _load_array(source, limit, max_pixels)
    if isinstance(source, Image.Image):
        return _load_pil(source, limit, max_pixels, owned=False, uint8=uint8)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ImageReadError(_PREFIX + "the file is empty.")
        return _load_stream(io.BytesIO(data), limit, max_pixels, uint8)
    if isinstance(source, (str, os.PathLike)):
        return _load_path(source, limit, max_pixels, uint8)
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            raise ImageReadError(
                _PREFIX + "the file was opened in text mode; open it in binary mode ('rb')."
            )
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ImageReadError(_PREFIX + "the file object did not return bytes.")
        if not data:
            raise ImageReadError(_PREFIX + "the file is empty.")
        return _load_stream(io.BytesIO(bytes(data)), limit, max_pixels, uint8)
    raise ImageReadError(
        _PREFIX + f"unsupported input of type {type(source).__name__}; expected a file path, "
        "bytes, a file object, a PIL image or a numpy array."
    )


def _load_path(
    source: str | os.PathLike, limit: int | None, max_pixels: int, uint8: bool
) -> LoadedImage:
    raw = os.fspath(source)
    if isinstance(raw, bytes):
        raw = os.fsdecode(raw)
    if not raw.strip():
        raise ImageReadError(_PREFIX + "no file path was given.")
    path = Path(raw)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageReadError(_PREFIX + f"the file '{path.name}' does not exist.") from None
    except OSError as exc:
        reason = exc.strerror or "it cannot be accessed"
        raise ImageReadError(
            _PREFIX + f"the file '{path.name}' cannot be opened ({reason})."
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageReadError(_PREFIX + f"'{path.name}' is a folder, not a file.")
    if info.st_size == 0 and stat.S_ISREG(info.st_mode):
        raise ImageReadError(_PREFIX + "the file is empty.")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with-block below
    except OSError as exc:
        reason = exc.strerror or "it cannot be read"
        raise ImageReadError(
            _PREFIX + f"the file '{path.name}' cannot be opened ({reason})."
        ) from None
    with fh:
        return _load_stream(fh, limit, max_pixels, uint8)


def _allowed_formats() -> tuple[str, ...]:
    heif.register()  # HEIC/HEIF through pillow-heif, when it is installed
    Image.init()  # registers every bundled plugin (once); pillow-heif may have added HEIF/AVIF
    return tuple(f for f in _ALLOWED_FORMATS if f in Image.OPEN)


def _load_stream(fp: Any, limit: int | None, max_pixels: int, uint8: bool) -> LoadedImage:
    """Decode from a seekable binary stream positioned anywhere (we rewind)."""
    fp.seek(0)
    head = fp.read(_SNIFF_BYTES)
    if not head:
        raise ImageReadError(_PREFIX + "the file is empty.")
    fp.seek(0)
    try:
        im = Image.open(fp, formats=_allowed_formats())  # reads the header only
    except UnidentifiedImageError:
        raise ImageReadError(_PREFIX + diagnose(head)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # PIL's own guard fired first (the warning only raises when warnings are errors).
        raise ImageReadError(too_large_message(head, str(exc), max_pixels)) from None
    except Exception as exc:
        raise ImageReadError(
            _PREFIX + "the file is truncated or damaged (its header could not be read)."
        ) from exc
    with im:
        return _load_pil(im, limit, max_pixels, owned=True, uint8=uint8)


_ENDS_EARLY = _PREFIX + "the file is truncated or damaged: its pixel data ends before the last row."
_DAMAGED = _PREFIX + "the file is truncated or damaged, so its pixels cannot be decoded."


def _open_png(im: Image.Image) -> tuple[Image.Image, Callable[[], None]]:
    """(image, verdict): the common PNG decoded now by :mod:`bokeh.pngfast` (no row missing), any
    other checked beside Pillow's decoding (it fills missing rows); :func:`_decode` waits."""
    im.fp.seek(0)
    data = im.fp.read()  # read once, for either path
    try:
        fast = pngfast.decode_pil(im, data)  # before _orientation, which makes Pillow decode
        return (fast, passed) if fast is not None else (im, check_png_beside(data))
    except (PngDataError, pngfast.PngFilterError) as exc:  # rows missing, or a bad filter byte
        raise ImageReadError(_ENDS_EARLY if isinstance(exc, PngDataError) else _DAMAGED) from exc


def _decode(im: Image.Image, max_pixels: int, png_verdict: Callable[[], None]) -> None:
    """``im.load()``, failures as ImageReadError; then the PNG check's verdict (it wins)."""
    failure: ImageReadError | None = None
    try:
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        failure = ImageReadError(too_large_message(b"", str(exc), max_pixels))
    except MemoryError:
        failure = ImageReadError(_PREFIX + "there is not enough memory to decode it.")
    except Exception as exc:
        failure = ImageReadError(_DAMAGED)
        failure.__cause__ = exc
    try:
        png_verdict()
    except PngDataError as exc:
        raise ImageReadError(_ENDS_EARLY) from exc
    if failure is not None:
        raise failure


def _load_pil(
    im: Image.Image, limit: int | None, max_pixels: int, *, owned: bool, uint8: bool = False
) -> LoadedImage:
    """Decode a PIL image. ``owned``: we opened it, so it may be changed in place. ``uint8``:
    8-bit RGB or grey pixels stay uint8 (the caller converts any other result)."""
    notes: list[str] = []
    mode = im.mode
    width, height = im.size
    if width < 1 or height < 1:
        raise ImageReadError(_PREFIX + f"it has no pixels ({width}x{height}).")
    _check_pixels(width, height, max_pixels)

    # is_animated only peeks for a second frame; n_frames would walk (and for GIF decode) them all.
    if im.format != "MPO" and getattr(im, "is_animated", False):  # MPO: extra camera views
        index = im.tell()
        if im.format in _ANIMATED_FORMATS:
            where = "the first frame" if index == 0 else f"frame {index + 1}"
            notes.append(f"Animated image: using {where}.")
        else:
            where = "the first page" if index == 0 else f"page {index + 1}"
            notes.append(f"Multi-page image: using {where}.")

    if _decoded_from_16bit(im):
        notes.append("16-bit image converted to 8-bit precision.")

    png_verdict = passed  # after the size checks (see _open_png)
    if owned and im.format == "PNG" and getattr(im, "fp", None) is not None:
        im, png_verdict = _open_png(im)

    orientation = _orientation(im)
    oriented = (height, width) if orientation in _SWAPS_AXES else (width, height)

    # Large JPEG: let libjpeg decode at 1/2, 1/4 or 1/8 scale (DCT-domain, antialiased), keeping
    # at least twice the final size so the Lanczos pass below still does the real filtering.
    target = _target_size(oriented, limit)
    if owned and im.format in ("JPEG", "MPO") and target != oriented:
        factor = target[0] / oriented[0]
        im.draft(
            None, (max(1, math.ceil(width * factor * 2)), max(1, math.ceil(height * factor * 2)))
        )

    _decode(im, max_pixels, png_verdict)

    if orientation in range(2, 9):
        try:
            if owned:
                ImageOps.exif_transpose(im, in_place=True)
            else:
                im = ImageOps.exif_transpose(im)  # a copy: never change the caller's image
            notes.append("Rotated to match the camera's orientation tag (EXIF).")
        except Exception:
            oriented = (width, height)
            target = _target_size(oriented, limit)
            notes.append("The EXIF orientation tag could not be applied; used the image as stored.")

    pixels = _normalise_mode(im, notes)
    if isinstance(pixels, Image.Image):
        image = _finish_8bit(pixels, target, notes, uint8=uint8)
    else:
        image = _finish_float(pixels, target, notes)
    return _result(image, oriented, target, limit, notes, mode)


def _load_array(arr: np.ndarray, limit: int | None, max_pixels: int) -> LoadedImage:
    shape_txt = "x".join(["H", "W", *(str(s) for s in arr.shape[2:])]) if arr.ndim >= 2 else ""
    desc = f"{arr.dtype} array {shape_txt}".strip()
    if arr.ndim == 3 and arr.shape[2] not in (1, 3, 4) and arr.shape[0] in (1, 3, 4):
        raise ImageReadError(
            _PREFIX + f"the array has shape {arr.shape}, which looks channels-first; "
            "expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)."
        )
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ImageReadError(
            _PREFIX + f"the array has shape {arr.shape}; expected (H, W), (H, W, 1), (H, W, 3) "
            "or (H, W, 4)."
        )
    height, width = int(arr.shape[0]), int(arr.shape[1])
    if width < 1 or height < 1:
        raise ImageReadError(_PREFIX + f"it has no pixels ({width}x{height}).")
    _check_pixels(width, height, max_pixels)
    notes: list[str] = []
    target = _target_size((width, height), limit)
    channels = 1 if arr.ndim == 2 else arr.shape[2]

    if arr.dtype == np.uint8 or arr.dtype == np.bool_:
        # Same route as 8-bit files, so a PNG and its pixels as an array give identical results.
        u8 = arr.astype(np.uint8) * np.uint8(255) if arr.dtype == np.bool_ else arr
        u8 = np.ascontiguousarray(u8[:, :, 0] if channels == 1 and u8.ndim == 3 else u8)
        image = _finish_8bit(Image.fromarray(u8), target, notes)
        return _result(image, (width, height), target, limit, notes, desc)

    if arr.dtype == np.uint16:
        values = arr.astype(np.float32) / np.float32(65535.0)
    elif np.issubdtype(arr.dtype, np.floating):
        values = _checked_unit_float(arr, "array")
    else:
        raise ImageReadError(
            _PREFIX + f"arrays of dtype {arr.dtype} are not supported; use uint8, uint16, bool, "
            "or float with values in [0, 1]."
        )
    image = _finish_float(values if values.ndim == 3 else values[:, :, None], target, notes)
    return _result(image, (width, height), target, limit, notes, desc)


def _normalise_mode(im: Image.Image, notes: list[str]) -> Image.Image | np.ndarray:
    """Bring a loaded image to an 8-bit PIL image in L / LA / RGB / RGBA, or a float32 array
    HxWxC (C = 1) in [0, 1] for high-bit-depth modes."""
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        if mode in ("L", "RGB") and "transparency" in im.info:  # PNG tRNS colour key
            return im.convert("RGBA")
        return im
    if mode == "1":
        return im.convert("L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        return im.convert("RGBA" if has_alpha else "RGB")
    if mode == "La":
        return im.convert("LA")
    if mode in ("RGBa", "RGBX"):
        return im.convert("RGBA" if mode == "RGBa" else "RGB")
    if mode == "CMYK":
        return _cmyk_to_rgb(im, notes)
    if mode == "LAB":
        return _lab_to_rgb(im)
    if mode.startswith("I;16"):
        return (np.asarray(im).astype(np.float32) / np.float32(65535.0))[:, :, None]
    if mode == "I":
        values = np.asarray(im)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 65535:
            raise ImageReadError(
                _PREFIX + f"its 32-bit integer pixels span {low}..{high}, outside the 16-bit "
                "range 0..65535 this reader understands."
            )
        return (values.astype(np.float32) / np.float32(65535.0))[:, :, None]
    if mode == "F":
        return _checked_unit_float(np.asarray(im), "image")[:, :, None]
    try:
        return im.convert("RGB")  # YCbCr, HSV, ...
    except Exception:
        raise ImageReadError(
            _PREFIX + f"its colour mode {mode} is not supported; please upload an RGB image."
        ) from None


def _cmyk_to_rgb(im: Image.Image, notes: list[str]) -> Image.Image:
    icc = im.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(
                im, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
            if converted is not None:
                notes.append("CMYK image converted to RGB using its embedded colour profile.")
                return converted
        except Exception:
            pass  # broken profile or no LittleCMS: fall back to the plain formula
    notes.append("CMYK image converted to RGB (no usable colour profile; colours are approximate).")
    return im.convert("RGB")


def _lab_to_rgb(im: Image.Image) -> Image.Image:
    # PIL's plain convert() treats LAB bytes as if they were RGB; use a colour-managed transform.
    try:
        transform = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        converted = ImageCms.applyTransform(im, transform)
    except Exception:
        converted = None
    if converted is None:
        raise ImageReadError(
            _PREFIX + "it is a Lab colour image, which this installation cannot convert; "
            "please upload an RGB image."
        )
    return converted


def _checked_unit_float(arr: np.ndarray, what: str) -> np.ndarray:
    values = arr.astype(np.float32)
    if values.size and not np.isfinite(values).all():
        raise ImageReadError(_PREFIX + f"the {what} contains NaN or infinite values.")
    low, high = float(values.min()), float(values.max())
    tolerance = 1e-5  # float round-off from upstream arithmetic
    if low < -tolerance or high > 1.0 + tolerance:
        raise ImageReadError(
            _PREFIX + f"the floating-point {what} has values from {low:.4g} to {high:.4g}; "
            "expected values in [0, 1]."
        )
    return np.clip(values, 0.0, 1.0)


def _finish_8bit(
    im: Image.Image, target: tuple[int, int], notes: list[str], *, uint8: bool = False
) -> np.ndarray:
    """L / LA / RGB / RGBA PIL image -> float32 HxWx3 on white, resized to ``target``;
    ``uint8``: L / RGB as uint8 HxWx3 (the same values, as ``to_uint8`` of the float)."""
    if im.size != target:
        # PIL premultiplies alpha while resampling LA/RGBA, so compositing afterwards is exact.
        im = im.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if uint8 and im.mode in ("L", "RGB"):
        values = np.asarray(im)
        return np.ascontiguousarray(
            np.repeat(values[:, :, None], 3, axis=2) if values.ndim == 2 else values
        )
    values = np.asarray(im).astype(np.float32) / np.float32(255.0)
    if values.ndim == 2:
        values = values[:, :, None]
    return _finish_float(values, target, notes)


def _finish_float(values: np.ndarray, target: tuple[int, int], notes: list[str]) -> np.ndarray:
    """Float32 HxWxC (C in 1, 2, 3, 4; last channel alpha for 2 and 4) -> HxWx3 on white."""
    channels = values.shape[2]
    if (values.shape[1], values.shape[0]) != target:
        values = resize(values, target)
    if channels in (2, 4):
        colour, alpha = values[:, :, :-1], values[:, :, -1:]
        if (alpha < 1.0).any():
            notes.append("Transparency composited on white.")
        values = colour * alpha + (np.float32(1.0) - alpha)
    if values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    return np.ascontiguousarray(np.clip(values, 0.0, 1.0), dtype=np.float32)


def _result(
    image: np.ndarray,
    original: tuple[int, int],
    target: tuple[int, int],
    limit: int | None,
    notes: list[str],
    mode: str,
) -> LoadedImage:
    scale = 1.0
    if target != original:
        scale = max(target) / max(original)
        notes.append(
            f"Downscaled from {original[0]}x{original[1]} to {target[0]}x{target[1]} "
            f"(limit {limit} px)."
        )
    return LoadedImage(
        image=image, original_size=original, scale=scale, notes=tuple(notes), mode=mode
    )


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _target_size(size: tuple[int, int], limit: int | None) -> tuple[int, int]:
    width, height = size
    if limit is None or max(width, height) <= limit:
        return width, height
    factor = limit / max(width, height)
    if width >= height:
        return limit, max(1, round(height * factor))
    return max(1, round(width * factor)), limit


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageReadError(
            f"Image is too large ({width}x{height} = {megapixels(width * height)} MP; "
            f"the limit is {megapixels(max_pixels)} MP)."
        )


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:
        return 1  # unreadable EXIF: treat as not rotated


def _decoded_from_16bit(im: Image.Image) -> bool:
    """True when PIL will decode 16-bit samples into an 8-bit mode (e.g. 16-bit RGB PNG)."""
    if im.mode.startswith("I") or im.mode == "F":
        return False
    for tile in getattr(im, "tile", None) or ():
        args = tile[3] if len(tile) > 3 else None
        rawmode = args if isinstance(args, str) else None
        if isinstance(args, tuple) and args and isinstance(args[0], str):
            rawmode = args[0]
        if rawmode and ";16" in rawmode:
            return True
    return False

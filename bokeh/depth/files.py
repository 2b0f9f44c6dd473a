"""Depth maps supplied by the user: read a file (or array) and turn it into normalised disparity.

The rest of the library passes depth around as normalised DISPARITY: float32 ``HxW`` in
``[0, 1]``, 1 = nearest, 0 = farthest. :func:`load_depth_file` accepts

* sources: a path (``str``/``os.PathLike``), ``bytes``, a binary file-like object, a PIL image or
  a numpy array;
* formats: 8-bit and 16-bit PNG (no other format reaches Pillow), ``.npy`` and single-array
  ``.npz`` (never unpickled; the declared shape is checked before any data is read or
  decompressed, and no more bytes than it declares are read), and ``.pfm`` (the Middlebury
  float format);
* content: either depth (larger = farther) or disparity (larger = nearer), as ``kind`` says.

Decisions, so that callers know what they get:

* Invalid values are filled with the nearest valid value (Euclidean nearest pixel). Invalid means
  NaN or +-inf for both kinds; for ``kind="depth"`` also zero or negative depth (the usual "no
  measurement" of depth sensors); for ``kind="disparity"`` also negative values, while zero
  disparity is valid (infinitely far, e.g. sky) unless ``invalid=0`` says that 0 means
  "unknown" (Middlebury disparity files); :func:`read_depth_map` reports the share filled.
* Normalisation is min/max (not percentiles), with the min and max read from a 3x3 median of the
  map (the map itself is not filtered). Maps without speckles (smooth maps, ramps, regions of a
  few pixels or more) keep their exact range, ordering and spacing; isolated speckles of sensor
  noise cannot squash the range and are clipped to 0 or 1 instead.
* A constant map (everything at one depth) becomes all ones: the whole picture is one plane, so
  it is all "subject" and a depth-threshold blur leaves it sharp.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage

from bokeh.errors import ImageReadError
from bokeh.pngcheck import PngDataError, check_png_complete

__all__ = ["DepthMap", "load_depth_file", "read_depth_array", "read_depth_map"]

# Largest relative difference between the aspect ratios of the depth map and the photo.
ASPECT_TOLERANCE = 0.02
_UPLOAD = "<upload>"
# Refuse maps larger than this many pixels (a decompression bomb guard for every format).
# Maps are used at the photo's size (at most 2048 px long by default); 16 MP leaves room for
# a camera's full-resolution map while bounding what one upload costs (about 0.45 GB).
MAX_PIXELS = 16_000_000
# Refuse arrays (.npy, .npz members) that declare more bytes than this: a 16 MP float64 map.
MAX_ARRAY_BYTES = 8 * MAX_PIXELS
# Refuse depth files larger than this on disk (they are read into memory whole).
MAX_FILE_BYTES = MAX_ARRAY_BYTES + (1 << 20)
PIL_FORMATS = ("PNG",)  # the only format Pillow may open here (no EPS -> Ghostscript, ...)


@dataclass(frozen=True)
class DepthMap:
    """A read depth map: ``disparity`` as :func:`load_depth_file` returns it, and ``filled``,
    the fraction of its pixels that were invalid (or equal to ``invalid``) and filled."""

    disparity: np.ndarray
    filled: float


def load_depth_file(
    source: Any,
    *,
    kind: Literal["depth", "disparity"],
    size: tuple[int, int] | None = None,
    invalid: float | None = None,
) -> np.ndarray:
    """:func:`read_depth_map`'s disparity."""
    return read_depth_map(source, kind=kind, size=size, invalid=invalid).disparity


def read_depth_map(
    source: Any,
    *,
    kind: Literal["depth", "disparity"],
    size: tuple[int, int] | None = None,
    invalid: float | None = None,
) -> DepthMap:
    """Read a depth or disparity map and return normalised disparity.

    Args:
        source: path, ``bytes``, binary file-like object, PIL image or numpy array. Arrays and
            images are ``HxW``, or ``HxWxC`` with ``C`` in 1..4 where the colour channels are
            equal (a grey map saved as RGB); the alpha channel is ignored.
        kind: ``"depth"`` (larger = farther; disparity is computed as ``1 / depth``) or
            ``"disparity"`` (larger = nearer; only normalised).
        size: ``(width, height)`` of the photo the map belongs to. When the map has another size
            it is resized bilinearly, provided the aspect ratios agree within 2 %.
        invalid: a raw value that means "unknown" (0 for Middlebury disparity files); such
            pixels are filled like other invalid ones (never read as infinitely far).

    Returns:
        :class:`DepthMap`: float32 disparity ``HxW`` (``size[1] x size[0]`` when ``size`` is
        given) in ``[0, 1]``, 1 = nearest, and the fraction of pixels filled. See the module
        docstring for invalid values, the normalisation and constant maps.

    Raises:
        ImageReadError: the source cannot be read as a map, holds no valid value, has colour
            channels that differ, or has an aspect ratio that does not match ``size``.
        ValueError: ``kind`` or ``size`` is not valid.
        TypeError: ``source`` is of an unsupported type.
    """
    if kind not in ("depth", "disparity"):
        raise ValueError(f"kind must be 'depth' or 'disparity', got {kind!r}.")
    if size is not None and (
        len(size) != 2 or not all(isinstance(v, (int, np.integer)) for v in size) or min(size) < 1
    ):
        raise ValueError(f"size must be (width, height) in whole pixels >= 1, got {size!r}.")

    if invalid is not None and not np.isfinite(invalid):
        raise ValueError(f"invalid must be a finite number or None, got {invalid!r}.")
    raw = _read_array(source)
    values = _to_single_channel(raw)
    valid = _valid(values, kind=kind, invalid=invalid)
    disparity = _to_disparity(values, kind=kind, valid=valid)
    disparity = _normalise(disparity)
    if size is not None:
        disparity = _fit_to_size(disparity, (int(size[0]), int(size[1])))
    disparity = np.ascontiguousarray(np.clip(disparity, 0.0, 1.0), dtype=np.float32)
    return DepthMap(disparity, float(1.0 - valid.mean()))


# --------------------------------------------------------------------------------- reading


def _read_array(source: Any, formats: tuple[str, ...] = PIL_FORMATS) -> np.ndarray:
    """Any supported source -> a numeric numpy array (not yet validated for shape); pictures
    are opened by Pillow only in ``formats``."""
    if isinstance(source, np.ndarray):
        return source
    if isinstance(source, Image.Image):
        return _array_from_pil(source)

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = path.name
        data = _read_file(path)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), _UPLOAD
    elif hasattr(source, "read"):
        data, name = _read_limited(source), Path(str(getattr(source, "name", _UPLOAD))).name
    else:
        raise TypeError(
            "A depth source must be a path, bytes, a binary file, a PIL image or a numpy array; "
            f"got {type(source).__name__}."
        )

    if not data:
        raise ImageReadError(f"{_what(name)} is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise ImageReadError(f"{_what(name)} is larger than {MAX_FILE_BYTES >> 20} MB.")
    if data[:6] == b"\x93NUMPY":
        return _read_npy(data, name)
    if data[:4] == b"PK\x03\x04":
        return _read_npz(data, name)
    if data[:3] in (b"PF\n", b"Pf\n", b"PF\r", b"Pf\r") or data[:3] in (b"PF ", b"Pf "):
        return _read_pfm(data, name)
    return _read_with_pil(data, name, formats)


def _what(name: str) -> str:
    """Subject of an error sentence: "The depth file 'x.png'" or "The uploaded depth map"."""
    return "The uploaded depth map" if name == _UPLOAD else f"The depth file '{name}'"


def _read_file(path: Path) -> bytes:
    """The bytes of a depth file; the messages name the file, never the folder it is in."""
    try:
        with open(path, "rb") as fh:
            return _read_limited(fh)
    except FileNotFoundError:
        raise ImageReadError(f"The depth file '{path.name}' does not exist.") from None
    except IsADirectoryError:
        raise ImageReadError(f"'{path.name}' is a folder, not a depth file.") from None
    except OSError as exc:
        raise ImageReadError(
            f"The depth file '{path.name}' could not be read ({exc.strerror or 'error'})."
        ) from None


def _read_limited(fh) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes of ``fh``, read in pieces (``read(n)`` of a large ``n``
    would reserve ``n`` bytes up front)."""
    parts, total = [], 0
    while total <= MAX_FILE_BYTES:
        part = fh.read(1 << 20)
        if not part:
            break
        if not isinstance(part, (bytes, bytearray)):
            raise TypeError("A file-like depth source must be opened in binary mode ('rb').")
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def _read_npy(data: bytes, name: str) -> np.ndarray:
    return _read_npy_stream(io.BytesIO(data), name, "npy")


def _read_npz(data: bytes, name: str) -> np.ndarray:
    """The one array of a ``.npz``: one ``.npy`` member, its declared shape checked before
    anything is decompressed, and no more bytes inflated than it declares."""
    count, directory_size = _zip_directory(data)
    if count != 1:
        raise ImageReadError(
            f"{_what(name)} holds {count} arrays; a depth .npz must hold exactly one."
        )
    if directory_size > 1 << 16:
        raise ImageReadError(f"{_what(name)} is not a valid .npz file.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) != 1:
                raise ImageReadError(
                    f"{_what(name)} holds {len(members)} arrays; a depth .npz must hold exactly "
                    "one."
                )
            if not members[0].filename.endswith(".npy"):
                raise ImageReadError(
                    f"{_what(name)} holds a file that is not a .npy array; save the depth "
                    "with numpy.savez."
                )
            with archive.open(members[0]) as member:
                return _read_npy_stream(member, name, "npz")
    except ImageReadError:
        raise
    except Exception:
        raise ImageReadError(f"{_what(name)} is not a valid .npz file.") from None


def _zip_directory(data: bytes) -> tuple[int, int]:
    """(entries, central directory bytes) from a zip's end record, before the directory is
    parsed (a forged archive could list millions of entries)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - (1 << 16) - 22))
    if end < 0 or len(data) - end < 22:
        return 0, 0
    _, _, _, total, size, _, _ = struct.unpack("<HHHHIIH", data[end + 4 : end + 22])
    return total, size


def _read_npy_stream(fh, name: str, kind: str) -> np.ndarray:
    """An array from a ``.npy`` stream: the header read first, Python objects refused, the
    declared size checked against MAX_PIXELS and MAX_ARRAY_BYTES, then exactly the declared
    bytes read (more or fewer is refused)."""
    bad = ImageReadError(f"{_what(name)} is not a valid .{kind} file.")
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
        shape, fortran, dtype = read_header[version](fh)
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile):
        raise bad from None
    if dtype.hasobject:
        raise ImageReadError(
            f"{_what(name)} stores Python objects (pickle), which are refused because loading "
            "them can run code; save a plain numeric array instead."
        )
    _check_declared(shape, dtype, name)
    nbytes = math.prod(shape) * dtype.itemsize
    buffer = bytearray(nbytes)
    view, got = memoryview(buffer), 0
    try:
        while got < nbytes:
            chunk = fh.read(min(nbytes - got, 1 << 20))
            if not chunk:
                raise ImageReadError(f"{_what(name)} is truncated.")
            view[got : got + len(chunk)] = chunk
            got += len(chunk)
        if fh.read(1):
            raise ImageReadError(f"{_what(name)} holds more data than its header declares.")
    except ImageReadError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, ValueError):
        raise bad from None
    array = np.frombuffer(buffer, dtype=dtype, count=math.prod(shape))
    return array.reshape(shape, order="F" if fortran else "C")


def _check_declared(shape: tuple, dtype: np.dtype, name: str) -> None:
    """Refuse an array header whose shape is not a map or declares too much data."""
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 2, 3, 4)):
        raise ImageReadError(
            f"A depth map must be HxW (or HxWxC with equal colour channels); {_what(name)} "
            f"declares shape {tuple(shape)}."
        )
    if shape[0] * shape[1] > MAX_PIXELS:
        raise ImageReadError(
            f"{_what(name)} is too large ({shape[1]}x{shape[0]} pixels; the limit is "
            f"{MAX_PIXELS // 1_000_000} MP)."
        )
    if math.prod(shape) * dtype.itemsize > MAX_ARRAY_BYTES:
        raise ImageReadError(
            f"{_what(name)} is too large ({math.prod(shape) * dtype.itemsize >> 20} MB of "
            f"{dtype} data; the limit is {MAX_ARRAY_BYTES >> 20} MB)."
        )


def _read_pfm(data: bytes, name: str) -> np.ndarray:
    """Portable float map: 'PF' (3 channels) or 'Pf' (1), 'W H', scale (<0: little-endian), rows
    stored bottom to top."""
    bad = ImageReadError(f"{_what(name)} is not a valid PFM file.")
    # The header is three whitespace-separated lines; read tokens until the scale.
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        start = pos
        while pos < len(data) and not data[pos : pos + 1].isspace():
            pos += 1
        if start == pos or pos - start > 32:
            raise bad
        tokens.append(data[start:pos])
    pos += 1  # exactly one whitespace byte separates the header from the raster
    try:
        channels = {b"PF": 3, b"Pf": 1}[tokens[0]]
        width, height, scale = int(tokens[1]), int(tokens[2]), float(tokens[3])
    except (KeyError, ValueError):
        raise bad from None
    if width < 1 or height < 1 or scale == 0 or width * height > MAX_PIXELS:
        raise bad
    count = width * height * channels
    dtype = np.dtype("<f4" if scale < 0 else ">f4")
    if len(data) - pos < count * 4:
        raise ImageReadError(f"{_what(name)} is truncated.")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=pos)
    shape = (height, width) if channels == 1 else (height, width, 3)
    return array.reshape(shape)[::-1].astype(np.float32)


def _read_with_pil(data: bytes, name: str, formats: tuple[str, ...] = PIL_FORMATS) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data), formats=formats) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageReadError(
                    f"{_what(name)} is too large ({image.width}x{image.height} pixels)."
                )
            if image.format == "PNG":
                check_png_complete(io.BytesIO(data))
            image.load()
            return _array_from_pil(image)
    except ImageReadError:
        raise
    except PngDataError:
        raise ImageReadError(
            f"{_what(name)} is truncated: its pixel data ends before the last row."
        ) from None
    except UnidentifiedImageError:
        raise ImageReadError(
            f"{_what(name)} is not a PNG, .npy, .npz or .pfm file that can be read."
        ) from None
    except Image.DecompressionBombError:
        raise ImageReadError(f"{_what(name)} is too large to open.") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(f"{_what(name)} is damaged or truncated ({exc}).") from None


def _array_from_pil(image) -> np.ndarray:
    # "P" (palette) and "1" hold indices or bits, not depth values: expand them first.
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        raise ImageReadError(
            f"The depth map is stored in {image.mode} colour; save it as a greyscale image."
        )
    return np.asarray(image)


# --------------------------------------------------------------------------------- content


def _to_single_channel(array: np.ndarray) -> np.ndarray:
    """HxW, HxWx1, HxWx2 (grey + alpha), HxWx3, HxWx4 -> float64 HxW."""
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ImageReadError(f"The depth map holds {array.dtype} values, not numbers.")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise ImageReadError("The depth map holds complex numbers, not depths.")
    if array.ndim == 3 and array.shape[-1] in (1, 2, 3, 4):
        channels = array.shape[-1]
        if channels in (1, 2):  # grey, or grey + alpha
            array = array[..., 0]
        else:
            colour = array[..., :3]
            first = colour[..., 0]
            if not (
                np.array_equal(first, colour[..., 1]) and np.array_equal(first, colour[..., 2])
            ):
                raise ImageReadError(
                    "The depth map is a colour image whose red, green and blue channels differ; "
                    "save the depth as a single-channel (greyscale) image, or as .npy."
                )
            array = first
    if array.ndim != 2:
        raise ImageReadError(
            f"A depth map must be HxW (or HxWxC with equal colour channels); got shape "
            f"{tuple(array.shape)}."
        )
    if array.size == 0:
        raise ImageReadError("The depth map is empty (0 pixels).")
    if array.size > MAX_PIXELS:
        raise ImageReadError(f"The depth map is too large ({array.shape[1]}x{array.shape[0]}).")
    return array.astype(np.float64)


def _valid(values: np.ndarray, *, kind: str, invalid: float | None) -> np.ndarray:
    """Pixels that hold a measurement (see the module docstring; ``invalid`` marks unknowns)."""
    if kind == "depth":
        valid = np.isfinite(values) & (values > 0)
    else:
        valid = np.isfinite(values) & (values >= 0)
    if invalid is not None:
        valid &= values != invalid
    return valid


def _to_disparity(values: np.ndarray, *, kind: str, valid: np.ndarray) -> np.ndarray:
    """Raw depth or disparity (float64 HxW) -> disparity with invalid pixels filled."""
    if not valid.any():
        raise ImageReadError(
            f"The {kind} map holds no valid value (all are missing, zero, negative or not finite)."
        )
    if not valid.all():
        values = _fill_nearest(values, valid)
    if kind == "depth":
        return 1.0 / values
    return values


def _fill_nearest(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace each invalid pixel with the value of the nearest valid one."""
    # The EDT of the invalid mask gives, for every pixel, the index of the nearest valid pixel.
    indices = ndimage.distance_transform_edt(~valid, return_distances=False, return_indices=True)
    return values[tuple(indices)]


def _normalise(disparity: np.ndarray) -> np.ndarray:
    """Min/max normalisation with the range read from a 3x3 median of the map (speckle-proof)."""
    low, high = _median_range(disparity)
    span = high - low
    if not span > 1e-9 * max(abs(high), abs(low), 1e-30):
        # One depth everywhere: all of it is the subject plane.
        return np.ones(disparity.shape, dtype=np.float64)
    return np.clip((disparity - low) / span, 0.0, 1.0)


def _median_range(values: np.ndarray) -> tuple[float, float]:
    """(min, max) of the 3x3 median filter of ``values`` (edges replicated)."""
    low, high = float(values.min()), float(values.max())

    def held_by_a_block(mask: np.ndarray) -> bool:
        # The median of a window reaches the extreme iff >= 5 of its 9 pixels hold it.
        share = ndimage.uniform_filter(mask.astype(np.float32), size=3, mode="nearest")
        return bool(share.max() > 4.5 / 9)

    # Fast path (smooth maps, ramps, regions): the extremes survive the median as they are.
    if held_by_a_block(values >= high) and held_by_a_block(values <= low):
        return low, high
    smooth = ndimage.median_filter(values, size=3, mode="nearest")
    return float(smooth.min()), float(smooth.max())


def _fit_to_size(disparity: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize HxW to size=(w, h) bilinearly if the aspect ratios match within 2 %."""
    height, width = disparity.shape
    target_w, target_h = size
    if (width, height) == (target_w, target_h):
        return disparity
    ratio, target_ratio = width / height, target_w / target_h
    if abs(ratio / target_ratio - 1.0) > ASPECT_TOLERANCE:
        hint = ""
        if abs((height / width) / target_ratio - 1.0) <= ASPECT_TOLERANCE:
            hint = " (one of them looks rotated by 90 degrees)"
        raise ImageReadError(
            f"The depth map is {width}x{height} but the photo is {target_w}x{target_h}; their "
            f"aspect ratios differ ({ratio:.2f} vs {target_ratio:.2f}){hint}, so the map does "
            "not belong to this photo."
        )

    # PIL's bilinear filter widens its support when shrinking, so downsizing is antialiased.
    resized = Image.fromarray(disparity.astype(np.float32)).resize(
        (target_w, target_h), Image.Resampling.BILINEAR
    )
    return np.asarray(resized, dtype=np.float64)


def read_depth_array(source: Any, *, formats: tuple[str, ...] = PIL_FORMATS) -> np.ndarray:
    """The values of a depth map as stored (e.g. uint8 or uint16, HxW), read with this module's
    size guard, pictures only in ``formats`` (PNG unless the caller names more: a phone's
    stored depth image may be a JPEG); nothing is converted or normalised. Sources and errors
    as in :func:`load_depth_file`."""
    return _read_array(source, formats)

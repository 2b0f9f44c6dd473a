"""Depth maps that phones store inside their photos (the ``embedded`` depth source).

Read from the upload's bytes, once, beside the pixels (:func:`load_with_depth`):

* **GDepth** (Google Camera portrait and Lens Blur JPEGs; namespace
  ``http://ns.google.com/photos/1.0/depthmap/``): ``GDepth:Format`` (RangeInverse or
  RangeLinear), ``Near``, ``Far``, ``Units``, ``Mime`` and the base64 image in ``GDepth:Data``,
  usually in the extended XMP; the focus distance in ``GFocus:FocalDistance`` when stored.
* **Dynamic Depth 1.0** (newer Pixel portrait JPEGs): the ``Device/Cameras`` camera of the
  ``DepthPhoto`` profile has a ``DepthMap`` (Format, Near, Far, Units, DepthURI, FocalTable); the
  depth image is the ``Device/Container`` item whose ``DataURI`` is that DepthURI, appended after
  the primary JPEG with the lengths the directory lists. The focus distance is where the
  ``FocalTable`` (distance, circle-of-confusion radius pairs) has its smallest radius.
* **HEIC** (iPhone portrait photos): the auxiliary depth image
  (``urn:mpeg:hevc:2015:auxid:2``) read with pillow-heif, with its depth representation info
  (uniform inverse Z, uniform disparity or uniform Z).

Decoding follows the published formulas (GDepth "Encoding" page): with ``dn`` the stored code
over its maximum, RangeLinear is ``d = near + dn (far - near)`` and RangeInverse is
``d = far near / (far - dn (far - near))``. Disparity is normalised by the stored range,
``(1/d - 1/far) / (1/near - 1/far)``: 1 at ``near``, 0 at ``far`` (for RangeInverse exactly
``1 - dn``), and a stored focus distance converts with the same formula. The map is turned like
the photo (EXIF orientation) and stretched to its size, as the GDepth reference says.

The depth image is untrusted: base64 length, byte size and pixel count are bounded before
decoding, only PNG and JPEG (GDepth, Dynamic Depth) are accepted, the pixels are decoded by
:func:`bokeh.depth.files.read_depth_array`, and every problem is one sentence
(:class:`~bokeh.errors.EmbeddedDepthError`).
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import math
import os
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from PIL import ExifTags, Image

from bokeh import heif
from bokeh.depth.files import read_depth_array
from bokeh.depth.xmp import fail, is_jpeg, primary_end, read_jpeg_xmp
from bokeh.errors import BokehError, EmbeddedDepthError, ImageReadError
from bokeh.imaging import LoadedImage, load_image

logger = logging.getLogger("bokeh.depth.phone")
GDEPTH = "{http://ns.google.com/photos/1.0/depthmap/}"
GFOCUS = "{http://ns.google.com/photos/1.0/focus/}"
_DD = "http://ns.google.com/photos/dd/1.0/"
DEVICE, CAMERA, DEPTHMAP, CONTAINER, ITEM, PROFILE = (
    f"{{{_DD}{name}/}}" for name in ("device", "camera", "depthmap", "container", "item", "profile")
)
MAX_BASE64_CHARS = 24 * 2**20  # GDepth:Data before decoding
MAX_DEPTH_BYTES = 16 * 2**20  # an encoded depth image
MAX_DEPTH_PIXELS = 4096 * 4096
MAX_FOCAL_TABLE = 1024  # (distance, radius) pairs
_SIGNATURES = {"image/jpeg": (b"\xff\xd8\xff", "JPEG"), "image/png": (b"\x89PNG\r\n\x1a\n", "PNG")}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
# EXIF orientation -> the same turn as PIL's exif_transpose, on (H, W) arrays.
_TURNS = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
          5: lambda a: a.T, 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 2).T,
          8: lambda a: np.rot90(a, 1)}  # fmt: skip


@dataclass(frozen=True)
class EmbeddedDepth:
    """A depth map stored in a photo, as normalised disparity.

    disparity: (h, w) float32 in [0, 1], 1 = nearest, turned like the photo, at the map's own
        resolution (:meth:`at_size` stretches it to the photo).
    container: "GDepth", "Dynamic Depth" or "HEIF depth image".
    encoding: "RangeInverse", "RangeLinear", "uniform inverse Z", "uniform disparity", ...
    near, far: the stored range in ``units`` (None when the format stores none).
    focus_distance: the stored focus distance in ``units``, or None.
    focus_disparity: that distance in ``disparity``'s scale (clipped to [0, 1]), or None.
    """

    disparity: np.ndarray
    container: str
    encoding: str
    near: float | None = None
    far: float | None = None
    units: str = ""
    focus_distance: float | None = None
    focus_disparity: float | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.disparity.setflags(write=False)  # shared by every render of a session's photo

    def describe(self) -> str:
        """E.g. "depth map stored in the photo (GDepth, RangeInverse, near 0.3 m, far 4.1 m,
        640x480)"."""
        return f"depth map stored in the photo ({self.details()})"

    def details(self) -> str:
        """Container, encoding, range, focus and size, e.g. "GDepth, RangeInverse, ..."."""
        unit = f" {self.units}" if self.units else ""
        parts = [self.container, self.encoding]
        if self.near is not None and self.far is not None:
            parts += [f"near {self.near:.3g}{unit}", f"far {self.far:.3g}{unit}"]
        if self.focus_distance is not None:
            parts.append(f"focus {self.focus_distance:.3g}{unit}")
        h, w = self.disparity.shape
        parts.append(f"{w}x{h}")
        return ", ".join(parts)

    def at_size(self, width: int, height: int) -> np.ndarray:
        """The disparity stretched to (width, height): (height, width) float32 in [0, 1]."""
        if self.disparity.shape == (height, width):
            return self.disparity
        plane = Image.fromarray(np.ascontiguousarray(self.disparity, dtype=np.float32))
        out = np.asarray(plane.resize((width, height), Image.Resampling.BILINEAR))
        return np.clip(out, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------------- loading


def load_with_depth(
    source: Any, *, max_side: int | None | Literal["config"] = "config", uint8: bool = False
) -> tuple[LoadedImage, EmbeddedDepth | None, tuple[str, ...]]:
    """Decode a photo (see :func:`bokeh.imaging.load_image`, also for ``uint8``) and the depth
    map stored in it, reading the file once. Returns (image, embedded depth or None, notes for
    people). A stored map that cannot be used is a note, not an error: the photo still loads."""
    data = _photo_bytes(source)
    loaded = load_image(source if data is None else data, max_side=max_side, uint8=uint8)
    notes = list(loaded.notes)
    depth = None
    if data is not None:
        try:
            depth = read_embedded_depth(data)
        except EmbeddedDepthError as exc:
            notes.append(f"{exc} Depth is estimated instead.")
        except BokehError as exc:  # e.g. pillow-heif missing
            notes.append(f"The depth map stored in the photo was not read: {exc}")
        except Exception:  # a bug must not cost the upload: say so, log the details
            logger.exception("reading the depth map stored in a photo failed")
            notes.append("The depth map stored in the photo could not be read; depth is "
                         "estimated instead.")  # fmt: skip
    if depth is not None:
        focus = ""
        if depth.focus_distance is not None:
            unit = f" {depth.units}" if depth.units else ""
            focus = (f" Until you click, the focus is its stored distance "
                     f"({depth.focus_distance:.3g}{unit}).")  # fmt: skip
        notes.append(f"The photo carries its own depth map ({depth.details()}); depth source "
                     f"'auto' uses it.{focus}")  # fmt: skip
        notes.extend(depth.notes)
    return loaded, depth, tuple(notes)


def _photo_bytes(source: Any) -> bytes | None:
    """The bytes of a JPEG or HEIF upload (path, bytes or binary file), else None: other
    sources and formats carry no depth map this module reads, and go to the decoder as they
    are. A path that cannot be read also gives None (the decoder says why)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as fh:
                if not _carries_depth(fh.read(16)):
                    return None
                fh.seek(0)
                data = fh.read()
        except (OSError, ValueError):
            return None
    elif hasattr(source, "read") and hasattr(source, "seek"):
        data = source.read()
        source.seek(0)
        if not isinstance(data, (bytes, bytearray)):
            return None
        data = bytes(data)
    else:
        return None
    return data if _carries_depth(data[:16]) else None


def _carries_depth(head: bytes) -> bool:
    return is_jpeg(head) or _is_heif(head)


def _is_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


# --------------------------------------------------------------------------------- reading


def read_embedded_depth(data: bytes) -> EmbeddedDepth | None:
    """The depth map stored in a JPEG (GDepth, Dynamic Depth) or HEIC photo, turned like the
    photo; None when it stores none. Raises EmbeddedDepthError when one is stored but cannot be
    used."""
    if is_jpeg(data):
        properties = read_jpeg_xmp(data)
        if f"{DEVICE}Cameras" in properties:
            depth = _dynamic_depth(data, properties)
        elif f"{GDEPTH}Data" in properties or f"{GDEPTH}Format" in properties:
            depth = _gdepth(properties)
        else:
            return None
        return _turned(depth, _exif_orientation(data))
    if _is_heif(data[:16]):
        return _heif(data)
    return None


def _gdepth(props: dict[str, Any]) -> EmbeddedDepth:
    encoding = _encoding(props.get(f"{GDEPTH}Format", "RangeInverse"))
    near, far = _range(props.get(f"{GDEPTH}Near"), props.get(f"{GDEPTH}Far"))
    units = _units(props.get(f"{GDEPTH}Units", "m"))
    mime = props.get(f"{GDEPTH}Mime", "image/jpeg")
    text = props.get(f"{GDEPTH}Data")
    if not isinstance(text, str) or not text:
        raise fail("its GDepth:Data (the depth image) is missing.")
    if len(text) > MAX_BASE64_CHARS:
        raise fail(f"its GDepth:Data is {len(text)} characters long (the limit is "
                   f"{MAX_BASE64_CHARS // 2**20} M).")  # fmt: skip
    try:
        encoded = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise fail("its GDepth:Data is not valid base64.") from None
    codes, max_code = _decode_codes(encoded, mime)
    disparity = range_disparity(codes, max_code=max_code, encoding=encoding, near=near, far=far)
    focus, notes = _number(props.get(f"{GFOCUS}FocalDistance"), "GFocus:FocalDistance")
    return _finish(disparity, "GDepth", encoding, near, far, units, focus, notes)


def _dynamic_depth(data: bytes, props: dict[str, Any]) -> EmbeddedDepth:
    depth_map = _depth_camera(props)
    if str(depth_map.get(f"{DEPTHMAP}ItemSemantic", "Depth")).lower() == "segmentation":
        raise fail("its Dynamic Depth map is a segmentation, not depth.")
    encoding = _encoding(depth_map.get(f"{DEPTHMAP}Format"))
    near, far = _range(depth_map.get(f"{DEPTHMAP}Near"), depth_map.get(f"{DEPTHMAP}Far"))
    units = str(depth_map.get(f"{DEPTHMAP}Units", "")).lower()
    if units == "diopters":
        raise fail("its Dynamic Depth map is in diopters, which is not supported.")
    uri = depth_map.get(f"{DEPTHMAP}DepthURI")
    mime, encoded = _container_item(data, props, uri)
    codes, max_code = _decode_codes(encoded, mime)
    disparity = range_disparity(codes, max_code=max_code, encoding=encoding, near=near, far=far)
    focus, notes = focal_table_focus(depth_map.get(f"{DEPTHMAP}FocalTable"))
    return _finish(disparity, "Dynamic Depth", encoding, near, far,
                   "m" if units == "meters" else "", focus, notes)  # fmt: skip


def _depth_camera(props: dict[str, Any]) -> dict[str, Any]:
    """The DepthMap struct of the camera the DepthPhoto profile names (else the first camera
    with a depth map)."""
    cameras = props.get(f"{DEVICE}Cameras")
    if not isinstance(cameras, list):
        raise fail("its Dynamic Depth camera list is malformed.")
    cameras = [c.get(f"{DEVICE}Camera", c) if isinstance(c, dict) else {} for c in cameras]
    order = list(range(len(cameras)))
    for profile in props.get(f"{DEVICE}Profiles") or []:
        profile = profile.get(f"{DEVICE}Profile", profile) if isinstance(profile, dict) else {}
        indices = profile.get(f"{PROFILE}CameraIndices")
        if profile.get(f"{PROFILE}Type") == "DepthPhoto" and isinstance(indices, list) and indices:
            first = str(indices[0])
            if first.isdigit() and int(first) < len(cameras):
                order.insert(0, int(first))
            break
    for index in order:
        depth_map = cameras[index].get(f"{CAMERA}DepthMap")
        if isinstance(depth_map, dict):
            return depth_map
    raise fail("its Dynamic Depth metadata has no camera with a depth map.")


def _container_item(data: bytes, props: dict[str, Any], uri: Any) -> tuple[str, bytes]:
    """(mime, bytes) of the container item whose DataURI is ``uri``: items follow the primary
    image in directory order, each ``Length`` bytes long (``Padding`` of them at the end)."""
    container = props.get(f"{DEVICE}Container")
    directory = container.get(f"{CONTAINER}Directory") if isinstance(container, dict) else None
    if not isinstance(directory, list) or len(directory) < 2 or not isinstance(uri, str):
        raise fail("its Dynamic Depth container directory is missing or malformed.")
    pos = primary_end(data)
    for entry in directory[1:]:  # the first item is the primary image itself
        item = entry.get(f"{CONTAINER}Item", entry) if isinstance(entry, dict) else {}
        length = _count(item.get(f"{ITEM}Length"), len(data) - pos, "Item:Length")
        padding = _count(item.get(f"{ITEM}Padding", "0"), length, "Item:Padding")
        if item.get(f"{ITEM}DataURI") == uri:
            if length - padding > MAX_DEPTH_BYTES:
                raise fail(f"its depth image is {length - padding} bytes (the limit is "
                           f"{MAX_DEPTH_BYTES // 2**20} MB).")  # fmt: skip
            return str(item.get(f"{ITEM}Mime", "")), data[pos : pos + length - padding]
        pos += length
    raise fail(f"its container has no item {uri[:64]!r}, which the depth map names.")


def _count(value: Any, limit: int, name: str) -> int:
    text = str(value).strip()
    if not text.isdigit() or int(text) > limit:
        raise fail(f"its container lists an {name} ({text[:20]!r}) that does not fit the file.")
    return int(text)


def _heif(data: bytes) -> EmbeddedDepth | None:
    try:
        container = heif.open_heif(data)
        depth_images = container.info.get("depth_images") or []
    except BokehError:
        raise
    except Exception:
        raise fail("its HEIF structure could not be read.") from None
    if not depth_images:
        return None
    image = depth_images[0]
    width, height = image.size
    if width * height > MAX_DEPTH_PIXELS:
        raise fail(f"its depth image is {width}x{height} (the limit is {MAX_DEPTH_PIXELS} "
                   "pixels).")  # fmt: skip
    try:
        codes = np.asarray(image)
    except Exception:
        raise fail("its HEIF depth image could not be decoded.") from None
    metadata = image.info.get("metadata") or {}
    return heif_depth(codes, metadata)


# --------------------------------------------------------------------------------- values


def range_disparity(
    codes: np.ndarray, *, max_code: int, encoding: str, near: float, far: float
) -> np.ndarray:
    """Stored codes of a RangeInverse or RangeLinear map ((h, w) integers in [0, max_code])
    -> (h, w) float32 normalised disparity in [0, 1]: 1 at ``near``, 0 at ``far``."""
    dn = np.asarray(codes, dtype=np.float64) / float(max_code)
    if encoding == "RangeInverse":
        return np.clip(1.0 - dn, 0.0, 1.0).astype(np.float32)
    if encoding != "RangeLinear":
        raise ValueError(f"encoding must be RangeInverse or RangeLinear, got {encoding!r}.")
    return distance_to_disparity(near + dn * (far - near), near=near, far=far).astype(np.float32)


def distance_to_disparity(distance: Any, *, near: float, far: float) -> Any:
    """A distance (array or number, in the map's units, > 0) in the normalised disparity of a
    map stored for [near, far]: ``(1/d - 1/far) / (1/near - 1/far)``, clipped to [0, 1]."""
    value = (1.0 / np.asarray(distance, dtype=np.float64) - 1.0 / far) / (1.0 / near - 1.0 / far)
    return np.clip(value, 0.0, 1.0)


def focal_table_focus(text: Any) -> tuple[float | None, tuple[str, ...]]:
    """The focus distance a Dynamic Depth FocalTable stores: base64 little-endian float32
    (distance, radius) pairs; the distance of the smallest radius (the harmonic mean when
    several share it). (None, ()) without a table; (None, (note,)) for a malformed one."""
    if text is None:
        return None, ()
    note = ("The stored focal table could not be read; the focus is the clicked point.",)
    try:
        raw = base64.b64decode("".join(str(text).split()), validate=True)
    except (binascii.Error, ValueError):
        return None, note
    if not raw or len(raw) % 8 or len(raw) // 8 > MAX_FOCAL_TABLE:
        return None, note
    pairs = np.frombuffer(raw, dtype="<f4").astype(np.float64).reshape(-1, 2)
    distance, radius = pairs[:, 0], pairs[:, 1]
    if not (np.isfinite(pairs).all() and (distance > 0).all() and (radius >= 0).all()):
        return None, note
    sharpest = distance[radius == radius.min()]
    return float(1.0 / np.mean(1.0 / sharpest)), ()


# HEIF depth representation types (ISO/IEC 23008-2 depth representation information).
_HEIF_TYPES = {0: "uniform inverse Z", 1: "uniform disparity", 2: "uniform Z",
               3: "non-uniform disparity"}  # fmt: skip


def heif_depth(codes: np.ndarray, metadata: dict[str, Any]) -> EmbeddedDepth:
    """A HEIF depth image ((h, w) uint8 or uint16 codes, as pillow-heif decodes it) with its
    depth representation info (pillow-heif's ``metadata``: ``representation_type``,
    ``z_near``, ``z_far``, ``d_min``, ``d_max``) -> EmbeddedDepth. Uniform inverse Z and uniform
    disparity store disparity linearly (largest code = nearest); uniform Z stores distance
    linearly from z_near (code 0) to z_far. Without representation info the map is read as
    disparity (Apple's convention), and a note says so."""
    codes, max_code = _codes(codes)
    kind = metadata.get("representation_type")
    notes: tuple[str, ...] = ()
    if kind is None:
        kind = 1
        notes = ("The HEIF depth image has no depth representation info; it is read as "
                 "disparity (bright = near).",)  # fmt: skip
    if kind not in (0, 1, 2):
        raise fail(f"its HEIF depth image uses a {_HEIF_TYPES.get(kind, f'type {kind}')} "
                   "representation, which is not supported.")  # fmt: skip
    near = far = None
    if "z_near" in metadata and "z_far" in metadata:
        near, far = _range(metadata["z_near"], metadata["z_far"])
    if kind == 2:
        if near is None:
            raise fail("its HEIF depth image stores distance without z_near and z_far.")
        disparity = range_disparity(codes, max_code=max_code, encoding="RangeLinear",
                                    near=near, far=far)  # fmt: skip
    else:
        disparity = (codes.astype(np.float64) / max_code).astype(np.float32)
    return EmbeddedDepth(disparity, "HEIF depth image", _HEIF_TYPES[kind], near, far,
                         notes=notes)  # fmt: skip


def _decode_codes(encoded: bytes, mime: Any) -> tuple[np.ndarray, int]:
    """An encoded PNG or JPEG depth image -> (codes (h, w), largest possible code)."""
    if mime not in _SIGNATURES:
        raise fail(f"its depth image has the type {str(mime)[:40]!r}; only image/jpeg and "
                   "image/png are accepted.")  # fmt: skip
    signature, fmt = _SIGNATURES[mime]
    if len(encoded) > MAX_DEPTH_BYTES:
        raise fail(f"its depth image is {len(encoded)} bytes (the limit is "
                   f"{MAX_DEPTH_BYTES // 2**20} MB).")  # fmt: skip
    if not encoded.startswith(signature):
        raise fail(f"its depth image is not the {mime} it claims to be.")
    try:
        with Image.open(io.BytesIO(encoded), formats=[fmt]) as header:  # the header only
            width, height = header.size
    except Exception:
        raise fail("its depth image is damaged.") from None
    if width * height > MAX_DEPTH_PIXELS:
        raise fail(f"its depth image is {width}x{height} (the limit is {MAX_DEPTH_PIXELS} "
                   "pixels).")  # fmt: skip
    try:
        return _codes(read_depth_array(encoded, formats=("PNG", "JPEG")))
    except ImageReadError as exc:
        raise fail(f"its depth image cannot be decoded ({exc})") from None


def _codes(array: np.ndarray) -> tuple[np.ndarray, int]:
    """(h, w) unsigned codes of a greyscale depth image and the largest possible code."""
    if array.ndim == 3 and array.shape[-1] in (1, 2):  # grey (+ alpha)
        array = array[..., 0]
    if array.ndim != 2 or array.size == 0:
        raise fail(f"its depth image has the shape {array.shape}; a greyscale image is needed.")
    if array.dtype == np.uint8:
        return array, 255
    if np.issubdtype(array.dtype, np.integer) and array.min() >= 0 and array.max() <= 65535:
        return array, 65535
    raise fail(f"its depth image holds {array.dtype} values; 8- or 16-bit greyscale is needed.")


def _encoding(value: Any) -> str:
    for name in ("RangeInverse", "RangeLinear"):
        if str(value).strip().lower() == name.lower():
            return name
    raise fail(f"its depth format {str(value)[:40]!r} is not RangeInverse or RangeLinear.")


def _range(near: Any, far: Any) -> tuple[float, float]:
    try:
        near_f, far_f = float(near), float(far)
    except (TypeError, ValueError):
        raise fail("its Near and Far values are missing or not numbers.") from None
    if not (math.isfinite(near_f) and math.isfinite(far_f) and 0 < near_f < far_f):
        raise fail(f"its Near ({near_f:g}) and Far ({far_f:g}) are not 0 < near < far.")
    return near_f, far_f


def _units(value: Any) -> str:
    text = str(value).strip()
    return text if text.isalpha() and len(text) <= 8 else ""


def _number(value: Any, name: str) -> tuple[float | None, tuple[str, ...]]:
    """A stored focus distance: (value, ()) or (None, (note,)) when present but unusable."""
    if value is None:
        return None, ()
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        return None, (f"The stored {name} is not a positive number; it is ignored.",)
    return number, ()


def _finish(disparity, container, encoding, near, far, units, focus, notes) -> EmbeddedDepth:
    plane = None if focus is None else float(distance_to_disparity(focus, near=near, far=far))
    return EmbeddedDepth(disparity, container, encoding, near, far, units, focus, plane,
                         tuple(notes))  # fmt: skip


def _exif_orientation(data: bytes) -> int:
    """The JPEG's EXIF orientation (1..8), read as bokeh.imaging reads it; 1 if none."""
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG", "MPO"]) as im:
            value = int(im.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:
        return 1
    return value if value in range(1, 9) else 1


def _turned(depth: EmbeddedDepth, orientation: int) -> EmbeddedDepth:
    if orientation not in _TURNS:
        return depth
    return replace(depth, disparity=np.ascontiguousarray(_TURNS[orientation](depth.disparity)))

"""Phone photos with a stored depth map, built by the tests to the published formats.

* :func:`gdepth_jpeg`: a JPEG with GDepth XMP (Google depthmap-metadata reference): the standard
  XMP packet holds ``GDepth:Format/Near/Far/Mime/Units``, ``GFocus:FocalDistance`` and
  ``xmpNote:HasExtendedXMP``; the extended packet (split over APP1 segments with GUID, full
  length and offset, XMP Specification Part 3) holds the base64 ``GDepth:Data``.
* :func:`dynamic_depth_jpeg`: a Dynamic Depth 1.0 JPEG: ``Device:Profiles`` (DepthPhoto),
  ``Device:Cameras`` with a ``Camera:DepthMap`` (FocalTable as base64 little-endian float32
  pairs), ``Device:Container`` listing the items, which are appended after the primary image.
* :func:`heic_with_depth`: pillow-heif's writer cannot store a depth image (libheif's public
  API has no call for it, strukturag/libheif#91), so this writes the HEIC with the libheif that
  pillow-heif bundles, through ctypes: the photo, a monochrome image with an ``auxC`` property
  ``urn:mpeg:hevc:2015:auxid:2`` and an ``auxl`` reference to the photo (ISO/IEC 23008-12
  auxiliary images). Such a file has no depth representation info (that lives in an HEVC SEI
  message libheif does not write); the representation types are tested on
  :func:`bokeh.depth.phone.heif_depth` with metadata as pillow-heif reports it.
"""

from __future__ import annotations

import base64
import ctypes
import glob
import hashlib
import io
import os
import struct

import numpy as np
from PIL import Image

_XMP_HEAD = b"http://ns.adobe.com/xap/1.0/\x00"
_EXT_HEAD = b"http://ns.adobe.com/xmp/extension/\x00"
_RDF = 'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'


def encode(image: np.ndarray, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def jpeg(pixels: np.ndarray, *, orientation: int = 1) -> bytes:
    """A plain JPEG (quality 95), with an EXIF orientation tag when ``orientation`` != 1."""
    kwargs = {"quality": 95}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    return encode(pixels, "JPEG", **kwargs)


def _packet(description: str) -> bytes:
    return (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {_RDF}>{description}'
            "</rdf:RDF></x:xmpmeta>").encode()  # fmt: skip


def _app1(payload: bytes) -> bytes:
    assert len(payload) + 2 <= 0xFFFF
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def insert_segments(data: bytes, segments: list[bytes]) -> bytes:
    """``data`` (a JPEG) with ``segments`` inserted after its leading APP0/APP1 segments."""
    pos = 2
    while data[pos] == 0xFF and data[pos + 1] in (0xE0, 0xE1):
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    return data[:pos] + b"".join(segments) + data[pos:]


def gdepth_jpeg(pixels: np.ndarray, codes: np.ndarray, *, fmt: str = "RangeInverse",
                near: float = 0.3, far: float = 4.1, mime: str = "image/png",
                focus: float | None = None, orientation: int = 1, units: str = "m",
                chunk: int = 30000, data: str | None = None, reverse: bool = False,
                drop: int | None = None) -> bytes:  # fmt: skip
    """A JPEG of ``pixels`` carrying ``codes`` (uint8/uint16 HxW) as GDepth, the data split
    over several extended-XMP segments of ``chunk`` bytes (``reverse``: in reverse order;
    ``drop``: without that segment). ``data`` replaces the base64 depth image."""
    depth = encode(codes, "PNG" if mime == "image/png" else "JPEG")
    data = base64.b64encode(depth).decode() if data is None else data
    ext = _packet('<rdf:Description rdf:about="" '
                  'xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" '
                  f'GDepth:Data="{data}"/>')  # fmt: skip
    guid = hashlib.md5(ext).hexdigest().upper()
    focus_attr = f' GFocus:FocalDistance="{focus}"' if focus is not None else ""
    std = _packet('<rdf:Description rdf:about="" '
                  'xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" '
                  'xmlns:GFocus="http://ns.google.com/photos/1.0/focus/" '
                  'xmlns:xmpNote="http://ns.adobe.com/xmp/note/" '
                  f'GDepth:Format="{fmt}" GDepth:Near="{near}" GDepth:Far="{far}" '
                  f'GDepth:Mime="{mime}" GDepth:Units="{units}"{focus_attr} '
                  f'xmpNote:HasExtendedXMP="{guid}"/>')  # fmt: skip
    extended = []
    for offset in range(0, len(ext), chunk):
        part = ext[offset : offset + chunk]
        header = guid.encode() + struct.pack(">II", len(ext), offset)
        extended.append(_app1(_EXT_HEAD + header + part))
    if drop is not None:
        del extended[drop]
    segments = [_app1(_XMP_HEAD + std), *(extended[::-1] if reverse else extended)]
    return insert_segments(jpeg(pixels, orientation=orientation), segments)


def xmp_jpeg(pixels: np.ndarray, description: str) -> bytes:
    """A JPEG whose standard XMP packet holds ``description`` (an rdf:Description) as is."""
    return insert_segments(jpeg(pixels), [_app1(_XMP_HEAD + _packet(description))])


def focal_table(pairs: list[tuple[float, float]]) -> str:
    return base64.b64encode(np.asarray(pairs, dtype="<f4").tobytes()).decode()


def dynamic_depth_jpeg(pixels: np.ndarray, codes: np.ndarray, *, fmt: str = "RangeInverse",
                       near: float = 0.3, far: float = 4.1, units: str = "Meters",
                       table: list[tuple[float, float]] | None = None,
                       padding: int = 4, length_delta: int = 0) -> bytes:  # fmt: skip
    """A Dynamic Depth JPEG: a confidence item and the PNG depth item (with ``padding`` bytes
    of padding) appended after the primary image, in the order the directory lists them."""
    confidence = encode(np.full(codes.shape, 255, np.uint8), "JPEG")
    depth = encode(codes, "PNG") + b"\x00" * padding
    table_attrs = ""
    if table is not None:
        table_attrs = (f' DepthMap:FocalTableEntryCount="{len(table)}" '
                       f'DepthMap:FocalTable="{focal_table(table)}"')  # fmt: skip
    ns = "http://ns.google.com/photos/dd/1.0/"
    xmlns = " ".join(
        f'xmlns:{p}="{ns}{p.lower()}/"'
        for p in ("Device", "Container", "Item", "Camera", "DepthMap", "Image", "Profile")
    )
    item = '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="{}" Item:Length="{}"' \
           '{} Item:DataURI="{}"/></rdf:li>'  # fmt: skip
    std = _packet(
        f'<rdf:Description rdf:about="" {xmlns}>'
        '<Device:Profiles><rdf:Seq><rdf:li rdf:parseType="Resource">'
        '<Device:Profile Profile:Type="DepthPhoto"><Profile:CameraIndices><rdf:Seq>'
        "<rdf:li>0</rdf:li></rdf:Seq></Profile:CameraIndices></Device:Profile>"
        "</rdf:li></rdf:Seq></Device:Profiles>"
        '<Device:Cameras><rdf:Seq><rdf:li rdf:parseType="Resource">'
        '<Device:Camera rdf:parseType="Resource"><Camera:Trait>Physical</Camera:Trait>'
        '<Camera:Image Image:ItemSemantic="Primary" Image:ItemURI="primary_image"/>'
        '<Camera:DepthMap DepthMap:ItemSemantic="Depth" '
        f'DepthMap:Format="{fmt}" DepthMap:Near="{near}" DepthMap:Far="{far}" '
        f'DepthMap:Units="{units}" DepthMap:DepthURI="android/depthmap" '
        f'DepthMap:ConfidenceURI="android/confidencemap" DepthMap:MeasureType="OpticRay"'
        f"{table_attrs}/>"
        "</Device:Camera></rdf:li></rdf:Seq></Device:Cameras>"
        "<Device:Container><Container:Directory><rdf:Seq>"
        + item.format("image/jpeg", 0, "", "primary_image")
        + item.format("image/jpeg", len(confidence), "", "android/confidencemap")
        + item.format("image/png", len(depth) + length_delta, f' Item:Padding="{padding}"',
                      "android/depthmap")
        + "</rdf:Seq></Container:Directory></Device:Container></rdf:Description>"
    )  # fmt: skip
    primary = insert_segments(jpeg(pixels), [_app1(_XMP_HEAD + std)])
    return primary + confidence + depth


# --------------------------------------------------------------------------------- HEIC


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("subcode", ctypes.c_int), ("message", ctypes.c_char_p)]


def _libheif():
    """The libheif shipped inside the pillow-heif wheel, or None."""
    try:
        import pillow_heif
    except ImportError:
        return None
    libs = os.path.join(os.path.dirname(pillow_heif.__file__), os.pardir, "pillow_heif.libs")
    found = glob.glob(os.path.join(libs, "libheif*.so*"))
    if not found:
        return None
    lib = ctypes.CDLL(found[0])
    vp, u32, cint = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int
    for name, res, args in [
        ("heif_context_alloc", vp, []),
        ("heif_context_free", None, [vp]),
        ("heif_image_create", _Error, [cint, cint, cint, cint, ctypes.POINTER(vp)]),
        ("heif_image_release", None, [vp]),
        ("heif_image_add_plane", _Error, [vp, cint, cint, cint, cint]),
        ("heif_image_get_plane", ctypes.c_void_p, [vp, cint, ctypes.POINTER(cint)]),
        ("heif_context_get_encoder_for_format", _Error, [vp, cint, ctypes.POINTER(vp)]),
        ("heif_encoder_set_lossless", _Error, [vp, cint]),
        ("heif_encoder_release", None, [vp]),
        ("heif_context_encode_image", _Error, [vp, vp, vp, vp, ctypes.POINTER(vp)]),
        ("heif_image_handle_get_item_id", u32, [vp]),
        ("heif_image_handle_release", None, [vp]),
        ("heif_context_set_primary_image", _Error, [vp, vp]),
        ("heif_context_add_item_reference", _Error, [vp, u32, u32, u32]),
        ("heif_item_add_raw_property", _Error,
         [vp, u32, u32, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, cint,
          ctypes.POINTER(u32)]),
        ("heif_context_write_to_file", _Error, [vp, ctypes.c_char_p]),
    ]:  # fmt: skip
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


LIBHEIF = _libheif()


def _check(error: _Error) -> None:
    if error.code:
        raise RuntimeError((error.message or b"libheif error").decode())


def _fourcc(text: str) -> int:
    return int.from_bytes(text.encode(), "big")


def _heif_image(pixels: np.ndarray):
    """A libheif image: RGB interleaved (H, W, 3) or monochrome (H, W), uint8."""
    lib, h, w = LIBHEIF, pixels.shape[0], pixels.shape[1]
    rgb = pixels.ndim == 3
    image = ctypes.c_void_p()
    # colourspace RGB = 1 / chroma interleaved RGB = 10; monochrome = 2 / 0; channel ids alike
    colourspace, chroma, channel = (1, 10, 10) if rgb else (2, 0, 0)
    _check(lib.heif_image_create(w, h, colourspace, chroma, ctypes.byref(image)))
    _check(lib.heif_image_add_plane(image, channel, w, h, 8))
    stride = ctypes.c_int()
    plane = lib.heif_image_get_plane(image, channel, ctypes.byref(stride))
    row = w * (3 if rgb else 1)
    for y in range(h):
        ctypes.memmove(plane + y * stride.value, np.ascontiguousarray(pixels[y]).tobytes(), row)
    return image


def heic_with_depth(path, pixels: np.ndarray, depth: np.ndarray | None) -> None:
    """Write a HEIC of ``pixels`` (uint8 RGB) with ``depth`` (uint8 HxW) as its auxiliary depth
    image (lossless), or without one when ``depth`` is None."""
    lib = LIBHEIF
    ctx, encoder = lib.heif_context_alloc(), ctypes.c_void_p()
    try:
        _check(lib.heif_context_get_encoder_for_format(ctx, 1, ctypes.byref(encoder)))  # HEVC
        _check(lib.heif_encoder_set_lossless(encoder, 1))
        handles = []
        for image in [pixels] + ([depth] if depth is not None else []):
            handle, img = ctypes.c_void_p(), _heif_image(image)
            _check(lib.heif_context_encode_image(ctx, img, encoder, None, ctypes.byref(handle)))
            lib.heif_image_release(img)
            handles.append(handle)
        _check(lib.heif_context_set_primary_image(ctx, handles[0]))
        if depth is not None:
            photo, aux = (lib.heif_image_handle_get_item_id(h) for h in handles)
            urn = b"\x00\x00\x00\x00urn:mpeg:hevc:2015:auxid:2\x00"  # version/flags + type
            prop = ctypes.c_uint32()
            _check(lib.heif_item_add_raw_property(ctx, aux, _fourcc("auxC"), None, urn,
                                                  len(urn), 1, ctypes.byref(prop)))  # fmt: skip
            _check(lib.heif_context_add_item_reference(ctx, _fourcc("auxl"), aux, photo))
        for handle in handles:
            lib.heif_image_handle_release(handle)
        _check(lib.heif_context_write_to_file(ctx, str(path).encode()))
    finally:
        if encoder:
            lib.heif_encoder_release(encoder)
        lib.heif_context_free(ctx)

"""The metadata a phone writes into a JPEG: its XMP packets and where the primary image ends.

* :func:`read_jpeg_xmp` walks the JPEG's segments (never its pixels) and returns the XMP
  properties of the standard packet (APP1 ``http://ns.adobe.com/xap/1.0/``) merged with the
  extended packet (APP1 ``http://ns.adobe.com/xmp/extension/``, reassembled from its chunks by
  GUID, offset and full length, as XMP Specification Part 3 describes);
* :func:`primary_end` finds the byte offset just after the primary image's EOI marker (Dynamic
  Depth appends its items there).
* Properties are a plain tree: ``{"{namespace}Name": value}`` where a value is a string, a list
  (``rdf:Seq``/``Bag``/``Alt``) or a nested dict (a struct, however RDF spells it: attributes,
  child elements, ``rdf:parseType="Resource"`` or a nested ``rdf:Description``).

Everything here is untrusted input: sizes are bounded before anything is allocated, documents
with a DOCTYPE (entity expansion) are refused, and every problem is an
:class:`~bokeh.errors.EmbeddedDepthError` with one sentence.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from bokeh.errors import EmbeddedDepthError

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
XML = "{http://www.w3.org/XML/1998/namespace}"
XMPNOTE = "{http://ns.adobe.com/xmp/note/}"
_STANDARD = b"http://ns.adobe.com/xap/1.0/\x00"
_EXTENDED = b"http://ns.adobe.com/xmp/extension/\x00"
MAX_EXTENDED_BYTES = 32 * 1024 * 1024  # GDepth data of a phone photo is a few MB at most
_MAX_NESTING = 32
_PREFIX = "The depth map stored in the photo cannot be read: "


def fail(reason: str) -> EmbeddedDepthError:
    return EmbeddedDepthError(_PREFIX + reason)


def is_jpeg(data: bytes) -> bool:
    return data[:3] == b"\xff\xd8\xff"


def read_jpeg_xmp(data: bytes) -> dict[str, Any]:
    """XMP properties of a JPEG (``data`` starts with SOI): the standard packet merged with the
    extended one (the one its ``xmpNote:HasExtendedXMP`` names). Reads segments up to the first
    scan only."""
    standard, chunks = None, []
    for marker, start, stop in _segments(data, find_end=False):
        if marker != 0xE1:
            continue
        if data.startswith(_STANDARD, start) and standard is None:
            standard = data[start + len(_STANDARD) : stop]
        elif data.startswith(_EXTENDED, start):
            chunks.append(data[start + len(_EXTENDED) : stop])
    properties = parse_xmp(standard) if standard else {}
    if chunks:
        guid = properties.get(f"{XMPNOTE}HasExtendedXMP")
        properties = {**properties, **parse_xmp(_extended(chunks, guid))}
    return properties


def primary_end(data: bytes) -> int:
    """Offset just after the primary image's EOI marker (where appended items start)."""
    for marker, _, stop in _segments(data, find_end=True):
        if marker == 0xD9:
            return stop
    raise fail("the JPEG has no end marker.")


def _segments(data: bytes, *, find_end: bool):
    """(marker, payload start, payload end) of each segment up to the first scan, or with
    ``find_end`` across the scans to the EOI, yielded as (0xD9, pos, pos + 2)."""
    pos, size = 2, len(data)
    while pos + 2 <= size:
        if data[pos] != 0xFF:
            raise fail("the JPEG's segment structure is damaged.")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            yield marker, pos, pos + 2
            return
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        if pos + 4 > size:
            raise fail("the JPEG is truncated.")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > size:
            raise fail("the JPEG is truncated or a segment length is wrong.")
        yield marker, pos + 4, pos + 2 + length
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            if not find_end:
                return
            pos = _after_scan(data, pos)


def _after_scan(data: bytes, pos: int) -> int:
    """Offset of the first marker after entropy-coded data (skipping FF00 and restarts)."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            raise fail("the JPEG's image data has no end marker.")
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos += 1 if following == 0xFF else 2
            continue
        return pos


def _extended(chunks: list[bytes], guid: Any) -> bytes:
    """Reassemble the extended XMP packet named by ``guid`` (or the first one seen)."""
    parts: dict[int, bytes] = {}
    total = None
    for chunk in chunks:
        if len(chunk) < 40:
            raise fail("an extended XMP segment is too short.")
        chunk_guid = chunk[:32].decode("ascii", "replace")
        if guid is None:
            guid = chunk_guid
        if chunk_guid != guid:
            continue
        full = int.from_bytes(chunk[32:36], "big")
        offset = int.from_bytes(chunk[36:40], "big")
        body = chunk[40:]
        if full > MAX_EXTENDED_BYTES:
            raise fail(f"its extended XMP claims {full} bytes (the limit is "
                       f"{MAX_EXTENDED_BYTES // 2**20} MB).")  # fmt: skip
        if total not in (None, full) or offset + len(body) > full:
            raise fail("its extended XMP segments do not fit together.")
        total = full
        parts[offset] = body
    if total is None:
        raise fail("the extended XMP named by the photo is missing.")
    packet = bytearray(total)
    covered = 0
    for offset in sorted(parts):
        if offset != covered:
            raise fail("its extended XMP is incomplete (a segment is missing).")
        packet[offset : offset + len(parts[offset])] = parts[offset]
        covered = offset + len(parts[offset])
    if covered != total:
        raise fail("its extended XMP is incomplete (a segment is missing).")
    return bytes(packet)


def parse_xmp(packet: bytes) -> dict[str, Any]:
    """Properties of every ``rdf:Description`` in an XMP packet, merged (see module docs)."""
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        raise fail("its XMP declares a DOCTYPE, which is refused.")
    try:
        root = ET.fromstring(packet.strip(b"\x00 \t\r\n"))
    except ET.ParseError:
        raise fail("its XMP is not well-formed XML.") from None
    rdf = root if root.tag == f"{RDF}RDF" else root.find(f".//{RDF}RDF")
    properties: dict[str, Any] = {}
    for description in [] if rdf is None else rdf.findall(f"{RDF}Description"):
        properties.update(_struct(description, 0))
    return properties


def _struct(element: ET.Element, depth: int) -> dict[str, Any]:
    if depth > _MAX_NESTING:
        raise fail("its XMP is nested too deeply.")
    out: dict[str, Any] = {
        k: v.strip() for k, v in element.attrib.items() if not k.startswith((RDF, XML))
    }
    for child in element:
        if not child.tag.startswith(RDF):
            out[child.tag] = _value(child, depth + 1)
    return out


def _value(element: ET.Element, depth: int) -> Any:
    for kind in ("Seq", "Bag", "Alt"):
        container = element.find(f"{RDF}{kind}")
        if container is not None:
            return [_value(li, depth + 1) for li in container.findall(f"{RDF}li")]
    description = element.find(f"{RDF}Description")
    if description is not None:
        return _struct(description, depth + 1)
    has_fields = any(not k.startswith((RDF, XML)) for k in element.attrib) or len(element)
    if element.get(f"{RDF}parseType") == "Resource" or has_fields:
        return _struct(element, depth + 1)
    return (element.text or "").strip()

"""What an upload's first bytes say before any decoder runs: the kind of file in words when no
decoder knows it, and the size a header claims (for decompression-bomb messages)."""

from __future__ import annotations

import re

from bokeh import heif


def megapixels(pixels: int) -> str:
    value = pixels / 1e6
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def too_large_message(head: bytes, message: str, max_pixels: int) -> str:
    """Message for PIL's own decompression-bomb refusal, with the size when we can tell it."""
    limit = f"the limit is {megapixels(max_pixels)} MP"
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        width = int.from_bytes(head[16:20], "big")
        height = int.from_bytes(head[20:24], "big")
        return f"Image is too large ({width}x{height} = {megapixels(width * height)} MP; {limit})."
    found = re.search(r"\((\d+) pixels\)", message)
    if found:
        return f"Image is too large ({megapixels(int(found.group(1)))} MP; {limit})."
    return f"Image is too large (its header claims a huge size; {limit})."


_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def diagnose(head: bytes) -> str:
    """Why PIL could not identify these bytes, in words (without the leading prefix)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in text:
        return "it looks like an SVG (vector) file; please upload a PNG or JPEG."
    if text.startswith(b"%pdf"):
        return "it is a PDF document; please upload a PNG or JPEG."
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS or brand in _AVIF_BRANDS:
            kind = "AVIF" if brand in _AVIF_BRANDS else "HEIC/HEIF"
            why = "which this installation cannot decode"
            if kind == "HEIC/HEIF":  # pillow-heif reads HEIC; without it, say so
                why = (
                    "but it is damaged or of a variant that cannot be decoded"
                    if heif.available()
                    else f"{why} (pillow-heif is not installed)"
                )
            return f"it looks like a {kind} photo, {why}; please convert it to JPEG or PNG."
        return "it looks like a video or other media file, not an image."
    if text.startswith((b"<!doctype html", b"<html")):
        return "it looks like a web page (HTML), not an image."
    if looks_like_text(head):
        return "it looks like a text file, not an image."
    return "the format is not recognised; please upload a PNG or JPEG."


def looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    for cut in range(4):  # the sniffed block may end inside a multi-byte character
        try:
            decoded = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        printable = sum(ch.isprintable() or ch in "\t\r\n\f" for ch in decoded)
        return printable >= 0.95 * max(1, len(decoded))
    return False


__all__ = ["diagnose", "looks_like_text", "megapixels", "too_large_message"]

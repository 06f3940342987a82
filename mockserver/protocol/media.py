"""Just enough of image and PDF formats to size them, as the API does when it counts tokens
and checks that the bytes match the declared media type."""

from __future__ import annotations

import base64
import binascii
import re
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

import orjson

IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def decode_base64(data: str) -> bytes | None:
    """Strict base64 decoding; ``None`` when the text is not base64."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Base64Media:
    """What validation and token counting read from base64 ``data`` (the bytes are not kept)."""

    length: int
    """Decoded size in bytes."""
    image_type: str | None
    """:func:`sniff_image_type` of the bytes."""
    image_size: tuple[int, int] | None
    """:func:`image_size` of the bytes."""
    pdf_pages: int | None
    """:func:`pdf_page_count` of the bytes."""
    pdf_text: str | None = None
    """:func:`pdf_text` of the bytes (PDFs only)."""


@dataclass(frozen=True, slots=True)
class FileFacts:
    """A stored file (Files API) as validation and token counting see it: what its bytes told when
    it was uploaded (mockserver/protocol/files.py reads them), never the bytes."""

    id: str
    mime_type: str
    size_bytes: int
    downloadable: bool = False
    image_size: tuple[int, int] | None = None
    pdf_pages: int | None = None
    text_tokens: int = 0
    """Tokens of the text a ``document`` block reads: a PDF's extracted text, or the plain text."""
    text_sentences: int = 0
    """Sentences of that text, as citation chunking cuts them."""
    expired: bool = False
    """Past its ``expires_at``: its content is gone."""

    @property
    def is_image(self) -> bool:
        return self.mime_type in IMAGE_MEDIA_TYPES

    def to_json(self) -> bytes:
        """What the bytes told (a store keeps it beside the file's other fields)."""
        data: dict[str, Any] = {}
        if self.image_size is not None:
            data["image_size"] = list(self.image_size)
        if self.pdf_pages is not None:
            data["pdf_pages"] = self.pdf_pages
        if self.text_tokens:
            data["text_tokens"] = self.text_tokens
        if self.text_sentences:
            data["text_sentences"] = self.text_sentences
        return orjson.dumps(data)

    @classmethod
    def of(
        cls, *, file_id: str, mime_type: str, size_bytes: int, downloadable: bool, facts: bytes | str, expired: bool = False
    ) -> "FileFacts":
        """From a stored file's fields and :meth:`to_json`'s bytes."""
        data = orjson.loads(facts) if facts else {}
        size = data.get("image_size")
        pages = data.get("pdf_pages")
        return cls(
            id=file_id, mime_type=mime_type, size_bytes=size_bytes, downloadable=downloadable,
            image_size=(int(size[0]), int(size[1])) if isinstance(size, list) and len(size) == 2 else None,
            pdf_pages=int(pages) if pages is not None else None, text_tokens=int(data.get("text_tokens") or 0),
            text_sentences=int(data.get("text_sentences") or 0), expired=expired,
        )


@lru_cache(maxsize=8)
def read_base64(data: str) -> Base64Media | None:
    """The facts of base64 media ``data``, or ``None`` when it is not base64.

    Validation and token counting both read each media block of a request; the small cache
    lets the second reader skip decoding it again.
    """
    raw = decode_base64(data)
    if raw is None:
        return None
    pages = pdf_page_count(raw)
    text = pdf_text(raw) if pages is not None else None
    return Base64Media(len(raw), sniff_image_type(raw), image_size(raw), pages, text)


def sniff_image_type(raw: bytes) -> str | None:
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if raw.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if raw[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) read from the header, or ``None`` when it cannot be read."""
    kind = sniff_image_type(raw)
    try:
        if kind == "image/png" and len(raw) >= 24:
            return struct.unpack(">II", raw[16:24])
        if kind == "image/gif" and len(raw) >= 10:
            return struct.unpack("<HH", raw[6:10])
        if kind == "image/webp":
            return _webp_size(raw)
        if kind == "image/jpeg":
            return _jpeg_size(raw)
    except struct.error:
        return None
    return None


def _webp_size(raw: bytes) -> tuple[int, int] | None:
    chunk = raw[12:16]
    if chunk == b"VP8X" and len(raw) >= 30:
        w = int.from_bytes(raw[24:27], "little") + 1
        h = int.from_bytes(raw[27:30], "little") + 1
        return w, h
    if chunk == b"VP8 " and len(raw) >= 30:
        w, h = struct.unpack("<HH", raw[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(raw) >= 25:
        bits = int.from_bytes(raw[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(raw):
        if raw[i] != 0xFF:
            i += 1
            continue
        marker = raw[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", raw[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", raw[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


_PAGE = re.compile(rb"/Type\s*/Page(?!s)")


def pdf_page_count(raw: bytes) -> int | None:
    """Pages of a PDF (counting page objects), or ``None`` when the bytes are not a PDF."""
    if not raw.startswith(b"%PDF-"):
        return None
    return max(1, len(_PAGE.findall(raw)))


# Linear time, whatever the bytes: an operand stops at the next opener of its kind (a string at
# "(", an array at "["), and an escaped opener starts none, so no byte is read from more than one
# start. Reading on to the closer (as these did) read the rest of the stream again from every "("
# or "[" without one: quadratic, in the loop (30 KB of "(" took 15 seconds, every client waiting).
# Literal strings with balanced parentheses inside were not read before either.
_STREAM_START = re.compile(rb"stream\r?\n")
_TEXT_OP = re.compile(rb"(?<!\\)\[((?:\\.|[^\[\]\\])*)\]\s*TJ|(?<!\\)\(((?:\\.|[^\\()])*)\)\s*(?:Tj|'|\")|\bET\b", re.S)
_STRING = re.compile(rb"(?<!\\)\(((?:\\.|[^\\()])*)\)")
_ESCAPE = re.compile(rb"\\([nrtbf()\\]|[0-7]{1,3})")
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"", b"f": b"", b"(": b"(", b")": b")", b"\\": b"\\"}
PDF_TEXT_LIMIT = 2_000_000  # characters of extracted text kept; more is not needed to count
PDF_STREAM_LIMIT = 8 * 1024 * 1024  # bytes inflated from one content stream


def _unescape(literal: bytes) -> bytes:
    """A literal string's escapes resolved (``\\b`` and ``\\f`` dropped: their ``b""`` is falsy, so
    an ``or`` read them as octal and raised)."""
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(1)] if m.group(1) in _ESCAPES else bytes([int(m.group(1), 8) & 0xFF]), literal)


def pdf_text(raw: bytes) -> str:
    """The text a PDF shows, as far as plain page-content streams tell it: the literal strings
    of its text-showing operators (Tj, TJ, ', "), one line per text object, from uncompressed
    and Flate-compressed streams. Fonts with custom encodings (hex strings) give nothing, which
    undercounts such PDFs; the token estimate uses this only to size the text the API extracts."""
    lines: list[str] = []
    size = 0
    for data in _streams(raw):
        if data[:1] == b"x":  # a zlib header: FlateDecode (inflated only so far, against zip bombs)
            try:
                data = zlib.decompressobj().decompress(data, PDF_STREAM_LIMIT)
            except zlib.error:
                continue
        if b"BT" not in data:
            continue
        parts: list[bytes] = []
        for op in _TEXT_OP.finditer(data):
            if op.group(1) is not None:
                parts.extend(_unescape(s) for s in _STRING.findall(op.group(1)))
            elif op.group(2) is not None:
                parts.append(_unescape(op.group(2)))
            elif parts:
                line = b"".join(parts).decode("latin-1")
                lines.append(line)
                size += len(line)
                parts = []
        if parts:
            lines.append(b"".join(parts).decode("latin-1"))
        if size > PDF_TEXT_LIMIT:
            break
    return "\n".join(lines)


def _streams(raw: bytes) -> Iterator[bytes]:
    """The content of each ``stream … endstream`` (after a ``stream`` without an end, none: a
    lazy regex would look for one from every later ``stream``)."""
    at = 0
    while (start := _STREAM_START.search(raw, at)) is not None:
        end = raw.find(b"endstream", start.end())
        if end < 0:
            return
        yield raw[start.end() : end]
        at = end + len(b"endstream")

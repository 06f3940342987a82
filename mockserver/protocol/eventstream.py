"""AWS EventStream (``application/vnd.amazon.eventstream``): the binary framing of Bedrock's
``invoke-with-response-stream``. Pure functions, no I/O.

One message on the wire::

    total length (uint32 BE) | headers length (uint32 BE) | CRC32 of those 8 bytes
    headers: name length (uint8), name, value type (uint8, 7 = string), value length (uint16 BE), value
    payload
    CRC32 of everything before it (uint32 BE)

Bedrock sends each event of the Anthropic stream as a ``chunk`` event whose payload is
``{"bytes": base64(<the event's JSON>)}``, and an error as an ``exception`` message whose
``:exception-type`` names the error (botocore's ``bedrock-runtime`` service model, shape
``ResponseStream``; docs/protocol.md "Bedrock").
"""

from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import dataclass

import orjson

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_PRELUDE = struct.Struct(">II")
_STRING = 7  # the header value type of a UTF-8 string


def _crc(data: bytes, start: int = 0) -> int:
    return zlib.crc32(data, start) & 0xFFFFFFFF


def encode_headers(headers: list[tuple[str, str]]) -> bytes:
    out = bytearray()
    for name, value in headers:
        raw_name, raw_value = name.encode(), value.encode()
        out += bytes((len(raw_name),)) + raw_name + bytes((_STRING,)) + struct.pack(">H", len(raw_value)) + raw_value
    return bytes(out)


def message(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One EventStream message with its prelude and message CRCs."""
    raw_headers = encode_headers(headers)
    total = _PRELUDE.size + 4 + len(raw_headers) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(raw_headers))
    head = prelude + struct.pack(">I", _crc(prelude)) + raw_headers + payload
    return head + struct.pack(">I", _crc(head))


def chunk(data: bytes) -> bytes:
    """A Bedrock ``chunk`` event carrying ``data`` (one Anthropic stream event's JSON)."""
    payload = b'{"bytes":"' + base64.b64encode(data) + b'"}'
    return message([(":event-type", "chunk"), (":content-type", "application/json"), (":message-type", "event")], payload)


def exception(kind: str, text: str) -> bytes:
    """A Bedrock exception event (``kind`` as the stream names it, e.g. ``throttlingException``)."""
    payload = orjson.dumps({"message": text})
    return message([(":exception-type", kind), (":content-type", "application/json"), (":message-type", "exception")], payload)


@dataclass(frozen=True, slots=True)
class Message:
    headers: dict[str, str]
    payload: bytes

    @property
    def chunk_data(self) -> bytes | None:
        """The bytes a ``chunk`` event carries (base64-decoded), or ``None``."""
        if self.headers.get(":event-type") != "chunk":
            return None
        try:
            encoded = orjson.loads(self.payload).get("bytes")
            return base64.b64decode(encoded) if isinstance(encoded, str) else None
        except (orjson.JSONDecodeError, AttributeError, ValueError):
            return None


def _headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    at = 0
    while at < len(raw):
        size = raw[at]
        name = raw[at + 1 : at + 1 + size].decode(errors="replace")
        at += 1 + size
        kind = raw[at]
        at += 1
        if kind != _STRING:  # only strings are sent here; anything else ends the walk
            break
        (length,) = struct.unpack_from(">H", raw, at)
        headers[name] = raw[at + 2 : at + 2 + length].decode(errors="replace")
        at += 2 + length
    return headers


def split(body: bytes) -> list[bytes]:
    """Cut a stream into its messages by their length prefixes; the pieces join back to
    ``body`` (a trailing partial message is the last piece)."""
    pieces: list[bytes] = []
    at = 0
    while at + _PRELUDE.size <= len(body):
        (total, _) = _PRELUDE.unpack_from(body, at)
        if total < 16:
            break
        pieces.append(body[at : at + total])
        at += total
    if at < len(body):
        pieces.append(body[at:])
    return pieces


def decode(raw: bytes) -> Message | None:
    """One message's headers and payload (CRCs checked), or ``None`` if ``raw`` is not one."""
    if len(raw) < 16:
        return None
    total, headers_length = _PRELUDE.unpack_from(raw)
    if total != len(raw) or struct.unpack_from(">I", raw, 8)[0] != _crc(raw[:8]):
        return None
    if struct.unpack_from(">I", raw, total - 4)[0] != _crc(raw[: total - 4]):
        return None
    headers = _headers(raw[12 : 12 + headers_length])
    return Message(headers, raw[12 + headers_length : total - 4])

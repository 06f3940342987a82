"""Server-sent events: framed as the real API frames them, split and parsed back (the one SSE
module: the renderer, faults, cassettes and the journal all use it), and the event plan of a
complete Message.

Framing (docs/protocol.md): ``event: <name>\\n`` + ``data: <compact JSON>\\n`` + ``\\n``; ``ping`` data
is exactly ``{"type": "ping"}``; other payloads usually carry 1–15 spaces of padding before the
final ``}``, which strict parsers must tolerate, so we pad too (seeded, so repeatable).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any, Iterator

import orjson

from mockserver.protocol.message import fed_back_tokens
from mockserver.protocol.tokens import json_default, split_pieces

PING_DATA = b'{"type": "ping"}'
_BLANK_LINE = re.compile(rb"\r\n\r\n|\n\n")
_FRAME = re.compile(rb"^(event:[^\n]*\n)?data: ?(.*?)(\n\n|\r\n\r\n)?$", re.DOTALL)
_EVENTS = re.compile(rb"(?:^|\n)(?:event: ?([^\r\n]*)\r?\n)?data: ?([^\r\n]*)")
_CANONICAL = re.compile(rb"(?:event: ([^\r\n]*)\n)?data: ([^\r\n]*)\n\n")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as the API writes it."""
    return orjson.dumps(value)


def frame(event: str | None, data: str | bytes) -> bytes:
    """One event on the wire. ``event=None`` leaves out the ``event:`` line."""
    payload = data.encode() if isinstance(data, str) else data
    head = b"" if event is None else b"event: " + event.encode() + b"\n"
    return head + b"data: " + payload + b"\n\n"


MAX_PAD = 15
PADDED_SHARE = 0.93


def pad_width(rng: random.Random) -> int:
    """How many spaces pad one data line: 0, or 1 to 15 (about 93% of lines are padded).

    The draws of ``rng.randint(1, 15) if rng.random() < 0.93 else 0``, made cheaper: randint(1, 15)
    is ``1 +`` a 4-bit draw retried while it is 15 (CPython's ``_randbelow``), so seeded streams
    keep their bytes (tests/unit/test_protocol.py checks the two agree)."""
    if rng.random() >= PADDED_SHARE:
        return 0
    bits = rng.getrandbits(4)
    while bits >= MAX_PAD:
        bits = rng.getrandbits(4)
    return bits + 1


def pad(json_bytes: bytes, rng: random.Random | None) -> bytes:
    """Insert the real API's 0–15 spaces before the closing brace (about 93% of lines are padded)."""
    if rng is None or not json_bytes.endswith(b"}"):
        return json_bytes
    n = pad_width(rng)
    return json_bytes[:-1] + b" " * n + b"}" if n else json_bytes


def split(body: bytes) -> list[bytes]:
    """Cut an event stream after each blank line (``\\n\\n`` or ``\\r\\n\\r\\n``); the pieces join back to ``body``."""
    frames: list[bytes] = []
    start = 0
    for blank in _BLANK_LINE.finditer(body):
        frames.append(body[start : blank.end()])
        start = blank.end()
    if start < len(body):
        frames.append(body[start:])
    return frames


@dataclass(frozen=True, slots=True)
class FrameParts:
    """One event's bytes in three parts: the ``event:`` line (with its newline, or empty), the
    data, and the blank line that ends it (or empty)."""

    head: bytes
    data: bytes
    end: bytes

    @property
    def name(self) -> str | None:
        return self.head[6:].strip().decode(errors="replace") if self.head else None


def parse_frame(raw: bytes) -> FrameParts | None:
    """The parts of one ``event:``/``data:`` event, or ``None`` when ``raw`` is not one."""
    match = _FRAME.match(raw)
    if match is None:
        return None
    return FrameParts(match.group(1) or b"", match.group(2), match.group(3) or b"")


def canonical(raw: bytes) -> tuple[str | None, bytes] | None:
    """``(event name or None, data)`` of one frame exactly as the API writes them (an optional
    ``event:`` line, one ``data:`` line, LF endings); ``None`` for anything else (comments,
    ``id:`` lines, several data lines, CRLF), which must be kept byte for byte."""
    match = _CANONICAL.fullmatch(raw)
    if match is None:
        return None
    name = match.group(1)
    return (name.decode(errors="replace") if name is not None else None), match.group(2)


def events(body: bytes) -> list[tuple[str | None, bytes]]:
    """``(event name or None, data)`` for each event in a stream, in order (lenient: CRLF too)."""
    return [(name.decode(errors="replace") or None, data) for name, data in _EVENTS.findall(body)]


@dataclass(slots=True)
class PlannedEvent:
    """An event of a Message's stream; ``tokens`` is the output it carries, for pacing."""

    name: str
    data: dict[str, Any]
    tokens: int = 0

    def encode(self, rng: random.Random | None = None) -> bytes:
        if self.name == "ping":
            return frame("ping", PING_DATA)
        return frame(self.name, pad(dumps(self.data), rng))


PING_FRAME = frame("ping", PING_DATA)
_SPACES = tuple(b" " * n for n in range(MAX_PAD + 1))
_HEADS = {name: b"event: " + name.encode() + b"\ndata: " for name in (
    "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop",
)}


def encode_all(events: list[PlannedEvent], rng: random.Random | None = None) -> bytes:
    """``b"".join(event.encode(rng) for event in events)``, in one pass: the same bytes from the
    same draws, without a frame per event (a Message's stream when nothing counts its events)."""
    parts: list[bytes] = []
    append = parts.append
    heads = _HEADS
    for event in events:
        name = event.name
        if name == "ping":
            append(PING_FRAME)
            continue
        head = heads.get(name)
        append(head if head is not None else b"event: " + name.encode() + b"\ndata: ")
        payload = orjson.dumps(event.data)
        if rng is not None and payload.endswith(b"}"):
            width = pad_width(rng)
            if width:
                append(payload[:-1])
                append(_SPACES[width])
                append(b"}\n\n")
                continue
        append(payload)
        append(b"\n\n")
    return b"".join(parts)


def _chunks(pieces: list[str], rng: random.Random, low: int, high: int) -> Iterator[tuple[str, int]]:
    i = 0
    while i < len(pieces):
        chunk = pieces[i : i + rng.randint(low, high)]
        yield "".join(chunk), len(chunk)
        i += len(chunk)


def _json_chunks(text: str, rng: random.Random) -> Iterator[str]:
    """``input_json_delta`` fragments: the first is ``""`` as on the wire, the rest 1–24 characters."""
    yield ""
    i = 0
    while i < len(text):
        n = rng.randint(1, 24)
        yield text[i : i + n]
        i += n


def _block_start(block: dict[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "text":
        if block.get("citations"):  # key order as recorded: citations first
            return {"citations": [], "type": "text", "text": ""}
        return {"type": "text", "text": ""}
    if kind == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        return {k: ({} if k == "input" else v) for k, v in block.items()}
    return block


def _block_deltas(block: dict[str, Any], index: int, rng: random.Random) -> Iterator[PlannedEvent]:
    kind = block.get("type")
    if kind == "text":
        for citation in block.get("citations") or ():
            yield PlannedEvent(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": {"type": "citations_delta", "citation": citation}},
            )
        for text, n in _chunks(split_pieces(block.get("text", "")), rng, 1, 4):
            delta = {"type": "text_delta", "text": text}
            yield PlannedEvent("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}, n)
    elif kind == "thinking":
        for text, n in _chunks(split_pieces(block.get("thinking", "")), rng, 2, 8):
            delta = {"type": "thinking_delta", "thinking": text}
            yield PlannedEvent("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}, n)
        delta = {"type": "signature_delta", "signature": block.get("signature", "")}
        yield PlannedEvent("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
    elif kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        arguments = block.get("input", {})
        # A server tool's input streams as JSON with ", " and ": " (every recorded web_search call).
        text = dumps(arguments).decode() if kind == "tool_use" else json.dumps(arguments, ensure_ascii=False, default=json_default)
        for part in _json_chunks(text, rng):
            delta = {"type": "input_json_delta", "partial_json": part}
            yield PlannedEvent("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}, 1 if part else 0)


# Where the real API puts its one ``ping`` (39 recorded streams, docs/protocol.md "SSE"): right
# after the first ``content_block_start`` in 32; after the first one or two deltas of that block in
# 5 (one after 1 delta, four after 2). One ping per stream here; the recorded extras between
# blocks (1 stream) and the stream without one (a server-tool stream) are not reproduced.
PING_AFTER_DELTAS = ((32 / 37, 0), (33 / 37, 1), (1.0, 2))


def _ping_after(rng: random.Random) -> int:
    """How many deltas of the first block come before the ping (drawn once per message)."""
    draw = rng.random()
    return next(deltas for bound, deltas in PING_AFTER_DELTAS if draw < bound)


def message_events(message: dict[str, Any], rng: random.Random) -> list[PlannedEvent]:
    """The full event sequence whose accumulation is exactly ``message``; the ``ping``'s place is
    drawn from ``rng`` (so it repeats for a seeded rng) as the real API's varies."""
    ping_after = _ping_after(rng)
    usage = message.get("usage") or {}
    final_output = int(usage.get("output_tokens", 0))
    start_usage = dict(usage)
    start_usage["output_tokens"] = min(final_output, 1 + rng.randint(0, 7)) if final_output else 0
    start_usage.pop("output_tokens_details", None)
    start_usage.pop("server_tool_use", None)
    # A server tool loop's results are input of its later iterations: message_start shows the
    # request's own input, message_delta the total (every recorded server-tool stream).
    fed = fed_back_tokens(message.get("content") or [])
    if fed and isinstance(start_usage.get("input_tokens"), int) and start_usage["input_tokens"] > fed:
        start_usage["input_tokens"] -= fed
    start_message = {k: v for k, v in message.items() if k not in ("container",)}
    start_message.update(content=[], stop_reason=None, stop_sequence=None, usage=start_usage)
    if "stop_details" in message:
        start_message["stop_details"] = None

    events = [PlannedEvent("message_start", {"type": "message_start", "message": start_message})]
    ping = PlannedEvent("ping", {"type": "ping"})
    content = message.get("content") or []
    if not content:
        events.append(ping)
    for index, block in enumerate(content):
        events.append(
            PlannedEvent("content_block_start", {"type": "content_block_start", "index": index, "content_block": _block_start(block)})
        )
        deltas = list(_block_deltas(block, index, rng))
        if index == 0:  # after ping_after deltas, or all of them when the block has fewer
            cut = min(ping_after, len(deltas))
            deltas.insert(cut, ping)
        events.extend(deltas)
        events.append(PlannedEvent("content_block_stop", {"type": "content_block_stop", "index": index}))

    delta: dict[str, Any] = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    if "stop_details" in message:
        delta["stop_details"] = message.get("stop_details")
    if message.get("container") is not None:
        delta["container"] = message["container"]
    delta_usage: dict[str, Any] = {
        key: usage[key]
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        if usage.get(key) is not None
    }
    delta_usage["output_tokens"] = final_output
    for key in ("server_tool_use", "output_tokens_details"):
        if usage.get(key) is not None:
            delta_usage[key] = usage[key]
    events.append(PlannedEvent("message_delta", {"type": "message_delta", "delta": delta, "usage": delta_usage}))
    events.append(PlannedEvent("message_stop", {"type": "message_stop"}))
    return events

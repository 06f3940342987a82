"""Deliver a reply through its faults: latency, pacing, resets, drops, malformed SSE, slow bodies.

Every reply kind is first turned into the same thing, a list of *frames* (the bytes of one SSE
event, or one chunk of a body) with the output tokens each carries; the faults then act on
frames and bytes only. That is why each fault works on JSON bodies, Message streams, raw event
scripts and replayed bytes alike. Only replies that carry faults (or scripted event delays) come
here; everything else takes the plain path in ``delivery.py``.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterable

import orjson
from aiohttp import web
from multidict import CIMultiDict

from mockserver.cassettes.model import split_sse
from mockserver.pipeline.exchange import ApiRequest, BytesReply, ErrorReply, EventsReply, JsonReply, MessageReply, Reply, SseEvent
from mockserver.faults.spec import Faults
from mockserver.protocol.errors import ApiError
from mockserver.protocol.sse import frame as sse_frame
from mockserver.protocol.tokens import count_text
from mockserver.render.delivery import DISCONNECTED, Delivered, _scripted, bytes_headers, error_headers, is_event_stream, json_headers, message_stream, sse_headers
from mockserver.pipeline.root import ServerState

NO_FAULTS = Faults()
POLL_SECONDS = 0.02  # how often a fault's pause checks that the client is still there
_EVENT = re.compile(rb"^(event:[^\n]*\n)?data: ?(.*?)(\n\n|\r\n\r\n)?$", re.DOTALL)
UNKNOWN_EVENT = sse_frame("mock_unknown_event", b'{"type":"mock_unknown_event","note":"injected by mockserver"}')


@dataclass(slots=True)
class Frame:
    raw: bytes
    tokens: int = 0
    delay: float = 0.0


class _Drop:
    """Marker frame: close the connection here."""


DROP = _Drop()


@dataclass(slots=True)
class Plan:
    status: int
    headers: CIMultiDict[str]
    frames: AsyncIterator[Frame]
    streamed: bool
    length: int | None = None
    reason: str | None = None


async def deliver_faulted(http: web.Request, api: ApiRequest, reply: Reply, state: ServerState) -> tuple[web.StreamResponse, Delivered]:
    faults = reply.faults or NO_FAULTS
    notes: list[str] = []
    replaced: Reply | None = None
    if faults.error_probability and state.fault_rng.random() < faults.error_probability:
        error = faults.injected_error()
        replaced = reply = ErrorReply(error=error, origin=reply.origin, faults=reply.faults)
        notes.append(f"injected {error.status} {error.type}")

    wait = faults.latency
    if isinstance(reply, MessageReply) and not api.stream:
        # A non-streamed answer arrives whole, once the last token is written.
        out = int(reply.message.get("usage", {}).get("output_tokens") or 0)
        wait += faults.ttft + (out / faults.tokens_per_second if faults.tokens_per_second else 0.0)
    if wait > 0:
        try:
            await pause(http, wait)
        except DISCONNECTED:
            return web.Response(status=204), Delivered(0, notes=(*notes, "client disconnected"), reply=replaced)

    if faults.reset:
        abort(http, rst=True)
        notes.append("connection reset before headers")
        return web.Response(status=204), Delivered(0, notes=tuple(notes), reply=replaced)

    plan = _plan(http, api, reply, state)
    if not plan.streamed and faults.stream_only:
        notes.append("stream faults skipped: not a stream")
    if not plan.streamed and plan.length is not None and not faults.slow_body_chunk and faults.drop_after_bytes is None:
        # Nothing left to do to the bytes: answer as the plain path does, so the exchange is
        # journaled before the client has the response.
        raw = b"".join([frame.raw async for frame in plan.frames])
        response = web.Response(status=plan.status, reason=plan.reason, body=raw, headers=plan.headers)
        return response, Delivered(plan.status, raw, notes=tuple(notes), reply=replaced)
    frames = plan.frames
    if plan.streamed:
        frames = _stream_faults(frames, faults, notes, api.request_id)
    return await _write(http, plan, frames, faults, notes, replaced)


# -- turning replies into frames ---------------------------------------------------------------
def _plan(http: web.Request, api: ApiRequest, reply: Reply, state: ServerState) -> Plan:
    if isinstance(reply, ErrorReply):
        headers = error_headers(state, api.request_id, reply, api.model)
        return _json_plan(reply.error.status, headers, reply.error.body(api.request_id))
    if isinstance(reply, MessageReply):
        if api.stream:
            events, padding = message_stream(state, reply.message)
            frames = [Frame(e.encode(padding), e.tokens) for e in events]
            return Plan(200, sse_headers(state, api, 200, reply.headers), _aiter(frames), streamed=True)
        return _json_plan(200, json_headers(state, api, 200, reply.headers), reply.message)
    if isinstance(reply, JsonReply):
        return _json_plan(reply.status, json_headers(state, api, reply.status, reply.headers), reply.body)
    if isinstance(reply, EventsReply):
        rng = state.wire_rng if state.config.sse_padding else None
        frames = [Frame(_scripted(e, rng), _event_tokens(e), e.delay) for e in reply.events]
        return Plan(reply.status, sse_headers(state, api, reply.status, reply.headers), _aiter(frames), streamed=True)
    if isinstance(reply, BytesReply):
        headers = bytes_headers(api, reply)
        streamed = is_event_stream(headers)
        if isinstance(reply.body, bytes):
            chunks = split_sse(reply.body) if streamed else [reply.body]
            length = None if streamed else len(reply.body)
            return Plan(reply.status, headers, _aiter([Frame(c) for c in chunks]), streamed, length, reply.reason)
        return Plan(reply.status, headers, _chunks(reply.body), streamed, None, reply.reason)
    raise TypeError(f"unknown reply type {type(reply).__name__}")


def _json_plan(status: int, headers: CIMultiDict[str], body: Any) -> Plan:
    """A JSON body as one frame; ``headers`` are complete (``error_headers`` or ``json_headers``)."""
    raw = orjson.dumps(body)
    return Plan(status, headers, _aiter([Frame(raw)]), streamed=False, length=len(raw))


def _event_tokens(event: SseEvent) -> int:
    """Output tokens a scripted event carries (for pacing): the text of its delta."""
    data = event.data
    if not isinstance(data, dict) or data.get("type") != "content_block_delta":
        return 0
    delta = data.get("delta")
    if not isinstance(delta, dict):
        return 0
    text = delta.get("text") or delta.get("thinking") or ""
    if isinstance(text, str) and text:
        return count_text(text)
    return 1 if delta.get("partial_json") else 0


async def _aiter(frames: Iterable[Frame]) -> AsyncIterator[Frame]:
    for frame in frames:
        yield frame


async def _chunks(body: Any) -> AsyncIterator[Frame]:
    async for chunk in body:
        yield Frame(chunk)


# -- stream faults -----------------------------------------------------------------------------
async def _stream_faults(frames: AsyncIterator[Frame], faults: Faults, notes: list[str], request_id: str) -> AsyncIterator[Any]:
    """Malformed events, a mid-stream ``event: error`` and drops, counted in events."""
    index = 0
    async for frame in frames:
        if faults.stream_error_after is not None and index >= faults.stream_error_after:
            notes.append(f"event: error after {index} events")
            yield _error_frame(faults, request_id)
            return
        if faults.drop_after_events is not None and index >= faults.drop_after_events:
            notes.append(f"dropped after {index} events")
            yield DROP
            return
        if faults.malformed is not None and index == faults.malformed_at:
            notes.append(f"malformed event {index}: {faults.malformed}")
            if faults.malformed == "unknown_event":
                yield Frame(UNKNOWN_EVENT)
            else:
                frame = Frame(corrupt(frame.raw, faults.malformed), frame.tokens, frame.delay)
        yield frame
        index += 1
    # The stream was shorter than the fault's count: the fault happens at its end.
    if faults.stream_error_after is not None:
        notes.append(f"event: error after {index} events")
        yield _error_frame(faults, request_id)
    elif faults.drop_after_events is not None:
        notes.append(f"dropped after {index} events")
        yield DROP


def _error_frame(faults: Faults, request_id: str) -> Frame:
    error = ApiError(200, faults.stream_error_message, type=faults.stream_error_type)
    return Frame(sse_frame("error", orjson.dumps(error.body(request_id))))


def corrupt(raw: bytes, kind: str) -> bytes:
    """One SSE event, broken the way ``kind`` says (bad JSON, no ``event:`` line, bad UTF-8)."""
    match = _EVENT.match(raw)
    head, payload, end = (match.group(1) or b"", match.group(2), match.group(3) or b"") if match else (b"", raw, b"")
    if kind == "bad_json":
        payload = payload[: max(1, len(payload) // 2)]
    elif kind == "missing_event_line":
        head = b""
    elif kind == "bad_utf8":
        at = payload.find(b'":"')
        at = at + 3 if at >= 0 else len(payload) // 2
        payload = payload[:at] + b"\xff\xfe" + payload[at:]
    if not match:
        return payload
    return head + b"data: " + payload + (end or b"\n\n")


# -- writing -----------------------------------------------------------------------------------
async def _write(
    http: web.Request,
    plan: Plan,
    frames: AsyncIterator[Any],
    faults: Faults,
    notes: list[str],
    replaced: Reply | None,
) -> tuple[web.StreamResponse, Delivered]:
    response = web.StreamResponse(status=plan.status, reason=plan.reason, headers=plan.headers)
    if plan.length is not None:
        response.content_length = plan.length
    else:
        response.enable_chunked_encoding()
    delivered = Delivered(plan.status, streamed=plan.streamed, reply=replaced)
    sent: list[bytes] = []
    total = 0
    budget = faults.drop_after_bytes
    tps = faults.tokens_per_second
    pace = bool(faults.ttft or tps)
    loop = asyncio.get_running_loop()
    drop = False
    try:
        await response.prepare(http)
        start = loop.time()
        tokens_sent = 0
        async for frame in frames:
            if frame is DROP:
                drop = True
                break
            if frame.delay:
                await pause(http, frame.delay)
            if pace and frame.tokens:
                due = start + faults.ttft + (max(0, tokens_sent + frame.tokens - 1) / tps if tps else 0.0)
                delay = due - loop.time()
                if delay > 0:
                    await pause(http, delay)
                tokens_sent += frame.tokens
            data = frame.raw
            if budget is not None and total + len(data) >= budget:
                data = data[: budget - total]
                drop = True
                notes.append(f"dropped after {budget} bytes")
            if data:
                await _send(http, response, data, faults)
                sent.append(data)
                total += len(data)
            if drop:
                break
        if budget is not None and not drop and total >= budget:
            drop = True
        if drop:
            abort(http, rst=False)
        # else: aiohttp writes the end of the body after the handler returns, so after the
        # exchange is journaled (see delivery._stream).
    except DISCONNECTED:
        notes.append("client disconnected")
    delivered.raw = b"".join(sent)
    delivered.notes = tuple(notes)
    return response, delivered


async def _send(http: web.Request, response: web.StreamResponse, data: bytes, faults: Faults) -> None:
    size = faults.slow_body_chunk
    if not size:
        await response.write(data)
        return
    for at in range(0, len(data), size):
        await pause(http, faults.slow_body_interval)
        await response.write(data[at : at + size])


async def pause(http: web.Request, seconds: float) -> None:
    """Sleep, but stop as soon as the client hangs up (raising ``ConnectionResetError``), so a
    client that timed out does not leave a long fault running into the next test."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while True:
        transport = http.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        left = until - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(left, POLL_SECONDS))


def abort(http: web.Request, *, rst: bool) -> None:
    """Close the client's connection now. ``rst`` makes it a TCP reset (SO_LINGER 0), which a
    client sees as "connection reset by peer"; otherwise a plain close mid-response."""
    transport = http.transport
    if transport is None:
        return
    if rst:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
    transport.abort()

"""Render a Reply onto the wire: JSON bodies, SSE written event by event, raw bytes.

Headers every response carries are added here, in one place: ``request-id``, the organisation
id, Cloudflare-style edge headers, rate-limit headers on successes and 429s, and
``x-should-retry: false`` on client errors that the SDK would not retry anyway.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import orjson
from aiohttp import web
from multidict import CIMultiDict

from mockserver.pipeline.exchange import ApiRequest, BytesReply, ErrorReply, EventsReply, JsonReply, MessageReply, Reply, SseEvent
from mockserver.protocol.headers import cf_ray
from mockserver.protocol.sse import PING_DATA, PlannedEvent, dumps, frame, message_events, pad
from mockserver.http.preserialized import SUPPORTED as PRESERIALIZED
from mockserver.http.preserialized import PreserializedResponse
from mockserver.pipeline.root import ServerState

JSON = "application/json"
SSE = "text/event-stream; charset=utf-8"
DISCONNECTED = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


@dataclass(slots=True)
class Delivered:
    """What went out, as bytes, for the journal and the access log."""

    status: int
    raw: bytes = b""
    streamed: bool = False
    notes: tuple[str, ...] = ()
    # The reply actually sent when a fault replaced the original (an injected error).
    reply: Reply | None = None


def base_headers(state: ServerState, request_id: str, status: int, model: str | None) -> CIMultiDict[str]:
    """Headers every response carries: rate limits on 2xx and 429, ``x-should-retry: false`` on
    client errors the SDK would not retry, ``request-id``, the organisation and edge headers."""
    static = state.static_headers
    if 200 <= status < 300 or status == 429:
        headers = static.success(state.ratelimits.headers(model))
    else:
        headers = static.failure(status)
    return _per_response(headers, state, request_id)


def _per_response(headers: CIMultiDict[str], state: ServerState, request_id: str) -> CIMultiDict[str]:
    headers["request-id"] = request_id
    if state.static_headers.edge:
        headers["cf-ray"] = cf_ray(state.wire_rng)
    return headers


def error_headers(state: ServerState, request_id: str, reply: ErrorReply, model: str | None) -> CIMultiDict[str]:
    """An error's headers: the common ones, the error's own (``retry-after``), the reply's, JSON."""
    headers = base_headers(state, request_id, reply.error.status, model)
    headers.update(reply.error.headers)
    headers.update(reply.headers)
    headers["Content-Type"] = JSON
    return headers


def json_headers(state: ServerState, api: ApiRequest, status: int, extra: Mapping[str, str]) -> CIMultiDict[str]:
    """A JSON body's headers (not the preserialized shortcut): the common ones, the reply's, JSON."""
    headers = base_headers(state, api.request_id, status, api.model)
    headers.update(extra)
    headers["Content-Type"] = JSON
    return headers


def sse_headers(state: ServerState, api: ApiRequest, status: int, extra: Mapping[str, str]) -> CIMultiDict[str]:
    """An event stream's headers: the common ones, SSE and ``no-cache``, then the reply's."""
    headers = base_headers(state, api.request_id, status, api.model)
    headers["Content-Type"] = SSE
    headers["Cache-Control"] = "no-cache"
    headers.update(extra)
    return headers


def bytes_headers(api: ApiRequest, reply: BytesReply) -> CIMultiDict[str]:
    """Replayed headers keep their recorded case and may repeat (``set-cookie``): a case-insensitive
    multidict, given a ``request-id`` only when none was recorded, and the reply's content type."""
    headers = CIMultiDict(reply.headers)
    if "request-id" not in headers:
        headers["request-id"] = api.request_id
    if reply.content_type:
        headers["Content-Type"] = reply.content_type
    return headers


def is_event_stream(headers: CIMultiDict[str]) -> bool:
    """Whether replayed bytes are an event stream, by their (case-insensitive) content type."""
    return "event-stream" in headers.get("Content-Type", "")


def message_stream(state: ServerState, message: dict[str, Any]) -> tuple[list[PlannedEvent], random.Random | None]:
    """A streamed Message's events and the rng padding them: seeded by the Message's id, so a
    seeded run repeats; ``None`` when padding is off. Encode each with ``event.encode(padding)``."""
    rng = random.Random(f"{state.config.seed}:{message.get('id')}")
    return message_events(message, rng), (rng if state.config.sse_padding else None)


def error_response(state: ServerState, request_id: str, reply: ErrorReply, model: str | None = None) -> tuple[web.Response, Delivered]:
    raw = orjson.dumps(reply.error.body(request_id))
    headers = error_headers(state, request_id, reply, model)
    return web.Response(status=reply.error.status, body=raw, headers=headers), Delivered(reply.error.status, raw)


async def deliver(http: web.Request, api: ApiRequest, reply: Reply, state: ServerState) -> tuple[web.StreamResponse, Delivered]:
    if reply.faults is not None or (isinstance(reply, EventsReply) and any(e.delay for e in reply.events)):
        from mockserver.faults.delivery import deliver_faulted  # only replies with faults pay for this path

        return await deliver_faulted(http, api, reply, state)
    if isinstance(reply, ErrorReply):
        return error_response(state, api.request_id, reply, api.model)
    if isinstance(reply, MessageReply):
        if api.stream:
            events, padding = message_stream(state, reply.message)
            return await _stream(http, api, reply, state, (e.encode(padding) for e in events))
        return _json(api, state, 200, reply.message, reply.headers)
    if isinstance(reply, JsonReply):
        return _json(api, state, reply.status, reply.body, reply.headers)
    if isinstance(reply, EventsReply):
        rng = state.wire_rng if state.config.sse_padding else None
        return await _stream(http, api, reply, state, (_scripted(e, rng) for e in reply.events), status=reply.status)
    if isinstance(reply, BytesReply):
        return await _bytes(http, api, reply, state)
    raise TypeError(f"unknown reply type {type(reply).__name__}")


def _scripted(event: SseEvent, rng: random.Random | None) -> bytes:
    """A scripted event as given: JSON data is encoded (and padded) as the API would; text and
    bytes go out verbatim, so a script can send broken events on purpose."""
    data = event.data
    if isinstance(data, (str, bytes)):
        return frame(event.event, data)
    if event.event == "ping" and data == {"type": "ping"}:
        return frame("ping", PING_DATA)
    return frame(event.event, pad(dumps(data), rng))


def _json(api: ApiRequest, state: ServerState, status: int, body: Any, extra: dict[str, str]) -> tuple[web.Response, Delivered]:
    raw = orjson.dumps(body)
    if PRESERIALIZED and not extra and 200 <= status < 300:  # the common case, made cheap
        lines, headers = state.static_headers.success_serialized(state.ratelimits.headers(api.model))
        headers = _per_response(headers, state, api.request_id)
        headers["Content-Type"] = JSON
        return PreserializedResponse(status=status, body=raw, headers=headers, lines=lines), Delivered(status, raw)
    return web.Response(status=status, body=raw, headers=json_headers(state, api, status, extra)), Delivered(status, raw)


async def _stream(
    http: web.Request,
    api: ApiRequest,
    reply: Reply,
    state: ServerState,
    chunks: Iterable[bytes],
    status: int = 200,
) -> tuple[web.StreamResponse, Delivered]:
    response = web.StreamResponse(status=status, headers=sse_headers(state, api, status, reply.headers))
    response.enable_chunked_encoding()
    delivered = Delivered(status, streamed=True)
    sent: list[bytes] = []
    try:
        await response.prepare(http)
        for data in chunks:
            await response.write(data)
            sent.append(data)
        # The final chunk is left to aiohttp, which sends it once the handler has returned, i.e.
        # after the exchange is journaled: a client that has read the whole stream finds it there.
    except DISCONNECTED:
        delivered.notes += ("client disconnected",)
    delivered.raw = b"".join(sent)
    return response, delivered


async def _bytes(http: web.Request, api: ApiRequest, reply: BytesReply, state: ServerState) -> tuple[web.StreamResponse, Delivered]:
    headers = bytes_headers(api, reply)
    if isinstance(reply.body, bytes):
        response = web.Response(status=reply.status, reason=reply.reason, body=reply.body, headers=headers)
        return response, Delivered(reply.status, reply.body)
    response = web.StreamResponse(status=reply.status, reason=reply.reason, headers=headers)
    response.enable_chunked_encoding()
    delivered = Delivered(reply.status, streamed=is_event_stream(headers))
    sent: list[bytes] = []
    chunks = reply.body.__aiter__()
    try:
        await response.prepare(http)
        async for chunk in chunks:
            await response.write(chunk)
            sent.append(chunk)
        await response.write_eof()
    except DISCONNECTED:
        delivered.notes += ("client disconnected",)
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:  # let a relaying generator know now, not at garbage collection
            await close()
    delivered.raw = b"".join(sent)
    return response, delivered


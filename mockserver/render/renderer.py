"""The one renderer: every reply becomes a :class:`~mockserver.render.plan.Plan`, here and only here.

A Message becomes its JSON body, or the SSE events of its stream (derived from the complete
Message, so streamed and plain answers cannot disagree); JSON and errors become one frame; a
scripted event list becomes its events as given; bytes stay bytes (a stream cut into its
events). Faults attached to a reply then transform the plan (mockserver/faults/transforms.py).
Randomness (SSE padding, ``cf-ray``) comes from seeded generators, so a seeded run repeats.
"""

from __future__ import annotations

import random
from typing import Any, Mapping

import orjson
from multidict import CIMultiDict

from mockserver.pipeline.exchange import (
    ApiRequest, BytesReply, ErrorReply, EventsReply, JsonReply, MessageReply, Reply, SseEvent,
)
from mockserver.protocol import sse
from mockserver.protocol.endpoints import BY_NAME, Endpoint
from mockserver.protocol.tokens import count_text
from mockserver.render.headers import JSON, SSE, ResponseHeaders
from mockserver.render.plan import Frame, Plan


class Renderer:
    def __init__(self, headers: ResponseHeaders, *, seed: int | None, sse_padding: bool) -> None:
        self.headers = headers
        self.seed = seed
        self.sse_padding = sse_padding
        self.wire_rng = headers.wire_rng

    def error(self, request_id: str, reply: ErrorReply, endpoint: Endpoint | None = None) -> Plan:
        error = reply.error
        headers = self.headers.base(request_id, error.status, endpoint, reply.limit_headers)
        headers.update(error.headers)
        headers.update(reply.headers)
        headers["Content-Type"] = JSON
        return _whole(error.status, headers, orjson.dumps(error.body(request_id)))

    # -- one switch over the reply types -----------------------------------------------------------
    def render(self, request: ApiRequest | None, request_id: str, reply: Reply) -> Plan:
        """The plan for ``reply``, before any faults (mockserver/faults/transforms.py)."""
        endpoint = BY_NAME.get(request.endpoint) if request is not None else None
        if isinstance(reply, ErrorReply):
            return self.error(request_id, reply, endpoint)
        if isinstance(reply, MessageReply):
            if request is not None and request.stream:
                return self._events(request_id, 200, endpoint, reply, self._message_frames(reply.message))
            plan = self._json(request_id, 200, endpoint, reply, reply.message)
            plan.output_tokens = int((reply.message.get("usage") or {}).get("output_tokens") or 0)
            return plan
        if isinstance(reply, JsonReply):
            return self._json(request_id, reply.status, endpoint, reply, reply.body)
        if isinstance(reply, EventsReply):
            rng = self.wire_rng if self.sse_padding else None
            frames = [Frame(_scripted(e, rng), _event_tokens(e), e.delay) for e in reply.events]
            plan = self._events(request_id, reply.status, endpoint, reply, frames)
            plan.paced = any(e.delay for e in reply.events)
            return plan
        if isinstance(reply, BytesReply):
            return self._bytes(request_id, endpoint, reply)
        raise TypeError(f"unknown reply type {type(reply).__name__}")

    def _json(self, request_id: str, status: int, endpoint: Endpoint | None, reply: Reply, body: Any) -> Plan:
        raw = orjson.dumps(body)
        if not reply.headers and 200 <= status < 300:  # the common case: constant headers serialized once
            lines, constant, headers = self.headers.serialized(request_id, endpoint, reply.limit_headers)
            headers["Content-Type"] = JSON
            plan = _whole(status, headers, raw)
            plan.constant = (lines, constant)
            return plan
        headers = self.headers.base(request_id, status, endpoint, reply.limit_headers)
        headers.update(reply.headers)
        headers["Content-Type"] = JSON
        return _whole(status, headers, raw)

    def _events(self, request_id: str, status: int, endpoint: Endpoint | None, reply: Reply, frames: list[Frame]) -> Plan:
        headers = self.headers.base(request_id, status, endpoint, reply.limit_headers)
        headers["Content-Type"] = SSE
        headers["Cache-Control"] = "no-cache"
        headers.update(reply.headers)
        return Plan(status, headers, frames, streamed=True)

    def _message_frames(self, message: Mapping[str, Any]) -> list[Frame]:
        """A Message's events, padded by an rng seeded with the Message's id (a seeded run repeats)."""
        rng = random.Random(f"{self.seed}:{message.get('id')}")
        padding = rng if self.sse_padding else None
        return [Frame(event.encode(padding), event.tokens) for event in sse.message_events(dict(message), rng)]

    def _bytes(self, request_id: str, endpoint: Endpoint | None, reply: BytesReply) -> Plan:
        if reply.api_headers:  # a body of ours (JSONL results): the headers every answer carries
            headers = self.headers.base(request_id, reply.status, endpoint, reply.limit_headers)
            headers.update(reply.headers)
        else:  # recorded headers keep their case and may repeat (set-cookie)
            headers = CIMultiDict(reply.headers)
            if "request-id" not in headers:
                headers["request-id"] = request_id
        if reply.content_type:
            headers["Content-Type"] = reply.content_type
        streamed = "event-stream" in headers.get("Content-Type", "")
        body = reply.body
        if isinstance(body, bytes):
            if streamed:
                return Plan(reply.status, headers, [Frame(c) for c in sse.split(body)], streamed=True, reason=reply.reason)
            return Plan(reply.status, headers, [Frame(body)], length=len(body), reason=reply.reason)
        return Plan(reply.status, headers, _chunks(body), streamed=streamed, length=reply.length, reason=reply.reason,
                    keep=reply.journal_bytes)


def _whole(status: int, headers: CIMultiDict[str], raw: bytes) -> Plan:
    return Plan(status, headers, [Frame(raw)], length=len(raw))


async def _chunks(body: Any) -> Any:
    async for chunk in body:
        yield Frame(chunk)


def _scripted(event: SseEvent, rng: random.Random | None) -> bytes:
    """A scripted event as given: JSON data is encoded (and padded) as the API would; text and
    bytes go out verbatim, so a script can send broken events on purpose."""
    data = event.data
    if isinstance(data, (str, bytes)):
        return sse.frame(event.event, data)
    if event.event == "ping" and data == {"type": "ping"}:
        return sse.frame("ping", sse.PING_DATA)
    return sse.frame(event.event, sse.pad(sse.dumps(data), rng))


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

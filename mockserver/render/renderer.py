"""The one renderer: every reply becomes a :class:`~mockserver.render.plan.Plan`, here and only here.

A Message becomes its JSON body, or the SSE events of its stream (derived from the complete
Message, so streamed and plain answers cannot disagree); JSON and errors become one frame; a
scripted event list becomes its events as given; bytes stay bytes (a stream cut into its
events). Faults attached to a reply then transform the plan (mockserver/faults/transforms.py).
Randomness (SSE padding, ``cf-ray``) comes from seeded generators, so a seeded run repeats.
The endpoint's wire (:mod:`.wire`) frames it all: SSE or Bedrock's EventStream, and each
platform's error shape.
"""

from __future__ import annotations

import random
from typing import Any, Mapping

import orjson
from multidict import CIMultiDict

from mockserver.pipeline.exchange import (
    ApiRequest, BytesReply, ErrorReply, EventsReply, JsonReply, MessageReply, Reply,
)
from mockserver.protocol import eventstream, sse
from mockserver.protocol.endpoints import BY_NAME, Endpoint
from mockserver.render import scripted
from mockserver.render.headers import JSON, ResponseHeaders
from mockserver.render.plan import Frame, Frames, Plan
from mockserver.render.wire import SSE as SSE_WIRE
from mockserver.render.wire import BedrockWire, Wire, padding, wire_for


class Renderer:
    def __init__(self, headers: ResponseHeaders, *, seed: int | None, sse_padding: bool) -> None:
        self.headers = headers
        self.seed = seed
        self.sse_padding = sse_padding
        self.wire_rng = headers.wire_rng

    def error(self, request_id: str, reply: ErrorReply, endpoint: Endpoint | None = None, model: str | None = None) -> Plan:
        error = reply.error
        wire = wire_for(endpoint)
        status, body, extra = wire.error_body(error, request_id, endpoint, model)
        headers = self._base(wire, request_id, status, endpoint, reply)
        headers.update(extra)
        headers.update(error.headers)
        headers.update(reply.headers)
        headers["Content-Type"] = JSON
        plan = _whole(status, headers, body)
        plan.wire = wire
        return plan

    def _base(self, wire: Wire, request_id: str, status: int, endpoint: Endpoint | None, reply: Reply) -> CIMultiDict[str]:
        if wire.edge_headers:
            return self.headers.base(request_id, status, endpoint, reply.limit_headers)
        return wire.headers(request_id, status)

    # -- one switch over the reply types -----------------------------------------------------------
    def render(self, request: ApiRequest | None, request_id: str, reply: Reply) -> Plan:
        """The plan for ``reply``, before any faults (mockserver/faults/transforms.py)."""
        endpoint = BY_NAME.get(request.endpoint) if request is not None else None
        wire = wire_for(endpoint)
        if isinstance(reply, ErrorReply):
            return self.error(request_id, reply, endpoint, request.named_model if request is not None else None)
        if isinstance(reply, MessageReply):
            message = wire.message(reply.message)
            if request is not None and request.stream:
                return self._events(request_id, 200, endpoint, reply, self._message_frames(message, wire, whole=reply.faults is None))
            plan = self._json(request_id, 200, endpoint, reply, message, wire)
            usage = reply.message.get("usage") or {}
            plan.output_tokens = int(usage.get("output_tokens") or 0)
            if isinstance(wire, BedrockWire):
                plan.headers.update(wire.usage_headers(usage))
            return plan
        if isinstance(reply, JsonReply):
            return self._json(request_id, reply.status, endpoint, reply, reply.body, wire)
        if isinstance(reply, EventsReply):
            script = scripted.script_for(reply, wire)
            rng = padding(wire, self.wire_rng if self.sse_padding else None)
            frames: Frames
            if reply.faults is not None:  # a fault counts or times events: one frame each
                frames = scripted.frames(script, rng)
            elif script.paced:  # one frame per run of events due together, each when due
                frames = scripted.runs(script, rng)  # an iterator: each run padded as it is due
            else:  # all due at once: one piece
                frames = [Frame(scripted.joined(script, rng))]
            plan = self._events(request_id, reply.status, endpoint, reply, frames)
            plan.paced = script.paced
            return plan
        if isinstance(reply, BytesReply):
            return self._bytes(request_id, endpoint, reply)
        raise TypeError(f"unknown reply type {type(reply).__name__}")

    def _json(self, request_id: str, status: int, endpoint: Endpoint | None, reply: Reply, body: Any, wire: Wire) -> Plan:
        raw = orjson.dumps(body)
        if not wire.edge_headers:
            headers = wire.headers(request_id, status)
            headers.update(reply.headers)
            headers["Content-Type"] = JSON
            plan = _whole(status, headers, raw)
            plan.wire = wire
            return plan
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

    def _events(self, request_id: str, status: int, endpoint: Endpoint | None, reply: Reply, frames: Frames) -> Plan:
        wire = wire_for(endpoint)
        headers = self._base(wire, request_id, status, endpoint, reply)
        headers["Content-Type"] = wire.stream_type
        if wire.edge_headers:
            headers["Cache-Control"] = "no-cache"
        elif isinstance(wire, BedrockWire):
            headers["X-Amzn-Bedrock-Content-Type"] = JSON
        headers.update(reply.headers)
        return Plan(status, headers, frames, streamed=True, wire=wire, ours=True)

    def _message_frames(self, message: Mapping[str, Any], wire: Wire = SSE_WIRE, *, whole: bool = False) -> list[Frame]:
        """A Message's events, padded by an rng seeded with the Message's id (a seeded run repeats).
        ``whole``: nothing counts or times them (no faults), so all of them as one frame."""
        rng = random.Random(f"{self.seed}:{message.get('id')}")
        pad = padding(wire, rng if self.sse_padding else None)
        events = wire.finish(sse.message_events(dict(message), rng), message)
        if wire is SSE_WIRE:
            if whole:
                return [Frame(sse.encode_all(events, pad))]
            return [Frame(event.encode(pad), event.tokens) for event in events]
        frames = [Frame(wire.ping() if e.name == "ping" else wire.event(e.name, sse.pad(sse.dumps(e.data), pad)), e.tokens) for e in events]
        return [Frame(b"".join(f.raw for f in frames))] if whole else frames

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
        content_type = headers.get("Content-Type", "")
        binary = content_type.startswith(eventstream.CONTENT_TYPE)  # a recorded Bedrock stream
        streamed = binary or "event-stream" in content_type
        wire = wire_for(endpoint)
        body = reply.body
        ours = reply.api_headers
        if isinstance(body, bytes):
            if streamed:
                pieces = eventstream.split(body) if binary else sse.split(body)
                return Plan(reply.status, headers, [Frame(c) for c in pieces], streamed=True, reason=reply.reason, wire=wire, ours=ours)
            return Plan(reply.status, headers, [Frame(body)], length=len(body), reason=reply.reason, wire=wire, ours=ours)
        return Plan(reply.status, headers, _chunks(body), streamed=streamed, length=reply.length, reason=reply.reason,
                    wire=wire, ours=ours, keep=reply.journal_bytes, source=body,
                    watch=reply.stalls)


def _whole(status: int, headers: CIMultiDict[str], raw: bytes) -> Plan:
    return Plan(status, headers, [Frame(raw)], length=len(raw), ours=True)


async def _chunks(body: Any) -> Any:
    async for chunk in body:
        yield Frame(chunk)

"""Wires: how one door frames what the renderer says. The endpoint picks its wire; the renderer
and the faults ask it, and nothing else knows a platform's framing.

- :data:`SSE` — the first-party API (and every client that speaks it behind a prefix): SSE
  events, ``{"type":"error",…}`` bodies, the edge's headers.
- :class:`BedrockWire` — AWS EventStream messages carrying each event's JSON base64-encoded,
  exception messages mid-stream, ``{"message": …}`` error bodies with ``x-amzn-ErrorType``.
- :class:`VertexWire` — SSE like the first-party API; errors Vertex raises itself in Google's
  ``{"error":{"code","message","status"}}`` shape, the model's own errors passed through.

A new framing is one more wire (docs/architecture.md).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from typing import Any, Mapping

import orjson
from multidict import CIMultiDict

from mockserver.protocol import eventstream, sse
from mockserver.protocol.endpoints import VERTEX_STREAM_RAW_PREDICT, Endpoint
from mockserver.protocol.errors import ApiError
from mockserver.protocol.platforms import (
    BEDROCK, BEDROCK_ERROR_TYPE_SUFFIX, VERTEX, bedrock_error_message, bedrock_exception, bedrock_stream_exception, tag_ids,
    vertex_google_error,
)

JSON = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"


class Wire:
    """The first-party wire: SSE and Anthropic-shaped errors."""

    platform = "anthropic"
    stream_type = SSE_TYPE
    pads = True
    """Stream payloads get the API's trailing spaces (docs/protocol.md "SSE")."""
    edge_headers = True
    """Answers carry the edge's headers (``request-id``, ``cf-ray``, the organisation …)."""

    def error_body(self, error: ApiError, request_id: str, endpoint: Endpoint | None, model: str | None) -> tuple[int, bytes, dict[str, str]]:
        """A whole error answer: status, body and the headers the wire adds. ``model``: the model
        as the call named it, in its door's spelling (``ApiRequest.named_model``)."""
        return error.status, orjson.dumps(error.body(request_id)), {}

    def headers(self, request_id: str, status: int) -> CIMultiDict[str]:
        """The headers of an answer on a wire without the edge's (see :attr:`edge_headers`)."""
        return CIMultiDict()

    def message(self, message: Mapping[str, Any]) -> Mapping[str, Any]:
        """A Message as this door shows it (ids tagged by a platform)."""
        return message

    def finish(self, events: list[sse.PlannedEvent], message: Mapping[str, Any]) -> list[sse.PlannedEvent]:
        """The events of a Message's stream, with what the door adds."""
        return events

    def event(self, name: str | None, data: bytes) -> bytes:
        """One stream event with ``data`` (its JSON) as the wire sends it."""
        return sse.frame(name, data)

    def ping(self) -> bytes:
        return sse.frame("ping", sse.PING_DATA)

    def error_event(self, error: ApiError, request_id: str) -> bytes:
        """An error in the middle of a stream."""
        return sse.frame("error", orjson.dumps(error.body(request_id)))

    def split(self, body: bytes) -> list[bytes]:
        """A recorded stream cut into its events."""
        return sse.split(body)

    def corrupt(self, raw: bytes, kind: str) -> bytes:
        """One event broken the way ``kind`` says (faults/spec.py MALFORMED_KINDS)."""
        return corrupt_sse(raw, kind)


def corrupt_sse(raw: bytes, kind: str) -> bytes:
    """One SSE event, broken the way ``kind`` says (bad JSON, no ``event:`` line, bad UTF-8)."""
    parts = sse.parse_frame(raw)
    if parts is None:
        head, payload, end = b"", raw, b""
    else:
        head, payload, end = parts.head, parts.data, parts.end
    if kind == "missing_event_line":
        head = b""
    else:
        payload = corrupt_json(payload, kind)
    if parts is None:
        return payload
    return head + b"data: " + payload + (end or b"\n\n")


def corrupt_json(payload: bytes, kind: str) -> bytes:
    if kind == "bad_json":
        return payload[: max(1, len(payload) // 2)]
    if kind == "bad_utf8":
        at = payload.find(b'":"')
        at = at + 3 if at >= 0 else len(payload) // 2
        return payload[:at] + b"\xff\xfe" + payload[at:]
    return payload


SSE = Wire()


class BedrockWire(Wire):
    """Bedrock Runtime: ``InvokeModel`` answers the Message as JSON; ``InvokeModelWithResponseStream``
    answers AWS EventStream ``chunk`` events, one per Anthropic event (botocore's bedrock-runtime
    model; the SDK's AWSEventStreamDecoder reads them)."""

    platform = BEDROCK
    stream_type = eventstream.CONTENT_TYPE
    pads = False
    edge_headers = False

    def error_body(self, error: ApiError, request_id: str, endpoint: Endpoint | None, model: str | None) -> tuple[int, bytes, dict[str, str]]:
        name, status = bedrock_exception(error)  # a ThrottlingException given no message: Bedrock's own words
        return status, orjson.dumps({"message": bedrock_error_message(error, name)}), {"x-amzn-ErrorType": name + BEDROCK_ERROR_TYPE_SUFFIX}

    def headers(self, request_id: str, status: int) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        headers["x-amzn-RequestId"] = aws_request_id(request_id)
        return headers

    def message(self, message: Mapping[str, Any]) -> Mapping[str, Any]:
        return tag_ids(message, BEDROCK)

    @staticmethod
    def usage_headers(usage: Mapping[str, Any]) -> dict[str, str]:
        """InvokeModel's token counts (AWS's Bedrock docs; **unconfirmed** here)."""
        return {
            "X-Amzn-Bedrock-Input-Token-Count": str(int(usage.get("input_tokens") or 0)),
            "X-Amzn-Bedrock-Output-Token-Count": str(int(usage.get("output_tokens") or 0)),
        }

    def finish(self, events: list[sse.PlannedEvent], message: Mapping[str, Any]) -> list[sse.PlannedEvent]:
        """No ``ping`` (SDK 0.x's Bedrock decoder hands every chunk to the Message event types,
        which a ping fails in strict mode); ``message_stop`` carries
        ``amazon-bedrock-invocationMetrics`` (docs/protocol.md "Bedrock")."""
        events = [e for e in events if e.name != "ping"]
        usage = message.get("usage") or {}
        last = events[-1]
        if last.name == "message_stop":
            metrics = {
                "inputTokenCount": int(usage.get("input_tokens") or 0),
                "outputTokenCount": int(usage.get("output_tokens") or 0),
                "invocationLatency": 0,
                "firstByteLatency": 0,
            }
            events[-1] = sse.PlannedEvent(last.name, {**last.data, "amazon-bedrock-invocationMetrics": metrics}, last.tokens)
        return events

    def event(self, name: str | None, data: bytes) -> bytes:
        return eventstream.chunk(data)

    def ping(self) -> bytes:
        return eventstream.chunk(b'{"type":"ping"}')

    def error_event(self, error: ApiError, request_id: str) -> bytes:
        name = bedrock_stream_exception(error)
        return eventstream.exception(name, bedrock_error_message(error, name))

    def split(self, body: bytes) -> list[bytes]:
        return eventstream.split(body)

    def corrupt(self, raw: bytes, kind: str) -> bytes:
        """The event inside the chunk broken (bad JSON, bad UTF-8); ``missing_event_line`` drops
        the ``:event-type`` header, so the decoder finds no chunk and skips the event, as an SSE
        client skips an event without a name."""
        decoded = eventstream.decode(raw)
        data = decoded.chunk_data if decoded is not None else None
        if decoded is None or data is None:
            return raw
        if kind == "missing_event_line":
            headers = [(k, v) for k, v in decoded.headers.items() if k != ":event-type"]
            return eventstream.message(headers, decoded.payload)
        return eventstream.chunk(corrupt_json(data, kind))


class VertexWire(Wire):
    """Vertex AI: SSE as the first-party API; its own errors in Google's shape (wrapped in a
    list on ``streamRawPredict``), the model's errors in Anthropic's, with ``req_vrtx_`` ids."""

    platform = VERTEX
    edge_headers = False

    def error_body(self, error: ApiError, request_id: str, endpoint: Endpoint | None, model: str | None) -> tuple[int, bytes, dict[str, str]]:
        google = vertex_google_error(error, model)  # a 429 given no message: the quota wording for ``model``
        if google is None:
            return error.status, orjson.dumps(error.body(_tag_request(request_id))), {}
        status, body = google
        document: Any = [body] if endpoint is not None and endpoint.name == VERTEX_STREAM_RAW_PREDICT else body
        return status, orjson.dumps(document), {}

    def message(self, message: Mapping[str, Any]) -> Mapping[str, Any]:
        return tag_ids(message, VERTEX)

    def error_event(self, error: ApiError, request_id: str) -> bytes:
        return sse.frame("error", orjson.dumps(error.body(_tag_request(request_id))))


def _tag_request(request_id: str) -> str:
    prefix, sep, rest = request_id.partition("_")
    return f"{prefix}_vrtx_{rest}" if sep else request_id


def aws_request_id(request_id: str) -> str:
    """A UUID, as AWS request ids are, that repeats with the request id it stands for."""
    return str(uuid.UUID(bytes=hashlib.md5(request_id.encode(), usedforsecurity=False).digest()))


WIRES: dict[str, Wire] = {"anthropic": SSE, BEDROCK: BedrockWire(), VERTEX: VertexWire()}


def wire_for(endpoint: Endpoint | None) -> Wire:
    return WIRES.get(endpoint.platform, SSE) if endpoint is not None else SSE


def padding(wire: Wire, rng: random.Random | None) -> random.Random | None:
    return rng if wire.pads else None

"""The request and reply types that every stage of the pipeline speaks.

A responder turns an :class:`ApiRequest` into a :class:`Reply` (or declines with ``None``); the
server renders the reply, delivering it through any faults attached, and journals both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterable, Mapping, Protocol, Union

from multidict import CIMultiDictProxy, MultiDictProxy

from mockserver.protocol.errors import ApiError

if TYPE_CHECKING:
    from mockserver.faults.spec import Faults
    from mockserver.pipeline.root import ServerState


@dataclass(slots=True)
class ApiRequest:
    """One parsed API call. ``body`` is the decoded JSON (``None`` for body-less calls)."""

    method: str
    path: str
    query: MultiDictProxy[str]
    headers: CIMultiDictProxy[str]
    raw_body: bytes
    body: Any
    endpoint: str
    path_params: Mapping[str, str]
    request_id: str
    api_version: str | None
    received_at: float
    beta: bool = False
    # Set on a Message Batch item answered through the pipeline (``derive``): its ``custom_id``.
    custom_id: str | None = None
    # The request target as sent (path and query, still percent-encoded), for forwarding upstream.
    raw_target: str = ""

    @property
    def stream(self) -> bool:
        return self.endpoint == "messages.create" and isinstance(self.body, dict) and self.body.get("stream") is True

    @property
    def model(self) -> str | None:
        model = self.body.get("model") if isinstance(self.body, dict) else None
        return model if isinstance(model, str) else None

    def derive(
        self, *, endpoint: str, body: Any, path: str | None = None, raw_body: bytes = b"", custom_id: str | None = None
    ) -> "ApiRequest":
        """A sibling request (a batch item answered as a single message) sharing headers and ids."""
        return ApiRequest(
            method="POST",
            path=path or "/v1/messages",
            query=self.query,
            headers=self.headers,
            raw_body=raw_body,
            body=body,
            endpoint=endpoint,
            path_params={},
            request_id=self.request_id,
            api_version=self.api_version,
            received_at=self.received_at,
            beta=self.beta,
            custom_id=custom_id,
        )


@dataclass(kw_only=True)
class _ReplyBase:
    headers: dict[str, str] = field(default_factory=dict)
    faults: "Faults | None" = None
    origin: str = "default"


@dataclass(kw_only=True)
class MessageReply(_ReplyBase):
    """A complete Message. Rendered as JSON, or as that Message's SSE events when the call streams."""

    message: dict[str, Any]


@dataclass(kw_only=True)
class JsonReply(_ReplyBase):
    body: Any
    status: int = 200


@dataclass(kw_only=True)
class ErrorReply(_ReplyBase):
    error: ApiError


@dataclass(slots=True)
class SseEvent:
    """One SSE event as scripted. ``data`` is JSON-encoded unless it is already ``str``/``bytes``;
    ``event=None`` omits the ``event:`` line (the SDK then drops the event)."""

    event: str | None
    data: Any
    delay: float = 0.0


@dataclass(kw_only=True)
class EventsReply(_ReplyBase):
    """A raw SSE script: sent event by event, exactly as given (invalid events allowed)."""

    events: list[SseEvent]
    status: int = 200


@dataclass(kw_only=True)
class BytesReply(_ReplyBase):
    """Bytes as they are: replayed recordings, proxied upstream answers, JSONL result files."""

    status: int
    body: bytes | AsyncIterable[bytes]
    content_type: str | None = None
    reason: str | None = None


Reply = Union[MessageReply, JsonReply, ErrorReply, EventsReply, BytesReply]


class Responder(Protocol):
    """A stage that may answer a request. The first responder to return a reply wins."""

    name: str

    async def respond(self, request: ApiRequest, state: "ServerState") -> Reply | None: ...

"""The types every stage of the pipeline speaks: the request, the replies, and a stage itself.

A stage is ``async (request, next) -> Reply``: it answers, or passes the request on with
``await next(request)`` (and may look at, or change, what comes back). :func:`chain` links stages
in order; the composition root (mockserver/root.py) decides which. The renderer
(mockserver/render/) turns the reply into what goes on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import functools
from typing import TYPE_CHECKING, Any, AsyncIterable, Awaitable, Callable, Mapping, MutableMapping, Protocol, Sequence, Union

from multidict import CIMultiDictProxy, MultiMapping

from mockserver.protocol.endpoints import kind
from mockserver.protocol.errors import ApiError

if TYPE_CHECKING:
    from mockserver.faults.spec import Faults
    from mockserver.pipeline.multipart import Form


@dataclass(slots=True)
class ApiRequest:
    """One parsed API call. ``body`` is the decoded JSON (``None`` for body-less calls)."""

    method: str
    path: str
    query: MultiMapping[str]
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
    # Whose state this call reads and changes (rules, journal, limits …); one by default.
    namespace: str = "default"
    # A multipart upload (POST /v1/files): its parts, file parts spooled. ``body`` is then the
    # form's summary (names, filenames, types, sizes, hashes) and ``raw_body`` that summary as JSON.
    upload: "Form | None" = None
    # A Bedrock or Vertex call: its model as it named it, in the platform's spelling, before the
    # door mapped it onto ``model`` (pipeline/platform.py ``named_model``).
    platform_model: str | None = None

    @property
    def kind(self) -> str:
        """The first-party endpoint this call is answered as (``bedrock.invoke`` -> ``messages.create``)."""
        return kind(self.endpoint)

    @property
    def stream(self) -> bool:
        body = self.body
        return isinstance(body, dict) and body.get("stream") is True and self.kind in _STREAMING

    @property
    def model(self) -> str | None:
        model = self.body.get("model") if isinstance(self.body, dict) else None
        return model if isinstance(model, str) else None

    @property
    def named_model(self) -> str | None:
        """The model as the call named it: a platform's own spelling (``claude-haiku-4-5@20251001``)
        where a door mapped it, else :attr:`model`. What a door's own errors name."""
        return self.platform_model if self.platform_model is not None else self.model

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
            namespace=self.namespace,
        )


_STREAMING = frozenset({"messages.create", "completions.create"})


@dataclass(kw_only=True, slots=True)
class _ReplyBase:
    headers: MutableMapping[str, str] = field(default_factory=dict)
    """Extra response headers; a recorded answer's keep their case and may repeat (a multidict)."""
    faults: "Faults | None" = None
    origin: str = "default"
    # The anthropic-ratelimit-* headers this answer reports (rate-limit emulation sets them;
    # otherwise the renderer adds never-exhausted ones where the endpoint carries them).
    limit_headers: Mapping[str, str] | None = None
    # Called once the answer has gone out (or failed to), with what the client got.
    observers: "list[Callable[[Outcome], None]] | None" = None
    # The answer is a function of the request's bytes alone but for its Message id (no state,
    # tool or container ids): the same bytes may be answered again from it (emulation/replies.py).
    pure: bool = False

    def observe(self, observer: "Callable[[Outcome], None]") -> None:
        """Be told how delivery went (chaos mode judges clients by it)."""
        if self.observers is None:
            self.observers = []
        self.observers.append(observer)


@dataclass(kw_only=True, slots=True)
class MessageReply(_ReplyBase):
    """A complete Message. Rendered as JSON, or as that Message's SSE events when the call streams."""

    message: dict[str, Any]


@dataclass(kw_only=True, slots=True)
class JsonReply(_ReplyBase):
    body: Any
    status: int = 200


@dataclass(kw_only=True, slots=True)
class ErrorReply(_ReplyBase):
    error: ApiError


@dataclass(slots=True)
class SseEvent:
    """One SSE event as scripted. ``data`` is JSON-encoded unless it is already ``str``/``bytes``;
    ``event=None`` omits the ``event:`` line (the SDK then drops the event)."""

    event: str | None
    data: Any
    delay: float = 0.0


@dataclass(kw_only=True, slots=True)
class EventsReply(_ReplyBase):
    """A raw SSE script: sent event by event, exactly as given (invalid events allowed)."""

    events: list[SseEvent]
    status: int = 200
    prepared: dict[str, Any] | None = None
    """Where the renderer keeps what it works out from ``events`` once (their bytes on each wire),
    for the next reply with the same events: a scripted stream's action passes the same dict to
    every reply it makes (mockserver/render/scripted.py). ``None``: worked out for this reply."""


@dataclass(kw_only=True, slots=True)
class BytesReply(_ReplyBase):
    """Bytes as they are: replayed recordings and proxied answers (their own recorded headers),
    or a body of ours such as a JSONL results file (``api_headers``: the headers every API
    response carries are added)."""

    status: int
    body: bytes | AsyncIterable[bytes]
    content_type: str | None = None
    reason: str | None = None
    api_headers: bool = False
    length: int | None = None
    """The size of a streamed body, when known up front (sent as ``Content-Length``)."""
    journal_bytes: int | None = None
    """How much of the body the journal keeps (a file download's first bytes); ``None``: all."""
    stalls: bool = False
    """The body may say nothing for a while: an upstream being relayed, a replay paced as recorded."""


Reply = Union[MessageReply, JsonReply, ErrorReply, EventsReply, BytesReply]


@dataclass(slots=True)
class Outcome:
    """What went out, as bytes, for the journal, the access log and observers."""

    status: int
    raw: bytes = b""
    streamed: bool = False
    notes: tuple[str, ...] = ()


Next = Callable[[ApiRequest], Awaitable[Reply]]
"""The rest of the chain, from one stage's point of view."""


class Stage(Protocol):
    """One link of the chain: answer ``request``, or ``return await next(request)``."""

    async def __call__(self, request: ApiRequest, next: Next) -> Reply: ...


def chain(stages: Sequence[Stage], last: Next) -> Next:
    """``stages[0]`` first, each handed the rest as ``next``; ``last`` answers what all pass."""
    handler = last
    for stage in reversed(stages):
        handler = functools.partial(stage, next=handler)
    return handler

"""What a cassette holds, in memory: requests and responses as the bytes that crossed the wire.

Every importer and the YAML format reduce to these types, so replay, matching and redaction do
not care where a recording came from. Bodies are bytes (decoded from any transfer compression);
a streamed response also keeps its SSE frames with their time offsets, for paced replay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from mockserver.pipeline.multipart import summarize
from mockserver.pipeline.parse import writable_json
from mockserver.protocol import sse

Headers = list[tuple[str, str]]

# Headers that describe one hop or one encoding of the body, not the answer: never replayed.
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
        "content-length", "content-encoding",
    }
)
_BODILESS_DROP = HOP_BY_HOP - {"content-length"}


# Request headers that say which client sent it, not what it asked: left out of cassettes, so an
# SDK upgrade does not touch every file. (Matching never looks at them.)
NOISY_REQUEST_HEADERS = frozenset({"host", "accept-encoding", "user-agent"})


def keep_request_header(name: str) -> bool:
    lower = name.lower()
    return not (lower in HOP_BY_HOP or lower in NOISY_REQUEST_HEADERS or lower.startswith(("x-stainless-", ":")))


def response_headers(headers: Headers, method: str, status: int) -> Headers:
    """Recorded response headers minus those that described the recorded hop or encoding.

    A bodiless answer (HEAD, 204, 304) keeps ``Content-Length``: there it describes the resource.
    """
    bodiless = method == "HEAD" or status in (204, 304)
    drop = _BODILESS_DROP if bodiless else HOP_BY_HOP
    return [(k, v) for k, v in headers if k.lower() not in drop]


def header(headers: Headers, name: str) -> str | None:
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


@dataclass(slots=True)
class Frame:
    """One SSE event as sent (``event: …\\ndata: …\\n\\n``) and when, after the response headers."""

    raw: bytes
    at: float | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    # Where it was sent, when not the Anthropic API (other hosts found in imported cassettes).
    origin: str | None = None
    # A multipart upload as recorded: each part's text, or a file's filename, content type, size
    # and SHA-256 (the bytes are not kept: mockserver/pipeline/multipart.py).
    form: dict[str, Any] | None = None

    def upload(self) -> dict[str, Any] | None:
        """The form this request uploaded: as recorded, or summarized from a recorded multipart
        body (other recorders keep the bytes); ``None`` when it is no upload."""
        if self.form is not None:
            return self.form
        if self.body and (header(self.headers, "content-type") or "").lower().startswith("multipart/form-data"):
            return summarize(self.body, header(self.headers, "content-type"))
        return None

    @property
    def json(self) -> Any:
        """The body as JSON, or ``None`` when empty, not JSON, or nested too deeply to write
        back (matched by its bytes then, as a body that is not JSON)."""
        return writable_json(self.body)[1] if self.body else None

    def target(self) -> str:
        query = "&".join(f"{k}={v}" if v != "" else k for k, v in self.query)
        return self.path + (f"?{query}" if query else "")

    def describe(self) -> str:
        body = self.json
        model = f" model={body['model']}" if isinstance(body, dict) and isinstance(body.get("model"), str) else ""
        stream = " stream" if isinstance(body, dict) and body.get("stream") is True else ""
        return f"{self.method} {self.origin or ''}{self.target()}{model}{stream}"


@dataclass
class RecordedResponse:
    status: int
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    reason: str | None = None
    # For event streams: the body cut into events (their bytes join to ``body``), with timing.
    frames: list[Frame] | None = None
    # Seconds from sending the request to the response headers, when recorded.
    latency: float | None = None

    @property
    def content_type(self) -> str:
        return (header(self.headers, "content-type") or "").split(";")[0].strip().lower()

    @property
    def is_stream(self) -> bool:
        return self.content_type == "text/event-stream"

    def chunks(self) -> Iterator[Frame]:
        """The body in the pieces replay sends: one per SSE event for streams, else one piece."""
        if self.frames is not None:
            yield from self.frames
        elif self.is_stream:
            yield from (Frame(raw) for raw in sse.split(self.body))
        else:
            yield Frame(self.body)


@dataclass
class Interaction:
    request: RecordedRequest
    response: RecordedResponse
    recorded_at: str | None = None

    def __repr__(self) -> str:
        return f"<Interaction {self.request.describe()} -> {self.response.status}>"

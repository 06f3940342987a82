"""The request journal: what each client asked and what it was answered, for assertions in tests.

Entries keep the bytes that crossed the wire and decode them only when read, so a busy server
keeps no large graphs of small objects alive (which would make every garbage collection slow).
Headers are redacted when read, so a journal can be printed or saved safely.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import deque
from typing import Any, Callable, Iterator, Mapping

import orjson

SECRET_HEADERS = frozenset({"x-api-key", "authorization", "cookie", "set-cookie", "proxy-authorization"})
REDACTED = "[REDACTED]"
_SSE_EVENT = re.compile(rb"(?:^|\n)(?:event: ?([^\r\n]*)\r?\n)?data: ?([^\r\n]*)")


def redact_headers(headers: Mapping[str, str], secret: frozenset[str] = SECRET_HEADERS) -> dict[str, str]:
    return {k.lower(): (REDACTED if k.lower() in secret else v) for k, v in headers.items()}


def _json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def parse_sse(raw: bytes) -> list[dict[str, Any]]:
    """``[{"event": name, "data": decoded JSON (or the raw text)}]`` for each event in ``raw``."""
    events = []
    for name, data in _SSE_EVENT.findall(raw):
        decoded = _json_or_none(data)
        events.append({"event": name.decode() or None, "data": decoded if decoded is not None else data.decode(errors="replace")})
    return events


class JournalEntry:
    """One exchange. Built on every request, so it is a plain slotted class: cheap to make."""

    __slots__ = (
        "seq", "request_id", "method", "path", "query", "raw_headers", "request_bytes", "endpoint", "received_at",
        "status", "origin", "response_bytes", "streamed", "duration_ms", "model", "input_tokens", "output_tokens",
        "faults", "error", "__dict__",
    )

    def __init__(
        self,
        seq: int,
        request_id: str,
        method: str,
        path: str,
        query: Mapping[str, str],
        raw_headers: Mapping[str, str],
        request_bytes: bytes,
        endpoint: str,
        received_at: float,
        status: int = 0,
        origin: str = "",
        response_bytes: bytes = b"",
        streamed: bool = False,
        duration_ms: float = 0.0,
        model: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        faults: list[str] | None = None,
        error: str | None = None,
    ) -> None:
        self.seq = seq
        self.request_id = request_id
        self.method = method
        self.path = path
        self.query = query
        self.raw_headers = raw_headers
        self.request_bytes = request_bytes
        self.endpoint = endpoint
        self.received_at = received_at
        self.status = status
        self.origin = origin
        self.response_bytes = response_bytes
        self.streamed = streamed
        self.duration_ms = duration_ms
        self.model = model
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.faults = faults or []
        self.error = error

    def __repr__(self) -> str:
        return f"<JournalEntry #{self.seq} {self.method} {self.path} -> {self.status} ({self.origin})>"

    @functools.cached_property
    def headers(self) -> dict[str, str]:
        """Request headers, lowercase, with secrets redacted."""
        return redact_headers(self.raw_headers)

    @functools.cached_property
    def body(self) -> Any:
        """The request body as decoded JSON (``None`` when there was none or it was not JSON)."""
        return _json_or_none(self.request_bytes)

    @functools.cached_property
    def response(self) -> Any:
        """The JSON body answered; ``None`` for streams (see ``events``)."""
        return None if self.streamed else _json_or_none(self.response_bytes)

    @functools.cached_property
    def events(self) -> list[dict[str, Any]] | None:
        """For streamed answers, the SSE events as sent (after any faults)."""
        return parse_sse(self.response_bytes) if self.streamed else None

    @property
    def messages(self) -> list[Any]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def to_json(self) -> dict[str, Any]:
        skip = {"raw_headers", "request_bytes", "response_bytes", "query", "__dict__"}
        data = {name: getattr(self, name) for name in self.__slots__ if name not in skip}
        data.update(headers=self.headers, query=dict(self.query), body=self.body, response=self.response, events=self.events)
        return data


class Journal:
    """Bounded, append-only list of exchanges (oldest dropped first past ``limit``)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._entries: deque[JournalEntry] = deque(maxlen=limit)
        self._seq = itertools.count(1)

    def start(self, **fields: Any) -> JournalEntry:
        entry = JournalEntry(seq=next(self._seq), **fields)
        self._entries.append(entry)
        return entry

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self, predicate: Callable[[JournalEntry], bool] | None = None, **where: Any) -> list[JournalEntry]:
        out = []
        for entry in self._entries:
            if any(getattr(entry, k) != v for k, v in where.items()):
                continue
            if predicate is None or predicate(entry):
                out.append(entry)
        return out

    def last(self, **where: Any) -> JournalEntry | None:
        found = self.entries(**where)
        return found[-1] if found else None

    def clear(self) -> None:
        self._entries.clear()

"""The request journal: what each client asked and what it was answered, for assertions in tests.

Entries keep the bytes that crossed the wire and decode them only when read, so a busy server
keeps no large graphs of small objects alive (which would make every garbage collection slow).
Headers are redacted when read, so a journal can be printed or saved safely.
"""

from __future__ import annotations

import functools
import itertools
import re
import time
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

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self._entries: deque[JournalEntry] = deque(maxlen=limit)
        self._seq = itertools.count(1)

    def append(self, entry: JournalEntry) -> JournalEntry:
        """Number the entry and keep it (dropping the oldest past ``limit``)."""
        entry.seq = next(self._seq)
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

    def newest(self, n: int) -> list[JournalEntry]:
        """The latest ``n`` entries, newest first, without copying the whole journal."""
        entries = self._entries
        return [entries[-i] for i in range(1, min(n, len(entries)) + 1)]

    # -- assertions for tests: what did the client send? ------------------------------------------
    def calls(self, endpoint: str | None = "messages.create", **where: Any) -> list[JournalEntry]:
        """Entries for one endpoint (``None``: every endpoint), filtered like :meth:`entries`."""
        if endpoint is not None:
            where["endpoint"] = endpoint
        return self.entries(**where)

    def assert_called(self, times: int | None = None, *, endpoint: str | None = "messages.create", **where: Any) -> list[JournalEntry]:
        """Assert the endpoint was called (exactly ``times`` times when given); returns the calls."""
        found = self.calls(endpoint, **where)
        if (times is None and not found) or (times is not None and len(found) != times):
            wanted = "at least once" if times is None else f"{times} time(s)"
            raise AssertionError(f"expected {endpoint or 'any endpoint'} to be called {wanted}, got {len(found)}{self._summary()}")
        return found

    def assert_not_called(self, *, endpoint: str | None = "messages.create", **where: Any) -> None:
        found = self.calls(endpoint, **where)
        if found:
            raise AssertionError(f"expected no {endpoint or ''} calls, got {len(found)}{self._summary()}")

    def wait_for_calls(self, times: int, *, endpoint: str | None = "messages.create", timeout: float = 5.0) -> list[JournalEntry]:
        """Wait until ``times`` calls are journaled. An exchange is journaled once the server has
        finished answering it, which can be after a client gave up mid-stream."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.calls(endpoint)
            if len(found) >= times:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(f"expected {times} {endpoint or ''} call(s) within {timeout}s, got {len(found)}{self._summary()}")
            time.sleep(0.01)

    def last_request(self, endpoint: str | None = "messages.create") -> JournalEntry:
        """The latest call to ``endpoint`` (an AssertionError when there is none)."""
        found = self.calls(endpoint)
        if not found:
            raise AssertionError(f"no {endpoint or ''} calls were made{self._summary()}")
        return found[-1]

    def last_messages(self, endpoint: str | None = "messages.create") -> list[Any]:
        """The ``messages`` the client sent in its latest call."""
        return self.last_request(endpoint).messages

    def header_values(self, name: str, *, endpoint: str | None = "messages.create", **where: Any) -> list[str | None]:
        """One header across calls, oldest first, e.g. ``x-stainless-retry-count`` -> ``["0", "1", "2"]``."""
        return [entry.header(name) for entry in self.calls(endpoint, **where)]

    def assert_header(self, name: str, value: str | None, *, endpoint: str | None = "messages.create") -> None:
        """Assert the latest call carried header ``name`` with ``value`` (``None``: not sent)."""
        sent = self.last_request(endpoint).header(name)
        if sent != value:
            raise AssertionError(f"expected header {name}: {value!r} on the latest call, got {sent!r}")

    def by_rule(self, name: str) -> list[JournalEntry]:
        """The calls a scenario rule answered (``origin`` is the rule's name)."""
        return self.entries(origin=name)

    def _summary(self) -> str:
        lines = [f"  #{e.seq} {e.method} {e.path} -> {e.status} ({e.origin})" for e in list(self._entries)[-20:]]
        return (":\n" + "\n".join(lines)) if lines else " (the journal is empty)"

"""The request journal: what each client asked and what it was answered, for assertions in tests.

The server appends each exchange to a capped log in the store (:class:`JournalLog`), bounded in
entries and in bytes, oldest dropped first; tests read it through :class:`Journal`, a
synchronous view with assertion helpers. Entries keep the bytes that crossed the wire and decode
them only when read, so a busy server keeps no large graphs of small objects alive (which would
make every garbage collection slow). Secrets are redacted when read, so a journal can be printed
or saved safely: credential headers whole, and in everything else an entry shows (bodies, stream
events, path, query, other headers) whatever the cassette redactor's detector finds — key and
bearer shapes and the request's own credentials, raw, base64-encoded or JSON-escaped
(mockserver/protocol/secrets.py). The bytes themselves are kept as they crossed the wire
(``request_bytes``, ``response_bytes``). Every entry renders as JSON whatever bytes a client sent.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable, Iterable, Iterator, Mapping

import orjson

from mockserver.protocol import sse
from mockserver.protocol.errors import ApiError
from mockserver.protocol.headers import wire_text
from mockserver.protocol.secrets import DEFAULT_REDACTED_HEADERS, REDACTED, Detector, detector_for, known_credentials, redact_stream
from mockserver.store.base import LogLimits, Store

SECRET_HEADERS = DEFAULT_REDACTED_HEADERS  # replaced whole when an entry is read, as cassettes do
DEFAULT_ENTRIES = 1000
DEFAULT_BYTES = 64 * 1024 * 1024
ENTRY_OVERHEAD = 512  # bytes an entry costs beyond its bodies (headers, fields), as the cap counts
TEXT_LIMIT = 64 * 1024
"""Characters of a body an entry shows as text when it cannot show it as JSON."""


def kept(data: bytes) -> bytes:
    """``data`` in a bytes object of its own size, for keeping. What ``orjson.dumps`` returns holds
    the whole buffer it wrote into: a 220-byte Message kept as it came costs 4 KiB, a 5 KB one 64
    KiB, so a full journal would hold 15 times the bytes its cap counts. A copy costs about 0.1 µs."""
    return b"".join((data, b""))


Row = list[Any]
"""An entry as the journal keeps it: :class:`JournalEntry`'s arguments after ``seq``, in order.
One is made on every request and few are ever read, so the entry object (its 21 slots, its
lazily decoded views) is made when the journal is read, from the row."""
REQUEST_BYTES, RESPONSE_BYTES = 5, 10
"""Where a :data:`Row` holds the request's and the response's bytes."""


def redact_headers(headers: Mapping[str, str], secret: frozenset[str] = SECRET_HEADERS) -> dict[str, str]:
    return {wire_text(k).lower(): (REDACTED if k.lower() in secret else wire_text(v)) for k, v in headers.items()}


def _json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def _cut_text(raw: bytes) -> str:
    text = raw[:TEXT_LIMIT].decode("utf-8", "replace")
    return text if len(raw) <= TEXT_LIMIT else f"{text}… ({len(raw) - TEXT_LIMIT} more bytes)"


def parse_sse(raw: bytes) -> list[dict[str, Any]]:
    """``[{"event": name, "data": decoded JSON (or the raw text)}]`` for each event in ``raw``."""
    events = []
    for name, data in sse.events(raw):
        decoded = _json_or_none(data)
        events.append({"event": name, "data": decoded if decoded is not None else data.decode(errors="replace")})
    return events


def usage_tokens(raw: bytes, *, streamed: bool) -> tuple[int | None, int | None]:
    """``(input_tokens, output_tokens)`` of a Message answered as ``raw`` bytes: the JSON body's
    ``usage``, or for an event stream ``message_start``'s usage updated by each ``message_delta``'s
    (as the SDK accumulates them); ``None`` where the body does not say."""
    counts: list[int | None] = [None, None]

    def take(usage: Any) -> None:
        if isinstance(usage, dict):
            for i, key in enumerate(("input_tokens", "output_tokens")):
                if isinstance(usage.get(key), int):
                    counts[i] = usage[key]

    if not streamed:
        body = _json_or_none(raw)
        take(body.get("usage") if isinstance(body, dict) else None)
        return counts[0], counts[1]
    for name, data in sse.events(raw):
        if name not in ("message_start", "message_delta"):
            continue
        event = _json_or_none(data)
        if not isinstance(event, dict):
            continue
        if name == "message_start":
            message = event.get("message")
            take(message.get("usage") if isinstance(message, dict) else None)
        else:
            take(event.get("usage"))
    return counts[0], counts[1]


class JournalEntry:
    """One exchange. Built on every request, so it is a plain slotted class: cheap to make."""

    __slots__ = (
        "seq", "request_id", "method", "path", "query", "raw_headers", "request_bytes", "endpoint", "received_at",
        "status", "origin", "response_bytes", "streamed", "duration_ms", "model", "_input_tokens", "_output_tokens",
        "usage_in_body", "faults", "error", "__dict__",
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
        faults: Iterable[str] | None = None,
        error: str | None = None,
        usage_in_body: bool = False,
    ) -> None:
        """``input_tokens``/``output_tokens``: the counts of a Message the server made. For bytes
        answered as recorded (upstream, a cassette) they are ``None`` with ``usage_in_body``: read
        from the response's ``usage`` when first asked for (the access line, a test), not here."""
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
        self._input_tokens = input_tokens
        self._output_tokens = output_tokens
        self.usage_in_body = usage_in_body
        self.faults = list(faults) if faults else []
        self.error = error

    def __repr__(self) -> str:
        return f"<JournalEntry #{self.seq} {self.method} {self.path} -> {self.status} ({self.origin})>"

    @functools.cached_property
    def detector(self) -> Detector:
        """What finds secrets in this entry: key and bearer shapes, and the credentials its
        request carried (``x-api-key``, a bearer token, cookie values)."""
        return detector_for(known_credentials(self.raw_headers.items(), SECRET_HEADERS))

    def _clean(self, raw: bytes) -> bytes:
        return self.detector.redact_bytes(raw)[0] if raw else raw

    @functools.cached_property
    def headers(self) -> dict[str, str]:
        """Request headers, lowercase, with secrets redacted."""
        return {name: self.detector.redact(value)[0] for name, value in redact_headers(self.raw_headers).items()}

    @functools.cached_property
    def body(self) -> Any:
        """The request body as decoded JSON, secrets redacted (``None`` when there was none or
        it was not JSON)."""
        return _json_or_none(self._clean(self.request_bytes))

    @functools.cached_property
    def response(self) -> Any:
        """The JSON body answered, secrets redacted; ``None`` for streams (see ``events``)."""
        return None if self.streamed else _json_or_none(self._clean(self.response_bytes))

    @functools.cached_property
    def events(self) -> list[dict[str, Any]] | None:
        """For streamed answers, the SSE events as sent (after any faults), secrets redacted."""
        return parse_sse(redact_stream(self.response_bytes, self.detector)) if self.streamed else None

    @property
    def tokens(self) -> tuple[int | None, int | None]:
        """``(input_tokens, output_tokens)`` answered, or ``None`` where unknown."""
        if self.usage_in_body:  # once: the counts are kept, as if the server had known them
            if self.status == 200 and self._input_tokens is None and self._output_tokens is None:
                self._input_tokens, self._output_tokens = usage_tokens(self.response_bytes, streamed=self.streamed)
            self.usage_in_body = False
        return self._input_tokens, self._output_tokens

    @property
    def input_tokens(self) -> int | None:
        return self.tokens[0]

    @property
    def output_tokens(self) -> int | None:
        return self.tokens[1]

    @property
    def messages(self) -> list[Any]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def size(self) -> int:
        """What this entry costs as the journal's byte cap counts it."""
        return len(self.request_bytes) + len(self.response_bytes) + ENTRY_OVERHEAD

    def to_json(self) -> dict[str, Any]:
        skip = {"raw_headers", "request_bytes", "response_bytes", "query", "usage_in_body", "error", "__dict__"}
        data = {name.lstrip("_"): getattr(self, name.lstrip("_")) for name in self.__slots__ if name not in skip}
        mask = self.detector.redact
        data.update(
            path=mask(wire_text(self.path))[0],
            headers=self.headers,
            query={wire_text(k): mask(wire_text(v))[0] for k, v in self.query.items()},
            body=self.body,
            response=self.response,
            events=self.events,
            error=mask(self.error)[0] if self.error else self.error,
        )
        return data

    def render(self) -> bytes:
        """:meth:`to_json` as JSON bytes, whatever the bodies hold: a body orjson can read but not
        write back (nested past its 254 levels, as an open parser or a cassette may keep one) is
        shown as text instead, cut to :data:`TEXT_LIMIT` characters."""
        data = self.to_json()
        try:
            return orjson.dumps(data, default=str)
        except orjson.JSONEncodeError:
            pass
        for name, raw in (("body", self.request_bytes), ("response", self.response_bytes), ("events", self.response_bytes)):
            try:
                orjson.dumps([data[name]])  # as deep as it sits in the entry
            except orjson.JSONEncodeError:
                data[name] = _cut_text(redact_stream(raw, self.detector) if name == "events" else self._clean(raw))
        return orjson.dumps(data, default=str)

    def to_bytes(self) -> bytes:
        """For stores that keep entries outside this process."""
        # as kept: counts not yet read from the body stay unread (usage_in_body), for the reader
        data = {name.lstrip("_"): getattr(self, name) for name in self.__slots__ if name not in ("raw_headers", "query", "request_bytes", "response_bytes", "__dict__")}
        data.update(
            raw_headers=[[wire_text(k), wire_text(v)] for k, v in self.raw_headers.items()],
            query=[[wire_text(k), wire_text(v)] for k, v in self.query.items()],
            request_bytes=self.request_bytes.decode("latin-1"),
            response_bytes=self.response_bytes.decode("latin-1"),
        )
        return orjson.dumps(data)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "JournalEntry":
        data = orjson.loads(raw)
        from multidict import CIMultiDict, MultiDict

        data["raw_headers"] = CIMultiDict(data["raw_headers"])
        data["query"] = MultiDict(data["query"])
        data["request_bytes"] = data["request_bytes"].encode("latin-1")
        data["response_bytes"] = data["response_bytes"].encode("latin-1")
        return cls(**data)


REASON_WIDTH = 160  # characters of an error's message a log line shows
BROKEN = {"client disconnected": "client gone", "connection reset before headers": "reset"}


def access_line(entry: JournalEntry) -> str:
    """One line a person can scan: when, what, the answer, what it cost, and what went wrong.

    ``12:04:31.207 POST /v1/messages 200 claude-haiku-4-5 in=12 out=40 14.2ms stream``
    ``12:04:31.650 POST /v1/messages 429 claude-haiku-4-5 3.1ms rate_limit_error: This request would …``
    ``12:04:32.011 POST /v1/messages 200 claude-haiku-4-5 in=12 out=40 8.0ms stream [dropped after 3 events] (rule flaky)``
    A reset or a client that left before the status line shows as ``reset`` / ``client gone``
    instead of a status; ``(upstream)`` marks a call a recorder forwarded, ``(from the cassette)``
    a replayed one, ``(rule NAME)`` a scripted answer."""
    at = time.strftime("%H:%M:%S", time.gmtime(entry.received_at)) + f".{int(entry.received_at * 1000) % 1000:03d}"
    status = str(entry.status) if entry.status else next((BROKEN[f] for f in entry.faults if f in BROKEN), "no answer")
    parts = [at, entry.method, detector_for(frozenset()).redact(wire_text(entry.path))[0], status, entry.model or "-"]
    if entry.input_tokens is not None:
        parts.append(f"in={entry.input_tokens} out={entry.output_tokens}")
    parts.append(f"{entry.duration_ms:.1f}ms")
    if entry.streamed:
        parts.append("stream")
    if entry.status >= 400:
        kind, message = _error_of(entry)
        if message:
            message = entry.detector.redact(message)[0]  # an upstream's message may quote a key
            reason = message if len(message) <= REASON_WIDTH else message[: REASON_WIDTH - 1] + "…"
            parts.append(f"{kind}: {reason}" if kind else reason)
    if entry.faults:
        parts.append("[" + "; ".join(entry.faults) + "]")
    if entry.origin not in ("default", "server", "none", ""):
        parts.append(f"({ORIGINS.get(entry.origin) or 'rule ' + entry.origin})")
    return " ".join(parts)


ORIGINS = {"cassette": "from the cassette", "upstream": "upstream", "chaos": "chaos", "ratelimit": "rate limit"}


def _error_of(entry: JournalEntry) -> tuple[str | None, str | None]:
    """The error's type and message, from what was answered (replayed and proxied ones too)."""
    body = _json_or_none(entry.response_bytes) if not entry.streamed else None
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    message = entry.error or (error.get("message") if isinstance(error, dict) else None)
    return (kind if isinstance(kind, str) else None), (str(message) if message else None)


class JournalLog:
    """The server's side: append each exchange, read them back, forget them; per namespace.

    With ``limits.entries`` 0 the journal is off (``--journal-limit 0``, for load tests, as
    WireMock's ``--no-request-journal``): nothing is appended, clearing does nothing, and reading
    is an error that says why, rather than an empty journal a test would take for no calls."""

    def __init__(self, store: Store, limits: LogLimits) -> None:
        self.store = store
        self.limits = limits
        self.on = limits.entries > 0

    @staticmethod
    def key(namespace: str) -> str:
        return f"{namespace}:journal"

    async def append(self, row: Row, namespace: str = "default") -> int:
        """Keep an entry's :data:`Row` (the oldest go past the limits), its bodies as :func:`kept`;
        its number. The byte cap counts the bodies and :data:`ENTRY_OVERHEAD`."""
        row[REQUEST_BYTES] = request = kept(row[REQUEST_BYTES])
        row[RESPONSE_BYTES] = response = kept(row[RESPONSE_BYTES])
        return await self.store.append(self.key(namespace), row, len(request) + len(response) + ENTRY_OVERHEAD, self.limits, _row_bytes)

    async def read(self, namespace: str = "default", since: int = 0, limit: int | None = None) -> list[JournalEntry]:
        if not self.on:
            raise ApiError(404, "This server keeps no journal (it was started with --journal-limit 0).", type="not_found_error")
        entries = []
        for seq, kept_as in await self.store.read(self.key(namespace), since, limit, JournalEntry.from_bytes):
            # this process's store keeps the row; another's, the entry encoded (before it had its number)
            entry = JournalEntry(seq, *kept_as) if isinstance(kept_as, list) else kept_as
            entry.seq = seq
            entries.append(entry)
        return entries

    async def clear(self, namespace: str = "default") -> None:
        if self.on:
            await self.store.clear(self.key(namespace))


def _row_bytes(row: Row) -> bytes:
    """A row as a store outside this process keeps it: its entry's :meth:`JournalEntry.to_bytes`."""
    return JournalEntry(0, *row).to_bytes()


class Journal:
    """What tests hold: the journal of one namespace, read whenever asked, with assertion helpers.

    ``fetch`` returns the entries oldest first and ``forget`` empties the journal (both run on the
    server's loop for a server in a thread: mockserver/harness/testing.py)."""

    def __init__(self, fetch: Callable[[], list[JournalEntry]], forget: Callable[[], None]) -> None:
        self._fetch = fetch
        self._forget = forget

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self._fetch())

    def __len__(self) -> int:
        return len(self._fetch())

    def entries(self, predicate: Callable[[JournalEntry], bool] | None = None, **where: Any) -> list[JournalEntry]:
        out = []
        for entry in self._fetch():
            if any(getattr(entry, k) != v for k, v in where.items()):
                continue
            if predicate is None or predicate(entry):
                out.append(entry)
        return out

    def last(self, **where: Any) -> JournalEntry | None:
        found = self.entries(**where)
        return found[-1] if found else None

    def clear(self) -> None:
        self._forget()

    def newest(self, n: int) -> list[JournalEntry]:
        """The latest ``n`` entries, newest first."""
        return self._fetch()[::-1][:n]

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
        lines = [f"  #{e.seq} {e.method} {e.path} -> {e.status} ({e.origin})" for e in self._fetch()[-20:]]
        return (":\n" + "\n".join(lines)) if lines else " (the journal is empty)"

"""The request journal: what each client asked and what it was answered, for assertions in tests.

Headers are stored with secrets redacted, so a journal can be printed or saved safely.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

SECRET_HEADERS = frozenset({"x-api-key", "authorization", "cookie", "set-cookie", "proxy-authorization"})
REDACTED = "[REDACTED]"


def redact_headers(headers: Mapping[str, str], secret: frozenset[str] = SECRET_HEADERS) -> dict[str, str]:
    return {k.lower(): (REDACTED if k.lower() in secret else v) for k, v in headers.items()}


@dataclass
class JournalEntry:
    seq: int
    request_id: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    endpoint: str
    received_at: float
    status: int = 0
    origin: str = ""
    response: Any = None  # the JSON body sent, or for streams the list of events
    events: list[dict[str, Any]] | None = None
    duration_ms: float = 0.0
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    faults: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def messages(self) -> list[Any]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class Journal:
    """Bounded, append-only list of exchanges (oldest dropped first past ``limit``)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._entries: list[JournalEntry] = []
        self._seq = itertools.count(1)

    def start(self, **fields: Any) -> JournalEntry:
        entry = JournalEntry(seq=next(self._seq), **fields)
        self._entries.append(entry)
        if len(self._entries) > self.limit:
            del self._entries[: len(self._entries) - self.limit]
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

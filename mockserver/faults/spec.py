"""Faults that change how a reply is delivered, never what it says (scenarios attach them).

The delivery code (``server/fault_delivery.py``) asks a ``Faults`` object only a few questions,
so every fault works on every kind of reply: plain JSON, Message streams, raw event scripts and
replayed bytes. Faults that only make sense for a stream (events, ``event: error``, malformed
SSE) are skipped, with a note in the journal, when the reply is a plain JSON body.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mockserver.protocol.errors import ApiError
from mockserver.protocol.platforms import platform_error_message

MALFORMED_KINDS = ("bad_json", "missing_event_line", "unknown_event", "bad_utf8")
FIELDS_OF_KEY: dict[str, tuple[str, ...]] = {
    "latency": ("latency",),
    "ttft": ("ttft",),
    "tokens_per_second": ("tokens_per_second",),
    "reset": ("reset",),
    "drop": ("drop_after_events", "drop_after_bytes"),
    "malformed": ("malformed", "malformed_at"),
    "stream_error": ("stream_error_after", "stream_error_type", "stream_error_message"),
    "slow_body": ("slow_body_chunk", "slow_body_interval"),
    "random_error": ("error_probability", "error_status", "error_type", "error_message", "error_headers"),
}
"""The fields each key of a ``faults`` mapping sets, all of them, whatever of it is written: a
step's ``drop: 3`` replaces a rule's ``drop: {after_bytes: …}`` whole."""
FAULT_FIELDS = tuple(FIELDS_OF_KEY)
"""The keys of a ``faults`` mapping in the scenario format (docs/scenarios.md)."""


@dataclass
class Faults:
    latency: float = 0.0
    """Seconds before the status line and headers."""
    ttft: float = 0.0
    """Time to first token: seconds from the headers to the first event that carries output
    (for a non-streamed Message, added to the wait before the headers)."""
    tokens_per_second: float = 0.0
    """Pace output events at this rate (0: as fast as possible)."""
    reset: bool = False
    """Reset the connection (TCP RST) instead of answering: no status line, no headers."""
    drop_after_events: int | None = None
    """Close the connection after this many SSE events (streams only)."""
    drop_after_bytes: int | None = None
    """Close the connection after this many body bytes (any reply)."""
    malformed: str | None = None
    """One of :data:`MALFORMED_KINDS`: break the SSE event at ``malformed_at``."""
    malformed_at: int = 1
    stream_error_after: int | None = None
    """Send ``event: error`` after this many events, then end the stream."""
    stream_error_type: str = "overloaded_error"
    stream_error_message: str | None = None
    """``None``: what the API says for ``stream_error_type`` ("Overloaded", "Internal server error";
    a door may word it its own way: Bedrock's throttling)."""
    slow_body_chunk: int = 0
    """Write the body this many bytes at a time, ``slow_body_interval`` seconds apart (0: off)."""
    slow_body_interval: float = 0.0
    error_probability: float = 0.0
    """Answer with ``error_status`` instead, with this probability (seeded by the server)."""
    error_status: int = 529
    """529 unless the scenario gives a status, or a type that has one (``rate_limit_error``: 429;
    the loader derives it as for an ``error`` rule)."""
    error_type: str | None = None
    error_message: str | None = None
    error_headers: dict[str, str] = field(default_factory=dict)
    given: frozenset[str] = field(default=frozenset(), compare=False)
    """The fields a scenario wrote (:data:`FIELDS_OF_KEY`), default values included: they take
    over in :meth:`merged` as set values do (a step's 529 over its rule's 500)."""

    def merged(self, other: "Faults | None") -> "Faults":
        """These faults with every field ``other`` sets (differs from the default, or was
        written) taking over."""
        if other is None:
            return self
        changes = other.to_json()
        changes.update((name, getattr(other, name)) for name in other.given)
        if not changes:
            return self
        return dataclasses.replace(self, **changes, given=self.given | other.given)

    def injected_error(self) -> ApiError:
        return ApiError(self.error_status, self.error_message, type=self.error_type, headers=self.error_headers,
                        default=platform_error_message(self.error_type))

    @property
    def stream_only(self) -> bool:
        return self.drop_after_events is not None or self.malformed is not None or self.stream_error_after is not None

    def describe(self) -> list[str]:
        """The configured faults, one short string each (the journal's ``faults`` field)."""
        out: list[str] = []
        if self.latency:
            out.append(f"latency={self.latency}s")
        if self.ttft:
            out.append(f"ttft={self.ttft}s")
        if self.tokens_per_second:
            out.append(f"tokens_per_second={self.tokens_per_second}")
        if self.reset:
            out.append("reset")
        if self.drop_after_events is not None:
            out.append(f"drop_after_events={self.drop_after_events}")
        if self.drop_after_bytes is not None:
            out.append(f"drop_after_bytes={self.drop_after_bytes}")
        if self.malformed:
            out.append(f"malformed={self.malformed}@{self.malformed_at}")
        if self.stream_error_after is not None:
            out.append(f"stream_error={self.stream_error_type}@{self.stream_error_after}")
        if self.slow_body_chunk:
            out.append(f"slow_body={self.slow_body_chunk}B/{self.slow_body_interval}s")
        if self.error_probability:
            out.append(f"error_probability={self.error_probability}")
        return out

    def to_json(self) -> dict[str, Any]:
        """The fields that differ from the default, by name (what :meth:`merged` takes over)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "given" and getattr(self, f.name) != _DEFAULTS[f.name]}


_DEFAULTS: dict[str, Any] = {
    f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
    for f in dataclasses.fields(Faults)
}

"""Injectable time, so batch lifecycles and cache TTLs are testable without sleeping."""

from __future__ import annotations

import functools
import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to: ``clock.advance(3600)``."""

    def __init__(self, start: float | datetime = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, when: float | datetime) -> None:
        self._now = when.timestamp() if isinstance(when, datetime) else float(when)


def rfc3339(ts: float, *, micro: bool = False) -> str:
    """``2026-02-17T23:44:11Z``, or with ``micro`` ``2026-08-19T14:47:10.487960+00:00`` (batches)."""
    if micro:
        return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="microseconds")
    return _rfc3339_seconds(int(ts))


@functools.lru_cache(maxsize=256)
def _rfc3339_seconds(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

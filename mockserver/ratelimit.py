"""Rate-limit state and the ``anthropic-ratelimit-*`` headers that report it.

Off by default: the headers then show a generous, never-exhausted organisation (limits as in
real recordings), with resets at the current second, as an unpressured real bucket reports.
"""

from __future__ import annotations

from .clock import Clock
from .protocol.headers import Bucket, ratelimit_headers

DEFAULT_LIMITS = {"requests": 4000, "input_tokens": 2_000_000, "output_tokens": 400_000}


class RateLimiter:
    def __init__(self, clock: Clock, limits: dict[str, int] | None = None) -> None:
        self.clock = clock
        self.limits = dict(DEFAULT_LIMITS, **(limits or {}))
        self._cached: tuple[int, dict[str, str]] = (-1, {})

    def headers(self, model: str | None = None) -> dict[str, str]:
        """Never-exhausted buckets: identical within one second, so computed once per second."""
        second = int(self.clock.now())
        if self._cached[0] != second:
            limits = self.limits
            self._cached = (
                second,
                ratelimit_headers(
                    Bucket(limits["requests"], limits["requests"] - 1, second),
                    Bucket(limits["input_tokens"], limits["input_tokens"], second),
                    Bucket(limits["output_tokens"], limits["output_tokens"], second),
                ),
            )
        return self._cached[1]

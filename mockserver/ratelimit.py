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

    def headers(self, model: str | None = None) -> dict[str, str]:
        now = self.clock.now()
        return ratelimit_headers(
            Bucket(self.limits["requests"], self.limits["requests"] - 1, now),
            Bucket(self.limits["input_tokens"], self.limits["input_tokens"], now),
            Bucket(self.limits["output_tokens"], self.limits["output_tokens"], now),
        )

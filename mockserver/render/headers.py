"""The headers every API response carries, in one place: ``request-id``, the organisation id,
Cloudflare-style edge headers, ``anthropic-ratelimit-*`` where real answers have them, and
``x-should-retry: false`` on client errors that the SDK would not retry anyway.
"""

from __future__ import annotations

import random
from typing import Mapping

from multidict import CIMultiDict

from mockserver.clock import Clock
from mockserver.protocol.endpoints import Endpoint
from mockserver.protocol.headers import StaticHeaders, cf_ray, never_exhausted_headers

JSON = "application/json"
SSE = "text/event-stream; charset=utf-8"


class ResponseHeaders:
    """Builds each response's headers from prebuilt constant parts and a few per-response ones."""

    def __init__(self, static: StaticHeaders, clock: Clock, wire_rng: random.Random) -> None:
        self.static = static
        self.clock = clock
        self.wire_rng = wire_rng
        self._idle: tuple[int, Mapping[str, str]] = (-1, {})

    def idle_limits(self) -> Mapping[str, str]:
        """Never-exhausted ``anthropic-ratelimit-*`` headers (emulation off): the same mapping
        for a whole second, so the prebuilt headers are rebuilt once a second at most."""
        second = int(self.clock.now())
        if self._idle[0] != second:
            self._idle = (second, never_exhausted_headers(second))
        return self._idle[1]

    def _limits(self, endpoint: Endpoint | None, status: int, given: Mapping[str, str] | None) -> Mapping[str, str] | None:
        if endpoint is None or not endpoint.limit_headers or not (200 <= status < 300 or status == 429):
            return None
        return given if given is not None else self.idle_limits()

    def base(self, request_id: str, status: int, endpoint: Endpoint | None, limits: Mapping[str, str] | None = None) -> CIMultiDict[str]:
        """Every response's headers for ``status``: rate limits where the endpoint reports them
        (successes and 429s), ``x-should-retry: false`` on client errors the SDK would not retry."""
        headers = self.static.for_status(status, self._limits(endpoint, status, limits))
        return self.per_response(headers, request_id)

    def serialized(self, request_id: str, endpoint: Endpoint | None, limits: Mapping[str, str] | None) -> tuple[bytes, CIMultiDict[str], CIMultiDict[str]]:
        """A success's headers split in two: the constant lines serialized once (and the same
        as a multidict, for writers that cannot splice bytes), and the per-response rest."""
        lines, constant, rest = self.static.success_serialized(self._limits(endpoint, 200, limits))
        return lines, constant, self.per_response(rest, request_id)

    def per_response(self, headers: CIMultiDict[str], request_id: str) -> CIMultiDict[str]:
        headers["request-id"] = request_id
        if self.static.edge:
            headers["cf-ray"] = cf_ray(self.wire_rng)
        return headers

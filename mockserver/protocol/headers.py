"""Response headers in the real API's formats (names lowercase, as HTTP/2 and the SDK expect)."""

from __future__ import annotations

import email.utils
import random
import re
from dataclasses import dataclass
from typing import Mapping

from multidict import CIMultiDict

from mockserver.clock import rfc3339

RATELIMIT_PREFIX = "anthropic-ratelimit-"
CF_AIRPORTS = ("SJC", "LAX", "SEA", "ORD", "IAD", "EWR", "LHR", "FRA", "AMS", "CDG", "NRT", "SIN")


@dataclass(frozen=True, slots=True)
class Bucket:
    """One rate-limit bucket as reported in headers: limit, what is left, when it is full again."""

    limit: int
    remaining: int
    reset_at: float


def ratelimit_headers(
    requests: Bucket, input_tokens: Bucket, output_tokens: Bucket
) -> dict[str, str]:
    """The 12 ``anthropic-ratelimit-*`` headers. ``tokens`` is the most restrictive combination:
    its limit is input + output, as in every real recording; token counts are rounded down to
    the nearest thousand as the API documents."""
    tokens = Bucket(
        input_tokens.limit + output_tokens.limit,
        input_tokens.remaining + output_tokens.remaining,
        max(input_tokens.reset_at, output_tokens.reset_at),
    )
    headers: dict[str, str] = {}
    for name, bucket, rounded in (
        ("requests", requests, False),
        ("input-tokens", input_tokens, True),
        ("output-tokens", output_tokens, True),
        ("tokens", tokens, True),
    ):
        remaining = max(0, bucket.remaining)
        if rounded:
            remaining -= remaining % 1000
        headers[f"{RATELIMIT_PREFIX}{name}-limit"] = str(bucket.limit)
        headers[f"{RATELIMIT_PREFIX}{name}-remaining"] = str(remaining)
        headers[f"{RATELIMIT_PREFIX}{name}-reset"] = rfc3339(bucket.reset_at)
    return headers


def cf_ray(rng: random.Random) -> str:
    return f"{rng.randbytes(8).hex()}-{CF_AIRPORTS[rng.randbytes(1)[0] % len(CF_AIRPORTS)]}"


STATIC_EDGE_HEADERS = {
    "cf-cache-status": "DYNAMIC",
    "x-robots-tag": "none",
    "strict-transport-security": "max-age=31536000; includeSubDomains; preload",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "server": "cloudflare",  # last: the one constant header aiohttp must see (see success_serialized)
}
# What aiohttp refuses in a header (RFC 9110 5.5): control characters other than tab.
_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Client errors the SDK retries: they must not say x-should-retry: false.
RETRIED_CLIENT_ERRORS = frozenset({408, 409, 429})


def unsafe_in_header(value: str) -> bool:
    """Whether ``value`` holds a character aiohttp refuses in a header (a control character other than tab)."""
    return _UNSAFE.search(value) is not None


def says_no_retry(status: int) -> bool:
    """Whether a failure with ``status`` carries ``x-should-retry: false``: the client errors
    the SDK does not retry anyway."""
    return 400 <= status < 500 and status not in RETRIED_CLIENT_ERRORS


def sdk_retries(status: int) -> bool:
    """Whether the official SDKs retry a failure with ``status`` when no ``x-should-retry``
    says otherwise (408, 409, 429 and every 5xx)."""
    return status in RETRIED_CLIENT_ERRORS or status >= 500


def http_date(at: float) -> str:
    """``Wed, 21 Oct 2026 07:28:00 GMT``: the HTTP-date form of ``Retry-After``."""
    return email.utils.formatdate(at, usegmt=True)


class StaticHeaders:
    """The headers that do not change from one response to the next, prebuilt as a multidict
    (copying one is much cheaper than building ~20 case-insensitive keys per response), and for
    successes also serialized. The rate-limit part changes once a second at most when emulation
    is off, so it is rebuilt only when the limiter hands out a different mapping."""

    def __init__(self, organization_id: str, edge: bool) -> None:
        if unsafe_in_header(organization_id):
            raise ValueError(f"the organization id cannot go in a header: {organization_id!r}")
        common: dict[str, str] = {"anthropic-organization-id": organization_id}
        if edge:
            common.update(STATIC_EDGE_HEADERS)
        self.edge = edge
        self._common = common
        self._client_error = CIMultiDict({"x-should-retry": "false", **common})
        self._other = CIMultiDict(common)
        self._limits: Mapping[str, str] | None = None
        self._success: CIMultiDict[str] = CIMultiDict(common)
        self._serialized: tuple[bytes, CIMultiDict[str]] = (b"", CIMultiDict())

    def success(self, limits: Mapping[str, str]) -> CIMultiDict[str]:
        if limits is not self._limits:
            self._rebuild(limits)
        return self._success.copy()

    def success_serialized(self, limits: Mapping[str, str]) -> tuple[bytes, CIMultiDict[str]]:
        """The headers of :meth:`success`, split in two: the constant lines already serialized
        (``name: value\\r\\n`` each, in the same order), and a multidict of what aiohttp must
        still see, ``server``, which it would otherwise add itself."""
        if limits is not self._limits:
            self._rebuild(limits)
        lines, rest = self._serialized
        return lines, rest.copy()

    def _rebuild(self, limits: Mapping[str, str]) -> None:
        constant = {**limits, **self._common}
        self._limits, self._success = limits, CIMultiDict(constant)
        rest = CIMultiDict(server=constant.pop("server")) if "server" in constant else CIMultiDict()
        # Checked once here rather than character by character on every response.
        lines = "".join(f"{name}: {value}\r\n" for name, value in constant.items())
        if unsafe_in_header(lines.replace("\r\n", "")):
            raise ValueError(f"unsafe characters in response headers: {constant!r}")
        self._serialized = (lines.encode(), rest)

    def failure(self, status: int) -> CIMultiDict[str]:
        return (self._client_error if says_no_retry(status) else self._other).copy()

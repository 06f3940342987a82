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


def wire_text(value: str) -> str:
    """A header value, path or reason phrase as text JSON and YAML can carry (and a reply can
    send): bytes that were not UTF-8, which the HTTP parser keeps as lone surrogates, become U+FFFD."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:  # the parser's escapes of bytes that were not UTF-8: one U+FFFD per byte run
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # other lone surrogates
            return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


def cf_ray(rng: random.Random) -> str:
    """16 hex digits and an airport code, from one draw."""
    bits = rng.getrandbits(72)
    return f"{bits >> 8:016x}-{CF_AIRPORTS[(bits & 0xFF) % len(CF_AIRPORTS)]}"


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


OFF_REQUESTS, OFF_INPUT_TOKENS, OFF_OUTPUT_TOKENS = 4000, 2_000_000, 400_000
"""The limits never-exhausted headers show (rate-limit emulation off): a default tier's."""


def never_exhausted_headers(second: int) -> dict[str, str]:
    """Rate-limit headers of buckets that are never used up, as of ``second``."""
    return ratelimit_headers(
        Bucket(OFF_REQUESTS, OFF_REQUESTS - 1, second),
        Bucket(OFF_INPUT_TOKENS, OFF_INPUT_TOKENS, second),
        Bucket(OFF_OUTPUT_TOKENS, OFF_OUTPUT_TOKENS, second),
    )


class StaticHeaders:
    """The headers that do not change from one response to the next, prebuilt as multidicts
    (copying one is much cheaper than building ~20 case-insensitive keys per response), and for
    successes also serialized. With rate-limit headers, the prebuilt parts are rebuilt only when
    the limiter hands out a different mapping (once a second when emulation is off).

    A 401 carries no ``anthropic-organization-id`` (no key, no organisation: real 401s have none)."""

    def __init__(self, organization_id: str, edge: bool) -> None:
        if unsafe_in_header(organization_id):
            raise ValueError(f"the organization id cannot go in a header: {organization_id!r}")
        edge_headers = dict(STATIC_EDGE_HEADERS) if edge else {}
        common: dict[str, str] = {"anthropic-organization-id": organization_id, **edge_headers}
        self.edge = edge
        self._common = common
        self._plain: CIMultiDict[str] = CIMultiDict(common)
        self._client_error: CIMultiDict[str] = CIMultiDict({"x-should-retry": "false", **common})
        self._unauthenticated: CIMultiDict[str] = CIMultiDict({"x-should-retry": "false", **edge_headers})
        self._plain_serialized = self._serialize(common)
        self._limits: Mapping[str, str] | None = None
        self._limited: CIMultiDict[str] = CIMultiDict(common)
        self._limited_serialized = self._plain_serialized

    def for_status(self, status: int, limits: Mapping[str, str] | None = None) -> CIMultiDict[str]:
        """A copy of the constant headers of a response with ``status`` (and these rate-limit headers)."""
        if limits is not None:
            if limits is not self._limits:
                self._rebuild(limits)
            headers = self._limited
        elif says_no_retry(status):
            headers = self._unauthenticated if status == 401 else self._client_error
        else:
            headers = self._plain
        copied: CIMultiDict[str] = headers.copy()
        return copied

    def success_serialized(self, limits: Mapping[str, str] | None) -> tuple[bytes, CIMultiDict[str], CIMultiDict[str]]:
        """A success's constant headers split in two: the lines already serialized (``name:
        value\r\n`` each, in order, checked once), the same as a multidict (for writers that
        cannot splice bytes), and a multidict of what aiohttp must still see: ``server``, which
        it would otherwise add itself."""
        if limits is None:
            lines, constant, rest = self._plain_serialized
        else:
            if limits is not self._limits:
                self._rebuild(limits)
            lines, constant, rest = self._limited_serialized
        return lines, constant, rest.copy()

    def _rebuild(self, limits: Mapping[str, str]) -> None:
        merged = {**limits, **self._common}
        self._limits, self._limited = limits, CIMultiDict(merged)
        self._limited_serialized = self._serialize(merged)

    @staticmethod
    def _serialize(headers: Mapping[str, str]) -> tuple[bytes, CIMultiDict[str], CIMultiDict[str]]:
        constant = dict(headers)
        rest = CIMultiDict(server=constant.pop("server")) if "server" in constant else CIMultiDict()
        lines = "".join(f"{name}: {value}\r\n" for name, value in constant.items())
        if unsafe_in_header(lines.replace("\r\n", "")):
            raise ValueError(f"unsafe characters in response headers: {constant!r}")
        return lines.encode(), CIMultiDict(constant), rest

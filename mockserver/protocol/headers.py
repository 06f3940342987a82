"""Response headers in the real API's formats (names lowercase, as HTTP/2 and the SDK expect)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..clock import rfc3339

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
    "server": "cloudflare",
    "cf-cache-status": "DYNAMIC",
    "x-robots-tag": "none",
    "strict-transport-security": "max-age=31536000; includeSubDomains; preload",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}

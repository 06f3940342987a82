"""Token buckets (in the store) and the rate limiter, driven by a manual clock."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Awaitable, TypeVar

import pytest

from mockserver.clock import ManualClock, rfc3339
from mockserver.protocol.headers import StaticHeaders
from mockserver.ratelimit.limiter import Limits, RateLimitConfig, RateLimiter, report, wait_for
from mockserver.render.headers import ResponseHeaders
from mockserver.store.base import BucketSpec
from mockserver.store.local import LocalStore

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def limiter_with(clock: ManualClock, **options: Any) -> RateLimiter:
    return RateLimiter(LocalStore(":memory:"), clock, **options)


def test_bucket_refills_continuously_up_to_capacity() -> None:
    store = LocalStore(":memory:")
    spec = BucketSpec("b", 60, 60.0)
    assert run(store.take_buckets([spec], [60], [60], now=0.0)).levels == (0.0,)
    assert run(store.bucket_levels([spec], now=10.0)) == pytest.approx((10,))
    assert wait_for(spec, 10.0, 15) == pytest.approx(5)
    assert run(store.bucket_levels([spec], now=1000.0)) == (60,)
    bucket = report(spec, 60.0, 1000.0)
    assert (bucket.limit, bucket.remaining, bucket.reset_at) == (60, 60, 1000.0)


def test_taking_is_all_or_nothing() -> None:
    store = LocalStore(":memory:")
    a, b = BucketSpec("a", 10), BucketSpec("b", 10)
    refused = run(store.take_buckets([a, b], [5, 20], [5, 20], now=0.0))
    assert not refused.taken and refused.levels == (10, 10)  # nothing was taken from either
    taken = run(store.take_buckets([a, b], [5, 5], [5, 5], now=0.0))
    assert taken.taken and taken.levels == (5, 5)


def test_config_parse_and_errors() -> None:
    config = RateLimitConfig.parse({"requests_per_minute": 10, "models": {"m": {"output_tokens_per_minute": 5}}})
    assert config.limits == Limits(requests=10)
    assert config.models["m"] == Limits(requests=10, output_tokens=5)  # inherits the rest
    with pytest.raises(ValueError, match=r"rate_limits.rpm: unknown field"):
        RateLimitConfig.parse({"rpm": 1})
    with pytest.raises(ValueError, match=r"<python>: rate_limits.models.m.input_tokens_per_minute: must be an integer from 1 to 1000000000000, not a string"):
        RateLimitConfig.parse({"models": {"m": {"input_tokens_per_minute": "lots"}}})


def test_off_headers_are_static_and_cached_per_second() -> None:
    clock = ManualClock()
    headers = ResponseHeaders(StaticHeaders("org", edge=False), clock, random.Random(0))
    first = headers.idle_limits()
    assert first is headers.idle_limits()
    assert first["anthropic-ratelimit-requests-remaining"] == "3999"
    clock.advance(1)
    assert headers.idle_limits() is not first


def test_admit_settle_and_refusals() -> None:
    clock = ManualClock()
    limiter = limiter_with(clock, config=RateLimitConfig(Limits(requests=2, input_tokens=1000, output_tokens=100)))
    assert run(limiter.admit("messages.create", "m", 400, "org")) is None
    run(limiter.settle("m", input_adjustment=100, output_tokens=150))  # the reply used more than estimated
    headers = run(limiter.headers("m"))
    assert headers["anthropic-ratelimit-requests-remaining"] == "1"
    assert headers["anthropic-ratelimit-output-tokens-remaining"] == "0"  # overdrawn: never negative
    refusal = run(limiter.admit("messages.create", "m", 10, "org"))
    assert refusal is not None and refusal.status == 429 and "100 output tokens per minute" in refusal.message
    assert refusal.headers["retry-after"] == "31"  # 50 overdrawn + 1 at 100/min
    assert run(limiter.admit("messages.create", "m", 10, "org")) is not None  # nothing was taken by a refusal
    clock.advance(31)
    assert run(limiter.admit("messages.create", "m", 10, "org")) is None
    assert headers["anthropic-ratelimit-requests-reset"] == rfc3339(clock.now() - 31 + 30)


def test_input_that_does_not_fit_and_count_tokens_bucket() -> None:
    limiter = limiter_with(ManualClock(), config=RateLimitConfig(Limits(input_tokens=1000, count_tokens_requests=1)))
    refusal = run(limiter.admit("messages.create", "m", 1500, "org-1"))
    assert refusal is not None and "of 1,000 input tokens per minute" in refusal.message and "org-1" in refusal.message
    assert run(limiter.admit("messages.count_tokens", "m", 0, "org")) is None
    assert run(limiter.admit("messages.count_tokens", "m", 0, "org")) is not None
    assert run(limiter.admit("messages.create", "m", 10, "org")) is None


def test_models_resolve_to_one_bucket_and_reset_refills() -> None:
    limiter = limiter_with(
        ManualClock(),
        config=RateLimitConfig(Limits(requests=5), {"alias": Limits(requests=1)}),
        resolve=lambda m: "dated" if m in ("alias", "dated") else m,
    )
    assert run(limiter.admit("messages.create", "alias", 1, "o")) is None
    assert run(limiter.admit("messages.create", "dated", 1, "o")) is not None
    assert run(limiter.admit("messages.create", "other", 1, "o")) is None
    run(limiter.reset())
    assert run(limiter.admit("messages.create", "dated", 1, "o")) is None
    limiter.configure(None)
    assert not limiter.enabled and run(limiter.to_json()) == {"enabled": False}


def test_namespaces_have_buckets_of_their_own() -> None:
    limiter = limiter_with(ManualClock(), config=RateLimitConfig(Limits(requests=1)))
    assert run(limiter.admit("messages.create", "m", 1, "o", "team-a")) is None
    assert run(limiter.admit("messages.create", "m", 1, "o", "team-a")) is not None
    assert run(limiter.admit("messages.create", "m", 1, "o", "team-b")) is None


@pytest.mark.parametrize("endpoint", ["bedrock.count_tokens", "vertex.count_tokens"])
def test_a_platform_count_tokens_call_takes_the_count_tokens_bucket(endpoint: str) -> None:
    """A platform's count-tokens door is charged as ``messages.count_tokens`` (its own bucket);
    it took from the Messages requests bucket."""
    limiter = limiter_with(ManualClock(), config=RateLimitConfig(Limits(requests=1, count_tokens_requests=2)))
    assert run(limiter.admit(endpoint, "m", 0, "o")) is None
    assert run(limiter.admit(endpoint, "m", 0, "o")) is None
    assert run(limiter.admit(endpoint, "m", 0, "o")) is not None  # the count_tokens bucket's two are gone
    assert run(limiter.admit("messages.count_tokens", "m", 0, "o")) is not None  # the same bucket as first-party
    assert run(limiter.admit("bedrock.invoke", "m", 0, "o")) is None  # Messages still had their one request
    assert run(limiter.admit("vertex.raw_predict", "m", 0, "o")) is not None

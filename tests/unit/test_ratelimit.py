"""Token buckets and the rate limiter, driven by a manual clock."""

from __future__ import annotations

import pytest

from mockserver.clock import ManualClock, rfc3339
from mockserver.ratelimit.limiter import Limits, RateLimitConfig, RateLimiter, TokenBucket


def test_bucket_refills_continuously_up_to_capacity() -> None:
    bucket = TokenBucket(60, now=0.0)
    bucket.level = 0
    bucket.refill(10.0)
    assert bucket.level == pytest.approx(10)
    assert bucket.wait_for(15) == pytest.approx(5)
    bucket.refill(1000.0)
    assert bucket.level == 60
    report = bucket.report(1000.0)
    assert (report.limit, report.remaining, report.reset_at) == (60, 60, 1000.0)


def test_config_parse_and_errors() -> None:
    config = RateLimitConfig.parse({"requests_per_minute": 10, "models": {"m": {"output_tokens_per_minute": 5}}})
    assert config.limits == Limits(requests=10)
    assert config.models["m"] == Limits(requests=10, output_tokens=5)  # inherits the rest
    with pytest.raises(ValueError, match=r"rate_limits.rpm: unknown field"):
        RateLimitConfig.parse({"rpm": 1})
    with pytest.raises(ValueError, match=r"rate_limits.models.m.input_tokens_per_minute: must be a positive integer"):
        RateLimitConfig.parse({"models": {"m": {"input_tokens_per_minute": "lots"}}})


def test_off_headers_are_static_and_cached_per_second() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock)
    first = limiter.headers("m")
    assert first is limiter.headers("other")
    assert first["anthropic-ratelimit-requests-remaining"] == "3999"
    clock.advance(1)
    assert limiter.headers("m") is not first


def test_admit_settle_and_refusals() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock, config=RateLimitConfig(Limits(requests=2, input_tokens=1000, output_tokens=100)))
    assert limiter.admit("messages.create", "m", 400, "org") is None
    limiter.settle("m", input_adjustment=100, output_tokens=150)  # the reply used more than estimated
    headers = limiter.headers("m")
    assert headers["anthropic-ratelimit-requests-remaining"] == "1"
    assert headers["anthropic-ratelimit-output-tokens-remaining"] == "0"  # overdrawn: never negative
    refusal = limiter.admit("messages.create", "m", 10, "org")
    assert refusal is not None and refusal.status == 429 and "100 output tokens per minute" in refusal.message
    assert refusal.headers["retry-after"] == "31"  # 50 overdrawn + 1 at 100/min
    assert limiter.admit("messages.create", "m", 10, "org") is not None  # nothing was taken by a refusal
    clock.advance(31)
    assert limiter.admit("messages.create", "m", 10, "org") is None
    assert headers["anthropic-ratelimit-requests-reset"] == rfc3339(clock.now() - 31 + 30)


def test_input_that_does_not_fit_and_count_tokens_bucket() -> None:
    limiter = RateLimiter(ManualClock(), config=RateLimitConfig(Limits(input_tokens=1000, count_tokens_requests=1)))
    refusal = limiter.admit("messages.create", "m", 1500, "org-1")
    assert refusal is not None and "of 1,000 input tokens per minute" in refusal.message and "org-1" in refusal.message
    assert limiter.admit("messages.count_tokens", "m", 0, "org") is None
    assert limiter.admit("messages.count_tokens", "m", 0, "org") is not None
    assert limiter.admit("messages.create", "m", 10, "org") is None


def test_models_resolve_to_one_bucket_and_reset_refills() -> None:
    limiter = RateLimiter(
        ManualClock(),
        config=RateLimitConfig(Limits(requests=5), {"alias": Limits(requests=1)}),
        resolve=lambda m: "dated" if m in ("alias", "dated") else m,
    )
    assert limiter.admit("messages.create", "alias", 1, "o") is None
    assert limiter.admit("messages.create", "dated", 1, "o") is not None
    assert limiter.admit("messages.create", "other", 1, "o") is None
    limiter.reset()
    assert limiter.admit("messages.create", "dated", 1, "o") is None
    limiter.configure(None)
    assert not limiter.enabled and limiter.to_json() == {"enabled": False}

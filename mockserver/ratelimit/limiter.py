"""Rate-limit emulation (token buckets) and the ``anthropic-ratelimit-*`` headers that report it.

Off by default: the headers then show a generous, never-exhausted organisation (limits as in
real recordings), with resets at the current second, as an unpressured real bucket reports;
they are computed once per second, so the default path costs a dict lookup.

On (``--rate-limit-rpm`` …, a scenario file's ``rate_limits``, the admin API or
``MockServer.set_rate_limits``): each model has three buckets, as the real API keeps them,
refilled continuously at ``limit / 60`` per second:

- requests: every Messages call takes one;
- input tokens: a call takes its *uncached* input (cache reads do not count, as documented;
  cache writes do); the call is refused when that does not fit;
- output tokens: charged after the reply is known (the real API estimates from ``max_tokens``
  up front and corrects later; here a call is refused only while the bucket is empty).

``count_tokens`` calls have their own requests-per-minute bucket (the real API limits token
counting separately) and take no tokens. A refused call gets the real 429 ``rate_limit_error``
with ``retry-after`` (whole seconds until the bucket holds enough).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from mockserver.clock import Clock
from mockserver.protocol.errors import ApiError
from mockserver.protocol.headers import Bucket, ratelimit_headers

DOCS_URL = "https://docs.anthropic.com/en/api/rate-limits"
# YAML/JSON key -> Limits field
LIMIT_KEYS = {
    "requests_per_minute": "requests",
    "input_tokens_per_minute": "input_tokens",
    "output_tokens_per_minute": "output_tokens",
    "count_tokens_requests_per_minute": "count_tokens_requests",
}


@dataclass(frozen=True)
class Limits:
    """Per-minute limits of one model; the defaults are also what the headers show when
    emulation is off."""

    requests: int = 4000
    input_tokens: int = 2_000_000
    output_tokens: int = 400_000
    count_tokens_requests: int = 4000  # its own bucket, as large as the requests one

    def to_json(self) -> dict[str, int]:
        return {key: getattr(self, name) for key, name in LIMIT_KEYS.items()}


OFF_LIMITS = Limits()


@dataclass(frozen=True)
class RateLimitConfig:
    """Limits for every model, and overrides for some (by id or alias)."""

    limits: Limits = field(default_factory=Limits)
    models: Mapping[str, Limits] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any, where: str = "rate_limits") -> "RateLimitConfig":
        """From ``{requests_per_minute: 50, …, models: {claude-haiku-4-5: {…}}}``; a ``ValueError``
        names the field that is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: must be a mapping")
        base = _limits(Limits(), data, where, extra={"models"})
        models: dict[str, Limits] = {}
        raw_models = data.get("models") or {}
        if not isinstance(raw_models, Mapping):
            raise ValueError(f"{where}.models: must be a mapping of model id to limits")
        for model, spec in raw_models.items():
            models[str(model)] = _limits(base, spec, f"{where}.models.{model}")
        return cls(base, models)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.limits.to_json()
        data["models"] = {model: limits.to_json() for model, limits in self.models.items()}
        return data


def _limits(base: Limits, spec: Any, where: str, extra: frozenset[str] | set[str] = frozenset()) -> Limits:
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: must be a mapping")
    changes: dict[str, int] = {}
    for key, value in spec.items():
        if key in extra:
            continue
        if key not in LIMIT_KEYS:
            raise ValueError(f"{where}.{key}: unknown field (expected one of {', '.join(LIMIT_KEYS)})")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}.{key}: must be a positive integer")
        changes[LIMIT_KEYS[key]] = value
    return replace(base, **changes)


class TokenBucket:
    """A bucket of ``capacity`` refilled continuously over a minute."""

    __slots__ = ("capacity", "level", "updated")

    def __init__(self, capacity: int, now: float) -> None:
        self.capacity = capacity
        self.level = float(capacity)
        self.updated = now

    @property
    def rate(self) -> float:
        return self.capacity / 60.0

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(float(self.capacity), self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until the bucket holds ``amount`` (at most its capacity)."""
        return max(0.0, (min(amount, self.capacity) - self.level) / self.rate)

    def report(self, now: float) -> Bucket:
        full_at = now + (self.capacity - self.level) / self.rate
        return Bucket(self.capacity, math.floor(self.level), full_at)


class _ModelBuckets:
    __slots__ = ("requests", "input_tokens", "output_tokens", "count_tokens")

    def __init__(self, limits: Limits, now: float) -> None:
        self.requests = TokenBucket(limits.requests, now)
        self.input_tokens = TokenBucket(limits.input_tokens, now)
        self.output_tokens = TokenBucket(limits.output_tokens, now)
        self.count_tokens = TokenBucket(limits.count_tokens_requests, now)

    def refill(self, now: float) -> None:
        for name in self.__slots__:
            getattr(self, name).refill(now)


class RateLimiter:
    def __init__(
        self,
        clock: Clock,
        *,
        config: RateLimitConfig | None = None,
        resolve: Callable[[str], str] | None = None,
    ) -> None:
        self.clock = clock
        self._cached: tuple[int, dict[str, str]] = (-1, {})
        self._resolve = resolve or (lambda model: model)
        self.config: RateLimitConfig | None = None
        self.enabled = False
        self._models: dict[str, Limits] = {}
        self._buckets: dict[str, _ModelBuckets] = {}
        self.configure(config)

    # -- configuration -------------------------------------------------------------------------
    def configure(self, config: RateLimitConfig | None) -> None:
        """Turn emulation on with these limits (buckets start full), or off with ``None``."""
        self.config = config
        self.enabled = config is not None
        self._models = {self._resolve(m): limits for m, limits in config.models.items()} if config else {}
        self._buckets.clear()

    def reset(self) -> None:
        """Refill every bucket (the limits stay)."""
        self._buckets.clear()

    def _for(self, model: str | None, now: float) -> _ModelBuckets:
        key = self._resolve(model) if model else ""
        buckets = self._buckets.get(key)
        if buckets is None:
            assert self.config is not None
            buckets = self._buckets[key] = _ModelBuckets(self._models.get(key, self.config.limits), now)
        else:
            buckets.refill(now)
        return buckets

    # -- the pipeline's questions ----------------------------------------------------------------
    def admit(self, endpoint: str, model: str | None, input_tokens: int, organization: str) -> ApiError | None:
        """Take this call from the buckets, or the 429 that refuses it (nothing taken then)."""
        now = self.clock.now()
        buckets = self._for(model, now)
        if endpoint == "messages.count_tokens":
            if buckets.count_tokens.level < 1:
                return _refusal(buckets.count_tokens, 1, "requests", organization)
            buckets.count_tokens.level -= 1
            return None
        if buckets.requests.level < 1:
            return _refusal(buckets.requests, 1, "requests", organization)
        if buckets.input_tokens.level < input_tokens:
            return _refusal(buckets.input_tokens, input_tokens, "input tokens", organization)
        if buckets.output_tokens.level <= 0:
            return _refusal(buckets.output_tokens, 1, "output tokens", organization)
        buckets.requests.level -= 1
        buckets.input_tokens.level -= input_tokens
        return None

    def settle(self, model: str | None, *, input_adjustment: int = 0, output_tokens: int = 0) -> None:
        """Charge what the reply used beyond the estimate taken at admission."""
        buckets = self._for(model, self.clock.now())
        buckets.input_tokens.level -= input_adjustment
        buckets.output_tokens.level -= output_tokens

    def headers(self, model: str | None = None) -> dict[str, str]:
        if self.enabled:
            now = self.clock.now()
            buckets = self._for(model, now)
            return ratelimit_headers(
                buckets.requests.report(now), buckets.input_tokens.report(now), buckets.output_tokens.report(now)
            )
        # Never-exhausted buckets: identical within one second, so computed once per second.
        second = int(self.clock.now())
        if self._cached[0] != second:
            limits = OFF_LIMITS
            self._cached = (
                second,
                ratelimit_headers(
                    Bucket(limits.requests, limits.requests - 1, second),
                    Bucket(limits.input_tokens, limits.input_tokens, second),
                    Bucket(limits.output_tokens, limits.output_tokens, second),
                ),
            )
        return self._cached[1]

    def to_json(self) -> dict[str, Any]:
        if self.config is None:
            return {"enabled": False}
        now = self.clock.now()
        state = {}
        for key in list(self._buckets):
            buckets = self._for(key or None, now)
            state[key or "-"] = {
                name: {"limit": b.capacity, "remaining": math.floor(b.level)}
                for name in _ModelBuckets.__slots__
                for b in [getattr(buckets, name)]
            }
        return {"enabled": True, **self.config.to_json(), "buckets": state}


def _refusal(bucket: TokenBucket, needed: float, unit: str, organization: str) -> ApiError:
    wait = max(1, math.ceil(bucket.wait_for(needed)))
    message = (
        f"This request would exceed the rate limit for your organization ({organization}) of "
        f"{bucket.capacity:,} {unit} per minute. For details, refer to: {DOCS_URL}. You can see the "
        "response headers for current usage. Please reduce the prompt length or the maximum tokens "
        "requested, or try again later. You may also contact sales at "
        "https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase."
    )
    return ApiError(429, message, type="rate_limit_error", headers={"retry-after": str(wait)})


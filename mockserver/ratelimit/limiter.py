"""Rate-limit emulation (token buckets) and the ``anthropic-ratelimit-*`` headers that report it.

Off by default: the renderer then shows a generous, never-exhausted organisation (limits as in
real recordings: mockserver/protocol/headers.py), with resets at the current second, as an
unpressured real bucket reports.

On (``--rate-limit-rpm`` …, a scenario file's ``rate_limits``, the admin API or
``MockServer.set_rate_limits``): each model has three buckets, as the real API keeps them,
refilled continuously at ``limit / 60`` per second:

- requests: every Messages call takes one;
- input tokens: a call takes its *uncached* input (cache reads do not count, as documented;
  cache writes do); the call is refused when that does not fit;
- output tokens: charged after the reply is known (the real API estimates from ``max_tokens``
  up front and corrects later; here a call is refused only while the bucket is empty).

Text Completions calls (``/v1/complete``, Bedrock's invoke with a ``prompt``) draw on the same
three buckets of their model: the prompt's tokens, then the completion's (whether the real legacy
API shares them is unconfirmed: docs/protocol.md "Text Completions").

``count_tokens`` calls (Bedrock's and Vertex's count-tokens too) have their own requests-per-minute bucket (the real API limits token
counting separately) and take no tokens; so do the Files endpoints, one bucket for all five and
every model (the Files docs: "approximately 100 requests per minute" during the beta). A refused call gets the real 429 ``rate_limit_error``
with ``retry-after`` (whole seconds until the bucket holds enough).

The buckets live in the store (mockserver/store/), per namespace, taken all-or-nothing, so every
process that shares a store shares the limits.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import orjson

from mockserver.clock import Clock
from mockserver.documents import Node, Where
from mockserver.protocol.endpoints import COUNT_TOKENS, FILES_CREATE, FILES_DELETE, FILES_DOWNLOAD, FILES_LIST, FILES_RETRIEVE, kind
from mockserver.protocol.errors import ApiError
from mockserver.protocol.headers import OFF_INPUT_TOKENS, OFF_OUTPUT_TOKENS, OFF_REQUESTS, Bucket, ratelimit_headers
from mockserver.store.base import BucketSpec, Store

DOCS_URL = "https://docs.anthropic.com/en/api/rate-limits"
MAX_LIMIT = 10**12  # per minute: far above any real tier, and within what the buckets count exactly
# YAML/JSON key -> Limits field
LIMIT_KEYS = {
    "requests_per_minute": "requests",
    "input_tokens_per_minute": "input_tokens",
    "output_tokens_per_minute": "output_tokens",
    "count_tokens_requests_per_minute": "count_tokens_requests",
    "files_requests_per_minute": "files_requests",
}
FILES_ENDPOINTS = frozenset({FILES_CREATE, FILES_LIST, FILES_RETRIEVE, FILES_DELETE, FILES_DOWNLOAD})


@dataclass(frozen=True)
class Limits:
    """Per-minute limits of one model; the defaults are also what the headers show when
    emulation is off."""

    requests: int = OFF_REQUESTS
    input_tokens: int = OFF_INPUT_TOKENS
    output_tokens: int = OFF_OUTPUT_TOKENS
    count_tokens_requests: int = OFF_REQUESTS  # its own bucket, as large as the requests one
    files_requests: int = OFF_REQUESTS  # the Files endpoints' bucket (the organisation's, not a model's)

    def to_json(self) -> dict[str, int]:
        return {key: getattr(self, name) for key, name in LIMIT_KEYS.items()}


@dataclass(frozen=True)
class RateLimitConfig:
    """Limits for every model, and overrides for some (by id or alias)."""

    limits: Limits = field(default_factory=Limits)
    models: Mapping[str, Limits] = field(default_factory=dict)

    @classmethod
    def read(cls, node: Node) -> "RateLimitConfig":
        """From ``{requests_per_minute: 50, …, models: {claude-haiku-4-5: {…}}}``; a mistake is the
        node's error, naming the source and the key."""
        fields = node.mapping([*LIMIT_KEYS, "models"])
        base = _limits(Limits(), fields)
        models: dict[str, Limits] = {}
        if "models" in fields and fields["models"].value is not None:
            for model, spec in fields["models"].mapping().items():
                models[model] = _limits(base, spec.mapping(LIMIT_KEYS))
        return cls(base, models)

    @classmethod
    def parse(cls, data: Any, *, source: str = "<python>", path: str = "rate_limits") -> "RateLimitConfig":
        """:meth:`read` of a parsed document; a mistake is a :class:`DocumentError`."""
        return cls.read(Node(data, path, Where(source)))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.limits.to_json()
        data["models"] = {model: limits.to_json() for model, limits in self.models.items()}
        return data


def _limits(base: Limits, fields: Mapping[str, Node]) -> Limits:
    changes = {LIMIT_KEYS[key]: node.integer(minimum=1, maximum=MAX_LIMIT) for key, node in fields.items() if key in LIMIT_KEYS}
    return replace(base, **changes)


PERIOD = 60.0  # buckets refill over a minute


def report(spec: BucketSpec, level: float, now: float) -> Bucket:
    """A bucket as the headers show it: its limit, whole tokens left, when it is full again."""
    return Bucket(int(spec.capacity), math.floor(level), now + (spec.capacity - level) / (spec.capacity / PERIOD))


def wait_for(spec: BucketSpec, level: float, amount: float) -> float:
    """Seconds until a bucket at ``level`` holds ``amount`` (at most its capacity)."""
    return max(0.0, (min(amount, spec.capacity) - level) / (spec.capacity / PERIOD))


@dataclass(frozen=True)
class InForce:
    """Limits in force: the configuration, its models resolved, and the tag its buckets carry
    (a new configuration gets new buckets, which start full)."""

    config: RateLimitConfig
    models: Mapping[str, Limits]
    tag: str


class RateLimiter:
    """The limits in force (configuration, in this process: the server's, and per namespace the
    ones set at run time) and the buckets (in the store)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        config: RateLimitConfig | None = None,
        resolve: Callable[[str], str] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self._resolve = resolve or (lambda model: model)
        self._base: InForce | None = None
        self._overrides: dict[str, InForce | None] = {}
        self.enabled = False  # on anywhere: the stage's one check while emulation is off
        self._seen: dict[str, None] = {}  # models whose buckets were used (for the admin API's view)
        self.configure(config)

    # -- configuration -------------------------------------------------------------------------
    @property
    def config(self) -> RateLimitConfig | None:
        """The server's limits (configuration and scenario files), what every namespace starts with."""
        return self._base.config if self._base is not None else None

    def configure(self, config: RateLimitConfig | None) -> None:
        """The server's limits: emulation on with these (new limits: buckets start full), or off
        with ``None``. The buckets are named after the limits, so every process that shares a
        store and starts with the same limits (options, scenario files) uses the same ones."""
        tag = "b" + hashlib.blake2b(orjson.dumps(config.to_json(), option=orjson.OPT_SORT_KEYS), digest_size=6).hexdigest() if config else ""
        self._base = self._in_force(config, tag)
        self._seen.clear()
        self._update()

    def override(self, namespace: str, config: RateLimitConfig | None, generation: int) -> None:
        """Limits set at run time in one namespace (``None``: off there); ``generation`` counts
        the settings of that namespace, so every process gives them the same buckets."""
        self._overrides[namespace] = self._in_force(config, f"o{generation}")
        self._update()

    def drop_override(self, namespace: str) -> None:
        """The namespace goes back to the server's limits."""
        if self._overrides.pop(namespace, 0) != 0:
            self._update()

    def _in_force(self, config: RateLimitConfig | None, tag: str) -> InForce | None:
        if config is None:
            return None
        return InForce(config, {self._resolve(m): limits for m, limits in config.models.items()}, tag)

    def _update(self) -> None:
        self.enabled = self._base is not None or any(o is not None for o in self._overrides.values())

    def in_force(self, namespace: str = "default") -> InForce | None:
        overrides = self._overrides
        return overrides[namespace] if namespace in overrides else self._base

    def config_for(self, namespace: str = "default") -> RateLimitConfig | None:
        found = self.in_force(namespace)
        return found.config if found is not None else None

    def active(self, namespace: str = "default") -> bool:
        return self.in_force(namespace) is not None

    async def reset(self, namespace: str = "default", *, buckets: bool = True) -> None:
        """Refill every bucket (the limits stay); ``buckets``: false when the caller already
        cleared the namespace in the store."""
        if buckets:
            await self.store.clear(self._prefix(namespace))
        self._seen.clear()

    def _prefix(self, namespace: str) -> str:
        return f"{namespace}:limits:"

    def _specs(self, model: str | None, namespace: str) -> tuple[BucketSpec, BucketSpec, BucketSpec, BucketSpec]:
        return self._specs_of(self._resolve(model) if model else "", namespace)

    def _specs_of(self, key: str, namespace: str) -> tuple[BucketSpec, BucketSpec, BucketSpec, BucketSpec]:
        in_force = self.in_force(namespace)
        assert in_force is not None
        if key not in self._seen and len(self._seen) < 1000:
            self._seen[key] = None
        limits = in_force.models.get(key, in_force.config.limits)
        base = f"{self._prefix(namespace)}{in_force.tag}:{key}:"
        return (
            BucketSpec(base + "requests", limits.requests, PERIOD),
            BucketSpec(base + "input", limits.input_tokens, PERIOD),
            BucketSpec(base + "output", limits.output_tokens, PERIOD),
            BucketSpec(base + "count_tokens", limits.count_tokens_requests, PERIOD),
        )

    # -- the pipeline's questions ----------------------------------------------------------------
    async def admit(self, endpoint: str, model: str | None, input_tokens: int, organization: str, namespace: str = "default") -> ApiError | None:
        """Take this call from the buckets, or the 429 that refuses it (nothing taken then).
        ``endpoint`` is the table's name; a platform's door is charged as the first-party
        endpoint it stands for (``vertex.count_tokens`` as ``messages.count_tokens``)."""
        now = self.clock.now()
        if endpoint in FILES_ENDPOINTS:
            in_force = self.in_force(namespace)
            assert in_force is not None
            files = BucketSpec(f"{self._prefix(namespace)}{in_force.tag}:files", in_force.config.limits.files_requests, PERIOD)
            took = await self.store.take_buckets([files], [1], [1], now)
            return None if took.taken else _refusal(files, took.levels[0], 1, "requests", organization)
        requests, input_bucket, output, count_tokens = self._specs(model, namespace)
        if kind(endpoint) == COUNT_TOKENS:
            took = await self.store.take_buckets([count_tokens], [1], [1], now)
            return None if took.taken else _refusal(count_tokens, took.levels[0], 1, "requests", organization)
        took = await self.store.take_buckets([requests, input_bucket, output], [1, input_tokens, 0], [1, input_tokens, 1e-9], now)
        if took.taken:
            return None
        levels = took.levels
        if levels[0] < 1:
            return _refusal(requests, levels[0], 1, "requests", organization)
        if levels[1] < input_tokens:
            return _refusal(input_bucket, levels[1], input_tokens, "input tokens", organization)
        return _refusal(output, levels[2], 1, "output tokens", organization)

    async def settle(self, model: str | None, *, input_adjustment: int = 0, output_tokens: int = 0, namespace: str = "default") -> None:
        """Charge what the reply used beyond the estimate taken at admission."""
        now = self.clock.now()
        _, input_bucket, output, _ = self._specs(model, namespace)
        if input_adjustment:
            await self.store.adjust_bucket(input_bucket, input_adjustment, now)
        if output_tokens:
            await self.store.adjust_bucket(output, output_tokens, now)

    async def headers(self, model: str | None = None, namespace: str = "default") -> dict[str, str]:
        """The ``anthropic-ratelimit-*`` headers of the model's buckets now (emulation on)."""
        now = self.clock.now()
        requests, input_bucket, output, _ = self._specs(model, namespace)
        levels = await self.store.bucket_levels([requests, input_bucket, output], now)
        return ratelimit_headers(*(report(spec, level, now) for spec, level in zip((requests, input_bucket, output), levels)))

    async def to_json(self, namespace: str = "default") -> dict[str, Any]:
        in_force = self.in_force(namespace)
        if in_force is None:
            return {"enabled": False}
        now = self.clock.now()
        state = {}
        for key in list(self._seen):
            specs = self._specs_of(key, namespace)
            levels = await self.store.bucket_levels(specs, now)
            state[key or "-"] = {
                name: {"limit": int(spec.capacity), "remaining": math.floor(level)}
                for name, spec, level in zip(("requests", "input_tokens", "output_tokens", "count_tokens"), specs, levels)
            }
        return {"enabled": True, **in_force.config.to_json(), "buckets": state}


def _refusal(spec: BucketSpec, level: float, needed: float, unit: str, organization: str) -> ApiError:
    wait = max(1, math.ceil(wait_for(spec, level, needed)))
    message = (
        f"This request would exceed the rate limit for your organization ({organization}) of "
        f"{int(spec.capacity):,} {unit} per minute. For details, refer to: {DOCS_URL}. You can see the "
        "response headers for current usage. Please reduce the prompt length or the maximum tokens "
        "requested, or try again later. You may also contact sales at "
        "https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase."
    )
    # The API's wording, not the user's: a door words its refusal its own way (Vertex's quota).
    refusal = ApiError(429, type="rate_limit_error", headers={"retry-after": str(wait)}, default=message)
    refusal.quota = "tokens" if unit.endswith("tokens") else "requests"
    return refusal

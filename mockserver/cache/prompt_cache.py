"""Prompt-caching emulation: ``cache_control`` breakpoints turn into cache writes and reads.

The real API caches the exact prompt prefix up to each breakpoint (tools, then system, then
messages) for 5 minutes, or 1 hour when asked, refreshing an entry each time it is read. A later
request reads the longest cached prefix it can find at one of its breakpoints or up to 20 blocks
before one, and writes the prefixes at its breakpoints past that point, when they are at least
the model's minimum cacheable length (shorter ones are silently not cached). So:

    input_tokens + cache_creation_input_tokens + cache_read_input_tokens == the prompt's size

Only requests that carry breakpoints come here: a request without ``cache_control`` costs
one emptiness check. Time comes from the server's clock, so tests move it instead of sleeping.
Cached prefixes are expiring keys in the store, per namespace (an "organisation").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import orjson

from mockserver.clock import Clock
from mockserver.protocol.tokens import REQUEST_OVERHEAD, Breakpoint, RequestTokens, cacheable_units
from mockserver.store.base import Store

if TYPE_CHECKING:
    from mockserver.protocol.catalog import ModelEntry

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
LOOKBACK_BLOCKS = 20


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """How one request's prompt splits into uncached, written and read tokens."""

    input_tokens: int
    cache_creation_5m: int = 0
    cache_creation_1h: int = 0
    cache_read: int = 0

    @property
    def cache_creation(self) -> int:
        return self.cache_creation_5m + self.cache_creation_1h


@dataclass(frozen=True, slots=True)
class _Boundary:
    """The end of one block in prompt order: tokens so far and a digest of everything so far."""

    location: str
    tokens: int
    digest: bytes


class PromptCache:
    """Cached prefixes (digest -> expiry and TTL) in the store; one set per namespace."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    @staticmethod
    def prefix(namespace: str) -> str:
        return f"{namespace}:cache:"

    async def clear(self, namespace: str = "default") -> None:
        await self.store.clear(self.prefix(namespace))

    async def account(self, model_id: str, body: dict[str, Any], tokens: RequestTokens, min_tokens: int, namespace: str = "default") -> CacheUsage:
        """The usage split for this request, recording its writes and refreshing its read."""
        return await self._lookup(model_id, body, tokens, min_tokens, namespace, commit=True)

    async def peek(self, model_id: str, body: dict[str, Any], tokens: RequestTokens, min_tokens: int, namespace: str = "default") -> CacheUsage:
        """The same split without changing the cache (the rate limiter's estimate)."""
        return await self._lookup(model_id, body, tokens, min_tokens, namespace, commit=False)

    async def apply(
        self, model: "ModelEntry", body: dict[str, Any], tokens: RequestTokens, usage: dict[str, Any], namespace: str = "default"
    ) -> dict[str, Any]:
        """``usage`` (a Message's) with its input split into uncached, written and read tokens."""
        split = await self.account(model.id, body, tokens, model.mock.min_cacheable_tokens, namespace)
        usage = dict(usage)
        usage["input_tokens"] = split.input_tokens
        usage["cache_creation_input_tokens"] = split.cache_creation
        usage["cache_read_input_tokens"] = split.cache_read
        usage["cache_creation"] = {
            "ephemeral_5m_input_tokens": split.cache_creation_5m,
            "ephemeral_1h_input_tokens": split.cache_creation_1h,
        }
        return usage

    # -- the accounting ------------------------------------------------------------------------
    async def _lookup(
        self, model_id: str, body: dict[str, Any], tokens: RequestTokens, min_tokens: int, namespace: str, *, commit: bool
    ) -> CacheUsage:
        breakpoints = tokens.breakpoints
        if not breakpoints:
            return CacheUsage(tokens.total)
        now = self.clock.now()
        boundaries = list(_boundaries(model_id, body, tokens.units))
        index_of = {b.location: i for i, b in enumerate(boundaries)}
        marks: list[tuple[int, Breakpoint]] = [(index_of[bp.location], bp) for bp in breakpoints if bp.location in index_of]
        prefix = self.prefix(namespace)

        # Read: the longest live prefix at a breakpoint or up to 20 blocks before one.
        candidates = sorted({k for at, _ in marks for k in range(max(0, at - LOOKBACK_BLOCKS), at + 1)})
        ttls = dict(zip(candidates, await self.store.live([prefix + boundaries[k].digest.hex() for k in candidates], now)))
        hit = -1
        for at, _ in marks:
            for k in range(at, max(-1, at - LOOKBACK_BLOCKS - 1), -1):
                if k <= hit:
                    break
                if ttls.get(k) is not None:
                    hit = k
                    break
        read = boundaries[hit].tokens if hit >= 0 else 0

        # Write: breakpoints past the read point that are long enough; shorter ones fold into the next.
        written: dict[str, int] = {"5m": 0, "1h": 0}
        start = read
        writes: list[tuple[str, float]] = []
        for at, bp in marks:
            if at <= hit or bp.prefix_tokens < min_tokens or bp.prefix_tokens <= start:
                continue
            written[bp.ttl] += bp.prefix_tokens - start
            start = bp.prefix_tokens
            writes.append((prefix + boundaries[at].digest.hex(), TTL_SECONDS[bp.ttl]))

        if commit:
            if hit >= 0:  # a read refreshes the entry, with the TTL it was written with
                refreshed = ttls[hit]
                assert refreshed is not None
                writes.insert(0, (prefix + boundaries[hit].digest.hex(), refreshed))
            if writes:
                await self.store.set_expiring(writes, now)
        return CacheUsage(
            input_tokens=tokens.total - read - written["5m"] - written["1h"],
            cache_creation_5m=written["5m"],
            cache_creation_1h=written["1h"],
            cache_read=read,
        )


def _boundaries(model_id: str, body: dict[str, Any], units: Iterable[tuple[int, Any, str]] | None = None) -> Iterator[_Boundary]:
    """Block boundaries in prompt order with a running digest of the prefix (``cache_control``
    itself excluded, so moving a breakpoint does not change what the prefix is).

    ``units`` are ``body``'s cacheable units as count_request kept them; without them the
    prompt is walked and counted here."""
    running = hashlib.blake2b(model_id.encode(), digest_size=16)
    tokens = REQUEST_OVERHEAD  # counted as count_request counts, so prefixes agree with breakpoints
    for unit_tokens, block, location in cacheable_units(body) if units is None else units:
        tokens += unit_tokens
        running.update(_fingerprint(body, block, location))
        if block is not None or (location.startswith("messages.") and location.endswith(".content")):
            yield _Boundary(location, tokens, running.copy().digest())


def _fingerprint(body: dict[str, Any], block: Any, location: str) -> bytes:
    if isinstance(block, dict):
        if "cache_control" in block:
            block = {k: v for k, v in block.items() if k != "cache_control"}
        return b"\x00" + orjson.dumps(block, option=orjson.OPT_SORT_KEYS)
    parts = location.split(".")
    if parts[0] == "messages" and len(parts) == 2:
        return b"\x01role:" + str(body["messages"][int(parts[1])].get("role")).encode()
    if parts[0] == "messages" and len(parts) == 3:
        return b"\x02" + orjson.dumps(body["messages"][int(parts[1])].get("content"))
    system = body.get("system")
    if location == "system" and isinstance(system, str):
        return b"\x03" + system.encode()
    return b"\x04" + location.encode()

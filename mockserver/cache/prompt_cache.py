"""Prompt-caching emulation: ``cache_control`` breakpoints turn into cache writes and reads.

The real API caches the exact prompt prefix up to each breakpoint (tools, then system, then
messages) for 5 minutes, or 1 hour when asked, refreshing an entry each time it is read. A later
request reads the longest cached prefix it can find at one of its breakpoints or up to 20 blocks
before one, and writes the prefixes at its breakpoints past that point, when they are at least
the model's minimum cacheable length (shorter ones are silently not cached). So:

    input_tokens + cache_creation_input_tokens + cache_read_input_tokens == the prompt's size

Only requests that carry breakpoints come here: a request without ``cache_control`` costs
one emptiness check. Time comes from the server's clock, so tests move it instead of sleeping.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import orjson

from mockserver.clock import Clock
from mockserver.protocol.tokens import REQUEST_OVERHEAD, Breakpoint, RequestTokens, cacheable_units

if TYPE_CHECKING:
    from mockserver.protocol.catalog import ModelEntry

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
LOOKBACK_BLOCKS = 20
MAX_ENTRIES = 100_000


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
    """Cached prefixes (digest -> expiry and TTL); one per server, so per "organisation"."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._entries: dict[bytes, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def account(self, model_id: str, body: dict[str, Any], tokens: RequestTokens, min_tokens: int) -> CacheUsage:
        """The usage split for this request, recording its writes and refreshing its read."""
        return self._lookup(model_id, body, tokens, min_tokens, commit=True)

    def peek(self, model_id: str, body: dict[str, Any], tokens: RequestTokens, min_tokens: int) -> CacheUsage:
        """The same split without changing the cache (the rate limiter's estimate)."""
        return self._lookup(model_id, body, tokens, min_tokens, commit=False)

    def apply(self, model: "ModelEntry", body: dict[str, Any], tokens: RequestTokens, usage: dict[str, Any]) -> dict[str, Any]:
        """``usage`` (a Message's) with its input split into uncached, written and read tokens."""
        split = self.account(model.id, body, tokens, model.mock.min_cacheable_tokens)
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
    def _lookup(self, model_id: str, body: dict[str, Any], tokens: RequestTokens, min_tokens: int, *, commit: bool) -> CacheUsage:
        breakpoints = tokens.breakpoints
        if not breakpoints:
            return CacheUsage(tokens.total)
        now = self.clock.now()
        boundaries = list(_boundaries(model_id, body, tokens.units))
        index_of = {b.location: i for i, b in enumerate(boundaries)}
        marks: list[tuple[int, Breakpoint]] = [(index_of[bp.location], bp) for bp in breakpoints if bp.location in index_of]

        # Read: the longest live prefix at a breakpoint or up to 20 blocks before one.
        hit = -1
        for at, _ in marks:
            for k in range(at, max(-1, at - LOOKBACK_BLOCKS - 1), -1):
                if k <= hit:
                    break
                entry = self._entries.get(boundaries[k].digest)
                if entry is not None and entry[0] > now:
                    hit = k
                    break
        read = boundaries[hit].tokens if hit >= 0 else 0

        # Write: breakpoints past the read point that are long enough; shorter ones fold into the next.
        written: dict[str, int] = {"5m": 0, "1h": 0}
        start = read
        writes: list[tuple[bytes, float]] = []
        for at, bp in marks:
            if at <= hit or bp.prefix_tokens < min_tokens or bp.prefix_tokens <= start:
                continue
            written[bp.ttl] += bp.prefix_tokens - start
            start = bp.prefix_tokens
            writes.append((boundaries[at].digest, TTL_SECONDS[bp.ttl]))

        if commit:
            if hit >= 0:
                expires, ttl = self._entries[boundaries[hit].digest]
                self._entries[boundaries[hit].digest] = (now + ttl, ttl)  # a read refreshes the entry
            for digest, ttl in writes:
                self._entries[digest] = (now + ttl, ttl)
            if len(self._entries) > MAX_ENTRIES:
                self._sweep(now)
        return CacheUsage(
            input_tokens=tokens.total - read - written["5m"] - written["1h"],
            cache_creation_5m=written["5m"],
            cache_creation_1h=written["1h"],
            cache_read=read,
        )

    def _sweep(self, now: float) -> None:
        for digest in [d for d, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[digest]
        while len(self._entries) > MAX_ENTRIES:  # still full of live entries: drop the oldest-made
            del self._entries[next(iter(self._entries))]


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
    if location == "system" and isinstance(body.get("system"), str):
        return b"\x03" + body["system"].encode()
    return b"\x04" + location.encode()

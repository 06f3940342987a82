"""Everything a server instance is configured with; one object per app, no globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mockserver.clock import Clock, SystemClock
from mockserver.store.base import IDLE_TTL, NAMESPACES_HELD
from mockserver.store.sqlite import MEMORY

if TYPE_CHECKING:
    from mockserver.chaos.stage import ChaosConfig
    from mockserver.ratelimit.limiter import RateLimitConfig

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787  # the command line's default; a Config made in code takes a free port


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 30.0
    """Seconds from a request's first byte to the end of its headers."""
    body_timeout: float = 60.0
    """Seconds a request body may pause between chunks."""
    keepalive_timeout: float = 75.0
    """Seconds an idle keep-alive connection stays open."""
    max_connections: int | None = None
    """Open connections at most; ``None``: the file-descriptor limit less a margin."""

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "keepalive_timeout"):
            value = getattr(self, name)
            if not 0 < value <= 86_400:
                raise ValueError(f"{name} must be a number of seconds above 0 and at most 86400, not {value!r}")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {self.max_connections!r}")


@dataclass
class Config:
    host: str = DEFAULT_HOST
    # 0: a free port (``mockserver serve`` passes 8787 unless told otherwise).
    port: int = 0
    seed: int | None = None
    # Contract mode: any schema-valid request gets a 2xx with a schema-valid body.
    lenient: bool = False
    # Accept model ids that are not in the catalog (answered as a generic model).
    any_model: bool = False
    # ``None`` accepts any non-empty key; otherwise only these keys.
    api_keys: frozenset[str] | None = None
    models_file: Path | None = None
    organization_id: str | None = None
    # Cloudflare-style edge headers (cf-ray, server, x-robots-tag …) as real responses carry.
    edge_headers: bool = True
    # Random 1–15 space padding inside SSE data lines, as the real API writes them.
    sse_padding: bool = True
    # Gzip successes for clients that accept it (every SDK does), as the real API's edge does.
    gzip: bool = True
    # Timeouts and the connection cap of the HTTP edge (mockserver/http/server.py).
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)
    log_requests: bool = True
    # Exchanges the journal keeps (oldest dropped first), and the bytes they may hold in all.
    # Holding many costs memory and speed; 0 keeps none (a load test's server: reading the
    # journal is then an error).
    journal_limit: int = 1000
    journal_bytes: int = 64 * 1024 * 1024
    # Namespaces whose journal, rule counts and rate-limit buckets this process holds (the local
    # store); past it the least recently used one that has no rules, limits, batches or files set
    # up is forgotten. A shared store (``state``) holds all, and bounds them in time instead
    # (``namespace_ttl``).
    namespace_limit: int = NAMESPACES_HELD
    # With a shared store (``state``): seconds a namespace's rule counts and journal outlive its
    # last write (an idle TTL in Redis), unless it has rules, limits, batches or files set up;
    # 0: they never expire.
    namespace_ttl: float = IDLE_TTL
    clock: Clock = field(default_factory=SystemClock)
    # Message Batches: where their state lives. ":memory:" (the default in code: gone when the
    # server stops); ``None`` = the per-user data folder (mockserver.store.sqlite.default_data_dir(),
    # the command line's default); or a directory.
    data_dir: Path | str | None = MEMORY
    # Items each batch finishes per second of ``clock`` time; 0 = as fast as possible.
    batch_pace: float = 0.0
    # Report request_counts as items finish (the real API reports them only once a batch ends).
    batch_live_counts: bool = False
    # Scripted scenarios: YAML files loaded at start and reloaded when they change (docs/scenarios.md).
    scenario_files: tuple[Path, ...] = ()
    # The admin API under /_mock/: loopback clients only, unless a token is set (then it is required).
    admin_token: str | None = None
    # Rate-limit emulation (mockserver/ratelimit.py); None = off (never-exhausted headers).
    rate_limits: "RateLimitConfig | None" = None
    # Chaos mode (mockserver/fuzz/chaos.py, --chaos SEED): seeded errors and faults on a share of
    # calls, and a report of how the client coped. None = off.
    chaos: "ChaosConfig | None" = None
    # Shared state (docs/deployment.md): None = this process's own (memory, and SQLite for
    # batches); "redis://HOST:PORT/DB" = a Redis or Valkey every worker and replica shares.
    state: str | None = None
    # While a shared store is unreachable: False answers every call that needs it with a 503
    # naming the store; True lets calls through the rate limiter unlimited and keeps the last
    # known rules (what needs the store, such as rule counts or the journal, still cannot work).
    store_fail_open: bool = False
    # Seconds a worker's claim on a shared batch lasts without renewal (then another takes over).
    batch_lease: float = 10.0
    # Which worker of ``mockserver serve --workers N`` this is (0 for a lone server): ids differ
    # per worker, generated content does not.
    worker: int = 0

    def __post_init__(self) -> None:
        if self.journal_limit < 0 or self.journal_bytes < 0:
            raise ValueError(f"journal_limit and journal_bytes must be 0 or more, not {self.journal_limit!r} and {self.journal_bytes!r}")
        if self.journal_limit and not self.journal_bytes:  # a journal that drops every entry at once looks like "no calls"
            raise ValueError("journal_bytes must be at least 1 while journal_limit keeps entries (journal_limit=0 keeps none)")

"""The store of one process: counters, buckets, expiring keys and logs in memory; Message Batches and
files (the Files API) in SQLite in the data dir (or in memory with ``:memory:``).

Everything runs on the server's event loop, so each operation is atomic by construction. The
batch records open lazily: at start if the data dir already holds some (a restarted server
resumes its batches), otherwise on the first batch (a server that never sees one writes no file);
the files likewise, on the first upload.
"""

from __future__ import annotations

import logging
import tempfile
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from mockserver.store.base import BatchRecords, BucketSpec, BucketTake, FileRecords, LogLimits, StoreError
from mockserver.store.files import SqliteFiles
from mockserver.store.sqlite import MEMORY, SqliteBatches, default_data_dir

log = logging.getLogger("mockserver.store")
SWEEP_AT = 100_000  # expiring keys kept before expired ones are swept (then the oldest-set go)
CHANGES_KEPT = 1000  # document changes remembered for doc_changes


class _Bucket:
    __slots__ = ("capacity", "rate", "level", "updated")

    def __init__(self, spec: BucketSpec, now: float) -> None:
        self.capacity = spec.capacity
        self.rate = spec.capacity / spec.period
        self.level = float(spec.capacity)
        self.updated = now

    def refill(self, now: float) -> float:
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now
        return self.level


class _Log:
    __slots__ = ("entries", "bytes")

    def __init__(self) -> None:
        self.entries: deque[tuple[int, Any, int]] = deque()
        self.bytes = 0


class LocalStore:
    shared = False

    def __init__(self, data_dir: Path | str | None = None) -> None:
        self._counters: dict[str, int] = {}
        self._docs: dict[str, tuple[int, bytes]] = {}
        self._doc_count = 0
        self._doc_log: deque[tuple[int, str]] = deque(maxlen=CHANGES_KEPT)
        self._buckets: dict[str, _Bucket] = {}
        self._expiring: dict[str, tuple[float, float]] = {}
        self._logs: dict[str, _Log] = {}
        self._seq = 0
        # An explicit data dir must be usable; the default one falls back to memory if another
        # server holds it (two `mockserver serve` on one machine must both start).
        self._explicit = data_dir is not None
        self.location: Path | str = MEMORY if str(data_dir) == MEMORY else Path(data_dir or default_data_dir())
        self._batches: SqliteBatches | None = None
        self._files: SqliteFiles | None = None

    # -- counters ----------------------------------------------------------------------------------
    async def incr(self, key: str, amount: int = 1) -> int:
        value = self._counters.get(key, 0) + amount
        self._counters[key] = value
        return value

    async def take(self, key: str, limit: int) -> int | None:
        value = self._counters.get(key, 0)
        if value >= limit:
            return None
        self._counters[key] = value + 1
        return value + 1

    async def get_int(self, key: str) -> int:
        return self._counters.get(key, 0)

    async def get_ints(self, keys: Sequence[str]) -> list[int]:
        counters = self._counters
        return [counters.get(key, 0) for key in keys]

    async def open(self) -> None:
        return None

    # -- token buckets -----------------------------------------------------------------------------
    def _bucket(self, spec: BucketSpec, now: float) -> _Bucket:
        bucket = self._buckets.get(spec.key)
        if bucket is None or bucket.capacity != spec.capacity:
            bucket = self._buckets[spec.key] = _Bucket(spec, now)
        bucket.refill(now)
        return bucket

    async def take_buckets(self, specs: Sequence[BucketSpec], amounts: Sequence[float], needs: Sequence[float], now: float) -> BucketTake:
        buckets = [self._bucket(spec, now) for spec in specs]
        taken = all(b.level >= need for b, need in zip(buckets, needs))
        if taken:
            for bucket, amount in zip(buckets, amounts):
                bucket.level -= amount
        return BucketTake(taken, tuple(b.level for b in buckets))

    async def adjust_bucket(self, spec: BucketSpec, amount: float, now: float) -> float:
        bucket = self._bucket(spec, now)
        bucket.level -= amount
        return bucket.level

    async def bucket_levels(self, specs: Sequence[BucketSpec], now: float) -> tuple[float, ...]:
        return tuple(self._bucket(spec, now).level for spec in specs)

    # -- expiring keys -----------------------------------------------------------------------------
    async def live(self, keys: Sequence[str], now: float) -> list[float | None]:
        out: list[float | None] = []
        for key in keys:
            entry = self._expiring.get(key)
            out.append(entry[1] if entry is not None and entry[0] > now else None)
        return out

    async def set_expiring(self, items: Iterable[tuple[str, float]], now: float) -> None:
        expiring = self._expiring
        for key, ttl in items:
            expiring.pop(key, None)  # re-inserted last: the sweep drops the oldest-set first
            expiring[key] = (now + ttl, ttl)
        if len(expiring) > SWEEP_AT:
            for key in [k for k, (until, _) in expiring.items() if until <= now]:
                del expiring[key]
            while len(expiring) > SWEEP_AT:
                del expiring[next(iter(expiring))]

    # -- capped logs -------------------------------------------------------------------------------
    async def append(self, log: str, item: Any, size: int, limits: LogLimits, encode: Callable[[Any], bytes]) -> int:
        found = self._logs.get(log)
        if found is None:
            found = self._logs[log] = _Log()
        self._seq += 1
        entries = found.entries
        entries.append((self._seq, item, size))
        found.bytes += size
        while entries and (len(entries) > limits.entries or found.bytes > limits.bytes):
            found.bytes -= entries.popleft()[2]
        return self._seq

    async def read(self, log: str, since: int, limit: int | None, decode: Callable[[bytes], Any]) -> list[tuple[int, Any]]:
        found = self._logs.get(log)
        if found is None:
            return []
        items = [(seq, item) for seq, item, _ in found.entries if seq > since]
        if limit is not None:
            items = items[-limit:] if limit > 0 else []
        return items

    # -- versioned documents ------------------------------------------------------------------------
    async def load_doc(self, key: str) -> tuple[int, bytes | None]:
        found = self._docs.get(key)
        return found if found is not None else (0, None)

    async def save_doc(self, key: str, expected: int, value: bytes | None) -> int | None:
        found = self._docs.get(key)
        if (found[0] if found is not None else 0) != expected:
            return None
        self._doc_count += 1
        if value is None:
            self._docs.pop(key, None)
        else:
            self._docs[key] = (self._doc_count, value)
        self._doc_log.append((self._doc_count, key))
        return self._doc_count

    async def doc_changes(self, since: int) -> tuple[int, list[str], bool]:
        log = self._doc_log
        if since >= self._doc_count:
            return self._doc_count, [], False
        if not log or log[0][0] > since + 1:
            return self._doc_count, list(self._docs), True
        return self._doc_count, list(dict.fromkeys(key for version, key in log if version > since)), False

    # -- the lot -----------------------------------------------------------------------------------
    async def clear(self, prefix: str) -> None:
        for table in (self._counters, self._buckets, self._expiring, self._logs):
            for key in [k for k in table if k.startswith(prefix)]:
                del table[key]

    def check(self) -> None:
        """At start: a data dir given explicitly must be one this server can write, so a mistake
        shows now, in one line, rather than at the first batch."""
        if not self._explicit or self.location == MEMORY:
            return
        folder = Path(self.location)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise StoreError(f"{folder}: cannot keep batches there ({exc.strerror or exc}); pass a writable --data-dir, "
                             "or --data-dir :memory:") from None

    def batch_records(self, *, create: bool) -> BatchRecords | None:
        """The batch records: opened now if ``create`` or if the data dir already has them."""
        if self._batches is None and (create or self.location == MEMORY or SqliteBatches.exists(self.location)):
            self._batches = self._open_batches()
        return self._batches

    def _open_batches(self) -> SqliteBatches:
        try:
            return SqliteBatches.open(self.location)
        except StoreError as error:
            if self._explicit:
                raise
            log.warning("mockserver: %s; this server keeps its batches in memory", error)
            self.location = MEMORY
            return SqliteBatches.open(MEMORY)

    def file_records(self, *, create: bool) -> FileRecords | None:
        """The files: opened now if ``create`` or if the data dir already has them."""
        if self._files is None and (create or self.location == MEMORY or SqliteFiles.exists(self.location)):
            try:
                self._files = SqliteFiles.open(self.location)
            except StoreError as error:
                if self._explicit:
                    raise
                log.warning("mockserver: %s; this server keeps its files in memory", error)
                self._files = SqliteFiles.open(MEMORY)
        return self._files

    async def close(self) -> None:
        if self._batches is not None:
            self._batches.close()
            self._batches = None
        if self._files is not None:
            self._files.close()
            self._files = None

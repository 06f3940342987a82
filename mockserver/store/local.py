"""The store of one process: counters, buckets, expiring keys and logs in memory; Message Batches and
files (the Files API) in SQLite in the data dir (or in memory with ``:memory:``).

Everything runs on the server's event loop, so each operation is atomic by construction. The
batch records open lazily: at start if the data dir already holds some (a restarted server
resumes its batches), otherwise on the first batch (a server that never sees one writes no file);
the files likewise, on the first upload.

Each namespace's counters, buckets and logs are kept together (:class:`_Space`), in the order the
namespaces were last written. Every namespace's journal is capped, and so is their number: past
``namespaces`` (``--namespace-limit``), making a new one forgets the least recently written one
that holds nothing set up (no rules or limits set at run time, no batches, no files; see
:meth:`LocalStore.retain`), so a client that names a new namespace on every call cannot grow the
server. A key's namespace is what comes before its first ``:``. A reset forgets a namespace at
once, without looking at any other. Expiring keys (the prompt cache) stay in one
table with its own cap (``SWEEP_AT``) and are not forgotten with their namespace: past the cap,
one sweep drops the expired keys and then the oldest-set ones down to 90% of it, so a sweep (which
visits every key) comes at most once per ``SWEEP_AT / 10`` new keys.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from mockserver.store.base import NAMESPACES_HELD, BatchRecords, BucketSpec, BucketTake, FileRecords, LogLimits, StoreError, keep_none
from mockserver.store.files import SqliteFiles
from mockserver.store.sqlite import MEMORY, SqliteBatches, default_data_dir

log = logging.getLogger("mockserver.store")
SWEEP_AT = 100_000  # expiring keys kept before expired ones are swept (then the oldest-set go)
SWEPT_TO = 0.9  # a sweep leaves at most this share of SWEEP_AT: the next is SWEEP_AT / 10 new keys away
CHANGES_KEPT = 1000  # document changes remembered for doc_changes
EXAMINED = 16  # namespaces one eviction looks at at most (kept ones are set aside): never a scan
EVICTIONS_LOGGED_EVERY = 1000  # the first eviction is logged, then every this many


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


class _Space:
    """One namespace's counters, buckets and logs, under their whole keys."""

    __slots__ = ("counters", "buckets", "logs")

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.buckets: dict[str, _Bucket] = {}
        self.logs: dict[str, _Log] = {}

    def has(self, key: str) -> bool:
        """Whether ``key`` is one of its counters, buckets or logs."""
        return key in self.counters or key in self.buckets or key in self.logs

    def drop(self, prefix: str) -> bool:
        """Forget the keys that start with ``prefix``; whether nothing is left."""
        for table in (self.counters, self.buckets, self.logs):
            for key in [k for k in table if k.startswith(prefix)]:
                del table[key]
        return not (self.counters or self.buckets or self.logs)


_NOTHING = object()  # equal to no key


def _tell_no_one(namespace: str) -> None:
    return None


class LocalStore:
    shared = False

    def __init__(self, data_dir: Path | str | None = None, *, namespaces: int = NAMESPACES_HELD) -> None:
        """``namespaces``: how many namespaces' counters, buckets and journal are held at most."""
        if namespaces < 1:
            raise ValueError(f"namespaces must be at least 1, not {namespaces!r}")
        self._spaces: OrderedDict[str, _Space] = OrderedDict()  # least recently written first
        self._set_aside: dict[str, _Space] = {}  # found to hold state set up, not written since
        # The key written last and its namespace's state, which is the most recently written: the
        # journal of a namespace written again needs no lookup (one comparison on every call).
        self._recent_key: object = _NOTHING
        self._recent_space = _Space()
        self._limit = namespaces
        self._keep: Callable[[str], bool] = keep_none
        self._forgotten: Callable[[str], None] = _tell_no_one
        self.evicted = 0  # namespaces forgotten to stay within the limit
        self._docs: dict[str, tuple[int, bytes]] = {}
        self._doc_count = 0
        self._doc_log: deque[tuple[int, str]] = deque(maxlen=CHANGES_KEPT)
        self._expiring: dict[str, tuple[float, float]] = {}
        self._seq = 0
        # An explicit data dir must be usable; the default one falls back to memory if another
        # server holds it (two `mockserver serve` on one machine must both start).
        self._explicit = data_dir is not None
        self.location: Path | str = MEMORY if str(data_dir) == MEMORY else Path(data_dir or default_data_dir())
        self._batches: SqliteBatches | None = None
        self._files: SqliteFiles | None = None

    # -- namespaces ----------------------------------------------------------------------------------
    def retain(self, keep: Callable[[str], bool], forgotten: Callable[[str], None]) -> None:
        """``keep(namespace)``: whether the namespace has state set up outside this store (rules or
        limits set at run time), so it is never forgotten; ``forgotten(namespace)`` is told each
        namespace forgotten to stay within the limit, so what mirrors its state can go too.
        Namespaces with batches or files are kept without asking."""
        self._keep, self._forgotten = keep, forgotten

    def _space(self, key: str) -> _Space:
        """The state of ``key``'s namespace, which is now the most recently written; made if it
        had none (and past the limit, the least recently written one is forgotten)."""
        if key == self._recent_key:
            return self._recent_space
        namespace = key.partition(":")[0]
        spaces = self._spaces
        space = spaces.get(namespace)
        if space is not None:
            if space is not self._recent_space:  # (which is last already)
                spaces.move_to_end(namespace)
        else:
            space = self._set_aside.pop(namespace, None)
            if space is None:
                space = _Space()
                spaces[namespace] = space
                if len(spaces) + len(self._set_aside) > self._limit:
                    self._evict(namespace)
            else:
                spaces[namespace] = space
        self._recent_key, self._recent_space = key, space
        return space

    def _held(self, key: str) -> _Space | None:
        """For reading: the state of ``key``'s namespace, if it has any (its place unchanged)."""
        namespace = key.partition(":")[0]
        space = self._spaces.get(namespace)
        return space if space is not None else self._set_aside.get(namespace)

    def _evict(self, making: str) -> None:
        """Forget the least recently written namespaces until within the limit. One that holds
        state the user set up is set aside instead, out of the order until it is written again,
        so it is not looked at on every call; each call first looks again at the one set aside
        longest (its batches may be gone since). At most ``EXAMINED`` are looked at per call: a
        server where more namespaces than the limit are set up holds them all rather than scan
        them on one call."""
        spaces, aside = self._spaces, self._set_aside
        if aside:
            namespace = next(iter(aside))
            space = aside.pop(namespace)
            if self._kept(namespace):
                aside[namespace] = space
            else:
                self._forget(namespace)
        for _ in range(EXAMINED):
            if len(spaces) + len(aside) <= self._limit:
                return
            namespace = next(iter(spaces))
            if namespace == making:  # every other one is set aside
                return
            space = spaces.pop(namespace)
            if self._kept(namespace):
                aside[namespace] = space
            else:
                self._forget(namespace)

    def _forget(self, namespace: str) -> None:
        self._forgotten(namespace)
        self.evicted += 1
        if (self.evicted - 1) % EVICTIONS_LOGGED_EVERY == 0:
            log.warning(
                "mockserver: more than %d namespaces hold state: forgot the journal, rule counts and rate-limit "
                "buckets of %r, the least recently used (%d forgotten so far; logged every %d). Namespaces with "
                "rules, limits, batches or files are kept. Give each test a namespace of its own and reset it "
                "when the test ends, or raise --namespace-limit",
                self._limit, namespace, self.evicted, EVICTIONS_LOGGED_EVERY,
            )

    def _kept(self, namespace: str) -> bool:
        if self._keep(namespace):
            return True
        return (self._batches is not None and self._batches.holds(namespace)) or (
            self._files is not None and self._files.holds(namespace)
        )

    # -- counters ----------------------------------------------------------------------------------
    async def incr(self, key: str, amount: int = 1) -> int:
        counters = self._space(key).counters
        value = counters.get(key, 0) + amount
        counters[key] = value
        return value

    async def take(self, key: str, limit: int) -> int | None:
        counters = self._space(key).counters
        value = counters.get(key, 0)
        if value >= limit:
            return None
        counters[key] = value + 1
        return value + 1

    async def get_int(self, key: str) -> int:
        return self._count(key)

    async def get_ints(self, keys: Sequence[str]) -> list[int]:
        return [self._count(key) for key in keys]

    def _count(self, key: str) -> int:
        space = self._held(key)
        return space.counters.get(key, 0) if space is not None else 0

    async def open(self) -> None:
        return None

    # -- token buckets -----------------------------------------------------------------------------
    def _bucket(self, spec: BucketSpec, now: float) -> _Bucket:
        buckets = self._space(spec.key).buckets
        bucket = buckets.get(spec.key)
        if bucket is None or bucket.capacity != spec.capacity:
            bucket = buckets[spec.key] = _Bucket(spec, now)
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
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Drop the expired keys, then the oldest-set ones until at most ``SWEPT_TO`` of the cap
        are left. A sweep visits every key, so it must not come again on the next insert: leaving
        room for a tenth of the cap spreads its cost over at least that many new keys (a bounded
        cost per insert, about ten keys visited, however full the table stays)."""
        expiring = self._expiring
        for key in [k for k, (until, _) in expiring.items() if until <= now]:
            del expiring[key]
        keep = int(SWEEP_AT * SWEPT_TO)
        if len(expiring) > keep:
            for key in list(itertools.islice(expiring, len(expiring) - keep)):
                del expiring[key]

    # -- capped logs -------------------------------------------------------------------------------
    async def append(self, log: str, item: Any, size: int, limits: LogLimits, encode: Callable[[Any], bytes]) -> int:
        logs = (self._recent_space if log == self._recent_key else self._space(log)).logs  # (inline: every call)
        found = logs.get(log)
        if found is None:
            found = logs[log] = _Log()
        self._seq += 1
        entries = found.entries
        entries.append((self._seq, item, size))
        found.bytes += size
        while entries and (len(entries) > limits.entries or found.bytes > limits.bytes):
            found.bytes -= entries.popleft()[2]
        return self._seq

    async def read(self, log: str, since: int, limit: int | None, decode: Callable[[bytes], Any]) -> list[tuple[int, Any]]:
        space = self._held(log)
        found = space.logs.get(log) if space is not None else None
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
        """A namespace's own state is found by its name, never by looking through the others'
        (a reset costs the same with one namespace held or ten thousand)."""
        self._recent_key = _NOTHING
        namespace, colon, rest = prefix.partition(":")
        for spaces in (self._spaces, self._set_aside):
            if not colon:  # every namespace whose name starts so, whole
                for name in [n for n in spaces if n.startswith(prefix)]:
                    del spaces[name]
                continue
            space = spaces.get(namespace)
            if space is not None:
                whole = not rest and not space.has(namespace)  # then every key it holds starts with the prefix
                if whole or space.drop(prefix):
                    del spaces[namespace]
        expiring = self._expiring
        for key in [k for k in expiring if k.startswith(prefix)]:
            del expiring[key]

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

"""The store interface: every piece of state that outlives one request goes through it.

Its operations are the few that one process can do with dicts and many processes can do
atomically in a shared engine (one script or one command each in Redis):

- counters: ``incr`` and ``take`` (increment while below a limit) — scenario ``times``, ``nth``
  and sequence positions, consumed exactly once however many processes serve;
- token buckets refilled over time, taken all-or-nothing — rate limits;
- keys that expire — the prompt cache;
- capped logs with one global order, bounded in entries and in bytes — the journal;
- versioned documents, replaced only by whoever saw the latest version, with a log of which
  changed — the rules and limits set at run time, per namespace, when processes share a store;
- batch records with their pending requests and results (:class:`BatchRecords`), which a
  processor claims before working a batch off;
- files with their content, per namespace (:class:`FileRecords`).

Implementations: :mod:`.local` (one process: memory, and SQLite for batches) and :mod:`.redis`
(Redis or Valkey, shared by every worker and replica; imported only when asked for).

Keys are strings a feature builds, starting with the namespace of the request they serve
(``<namespace>:<feature>:…``), so :meth:`Store.clear` can forget one namespace. Values in logs
are opaque: a store that keeps them in its process keeps the objects; one that sends them
elsewhere encodes them with the codec the caller gives.

A store may hold a bounded number of namespaces (the local one does: ``--namespace-limit``) and
forget the least recently used one's counters, buckets and logs, or let them expire some time
after the namespace's last write (Redis: ``--namespace-ttl``); :meth:`Store.retain` tells it
which it must keep and whom to tell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterable, AsyncIterator, Callable, Iterable, Protocol, Sequence

from mockserver.protocol.errors import ApiError
from mockserver.store.records import BatchRow, FileRow

# The defaults of the two bounds on namespaces (Config.namespace_limit and Config.namespace_ttl
# read them; the command line shows them): here, below both the stores and the configuration.
NAMESPACES_HELD = 10_000
"""Namespaces whose counters, buckets and journal the local store holds (``--namespace-limit``)."""
IDLE_TTL = 86_400.0
"""Seconds a namespace's counters and journal outlive its last write in Redis (``--namespace-ttl``)."""


class StoreError(RuntimeError):
    """The store cannot be used: held by another server, written by a newer version, corrupt, not
    writable, full. The message names the file (or server) and what to do."""


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """One token bucket: refilled continuously to ``capacity`` over ``period`` seconds."""

    key: str
    capacity: float
    period: float = 60.0


@dataclass(frozen=True, slots=True)
class BucketTake:
    """The result of taking from several buckets: whether it was taken, and every level after."""

    taken: bool
    levels: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class LogLimits:
    entries: int
    bytes: int


class StoreUnavailable(ApiError):
    """The store cannot be reached: answered as the API's 503 ``api_error``, naming the store."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(503, f"mockserver's state store ({where}) is unavailable: {detail}", type="api_error")
        self.where = where


class Store(Protocol):
    shared: bool
    """Whether other processes use the same state (then run-time changes must be synchronised)."""

    async def open(self) -> None:
        """Connect (a shared store); raises :class:`StoreUnavailable` when it cannot."""
        ...

    # -- counters ----------------------------------------------------------------------------------
    async def incr(self, key: str, amount: int = 1) -> int:
        """Add ``amount`` (from 0) and return the new value."""
        ...

    async def take(self, key: str, limit: int) -> int | None:
        """Increment if the value is below ``limit`` and return the new value; else ``None``."""
        ...

    async def get_int(self, key: str) -> int: ...

    async def get_ints(self, keys: Sequence[str]) -> list[int]:
        """Several counters at once (0 for those never set)."""
        ...

    # -- token buckets -----------------------------------------------------------------------------
    async def take_buckets(self, specs: Sequence[BucketSpec], amounts: Sequence[float], needs: Sequence[float], now: float) -> BucketTake:
        """Refill each bucket to ``now``; if every one holds at least its ``needs``, take
        ``amounts`` from all of them, else nothing. The levels are after the attempt."""
        ...

    async def adjust_bucket(self, spec: BucketSpec, amount: float, now: float) -> float:
        """Take ``amount`` (negative: give back) whatever the level; the level after."""
        ...

    async def bucket_levels(self, specs: Sequence[BucketSpec], now: float) -> tuple[float, ...]: ...

    # -- expiring keys -----------------------------------------------------------------------------
    async def live(self, keys: Sequence[str], now: float) -> list[float | None]:
        """For each key: the TTL it was set with if it has not expired, else ``None``."""
        ...

    async def set_expiring(self, items: Iterable[tuple[str, float]], now: float) -> None:
        """Set each ``(key, ttl)`` to expire ``ttl`` seconds from ``now``."""
        ...

    # -- capped logs -------------------------------------------------------------------------------
    async def append(self, log: str, item: Any, size: int, limits: LogLimits, encode: Callable[[Any], bytes]) -> int:
        """Add ``item`` (``size`` bytes as the log counts) and return its sequence number (1, 2 …
        in one global order); the oldest entries go once there are more than ``limits`` allow."""
        ...

    async def read(self, log: str, since: int, limit: int | None, decode: Callable[[bytes], Any]) -> list[tuple[int, Any]]:
        """``(seq, item)`` of the entries after ``since``, oldest first (the newest ``limit``)."""
        ...

    # -- versioned documents ------------------------------------------------------------------------
    async def load_doc(self, key: str) -> tuple[int, bytes | None]:
        """``(version, value)``; ``(0, None)`` when there is none."""
        ...

    async def save_doc(self, key: str, expected: int, value: bytes | None) -> int | None:
        """Replace (``None``: delete) the document if its version is still ``expected``; its new
        version (every save takes the next number of one store-wide count), or ``None`` when
        someone else saved it first."""
        ...

    async def doc_changes(self, since: int) -> tuple[int, list[str], bool]:
        """The store-wide count of saves now, and the documents saved after ``since``; when that
        is too far back to tell, every document there is (and ``True``)."""
        ...

    # -- the lot -----------------------------------------------------------------------------------
    async def clear(self, prefix: str) -> None:
        """Forget every counter, bucket, expiring key and log whose key starts with ``prefix``."""
        ...

    def retain(self, keep: Callable[[str], bool], forgotten: Callable[[str], None]) -> None:
        """For a store that holds at most so many namespaces, or lets idle ones expire:
        ``keep(namespace)`` true means the namespace has state set up elsewhere (rules, limits)
        and is never forgotten (nor expired); each one it forgets to make room is passed to
        ``forgotten``. A store that forgets nothing ignores both."""
        ...

    def check(self) -> None:
        """Raise :class:`StoreError` now if the store cannot be used (called when a server starts)."""
        ...

    def batch_records(self, *, create: bool) -> "BatchRecords | None":
        """The batch records; ``None`` while there are none and ``create`` is false (a local
        store then writes no file)."""
        ...

    def file_records(self, *, create: bool) -> "FileRecords | None":
        """The Files API's files, like :meth:`batch_records`."""
        ...

    async def close(self) -> None: ...


class BatchRecords(Protocol):
    """Message Batches: a batch row, its pending requests and its results; each method is one
    atomic step, so a result that was ever counted (and reported) is stored. Rows carry their
    namespace; ids are unique across namespaces."""

    shared: bool
    """Other processes work batches off too: a processor claims a batch before working on it."""

    async def has_id(self, batch_id: str) -> bool: ...

    async def create(self, row: BatchRow, requests: Iterable[tuple[str, bytes]]) -> BatchRow:
        """Store a new batch and its requests ``(custom_id, params JSON)``; sets ``row.seq``."""
        ...

    async def get(self, batch_id: str) -> BatchRow | None: ...

    async def active(self) -> list[BatchRow]:
        """Batches still processing (or canceling), oldest first."""
        ...

    async def page(
        self, *, limit: int, after_id: str | None, before_id: str | None, namespace: str = "default"
    ) -> tuple[list[BatchRow], bool] | None:
        """The namespace's batches, newest first by creation; ``after_id``: the page after that
        batch, ``before_id``: the page before it; ``None`` for an unknown cursor."""
        ...

    async def set_canceling(self, seq: int, at: float) -> None: ...

    async def delete(self, seq: int) -> None: ...

    async def clear(self, namespace: str | None = None) -> None:
        """Forget the batches of one namespace (``None``: every batch)."""
        ...

    async def claim(self, seq: int, owner: str, ttl: float) -> bool:
        """Hold (or keep holding) the right to work batch ``seq`` off for ``ttl`` seconds; false
        while another owner holds it. A local store has one processor: always true."""
        ...

    async def release(self, seq: int, owner: str) -> None: ...

    async def pending(self, seq: int, limit: int) -> list[tuple[int, str, bytes]]:
        """The next ``limit`` unprocessed requests ``(index, custom_id, params)``, in order."""
        ...

    async def record(self, seq: int, results: list[tuple[int, str, str, bytes]], *, ended_at: float) -> bool:
        """Store finished items ``(index, custom_id, kind, line)`` and count them; end the batch
        when nothing is left. Whether it has ended."""
        ...

    async def finish_remaining(self, seq: int, kind: str, *, ended_at: float) -> None:
        """Every pending request becomes ``kind`` (canceled / expired) and the batch ends."""
        ...

    async def result_page(self, seq: int, after_index: int, limit: int) -> list[tuple[int, bytes]]: ...


class FileRecords(Protocol):
    """Files (the Files API): each file's row and its content, kept per namespace. Every method is
    one atomic step: a file is visible only once all its content is stored, and its content goes
    with it when it is deleted. Content moves in chunks both ways, so no file is ever whole in
    memory."""

    async def has_id(self, file_id: str) -> bool:
        """Whether any namespace holds ``file_id`` (ids are unique across namespaces)."""
        ...

    async def create(self, namespace: str, row: FileRow, content: AsyncIterable[bytes]) -> FileRow:
        """Store a new file and its content, read chunk by chunk; it becomes visible once the
        content is whole (nothing stays behind if reading the content fails). Sets ``row.seq``."""
        ...

    async def get(self, namespace: str, file_id: str) -> FileRow | None: ...

    async def get_many(self, namespace: str, file_ids: Sequence[str]) -> list[FileRow]:
        """The files among ``file_ids`` that exist, in any order."""
        ...

    async def page(
        self, namespace: str, *, limit: int, after_id: str | None = None, before_id: str | None = None
    ) -> tuple[list[FileRow], bool] | None:
        """Newest first by creation; ``after_id``: the page after that file, ``before_id``: the page
        before it; ``None`` for an unknown cursor. The flag says whether more follow that way."""
        ...

    def content(self, namespace: str, file_id: str) -> AsyncIterator[bytes]:
        """The file's content, chunk by chunk (nothing if there is no such file)."""
        ...

    async def delete(self, namespace: str, file_id: str) -> bool:
        """Forget the file and its content; whether there was one."""
        ...

    async def clear(self, namespace: str | None = None) -> None:
        """Forget every file of ``namespace`` (of every namespace: ``None``)."""
        ...


def keep_none(namespace: str) -> bool:
    """What a store keeps until :meth:`Store.retain` says otherwise: no namespace."""
    return False

"""Message Batches in SQLite (the local store's batch records): batches, their pending requests,
and their finished results.

One connection, one writer (the server's event loop), WAL journal. A request row moves to the
results table in the same transaction that bumps the batch's counts, so a result that was ever
counted (and reported) is on disk: killing the process loses at most work that was never
reported. Results are read back in pages, so serving them never holds a whole batch in memory.

Where it lives: ``<data dir>/batches.sqlite3``; the data dir defaults to a per-user folder
(:func:`default_data_dir`), and ``:memory:`` keeps everything in memory (tests).
"""

from __future__ import annotations

import functools
import os
import sqlite3
import sys
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from mockserver.store.base import StoreError
from mockserver.store.records import RESULT_KINDS, BatchRow

MEMORY = ":memory:"
DB_NAME = "batches.sqlite3"
LOCK_NAME = "batches.lock"
SCHEMA_VERSION = 2  # 2: batches carry their namespace (a version 1 file gains the column, "default")
PAGE = 500  # rows per read when streaming results

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    beta INTEGER NOT NULL,
    api_version TEXT,
    anthropic_beta TEXT,
    request_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    ended_at REAL,
    cancel_initiated_at REAL,
    status TEXT NOT NULL,
    total INTEGER NOT NULL,
    succeeded INTEGER NOT NULL DEFAULT 0,
    errored INTEGER NOT NULL DEFAULT 0,
    canceled INTEGER NOT NULL DEFAULT 0,
    expired INTEGER NOT NULL DEFAULT 0,
    namespace TEXT NOT NULL DEFAULT 'default'
);
CREATE INDEX IF NOT EXISTS batches_active ON batches(status) WHERE status != 'ended';
CREATE TABLE IF NOT EXISTS requests (
    batch_seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    custom_id TEXT NOT NULL,
    params BLOB NOT NULL,
    PRIMARY KEY (batch_seq, idx)
);
CREATE TABLE IF NOT EXISTS results (
    batch_seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    custom_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    line BLOB NOT NULL,
    PRIMARY KEY (batch_seq, idx)
);
"""
INDEXES = "CREATE INDEX IF NOT EXISTS batches_namespace ON batches(namespace, seq);"
_COLUMNS = ", ".join(f.name for f in fields(BatchRow))  # the batches table's columns, in BatchRow's order


def default_data_dir() -> Path:
    """The per-user data folder: ``$XDG_DATA_HOME/mockserver`` (``~/.local/share/mockserver``),
    ``~/Library/Application Support/mockserver`` on macOS, ``%LOCALAPPDATA%\\mockserver`` on Windows."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "mockserver"


def _row(values: tuple[Any, ...]) -> BatchRow:
    (seq, id_, beta, version, betas, request_id, created, expires, ended, cancel, status, total, s, e, c, x, ns) = values
    return BatchRow(seq, id_, bool(beta), version, betas, request_id, created, expires, ended, cancel, status, total, s, e, c, x, ns)


def storage_problem(exc: sqlite3.Error) -> str:
    """What went wrong, in words a user can act on."""
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return f"not a batch store, or damaged ({text})"
    if "readonly" in text or "read-only" in text:
        return f"not writable ({text})"
    if "full" in text or "disk I/O" in text:
        return f"the disk is full or failing ({text})"
    return text


def _guarded(method: Any) -> Any:
    """A store operation whose SQLite failures (a full disk, a file changed under it) become a
    :class:`StoreError` naming the file: the client gets an ``api_error``, the log one line."""

    @functools.wraps(method)
    async def guarded(self: "SqliteBatches", *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path or 'the in-memory batch store'}: {storage_problem(exc)}") from None

    return guarded


class SqliteBatches:
    """The batches of one server. Every method is one short (or paged) transaction on the
    server's loop; they are ``async`` to fit the store interface (mockserver/store/base.py).
    One processor works them off (the data dir's lock sees to it), so claims always succeed."""

    shared = False

    def __init__(self, conn: sqlite3.Connection, path: Path | None, lock: IO[bytes] | None = None) -> None:
        self.conn = conn
        self.path = path
        self._lock = lock

    # -- opening and closing ------------------------------------------------------------------
    @classmethod
    def open(cls, location: str | Path) -> "SqliteBatches":
        """Open (creating if needed) the store in data dir ``location``, or in memory for ``:memory:``."""
        if str(location) == MEMORY:
            conn = sqlite3.connect(MEMORY, check_same_thread=False, isolation_level=None)
            return cls._init(conn, None, None)
        folder = Path(location).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = _lock(folder / LOCK_NAME)
        except OSError as exc:
            raise StoreError(f"{folder}: cannot keep batches there ({exc.strerror or exc}); pass a writable --data-dir, "
                             "or --data-dir :memory:") from None
        path = folder / DB_NAME
        try:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a killed process
            return cls._init(conn, path, lock)
        except sqlite3.DatabaseError as exc:
            lock.close()
            raise StoreError(f"{path}: {storage_problem(exc)}; move the file away (its batches are lost) or pass another "
                             "--data-dir") from None
        except BaseException:
            lock.close()
            raise

    @classmethod
    def _init(cls, conn: sqlite3.Connection, path: Path | None, lock: IO[bytes] | None) -> "SqliteBatches":
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"{path}: batch store version {version} is newer than this mockserver understands")
        conn.executescript(SCHEMA)
        if version == 1:
            conn.execute("ALTER TABLE batches ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default'")
        conn.executescript(INDEXES)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return cls(conn, path, lock)

    @staticmethod
    def exists(location: str | Path) -> bool:
        return str(location) != MEMORY and (Path(location).expanduser() / DB_NAME).exists()

    def close(self) -> None:
        self.conn.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed if the block completes, rolled back if anything raises."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite has already rolled back after some errors (a full disk)
                conn.execute("ROLLBACK")
            raise

    # -- batches ---------------------------------------------------------------------------------
    def holds(self, namespace: str) -> bool:
        """Whether ``namespace`` has a batch (one indexed lookup; the store keeps such a namespace's
        state). When SQLite cannot tell, it is taken to have one."""
        try:
            return self.conn.execute("SELECT 1 FROM batches WHERE namespace = ? LIMIT 1", (namespace,)).fetchone() is not None
        except sqlite3.Error:
            return True

    @_guarded
    async def has_id(self, batch_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM batches WHERE id = ?", (batch_id,)).fetchone() is not None

    @_guarded
    async def create(self, row: BatchRow, requests: Iterable[tuple[str, bytes]]) -> BatchRow:
        """Insert a batch and its requests ``(custom_id, params JSON)`` in one transaction."""
        with self._transaction() as conn:
            cur = conn.execute(
                "INSERT INTO batches (id, beta, api_version, anthropic_beta, request_id, created_at, expires_at,"
                " status, total, namespace) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row.id, int(row.beta), row.api_version, row.anthropic_beta, row.request_id, row.created_at,
                 row.expires_at, row.status, row.total, row.namespace),
            )
            seq = cur.lastrowid
            assert seq is not None
            conn.executemany(
                "INSERT INTO requests (batch_seq, idx, custom_id, params) VALUES (?, ?, ?, ?)",
                ((seq, i, custom_id, params) for i, (custom_id, params) in enumerate(requests)),
            )
        row.seq = seq
        return row

    @_guarded
    async def get(self, batch_id: str) -> BatchRow | None:
        values = self.conn.execute(f"SELECT {_COLUMNS} FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return _row(values) if values else None

    @_guarded
    async def active(self) -> list[BatchRow]:
        """Batches still processing (or canceling), oldest first: what a restarted server resumes."""
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM batches WHERE status != 'ended' ORDER BY seq").fetchall()
        return [_row(v) for v in rows]

    @_guarded
    async def page(
        self, *, limit: int, after_id: str | None, before_id: str | None, namespace: str = "default"
    ) -> tuple[list[BatchRow], bool] | None:
        """A page of the namespace's batches, newest first, by keyset on the creation order;
        ``None`` for an unknown cursor.

        ``after_id``: the ``limit`` batches created just before that one (the next page);
        ``before_id``: the ``limit`` batches created just after it (the previous page)."""
        conn = self.conn
        args: tuple[Any, ...]
        if after_id is not None or before_id is not None:
            cursor = conn.execute(
                "SELECT seq FROM batches WHERE id = ? AND namespace = ?", (after_id or before_id, namespace)
            ).fetchone()
            if cursor is None:
                return None
            if after_id is not None:
                sql = f"SELECT {_COLUMNS} FROM batches WHERE namespace = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
            else:
                sql = f"SELECT {_COLUMNS} FROM batches WHERE namespace = ? AND seq > ? ORDER BY seq ASC LIMIT ?"
            args = (namespace, cursor[0], limit + 1)
        else:
            sql, args = f"SELECT {_COLUMNS} FROM batches WHERE namespace = ? ORDER BY seq DESC LIMIT ?", (namespace, limit + 1)
        rows = [_row(v) for v in conn.execute(sql, args).fetchall()]
        has_more = len(rows) > limit
        rows = rows[:limit]
        if before_id is not None:
            rows.reverse()
        return rows, has_more

    @_guarded
    async def set_canceling(self, seq: int, at: float) -> None:
        self.conn.execute(
            "UPDATE batches SET status = 'canceling', cancel_initiated_at = ? WHERE seq = ? AND status = 'in_progress'",
            (at, seq),
        )

    @_guarded
    async def delete(self, seq: int) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM requests WHERE batch_seq = ?", (seq,))
            conn.execute("DELETE FROM results WHERE batch_seq = ?", (seq,))
            conn.execute("DELETE FROM batches WHERE seq = ?", (seq,))

    @_guarded
    async def clear(self, namespace: str | None = None) -> None:
        """Forget the batches of a namespace, or every batch (a test's reset)."""
        with self._transaction() as conn:
            if namespace is None:
                for table in ("requests", "results", "batches"):
                    conn.execute(f"DELETE FROM {table}")
                return
            chosen = "SELECT seq FROM batches WHERE namespace = ?"
            conn.execute(f"DELETE FROM requests WHERE batch_seq IN ({chosen})", (namespace,))
            conn.execute(f"DELETE FROM results WHERE batch_seq IN ({chosen})", (namespace,))
            conn.execute("DELETE FROM batches WHERE namespace = ?", (namespace,))

    async def claim(self, seq: int, owner: str, ttl: float) -> bool:
        return True

    async def release(self, seq: int, owner: str) -> None:
        return None

    # -- processing ------------------------------------------------------------------------------
    @_guarded
    async def pending(self, seq: int, limit: int) -> list[tuple[int, str, bytes]]:
        """The next ``limit`` unprocessed requests of a batch, in request order."""
        return self.conn.execute(
            "SELECT idx, custom_id, params FROM requests WHERE batch_seq = ? ORDER BY idx LIMIT ?", (seq, limit)
        ).fetchall()

    @_guarded
    async def record(self, seq: int, results: list[tuple[int, str, str, bytes]], *, ended_at: float) -> bool:
        """Store finished items ``(idx, custom_id, kind, line)`` and count them, atomically; ends the
        batch (at ``ended_at``) when nothing is left. Returns whether the batch has ended."""
        counts = dict.fromkeys(RESULT_KINDS, 0)
        with self._transaction() as conn:
            for idx, custom_id, kind, line in results:
                moved = conn.execute("DELETE FROM requests WHERE batch_seq = ? AND idx = ?", (seq, idx)).rowcount
                if moved:  # not already finished (or the batch deleted meanwhile)
                    conn.execute(
                        "INSERT INTO results (batch_seq, idx, custom_id, kind, line) VALUES (?, ?, ?, ?, ?)",
                        (seq, idx, custom_id, kind, line),
                    )
                    counts[kind] += 1
            conn.execute(
                "UPDATE batches SET succeeded = succeeded + ?, errored = errored + ?, canceled = canceled + ?,"
                " expired = expired + ? WHERE seq = ?",
                (counts["succeeded"], counts["errored"], counts["canceled"], counts["expired"], seq),
            )
            ended = self._end_if_done(seq, ended_at)
        return ended

    @_guarded
    async def finish_remaining(self, seq: int, kind: str, *, ended_at: float) -> None:
        """Every request still pending becomes ``kind`` (canceled / expired) and the batch ends."""
        assert kind in ("canceled", "expired")
        with self._transaction() as conn:
            moved = conn.execute(
                "INSERT INTO results (batch_seq, idx, custom_id, kind, line)"
                " SELECT batch_seq, idx, custom_id, ?,"
                " CAST('{\"custom_id\":' || json_quote(custom_id) || ',\"result\":{\"type\":\"' || ? || '\"}}' AS BLOB)"
                " FROM requests WHERE batch_seq = ?",
                (kind, kind, seq),
            ).rowcount
            conn.execute("DELETE FROM requests WHERE batch_seq = ?", (seq,))
            conn.execute(f"UPDATE batches SET {kind} = {kind} + ? WHERE seq = ?", (moved, seq))
            self._end_if_done(seq, ended_at)

    def _end_if_done(self, seq: int, ended_at: float) -> bool:
        cur = self.conn.execute(
            "UPDATE batches SET status = 'ended', ended_at = ? WHERE seq = ? AND status != 'ended'"
            " AND total = succeeded + errored + canceled + expired",
            (ended_at, seq),
        )
        return cur.rowcount > 0

    # -- results ---------------------------------------------------------------------------------
    @_guarded
    async def result_page(self, seq: int, after_index: int, limit: int = PAGE) -> list[tuple[int, bytes]]:
        return self.conn.execute(
            "SELECT idx, line FROM results WHERE batch_seq = ? AND idx > ? ORDER BY idx LIMIT ?", (seq, after_index, limit)
        ).fetchall()


def _lock(path: Path) -> IO[bytes]:
    """An exclusive lock on the data dir: two processors on one store would answer items twice."""
    handle = open(path, "a+b")
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock; one server per data dir is the user's job
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StoreError(f"{path.parent} is in use by another mockserver (pass another --data-dir)") from None
    return handle

"""Files (the Files API) in SQLite: the local store's file records (mockserver/store/base.py
``FileRecords``).

Each file is a row (its metadata, and what its bytes told: ``facts``) and its content in chunks
of at most :data:`CHUNK` bytes, written one statement at a time as the upload is read and read
back one chunk at a time for a download, so no file is ever whole in memory. A file is written
with ``complete = 0`` and becomes visible in one last statement that sets it; one that never got
there (the upload failed, the process died) is invisible and removed when the store next opens.

Where it lives: ``<data dir>/files.sqlite3`` (WAL), beside the batches; ``:memory:`` keeps
everything in memory. Like the batches, one server at a time uses a data dir (``files.lock``).
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import IO, Any, AsyncIterable, AsyncIterator, Iterator, Sequence

from mockserver.store.records import FileRow
from mockserver.store.base import StoreError
from mockserver.store.sqlite import MEMORY
from mockserver.store.sqlite import _lock as lock_data_dir

DB_NAME = "files.sqlite3"
LOCK_NAME = "files.lock"
SCHEMA_VERSION = 1
CHUNK = 1 << 20
"""The largest piece of content one row holds (and one read returns)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    downloadable INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    facts BLOB NOT NULL,
    namespace TEXT NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS files_listed ON files(namespace, seq) WHERE complete = 1;
CREATE TABLE IF NOT EXISTS chunks (
    file_seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (file_seq, idx)
);
"""
_COLUMNS = ", ".join(f.name for f in fields(FileRow))  # the files table's columns, in FileRow's order


def _row(values: tuple[Any, ...]) -> FileRow:
    seq, id_, filename, mime, size, created, expires, downloadable, sha256, facts = values
    return FileRow(seq, id_, filename, mime, size, created, expires, bool(downloadable), sha256, bytes(facts))


class SqliteFiles:
    """The files of one server; every method is one statement or one short transaction on the
    server's loop (``async`` to fit the store interface)."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None, lock: IO[bytes] | None = None) -> None:
        self.conn = conn
        self.path = path
        self._lock = lock

    # -- opening and closing ------------------------------------------------------------------
    @classmethod
    def open(cls, location: str | Path) -> "SqliteFiles":
        """Open (creating if needed) the files in data dir ``location``, or in memory for ``:memory:``."""
        if str(location) == MEMORY:
            return cls._init(sqlite3.connect(MEMORY, check_same_thread=False, isolation_level=None), None, None)
        folder = Path(location).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        lock = lock_data_dir(folder / LOCK_NAME)
        try:
            path = folder / DB_NAME
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a killed process
            return cls._init(conn, path, lock)
        except BaseException:
            lock.close()
            raise

    @classmethod
    def _init(cls, conn: sqlite3.Connection, path: Path | None, lock: IO[bytes] | None) -> "SqliteFiles":
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            conn.close()
            raise StoreError(f"{path}: file store version {version} is newer than this mockserver understands")
        conn.executescript(SCHEMA)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        store = cls(conn, path, lock)
        with store._transaction():  # uploads a stopped server never finished
            conn.execute("DELETE FROM chunks WHERE file_seq IN (SELECT seq FROM files WHERE complete = 0)")
            conn.execute("DELETE FROM files WHERE complete = 0")
        return store

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
        conn = self.conn
        conn.execute("BEGIN")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- files -----------------------------------------------------------------------------------
    def holds(self, namespace: str) -> bool:
        """Whether ``namespace`` has a file (one indexed lookup; the store keeps such a namespace's
        state). When SQLite cannot tell, it is taken to have one."""
        try:
            found = self.conn.execute("SELECT 1 FROM files WHERE namespace = ? AND complete = 1 LIMIT 1", (namespace,)).fetchone()
        except sqlite3.Error:
            return True
        return found is not None

    async def has_id(self, file_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM files WHERE id = ?", (file_id,)).fetchone() is not None

    async def create(self, namespace: str, row: FileRow, content: AsyncIterable[bytes]) -> FileRow:
        """Insert the row (invisible), then the content a chunk at a time (each its own statement,
        so the loop is never held for a whole file), then make it visible."""
        conn = self.conn
        cur = conn.execute(
            "INSERT INTO files (id, filename, mime_type, size_bytes, created_at, expires_at, downloadable, sha256,"
            " facts, namespace, complete) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (row.id, row.filename, row.mime_type, row.size_bytes, row.created_at, row.expires_at, int(row.downloadable),
             row.sha256, row.facts, namespace),
        )
        seq = cur.lastrowid
        assert seq is not None
        try:
            idx = 0
            async for chunk in content:
                for start in range(0, len(chunk), CHUNK):
                    conn.execute("INSERT INTO chunks (file_seq, idx, data) VALUES (?, ?, ?)", (seq, idx, chunk[start : start + CHUNK]))
                    idx += 1
            conn.execute("UPDATE files SET complete = 1 WHERE seq = ?", (seq,))
        except BaseException:
            with self._transaction():
                conn.execute("DELETE FROM chunks WHERE file_seq = ?", (seq,))
                conn.execute("DELETE FROM files WHERE seq = ?", (seq,))
            raise
        row.seq = seq
        return row

    async def get(self, namespace: str, file_id: str) -> FileRow | None:
        values = self.conn.execute(
            f"SELECT {_COLUMNS} FROM files WHERE id = ? AND namespace = ? AND complete = 1", (file_id, namespace)
        ).fetchone()
        return _row(values) if values else None

    async def get_many(self, namespace: str, file_ids: Sequence[str]) -> list[FileRow]:
        if not file_ids:
            return []
        marks = ", ".join("?" * len(file_ids))
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM files WHERE namespace = ? AND complete = 1 AND id IN ({marks})", (namespace, *file_ids)
        ).fetchall()
        return [_row(v) for v in rows]

    async def page(
        self, namespace: str, *, limit: int, after_id: str | None = None, before_id: str | None = None
    ) -> tuple[list[FileRow], bool] | None:
        """Newest first, by keyset on the creation order; ``None`` for an unknown cursor."""
        conn = self.conn
        visible = "namespace = ? AND complete = 1"
        args: tuple[Any, ...]
        if after_id is not None or before_id is not None:
            cursor = conn.execute(f"SELECT seq FROM files WHERE id = ? AND {visible}", (after_id or before_id, namespace)).fetchone()
            if cursor is None:
                return None
            if after_id is not None:
                sql = f"SELECT {_COLUMNS} FROM files WHERE {visible} AND seq < ? ORDER BY seq DESC LIMIT ?"
            else:
                sql = f"SELECT {_COLUMNS} FROM files WHERE {visible} AND seq > ? ORDER BY seq ASC LIMIT ?"
            args = (namespace, cursor[0], limit + 1)
        else:
            sql, args = f"SELECT {_COLUMNS} FROM files WHERE {visible} ORDER BY seq DESC LIMIT ?", (namespace, limit + 1)
        rows = [_row(v) for v in conn.execute(sql, args).fetchall()]
        has_more = len(rows) > limit
        rows = rows[:limit]
        if before_id is not None:
            rows.reverse()
        return rows, has_more

    async def content(self, namespace: str, file_id: str) -> AsyncIterator[bytes]:
        """The content a chunk per read; a file deleted meanwhile ends early."""
        found = self.conn.execute(
            "SELECT seq FROM files WHERE id = ? AND namespace = ? AND complete = 1", (file_id, namespace)
        ).fetchone()
        if found is None:
            return
        idx = 0
        while True:
            chunk = self.conn.execute("SELECT data FROM chunks WHERE file_seq = ? AND idx = ?", (found[0], idx)).fetchone()
            if chunk is None:
                return
            yield bytes(chunk[0])
            idx += 1

    async def delete(self, namespace: str, file_id: str) -> bool:
        with self._transaction() as conn:
            found = conn.execute("SELECT seq FROM files WHERE id = ? AND namespace = ? AND complete = 1", (file_id, namespace)).fetchone()
            if found is None:
                return False
            conn.execute("DELETE FROM chunks WHERE file_seq = ?", (found[0],))
            conn.execute("DELETE FROM files WHERE seq = ?", (found[0],))
        return True

    async def clear(self, namespace: str | None = None) -> None:
        """Forget the files of ``namespace`` (or all); an upload under way is left to finish."""
        where, args = ("complete = 1", ()) if namespace is None else ("complete = 1 AND namespace = ?", (namespace,))
        with self._transaction() as conn:
            conn.execute(f"DELETE FROM chunks WHERE file_seq IN (SELECT seq FROM files WHERE {where})", args)
            conn.execute(f"DELETE FROM files WHERE {where}", args)

"""The SQLite batch records: atomic counting, bulk cancel/expire, keyset pages, paged results, reopening."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import fields
from pathlib import Path

import pytest

from mockserver.batches.objects import EXPIRES_AFTER
from mockserver.store.local import LocalStore
from mockserver.store.records import BatchRow
from mockserver.store.sqlite import DB_NAME, MEMORY, StoreError, default_data_dir
from mockserver.store.sqlite import SqliteBatches as BatchStore


def new_row(batch_id: str, total: int, created: float = 1000.0) -> BatchRow:
    return BatchRow(seq=0, id=batch_id, beta=False, api_version="2023-06-01", anthropic_beta=None, request_id="req_1",
                    created_at=created, expires_at=created + EXPIRES_AFTER, ended_at=None, cancel_initiated_at=None,
                    status="in_progress", total=total)


async def add(store: BatchStore, batch_id: str, n: int, created: float = 1000.0) -> BatchRow:
    return await store.create(new_row(batch_id, n, created), ((f"c{i}", b"{}") for i in range(n)))


async def results(store: BatchStore, seq: int, page: int = 500) -> list[list[bytes]]:
    pages, after = [], -1
    while rows := await store.result_page(seq, after, page):
        pages.append([line for _, line in rows])
        after = rows[-1][0]
    return pages


async def test_results_are_counted_in_the_same_transaction_and_the_batch_ends() -> None:
    store = BatchStore.open(MEMORY)
    row = await add(store, "b1", 3)
    assert [idx for idx, _, _ in await store.pending(row.seq, 10)] == [0, 1, 2]
    assert not await store.record(row.seq, [(0, "c0", "succeeded", b'{"x":0}'), (1, "c1", "errored", b'{"x":1}')], ended_at=5.0)
    again = await store.record(row.seq, [(0, "c0", "succeeded", b"dup")], ended_at=5.0)  # already finished: ignored
    assert not again
    stored = await store.get("b1")
    assert stored is not None and (stored.succeeded, stored.errored, stored.status) == (1, 1, "in_progress")
    assert await store.record(row.seq, [(2, "c2", "succeeded", b'{"x":2}')], ended_at=7.0)
    stored = await store.get("b1")
    assert stored is not None and stored.status == "ended" and stored.ended_at == 7.0 and stored.succeeded == 2
    assert [line for page in await results(store, row.seq) for line in page] == [b'{"x":0}', b'{"x":1}', b'{"x":2}']
    assert await store.active() == []


@pytest.mark.parametrize("kind", ["canceled", "expired"])
async def test_finish_remaining_writes_real_rows(kind: str) -> None:
    store = BatchStore.open(MEMORY)
    row = await add(store, "b1", 4)
    await store.record(row.seq, [(0, "c0", "succeeded", b"{}")], ended_at=1.0)
    await store.finish_remaining(row.seq, kind, ended_at=9.0)
    stored = await store.get("b1")
    assert stored is not None and stored.status == "ended" and getattr(stored, kind) == 3 and stored.ended_at == 9.0
    lines = [line for page in await results(store, row.seq) for line in page][1:]
    assert [json.loads(line) for line in lines] == [{"custom_id": f"c{i}", "result": {"type": kind}} for i in (1, 2, 3)]
    assert await store.pending(row.seq, 10) == []


async def test_results_are_read_in_pages() -> None:
    """The bounded-memory property of serving results: never more than one page of rows at a time."""
    store = BatchStore.open(MEMORY)
    row = await add(store, "big", 1050)
    await store.record(row.seq, [(i, f"c{i}", "succeeded", b"x" * 10) for i in range(1050)], ended_at=1.0)
    pages = [len(page) for page in await results(store, row.seq, page=100)]
    assert pages == [100] * 10 + [50]


async def test_pages_are_newest_first_with_keyset_cursors() -> None:
    store = BatchStore.open(MEMORY)
    ids = [(await add(store, f"b{i}", 1)).id for i in range(5)]
    newest = ids[::-1]

    async def page(**kw: object) -> tuple[list[str], bool]:
        found = await store.page(**kw)  # type: ignore[arg-type]
        assert found is not None
        rows, more = found
        return [r.id for r in rows], more

    assert await page(limit=2, after_id=None, before_id=None) == (newest[:2], True)
    assert await page(limit=2, after_id=newest[1], before_id=None) == (newest[2:4], True)
    assert await page(limit=2, after_id=newest[3], before_id=None) == (newest[4:], False)
    assert await page(limit=2, after_id=None, before_id=newest[3]) == (newest[1:3], True)
    assert await page(limit=2, after_id=None, before_id=newest[1]) == (newest[:1], False)
    assert await store.page(limit=2, after_id="nope", before_id=None) is None


async def test_a_file_store_survives_reopening_and_is_locked(tmp_path: Path) -> None:
    store = BatchStore.open(tmp_path)
    row = await add(store, "b1", 2)
    await store.record(row.seq, [(0, "c0", "succeeded", b"{}")], ended_at=1.0)
    with pytest.raises(StoreError, match="in use by another mockserver"):
        BatchStore.open(tmp_path)
    store.close()
    reopened = BatchStore.open(tmp_path)
    assert [r.id for r in await reopened.active()] == ["b1"]
    assert await reopened.pending(row.seq, 10) == [(1, "c1", b"{}")]
    assert await reopened.has_id("b1") and not await reopened.has_id("b2")
    reopened.close()
    assert (tmp_path / DB_NAME).exists() and BatchStore.exists(tmp_path) and not BatchStore.exists(MEMORY)


async def test_delete_and_clear() -> None:
    store = BatchStore.open(MEMORY)
    a, b = await add(store, "a", 2), await add(store, "b", 1)
    await store.delete(a.seq)
    assert await store.get("a") is None and await store.pending(a.seq, 5) == [] and await store.get("b") is not None
    await store.clear()
    assert await store.get("b") is None and await store.pending(b.seq, 5) == []


@pytest.mark.parametrize("operation", ["delete", "clear"])
async def test_a_failed_delete_or_clear_is_rolled_back(operation: str) -> None:
    """Every write is one transaction: a failure midway leaves nothing half-done and no
    transaction open (delete and clear used to leave one open, failing every later write)."""
    store = BatchStore.open(MEMORY)
    row = await add(store, "a", 2)
    store.conn.execute("CREATE TEMP TRIGGER refuse BEFORE DELETE ON batches BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(StoreError, match="refused"):
        await (store.delete(row.seq) if operation == "delete" else store.clear())
    assert not store.conn.in_transaction
    assert await store.get("a") is not None and len(await store.pending(row.seq, 5)) == 2  # requests deleted first: back again
    store.conn.execute("DROP TRIGGER refuse")
    await add(store, "b", 1)  # the store still takes writes
    await store.delete(row.seq)
    assert await store.get("a") is None and await store.get("b") is not None


async def test_the_column_list_follows_the_row() -> None:
    store = BatchStore.open(MEMORY)
    columns = [c[1] for c in store.conn.execute("PRAGMA table_info(batches)")]
    assert columns == [f.name for f in fields(BatchRow)]
    row = await add(store, "a", 2)
    assert await store.get("a") == row


def test_data_dir_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "mockserver"
    assert LocalStore().location == tmp_path / "mockserver"
    assert LocalStore(MEMORY).location == MEMORY
    assert LocalStore(tmp_path / "x").location == tmp_path / "x"


async def test_the_default_data_dir_falls_back_to_memory_when_taken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    holder = BatchStore.open(default_data_dir())  # another server holds it
    try:
        local = LocalStore()
        records = local.batch_records(create=True)
        assert local.location == MEMORY and isinstance(records, BatchStore) and records.path is None
        explicit = LocalStore(default_data_dir())
        with pytest.raises(StoreError):
            explicit.batch_records(create=True)
    finally:
        holder.close()


def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    BatchStore.open(tmp_path).close()
    import sqlite3

    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="version 99"):
        BatchStore.open(tmp_path)


async def test_a_version_1_store_gains_namespaces(tmp_path: Path) -> None:
    """A data dir written before namespaces opens with every batch in the default namespace."""
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.executescript(
        "CREATE TABLE batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, beta INTEGER NOT NULL,"
        " api_version TEXT, anthropic_beta TEXT, request_id TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL,"
        " ended_at REAL, cancel_initiated_at REAL, status TEXT NOT NULL, total INTEGER NOT NULL,"
        " succeeded INTEGER NOT NULL DEFAULT 0, errored INTEGER NOT NULL DEFAULT 0, canceled INTEGER NOT NULL DEFAULT 0,"
        " expired INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO batches (id, beta, request_id, created_at, expires_at, status, total) VALUES ('old', 0, 'r', 1, 2, 'ended', 0);"
        "PRAGMA user_version = 1;"
    )
    conn.close()
    store = BatchStore.open(tmp_path)
    old = await store.get("old")
    assert old is not None and old.namespace == "default"
    new = await store.create(_in("ns", new_row("new", 1)), [])
    assert new.namespace == "ns" and store.conn.execute("PRAGMA user_version").fetchone()[0] == 2
    found = await store.page(limit=5, after_id=None, before_id=None, namespace="ns")
    assert found is not None and [r.id for r in found[0]] == ["new"]
    store.close()


def _in(namespace: str, row: BatchRow) -> BatchRow:
    row.namespace = namespace
    return row

"""The SQLite store: atomic counting, bulk cancel/expire, keyset pages, paged results, reopening."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import fields
from pathlib import Path

import pytest

from mockserver.batches.objects import EXPIRES_AFTER, BatchRow
from mockserver.batches.service import BatchService
from mockserver.batches.store import DB_NAME, MEMORY, BatchStore, StoreError, default_data_dir
from mockserver.config import Config


def new_row(batch_id: str, total: int, created: float = 1000.0) -> BatchRow:
    return BatchRow(seq=0, id=batch_id, beta=False, api_version="2023-06-01", anthropic_beta=None, request_id="req_1",
                    created_at=created, expires_at=created + EXPIRES_AFTER, ended_at=None, cancel_initiated_at=None,
                    status="in_progress", total=total)


def add(store: BatchStore, batch_id: str, n: int, created: float = 1000.0) -> BatchRow:
    return store.create(new_row(batch_id, n, created), ((f"c{i}", b"{}") for i in range(n)))


def test_results_are_counted_in_the_same_transaction_and_the_batch_ends() -> None:
    store = BatchStore.open(MEMORY)
    row = add(store, "b1", 3)
    assert [idx for idx, _, _ in store.pending(row.seq, 10)] == [0, 1, 2]
    assert not store.record(row.seq, [(0, "c0", "succeeded", b'{"x":0}'), (1, "c1", "errored", b'{"x":1}')], ended_at=5.0)
    again = store.record(row.seq, [(0, "c0", "succeeded", b"dup")], ended_at=5.0)  # already finished: ignored
    assert not again
    stored = store.get("b1")
    assert stored is not None and (stored.succeeded, stored.errored, stored.status) == (1, 1, "in_progress")
    assert store.record(row.seq, [(2, "c2", "succeeded", b'{"x":2}')], ended_at=7.0)
    stored = store.get("b1")
    assert stored is not None and stored.status == "ended" and stored.ended_at == 7.0 and stored.succeeded == 2
    assert [line for page in store.iter_results(row.seq) for line in page] == [b'{"x":0}', b'{"x":1}', b'{"x":2}']
    assert store.active() == []


@pytest.mark.parametrize("kind", ["canceled", "expired"])
def test_finish_remaining_writes_real_rows(kind: str) -> None:
    store = BatchStore.open(MEMORY)
    row = add(store, "b1", 4)
    store.record(row.seq, [(0, "c0", "succeeded", b"{}")], ended_at=1.0)
    store.finish_remaining(row.seq, kind, ended_at=9.0)
    stored = store.get("b1")
    assert stored is not None and stored.status == "ended" and getattr(stored, kind) == 3 and stored.ended_at == 9.0
    lines = [line for page in store.iter_results(row.seq) for line in page][1:]
    assert [json.loads(line) for line in lines] == [{"custom_id": f"c{i}", "result": {"type": kind}} for i in (1, 2, 3)]
    assert store.pending(row.seq, 10) == []


def test_results_are_read_in_pages() -> None:
    """The bounded-memory property of serving results: never more than one page of rows at a time."""
    store = BatchStore.open(MEMORY)
    row = add(store, "big", 1050)
    store.record(row.seq, [(i, f"c{i}", "succeeded", b"x" * 10) for i in range(1050)], ended_at=1.0)
    pages = [len(page) for page in store.iter_results(row.seq, page=100)]
    assert pages == [100] * 10 + [50]


def test_pages_are_newest_first_with_keyset_cursors() -> None:
    store = BatchStore.open(MEMORY)
    ids = [add(store, f"b{i}", 1).id for i in range(5)]
    newest = ids[::-1]

    def page(**kw: object) -> tuple[list[str], bool]:
        found = store.page(**kw)  # type: ignore[arg-type]
        assert found is not None
        rows, more = found
        return [r.id for r in rows], more

    assert page(limit=2, after_id=None, before_id=None) == (newest[:2], True)
    assert page(limit=2, after_id=newest[1], before_id=None) == (newest[2:4], True)
    assert page(limit=2, after_id=newest[3], before_id=None) == (newest[4:], False)
    assert page(limit=2, after_id=None, before_id=newest[3]) == (newest[1:3], True)
    assert page(limit=2, after_id=None, before_id=newest[1]) == (newest[:1], False)
    assert store.page(limit=2, after_id="nope", before_id=None) is None


def test_a_file_store_survives_reopening_and_is_locked(tmp_path: Path) -> None:
    store = BatchStore.open(tmp_path)
    row = add(store, "b1", 2)
    store.record(row.seq, [(0, "c0", "succeeded", b"{}")], ended_at=1.0)
    with pytest.raises(StoreError, match="in use by another mockserver"):
        BatchStore.open(tmp_path)
    store.close()
    reopened = BatchStore.open(tmp_path)
    assert [r.id for r in reopened.active()] == ["b1"]
    assert reopened.pending(row.seq, 10) == [(1, "c1", b"{}")]
    assert reopened.has_id("b1") and not reopened.has_id("b2")
    reopened.close()
    assert (tmp_path / DB_NAME).exists() and BatchStore.exists(tmp_path) and not BatchStore.exists(MEMORY)


def test_delete_and_clear() -> None:
    store = BatchStore.open(MEMORY)
    a, b = add(store, "a", 2), add(store, "b", 1)
    store.delete(a.seq)
    assert store.get("a") is None and store.pending(a.seq, 5) == [] and store.get("b") is not None
    store.clear()
    assert store.get("b") is None and store.pending(b.seq, 5) == []


@pytest.mark.parametrize("operation", ["delete", "clear"])
def test_a_failed_delete_or_clear_is_rolled_back(operation: str) -> None:
    """Every write is one transaction: a failure midway leaves nothing half-done and no
    transaction open (delete and clear used to leave one open, failing every later write)."""
    store = BatchStore.open(MEMORY)
    row = add(store, "a", 2)
    store.conn.execute("CREATE TEMP TRIGGER refuse BEFORE DELETE ON batches BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        store.delete(row.seq) if operation == "delete" else store.clear()
    assert not store.conn.in_transaction
    assert store.get("a") is not None and len(store.pending(row.seq, 5)) == 2  # requests deleted first: back again
    store.conn.execute("DROP TRIGGER refuse")
    add(store, "b", 1)  # the store still takes writes
    store.delete(row.seq)
    assert store.get("a") is None and store.get("b") is not None


def test_the_column_list_follows_the_row() -> None:
    store = BatchStore.open(MEMORY)
    columns = [c[1] for c in store.conn.execute("PRAGMA table_info(batches)")]
    assert columns == [f.name for f in fields(BatchRow)]
    row = add(store, "a", 2)
    assert store.get("a") == row


def test_data_dir_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "mockserver"
    assert BatchService(Config()).location == tmp_path / "mockserver"
    assert BatchService(Config(data_dir=MEMORY)).location == MEMORY
    assert BatchService(Config(data_dir=tmp_path / "x")).location == tmp_path / "x"


async def test_the_default_data_dir_falls_back_to_memory_when_taken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    holder = BatchStore.open(default_data_dir())  # another server holds it
    try:
        service = BatchService(Config())
        store = service.writable_store()
        assert service.location == MEMORY and store.path is None
        explicit = BatchService(Config(data_dir=default_data_dir()))
        with pytest.raises(StoreError):
            explicit.writable_store()
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

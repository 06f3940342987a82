"""The file records (mockserver/store/base.py ``FileRecords``): content in chunks both ways,
namespaces, keyset pages, atomic creates and deletes, and what a failed upload leaves (nothing),
for every implementation (SQLite in memory, and Redis: a real Valkey server the tests start);
then what is SQLite's own (reopening a data dir, the
lock, leftovers of a killed server)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import AsyncIterator

import pytest

from mockserver.store.base import FileRecords
from mockserver.store.files import CHUNK, DB_NAME, SqliteFiles
from mockserver.store.local import LocalStore
from mockserver.store.records import FileRow
from mockserver.store.sqlite import MEMORY, StoreError
from tests.redis_support import RedisServer


@pytest.fixture(params=["sqlite-memory", "redis"])
async def records(request: pytest.FixtureRequest) -> AsyncIterator[FileRecords]:
    if request.param == "sqlite-memory":
        yield SqliteFiles.open(MEMORY)
        return
    from mockserver.store.redis import RedisStore

    redis: RedisServer = request.getfixturevalue("redis_server")
    store = RedisStore(redis.fresh_url(), server_time=False)
    await store.open()
    made = store.file_records(create=True)
    assert made is not None
    yield made
    await store.close()


def row(file_id: str, size: int = 0, created: float = 1000.0) -> FileRow:
    return FileRow(seq=0, id=file_id, filename=f"{file_id}.bin", mime_type="application/octet-stream", size_bytes=size,
                   created_at=created, expires_at=None, downloadable=False, sha256="", facts=b'{"pdf_pages":2}')


async def chunks(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def add(store: FileRecords, file_id: str, *pieces: bytes, namespace: str = "default") -> FileRow:
    return await store.create(namespace, row(file_id, sum(map(len, pieces))), chunks(*pieces))


async def content(store: FileRecords, file_id: str, namespace: str = "default") -> list[bytes]:
    return [chunk async for chunk in store.content(namespace, file_id)]


async def test_content_goes_in_and_out_in_chunks(records: FileRecords) -> None:
    store = records
    big = bytes(range(256)) * (CHUNK // 256) * 2 + b"tail"  # two full chunks and a bit
    stored = await add(store, "file_a", big[:100], big[100:])
    assert stored.seq > 0
    out = await content(store, "file_a")
    assert [len(c) for c in out] == [100, CHUNK, len(big) - 100 - CHUNK] and b"".join(out) == big  # never over CHUNK a row
    got = await store.get("default", "file_a")
    assert got is not None and got.facts == b'{"pdf_pages":2}' and got.size_bytes == len(big)
    await add(store, "file_empty")
    assert await content(store, "file_empty") == [] and await store.get("default", "file_empty") is not None


async def test_namespaces_do_not_see_each_other(records: FileRecords) -> None:
    store = records
    await add(store, "file_a", b"a", namespace="alice")
    await add(store, "file_b", b"b", namespace="bob")
    assert await store.get("bob", "file_a") is None and await content(store, "file_a", "bob") == []
    assert [r.id for r in await store.get_many("alice", ["file_a", "file_b", "nope"])] == ["file_a"]
    assert not await store.delete("bob", "file_a")
    assert await store.has_id("file_a")  # ids are unique across namespaces
    await store.clear("alice")
    assert await store.get("alice", "file_a") is None and await store.get("bob", "file_b") is not None
    await store.clear()
    assert not await store.has_id("file_b")


async def test_pages_are_newest_first_with_keyset_cursors(records: FileRecords) -> None:
    store = records
    for i in range(5):
        await add(store, f"f{i}", b"x")
    first = await store.page("default", limit=2)
    assert first is not None and [r.id for r in first[0]] == ["f4", "f3"] and first[1]
    nxt = await store.page("default", limit=2, after_id="f3")
    assert nxt is not None and [r.id for r in nxt[0]] == ["f2", "f1"] and nxt[1]
    last = await store.page("default", limit=2, after_id="f1")
    assert last is not None and [r.id for r in last[0]] == ["f0"] and not last[1]
    back = await store.page("default", limit=2, before_id="f1")
    assert back is not None and [r.id for r in back[0]] == ["f3", "f2"] and back[1]
    assert await store.page("default", limit=2, after_id="nope") is None
    assert await store.page("other", limit=2, after_id="f1") is None  # another namespace's file is no cursor


async def test_an_upload_that_fails_leaves_nothing_and_is_invisible_while_under_way(records: FileRecords) -> None:
    store = records

    async def broken() -> AsyncIterator[bytes]:
        yield b"first"
        assert await store.get("default", "file_x") is None  # not visible before it is whole
        assert (await store.page("default", limit=10)) == ([], False)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.create("default", row("file_x"), broken())
    assert not await store.has_id("file_x")
    await add(store, "file_y", b"y")
    assert await content(store, "file_y") == [b"y"]  # nothing of file_x came back


async def test_delete_takes_the_content_with_it(records: FileRecords) -> None:
    store = records
    await add(store, "file_a", b"a" * 10)
    assert await store.delete("default", "file_a")
    assert not await store.delete("default", "file_a")
    assert await content(store, "file_a") == [] and not await store.has_id("file_a")
    if isinstance(store, SqliteFiles):
        assert store.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == 0
    else:  # Redis: no key of the file is left
        from mockserver.store.redis import RedisFiles

        assert isinstance(store, RedisFiles)
        assert [key async for key in store.store.client.scan_iter(match=store.p + ":*")] == []


async def test_a_data_dir_keeps_files_across_reopening_and_drops_unfinished_ones(tmp_path: Path) -> None:
    store = SqliteFiles.open(tmp_path)
    await add(store, "file_a", b"kept")
    store.conn.execute("INSERT INTO files (id, filename, mime_type, size_bytes, created_at, downloadable, sha256, facts, namespace)"
                       " VALUES ('file_half', 'h', 'text/plain', 9, 1.0, 0, '', x'7b7d', 'default')")
    store.conn.execute("INSERT INTO chunks (file_seq, idx, data) VALUES ((SELECT seq FROM files WHERE id = 'file_half'), 0, x'00')")
    with pytest.raises(StoreError, match="in use by another mockserver"):
        SqliteFiles.open(tmp_path)
    store.close()  # as a killed server would leave it: one finished file, one upload under way
    again = SqliteFiles.open(tmp_path)
    assert await content(again, "file_a") == [b"kept"]
    assert not await again.has_id("file_half")
    assert again.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == 1
    again.close()
    assert (tmp_path / DB_NAME).exists()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer than this mockserver"):
        SqliteFiles.open(tmp_path)


async def test_the_local_store_opens_files_lazily(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    assert store.file_records(create=False) is None and not (tmp_path / DB_NAME).exists()
    records = store.file_records(create=True)
    assert records is not None and (tmp_path / DB_NAME).exists()
    await store.close()
    reopened = LocalStore(tmp_path)
    assert reopened.file_records(create=False) is not None  # the data dir has files: opened at once
    await reopened.close()
    memory = LocalStore(MEMORY)
    assert memory.file_records(create=False) is not None
    await memory.close()



"""The store interface's contract (mockserver/store/base.py), one suite run against every backend:
the one-process store (memory and SQLite) and Redis (a real Valkey server the tests start).

Time is given (a manual clock's ``now``); the Redis store then keeps Redis's clock out of it, as
it does under a ManualClock. What only Redis's clock decides is checked at the end."""

from __future__ import annotations

import asyncio
import json
import time
from typing import AsyncIterator, Awaitable, Callable

import pytest

from mockserver.store.base import BucketSpec, LogLimits, Store, StoreUnavailable
from mockserver.store.local import LocalStore
from mockserver.store.records import BatchRow
from tests.redis_support import RedisServer

BACKENDS = ["local", "redis"]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    made: Store
    if request.param == "local":
        made = LocalStore(":memory:")
    else:
        from mockserver.store.redis import RedisStore

        redis: RedisServer = request.getfixturevalue("redis_server")
        made = RedisStore(redis.fresh_url(), server_time=False)
    await made.open()
    yield made
    await made.close()


def identity(item: bytes) -> bytes:
    return item


# -- counters ----------------------------------------------------------------------------------------
async def test_counters(store: Store) -> None:
    assert await store.get_int("ns:c") == 0
    assert await store.incr("ns:c") == 1 and await store.incr("ns:c", 5) == 6 and await store.incr("ns:c", -2) == 4
    assert await store.get_ints(["ns:c", "ns:none"]) == [4, 0] and await store.get_ints([]) == []
    assert await store.take("ns:t", 2) == 1 and await store.take("ns:t", 2) == 2 and await store.take("ns:t", 2) is None
    assert await store.get_int("ns:t") == 2


async def test_take_is_exactly_once_under_concurrency(store: Store) -> None:
    taken = await asyncio.gather(*(store.take("ns:race", 7) for _ in range(60)))
    assert sorted(t for t in taken if t is not None) == list(range(1, 8)) and taken.count(None) == 53


# -- token buckets -----------------------------------------------------------------------------------
async def test_buckets_refill_and_are_taken_all_or_nothing(store: Store) -> None:
    a, b = BucketSpec("ns:a", 60, 60.0), BucketSpec("ns:b", 10, 60.0)
    refused = await store.take_buckets([a, b], [5, 20], [5, 20], now=100.0)
    assert not refused.taken and refused.levels == (60, 10)
    taken = await store.take_buckets([a, b], [60, 5], [60, 5], now=100.0)
    assert taken.taken and taken.levels == (0, 5)
    assert await store.bucket_levels([a, b], now=110.0) == pytest.approx((10, 5 + 10 / 6))
    assert await store.adjust_bucket(a, 25, now=110.0) == pytest.approx(-15)  # whatever the level
    assert await store.adjust_bucket(a, -5, now=110.0) == pytest.approx(-10)
    assert await store.bucket_levels([a], now=10_000.0) == (60,)
    bigger = BucketSpec("ns:b", 20, 60.0)  # a new capacity: the bucket starts full
    assert await store.bucket_levels([bigger], now=110.0) == (20,)


async def test_buckets_are_never_overdrawn_under_concurrency(store: Store) -> None:
    spec = BucketSpec("ns:rpm", 10, 60.0)
    results = await asyncio.gather(*(store.take_buckets([spec], [1], [1], now=5.0) for _ in range(40)))
    assert sum(r.taken for r in results) == 10


# -- expiring keys -----------------------------------------------------------------------------------
async def test_expiring_keys(store: Store) -> None:
    await store.set_expiring([("ns:k1", 300.0), ("ns:k2", 3600.0)], now=1000.0)
    assert await store.live(["ns:k1", "ns:k2", "ns:k3"], now=1200.0) == [300.0, 3600.0, None]
    assert await store.live(["ns:k1", "ns:k2"], now=1301.0) == [None, 3600.0]
    await store.set_expiring([("ns:k1", 300.0)], now=1400.0)  # set again: lives again
    assert await store.live(["ns:k1"], now=1600.0) == [300.0] and await store.live([], now=0.0) == []


# -- capped logs -------------------------------------------------------------------------------------
async def test_logs_have_one_global_order_and_are_capped(store: Store) -> None:
    limits = LogLimits(entries=3, bytes=1000)
    seqs = [await store.append(f"ns{i % 2}:log", f"item{i}".encode(), 10, limits, identity) for i in range(8)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 8  # one order across every log
    even = await store.read("ns0:log", 0, None, identity)
    assert [item for _, item in even] == [b"item2", b"item4", b"item6"]  # the newest 3
    assert [seq for seq, _ in even] == [seqs[2], seqs[4], seqs[6]]
    assert [item for _, item in await store.read("ns0:log", seqs[4], None, identity)] == [b"item6"]
    assert [item for _, item in await store.read("ns0:log", 0, 2, identity)] == [b"item4", b"item6"]
    assert await store.read("ns0:log", 0, 0, identity) == [] and await store.read("nothing:log", 0, None, identity) == []


async def test_concurrent_appends_keep_one_order(store: Store) -> None:
    limits = LogLimits(entries=100, bytes=100_000)
    seqs = await asyncio.gather(*(store.append(f"ns{i % 2}:log", b"%d" % i, 1, limits, identity) for i in range(50)))
    assert len(set(seqs)) == 50
    for log in ("ns0:log", "ns1:log"):
        read = await store.read(log, 0, None, identity)
        assert [seq for seq, _ in read] == sorted(seq for seq, _ in read) and len(read) == 25
        assert {seq: item for seq, item in read} == {seqs[i]: b"%d" % i for i in range(50) if f"ns{i % 2}:log" == log}


async def test_logs_are_capped_in_bytes(store: Store) -> None:
    limits = LogLimits(entries=100, bytes=250)
    for i in range(5):
        await store.append("ns:log", bytes([65 + i]) * 100, 100, limits, identity)
    assert [item[:1] for _, item in await store.read("ns:log", 0, None, identity)] == [b"D", b"E"]
    await store.append("ns:log", b"huge", 300, limits, identity)  # larger than the cap alone: nothing stays
    assert await store.read("ns:log", 0, None, identity) == []
    await store.append("ns:log", b"small", 10, limits, identity)
    assert [item for _, item in await store.read("ns:log", 0, None, identity)] == [b"small"]


async def test_log_entries_keep_their_bytes(store: Store) -> None:
    payload = bytes(range(256)) + b":with:colons\n"
    await store.append("ns:log", payload, len(payload), LogLimits(10, 10_000), identity)
    assert [item for _, item in await store.read("ns:log", 0, None, identity)] == [payload]


# -- versioned documents -----------------------------------------------------------------------------
async def test_documents_are_replaced_only_from_their_latest_version(store: Store) -> None:
    assert await store.load_doc("admin:a") == (0, None)
    start, _, _ = await store.doc_changes(0)
    v1 = await store.save_doc("admin:a", 0, b"one")
    assert v1 is not None and await store.load_doc("admin:a") == (v1, b"one")
    assert await store.save_doc("admin:a", 0, b"stale") is None  # someone saved first
    v2 = await store.save_doc("admin:a", v1, b"two")
    assert v2 is not None and v2 > v1
    v3 = await store.save_doc("admin:b", 0, b"b")
    count, names, everything = await store.doc_changes(start)
    assert count == v3 and sorted(names) == ["admin:a", "admin:b"] and not everything
    assert await store.doc_changes(v2) == (v3, ["admin:b"], False)
    assert await store.doc_changes(v3) == (v3, [], False)
    v4 = await store.save_doc("admin:a", v2, None)  # deleted
    assert v4 is not None and await store.load_doc("admin:a") == (0, None)
    assert await store.doc_changes(v3) == (v4, ["admin:a"], False)


async def test_saves_race_and_exactly_one_wins(store: Store) -> None:
    saved = await asyncio.gather(*(store.save_doc("admin:x", 0, f"{i}".encode()) for i in range(20)))
    assert sum(v is not None for v in saved) == 1


async def test_too_far_behind_gets_every_document(store: Store) -> None:
    for i in range(1100):  # more changes than either store remembers
        await store.save_doc(f"admin:n{i % 3}", (await store.load_doc(f"admin:n{i % 3}"))[0], b"x")
    count, names, everything = await store.doc_changes(1)
    assert everything and sorted(names) == ["admin:n0", "admin:n1", "admin:n2"] and count >= 1100


# -- clearing a prefix -------------------------------------------------------------------------------
async def test_clear_forgets_one_prefix_only(store: Store) -> None:
    limits = LogLimits(10, 10_000)
    for ns in ("a", "ab"):
        await store.incr(f"{ns}:rules:1:hits")
        await store.take_buckets([BucketSpec(f"{ns}:limits:x", 5)], [1], [1], now=1.0)
        await store.set_expiring([(f"{ns}:cache:k", 300.0)], now=1.0)
        await store.append(f"{ns}:journal", b"entry", 5, limits, identity)
    await store.clear("a:")
    assert await store.get_int("a:rules:1:hits") == 0 and await store.get_int("ab:rules:1:hits") == 1
    assert await store.bucket_levels([BucketSpec("a:limits:x", 5)], now=1.0) == (5,)
    assert await store.bucket_levels([BucketSpec("ab:limits:x", 5)], now=1.0) == (4,)
    assert await store.live(["a:cache:k", "ab:cache:k"], now=2.0) == [None, 300.0]
    assert await store.read("a:journal", 0, None, identity) == []
    assert len(await store.read("ab:journal", 0, None, identity)) == 1


# -- batch records -----------------------------------------------------------------------------------
def row(batch_id: str, total: int, namespace: str = "default") -> BatchRow:
    return BatchRow(seq=0, id=batch_id, beta=False, api_version="2023-06-01", anthropic_beta=None, request_id="req_1",
                    created_at=1000.0, expires_at=1000.0 + 86_400, ended_at=None, cancel_initiated_at=None,
                    status="in_progress", total=total, namespace=namespace)


async def add(store: Store, batch_id: str, n: int, namespace: str = "default") -> BatchRow:
    records = store.batch_records(create=True)
    assert records is not None
    return await records.create(row(batch_id, n, namespace), ((f"c{i}", b'{"i":%d}' % i) for i in range(n)))


async def test_batches_count_results_once_and_end(store: Store) -> None:
    created = await add(store, "b1", 3)
    records = store.batch_records(create=False)
    assert records is not None and created.seq > 0
    assert await records.get("b1") == created and await records.has_id("b1") and not await records.has_id("b2")
    assert await records.pending(created.seq, 2) == [(0, "c0", b'{"i":0}'), (1, "c1", b'{"i":1}')]
    assert not await records.record(created.seq, [(0, "c0", "succeeded", b"r0"), (1, "c1", "errored", b"r1")], ended_at=5.0)
    assert not await records.record(created.seq, [(0, "c0", "succeeded", b"again")], ended_at=5.0)  # counted once
    stored = await records.get("b1")
    assert stored is not None and (stored.succeeded, stored.errored, stored.status) == (1, 1, "in_progress")
    assert [r.id for r in await records.active()] == ["b1"]
    assert await records.record(created.seq, [(2, "c2", "succeeded", b"r2")], ended_at=7.0)
    stored = await records.get("b1")
    assert stored is not None and stored.status == "ended" and stored.ended_at == 7.0 and stored.succeeded == 2
    assert await records.result_page(created.seq, -1, 2) == [(0, b"r0"), (1, b"r1")]
    assert await records.result_page(created.seq, 1, 10) == [(2, b"r2")]
    assert await records.active() == [] and await records.pending(created.seq, 10) == []


@pytest.mark.parametrize("kind", ["canceled", "expired"])
async def test_batches_finish_remaining(store: Store, kind: str) -> None:
    created = await add(store, "b1", 4)
    records = store.batch_records(create=False)
    assert records is not None
    await records.set_canceling(created.seq, 3.0)
    stored = await records.get("b1")
    assert stored is not None and stored.status == "canceling" and stored.cancel_initiated_at == 3.0
    await records.record(created.seq, [(0, "c0", "succeeded", b"{}")], ended_at=1.0)
    await records.finish_remaining(created.seq, kind, ended_at=9.0)
    stored = await records.get("b1")
    assert stored is not None and stored.status == "ended" and getattr(stored, kind) == 3 and stored.ended_at == 9.0
    lines = [json.loads(line) for _, line in (await records.result_page(created.seq, -1, 10))[1:]]
    assert lines == [{"custom_id": f"c{i}", "result": {"type": kind}} for i in (1, 2, 3)]


async def test_batch_pages_are_per_namespace_newest_first(store: Store) -> None:
    ids = [(await add(store, f"b{i}", 1)).id for i in range(5)]
    await add(store, "other", 1, namespace="elsewhere")
    records = store.batch_records(create=False)
    assert records is not None
    newest = ids[::-1]

    async def page(**kw: object) -> tuple[list[str], bool]:
        found = await records.page(**kw)  # type: ignore[arg-type]
        assert found is not None
        return [r.id for r in found[0]], found[1]

    assert await page(limit=2, after_id=None, before_id=None) == (newest[:2], True)
    assert await page(limit=2, after_id=newest[1], before_id=None) == (newest[2:4], True)
    assert await page(limit=2, after_id=newest[3], before_id=None) == (newest[4:], False)
    assert await page(limit=2, after_id=None, before_id=newest[3]) == (newest[1:3], True)
    assert await page(limit=10, after_id=None, before_id=None, namespace="elsewhere") == (["other"], False)
    assert await records.page(limit=2, after_id="nope", before_id=None) is None
    assert await records.page(limit=2, after_id="other", before_id=None) is None  # another namespace's cursor


async def test_batches_delete_and_clear_per_namespace(store: Store) -> None:
    a, b = await add(store, "a", 2), await add(store, "b", 1)
    c = await add(store, "c", 1, namespace="other")
    records = store.batch_records(create=False)
    assert records is not None
    await records.delete(a.seq)
    assert await records.get("a") is None and await records.pending(a.seq, 5) == [] and not await records.has_id("a")
    await records.clear("default")
    assert await records.get("b") is None and await records.get("c") is not None
    assert [r.id for r in await records.active()] == ["c"]
    await records.clear()
    assert await records.get("c") is None and await records.active() == [] and await records.pending(c.seq, 5) == []
    assert await records.pending(b.seq, 5) == []


async def test_batch_claims(store: Store) -> None:
    created = await add(store, "b", 1)
    records = store.batch_records(create=False)
    assert records is not None
    assert await records.claim(created.seq, "one", 30)
    if not records.shared:  # one processor: every claim holds
        assert await records.claim(created.seq, "two", 30)
        return
    assert not await records.claim(created.seq, "two", 30) and await records.claim(created.seq, "one", 30)  # renewed
    await records.release(created.seq, "two")  # not the holder: nothing happens
    assert not await records.claim(created.seq, "two", 30)
    await records.release(created.seq, "one")
    assert await records.claim(created.seq, "two", 0.05)
    await eventually(lambda: records.claim(created.seq, "one", 30))  # the lease ran out: another may claim


# -- Redis only: its clock, and its absence ------------------------------------------------------------
async def test_redis_buckets_use_the_servers_clock(redis_server: RedisServer) -> None:
    from mockserver.store.redis import RedisStore

    store = RedisStore(redis_server.fresh_url())  # server time: the caller's ``now`` is ignored
    spec = BucketSpec("ns:rpm", 2, 60.0)
    assert (await store.take_buckets([spec], [1], [1], now=0.0)).taken
    assert (await store.take_buckets([spec], [1], [1], now=1e9)).taken  # a caller far in the future refills nothing
    refused = await store.take_buckets([spec], [1], [1], now=2e9)
    assert not refused.taken and refused.levels[0] < 1
    await store.set_expiring([("ns:k", 2.0)], now=0.0)
    assert await store.live(["ns:k"], now=1e12) == [2.0]  # the caller's time does not expire it

    async def gone() -> bool:
        return await store.live(["ns:k"], now=0.0) == [None]

    await eventually(gone)  # Redis's clock does
    await store.close()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    """Wait (polling) until ``check`` is true: for what Redis's clock decides."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "still not so"
        await asyncio.sleep(0.05)


async def test_an_unreachable_redis_is_a_503_naming_it() -> None:
    from mockserver.store.redis import RedisStore
    from tests.process_support import free_port

    url = f"redis://:secret@127.0.0.1:{free_port()}/0"
    store = RedisStore(url)
    with pytest.raises(StoreUnavailable) as raised:
        await store.incr("ns:x")
    error = raised.value
    assert error.status == 503 and error.type == "api_error"
    assert error.message.startswith(f"mockserver's state store (redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}) is unavailable: ")
    assert "secret" not in error.message
    await store.close()

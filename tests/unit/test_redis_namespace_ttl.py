"""The shared store (Redis) does not grow with the namespaces its clients name, against a real
server the tests start: a namespace's counters and journal carry an idle TTL refreshed by every
write, its buckets and cached prefixes their own TTLs, and an index of its keys (a sorted set
scored by when each expires) lets a reset delete them without looking through the keyspace.
What the user set up is never expired: a namespace with rules or limits set at run time
(``Store.retain``'s ``keep``), batches or files keeps its counters and journal, and documents,
batch and file records carry no TTL at all."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from mockserver.clock import ManualClock
from mockserver.config import Config
from mockserver.harness.cli import build_parser, config_from_args
from mockserver.root import Api
from mockserver.store.base import BucketSpec, LogLimits
from mockserver.store.records import BatchRow, FileRow
from mockserver.store.redis import IDLE_TTL, RedisStore
from tests.redis_support import RedisServer
from tests.unit.test_namespace_bound import call

LIMITS = LogLimits(entries=10, bytes=10_000)
P = "mockserver:"


def identity(item: bytes) -> bytes:
    return item


@pytest.fixture
async def url(redis_server: RedisServer) -> str:
    return redis_server.fresh_url()


@pytest.fixture
async def raw(url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(url)
    yield client
    await client.aclose()


async def write_everything(store: RedisStore, ns: str) -> None:
    """One of each kind of per-namespace key."""
    await store.incr(f"{ns}:rules:r:seen")
    await store.take(f"{ns}:rules:r:hits", 5)
    await store.take_buckets([BucketSpec(f"{ns}:limits:m:requests", 5)], [1], [1], now=1.0)
    await store.adjust_bucket(BucketSpec(f"{ns}:limits:m:output", 50), 10, now=1.0)
    await store.set_expiring([(f"{ns}:cache:k", 300.0)], now=1.0)
    await store.append(f"{ns}:journal", b"entry", 5, LIMITS, identity)


IDLE_KEYS = ("rules:r:seen", "rules:r:hits", "journal", "journal:bytes")
OWN_TTL_KEYS = ("limits:m:requests", "limits:m:output", "cache:k")


async def keys_of(raw: aioredis.Redis, ns: str) -> set[str]:
    return {key.decode() for key in await raw.keys(f"{P}{ns}:*")}


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "still not so"
        await asyncio.sleep(0.05)


async def test_every_key_of_a_namespace_carries_a_ttl_and_is_indexed(url: str, raw: aioredis.Redis) -> None:
    store = RedisStore(url, idle_ttl=600.0)
    await write_everything(store, "ns")
    assert await keys_of(raw, "ns") == {f"{P}ns:{key}" for key in IDLE_KEYS + OWN_TTL_KEYS}
    for key in IDLE_KEYS:
        assert 590_000 < await raw.pttl(f"{P}ns:{key}") <= 600_000, key
    for key in OWN_TTL_KEYS:
        assert 0 < await raw.pttl(f"{P}ns:{key}") <= 300_000 + 1000, key
    index = store.index_key("ns")
    members = {member.decode(): score for member, score in await raw.zrange(index, 0, -1, withscores=True)}
    assert set(members) == {f"{P}ns:{key}" for key in IDLE_KEYS + OWN_TTL_KEYS}
    assert 590_000 < await raw.pttl(index) <= 600_000 + 1000  # it expires with its last member
    assert max(members.values()) == pytest.approx(time.time() * 1000 + 600_000, abs=10_000)
    await store.close()


async def test_a_write_refreshes_the_idle_ttl(url: str, raw: aioredis.Redis) -> None:
    store = RedisStore(url, idle_ttl=600.0)
    await store.incr("ns:rules:r:seen")
    await raw.pexpire(f"{P}ns:rules:r:seen", 5000)  # as if most of the idle time had passed
    await store.incr("ns:rules:r:seen")
    assert await raw.pttl(f"{P}ns:rules:r:seen") > 590_000
    await store.close()


async def test_an_idle_namespace_goes_away_whole(url: str, raw: aioredis.Redis) -> None:
    store = RedisStore(url, idle_ttl=0.3)
    await write_everything(store, "gone")
    await store.incr("other:rules:r:seen")  # another namespace: its own index

    async def idle_keys_gone() -> bool:
        return not {f"{P}gone:{key}" for key in IDLE_KEYS} & await keys_of(raw, "gone")

    await eventually(idle_keys_gone)
    # A later write to the namespace prunes the index of what expired; the rest expire by themselves.
    await store.incr("gone:rules:r:seen")
    members = {m.decode() for m in await raw.zrange(store.index_key("gone"), 0, -1)}
    assert f"{P}gone:journal" not in members and f"{P}gone:rules:r:seen" in members
    assert await store.read("gone:journal", 0, None, identity) == []
    await store.close()


async def test_reset_looks_at_its_namespace_only(url: str, raw: aioredis.Redis) -> None:
    store = RedisStore(url)
    for ns in ("a", "ab", "b"):
        await write_everything(store, ns)
    for n in range(300):  # many other namespaces: a reset must not look at them
        await store.incr(f"many{n}:rules:r:seen")
    await raw.config_resetstat()
    await store.clear("a:")
    stats = await raw.info("commandstats")
    assert "cmdstat_scan" not in stats and "cmdstat_keys" not in stats
    assert await keys_of(raw, "a") == set() and not await raw.exists(store.index_key("a"))
    for ns in ("ab", "b"):
        assert len(await keys_of(raw, ns)) == len(IDLE_KEYS + OWN_TTL_KEYS)
    assert await store.get_int("many7:rules:r:seen") == 1

    await store.clear("ab:cache:")  # one feature of one namespace: the rest of it stays, listed
    assert await keys_of(raw, "ab") == {f"{P}ab:{key}" for key in IDLE_KEYS + OWN_TTL_KEYS if key != "cache:k"}
    assert await raw.zcard(store.index_key("ab")) == len(IDLE_KEYS + OWN_TTL_KEYS) - 1
    await store.clear("ab:journal")
    assert await store.read("ab:journal", 0, None, identity) == [] and await store.get_int("ab:rules:r:seen") == 1
    await store.close()


async def test_reset_of_a_namespace_with_many_keys_deletes_them_all(url: str, raw: aioredis.Redis) -> None:
    store = RedisStore(url)
    await store.set_expiring([(f"big:cache:{i}", 300.0) for i in range(2500)], now=1.0)
    await store.incr("big:rules:r:seen")
    await store.clear("big:")
    assert await keys_of(raw, "big") == set() and not await raw.exists(store.index_key("big"))
    await store.close()


def _batch(namespace: str) -> BatchRow:
    return BatchRow(seq=0, id=f"batch-{namespace}", beta=False, api_version="2023-06-01", anthropic_beta=None,
                    request_id="req_1", created_at=1000.0, expires_at=1000.0 + 86_400, ended_at=None,
                    cancel_initiated_at=None, status="in_progress", total=1, namespace=namespace)


async def _content() -> AsyncIterator[bytes]:
    yield b"hello"


async def test_what_the_user_set_up_is_never_expired(url: str, raw: aioredis.Redis) -> None:
    store = RedisStore(url, idle_ttl=600.0)
    kept = {"ruled"}
    store.retain(keep=kept.__contains__, forgotten=lambda ns: None)
    await store.save_doc("admin:ruled", 0, b"rules")
    batches, files = store.batch_records(create=True), store.file_records(create=True)
    assert batches is not None and files is not None
    await batches.create(_batch("batched"), [("c0", b"{}")])
    file = FileRow(seq=0, id="file_1", filename="a.txt", mime_type="text/plain", size_bytes=5, created_at=1.0,
                   expires_at=None, downloadable=False, sha256="", facts=b"{}")
    await files.create("filed", file, _content())
    for ns in ("ruled", "batched", "filed", "plain"):
        await write_everything(store, ns)
    for ns in ("ruled", "batched", "filed"):  # counters and journal: no TTL; the index with them
        for key in IDLE_KEYS:
            assert await raw.pttl(f"{P}{ns}:{key}") == -1, (ns, key)
        for key in OWN_TTL_KEYS:  # (a full bucket has no key; a cached prefix is the cache's)
            assert await raw.pttl(f"{P}{ns}:{key}") > 0, (ns, key)
        assert await raw.pttl(store.index_key(ns)) == -1
    assert await raw.pttl(f"{P}plain:journal") > 0
    # Nothing the store keeps outside a namespace's own keys expires: documents, batches, files.
    for key in await raw.keys(f"{P}#*"):
        if not key.startswith(f"{P}#keys:".encode()):
            assert await raw.pttl(key) == -1, key

    # No longer kept (its rules were removed): its next write gives the key its idle TTL again,
    # and the index stays at least as long as the key it lists that never expires.
    kept.clear()
    await store.incr("ruled:rules:r:seen")
    assert 0 < await raw.pttl(f"{P}ruled:rules:r:seen") <= 600_000
    assert await raw.pttl(f"{P}ruled:journal") == -1 and await raw.pttl(store.index_key("ruled")) == -1
    await store.clear("ruled:")
    assert await keys_of(raw, "ruled") == set() and await store.load_doc("admin:ruled") != (0, None)
    await store.close()


async def test_no_idle_ttl_when_told_so(url: str, raw: aioredis.Redis) -> None:
    store = RedisStore(url, idle_ttl=0)
    await write_everything(store, "ns")
    for key in IDLE_KEYS:
        assert await raw.pttl(f"{P}ns:{key}") == -1
    await store.clear("ns:")
    assert await keys_of(raw, "ns") == set()
    await store.close()


def test_the_idle_ttl_is_configured() -> None:
    assert Config().namespace_ttl == IDLE_TTL == 86_400
    assert config_from_args(build_parser().parse_args(["serve", "--namespace-ttl", "60"])).namespace_ttl == 60
    assert config_from_args(build_parser().parse_args(["serve", "--namespace-ttl", "0"])).namespace_ttl == 0
    with pytest.raises(ValueError):
        RedisStore("redis://127.0.0.1:1/0", idle_ttl=-1)


# -- through the composition root ---------------------------------------------------------------------
RULES = "rules:\n  - name: catch\n    times: 100000\n    reply: hello there\n"


async def test_a_call_in_a_new_namespace_leaves_only_expiring_keys_and_a_reset_leaves_none(
    url: str, raw: aioredis.Redis, tmp_path: Path
) -> None:
    scenario = tmp_path / "rules.yaml"
    scenario.write_text(RULES)
    api = Api(Config(state=url, clock=ManualClock(), scenario_files=[scenario], namespace_ttl=3600.0))
    await api.start()
    try:
        await call(api, "test-1")
        await call(api, "test-2")
        written = await keys_of(raw, "test-1")
        assert any(key.endswith(":journal") for key in written) and any(":rules:" in key for key in written)
        for key in written:
            assert 0 < await raw.pttl(key) <= 3_600_000, key
        await api.add_rules({"rules": [{"name": "set-up", "times": 1, "reply": "once"}]}, namespace="test-3")
        await call(api, "test-3")
        set_up = await keys_of(raw, "test-3")  # rules set at run time: its counts and journal stay
        assert any(":rules:" in key for key in set_up) and f"{P}test-3:journal" in set_up
        assert [key for key in set_up if ":limits:" not in key and await raw.pttl(key) != -1] == []
        await raw.config_resetstat()
        await api.reset("test-1")
        assert "cmdstat_scan" not in await raw.info("commandstats")
        assert await keys_of(raw, "test-1") == set() and not await raw.exists(f"{P}#keys:test-1")
        assert await keys_of(raw, "test-2") and (await api.journal.read("test-2"))
    finally:
        await api.stop()

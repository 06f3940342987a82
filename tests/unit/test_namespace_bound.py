"""The one-process store holds the state of at most so many namespaces (``namespace_limit``):
past it, the least recently written namespace is forgotten (its journal, rule counts and
rate-limit buckets), never one that has rules or limits set at run time, batches or files.

The reference model below is the whole promise; Hypothesis drives the store and the model with
the same writes and compares what each holds after every step. At the end, through the
composition root: what a new namespace on every call, or a namespace reset when its test ends,
leaves behind in the server."""

from __future__ import annotations

import asyncio
import gc
import logging
import tracemalloc
from pathlib import Path
from typing import Any, AsyncIterator

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from mockserver.config import Config
from mockserver.pipeline.parse import Incoming
from mockserver.render.deliver import deliver
from mockserver.root import Api
from mockserver.store.base import BucketSpec, LogLimits
from mockserver.store.local import EXAMINED, EVICTIONS_LOGGED_EVERY, NAMESPACES_HELD, LocalStore
from mockserver.store.records import BatchRow, FileRow

LIMITS = LogLimits(entries=3, bytes=10_000)
NAMES = [f"n{i}" for i in range(7)]


def identity(item: bytes) -> bytes:
    return item


class Model:
    """What the store should hold: namespaces in the order they were last written, each one's
    journal (the newest ``LIMITS.entries``) and counter."""

    def __init__(self, limit: int, kept: set[str]) -> None:
        self.limit, self.kept = limit, kept
        self.order: list[str] = []
        self.logs: dict[str, list[tuple[int, bytes]]] = {}
        self.counters: dict[str, int] = {}
        self.forgotten: list[str] = []
        self.seq = 0

    def _write(self, ns: str) -> None:
        if ns in self.order:
            self.order.remove(ns)
            self.order.append(ns)
            return
        self.order.append(ns)
        while len(self.order) > self.limit:
            victims = [n for n in self.order if n not in self.kept and n != ns]
            if not victims:
                break
            self.order.remove(victims[0])
            self.logs.pop(victims[0], None)
            self.counters.pop(victims[0], None)
            self.forgotten.append(victims[0])

    def append(self, ns: str, item: bytes) -> None:
        self._write(ns)
        self.seq += 1
        self.logs[ns] = (self.logs.get(ns, []) + [(self.seq, item)])[-LIMITS.entries:]

    def incr(self, ns: str) -> None:
        self._write(ns)
        self.counters[ns] = self.counters.get(ns, 0) + 1

    def clear(self, ns: str) -> None:
        if ns in self.order:
            self.order.remove(ns)
        self.logs.pop(ns, None)
        self.counters.pop(ns, None)


ops = st.lists(st.tuples(st.sampled_from(["append", "incr", "clear"]), st.sampled_from(NAMES)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(ops=ops, limit=st.integers(1, 4), kept=st.sets(st.sampled_from(NAMES), max_size=3))
def test_the_least_recently_written_namespace_without_set_up_state_is_forgotten(ops: list[tuple[str, str]], limit: int, kept: set[str]) -> None:
    async def run() -> None:
        store = LocalStore(":memory:", namespaces=limit)
        forgotten: list[str] = []
        store.retain(keep=kept.__contains__, forgotten=forgotten.append)
        model = Model(limit, kept)
        for step, (op, ns) in enumerate(ops):
            if op == "append":
                item = b"%d" % step
                await store.append(f"{ns}:journal", item, 1, LIMITS, identity)
                model.append(ns, item)
            elif op == "incr":
                await store.incr(f"{ns}:rules:r1:seen")
                model.incr(ns)
            else:
                await store.clear(f"{ns}:")
                model.clear(ns)
            for name in NAMES:
                assert await store.read(f"{name}:journal", 0, None, identity) == model.logs.get(name, []), (step, name)
                assert await store.get_int(f"{name}:rules:r1:seen") == model.counters.get(name, 0), (step, name)
            assert forgotten == model.forgotten
            assert len(model.order) <= max(limit, len(kept & set(model.order)) + 1)

    asyncio.run(run())


async def test_buckets_and_counters_count_as_the_namespace_s_state() -> None:
    store = LocalStore(":memory:", namespaces=1)
    await store.take_buckets([BucketSpec("a:limits:x:requests", 5)], [1], [1], now=1.0)
    await store.incr("a:rules:r:seen")
    await store.append("b:journal", b"x", 1, LIMITS, identity)  # a second namespace: a is forgotten
    assert await store.bucket_levels([BucketSpec("a:limits:x:requests", 5)], now=1.0) == (5,)  # full again
    assert await store.get_int("a:rules:r:seen") == 0


async def test_a_namespace_is_never_evicted_to_make_room_for_itself_and_kept_ones_are_looked_at_a_bounded_number_of_times() -> None:
    store = LocalStore(":memory:", namespaces=2)
    asked: list[str] = []

    def keep(ns: str) -> bool:
        asked.append(ns)
        return ns.startswith("rules-")

    store.retain(keep=keep, forgotten=lambda ns: None)
    for n in range(200):
        await store.incr(f"rules-{n}:rules:r:seen")
    asked.clear()
    await store.append("flood-1:journal", b"x", 1, LIMITS, identity)
    assert len(asked) <= EXAMINED  # not a scan of every kept namespace, whatever their number
    assert len(await store.read("flood-1:journal", 0, None, identity)) == 1
    for n in range(2, 400):
        await store.append(f"flood-{n}:journal", b"x", 1, LIMITS, identity)
    assert all([await store.get_int(f"rules-{n}:rules:r:seen") for n in range(200)])  # every kept one kept
    held = sum([bool(await store.read(f"flood-{n}:journal", 0, None, identity)) for n in range(1, 400)])
    assert held <= 2  # the flood itself stays bounded once the kept ones are behind it


def file_row(file_id: str) -> FileRow:
    return FileRow(seq=0, id=file_id, filename="a.txt", mime_type="text/plain", size_bytes=1, created_at=1.0,
                   expires_at=None, downloadable=False, sha256="0" * 64)


def batch_row(batch_id: str, namespace: str) -> BatchRow:
    return BatchRow(seq=0, id=batch_id, beta=False, api_version="2023-06-01", anthropic_beta=None, request_id="req_1",
                    created_at=1000.0, expires_at=1000.0 + 86_400, ended_at=None, cancel_initiated_at=None,
                    status="in_progress", total=1, namespace=namespace)


async def one_chunk() -> AsyncIterator[bytes]:
    yield b"x"


async def test_namespaces_with_batches_or_files_are_kept() -> None:
    store = LocalStore(":memory:", namespaces=1)
    files = store.file_records(create=True)
    batches = store.batch_records(create=True)
    assert files is not None and batches is not None
    await files.create("with-file", file_row("file_1"), one_chunk())
    await batches.create(batch_row("msgbatch_1", "with-batch"), [("a", b"{}")])
    for ns in ("with-file", "with-batch", "plain-1", "plain-2"):
        await store.append(f"{ns}:journal", ns.encode(), 1, LIMITS, identity)
    for ns in ("with-file", "with-batch", "plain-2"):
        assert len(await store.read(f"{ns}:journal", 0, None, identity)) == 1, ns
    assert await store.read("plain-1:journal", 0, None, identity) == []
    await store.close()


def test_evictions_are_logged_once_per_so_many(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        store = LocalStore(":memory:", namespaces=1)
        for n in range(2 * EVICTIONS_LOGGED_EVERY + 2):  # 2 * EVERY + 1 evictions
            await store.append(f"n{n}:journal", b"x", 1, LIMITS, identity)

    with caplog.at_level(logging.INFO, logger="mockserver.store"):
        asyncio.run(run())
    lines = [r.getMessage() for r in caplog.records if r.name == "mockserver.store"]
    assert len(lines) == 3, lines
    assert "'n0'" in lines[0] and "1 forgotten so far" in lines[0]
    assert "--namespace-limit" in lines[0] and "reset" in lines[0]


def test_the_limit_has_a_named_default_that_config_and_the_command_line_share() -> None:
    from mockserver.harness.cli import build_parser, config_from_args

    assert NAMESPACES_HELD == 10_000
    assert Config().namespace_limit == NAMESPACES_HELD
    assert build_parser().parse_args(["serve"]).namespace_limit == NAMESPACES_HELD
    assert config_from_args(build_parser().parse_args(["serve", "--namespace-limit", "50"])).namespace_limit == 50
    with pytest.raises(ValueError):
        LocalStore(":memory:", namespaces=0)


# -- through the composition root: what a request in a new namespace leaves behind -----------------
BODY = orjson.dumps({"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]})


class _Sink:
    closed = False

    async def whole(self, plan: Any, body: bytes) -> None:
        pass

    async def start(self, plan: Any) -> None:
        pass

    async def write(self, data: bytes) -> None:
        pass

    def abort(self, rst: bool = False) -> None:
        pass


async def call(api: Api, namespace: str) -> None:
    headers = CIMultiDictProxy(CIMultiDict({"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01",
                                            "content-type": "application/json", "x-mock-namespace": namespace}))

    async def read(limit: int) -> bytes:
        return BODY

    incoming = Incoming("POST", "/v1/messages", "/v1/messages", MultiDictProxy(MultiDict()), headers, read, True)
    exchange = await api.handle(incoming)
    await api.finish(exchange, await deliver(exchange.plan, _Sink()))  # type: ignore[arg-type]


def growth_per_namespace(config: Config, *, reset: bool, count: int = 3000) -> float:
    async def run() -> float:
        api = Api(config)
        await api.start()
        tracemalloc.start()  # first: what the namespaces held at the start hold is counted when it goes
        for n in range(300):  # past the limit, and every lazily made structure made
            await call(api, f"warm-{n}")
            if reset:
                await api.reset(f"warm-{n}")
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(count):
            await call(api, f"ns-{n}")
            if reset:
                await api.reset(f"ns-{n}")
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        await api.stop()
        return grown / count

    return asyncio.run(run())


RULES = "rules:\n  - name: catch\n    times: 100000\n    reply: hello there\n"


def _config(tmp_path: Path, with_rules: bool, **options: Any) -> Config:
    """A quiet seeded server's config, with a scenario file of :data:`RULES` when ``with_rules``."""
    files: tuple[Path, ...] = ()
    if with_rules:
        (tmp_path / "rules.yaml").write_text(RULES)
        files = (tmp_path / "rules.yaml",)
    return Config(log_requests=False, seed=1, scenario_files=files, **options)


@pytest.mark.parametrize("with_rules", [False, True], ids=["no-rules", "file-rules"])
def test_a_new_namespace_on_every_request_does_not_grow_the_server(tmp_path: Path, with_rules: bool) -> None:
    per_namespace = growth_per_namespace(_config(tmp_path, with_rules, namespace_limit=100), reset=False)
    assert per_namespace < 100, per_namespace  # was ~2.9 KB (3.7 KB with a scenario file), forever


@pytest.mark.parametrize("with_rules", [False, True], ids=["no-rules", "file-rules"])
def test_a_namespace_reset_when_its_test_ends_leaves_nothing_behind(tmp_path: Path, with_rules: bool) -> None:
    # the pytest plugin's case: each test's namespace is reset at teardown
    per_namespace = growth_per_namespace(_config(tmp_path, with_rules), reset=True)
    assert per_namespace < 50, per_namespace  # was ~230 B (~830 B with a scenario file): the book's copies


async def test_a_namespace_set_aside_as_kept_is_forgotten_once_nothing_keeps_it() -> None:
    store = LocalStore(":memory:", namespaces=2)
    kept = {"had-batches"}
    store.retain(keep=kept.__contains__, forgotten=lambda ns: None)
    await store.append("had-batches:journal", b"x", 1, LIMITS, identity)
    for n in range(3):
        await store.append(f"other-{n}:journal", b"x", 1, LIMITS, identity)
    assert len(await store.read("had-batches:journal", 0, None, identity)) == 1  # set aside, kept
    kept.clear()  # its batches were deleted
    for n in range(3, 6):
        await store.append(f"other-{n}:journal", b"x", 1, LIMITS, identity)
    assert await store.read("had-batches:journal", 0, None, identity) == []
    assert [len(await store.read(f"other-{n}:journal", 0, None, identity)) for n in range(6)] == [0, 0, 0, 0, 1, 1]

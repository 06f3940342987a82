"""Many processes, one API: ``mockserver serve --workers N`` and replicas sharing state through a
real Redis-compatible server (Valkey, started by the tests), driven through the official SDK
over real sockets. Each test has a database (or a whole server) of its own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import anthropic
import pytest

from tests.batch_support import item
from tests.conftest import HAIKU
from tests.process_support import ROOT, free_port
from tests.redis_support import RedisServer

KEY = "sk-ant-test"


@dataclass
class Served:
    """A ``mockserver serve`` in a subprocess; its output is read (and kept) as it comes."""

    proc: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)
    listening: threading.Event = field(default_factory=threading.Event)

    def client(self, **options: Any) -> anthropic.Anthropic:
        options.setdefault("max_retries", 0)
        return anthropic.Anthropic(base_url=self.url, api_key=KEY, _strict_response_validation=True, **options)

    def async_client(self, **options: Any) -> anthropic.AsyncAnthropic:
        options.setdefault("max_retries", 0)
        return anthropic.AsyncAnthropic(base_url=self.url, api_key=KEY, _strict_response_validation=True, **options)

    def admin(self, method: str, path: str, body: Any = None, namespace: str | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json", **({"x-mock-namespace": namespace} if namespace else {})}
        request = urllib.request.Request(self.url + "/_mock" + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def worker_pids(self, count: int) -> set[int]:
        """The workers' pids, seen through the admin API (new connections land on any worker)."""
        pids: set[int] = set()
        for _ in range(400):
            pids.add(self.admin("GET", "/")["worker"]["pid"])
            if len(pids) >= count:
                return pids
        raise AssertionError(f"saw only workers {pids}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def spawn(*args: str) -> Served:
    """``mockserver serve --quiet ARGS`` on a free port; ``ready`` waits until it listens."""
    port = free_port()
    argv = [sys.executable, "-m", "mockserver", "serve", "--port", str(port), "--quiet", *args]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    served = Served(proc, f"http://127.0.0.1:{port}")

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            served.lines.append(line.rstrip("\n"))
            if line.startswith("export ANTHROPIC_BASE_URL="):
                served.listening.set()
        served.listening.set()

    threading.Thread(target=read, daemon=True).start()
    return served


def ready(served: Served, timeout: float = 60.0) -> Served:
    if not served.listening.wait(timeout) or served.proc.poll() is not None:
        served.stop()
        raise RuntimeError("mockserver did not start:\n" + "\n".join(served.lines))
    return served


def start(*args: str) -> Served:
    return ready(spawn(*args))


def start_two(*args: str) -> tuple[Served, Served]:
    """Two servers with the same options, started side by side."""
    a, b = spawn(*args), spawn(*args)
    return ready(a), ready(b)


@pytest.fixture
def servers() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        served.stop()


@pytest.fixture
def state(redis_server: RedisServer) -> str:
    return redis_server.fresh_url()


def ask(client: anthropic.Anthropic, text: str = "go") -> Any:
    return client.messages.create(model=HAIKU, max_tokens=20, messages=[{"role": "user", "content": text}])


async def ask_async(client: anthropic.AsyncAnthropic, text: str = "go") -> Any:
    return await client.messages.create(model=HAIKU, max_tokens=20, messages=[{"role": "user", "content": text}])


# -- N workers on one port --------------------------------------------------------------------------
async def test_rules_are_consumed_exactly_once_across_two_workers(servers: list[Served], state: str) -> None:
    served = start("--workers", "2", "--state", state)
    servers.append(served)
    served.worker_pids(2)
    served.admin("POST", "/rules", [
        {"name": "five-529s", "times": 5, "match": {"text": "flaky"}, "error": {"status": 529}},
        {"name": "steps", "match": {"text": "steps"}, "sequence": [f"s{i}" for i in range(1, 11)]},
    ])
    clients = [served.async_client() for _ in range(4)]  # separate connection pools: both workers get calls
    try:
        flaky = await asyncio.gather(*(ask_async(clients[i % 4], "flaky") for i in range(24)), return_exceptions=True)
        steps = await asyncio.gather(*(ask_async(clients[i % 4], "steps") for i in range(20)))
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    overloaded = [r for r in flaky if isinstance(r, anthropic.OverloadedError)]
    assert len(overloaded) == 5 and sum(not isinstance(r, BaseException) for r in flaky) == 19
    texts = sorted(m.content[0].text for m in steps)
    assert texts == sorted([f"s{i}" for i in range(1, 10)] + ["s10"] * 11)  # each step once; then the last repeats
    rules = {r["name"]: r for r in served.admin("GET", "/rules")["data"]}
    assert rules["five-529s"]["hits"] == 5 and rules["steps"]["hits"] == 20
    journal = served.admin("GET", "/journal")["data"]
    assert len(journal) == 44 and [e["seq"] for e in journal] == sorted(e["seq"] for e in journal)


def test_workers_without_shared_state_say_what_each_keeps(servers: list[Served]) -> None:
    served = start("--workers", "2", "--seed", "3")
    servers.append(served)
    assert any("2 workers without --state: each keeps its own the journal" in line for line in served.lines)
    assert served.worker_pids(2)
    with served.client() as client:
        assert ask(client).type == "message"
    refused = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--workers", "2", "--chaos", "1"], cwd=ROOT, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "--chaos judges clients from one process" in refused.stderr
    refused = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--workers", "2", "--data-dir", "/tmp/x"], cwd=ROOT, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "--data-dir keeps one process's batches" in refused.stderr


async def test_a_worker_killed_mid_stream_leaves_the_others_serving(servers: list[Served], state: str) -> None:
    served = start("--workers", "2", "--state", state)
    servers.append(served)
    pids = served.worker_pids(2)
    served.admin("POST", "/rules", {"name": "slow-streams", "match": {"stream": True}, "fault": {"tokens_per_second": 8}})
    clients = [served.async_client() for _ in range(16)]
    under_way: list[None] = []
    all_under_way = asyncio.Event()

    async def stream(client: anthropic.AsyncAnthropic) -> str:
        async with client.messages.stream(model=HAIKU, max_tokens=48, messages=[{"role": "user", "content": "tell me a story"}]) as events:
            async for event in events:
                if event.type == "message_start":
                    under_way.append(None)
                    if len(under_way) == len(clients):
                        all_under_way.set()
            return (await events.get_final_message()).content[0].text

    try:
        streams = [asyncio.ensure_future(stream(c)) for c in clients]
        await asyncio.wait_for(all_under_way.wait(), 60)  # every stream has begun (each takes about 6 s)
        victim = max(pids)
        os.kill(victim, signal.SIGKILL)
        done = await asyncio.gather(*streams, return_exceptions=True)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    finished = [r for r in done if isinstance(r, str)]
    broken = [r for r in done if isinstance(r, BaseException)]
    assert finished and broken, done  # the killed worker's streams broke; the other's finished
    assert all(isinstance(e, (anthropic.APIError, Exception)) for e in broken)
    with served.client() as client:  # new connections: all answered, by the survivor or the restarted worker
        assert all(ask(client, f"after {i}").type == "message" for i in range(10))
    deadline = time.monotonic() + 30
    while True:  # the master starts the killed worker again
        seen = {served.admin("GET", "/")["worker"]["pid"] for _ in range(40)}
        if len(seen) == 2 and victim not in seen:
            break
        assert time.monotonic() < deadline, f"the killed worker was not replaced: {seen}"
        time.sleep(0.2)
    assert any("worker 1 is back" in line or "worker 0 is back" in line for line in served.lines)


# -- replicas: servers on different ports sharing one Redis ------------------------------------------
def test_two_servers_sharing_redis_behave_as_one_api(servers: list[Served], state: str) -> None:
    a, b = start_two("--state", state)
    servers += [a, b]
    a.admin("POST", "/rules", {"name": "shared", "match": {"text": "hello"}, "reply": "one API"})
    with a.client() as via_a, b.client() as via_b:
        assert ask(via_b, "hello").content[0].text == "one API"  # added on a, in force on b at once
        assert ask(via_a, "hello").content[0].text == "one API"
        assert [r["hits"] for r in b.admin("GET", "/rules")["data"]] == [2]
        b.admin("PUT", "/ratelimits", {"requests_per_minute": 3})
        ask(via_a, "x"), ask(via_b, "x"), ask(via_a, "x")  # the limits set on b are a's too, with the same buckets
        with pytest.raises(anthropic.RateLimitError):
            ask(via_b, "x")
        a.admin("DELETE", "/ratelimits")
        system = [{"type": "text", "text": "Shared prompt cache. " * 1200, "cache_control": {"type": "ephemeral"}}]
        written = via_a.messages.create(model=HAIKU, max_tokens=10, system=system, messages=[{"role": "user", "content": "q"}]).usage
        read = via_b.messages.create(model=HAIKU, max_tokens=10, system=system, messages=[{"role": "user", "content": "q"}]).usage
        assert written.cache_creation_input_tokens > 4096 and read.cache_read_input_tokens == written.cache_creation_input_tokens
    journal = a.admin("GET", "/journal")["data"]
    assert journal == b.admin("GET", "/journal")["data"] and len(journal) == 8  # one journal, one order
    assert [e["origin"] for e in journal[:2]] == ["shared", "shared"] and journal[5]["status"] == 429
    assert [e["seq"] for e in journal] == sorted({e["seq"] for e in journal}) and journal[0]["seq"] > 0
    b.admin("POST", "/reset")
    assert a.admin("GET", "/rules")["data"] == [] and a.admin("GET", "/journal")["data"] == []


def test_a_global_rpm_limit_across_servers(servers: list[Served], state: str) -> None:
    a, b = start_two("--state", state, "--rate-limit-rpm", "6")
    servers += [a, b]
    remaining = []
    with a.client() as via_a, b.client() as via_b:
        for i in range(6):
            client = (via_a, via_b)[i % 2]
            raw = client.messages.with_raw_response.create(model=HAIKU, max_tokens=5, messages=[{"role": "user", "content": "hi"}])
            remaining.append(int(raw.headers["anthropic-ratelimit-requests-remaining"]))
        for client in (via_a, via_b):
            with pytest.raises(anthropic.RateLimitError) as refused:
                ask(client)
            assert int(refused.value.response.headers["retry-after"]) >= 1
    assert remaining == [5, 4, 3, 2, 1, 0]


async def test_a_batch_created_on_one_server_is_read_on_another(servers: list[Served], state: str) -> None:
    a, b = start_two("--state", state)
    servers += [a, b]
    via_a, via_b = a.async_client(), b.async_client()
    try:
        batch = await via_a.messages.batches.create(requests=[item(f"r{i}", f"question {i}") for i in range(30)])
        assert (await via_b.messages.batches.retrieve(batch.id)).id == batch.id
        deadline = time.monotonic() + 30
        while (found := await via_b.messages.batches.retrieve(batch.id)).processing_status != "ended":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert found.request_counts.succeeded == 30 and found.results_url is not None
        results = [line async for line in await via_b.messages.batches.results(batch.id)]
        assert sorted(r.custom_id for r in results) == sorted(f"r{i}" for i in range(30))
        assert [x.id async for x in via_b.messages.batches.list()] == [batch.id]
        await via_b.messages.batches.delete(batch.id)
        with pytest.raises(anthropic.NotFoundError):
            await via_a.messages.batches.retrieve(batch.id)
    finally:
        await via_a.close()
        await via_b.close()


def test_a_file_uploaded_on_one_server_is_used_and_deleted_on_another(servers: list[Served], state: str) -> None:
    """Files live in Redis too: listed, counted in a Messages request (from the facts its bytes
    told at upload) and deleted through another server; namespaces keep their own files."""
    a, b = start_two("--state", state)
    servers += [a, b]
    text = b"Quarterly revenue grew by twelve percent. " * 200
    with a.client() as via_a, b.client() as via_b, b.client(default_headers={"x-mock-namespace": "other"}) as other:
        uploaded = via_a.beta.files.upload(file=("notes.txt", text, "text/plain"))
        assert [f.id for f in via_b.beta.files.list()] == [uploaded.id]
        assert via_b.beta.files.retrieve_metadata(uploaded.id).size_bytes == len(text)
        document = {"type": "document", "source": {"type": "file", "file_id": uploaded.id}}
        counted = via_b.beta.messages.count_tokens(
            model=HAIKU, messages=[{"role": "user", "content": [document, {"type": "text", "text": "Sum up."}]}],
            betas=["files-api-2025-04-14"],
        )
        assert counted.input_tokens > 1000  # the file's text, counted on the server that never saw it
        assert list(other.beta.files.list()) == []
        with pytest.raises(anthropic.NotFoundError):
            other.beta.files.retrieve_metadata(uploaded.id)
        via_b.beta.files.delete(uploaded.id)
        with pytest.raises(anthropic.NotFoundError):
            via_a.beta.files.retrieve_metadata(uploaded.id)


def test_a_batch_outlives_the_server_working_on_it(servers: list[Served], state: str) -> None:
    """One processor works a batch off (its lease); killed, another takes over once the lease
    runs out; what was recorded stays, and every item ends up answered once."""
    a, b = start_two("--state", state, "--batch-pace", "10", "--batch-lease", "1")
    servers += [a, b]
    with a.client() as via_a, b.client() as via_b:
        batch = via_a.messages.batches.create(requests=[item(f"r{i}") for i in range(40)])  # about 4 s of work
        time.sleep(1.0)
        a.proc.kill()
        a.proc.wait()
        deadline = time.monotonic() + 60
        while (found := via_b.messages.batches.retrieve(batch.id)).processing_status != "ended":
            assert time.monotonic() < deadline, found.request_counts
            time.sleep(0.1)
        assert found.request_counts.succeeded == 40
        results = list(via_b.messages.batches.results(batch.id))
        assert sorted(r.custom_id for r in results) == sorted(f"r{i}" for i in range(40))


# -- Redis going away -------------------------------------------------------------------------------
@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.remove()


async def test_redis_restarted_is_a_clear_error_then_recovery(servers: list[Served], own_redis: RedisServer) -> None:
    served = start("--state", own_redis.url(0), "--rate-limit-rpm", "100")
    servers.append(served)
    with served.client() as client:
        assert ask(client).type == "message"
        own_redis.stop()
        with pytest.raises(anthropic.InternalServerError) as down:
            ask(client)
        error = down.value
        assert error.status_code == 503 and error.body["error"]["type"] == "api_error"  # type: ignore[index]
        assert f"mockserver's state store (redis://127.0.0.1:{own_redis.port}/0) is unavailable" in error.message
        async_client = served.async_client()
        try:
            with pytest.raises(anthropic.InternalServerError, match="state store"):
                await ask_async(async_client)
        finally:
            await async_client.close()
        own_redis.start()
        assert ask(client).type == "message"  # back, with no restart of mockserver
        served.admin("POST", "/rules", {"reply": "after the restart"})
        assert ask(client).content[0].text == "after the restart"
    assert any("is unavailable" in line for line in served.lines) and any("reachable again" in line for line in served.lines)


def test_fail_open_serves_without_limits_while_redis_is_away(servers: list[Served], own_redis: RedisServer) -> None:
    served = start("--state", own_redis.url(0), "--rate-limit-rpm", "1", "--fail-open")
    servers.append(served)
    with served.client() as client:
        ask(client)
        with pytest.raises(anthropic.RateLimitError):
            ask(client)
        own_redis.stop()
        assert [ask(client).type for _ in range(3)] == ["message"] * 3  # open: no limits, no 503
        own_redis.start()
        ask(client)  # the restarted Redis lost the buckets: one call, then limited again
        with pytest.raises(anthropic.RateLimitError):
            ask(client)


def test_state_mistakes_stop_the_start_with_one_line() -> None:
    bad = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--state", "http://nope"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "is not a redis:// " in bad.stderr
    port = free_port()
    gone = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--state", f"redis://127.0.0.1:{port}/0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert gone.returncode == 1 and f"cannot use --state: mockserver's state store (redis://127.0.0.1:{port}/0) is unavailable" in gone.stderr

"""Namespaces (``x-mock-namespace``): parallel test runs share one server without seeing each
other's rules, sequences, journal, rate limits, prompt cache or batches; reset is per namespace.
Every test runs against the one-process store and against Redis (the ``store`` fixture)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable, Iterator

import anthropic
import httpx2
import pytest

from mockserver.harness.testing import MockServer
from tests.batch_support import item, wait_ended
from tests.conftest import HAIKU
from tests.redis_support import RedisServer

LONG = "The archive holds letters, maps and ledgers from three centuries of trade. " * 400


def ask(client: anthropic.Anthropic, text: str = "hi", **params: Any) -> Any:
    return client.messages.create(model=HAIKU, max_tokens=20, messages=[{"role": "user", "content": text}], **params)


def text_of(message: Any) -> str:
    return message.content[0].text


@pytest.fixture(params=["local", "redis"])
def state(request: pytest.FixtureRequest) -> str | None:
    """No shared state, or a Redis that this test has to itself."""
    if request.param == "local":
        return None
    redis: RedisServer = request.getfixturevalue("redis_server")
    return redis.fresh_url()


@pytest.fixture
def server(make_server: Callable[..., MockServer], state: str | None) -> MockServer:
    return make_server(state=state)


@pytest.fixture
def a(server: MockServer) -> MockServer:
    return server.namespaced("team-a")


@pytest.fixture
def b(server: MockServer) -> MockServer:
    return server.namespaced("team-b")


@pytest.fixture
def admin(server: MockServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_rules_apply_only_in_their_namespace(a: MockServer, b: MockServer, server: MockServer) -> None:
    a.reply("from a", name="greeting")
    with a.client() as in_a, b.client() as in_b, server.client() as plain:
        assert text_of(ask(in_a)) == "from a"
        assert text_of(ask(in_b)) != "from a"
        assert text_of(ask(plain)) != "from a"  # no header: the default namespace
    assert [r.name for r in a.rules] == ["greeting"] and b.rules == [] and server.rules == []
    assert a.rules[0].hits == 1


def test_sequences_and_times_count_per_namespace(a: MockServer, b: MockServer) -> None:
    for handle in (a, b):
        handle.sequence([529, "second"], name="flaky")
        handle.reply("once", times=1, match={"text": "once"}, name="single")
    with a.client(max_retries=0) as in_a, b.client(max_retries=0) as in_b:
        with pytest.raises(anthropic.OverloadedError):
            ask(in_a)
        assert text_of(ask(in_a)) == "second"
        with pytest.raises(anthropic.OverloadedError):  # b's sequence has not moved
            ask(in_b)
        assert text_of(ask(in_a, "once")) == "once"
        assert text_of(ask(in_b, "once")) == "once"
        assert text_of(ask(in_a, "once")) == "second"  # a's `once` is used up; b's was its own


async def test_async_clients_and_journals_per_namespace(a: MockServer, b: MockServer) -> None:
    in_a, in_b = a.async_client(), b.async_client()
    try:
        await asyncio.gather(*(in_a.messages.create(model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": f"a{i}"}]) for i in range(3)))
        await in_b.messages.count_tokens(model=HAIKU, messages=[{"role": "user", "content": "b"}])
    finally:
        await in_a.close()
        await in_b.close()
    assert len(a.journal.assert_called(3)) == 3 and a.journal.calls("messages.count_tokens") == []
    assert [e.endpoint for e in b.journal] == ["messages.count_tokens"]
    assert {e.header("x-mock-namespace") for e in a.journal} == {"team-a"}


def test_file_rules_belong_to_every_namespace_counted_separately(make_server: Callable[..., MockServer], state: str | None, tmp_path: Path) -> None:
    scenario = tmp_path / "once.yaml"
    scenario.write_text("rules:\n  - {name: first-call, times: 1, reply: from the file}\n")
    server = make_server(state=state, scenario_files=(scenario,))
    for namespace in ("one", "two"):
        with server.namespaced(namespace).client() as client:
            assert text_of(ask(client)) == "from the file"
            assert text_of(ask(client)) != "from the file"
    assert [r.hits for r in server.namespaced("one").rules] == [1]


def test_admin_api_acts_in_the_namespace_given(admin: httpx2.Client, a: MockServer, b: MockServer) -> None:
    created = admin.post("/_mock/rules", json={"name": "r", "reply": "scoped"}, headers={"x-mock-namespace": "team-a"})
    assert created.status_code == 201
    assert [r["name"] for r in admin.get("/_mock/rules", params={"namespace": "team-a"}).json()["data"]] == ["r"]
    assert admin.get("/_mock/rules", headers={"x-mock-namespace": "team-b"}).json()["data"] == []
    with a.client() as in_a, b.client() as in_b:
        assert text_of(ask(in_a)) == "scoped" and text_of(ask(in_b)) != "scoped"
    journal = admin.get("/_mock/journal", headers={"x-mock-namespace": "team-a"}).json()["data"]
    assert [e["origin"] for e in journal] == ["r"]
    bad = admin.get("/_mock/rules", headers={"x-mock-namespace": "no:colons"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"


def test_an_invalid_namespace_is_a_400(server: MockServer) -> None:
    with server.client(max_retries=0, default_headers={"x-mock-namespace": "a b"}) as client:
        with pytest.raises(anthropic.BadRequestError, match="x-mock-namespace: a namespace is 1 to 64"):
            ask(client)


def test_reset_is_per_namespace(admin: httpx2.Client, a: MockServer, b: MockServer) -> None:
    for handle in (a, b):
        handle.reply("scripted")
        with handle.client() as client:
            ask(client)
    assert admin.post("/_mock/reset", headers={"x-mock-namespace": "team-a"}).json() == {"reset": True}
    assert a.rules == [] and len(a.journal) == 0
    assert len(b.rules) == 1 and len(b.journal) == 1
    b.reset()
    assert b.rules == [] and len(b.journal) == 0


def test_rate_limits_per_namespace(make_server: Callable[..., MockServer], state: str | None) -> None:
    from mockserver.ratelimit.limiter import Limits, RateLimitConfig

    server = make_server(state=state, rate_limits=RateLimitConfig(Limits(requests=2)))
    a, b, c = server.namespaced("a"), server.namespaced("b"), server.namespaced("c")
    c.set_rate_limits(requests_per_minute=1)
    b.set_rate_limits(None)  # off in b
    with a.client(max_retries=0) as in_a, b.client(max_retries=0) as in_b, c.client(max_retries=0) as in_c:
        ask(in_a), ask(in_a)
        with pytest.raises(anthropic.RateLimitError):
            ask(in_a)  # the server's 2 RPM, in a's own buckets
        for _ in range(5):
            ask(in_b)
        ask(in_c)
        with pytest.raises(anthropic.RateLimitError):
            ask(in_c)
        assert ask(in_a.with_options(default_headers={"x-mock-namespace": "d"})).type == "message"  # d: fresh buckets
    a.reset()
    with a.client(max_retries=0) as in_a:
        ask(in_a)  # buckets full again


def test_prompt_cache_per_namespace(a: MockServer, b: MockServer) -> None:
    system = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    with a.client() as in_a, b.client() as in_b:
        written = ask(in_a, system=system).usage.cache_creation_input_tokens
        assert written > 4096 and ask(in_a, system=system).usage.cache_read_input_tokens == written
        fresh = ask(in_b, system=system).usage
        assert fresh.cache_read_input_tokens == 0 and fresh.cache_creation_input_tokens == written


def test_batches_per_namespace(a: MockServer, b: MockServer) -> None:
    with a.client(max_retries=0) as in_a, b.client(max_retries=0) as in_b:
        batch = in_a.messages.batches.create(requests=[item("x"), item("y")])
        assert wait_ended(in_a, batch.id).request_counts.succeeded == 2
        with pytest.raises(anthropic.NotFoundError):
            in_b.messages.batches.retrieve(batch.id)
        assert [x.id for x in in_a.messages.batches.list()] == [batch.id]
        assert list(in_b.messages.batches.list()) == []
        b.reset()
        assert {r.custom_id for r in in_a.messages.batches.results(batch.id)} == {"x", "y"}
        a.reset()
        with pytest.raises(anthropic.NotFoundError):
            in_a.messages.batches.retrieve(batch.id)


def test_batch_items_are_answered_by_their_namespace_rules(a: MockServer, b: MockServer) -> None:
    a.reply("batch answer from a")
    with a.client() as in_a:
        batch = in_a.messages.batches.create(requests=[item("only")])
        wait_ended(in_a, batch.id)
        (line,) = list(in_a.messages.batches.results(batch.id))
    assert line.result.type == "succeeded" and line.result.message.content[0].text == "batch answer from a"

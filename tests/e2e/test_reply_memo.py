"""The reply memo (mockserver/emulation/replies.py) answers a repeated call without parsing it
again: the wire, the ids and the journal must be exactly what the long way gives, and anything
that can change an answer (rules, limits, a cassette, a stage, prompt caching, tool ids, other
headers, another namespace) must take the long way."""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any, Iterator

import anthropic
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.clock import ManualClock
from mockserver.config import Config
from mockserver.http.runner import ServerThread
from mockserver.pipeline.exchange import ApiRequest, Next, Reply
from mockserver.pipeline.parse import Parser
from mockserver.store.sqlite import MEMORY
from tests.fuzz.wire import API_HEADERS, exchange, request

MESSAGE = {"model": "claude-haiku-4-5", "max_tokens": 40, "messages": [{"role": "user", "content": "Hello"}]}
COUNT = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "Hello"}]}
TOOL = {**MESSAGE, "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any"}}
# about 2,400 tokens: past Sonnet 4.5's cacheable minimum, within the bodies the memo looks up
CACHED = {**MESSAGE, "model": "claude-sonnet-4-5",
          "system": [{"type": "text", "text": "Answer tersely and cite. " * 400, "cache_control": {"type": "ephemeral"}}]}


THINKING = {**MESSAGE, "max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024}}
BETA = [*API_HEADERS, ("anthropic-beta", "files-api-2025-04-14")]
POOL = [
    request("POST", "/v1/messages", headers=API_HEADERS, body=json.dumps(MESSAGE).encode()),
    request("POST", "/v1/messages", headers=API_HEADERS, body=json.dumps({**MESSAGE, "stream": True}).encode()),
    request("POST", "/v1/messages", headers=API_HEADERS, body=json.dumps(THINKING).encode()),
    request("POST", "/v1/messages", headers=API_HEADERS, body=json.dumps(TOOL).encode()),
    request("POST", "/v1/messages", headers=API_HEADERS, body=json.dumps({**MESSAGE, "max_tokens": 0}).encode()),  # 400
    request("POST", "/v1/messages", headers=API_HEADERS, body=b'{"model": "claude-haiku-4-5", '),  # not JSON
    request("POST", "/v1/messages", headers=API_HEADERS[1:], body=json.dumps(MESSAGE).encode()),  # no key: 401
    request("POST", "/v1/messages", headers=[API_HEADERS[0], ("anthropic-version", "1999-01-01"), API_HEADERS[2]],
            body=json.dumps(MESSAGE).encode()),
    request("POST", "/v1/messages?beta=true", headers=BETA, body=json.dumps(MESSAGE).encode()),
    request("POST", "/v1/messages", headers=[*API_HEADERS, ("x-mock-namespace", "other")], body=json.dumps(MESSAGE).encode()),
    request("POST", "/v1/messages", headers=[*API_HEADERS, ("content-encoding", "gzip")], body=gzip.compress(json.dumps(MESSAGE).encode())),
    request("POST", "/v1/messages/count_tokens", headers=API_HEADERS, body=json.dumps(COUNT).encode()),
    request("POST", "/v1/messages/count_tokens", headers=API_HEADERS, body=json.dumps({**COUNT, "model": "claude-nope"}).encode()),
    request("GET", "/v1/models/claude-haiku-4-5", headers=API_HEADERS),
]


async def passing(request: ApiRequest, next: Next) -> Reply:
    """A stage that changes nothing: with it linked, every call takes the long way."""
    return await next(request)


def _serve() -> ServerThread:
    return ServerThread(Config(port=0, seed=11, log_requests=False, data_dir=MEMORY, clock=ManualClock())).start()


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The path of every call the parser sees (the ones the memo did not answer)."""
    seen: list[str] = []
    parse = Parser.parse

    async def counting(self: Parser, incoming: Any, request_id: str, received_at: float) -> ApiRequest:
        seen.append(incoming.path)
        return await parse(self, incoming, request_id, received_at)

    monkeypatch.setattr(Parser, "parse", counting)
    yield seen


RULES = [  # rules that accept some of POOL's calls and count them, and one that accepts none
    {"name": "every-third-thought", "match": {"body": {"thinking.type": "enabled"}, "nth": [3, 6, 9]}, "error": 529},
    {"name": "count-twice", "match": {"endpoint": "messages.count_tokens"}, "times": 2, "json": {"body": {"input_tokens": 1}}},
    {"name": "beta-slowly", "match": {"beta": True}, "sequence": [{"passthrough": True}, {"error": 500}], "then": "cycle"},
    {"name": "never", "match": {"model": "claude-opus-*"}, "error": 500},
]


def _twins(rules: list[dict[str, Any]] | None = None) -> Iterator[tuple[ServerThread, ServerThread]]:
    """Two servers with one seed and clock: ``memo`` as it comes, ``plain`` with a stage linked;
    both with ``rules`` added."""
    memo, plain = _serve(), _serve()
    plain.api.use(passing)
    for server in (memo, plain):
        for rule in rules or ():
            assert httpx.post(f"{server.url}/_mock/rules", json=rule).status_code == 201
    try:
        yield memo, plain
    finally:
        memo.stop()
        plain.stop()


@pytest.fixture
def servers() -> Iterator[tuple[ServerThread, ServerThread]]:
    yield from _twins()


def _call(path: str, body: dict[str, Any], headers: list[tuple[str, str]] = API_HEADERS) -> bytes:
    return request("POST", path, headers=headers, body=json.dumps(body).encode())


def _alike(memo: ServerThread, plain: ServerThread, raw: bytes) -> int | None:
    """Send ``raw`` to both servers: the same status, headers in order (but ``date``) and body."""
    a, b = exchange(memo.url, raw), exchange(plain.url, raw)
    assert a.status == b.status
    assert [(k, v) for k, v in a.headers.items() if k != "date"] == [(k, v) for k, v in b.headers.items() if k != "date"]
    assert a.body == b.body
    return a.status


def _journal(server: ServerThread) -> list[dict[str, Any]]:
    entries = httpx.get(f"{server.url}/_mock/journal").json()["data"]
    for entry in entries:
        entry.pop("duration_ms")
    return entries


def test_repeated_calls_answer_byte_for_byte_as_the_long_way(servers: tuple[ServerThread, ServerThread], parses: list[str]) -> None:
    """Same seed: the same status, headers in order, ids and bodies, call after call; the memo
    answered from the third sighting on, and the journals agree entry for entry."""
    memo, plain = servers
    calls = [_call("/v1/messages", MESSAGE)] * 5 + [_call("/v1/messages/count_tokens", COUNT)] * 4
    for raw in calls:
        assert _alike(memo, plain, raw) == 200
    answers = [exchange(memo.url, _call("/v1/messages", MESSAGE)).json for _ in range(3)]
    assert len({answer["id"] for answer in answers}) == 3  # each answer its own Message id
    assert len(parses) == 9 + 2 + 2  # the plain server parsed every call, the memo's the first two of each
    assert _journal(memo)[:9] == _journal(plain)[:9]


@pytest.mark.parametrize("rules", [[], [{"name": "elsewhere", "match": {"text": "weather"}, "error": 529}]], ids=["no rules", "a rule"])
def test_through_the_sdk_sync_and_async(rules: list[dict[str, Any]], parses: list[str]) -> None:
    """The SDK's calls repeat byte for byte too: each answer still has its own id (with a rule
    loaded that accepts none of them, too)."""
    server = _serve()
    try:
        for rule in rules:
            assert httpx.post(f"{server.url}/_mock/rules", json=rule).status_code == 201
        client = anthropic.Anthropic(base_url=server.url, api_key="sk-test", max_retries=0)
        ids = {client.messages.create(**MESSAGE).id for _ in range(4)}  # type: ignore[call-overload]
        assert len(ids) == 4
        assert {client.messages.count_tokens(**COUNT).input_tokens for _ in range(4)} == {8}  # type: ignore[arg-type]

        async def both() -> set[str]:
            async with anthropic.AsyncAnthropic(base_url=server.url, api_key="sk-test", max_retries=0) as aclient:
                return {(await aclient.messages.create(**MESSAGE)).id for _ in range(4)}  # type: ignore[call-overload]

        assert len(asyncio.run(both()) | ids) == 8
        assert len(parses) == 2 * 3  # the first two of each: create, count_tokens, the async client's create
    finally:
        server.stop()


def test_a_rule_added_at_run_time_answers_at_once(parses: list[str]) -> None:
    server = _serve()
    try:
        raw = _call("/v1/messages", MESSAGE)
        for _ in range(3):
            assert exchange(server.url, raw).status == 200
        rule = {"name": "busy", "match": {"text": "Hello"}, "error": 529}
        assert httpx.post(f"{server.url}/_mock/rules", json=rule).status_code == 201
        assert exchange(server.url, raw).status == 529
        httpx.delete(f"{server.url}/_mock/rules")
        assert exchange(server.url, raw).status == 200
    finally:
        server.stop()


def test_with_rules_loaded_a_call_no_rule_accepts_is_answered_from_the_memo(parses: list[str]) -> None:
    """Rules that match other calls leave this one to the emulated API, and would again: the
    memo answers it; a change to the rules makes it take the long way once more."""
    server = _serve()
    try:
        httpx.post(f"{server.url}/_mock/rules", json={"name": "elsewhere", "match": {"text": "weather"}, "error": 529})
        raw = _call("/v1/messages", MESSAGE)
        assert [exchange(server.url, raw).status for _ in range(4)] == [200] * 4
        assert len(parses) == 2
        httpx.post(f"{server.url}/_mock/rules", json={"name": "also-elsewhere", "match": {"model": "claude-opus-*"}, "error": 500})
        assert [exchange(server.url, raw).status for _ in range(3)] == [200] * 3
        assert len(parses) == 2 + 2
    finally:
        server.stop()


@pytest.mark.parametrize("rule", [
    {"name": "fourth", "match": {"text": "Hello", "nth": 4}, "error": 529},
    {"name": "after-three", "match": {"text": "Hello"}, "sequence": [{"passthrough": True}] * 3 + [{"error": 529}], "then": "cycle"},
], ids=["nth", "sequence"])
def test_a_call_a_rule_accepts_is_counted_every_time(rule: dict[str, Any], parses: list[str]) -> None:
    """A rule that accepts a call and passes it on counts it (its n-th match, its sequence step),
    so the answers it passed on are never kept: the fourth call gets the rule's error."""
    server = _serve()
    try:
        assert httpx.post(f"{server.url}/_mock/rules", json=rule).status_code == 201
        raw = _call("/v1/messages", MESSAGE)
        assert [exchange(server.url, raw).status for _ in range(5)] == [200, 200, 200, 529, 200]
        assert len(parses) == 5
    finally:
        server.stop()


def test_rate_limits_set_at_run_time_are_counted_and_reported() -> None:
    server = _serve()
    try:
        raw = _call("/v1/messages", MESSAGE)
        for _ in range(3):
            exchange(server.url, raw)
        assert httpx.put(f"{server.url}/_mock/ratelimits", json={"requests_per_minute": 2}).status_code == 200
        answers = [exchange(server.url, raw) for _ in range(3)]
        assert [a.status for a in answers] == [200, 200, 429]
        assert answers[0].headers["anthropic-ratelimit-requests-limit"] == "2"
    finally:
        server.stop()


@pytest.mark.parametrize("body", [TOOL, CACHED], ids=["tool ids", "prompt caching"])
def test_answers_made_per_call_are_never_kept(body: dict[str, Any], parses: list[str]) -> None:
    server = _serve()
    try:
        answers = [exchange(server.url, _call("/v1/messages", body)).json for _ in range(4)]
        assert len(parses) == 4
        if body is TOOL:
            tool_ids = [block["id"] for answer in answers for block in answer["content"] if block["type"] == "tool_use"]
            assert len(set(tool_ids)) == len(tool_ids) == 4
        else:  # the first call writes the cache, the next ones read it
            usage = [answer["usage"] for answer in answers]
            assert usage[0]["cache_creation_input_tokens"] > 0 and usage[0]["cache_read_input_tokens"] == 0
            assert all(u["cache_read_input_tokens"] == usage[0]["cache_creation_input_tokens"] for u in usage[1:])
    finally:
        server.stop()


def test_other_headers_and_namespaces_are_other_calls(parses: list[str]) -> None:
    """The key is every header as sent: a missing key is still a 401 after the same call was
    kept, and each namespace's journal holds its own calls."""
    server = _serve()
    try:
        for _ in range(3):
            exchange(server.url, _call("/v1/messages", MESSAGE))
        assert exchange(server.url, _call("/v1/messages", MESSAGE, API_HEADERS[1:])).status == 401
        for _ in range(3):
            assert exchange(server.url, _call("/v1/messages", MESSAGE, [*API_HEADERS, ("x-mock-namespace", "other")])).status == 200
        server.api.default_namespace = "elsewhere"
        for _ in range(3):
            assert exchange(server.url, _call("/v1/messages", MESSAGE)).status == 200
        journal = httpx.get(f"{server.url}/_mock/journal", params={"namespace": "other"}).json()["data"]
        assert len(journal) == 3
        assert len(httpx.get(f"{server.url}/_mock/journal", params={"namespace": "elsewhere"}).json()["data"]) == 3
        assert len(parses) == 2 + 1 + 2 + 2
    finally:
        server.stop()


@pytest.fixture(scope="module", params=[None, RULES], ids=["no rules", "rules"])
def twins(request: pytest.FixtureRequest) -> Iterator[tuple[ServerThread, ServerThread]]:
    yield from _twins(request.param)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(st.sampled_from(POOL), min_size=1, max_size=12))
def test_any_sequence_of_calls_answers_alike(twins: tuple[ServerThread, ServerThread], calls: list[bytes]) -> None:
    """Calls that repeat, fail, stream, draw tool ids or change namespace, in any order, with no
    rules or with rules that count some of them: the server with the memo and the one without
    send the same bytes (the two see the same calls, so their seeded ids stay in step)."""
    memo, plain = twins
    for raw in calls:
        _alike(memo, plain, raw)

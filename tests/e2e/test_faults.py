"""Faults through the official SDK over a real socket: each one, on each kind of reply, and what
the SDK (2.12) raises for it. Timing assertions are lower bounds only (a delay happened)."""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
import httpx2
import pytest

from mockserver.pipeline.exchange import ApiRequest, BytesReply, Reply
from mockserver.faults.spec import Faults
from mockserver.scenarios import error, reply
from mockserver.harness.testing import MockServer
from tests.conftest import HAIKU


def ask(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return dict(model=HAIKU, max_tokens=300, messages=[{"role": "user", "content": text}], **extra)


def events_of(client: anthropic.Anthropic, text: str = "hello") -> tuple[list[str], BaseException | None]:
    """The event types the raw stream yields, and what (if anything) it raised."""
    seen: list[str] = []
    try:
        for event in client.messages.create(**ask(text, stream=True)):
            seen.append(event.type)
    except BaseException as exc:  # noqa: BLE001 - the test inspects it
        return seen, exc
    return seen, None


# -- timing ------------------------------------------------------------------------------------
def test_latency_before_headers(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.fault(latency=0.3)
    started = time.monotonic()
    anthropic_client.messages.create(**ask())
    assert time.monotonic() - started >= 0.3
    assert mockserver.journal.last_request().faults == ["latency=0.3s"]


def test_latency_applies_to_scripted_errors_too(mockserver: MockServer) -> None:
    mockserver.error(529, faults={"latency": 0.2})
    started = time.monotonic()
    with mockserver.client(max_retries=0) as client, pytest.raises(anthropic.OverloadedError):
        client.messages.create(**ask())
    assert time.monotonic() - started >= 0.2


def test_time_to_first_token_and_token_pacing_on_a_stream(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.fault(ttft=0.2, tokens_per_second=100)
    started = time.monotonic()
    arrivals: list[float] = []
    with anthropic_client.messages.stream(**ask()) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                arrivals.append(time.monotonic() - started)
        final = stream.get_final_message()
    tokens = final.usage.output_tokens
    assert arrivals[0] >= 0.2  # the first token waited for ttft
    assert arrivals[-1] >= 0.2 + (tokens - 1) / 100 * 0.9  # and the rest came at about 100/s


async def test_pacing_on_a_non_streamed_reply_async(mockserver: MockServer) -> None:
    mockserver.fault(ttft=0.1, tokens_per_second=200)
    client = mockserver.async_client()
    try:
        started = time.monotonic()
        message = await client.messages.create(**ask())
        elapsed = time.monotonic() - started
    finally:
        await client.close()
    assert elapsed >= 0.1 + message.usage.output_tokens / 200 * 0.9  # the whole answer, once written


# -- connection faults ---------------------------------------------------------------------------
def test_reset_before_headers_is_a_connection_error(mockserver: MockServer) -> None:
    mockserver.fault(reset=True)
    with mockserver.client(max_retries=0) as client, pytest.raises(anthropic.APIConnectionError) as caught:
        client.messages.create(**ask())
    assert not isinstance(caught.value, anthropic.APITimeoutError)
    entry = mockserver.journal.last_request()
    assert entry.status == 0 and "connection reset before headers" in entry.faults and entry.response_bytes == b""


def test_a_reset_is_retried_like_real_clients_do(mockserver: MockServer) -> None:
    mockserver.fault(reset=True, times=1)
    with mockserver.client(max_retries=2) as client:
        message = client.messages.create(**ask())
    assert message.stop_reason == "end_turn"
    assert mockserver.journal.header_values("x-stainless-retry-count") == ["0", "1"]
    assert [e.status for e in mockserver.journal.calls()] == [0, 200]


def test_dropped_stream_surfaces_as_a_transport_error_inside_the_iteration(mockserver: MockServer) -> None:
    mockserver.fault(drop={"after_events": 4})
    with mockserver.client(max_retries=2) as client:
        seen, raised = events_of(client)
    # SDK 2.12 does not wrap errors raised while iterating a stream: httpx2's own error reaches
    # the caller (not anthropic.APIConnectionError, which only covers the initial request).
    assert isinstance(raised, httpx2.RemoteProtocolError)
    # 4 events went out; the SDK skips the ping among them, unless it came 5th (after two deltas)
    assert seen in (["message_start", "content_block_start", "content_block_delta"],
                    ["message_start", "content_block_start", "content_block_delta", "content_block_delta"])
    entry = mockserver.journal.wait_for_calls(1)[0]
    assert len(entry.events) == 4 and "dropped after 4 events" in entry.faults
    mockserver.journal.assert_called(1)  # never retried once the stream began


async def test_dropped_stream_async(mockserver: MockServer) -> None:
    mockserver.fault(drop=2)
    client = mockserver.async_client()
    try:
        with pytest.raises(httpx2.RemoteProtocolError):
            async with client.messages.stream(**ask()) as stream:
                async for _ in stream:
                    pass
    finally:
        await client.close()


def test_drop_after_bytes_on_a_json_body_is_a_connection_error(mockserver: MockServer) -> None:
    mockserver.fault(drop={"after_bytes": 40})
    with mockserver.client(max_retries=0) as client, pytest.raises(anthropic.APIConnectionError) as caught:
        client.messages.create(**ask())
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert len(mockserver.journal.last_request().response_bytes) == 40


def test_slow_body_trips_the_client_timeout(mockserver: MockServer) -> None:
    mockserver.fault(slow_body={"chunk_bytes": 16, "interval": 1.0})
    started = time.monotonic()
    with mockserver.client(max_retries=0, timeout=0.3) as client, pytest.raises(anthropic.APITimeoutError):
        client.messages.create(**ask())
    assert time.monotonic() - started >= 0.3


def test_a_long_pause_ends_when_the_client_leaves(mockserver: MockServer) -> None:
    """A minute of latency, a client that gives up after 0.3 s: the server learns of the hang-up
    at once (the pause waits on the connection), journals it and is free again."""
    mockserver.fault(latency=60)
    with mockserver.client(max_retries=0, timeout=0.3) as client, pytest.raises(anthropic.APITimeoutError):
        client.messages.create(**ask())
    for _ in range(200):  # until the journal has it (journaled once the pause ends), at most ~10 s of the minute
        left = [entry for entry in mockserver.journal.calls() if "client disconnected" in entry.faults]
        if left:
            break
        time.sleep(0.05)
    assert left and left[-1].status == 0, list(mockserver.journal)


def test_slow_body_within_the_timeout_arrives_whole(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.reply("slow but complete", faults={"slow_body": {"chunk_bytes": 256, "interval": 0.05}})
    started = time.monotonic()
    assert anthropic_client.messages.create(**ask()).content[0].text == "slow but complete"
    assert time.monotonic() - started >= 0.05


# -- stream content faults -------------------------------------------------------------------------
def test_mid_stream_error_raises_api_status_error_from_inside_the_stream(mockserver: MockServer) -> None:
    mockserver.fault(stream_error={"after": 5, "type": "overloaded_error", "message": "Overloaded"})
    with mockserver.client(max_retries=2) as client:
        seen, raised = events_of(client)
    assert isinstance(raised, anthropic.APIStatusError) and not isinstance(raised, anthropic.OverloadedError)
    assert raised.status_code == 200 and raised.type == "overloaded_error"
    assert len(seen) == 4  # 5 events went out; the SDK skips the ping
    entry = mockserver.journal.wait_for_calls(1)[0]
    mockserver.journal.assert_called(1)  # not retried
    assert entry.events[-1]["event"] == "error"


@pytest.mark.parametrize(("kind", "said"), [("api_error", "Internal server error"), ("overloaded_error", "Overloaded")])
def test_a_mid_stream_error_given_no_message_says_what_the_api_says_for_its_type(mockserver: MockServer, kind: str, said: str) -> None:
    """Not "Overloaded" whatever the type: an ``api_error`` says the API's "Internal server error"."""
    mockserver.fault(stream_error={"after": 2, "type": kind})
    with mockserver.client(max_retries=0) as client:
        _, raised = events_of(client)
    assert isinstance(raised, anthropic.APIStatusError) and raised.type == kind
    assert raised.body == {"type": "error", "error": {"type": kind, "message": said}, "request_id": raised.request_id}


async def test_mid_stream_error_async_stream_helper(mockserver: MockServer) -> None:
    mockserver.fault(stream_error=3)
    client = mockserver.async_client()
    try:
        with pytest.raises(anthropic.APIStatusError) as caught:
            async with client.messages.stream(**ask()) as stream:
                await stream.get_final_message()
    finally:
        await client.close()
    assert caught.value.type == "overloaded_error"


@pytest.mark.parametrize(
    ("kind", "at", "expected"),
    [
        ("bad_json", 1, json.JSONDecodeError),  # the first content_block_start (where the ping
        ("bad_utf8", 1, UnicodeDecodeError),  # falls varies per message, as on the real API)
    ],
)
def test_malformed_sse_raises_in_the_sdk(mockserver: MockServer, anthropic_client: anthropic.Anthropic, kind: str, at: int, expected: type) -> None:
    mockserver.fault(malformed={"kind": kind, "at": at})
    seen, raised = events_of(anthropic_client)
    assert isinstance(raised, expected)
    assert seen == ["message_start"]
    entry = mockserver.journal.wait_for_calls(1)[0]  # the server finishes writing after the client gave up
    assert f"malformed event {at}: {kind}" in entry.faults


def test_missing_event_line_is_silently_dropped_by_the_sdk(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.fault(malformed="missing_event_line")  # event 1: the first content_block_start
    seen, raised = events_of(anthropic_client)
    assert raised is None
    assert seen[:2] == ["message_start", "content_block_delta"] and "content_block_start" not in seen


def test_a_message_start_without_its_event_line_fails_the_sdk_stream_helper(
    mockserver: MockServer, anthropic_client: anthropic.Anthropic
) -> None:
    """The event is dropped, so the helper never has a message: SDK 2.12 asserts on the next event."""
    mockserver.fault(malformed={"kind": "missing_event_line", "at": 0})
    with pytest.raises(AssertionError):
        with anthropic_client.messages.stream(model=HAIKU, max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as events:
            events.get_final_message()
    assert "malformed event 0: missing_event_line" in mockserver.journal.wait_for_calls(1)[0].faults


def test_unknown_event_type(mockserver: MockServer) -> None:
    mockserver.fault(malformed={"kind": "unknown_event", "at": 1})
    with mockserver.client(_strict_response_validation=False) as loose:
        seen, raised = events_of(loose)
    assert raised is None and seen[:2] == ["message_start", "mock_unknown_event"]
    with mockserver.client() as strict:
        seen, raised = events_of(strict)
    assert isinstance(raised, anthropic.APIResponseValidationError)  # strict validation rejects it


def test_faults_on_a_raw_event_script(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    start = {"type": "message_start", "message": {
        "id": "msg_011CmockStreamFaulted01", "type": "message", "role": "assistant", "model": HAIKU, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}}
    mockserver.stream([{"data": start}, {"data": {"type": "message_stop"}}], faults={"stream_error": 1})
    seen, raised = events_of(anthropic_client)
    assert seen == ["message_start"] and isinstance(raised, anthropic.APIStatusError)


def test_faults_on_replayed_bytes(make_server) -> None:
    """Replayed recordings are BytesReply: the same faults apply to them."""
    server = make_server()

    class Canned:
        name = "canned"

        async def __call__(self, api: ApiRequest, next: object) -> Reply:
            body = b'{"type":"error","error":{"type":"api_error","message":"boom"}}'
            return BytesReply(status=500, body=body, content_type="application/json", faults=Faults(drop_after_bytes=10))

    server.api.use(Canned())
    with server.client(max_retries=0) as client, pytest.raises(anthropic.APIConnectionError):
        client.messages.create(**ask())
    assert server.journal.last_request().response_bytes == b'{"type":"e'


# -- random errors -------------------------------------------------------------------------------
def _pattern(server: MockServer, n: int = 24) -> list[int]:
    with server.client(max_retries=0) as client:
        for _ in range(n):
            try:
                client.messages.create(**ask())
            except anthropic.APIStatusError:
                pass
    return [e.status for e in server.journal.calls()]


def test_random_errors_are_seeded(make_server) -> None:
    first = make_server(seed=7)
    first.fault(random_error={"probability": 0.5, "status": 529})
    second = make_server(seed=7)
    second.fault(random_error={"probability": 0.5, "status": 529})
    a, b = _pattern(first), _pattern(second)
    assert a == b  # the same seed, the same failures
    assert 0 < a.count(529) < len(a) and set(a) == {200, 529}
    injected = first.journal.calls(status=529)[0]
    assert injected.error == "Overloaded" and "injected 529 overloaded_error" in injected.faults
    assert injected.output_tokens is None  # the journal records the error that was sent, not the Message



def _serving(make_server: Any, tmp_path: Any, rules: str) -> Any:
    """A server with ``rules`` loaded from a scenario file."""
    scenario = tmp_path / "rules.yaml"
    scenario.write_text(rules, encoding="utf-8")
    return make_server(scenario_files=(scenario,))


def test_a_random_error_of_a_type_takes_its_status(make_server: Any, tmp_path: Any) -> None:
    """``random_error: {type: rate_limit_error}`` is a 429, as ``error: rate_limit_error`` is (it
    was a 529 with the rate-limit type, which the SDK raised as an OverloadedError)."""
    server = _serving(make_server, tmp_path, """
- {name: limited, times: 1, fault: {random_error: {probability: 1, type: rate_limit_error}}}
- {name: missing, times: 1, fault: {random_error: {probability: 1, type: not_found_error, message: Gone.}}}
- {name: given, times: 1, fault: {random_error: {probability: 1, type: rate_limit_error, status: 503}}}
""")
    with server.client(max_retries=0) as client:
        with pytest.raises(anthropic.RateLimitError) as limited:
            client.messages.create(**ask())
        with pytest.raises(anthropic.NotFoundError) as missing:
            client.messages.create(**ask())
        with pytest.raises(anthropic.InternalServerError) as given:
            client.messages.create(**ask())
    assert limited.value.status_code == 429 and limited.value.body["error"] == {
        "type": "rate_limit_error", "message": "This request would exceed your account's rate limit. Please try again later."}
    assert missing.value.status_code == 404 and missing.value.body["error"] == {"type": "not_found_error", "message": "Gone."}
    assert given.value.status_code == 503 and given.value.body["error"]["type"] == "rate_limit_error"
    assert [(c.origin, c.status) for c in server.journal.calls()] == [("limited", 429), ("missing", 404), ("given", 503)]


def test_a_steps_fault_at_its_default_takes_over_its_rules(make_server: Any, tmp_path: Any) -> None:
    """A step's ``random_error`` status of 529 (the default) over its rule's 500: the rule's 500
    was answered, since merging kept only the step's values that differ from the defaults."""
    server = _serving(make_server, tmp_path, """
- name: flaky
  faults: {random_error: {probability: 1, status: 500}}
  sequence:
    - {reply: first, faults: {random_error: {probability: 1, status: 529}}}
    - {reply: second}
""")
    with server.client(max_retries=0) as client:
        with pytest.raises(anthropic.APIStatusError) as step:
            client.messages.create(**ask())
        with pytest.raises(anthropic.InternalServerError) as rule_:
            client.messages.create(**ask())
    assert step.value.status_code == 529 and step.value.body["error"]["type"] == "overloaded_error"
    assert rule_.value.status_code == 500

def test_faults_from_a_sequence_step(mockserver: MockServer) -> None:
    mockserver.sequence([error(529, retry_after_ms=10, faults={"latency": 0.2}), reply("ok")])
    started = time.monotonic()
    with mockserver.client(max_retries=1) as client:
        assert client.messages.create(**ask()).content[0].text == "ok"
    assert time.monotonic() - started >= 0.2
    assert [e.faults for e in mockserver.journal.calls()] == [["latency=0.2s"], []]

"""What the fuzz strategies generate is valid for the official SDK in strict mode, end to end:
replies and raw streams validate (``_strict_response_validation=True``) and accumulate to the
intended Message, errors arrive with their real bodies and header variants, faults are
delivered by the fault layer. Sync and async clients, one server shared by every example."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic._models import validate_type
from anthropic.types import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver import fuzz
from mockserver.harness.testing import MockServer

REQUEST: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "Hello"}]}
EXAMPLES = settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def server() -> Any:
    with MockServer() as s:
        yield s


@pytest.fixture(scope="module")
def client(server: MockServer) -> Any:
    with server.client(max_retries=0) as c:  # strict response validation is on
        yield c


@EXAMPLES
@given(scenario=fuzz.replies())
def test_replies_validate_strictly_plain_and_streamed(server: MockServer, client: Any, scenario: dict[str, Any]) -> None:
    with fuzz.installed(server, scenario):
        plain = client.messages.create(**REQUEST)
        with client.messages.stream(**REQUEST) as stream:
            streamed = stream.get_final_message()
    for message in (plain, streamed):
        validate_type(type_=Message, value=message.model_dump(mode="json", exclude_unset=True))
    def comparable(message: Message) -> dict[str, Any]:  # each reply has fresh message and tool ids
        dumped = message.model_dump(exclude={"id", "usage"})
        dumped["content"] = [{k: v for k, v in block.items() if k != "id"} for block in dumped["content"]]
        return dumped

    assert comparable(streamed) == comparable(plain)
    assert len(plain.content) == len(scenario["reply"]["content"])


@EXAMPLES
@given(data=st.data())
def test_raw_streams_accumulate_to_exactly_the_intended_message(server: MockServer, client: Any, data: st.DataObject) -> None:
    message = data.draw(fuzz.messages(), label="message")
    scenario = data.draw(fuzz.stream_of(message), label="scenario")
    with fuzz.installed(server, scenario):
        with client.messages.stream(**REQUEST) as stream:
            final = stream.get_final_message()
    assert final.model_dump(mode="json") == Message.model_validate(message).model_dump(mode="json")


@settings(EXAMPLES, max_examples=10)
@given(scenario=fuzz.replies() | fuzz.streams())
def test_the_async_client_reads_them_too(server: MockServer, scenario: dict[str, Any]) -> None:
    async def read() -> Message:
        async with server.async_client(max_retries=0) as async_client:
            async with async_client.messages.stream(**REQUEST) as stream:
                return await stream.get_final_message()

    with fuzz.installed(server, scenario):
        final = asyncio.run(read())
    validate_type(type_=Message, value=final.model_dump(mode="json", exclude_unset=True))


@EXAMPLES
@given(scenario=fuzz.errors(retry_after=fuzz.retry_after(max_seconds=30)))
def test_errors_reach_the_sdk_with_their_status_body_and_headers(server: MockServer, client: Any, scenario: dict[str, Any]) -> None:
    spec = scenario["error"]
    with fuzz.installed(server, scenario):
        with pytest.raises(anthropic.APIStatusError) as raised:
            client.messages.create(**REQUEST)
    error = raised.value
    assert error.status_code == spec["status"]
    assert error.body["type"] == "error" and error.body["request_id"] == error.request_id  # type: ignore[index]
    if "message" in spec:
        assert error.body["error"]["message"] == spec["message"]  # type: ignore[index]
    if "details" in spec:
        assert error.body["error"]["details"] == spec["details"]  # type: ignore[index]
    headers = error.response.headers
    if "retry_after" in spec:
        assert headers["retry-after"] == str(spec["retry_after"])
    if "retry_after_ms" in spec:
        assert headers["retry-after-ms"] == str(spec["retry_after_ms"])
    if "headers" in spec:
        assert headers["retry-after"] == spec["headers"]["retry-after"]
    if "should_retry" in spec:
        assert headers["x-should-retry"] == ("true" if spec["should_retry"] else "false")
    elif spec["status"] in fuzz.RETRYABLE_STATUSES:
        assert "x-should-retry" not in headers


# What SDK 2.12 raises for each fault (docs/scenarios.md, "Faults"): nothing else may escape.
# IndexError: the SDK drops an event without an ``event:`` line; when that was a
# ``content_block_start``, the stream helper then fails on the next delta for that block.
# AssertionError: when the dropped event was ``message_start``, the helper asserts it has a
# message to add the next event to (test_faults.py pins both).
FAULT_OUTCOMES = (anthropic.APIError, httpx2.HTTPError, json.JSONDecodeError, UnicodeDecodeError, IndexError, AssertionError)


@settings(EXAMPLES, max_examples=30)
@given(faults=fuzz.faults(max_size=2, max_delay=0.02), stream=st.booleans())
def test_faults_are_delivered_by_the_fault_layer(server: MockServer, client: Any, faults: dict[str, Any], stream: bool) -> None:
    with fuzz.installed(server, {"fault": faults}) as run:
        try:
            if stream:
                with client.messages.stream(**REQUEST) as events:
                    events.get_final_message()
            else:
                client.messages.create(**REQUEST)
        except FAULT_OUTCOMES:
            pass
        entry = run.journal.wait_for_calls(1)[0]
    assert entry.origin == "fuzz"
    assert entry.faults, faults  # what was configured (and what happened) is journaled

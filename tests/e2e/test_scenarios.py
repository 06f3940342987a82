"""Scripted scenarios through the official SDK (strict validation) over a real socket: every action,
the matchers, sequences and the journal's assertion helpers."""

from __future__ import annotations

import time
from pathlib import Path

import anthropic
import pytest

from mockserver.scenarios import error, passthrough, reply
from mockserver.harness.testing import MockServer
from tests.conftest import HAIKU, USER_HI

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}


def ask(text: str, **extra: object) -> dict[str, object]:
    return dict(model=HAIKU, max_tokens=200, messages=[{"role": "user", "content": text}], **extra)


# -- retries: the headline cases ------------------------------------------------------------------
def test_529_529_then_a_reply_succeeds_with_max_retries_2(mockserver: MockServer) -> None:
    rule = mockserver.sequence([error(529, retry_after_ms=10), error(529, retry_after_ms=10), reply("Recovered.")])
    with mockserver.client(max_retries=2) as client:
        message = client.messages.create(**ask("hello"))
    assert message.content[0].type == "text" and message.content[0].text == "Recovered."
    calls = mockserver.journal.assert_called(3)
    assert [c.status for c in calls] == [529, 529, 200]
    assert mockserver.journal.header_values("x-stainless-retry-count") == ["0", "1", "2"]
    assert {c.origin for c in calls} == {rule.name} and rule.hits == 3


async def test_529_529_then_a_reply_async(mockserver: MockServer) -> None:
    mockserver.add_rules({"match": {"text": "async"}, "sequence": [
        {"error": {"status": 529, "retry_after_ms": 10}}, {"error": {"status": 529, "retry_after_ms": 10}}, "Recovered."]})
    client = mockserver.async_client(max_retries=2)
    try:
        message = await client.messages.create(**ask("async please"))
    finally:
        await client.close()
    assert message.content[0].text == "Recovered."
    assert mockserver.journal.header_values("x-stainless-retry-count") == ["0", "1", "2"]


def test_529_exhausts_max_retries(mockserver: MockServer) -> None:
    mockserver.error(529, retry_after_ms=10)
    with mockserver.client(max_retries=2) as client, pytest.raises(anthropic.OverloadedError) as caught:
        client.messages.create(**ask("hello"))
    assert caught.value.status_code == 529 and caught.value.type == "overloaded_error"
    mockserver.journal.assert_called(3)


def test_x_should_retry_false_stops_retries_even_on_a_5xx(mockserver: MockServer) -> None:
    mockserver.error(503, should_retry=False, message="do not come back")
    with mockserver.client(max_retries=3) as client, pytest.raises(anthropic.ServiceUnavailableError) as caught:
        client.messages.create(**ask("hello"))
    assert caught.value.response.headers["x-should-retry"] == "false"
    mockserver.journal.assert_called(1)


def test_x_should_retry_true_retries_even_a_400(mockserver: MockServer) -> None:
    mockserver.sequence([error(400, should_retry=True, retry_after_ms=10, message="try again"), reply("ok")])
    with mockserver.client(max_retries=1) as client:
        assert client.messages.create(**ask("hello")).content[0].text == "ok"
    assert mockserver.journal.header_values("x-stainless-retry-count") == ["0", "1"]


def test_retry_after_ms_beats_retry_after(mockserver: MockServer) -> None:
    """retry-after says 30 s; retry-after-ms says 10 ms: the SDK must use the latter."""
    mockserver.sequence([error(429, retry_after=30, retry_after_ms=10), reply("ok")])
    started = time.monotonic()
    with mockserver.client(max_retries=1) as client:
        assert client.messages.create(**ask("hello")).content[0].text == "ok"
    assert time.monotonic() - started < 10
    first = mockserver.journal.calls()[0]
    assert first.status == 429 and first.error is not None


def test_error_with_custom_headers_type_and_details(mockserver: MockServer) -> None:
    mockserver.error(402, message="Your credit balance is too low.", headers={"x-extra": "yes"}, details={"error_code": "credit_balance_too_low"})
    with mockserver.client(max_retries=0) as client, pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(**ask("hello"))
    assert caught.value.status_code == 402
    assert caught.value.response.headers["x-extra"] == "yes"
    assert caught.value.body["error"] == {
        "type": "billing_error", "message": "Your credit balance is too low.", "details": {"error_code": "credit_balance_too_low"}}
    assert caught.value.type == "billing_error" and caught.value.error_code == "credit_balance_too_low"
    assert caught.value.request_id == caught.value.response.headers["request-id"]


# -- replies -----------------------------------------------------------------------------------
def test_reply_blocks_validate_strictly_and_stream_identically(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.load_scenario(FIXTURES / "replies.yaml")
    for prompt, kinds in [
        ("please think", ["thinking", "redacted_thinking", "text"]),
        ("please cite", ["text"]),
        ("please search", ["server_tool_use", "web_search_tool_result", "text"]),
    ]:
        plain = anthropic_client.messages.create(**ask(prompt))
        with anthropic_client.messages.stream(**ask(prompt)) as events:
            streamed = events.get_final_message()
        assert [b.type for b in plain.content] == kinds == [b.type for b in streamed.content]
        assert plain.model == "claude-haiku-4-5-20251001"
        assert _without_ids(plain) == _without_ids(streamed)
        assert plain.usage.output_tokens == streamed.usage.output_tokens
    searched = anthropic_client.messages.create(**ask("please search"))
    assert searched.content[1].tool_use_id == searched.content[0].id  # results point at their call
    assert searched.usage.server_tool_use is not None and searched.usage.server_tool_use.web_search_requests == 1
    cited = anthropic_client.messages.create(**ask("please cite"))
    assert cited.content[0].citations and cited.content[0].citations[0].type == "char_location"


def _without_ids(message: anthropic.types.Message) -> list[dict[str, object]]:
    """Content as JSON, minus the ids issued per reply."""
    return [{k: v for k, v in b.items() if k not in ("id", "tool_use_id")} for b in message.model_dump(exclude_none=True)["content"]]


def test_thinking_signature_is_accepted_when_sent_back(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.reply(content=[{"thinking": "Let me think."}, "Four."], usage={"output_tokens": 50}, match={"text": "2+2"})
    first = anthropic_client.messages.create(**ask("2+2?"))
    assert first.usage.output_tokens == 50 and first.content[0].type == "thinking"
    followup = anthropic_client.messages.create(
        model=HAIKU, max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": first.content},
                  {"role": "user", "content": "and 3+3?"}],
    )
    assert followup.stop_reason == "end_turn"  # the default model answered: the signature verified


def test_tool_use_then_answer_on_tool_result(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.load_scenario(FIXTURES / "replies.yaml")
    question = {"role": "user", "content": "What is the weather in Paris?"}
    call = anthropic_client.messages.create(model=HAIKU, max_tokens=200, tools=[WEATHER], messages=[question])
    assert call.stop_reason == "tool_use"
    tool_use = call.content[1]
    assert tool_use.type == "tool_use" and tool_use.id.startswith("toolu_") and tool_use.input == {"location": "Paris", "unit": "celsius"}
    assert tool_use.caller.type == "direct"  # added to scripted tool_use blocks that set no caller
    answer = anthropic_client.messages.create(
        model=HAIKU, max_tokens=200, tools=[WEATHER],
        messages=[question, {"role": "assistant", "content": call.content},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "18C"}]}],
    )
    assert answer.content[0].text.startswith("It is 18°C")
    assert [e.origin for e in mockserver.journal.calls()] == ["weather-call", "weather-answer"]
    assert mockserver.journal.last_messages()[-1]["content"][0]["type"] == "tool_result"


def test_reply_validates_the_request_like_the_api(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    rule = mockserver.reply("never sent")
    with pytest.raises(anthropic.NotFoundError):
        anthropic_client.messages.create(model="claude-nope-1", max_tokens=10, messages=USER_HI)
    entry = mockserver.journal.last_request()
    assert entry.status == 404 and entry.origin == rule.name  # the rule answered, with the API's error


def test_usage_overrides_and_stop_reason(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.reply("Cut sh", stop_reason="max_tokens", usage={"input_tokens": 1000, "output_tokens": 7, "cache_read_input_tokens": 50})
    message = anthropic_client.messages.create(**ask("hello"))
    assert message.stop_reason == "max_tokens"
    assert (message.usage.input_tokens, message.usage.output_tokens, message.usage.cache_read_input_tokens) == (1000, 7, 50)


def test_count_tokens_can_be_scripted(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.reply(usage={"input_tokens": 4242}, match={"endpoint": "count_tokens"})
    counted = anthropic_client.messages.count_tokens(model=HAIKU, messages=USER_HI)
    assert counted.input_tokens == 4242
    created = anthropic_client.messages.create(**ask("hello"))  # messages.create is not matched
    assert created.content[0].text.startswith("You said")


def test_json_body_for_other_endpoints(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.json_body({"data": [], "has_more": False, "first_id": None, "last_id": None}, match={"endpoint": "models.list"})
    assert anthropic_client.models.list().data == []
    assert anthropic_client.models.retrieve(HAIKU).id == "claude-haiku-4-5-20251001"


def test_a_reply_on_a_non_message_endpoint_is_rejected_at_load(mockserver: MockServer) -> None:
    from mockserver.scenarios import ScenarioError

    with pytest.raises(ScenarioError, match=r"match\.endpoint: a reply answers messages"):
        mockserver.reply("x", match={"endpoint": "models.list"})


# -- raw streams -------------------------------------------------------------------------------
def test_raw_stream_hand_written_events(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.load_scenario(FIXTURES / "streams.yaml")
    started = time.monotonic()
    with anthropic_client.messages.stream(**ask("write it by hand")) as events:
        final = events.get_final_message()
    assert final.content[0].text == "Hello world" and final.id == "msg_011CmockStreamByHand0001"
    assert time.monotonic() - started >= 0.05  # the scripted delay happened
    assert [e["event"] for e in mockserver.journal.last_request().events][:3] == ["message_start", "content_block_start", "ping"]


def test_raw_stream_odd_events_reach_the_sdk_as_scripted(mockserver: MockServer) -> None:
    mockserver.load_scenario(FIXTURES / "streams.yaml")
    with mockserver.client(max_retries=0, _strict_response_validation=False) as client:
        seen = []
        with pytest.raises(anthropic.APIStatusError) as caught:
            for event in client.messages.create(**ask("something odd", stream=True)):
                seen.append(event.type)
    # the event without an `event:` line was dropped; the unknown one passed through; the error raised
    assert seen == ["message_start", "mystery_event"]
    assert caught.value.status_code == 200 and caught.value.type == "overloaded_error"


def test_raw_stream_with_invalid_json(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.stream([{"event": "message_start", "data": "{this is not json"}])
    with pytest.raises(ValueError):  # json.JSONDecodeError
        for _ in anthropic_client.messages.create(**ask("x", stream=True)):
            pass


def test_stream_builder_with_status_and_headers(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.stream([("message_stop", {"type": "message_stop"})], headers={"x-scripted": "1"})
    raw = anthropic_client.messages.with_raw_response.create(**ask("x", stream=True))
    assert raw.headers["x-scripted"] == "1" and raw.headers["content-type"].startswith("text/event-stream")
    assert [e.type for e in raw.parse()] == ["message_stop"]


# -- matching ----------------------------------------------------------------------------------
def test_matchers(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.add_rules("""
rules:
  - {name: by-model, match: {model: claude-opus-4-5, text: which}, reply: opus}
  - {name: by-regex, match: {regex: "^order #\\\\d+$"}, reply: regex}
  - {name: by-system, match: {system: pirate}, reply: arr}
  - {name: by-header, match: {headers: {x-tenant: acme}}, reply: acme}
  - {name: by-body, match: {body: {metadata.user_id: "u-42", "messages[0].role": user}}, reply: body}
  - {name: by-tools, match: {tools: [get_weather]}, reply: tools}
  - {name: by-stream, match: {stream: true, text: which}, reply: streamed}
  - {name: by-beta, match: {beta: true, text: beta}, reply: beta}
""")
    text = lambda m: m.content[0].text  # noqa: E731
    assert text(anthropic_client.messages.create(**dict(ask("which model?"), model="claude-opus-4-5-20251101"))) == "opus"
    assert text(anthropic_client.messages.create(**ask("which model?"))) != "opus"
    assert text(anthropic_client.messages.create(**ask("order #123"))) == "regex"
    assert text(anthropic_client.messages.create(**ask("hi", system="You are a pirate"))) == "arr"
    assert text(anthropic_client.messages.create(**ask("hi"), extra_headers={"x-tenant": "acme"})) == "acme"
    assert text(anthropic_client.messages.create(**ask("hi", metadata={"user_id": "u-42"}))) == "body"
    assert text(anthropic_client.messages.create(**ask("hi", tools=[WEATHER]))) == "tools"
    with anthropic_client.messages.stream(**ask("which one?")) as events:
        assert events.get_final_message().content[0].text == "streamed"
    assert text(anthropic_client.beta.messages.create(**ask("beta?"), betas=["context-management-2025-06-27"])) == "beta"
    assert text(anthropic_client.messages.create(**ask("beta?"))) != "beta"
    assert [e.origin for e in mockserver.journal.calls()] == [
        "by-model", "default", "by-regex", "by-system", "by-header", "by-body", "by-tools", "by-stream", "by-beta", "default"]


def test_nth_matching_call_and_times(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.reply("second", match={"text": "count", "nth": 2}, name="second")
    mockserver.reply("twice", match={"text": "limited"}, times=2, name="twice")
    answers = [anthropic_client.messages.create(**ask("count")).content[0].text for _ in range(3)]
    assert answers[1] == "second" and answers[0] != "second" and answers[2] != "second"
    limited = [anthropic_client.messages.create(**ask("limited")).content[0].text for _ in range(3)]
    assert limited[:2] == ["twice", "twice"] and limited[2] != "twice"
    assert len(mockserver.journal.by_rule("twice")) == 2


def test_sequence_then_modes(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.sequence(["a", "b"], then="cycle", match={"text": "cycle"})
    mockserver.sequence(["x", passthrough()], then="fallthrough", match={"text": "fall"})
    mockserver.sequence(["one", "last"], match={"text": "repeat"})
    get = lambda q: anthropic_client.messages.create(**ask(q)).content[0].text  # noqa: E731
    assert [get("cycle") for _ in range(5)] == ["a", "b", "a", "b", "a"]
    falls = [get("fall") for _ in range(3)]
    assert falls[0] == "x" and falls[1].startswith("You said") and falls[2].startswith("You said")
    assert [get("repeat") for _ in range(3)] == ["one", "last", "last"]


def test_newer_rules_shadow_older_and_priority_wins(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.reply("general")
    mockserver.reply("specific", match={"text": "special"})
    get = lambda q: anthropic_client.messages.create(**ask(q)).content[0].text  # noqa: E731
    assert (get("special"), get("other")) == ("specific", "general")
    mockserver.reply("urgent", priority=10)
    assert get("special") == "urgent"


def test_reset_clears_rules_and_counters(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    rule = mockserver.reply("scripted")
    assert anthropic_client.messages.create(**ask("hi")).content[0].text == "scripted" and rule.hits == 1
    mockserver.reset()
    assert mockserver.rules == [] and len(mockserver.journal) == 0
    assert anthropic_client.messages.create(**ask("hi")).content[0].text.startswith("You said")


def test_journal_records_rule_body_headers_and_what_was_sent(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.reply("journaled", name="j")
    anthropic_client.messages.create(**ask("remember me"))
    entry = mockserver.journal.last_request()
    assert entry.origin == "j" and entry.status == 200
    assert entry.body["messages"] == [{"role": "user", "content": "remember me"}]
    assert entry.headers["authorization"] == "[REDACTED]"
    assert entry.response["content"][0]["text"] == "journaled"
    mockserver.journal.assert_header("x-stainless-retry-count", "0")
    with pytest.raises(AssertionError, match="expected messages.create to be called 2 time"):
        mockserver.journal.assert_called(2)
    mockserver.journal.assert_not_called(endpoint="messages.count_tokens")


def test_batch_items_reach_scenarios_with_their_custom_id(make_server) -> None:
    server = make_server()
    server.reply("for item b", match={"custom_id": "b"})
    with server.client() as client:
        batch = client.messages.batches.create(requests=[
            {"custom_id": cid, "params": {"model": HAIKU, "max_tokens": 50, "messages": USER_HI}} for cid in ("a", "b")])
        deadline = time.monotonic() + 10
        while client.messages.batches.retrieve(batch.id).processing_status != "ended":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["b"].type == "succeeded" and results["b"].message.content[0].text == "for item b"
    assert results["a"].type == "succeeded" and results["a"].message.content[0].text.startswith("You said")

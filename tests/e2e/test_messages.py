"""Messages through the official SDK (sync and async, strict validation) over a real socket."""

from __future__ import annotations

import re

import anthropic
import jsonschema
import pytest

from tests.conftest import HAIKU, USER_HI

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "location": {"type": "string", "minLength": 3},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "options": {
                "type": "object",
                "properties": {"detailed": {"type": "boolean"}},
                "required": ["detailed"],
                "additionalProperties": False,
            },
        },
        "required": ["location", "unit", "days", "tags", "options"],
    },
}
MSG_ID = re.compile(r"^msg_011C[1-9A-HJ-NP-Za-km-z]{20}$")
REQ_ID = re.compile(r"^req_011C[1-9A-HJ-NP-Za-km-z]{20}$")


def test_create_returns_a_strictly_valid_message(anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.create(model=HAIKU, max_tokens=256, messages=USER_HI)
    assert MSG_ID.match(message.id)
    assert REQ_ID.match(message._request_id or "")
    assert message.model == "claude-haiku-4-5-20251001"  # the API answers with the dated id
    assert message.role == "assistant" and message.type == "message"
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and "Hello, Claude" in message.content[0].text
    usage = message.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.cache_creation_input_tokens == 0 and usage.cache_read_input_tokens == 0
    assert usage.service_tier == "standard"


async def test_async_create(async_anthropic_client: anthropic.AsyncAnthropic) -> None:
    message = await async_anthropic_client.messages.create(model=HAIKU, max_tokens=256, messages=USER_HI)
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text"


def test_same_seed_same_answer_different_seed_different_text(make_server) -> None:
    params = dict(model=HAIKU, max_tokens=300, messages=[{"role": "user", "content": "Tell me about rivers"}])
    a = make_server(seed=11).client().messages.create(**params)
    b = make_server(seed=11).client().messages.create(**params)
    c = make_server(seed=12).client().messages.create(**params)
    assert a.model_dump() == b.model_dump()
    assert a.content[0].text != c.content[0].text
    assert a.id != c.id


def test_stream_final_message_equals_plain_reply(make_server) -> None:
    params = dict(model=HAIKU, max_tokens=300, messages=[{"role": "user", "content": "Describe a harbor"}])
    plain = make_server(seed=5).client().messages.create(**params)
    with make_server(seed=5).client().messages.stream(**params) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.model_dump() == plain.model_dump()
    assert text == plain.content[0].text


async def test_async_stream_final_message_equals_plain_reply(make_server) -> None:
    params = dict(model=HAIKU, max_tokens=300, messages=[{"role": "user", "content": "Describe a harbor"}])
    plain = make_server(seed=6).client().messages.create(**params)
    async with make_server(seed=6).async_client().messages.stream(**params) as stream:
        final = await stream.get_final_message()
    assert final.model_dump() == plain.model_dump()


def test_max_tokens_truncates(anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.create(model=HAIKU, max_tokens=5, messages=USER_HI)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 5
    full = anthropic_client.messages.create(model=HAIKU, max_tokens=500, messages=USER_HI)
    assert full.content[0].text.startswith(message.content[0].text)
    assert len(message.content[0].text) < len(full.content[0].text)


def test_max_tokens_zero_prewarms(anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.create(model=HAIKU, max_tokens=0, messages=USER_HI)
    assert message.content == [] and message.stop_reason == "max_tokens" and message.usage.output_tokens == 0


def test_stop_sequences(anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.create(
        model=HAIKU, max_tokens=200, stop_sequences=["STOP", "never"], messages=[{"role": "user", "content": "one two STOP three"}]
    )
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "STOP"
    assert "STOP" not in message.content[0].text and message.content[0].text.endswith("one two ")


def test_streamed_stop_sequence(anthropic_client: anthropic.Anthropic) -> None:
    with anthropic_client.messages.stream(
        model=HAIKU, max_tokens=200, stop_sequences=["STOP"], messages=[{"role": "user", "content": "alpha STOP beta"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == "STOP"


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "get_weather"}])
def test_forced_tool_use_input_validates_against_schema(anthropic_client: anthropic.Anthropic, choice) -> None:
    message = anthropic_client.messages.create(
        model=HAIKU, max_tokens=1024, tools=[WEATHER_TOOL], tool_choice=choice, messages=[{"role": "user", "content": "Weather?"}]
    )
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use" and block.name == "get_weather"
    assert block.caller is not None and block.caller.type == "direct"  # as in the 2026 recordings
    assert re.match(r"^toolu_01[1-9A-HJ-NP-Za-km-z]{22}$", block.id)
    jsonschema.validate(block.input, WEATHER_TOOL["input_schema"])


def test_auto_tool_choice_calls_a_named_tool_then_answers_its_result(anthropic_client: anthropic.Anthropic) -> None:
    first = anthropic_client.messages.create(
        model=HAIKU, max_tokens=1024, tools=[WEATHER_TOOL], messages=[{"role": "user", "content": "Use get_weather for Paris"}]
    )
    assert first.stop_reason == "tool_use"
    assert [b.type for b in first.content] == ["text", "tool_use"]
    tool_use = first.content[1]
    second = anthropic_client.messages.create(
        model=HAIKU,
        max_tokens=1024,
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "Use get_weather for Paris"},
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "18C and sunny"}]},
        ],
    )
    assert second.stop_reason == "end_turn"
    assert "18C and sunny" in second.content[0].text


def test_auto_tool_choice_without_mention_answers_text(anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.create(model=HAIKU, max_tokens=200, tools=[WEATHER_TOOL], messages=USER_HI)
    assert message.stop_reason == "end_turn" and message.content[0].type == "text"


def test_streamed_tool_use_splits_input_json(anthropic_client: anthropic.Anthropic) -> None:
    params = dict(model=HAIKU, max_tokens=1024, tools=[WEATHER_TOOL], tool_choice={"type": "any"}, messages=USER_HI)
    with anthropic_client.messages.stream(**params) as stream:
        events = list(stream)
        final = stream.get_final_message()
    deltas = [e for e in events if e.type == "content_block_delta" and e.delta.type == "input_json_delta"]
    assert len(deltas) >= 3 and deltas[0].delta.partial_json == ""
    [start] = [e for e in events if e.type == "content_block_start"]
    assert start.content_block.to_dict() == {"type": "tool_use", "id": final.content[0].id, "name": "get_weather",
                                              "input": {}, "caller": {"type": "direct"}}
    assert final.content[0].caller.type == "direct"
    jsonschema.validate(final.content[0].input, WEATHER_TOOL["input_schema"])


def test_thinking_block_precedes_text_and_round_trips(anthropic_client: anthropic.Anthropic) -> None:
    params = dict(model=HAIKU, max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 2000}, messages=USER_HI)
    message = anthropic_client.messages.create(**params)
    assert [b.type for b in message.content] == ["thinking", "text"]
    thinking = message.content[0]
    assert thinking.thinking and 248 <= len(thinking.signature) <= 2304  # the recorded range (docs/protocol.md)
    assert message.usage.output_tokens_details is not None
    assert 0 < message.usage.output_tokens_details.thinking_tokens < message.usage.output_tokens

    follow_up = [*USER_HI, {"role": "assistant", "content": message.content}, {"role": "user", "content": "And then?"}]
    assert anthropic_client.messages.create(**{**params, "messages": follow_up}).stop_reason == "end_turn"

    tampered = [{"type": "thinking", "thinking": thinking.thinking + " (edited)", "signature": thinking.signature}, message.content[1]]
    with pytest.raises(anthropic.BadRequestError, match="cannot be modified"):
        anthropic_client.messages.create(**{**params, "messages": [*USER_HI, {"role": "assistant", "content": tampered}, {"role": "user", "content": "?"}]})


def test_streamed_thinking_has_thinking_and_signature_deltas(anthropic_client: anthropic.Anthropic) -> None:
    params = dict(model=HAIKU, max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1500}, messages=USER_HI)
    with anthropic_client.messages.stream(**params) as stream:
        kinds = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert "thinking_delta" in kinds and kinds.count("signature_delta") == 1
    assert kinds.index("signature_delta") < kinds.index("text_delta")
    assert final.content[0].signature


def test_adaptive_thinking_on_an_adaptive_model(anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.create(
        model="claude-opus-4-7", max_tokens=2000, thinking={"type": "adaptive"}, messages=USER_HI
    )
    assert message.content[0].type == "thinking"


def test_prefill_continues_the_assistant_turn(anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.create(
        model=HAIKU, max_tokens=100, messages=[*USER_HI, {"role": "assistant", "content": "Sure:"}]
    )
    assert message.content[0].text.startswith(" ")
    assert "You said" not in message.content[0].text


def test_structured_output_matches_the_schema(anthropic_client: anthropic.Anthropic) -> None:
    import json

    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"], "additionalProperties": False}
    message = anthropic_client.messages.create(
        model=HAIKU, max_tokens=500, messages=USER_HI, output_config={"format": {"type": "json_schema", "schema": schema}}
    )
    jsonschema.validate(json.loads(message.content[0].text), schema)


async def test_async_tool_use_carries_the_direct_caller(async_anthropic_client: anthropic.AsyncAnthropic) -> None:
    params = dict(model=HAIKU, max_tokens=1024, tools=[WEATHER_TOOL], tool_choice={"type": "any"}, messages=USER_HI)
    message = await async_anthropic_client.messages.create(**params)
    assert message.content[0].caller.type == "direct"
    async with async_anthropic_client.messages.stream(**params) as stream:
        final = await stream.get_final_message()
    assert final.content[0].caller.type == "direct"
    beta = await async_anthropic_client.beta.messages.create(**params)
    assert beta.content[0].caller is not None and beta.content[0].caller.type == "direct"
    # sent back as the SDK serialises it, caller included, the next turn is accepted
    follow = [*USER_HI, {"role": "assistant", "content": [b.to_dict() for b in message.content]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": message.content[0].id, "content": "sunny"}]}]
    assert (await async_anthropic_client.messages.create(**{**params, "tool_choice": {"type": "auto"}, "messages": follow})).stop_reason == "end_turn"

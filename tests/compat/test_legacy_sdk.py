"""The fake API through an SDK from the 1.x line, with its own (older) response types in strict mode."""

from __future__ import annotations

import asyncio

import anthropic
import pytest

HAIKU = "claude-haiku-4-5"
HI = [{"role": "user", "content": "Hello from an older SDK"}]


def test_the_sdk_sends_the_legacy_version(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(model=HAIKU, max_tokens=500, messages=HI)
    assert raw.http_request.headers["anthropic-version"] == "2023-06-01"
    assert raw.headers["request-id"].startswith("req_")
    message = raw.parse()
    assert message.stop_reason == "end_turn" and message.content[0].type == "text"


def test_sampling_parameters_exist_in_2023_06_01(client: anthropic.Anthropic) -> None:
    # this SDK line dropped the keyword arguments, but the API version it sends still has them
    message = client.messages.create(model=HAIKU, max_tokens=50, messages=HI, extra_body={"temperature": 0.3, "top_k": 10})
    assert message.content
    with pytest.raises(anthropic.BadRequestError, match="temperature: range: 0..1"):
        client.messages.create(model=HAIKU, max_tokens=50, messages=HI, extra_body={"temperature": 1.7})
    with pytest.raises(anthropic.BadRequestError, match="cannot both be specified"):
        client.messages.create(model=HAIKU, max_tokens=50, messages=HI, extra_body={"temperature": 0.5, "top_p": 0.5})


def test_stream_and_final_message(client: anthropic.Anthropic) -> None:
    params = dict(model=HAIKU, max_tokens=200, messages=HI)
    with client.messages.stream(**params) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == final.content[0].text and final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_tools_and_thinking(client: anthropic.Anthropic) -> None:
    tool = {"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}
    message = client.messages.create(model=HAIKU, max_tokens=500, tools=[tool], tool_choice={"type": "any"}, messages=HI)
    assert message.content[-1].type == "tool_use" and isinstance(message.content[-1].input["q"], str)
    assert message.content[-1].caller.type == "direct"  # SDK 1.17's strict types accept it too
    thought = client.messages.create(model=HAIKU, max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024}, messages=HI)
    assert [b.type for b in thought.content] == ["thinking", "text"]
    assert 248 <= len(thought.content[0].signature) <= 2304


def test_count_tokens_and_models(client: anthropic.Anthropic) -> None:
    assert client.messages.count_tokens(model=HAIKU, messages=HI).input_tokens > 0
    models = list(client.models.list(limit=4))
    assert len(models) > 4 and models[0].type == "model"
    assert client.models.retrieve("claude-haiku-4-5").id == "claude-haiku-4-5-20251001"


def test_errors_map_to_the_sdk_exceptions(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="claude-nope", max_tokens=10, messages=HI)
    with pytest.raises(anthropic.BadRequestError, match="messages: at least one message is required"):
        client.messages.create(model=HAIKU, max_tokens=10, messages=[])
    no_key = {"X-Api-Key": anthropic.Omit(), "Authorization": anthropic.Omit()}
    with pytest.raises(anthropic.AuthenticationError, match="x-api-key header is required"):
        client.messages.create(model=HAIKU, max_tokens=10, messages=HI, extra_headers=no_key)


def test_async_client(base_url: str) -> None:
    async def run() -> None:
        async_client = anthropic.AsyncAnthropic(base_url=base_url, api_key="sk-ant-compat", _strict_response_validation=True)
        message = await async_client.messages.create(model=HAIKU, max_tokens=50, messages=HI)
        assert message.content[0].type == "text"
        async with async_client.messages.stream(model=HAIKU, max_tokens=50, messages=HI) as stream:
            final = await stream.get_final_message()
        assert final.stop_reason in ("end_turn", "max_tokens")
        await async_client.close()

    asyncio.run(run())

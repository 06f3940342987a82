"""SDK 0.49's ``completions.create`` (sync and async, whole and streamed, strict types) and its
AnthropicBedrock / AnthropicVertex, which send ``bedrock-2023-05-31`` / ``vertex-2023-10-16``."""

from __future__ import annotations

import asyncio
import json

import anthropic
import pytest

PROMPT = f"{anthropic.HUMAN_PROMPT} Hello from SDK 0.x{anthropic.AI_PROMPT}"
HI = [{"role": "user", "content": "Hello from SDK 0.x"}]


def test_completions(base_url: str) -> None:
    client = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-legacy", _strict_response_validation=True, max_retries=0)
    completion = client.completions.create(model="claude-2.1", prompt=PROMPT, max_tokens_to_sample=100)
    assert completion.type == "completion" and completion.completion.startswith(" ") and completion.stop_reason == "stop_sequence"
    pieces = list(client.completions.create(model="claude-2.1", prompt=PROMPT, max_tokens_to_sample=100, stream=True))
    assert "".join(p.completion for p in pieces) == completion.completion and pieces[-1].stop_reason == "stop_sequence"
    with pytest.raises(anthropic.BadRequestError, match="is not supported on this API. Please use the Messages API instead"):
        client.completions.create(model="claude-haiku-4-5", prompt=PROMPT, max_tokens_to_sample=10)


def test_async_completions(base_url: str) -> None:
    async def main() -> None:
        client = anthropic.AsyncAnthropic(base_url=base_url, api_key="sk-ant-legacy", _strict_response_validation=True)
        completion = await client.completions.create(model="claude-instant-1.2", prompt=PROMPT, max_tokens_to_sample=100)
        stream = await client.completions.create(model="claude-instant-1.2", prompt=PROMPT, max_tokens_to_sample=100, stream=True)
        assert "".join([p.completion async for p in stream]) == completion.completion

    asyncio.run(main())


# Every optional field completions.create takes, with values a real caller sends.
FIELDS = {"metadata": {"user_id": "13803d75-b4b5-4c3e-b2a2-6f21399b021b"}, "stop_sequences": ["\n\nObservation:"],
          "temperature": 0.5, "top_k": 5, "top_p": 0.7}
# Values the SDK passes through as given (its types are hints) and the server refuses.
REFUSED = [
    ({"temperature": "hot"}, "temperature: value is not a valid float"),
    ({"top_k": -5}, "top_k: ensure this value is greater than or equal to 0"),
    ({"temperature": 1.5}, "temperature: range: 0..1"),
    ({"metadata": {"user_id": 42}}, "metadata.user_id: str type expected"),
]


def test_completions_with_every_field(base_url: str) -> None:
    client = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-legacy", _strict_response_validation=True, max_retries=0)
    raw = client.completions.with_raw_response.create(model="claude-2.1", prompt=PROMPT, max_tokens_to_sample=100, stream=False, **FIELDS)
    assert json.loads(raw.http_request.content) == {"model": "claude-2.1", "prompt": PROMPT, "max_tokens_to_sample": 100, "stream": False, **FIELDS}
    completion = raw.parse()
    pieces = list(client.completions.create(model="claude-2.1", prompt=PROMPT, max_tokens_to_sample=100, stream=True, **FIELDS))
    assert "".join(p.completion for p in pieces) == completion.completion
    for fields, message in REFUSED:
        with pytest.raises(anthropic.BadRequestError) as info:
            client.completions.create(model="claude-2.1", prompt=PROMPT, max_tokens_to_sample=100, **{**FIELDS, **fields})
        assert info.value.body["error"] == {"type": "invalid_request_error", "message": message}
    with pytest.raises(anthropic.BadRequestError, match="stream: value could not be parsed to a boolean"):
        client.completions.create(model="claude-2.1", prompt=PROMPT, max_tokens_to_sample=100, stream="yes")  # type: ignore[call-overload]


def test_async_completions_with_every_field(base_url: str) -> None:
    async def main() -> None:
        client = anthropic.AsyncAnthropic(base_url=base_url, api_key="sk-ant-legacy", _strict_response_validation=True, max_retries=0)
        completion = await client.completions.create(model="claude-instant-1.2", prompt=PROMPT, max_tokens_to_sample=100, **FIELDS)
        stream = await client.completions.create(model="claude-instant-1.2", prompt=PROMPT, max_tokens_to_sample=100, stream=True, **FIELDS)
        assert "".join([p.completion async for p in stream]) == completion.completion
        for fields, message in REFUSED:
            with pytest.raises(anthropic.BadRequestError) as info:
                await client.completions.create(model="claude-instant-1.2", prompt=PROMPT, max_tokens_to_sample=100, **{**FIELDS, **fields})
            assert info.value.body["error"] == {"type": "invalid_request_error", "message": message}

    asyncio.run(main())


def test_bedrock_completions_with_every_field(base_url: str) -> None:
    # The body carries anthropic_version; the model and the stream flag travel in the path.
    client = anthropic.AnthropicBedrock(aws_access_key="AKIAMOCK", aws_secret_key="mock", aws_region="us-east-1",
                                        base_url=base_url, max_retries=0)
    raw = client.completions.with_raw_response.create(model="anthropic.claude-v2:1", prompt=PROMPT, max_tokens_to_sample=50, **FIELDS)
    assert json.loads(raw.http_request.content) == {
        "prompt": PROMPT, "max_tokens_to_sample": 50, **FIELDS, "anthropic_version": "bedrock-2023-05-31"}
    completion = raw.parse()
    assert "".join(c.completion for c in client.completions.create(
        model="anthropic.claude-v2:1", prompt=PROMPT, max_tokens_to_sample=50, stream=True, **FIELDS)) == completion.completion
    for fields, message in REFUSED:
        with pytest.raises(anthropic.BadRequestError) as info:
            client.completions.create(model="anthropic.claude-v2:1", prompt=PROMPT, max_tokens_to_sample=50, **{**FIELDS, **fields})
        assert info.value.body == {"message": message}  # Bedrock's ValidationException body


def test_bedrock_with_its_own_version(base_url: str) -> None:
    client = anthropic.AnthropicBedrock(aws_access_key="AKIAMOCK", aws_secret_key="mock", aws_region="us-east-1",
                                        base_url=base_url, _strict_response_validation=True, max_retries=0)
    raw = client.messages.with_raw_response.create(model="anthropic.claude-haiku-4-5-20251001-v1:0", max_tokens=100, messages=HI)
    assert json.loads(raw.http_request.content)["anthropic_version"] == "bedrock-2023-05-31"
    assert raw.parse().id.startswith("msg_bdrk_")
    with client.messages.stream(model="us.anthropic.claude-haiku-4-5-20251001-v1:0", max_tokens=100, messages=HI) as stream:
        assert stream.get_final_message().content
    # Bedrock's Claude 2 body has no id, type or model (AWS's docs), which 0.49's strict Completion
    # type requires: the SDK's default (lenient) parsing reads it.
    client = anthropic.AnthropicBedrock(aws_access_key="AKIAMOCK", aws_secret_key="mock", aws_region="us-east-1", base_url=base_url)
    completion = client.completions.create(model="anthropic.claude-v2:1", prompt=PROMPT, max_tokens_to_sample=50)
    assert completion.completion.startswith(" ")
    assert "".join(c.completion for c in client.completions.create(
        model="anthropic.claude-v2:1", prompt=PROMPT, max_tokens_to_sample=50, stream=True)) == completion.completion


def test_vertex_with_its_own_version(base_url: str) -> None:
    client = anthropic.AnthropicVertex(region="us-east5", project_id="mock-project", access_token="mock-token",
                                       base_url=base_url + "/v1", _strict_response_validation=True, max_retries=0)
    raw = client.messages.with_raw_response.create(model="claude-haiku-4-5@20251001", max_tokens=100, messages=HI)
    assert json.loads(raw.http_request.content)["anthropic_version"] == "vertex-2023-10-16"
    assert raw.parse().id.startswith("msg_vrtx_")
    assert [e.type for e in client.messages.create(model="claude-haiku-4-5@20251001", max_tokens=100, messages=HI, stream=True)][-1] == "message_stop"
    assert client.messages.count_tokens(model="claude-haiku-4-5@20251001", messages=HI).input_tokens > 0

"""Bedrock, Vertex and the first-party doors through the official platform clients (SDK 2.12,
strict response validation) over a real socket: sync and async, streamed and not, their errors,
and scenarios, faults, rate limits and the journal on those endpoints."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import anthropic
import httpx2
import pytest

from mockserver.cassettes import format as fmt
from mockserver.harness.testing import MockServer
from mockserver.protocol import eventstream
from mockserver.scenarios import build

HAIKU_BEDROCK = "anthropic.claude-haiku-4-5-20251001-v1:0"
HAIKU_VERTEX = "claude-haiku-4-5@20251001"
HI = [{"role": "user", "content": "Hello from a platform"}]
BEDROCK_THROTTLED = "Too many requests, please wait before trying again."  # a real Bedrock 429's body (docs/protocol.md)
SIGV4 = "AWS4-HMAC-SHA256 Credential=AKIAMOCK/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00"


@pytest.fixture
def bedrock(mockserver: MockServer) -> anthropic.AnthropicBedrock:
    return mockserver.bedrock_client(max_retries=0)


@pytest.fixture
def vertex(mockserver: MockServer) -> anthropic.AnthropicVertex:
    return mockserver.vertex_client(max_retries=0)


def stream_types(stream: Any) -> list[str]:
    return [event.type for event in stream]


# -- Bedrock -----------------------------------------------------------------------------------
def test_bedrock_invoke(bedrock: anthropic.AnthropicBedrock, mockserver: MockServer) -> None:
    raw = bedrock.messages.with_raw_response.create(model=HAIKU_BEDROCK, max_tokens=200, messages=HI)
    message = raw.parse()
    assert message.id.startswith("msg_bdrk_01") and message.model == "claude-haiku-4-5-20251001"
    assert message.content[0].type == "text" and message.stop_reason == "end_turn"
    assert raw.http_request.url.path == f"/model/{HAIKU_BEDROCK}/invoke"
    assert raw.headers["content-type"] == "application/json"
    assert len(raw.headers["x-amzn-requestid"]) == 36 and "request-id" not in raw.headers and "cf-ray" not in raw.headers
    assert int(raw.headers["x-amzn-bedrock-output-token-count"]) == message.usage.output_tokens
    sent = json.loads(raw.http_request.content)
    assert "model" not in sent and sent["anthropic_version"] == "2026-10-21"  # what SDK 2.x sends
    (entry,) = mockserver.journal.calls(endpoint="bedrock.invoke")
    assert entry.status == 200 and entry.model == "claude-haiku-4-5-20251001"


def test_bedrock_stream(bedrock: anthropic.AnthropicBedrock) -> None:
    raw = bedrock.messages.with_raw_response.create(model=HAIKU_BEDROCK, max_tokens=200, messages=HI, stream=True)
    assert raw.headers["content-type"] == eventstream.CONTENT_TYPE
    assert raw.headers["x-amzn-bedrock-content-type"] == "application/json"
    types = stream_types(raw.parse())
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    with bedrock.messages.stream(model=HAIKU_BEDROCK, max_tokens=200, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.id.startswith("msg_bdrk_") and text == final.content[0].text


def test_bedrock_stream_frames_decode_with_botocore(mockserver: MockServer) -> None:
    from botocore.eventstream import EventStreamBuffer

    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": HI}
    response = httpx2.post(f"{mockserver.url}/model/{HAIKU_BEDROCK}/invoke-with-response-stream", json=body, headers={"authorization": SIGV4})
    buffer = EventStreamBuffer()
    buffer.add_data(response.content)
    events = [json.loads(base64.b64decode(json.loads(m.payload)["bytes"])) for m in buffer]
    assert [m.headers for m in [eventstream.decode(p) for p in eventstream.split(response.content)]][0] == {
        ":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"
    }
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    metrics = events[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["outputTokenCount"] == events[-2]["usage"]["output_tokens"]


def test_bedrock_async(mockserver: MockServer) -> None:
    async def main() -> None:
        client = mockserver.bedrock_client(async_=True, max_retries=0)
        message = await client.messages.create(model=HAIKU_BEDROCK, max_tokens=100, messages=HI)
        assert message.id.startswith("msg_bdrk_")
        types = [event.type async for event in await client.messages.create(model=HAIKU_BEDROCK, max_tokens=100, messages=HI, stream=True)]
        assert types[-1] == "message_stop"
        async with client.messages.stream(model=HAIKU_BEDROCK, max_tokens=100, messages=HI) as stream:
            assert (await stream.get_final_message()).stop_reason == "end_turn"

    asyncio.run(main())


@pytest.mark.parametrize("model_id", [
    "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "global.anthropic.claude-haiku-4-5-20251001-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-opus-4-6-v1",
])
def test_bedrock_model_ids(bedrock: anthropic.AnthropicBedrock, model_id: str) -> None:
    message = bedrock.messages.create(model=model_id, max_tokens=50, messages=HI)
    assert message.model.startswith("claude-")


def test_bedrock_errors(bedrock: anthropic.AnthropicBedrock) -> None:
    with pytest.raises(anthropic.BadRequestError) as invalid:
        bedrock.messages.create(model="anthropic.claude-nonexistent-v9:0", max_tokens=50, messages=HI)
    assert invalid.value.body == {"message": "The provided model identifier is invalid."}
    assert invalid.value.response.headers["x-amzn-errortype"].startswith("ValidationException:")
    with pytest.raises(anthropic.NotFoundError) as retired:
        bedrock.messages.create(model="anthropic.claude-3-5-sonnet-20240620-v1:0", max_tokens=50, messages=HI)
    assert retired.value.response.headers["x-amzn-errortype"].startswith("ResourceNotFoundException:")
    with pytest.raises(anthropic.BadRequestError) as validation:  # the model's own check, as a ValidationException
        bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=50, messages=[])
    assert validation.value.body == {"message": "messages: at least one message is required"}


def test_bedrock_body_and_credentials(mockserver: MockServer) -> None:
    url = f"{mockserver.url}/model/{HAIKU_BEDROCK}/invoke"
    ok = httpx2.post(url, json={"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "messages": HI, "temperature": 0.5},
                     headers={"authorization": SIGV4})
    assert ok.status_code == 200  # the platform's own version reads as 2023-06-01: temperature exists
    missing = httpx2.post(url, json={"max_tokens": 20, "messages": HI}, headers={"authorization": SIGV4})
    assert missing.status_code == 400 and "required key [anthropic_version] not found" in missing.json()["message"]
    unsigned = httpx2.post(url, json={"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "messages": HI})
    assert unsigned.status_code == 403 and unsigned.json() == {"message": "Missing Authentication Token"}
    assert unsigned.headers["x-amzn-errortype"].startswith("MissingAuthenticationTokenException")
    key = httpx2.post(url, json={"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "messages": HI},
                      headers={"authorization": "Bearer bedrock-api-key"})
    assert key.status_code == 200  # a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK)


def test_bedrock_api_key_list(make_server: Any) -> None:
    server = make_server(api_keys=frozenset({"AKIAMOCKSERVERTEST"}))
    assert server.bedrock_client().messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI).content
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        server.bedrock_client(aws_access_key="AKIAOTHER", max_retries=0).messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI)
    assert refused.value.body == {"message": "The security token included in the request is invalid."}


def test_bedrock_betas_in_the_body(bedrock: anthropic.AnthropicBedrock, mockserver: MockServer) -> None:
    message = bedrock.beta.messages.create(model=HAIKU_BEDROCK, max_tokens=50, messages=HI, betas=["context-management-2025-06-27"])
    assert message.id.startswith("msg_bdrk_")
    sent = json.loads(mockserver.journal.last_request(endpoint="bedrock.invoke").request_bytes)
    assert sent["anthropic_beta"] == ["context-management-2025-06-27"]
    assert mockserver.api.journal is not None


def test_bedrock_text_completions_body_is_refused_for_messages_models(mockserver: MockServer) -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "prompt": "\n\nHuman: Hi\n\nAssistant:", "max_tokens_to_sample": 20}
    response = httpx2.post(f"{mockserver.url}/model/{HAIKU_BEDROCK}/invoke", json=body, headers={"authorization": SIGV4})
    assert response.status_code == 400
    assert response.json() == {"message": '"claude-haiku-4-5-20251001" is not supported on this API. Please use the Messages API instead.'}


def test_bedrock_through_boto3(mockserver: MockServer) -> None:
    """AWS's own client agrees: InvokeModel, InvokeModelWithResponseStream, CountTokens, errors."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=mockserver.url, aws_access_key_id="AKIAMOCK",
        aws_secret_access_key="mock", config=Config(retries={"max_attempts": 1}),
    )
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": HI})
    answer = json.loads(client.invoke_model(modelId=HAIKU_BEDROCK, body=body)["body"].read())
    assert answer["type"] == "message" and answer["id"].startswith("msg_bdrk_")
    streamed = client.invoke_model_with_response_stream(modelId=HAIKU_BEDROCK, body=body)
    events = [json.loads(part["chunk"]["bytes"]) for part in streamed["body"]]
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    counted = client.count_tokens(modelId=HAIKU_BEDROCK, input={"invokeModel": {"body": body.encode()}})
    assert counted["inputTokens"] > 0
    with pytest.raises(client.exceptions.ValidationException):
        client.invoke_model(modelId="anthropic.claude-nonexistent-v9:0", body=body)
    mockserver.error(429)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.invoke_model(modelId=HAIKU_BEDROCK, body=body)


# -- Vertex ------------------------------------------------------------------------------------
def test_vertex_raw_predict(vertex: anthropic.AnthropicVertex, mockserver: MockServer) -> None:
    raw = vertex.messages.with_raw_response.create(model=HAIKU_VERTEX, max_tokens=200, messages=HI)
    message = raw.parse()
    assert message.id.startswith("msg_vrtx_01") and message.model == "claude-haiku-4-5-20251001"
    assert raw.http_request.url.path == f"/v1/projects/mock-project/locations/us-east5/publishers/anthropic/models/{HAIKU_VERTEX}:rawPredict"
    assert json.loads(raw.http_request.content)["anthropic_version"] == "2026-10-21"
    assert mockserver.journal.calls(endpoint="vertex.raw_predict")[0].status == 200


def test_vertex_stream_and_count(vertex: anthropic.AnthropicVertex) -> None:
    types = stream_types(vertex.messages.create(model=HAIKU_VERTEX, max_tokens=100, messages=HI, stream=True))
    assert types[0] == "message_start" and types[-1] == "message_stop"
    with vertex.messages.stream(model=HAIKU_VERTEX, max_tokens=100, messages=HI) as stream:
        assert stream.get_final_message().id.startswith("msg_vrtx_")
    assert vertex.messages.count_tokens(model=HAIKU_VERTEX, messages=HI).input_tokens > 0


def test_vertex_global_region_and_async(mockserver: MockServer) -> None:
    client = mockserver.vertex_client(region="global")
    assert client.messages.create(model="claude-opus-4-6", max_tokens=50, messages=HI).model == "claude-opus-4-6"

    async def main() -> None:
        aclient = mockserver.vertex_client(async_=True, region="global")
        assert (await aclient.messages.create(model=HAIKU_VERTEX, max_tokens=50, messages=HI)).id.startswith("msg_vrtx_")
        events = [e.type async for e in await aclient.messages.create(model=HAIKU_VERTEX, max_tokens=50, messages=HI, stream=True)]
        assert events[-1] == "message_stop"
        assert (await aclient.messages.count_tokens(model=HAIKU_VERTEX, messages=HI)).input_tokens > 0

    asyncio.run(main())
    paths = {e.path.split("/models/")[0] for e in mockserver.journal.calls(endpoint=None)}
    assert paths == {"/v1/projects/mock-project/locations/global/publishers/anthropic"}


def test_vertex_errors(vertex: anthropic.AnthropicVertex, mockserver: MockServer) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        vertex.messages.create(model="claude-nonexistent@20990101", max_tokens=50, messages=HI)
    error = missing.value.body["error"]
    assert error["code"] == 404 and error["status"] == "NOT_FOUND" and error["message"].startswith("Publisher Model `projects/mock-project/")
    with pytest.raises(anthropic.NotFoundError) as streamed:  # streamRawPredict wraps Google errors in a list
        vertex.messages.create(model="claude-nonexistent@20990101", max_tokens=50, messages=HI, stream=True)
    assert isinstance(streamed.value.body, list) and streamed.value.body[0]["error"]["status"] == "NOT_FOUND"
    with pytest.raises(anthropic.BadRequestError) as invalid:  # the model's own errors pass through
        vertex.messages.create(model=HAIKU_VERTEX, max_tokens=50, messages=[])
    assert invalid.value.body["error"]["type"] == "invalid_request_error"
    assert invalid.value.body["request_id"].startswith("req_vrtx_")
    mockserver.set_rate_limits(requests_per_minute=1)
    vertex.messages.create(model=HAIKU_VERTEX, max_tokens=50, messages=HI)
    with pytest.raises(anthropic.RateLimitError) as limited:
        vertex.messages.create(model=HAIKU_VERTEX, max_tokens=50, messages=HI)
    assert limited.value.body["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "Quota exceeded for aiplatform.googleapis.com" in limited.value.body["error"]["message"]
    token = httpx2.post(f"{mockserver.url}/v1/projects/p/locations/us-east5/publishers/anthropic/models/{HAIKU_VERTEX}:rawPredict",
                        json={"anthropic_version": "vertex-2023-10-16", "max_tokens": 5, "messages": HI})
    assert token.status_code == 401 and token.json()["error"]["status"] == "UNAUTHENTICATED"


# -- Vertex's 429: the base model it names, and a message the user gave --------------------------
def vertex_quota(base_model: str) -> str:
    return ("Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: "
            f"{base_model}. Please submit a quota increase request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai.")


def test_vertex_quota_names_the_base_model_of_the_vertex_path(mockserver: MockServer) -> None:
    """Vertex's 429 names its base model, ``anthropic-`` and the model of the Vertex call without
    its ``@version`` (aider#1912: ``claude-3-5-sonnet@20240620`` -> ``anthropic-claude-3-5-sonnet``);
    it named the Anthropic id (``anthropic-claude-haiku-4-5-20251001``). Sync and async, plain,
    streamed and counted."""
    mockserver.set_rate_limits(requests_per_minute=1)
    vertex = mockserver.vertex_client(max_retries=0)
    vertex.messages.create(model=HAIKU_VERTEX, max_tokens=20, messages=HI)
    with pytest.raises(anthropic.RateLimitError) as limited:
        vertex.messages.create(model=HAIKU_VERTEX, max_tokens=20, messages=HI)
    assert limited.value.body == {"error": {"code": 429, "message": vertex_quota("anthropic-claude-haiku-4-5"), "status": "RESOURCE_EXHAUSTED"}}
    with pytest.raises(anthropic.RateLimitError) as streamed:
        vertex.messages.create(model=HAIKU_VERTEX, max_tokens=20, messages=HI, stream=True)
    assert streamed.value.body == [{"error": {"code": 429, "message": vertex_quota("anthropic-claude-haiku-4-5"), "status": "RESOURCE_EXHAUSTED"}}]
    mockserver.error(429, match={"endpoint": "vertex.count_tokens"}, times=1)
    with pytest.raises(anthropic.RateLimitError) as counted:  # count-tokens: the model the body names
        vertex.messages.count_tokens(model=HAIKU_VERTEX, messages=HI)
    assert counted.value.body["error"]["message"] == vertex_quota("anthropic-claude-haiku-4-5")

    async def main() -> list[str]:
        client = mockserver.vertex_client(async_=True, max_retries=0, region="global")
        messages = []
        for model in ("claude-sonnet-4-5@20250929", "claude-opus-4-6"):
            await client.messages.create(model=model, max_tokens=20, messages=HI)
            with pytest.raises(anthropic.RateLimitError) as raised:
                await client.messages.create(model=model, max_tokens=20, messages=HI, stream=True)
            messages.append(raised.value.body[0]["error"]["message"])
        return messages

    assert asyncio.run(main()) == [vertex_quota("anthropic-claude-sonnet-4-5"), vertex_quota("anthropic-claude-opus-4-6")]


def test_a_rate_limit_message_the_user_gave_is_kept_on_vertex(make_server: Any, tmp_path: Any) -> None:
    """A rate_limit_error (or ``error: 429``) with a ``message`` says that message on Vertex, in
    Google's shape: the quota wording overwrote it. With no message it is still the quota wording.
    Scenario file, Python API and admin API; sync and async."""
    scenario = tmp_path / "vertex-rate-limits.yaml"
    scenario.write_text("""
- match: {endpoint: vertex.raw_predict}
  sequence:
    - error: {type: rate_limit_error, message: "Slow down, says the rule."}
    - error: {status: 429, retry_after: 1, message: "Slow down, says the status."}
    - error: rate_limit_error
    - error: 429
    - reply: fine
""", encoding="utf-8")
    server = make_server(scenario_files=(scenario,))
    vertex = server.vertex_client(max_retries=0)
    for message in ("Slow down, says the rule.", "Slow down, says the status.", vertex_quota("anthropic-claude-haiku-4-5"),
                    vertex_quota("anthropic-claude-haiku-4-5")):
        with pytest.raises(anthropic.RateLimitError) as raised:
            vertex.messages.create(model=HAIKU_VERTEX, max_tokens=20, messages=HI)
        assert raised.value.body == {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED"}}
    server.error(429, type="rate_limit_error", message="Scripted slow down.", match={"endpoint": "vertex.stream_raw_predict"}, times=1)
    admin = httpx2.post(f"{server.url}/_mock/rules", json={
        "match": {"endpoint": "vertex.count_tokens"}, "times": 1, "error": {"type": "rate_limit_error", "message": "Admin slow down."}})
    assert admin.status_code == 201
    server.fault(random_error={"probability": 1, "type": "rate_limit_error", "message": "Random slow down."},
                 match={"endpoint": "vertex.raw_predict"}, times=1)

    async def main() -> list[Any]:
        client = server.vertex_client(async_=True, max_retries=0)
        bodies = []
        for call in (client.messages.create(model=HAIKU_VERTEX, max_tokens=20, messages=HI, stream=True),
                     client.messages.count_tokens(model=HAIKU_VERTEX, messages=HI),
                     client.messages.create(model=HAIKU_VERTEX, max_tokens=20, messages=HI)):
            with pytest.raises(anthropic.RateLimitError) as raised:
                await call
            bodies.append(raised.value.body)
        return bodies

    assert asyncio.run(main()) == [
        [{"error": {"code": 429, "message": "Scripted slow down.", "status": "RESOURCE_EXHAUSTED"}}],
        {"error": {"code": 429, "message": "Admin slow down.", "status": "RESOURCE_EXHAUSTED"}},
        {"error": {"code": 429, "message": "Random slow down.", "status": "RESOURCE_EXHAUSTED"}},
    ]


def test_a_rate_limit_message_the_user_gave_is_kept_on_bedrock(mockserver: MockServer) -> None:
    """Bedrock's ThrottlingException says the message given (it always did; kept so), and
    Bedrock's own sentence when none is (it said the API's rate-limit sentence)."""
    mockserver.sequence([build.error(429, message="Slow down, Bedrock."), build.error(type="rate_limit_error")], match={"endpoint": "bedrock.invoke"})
    bedrock = mockserver.bedrock_client(max_retries=0)
    for message in ("Slow down, Bedrock.", BEDROCK_THROTTLED):
        with pytest.raises(anthropic.RateLimitError) as raised:
            bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI)
        assert raised.value.body == {"message": message}
        assert raised.value.response.headers["x-amzn-errortype"].startswith("ThrottlingException:")


# -- model ids a platform spells its own way -----------------------------------------------------
SONNET_3_5_V2_VERTEX = "claude-3-5-sonnet-v2@20241022"  # Anthropic's Vertex docs: "Claude Sonnet 3.5 | claude-3-5-sonnet-v2@20241022"
SONNET_3_5_V2_BEDROCK = "anthropic.claude-3-5-sonnet-20241022-v2:0"


def _sonnet_3_5_v2_active(tmp_path: Any) -> Any:
    """The shipped catalog with Claude 3.5 Sonnet v2 active (it is retired there, so both doors
    answer 404 for it whatever its name)."""
    from mockserver.protocol.catalog import DEFAULT_PATH

    text = DEFAULT_PATH.read_text(encoding="utf-8")
    start = text.index("- id: claude-3-5-sonnet-20241022")
    retired = "lifecycle: retired\n    deprecated_at: 2025-08-13\n    retires_at: 2025-10-28"
    at = text.index(retired, start)
    path = tmp_path / "models.yaml"
    path.write_text(text[:at] + "lifecycle: active\n    deprecated_at: null\n    retires_at: null" + text[at + len(retired):], encoding="utf-8")
    return path


def test_vertex_names_claude_3_5_sonnet_v2_its_own_way(make_server: Any, tmp_path: Any) -> None:
    """``claude-3-5-sonnet-v2@20241022`` is Claude 3.5 Sonnet v2 on Vertex (the catalog's
    ``vertex_ids``): it was a 404, no catalog id being ``claude-3-5-sonnet-v2-20241022``. Sync and
    async, plain, streamed and counted; Bedrock's ``…-20241022-v2:0`` names the same model; the
    quota names Vertex's base model ``anthropic-claude-3-5-sonnet-v2`` (cline#651)."""
    server = make_server(models_file=_sonnet_3_5_v2_active(tmp_path))
    vertex = server.vertex_client(max_retries=0)
    message = vertex.messages.create(model=SONNET_3_5_V2_VERTEX, max_tokens=20, messages=HI)
    assert message.model == "claude-3-5-sonnet-20241022" and message.id.startswith("msg_vrtx_")
    with vertex.messages.stream(model=SONNET_3_5_V2_VERTEX, max_tokens=20, messages=HI) as stream:
        assert stream.get_final_message().model == "claude-3-5-sonnet-20241022"
    assert vertex.messages.count_tokens(model=SONNET_3_5_V2_VERTEX, messages=HI).input_tokens > 0
    assert vertex.messages.create(model=HAIKU_VERTEX, max_tokens=20, messages=HI).model == "claude-haiku-4-5-20251001"
    with pytest.raises(anthropic.NotFoundError):  # still retired in this file
        vertex.messages.create(model="claude-3-5-sonnet@20240620", max_tokens=20, messages=HI)
    bedrock = server.bedrock_client(max_retries=0)
    for model_id in (SONNET_3_5_V2_BEDROCK, "us." + SONNET_3_5_V2_BEDROCK):
        assert bedrock.messages.create(model=model_id, max_tokens=20, messages=HI).model == "claude-3-5-sonnet-20241022"

    async def main() -> str:
        client = server.vertex_client(async_=True, max_retries=0, region="global")
        events = [e async for e in await client.messages.create(model=SONNET_3_5_V2_VERTEX, max_tokens=20, messages=HI, stream=True)]
        assert events[-1].type == "message_stop"
        return (await client.messages.create(model=SONNET_3_5_V2_VERTEX, max_tokens=20, messages=HI)).model

    assert asyncio.run(main()) == "claude-3-5-sonnet-20241022"
    assert {e.model for e in server.journal.calls(endpoint="vertex.raw_predict") if e.status == 200} == {"claude-3-5-sonnet-20241022", "claude-haiku-4-5-20251001"}
    server.set_rate_limits(requests_per_minute=1)
    vertex.messages.create(model=SONNET_3_5_V2_VERTEX, max_tokens=20, messages=HI)
    with pytest.raises(anthropic.RateLimitError) as limited:
        vertex.messages.create(model=SONNET_3_5_V2_VERTEX, max_tokens=20, messages=HI)
    assert limited.value.body["error"]["message"] == vertex_quota("anthropic-claude-3-5-sonnet-v2")


def test_claude_3_5_sonnet_v2_on_the_shipped_catalog(mockserver: MockServer, make_server: Any) -> None:
    """In the shipped catalog the model is retired, so both doors refuse it as retired (not as an
    unknown name); with ``--any-model`` the Vertex name is the model, not ``claude-3-5-sonnet-v2-20241022``."""
    with pytest.raises(anthropic.NotFoundError) as vertex_retired:
        mockserver.vertex_client(max_retries=0).messages.create(model=SONNET_3_5_V2_VERTEX, max_tokens=20, messages=HI)
    assert vertex_retired.value.body["error"]["status"] == "NOT_FOUND"
    with pytest.raises(anthropic.NotFoundError) as bedrock_retired:
        mockserver.bedrock_client(max_retries=0).messages.create(model=SONNET_3_5_V2_BEDROCK, max_tokens=20, messages=HI)
    assert bedrock_retired.value.response.headers["x-amzn-errortype"].startswith("ResourceNotFoundException:")
    anything = make_server(any_model=True)
    assert anything.vertex_client(max_retries=0).messages.create(
        model=SONNET_3_5_V2_VERTEX, max_tokens=20, messages=HI).model == "claude-3-5-sonnet-20241022"


# -- the first-party wire behind other doors ---------------------------------------------------
def test_foundry(mockserver: MockServer) -> None:
    client = anthropic.AnthropicFoundry(base_url=mockserver.url + "/anthropic/", api_key="foundry-key", _strict_response_validation=True)
    assert client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=HI).id.startswith("msg_01")
    assert stream_types(client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=HI, stream=True))[-1] == "message_stop"
    assert client.messages.count_tokens(model="claude-haiku-4-5", messages=HI).input_tokens > 0
    assert [e.endpoint for e in mockserver.journal.calls(endpoint=None)] == ["messages.create", "messages.create", "messages.count_tokens"]

    async def main() -> None:
        aclient = anthropic.AsyncAnthropicFoundry(base_url=mockserver.url + "/anthropic/", api_key="k", _strict_response_validation=True)
        assert (await aclient.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=HI)).content

    asyncio.run(main())


def test_bedrock_mantle_aws_and_google_cloud(mockserver: MockServer) -> None:
    clients = [
        anthropic.AnthropicBedrockMantle(base_url=mockserver.url + "/anthropic", aws_access_key="AKIAMOCK", aws_secret_key="s",
                                         aws_region="us-east-1", _strict_response_validation=True),
        anthropic.AnthropicBedrockMantle(base_url=mockserver.url + "/anthropic", api_key="mantle-key", aws_region="us-east-1",
                                         _strict_response_validation=True),
        anthropic.AnthropicAWS(base_url=mockserver.url, aws_access_key="AKIAMOCK", aws_secret_key="s", aws_region="us-east-1",
                               workspace_id="wrkspc_mock", _strict_response_validation=True),
        anthropic.AnthropicGoogleCloud(project="mock-project", workspace_id="wrkspc_mock", token_provider=lambda: "mock-token",
                                       base_url=mockserver.url + "/v1/projects/mock-project/locations/global/workspaces/wrkspc_mock/invoke",
                                       _strict_response_validation=True),
    ]
    for client in clients:
        assert client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=HI).content
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=HI) as stream:
            assert stream.get_final_message().stop_reason in ("end_turn", "max_tokens")
    assert {e.status for e in mockserver.journal.calls()} == {200}


# -- scenarios, faults, rate limits and the journal on the platform endpoints --------------------
def test_scenario_rules_by_endpoint(bedrock: anthropic.AnthropicBedrock, vertex: anthropic.AnthropicVertex, mockserver: MockServer) -> None:
    mockserver.reply("Anywhere else.")  # no endpoint: every Messages call, whatever the door
    mockserver.reply("From Bedrock only.", match={"endpoint": "bedrock.*"})  # (the newer rule first)
    assert bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=50, messages=HI).content[0].text == "From Bedrock only."
    with bedrock.messages.stream(model=HAIKU_BEDROCK, max_tokens=50, messages=HI) as stream:
        assert stream.get_final_text() == "From Bedrock only."
    assert vertex.messages.create(model=HAIKU_VERTEX, max_tokens=50, messages=HI).content[0].text == "Anywhere else."
    mockserver.error(529, match={"endpoint": "bedrock.invoke"})
    with pytest.raises(anthropic.InternalServerError) as unavailable:
        bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=50, messages=HI)
    assert unavailable.value.status_code == 503 and unavailable.value.response.headers["x-amzn-errortype"].startswith("ServiceUnavailableException")
    mockserver.error(429, type="ThrottlingException", message="Too many requests, please wait before trying again.",
                     match={"endpoint": "bedrock.invoke_stream"})
    with pytest.raises(anthropic.RateLimitError) as throttled:
        bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=50, messages=HI, stream=True)
    assert throttled.value.body == {"message": "Too many requests, please wait before trying again."}


def test_a_platform_error_named_in_a_scenario_file_takes_its_status(make_server: Any, tmp_path: Any) -> None:
    """docs/protocol.md: a rule may name a Bedrock exception or a Google status without a
    ``status``; the status is the platform's own for that name (it was refused at load)."""
    scenario = tmp_path / "platform-errors.yaml"
    scenario.write_text("""
- {name: throttled, match: {endpoint: bedrock.invoke}, error: {type: ThrottlingException, message: "Too many requests, please wait before trying again."}}
- {name: unavailable, match: {endpoint: bedrock.invoke_stream}, error: ServiceUnavailableException}
- {name: quota, match: {endpoint: vertex.raw_predict}, error: {type: RESOURCE_EXHAUSTED, message: Quota exceeded.}}
- {name: quota-stream, match: {endpoint: vertex.stream_raw_predict}, error: RESOURCE_EXHAUSTED}
""", encoding="utf-8")
    server = make_server(scenario_files=(scenario,))
    bedrock, vertex = server.bedrock_client(max_retries=0), server.vertex_client(max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as throttled:
        bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=50, messages=HI)
    assert throttled.value.status_code == 429 and throttled.value.body == {"message": "Too many requests, please wait before trying again."}
    assert throttled.value.response.headers["x-amzn-errortype"].startswith("ThrottlingException:http://internal.amazon.com/")
    with pytest.raises(anthropic.InternalServerError) as unavailable:
        bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=50, messages=HI, stream=True)
    assert unavailable.value.status_code == 503
    assert unavailable.value.response.headers["x-amzn-errortype"].startswith("ServiceUnavailableException:")
    with pytest.raises(anthropic.RateLimitError) as quota:
        vertex.messages.create(model=HAIKU_VERTEX, max_tokens=50, messages=HI)
    assert quota.value.status_code == 429
    assert quota.value.body == {"error": {"code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED"}}
    with pytest.raises(anthropic.RateLimitError) as streamed:
        vertex.messages.create(model=HAIKU_VERTEX, max_tokens=50, messages=HI, stream=True)
    assert streamed.value.status_code == 429 and streamed.value.body[0]["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert [(c.origin, c.status) for c in server.journal.calls(endpoint=None)] == [
        ("throttled", 429), ("unavailable", 503), ("quota", 429), ("quota-stream", 429)]



def test_an_error_bedrock_has_no_exception_for_takes_the_exception_of_its_status(make_server: Any, tmp_path: Any) -> None:
    """A scripted error whose type is neither the API's nor a Bedrock exception (a Google status,
    a custom type) is the exception botocore gives its status, with that status: it was a
    ValidationException 400 below 500."""
    scenario = tmp_path / "bedrock-fallback.yaml"
    scenario.write_text("""
- match: {endpoint: bedrock.invoke}
  sequence:
    - error: RESOURCE_EXHAUSTED
    - error: {type: quota_exceeded, status: 429, message: Slow down.}
    - error: {type: no_entry, status: 403, message: Not for you.}
    - error: {type: missing, status: 404, message: Gone.}
    - error: {type: too_slow, status: 408, message: Took too long.}
    - error: {type: model_broke, status: 424, message: The model failed.}
""", encoding="utf-8")
    server = make_server(scenario_files=(scenario,))
    bedrock = server.bedrock_client(max_retries=0)
    expected = [
        (anthropic.RateLimitError, 429, "ThrottlingException"), (anthropic.RateLimitError, 429, "ThrottlingException"),
        (anthropic.PermissionDeniedError, 403, "AccessDeniedException"), (anthropic.NotFoundError, 404, "ResourceNotFoundException"),
        (anthropic.RequestTimeoutError, 408, "ModelTimeoutException"), (anthropic.APIStatusError, 424, "ModelErrorException"),
    ]
    for error_class, status, name in expected:
        with pytest.raises(anthropic.APIStatusError) as raised:
            bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=50, messages=HI)
        assert type(raised.value) is error_class and raised.value.status_code == status
        assert raised.value.response.headers["x-amzn-errortype"] == name + ":http://internal.amazon.com/coral/com.amazon.bedrock/"
    assert raised.value.body == {"message": "The model failed."}
    assert [c.status for c in server.journal.calls(endpoint="bedrock.invoke")] == [429, 429, 403, 404, 408, 424]


def test_an_error_vertex_does_not_know_takes_the_shape_of_its_status(make_server: Any, tmp_path: Any) -> None:
    """On Vertex, a scripted type neither the API's nor Google's (a Bedrock exception, a custom
    type) answers as its status does: Google's shape for the statuses Vertex raises itself
    (401, 403, 404, 429), the API's otherwise. A 429 passed through as an Anthropic error."""
    scenario = tmp_path / "vertex-fallback.yaml"
    scenario.write_text("""
- match: {endpoint: vertex.raw_predict}
  sequence:
    - error: {type: ThrottlingException, message: Too many requests.}
    - error: {type: quota_exceeded, status: 429, message: Slow down.}
    - error: {type: AccessDeniedException, message: Not for you.}
    - error: {type: missing, status: 404, message: Gone.}
    - error: {type: my_bad_request, status: 400, message: Bad.}
""", encoding="utf-8")
    server = make_server(scenario_files=(scenario,))
    vertex = server.vertex_client(max_retries=0)
    expected = [
        (anthropic.RateLimitError, 429, "RESOURCE_EXHAUSTED", "Too many requests."), (anthropic.RateLimitError, 429, "RESOURCE_EXHAUSTED", "Slow down."),
        (anthropic.PermissionDeniedError, 403, "PERMISSION_DENIED", "Not for you."), (anthropic.NotFoundError, 404, "NOT_FOUND", "Gone."),
    ]
    for error_class, status, google, message in expected:
        with pytest.raises(anthropic.APIStatusError) as raised:
            vertex.messages.create(model=HAIKU_VERTEX, max_tokens=50, messages=HI)
        assert type(raised.value) is error_class and raised.value.status_code == status
        assert raised.value.body == {"error": {"code": status, "message": message, "status": google}}
    with pytest.raises(anthropic.BadRequestError) as passed:
        vertex.messages.create(model=HAIKU_VERTEX, max_tokens=50, messages=HI)
    assert passed.value.body["error"] == {"type": "my_bad_request", "message": "Bad."}
    assert passed.value.body["request_id"].startswith("req_vrtx_")


def test_a_random_error_of_a_platform_name_takes_its_status(make_server: Any, tmp_path: Any) -> None:
    """``random_error`` with a platform's own name and no status takes that name's status, 429
    here, on either door: it was a 529 (Vertex passed ThrottlingException through as an
    OverloadedError; Bedrock made RESOURCE_EXHAUSTED a ServiceUnavailableException 503)."""
    scenario = tmp_path / "random-platform-errors.yaml"
    scenario.write_text("""
- {name: throttled, match: {endpoint: vertex.raw_predict}, fault: {random_error: {probability: 1, type: ThrottlingException, message: Too many requests.}}}
- {name: quota, match: {endpoint: bedrock.invoke}, fault: {random_error: {probability: 1, type: RESOURCE_EXHAUSTED, message: Quota exceeded.}}}
""", encoding="utf-8")
    server = make_server(scenario_files=(scenario,))
    bedrock, vertex = server.bedrock_client(max_retries=0), server.vertex_client(max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as throttled:
        vertex.messages.create(model=HAIKU_VERTEX, max_tokens=50, messages=HI)
    assert throttled.value.status_code == 429
    assert throttled.value.body == {"error": {"code": 429, "message": "Too many requests.", "status": "RESOURCE_EXHAUSTED"}}
    with pytest.raises(anthropic.RateLimitError) as quota:
        bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=50, messages=HI)
    assert quota.value.status_code == 429 and quota.value.body == {"message": "Quota exceeded."}
    assert quota.value.response.headers["x-amzn-errortype"].startswith("ThrottlingException:")
    assert [(c.origin, c.status) for c in server.journal.calls(endpoint=None)] == [("throttled", 429), ("quota", 429)]


def test_a_platform_error_without_a_message_says_what_its_door_says_for_its_type(make_server: Any, tmp_path: Any) -> None:
    """With no ``message``, ThrottlingException and RESOURCE_EXHAUSTED said "Error"; they say what
    the door says for rate_limit_error: Bedrock's throttling sentence on Bedrock (it said the
    API's), Vertex's quota wording on Vertex. A name no door answers an API type under keeps
    "Error". The journal keeps the error as the server raised it (the API's sentence)."""
    scenario = tmp_path / "platform-messages.yaml"
    scenario.write_text("""
- match: {endpoint: bedrock.invoke}
  sequence: [{error: ThrottlingException}, {error: RESOURCE_EXHAUSTED}, {error: ResourceNotFoundException}, {error: ModelErrorException}]
- match: {endpoint: vertex.raw_predict}
  sequence: [{error: RESOURCE_EXHAUSTED}, {error: ThrottlingException}, {error: NOT_FOUND}]
- {match: {endpoint: bedrock.invoke_stream}, fault: {random_error: {probability: 1, type: ThrottlingException}}}
""", encoding="utf-8")
    server = make_server(scenario_files=(scenario,))
    bedrock, vertex = server.bedrock_client(max_retries=0), server.vertex_client(max_retries=0)
    rate_limited = "This request would exceed your account's rate limit. Please try again later."
    for error_class, status, message in [
        (anthropic.RateLimitError, 429, BEDROCK_THROTTLED), (anthropic.RateLimitError, 429, BEDROCK_THROTTLED),
        (anthropic.NotFoundError, 404, "Not found"), (anthropic.APIStatusError, 424, "Error"),
    ]:
        with pytest.raises(anthropic.APIStatusError) as raised:
            bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=50, messages=HI)
        assert type(raised.value) is error_class and raised.value.status_code == status and raised.value.body == {"message": message}
    with pytest.raises(anthropic.RateLimitError) as injected:
        bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=50, messages=HI, stream=True)
    assert injected.value.body == {"message": BEDROCK_THROTTLED}
    quota = ("Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: "
             "anthropic-claude-haiku-4-5. Please submit a quota increase request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai.")
    for error_class, status, google, message in [
        (anthropic.RateLimitError, 429, "RESOURCE_EXHAUSTED", quota), (anthropic.RateLimitError, 429, "RESOURCE_EXHAUSTED", quota),
        (anthropic.NotFoundError, 404, "NOT_FOUND", "Not found"),
    ]:
        with pytest.raises(anthropic.APIStatusError) as raised:
            vertex.messages.create(model=HAIKU_VERTEX, max_tokens=50, messages=HI)
        assert type(raised.value) is error_class and raised.value.body == {"error": {"code": status, "message": message, "status": google}}
    assert server.journal.calls(endpoint="bedrock.invoke")[0].error == rate_limited

def test_mid_stream_exception(bedrock: anthropic.AnthropicBedrock, mockserver: MockServer) -> None:
    mockserver.fault(stream_error={"after": 2, "type": "modelStreamErrorException", "message": "The model stopped."},
                     match={"endpoint": "bedrock.invoke_stream"})
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as raised:
        for event in bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=200, messages=HI, stream=True):
            seen.append(event.type)
    assert len(seen) == 2 and raised.value.body == {"type": "error", "error": {"type": "modelStreamErrorException", "message": "The model stopped."}}
    raw = mockserver.journal.last_request(endpoint="bedrock.invoke_stream").response_bytes
    last = eventstream.decode(eventstream.split(raw)[-1])
    assert last is not None and last.headers[":message-type"] == "exception" and last.headers[":exception-type"] == "modelStreamErrorException"


def test_a_mid_stream_throttling_exception_says_what_bedrock_says(bedrock: anthropic.AnthropicBedrock, mockserver: MockServer) -> None:
    """Given no message, a stream's ``throttlingException`` says Bedrock's sentence (it said
    "Overloaded", the fault's old default, whatever the type)."""
    mockserver.fault(stream_error={"after": 2, "type": "throttlingException"}, match={"endpoint": "bedrock.invoke_stream"})
    with pytest.raises(anthropic.APIStatusError) as raised:
        list(bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=200, messages=HI, stream=True))
    assert raised.value.body == {"type": "error", "error": {"type": "throttlingException", "message": BEDROCK_THROTTLED}}


def test_drop_and_malformed_on_a_bedrock_stream(bedrock: anthropic.AnthropicBedrock, mockserver: MockServer) -> None:
    mockserver.fault(drop={"after_events": 3}, times=1)
    with pytest.raises(httpx2.RemoteProtocolError):
        list(bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=200, messages=HI, stream=True))
    mockserver.fault(malformed={"kind": "bad_json", "at": 0}, times=1)
    with pytest.raises(json.JSONDecodeError):
        list(bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=200, messages=HI, stream=True))
    faults = [e.faults for e in mockserver.journal.calls(endpoint="bedrock.invoke_stream")]
    assert any("dropped after 3 events" in f for f in faults[0]) and any("malformed event 0" in f for f in faults[1])


def test_rate_limits_on_bedrock(bedrock: anthropic.AnthropicBedrock, mockserver: MockServer) -> None:
    mockserver.set_rate_limits(requests_per_minute=1)
    bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI)
    with pytest.raises(anthropic.RateLimitError) as limited:
        bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI)
    assert limited.value.response.headers["x-amzn-errortype"].startswith("ThrottlingException")
    assert "anthropic-ratelimit-requests-limit" not in limited.value.response.headers


def test_vertex_count_tokens_takes_the_count_tokens_bucket(mockserver: MockServer) -> None:
    """Vertex's count-tokens is limited as ``/v1/messages/count_tokens`` is, by its own bucket: it
    took from the Messages requests bucket (one count used up ``requests_per_minute: 1``). Sync and
    async."""
    mockserver.set_rate_limits(requests_per_minute=1, count_tokens_requests_per_minute=3)
    vertex = mockserver.vertex_client(max_retries=0)
    assert vertex.messages.count_tokens(model=HAIKU_VERTEX, messages=HI).input_tokens > 0
    assert vertex.messages.count_tokens(model=HAIKU_VERTEX, messages=HI).input_tokens > 0

    async def main() -> None:
        client = mockserver.vertex_client(async_=True, max_retries=0)
        assert (await client.messages.count_tokens(model=HAIKU_VERTEX, messages=HI)).input_tokens > 0
        with pytest.raises(anthropic.RateLimitError) as counted:  # the three counts are used up
            await client.messages.count_tokens(model=HAIKU_VERTEX, messages=HI)
        assert counted.value.body["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert (await client.messages.create(model=HAIKU_VERTEX, max_tokens=20, messages=HI)).id.startswith("msg_vrtx_")

    asyncio.run(main())
    with pytest.raises(anthropic.RateLimitError):  # the Messages bucket's one request went to the create
        vertex.messages.create(model=HAIKU_VERTEX, max_tokens=20, messages=HI)
    assert [(c.endpoint, c.status) for c in mockserver.journal.calls(endpoint=None)] == [
        ("vertex.count_tokens", 200), ("vertex.count_tokens", 200), ("vertex.count_tokens", 200), ("vertex.count_tokens", 429),
        ("vertex.raw_predict", 200), ("vertex.raw_predict", 429)]


def test_bedrock_count_tokens_takes_the_count_tokens_bucket(mockserver: MockServer) -> None:
    """Bedrock's CountTokens (boto3: the SDK's Bedrock client refuses count_tokens itself) is
    limited by the count_tokens bucket, not the Messages one."""
    import boto3
    from botocore.config import Config

    mockserver.set_rate_limits(requests_per_minute=1, count_tokens_requests_per_minute=2)
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=mockserver.url, aws_access_key_id="AKIAMOCK",
        aws_secret_access_key="mock", config=Config(retries={"total_max_attempts": 1}),
    )
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": HI}).encode()
    for _ in range(2):
        assert client.count_tokens(modelId=HAIKU_BEDROCK, input={"invokeModel": {"body": body}})["inputTokens"] > 0
    with pytest.raises(client.exceptions.ThrottlingException):
        client.count_tokens(modelId=HAIKU_BEDROCK, input={"invokeModel": {"body": body}})
    bedrock = mockserver.bedrock_client(max_retries=0)
    assert bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI).id.startswith("msg_bdrk_")

    async def main() -> None:
        aclient = mockserver.bedrock_client(async_=True, max_retries=0)
        with pytest.raises(anthropic.RateLimitError):
            await aclient.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI)

    asyncio.run(main())
    assert [c.status for c in mockserver.journal.calls(endpoint="bedrock.count_tokens")] == [200, 200, 429]


def test_platform_messages_calls_are_charged_their_tokens(mockserver: MockServer) -> None:
    """Bedrock's and Vertex's Messages calls take their input tokens at admission and their output
    after, as ``/v1/messages`` does: they took one request and no tokens."""
    prompt = [{"role": "user", "content": "Tell me about the sea and the ships upon it. " * 60}]  # ~600 input tokens
    mockserver.set_rate_limits(input_tokens_per_minute=1000)
    vertex = mockserver.vertex_client(max_retries=0)
    assert 500 < vertex.messages.create(model=HAIKU_VERTEX, max_tokens=20, messages=prompt).usage.input_tokens < 1000
    with pytest.raises(anthropic.RateLimitError):
        vertex.messages.create(model=HAIKU_VERTEX, max_tokens=20, messages=prompt)
    mockserver.set_rate_limits(output_tokens_per_minute=100)
    mockserver.reply("long answer", usage={"output_tokens": 150}, times=1)

    async def main() -> None:
        bedrock = mockserver.bedrock_client(async_=True, max_retries=0)
        await bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI)
        with pytest.raises(anthropic.RateLimitError) as limited:
            await bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI, stream=True)
        assert limited.value.response.headers["x-amzn-errortype"].startswith("ThrottlingException:")

    asyncio.run(main())


def test_bedrock_throttling_says_what_bedrock_says(make_server: Any, tmp_path: Any) -> None:
    """A Bedrock 429 given no message says Bedrock's ``Too many requests, please wait before trying
    again.`` (a real 429's body), not the API's rate-limit sentence: the rate limiter's refusal
    (invoke, invoke-with-response-stream, CountTokens through boto3), a scenario's
    ``ThrottlingException`` or ``error: 429`` without ``message``. The SDK still raises RateLimitError; a message given is kept."""
    scenario = tmp_path / "bedrock-throttling.yaml"
    scenario.write_text("""
- match: {endpoint: bedrock.invoke}
  sequence: [{error: ThrottlingException}, {error: 429}, {error: {type: ThrottlingException, message: Mine.}}]
  then: fallthrough
""", encoding="utf-8")
    server = make_server(scenario_files=(scenario,))
    bedrock = server.bedrock_client(max_retries=0)
    for message in (BEDROCK_THROTTLED, BEDROCK_THROTTLED, "Mine."):
        with pytest.raises(anthropic.RateLimitError) as scripted:
            bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI)
        assert scripted.value.body == {"message": message}
        assert scripted.value.response.headers["x-amzn-errortype"] == "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"

    server.set_rate_limits(requests_per_minute=1, count_tokens_requests_per_minute=1)
    bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI)
    with pytest.raises(anthropic.RateLimitError) as limited:
        bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI)
    assert limited.value.status_code == 429 and limited.value.body == {"message": BEDROCK_THROTTLED}
    assert limited.value.response.headers["x-amzn-errortype"].startswith("ThrottlingException:")
    assert int(limited.value.response.headers["retry-after"]) >= 1

    async def main() -> Any:
        client = server.bedrock_client(async_=True, max_retries=0)
        with pytest.raises(anthropic.RateLimitError) as streamed:
            await client.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI, stream=True)
        return streamed.value.body

    assert asyncio.run(main()) == {"message": BEDROCK_THROTTLED}
    import boto3
    from botocore.config import Config

    aws = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=server.url, aws_access_key_id="AKIAMOCK",
                       aws_secret_access_key="mock", config=Config(retries={"total_max_attempts": 1}))
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": HI}).encode()
    aws.count_tokens(modelId=HAIKU_BEDROCK, input={"invokeModel": {"body": body}})
    with pytest.raises(aws.exceptions.ThrottlingException) as counted:
        aws.count_tokens(modelId=HAIKU_BEDROCK, input={"invokeModel": {"body": body}})
    assert counted.value.response["Error"] == {"Message": BEDROCK_THROTTLED, "Code": "ThrottlingException"}
    with pytest.raises(anthropic.RateLimitError) as first_party:  # the API's own door keeps the API's wording
        server.client(max_retries=0).messages.create(model="claude-haiku-4-5", max_tokens=20, messages=HI)
    assert "would exceed the rate limit for your organization" in first_party.value.message


def test_bedrock_says_too_many_tokens_when_a_token_quota_ran_out(mockserver: MockServer) -> None:
    """A tokens-per-minute refusal says Bedrock's ``Too many tokens, please wait before trying
    again.`` (a real 429's body), the requests one ``Too many requests…``; sync and async."""
    mockserver.set_rate_limits(input_tokens_per_minute=200)  # the prompt is about 130 tokens: one call fits
    bedrock = mockserver.bedrock_client(max_retries=0)
    long = [{"role": "user", "content": "Tell me about the sea. " * 20}]
    bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=long)
    with pytest.raises(anthropic.RateLimitError) as tokens:
        bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=long)
    assert tokens.value.body == {"message": "Too many tokens, please wait before trying again."}
    assert tokens.value.response.headers["x-amzn-errortype"].startswith("ThrottlingException:")

    async def main() -> Any:
        client = mockserver.bedrock_client(async_=True, max_retries=0)
        with pytest.raises(anthropic.RateLimitError) as streamed:
            await client.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=long, stream=True)
        return streamed.value.body

    assert asyncio.run(main()) == {"message": "Too many tokens, please wait before trying again."}
    mockserver.set_rate_limits(requests_per_minute=1)
    bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI)
    with pytest.raises(anthropic.RateLimitError) as requests:
        bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=20, messages=HI)
    assert requests.value.body == {"message": BEDROCK_THROTTLED}


# -- record through an upstream, replay offline --------------------------------------------------
def test_record_and_replay_bedrock_and_vertex(make_server: Any, tmp_path: Any) -> None:
    from tests.cassette_support import Proxy

    upstream = make_server(seed=5)
    path = tmp_path / "platforms.yaml"
    recorder = Proxy(path, record_mode="all", upstream=upstream.url)
    try:
        def calls(server: MockServer) -> dict[str, Any]:
            bedrock, vertex = server.bedrock_client(max_retries=0), server.vertex_client(max_retries=0)
            out: dict[str, Any] = {"json": bedrock.messages.create(model=HAIKU_BEDROCK, max_tokens=60, messages=HI).to_dict()}
            with bedrock.messages.stream(model=HAIKU_BEDROCK, max_tokens=60, messages=HI) as stream:
                out["stream"] = stream.get_final_message().to_dict()
            with pytest.raises(anthropic.BadRequestError) as invalid:
                bedrock.messages.create(model="anthropic.claude-nonexistent-v9:0", max_tokens=60, messages=HI)
            out["error"] = (invalid.value.body, invalid.value.response.headers["x-amzn-errortype"])
            out["vertex"] = [e.to_dict() for e in vertex.messages.create(model=HAIKU_VERTEX, max_tokens=60, messages=HI, stream=True)]
            return out

        recorded = calls(recorder.server)
    finally:
        recorder.stop()
    saved = fmt.load(path)
    assert [i.request.path.rsplit("/", 1)[-1] for i in saved] == [
        "invoke", "invoke-with-response-stream", "invoke", f"{HAIKU_VERTEX}:streamRawPredict"
    ]
    assert saved[1].response.body.startswith(b"\x00")  # the EventStream bytes, kept as they came
    player = Proxy(path, record_mode="none", allow_repeats=True)
    try:
        replayed = calls(player.server)
        # a fault on a replayed Bedrock stream works on its EventStream messages
        player.server.fault(drop={"after_events": 2}, match={"endpoint": "bedrock.invoke_stream"})
        with pytest.raises(httpx2.RemoteProtocolError):
            list(player.server.bedrock_client().messages.create(model=HAIKU_BEDROCK, max_tokens=60, messages=HI, stream=True))
    finally:
        player.stop()
    assert replayed == recorded

"""Text Completions (``POST /v1/complete``) over a real socket: the recorded JSON shape, the SSE
framing (``completion`` events, one ``ping``), the refusal for Messages-only models, faults,
scenarios, rate limits, record and replay, and the same body through Bedrock's invoke. SDK 0.x's
``completions.create`` (the only SDK line that has it) is in tests/legacy, which `make legacy`
runs in its own venv; ``test_the_sdk_0x_completions_tests`` here runs its Text Completions tests
with SDK 0.49 from the schema generator's cache (schema_gen.release_site)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from mockserver.cassettes import format as fmt
from mockserver.clock import ManualClock
from mockserver.harness.testing import MockServer
from mockserver.journal import parse_sse
from mockserver.protocol import eventstream, schema_gen
from mockserver.protocol.tokens import count_text
from tests.cassette_support import Proxy
from tests.conftest import USER_HI

HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
LEGACY_TESTS = Path(__file__).resolve().parents[1] / "legacy"
PROMPT = "\n\nHuman: Hello world\n\nAssistant:"


def complete(server: MockServer | Proxy, **body: Any) -> httpx2.Response:
    payload = {"model": "claude-2.1", "prompt": PROMPT, "max_tokens_to_sample": 200, **body}
    return httpx2.post(f"{server.url}/v1/complete", json=payload, headers=HEADERS)


@pytest.fixture
def legacy(make_server: Any) -> MockServer:
    server: MockServer = make_server(any_model=True)
    return server


def test_completion_json(legacy: MockServer) -> None:
    response = complete(legacy)
    body = response.json()
    # the recorded key order (openllmetry test_anthropic_completion_legacy.yaml, 2024-04)
    assert list(body) == ["type", "id", "completion", "stop_reason", "model", "stop", "log_id"]
    assert body["type"] == "completion" and body["id"].startswith("compl_01") and body["log_id"] == body["id"]
    assert body["completion"].startswith(" ") and body["stop_reason"] == "stop_sequence" and body["stop"] == "\n\nHuman:"
    assert response.headers["request-id"].startswith("req_")
    (entry,) = legacy.journal.calls(endpoint="completions.create")
    assert entry.status == 200 and entry.model == "claude-2.1"


def test_completion_stream(legacy: MockServer) -> None:
    response = complete(legacy, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.content)
    names = [e["event"] for e in events]
    assert names.count("ping") == 1 and set(names) == {"completion", "ping"}
    pieces = [e["data"] for e in events if e["event"] == "completion"]
    assert all(p["type"] == "completion" for p in pieces) and pieces[-1]["completion"] == ""
    assert [p["stop_reason"] for p in pieces[:-1]] == [None] * (len(pieces) - 1) and pieces[-1]["stop_reason"] == "stop_sequence"
    joined = "".join(p["completion"] for p in pieces)
    assert joined == complete(legacy).json()["completion"]  # streamed and whole answers agree


def test_a_streamed_completion_keeps_its_trailing_whitespace(legacy: MockServer) -> None:
    """A completion cut off right after whitespace (``" You said: "Hello world"\\n\\n"`` at 8
    tokens) lost that whitespace when streamed, so the streamed text differed from the whole one."""
    for max_tokens in range(1, 12):
        whole = complete(legacy, max_tokens_to_sample=max_tokens).json()["completion"]
        events = parse_sse(complete(legacy, max_tokens_to_sample=max_tokens, stream=True).content)
        assert "".join(e["data"]["completion"] for e in events if e["event"] == "completion") == whole
    assert any(complete(legacy, max_tokens_to_sample=n).json()["completion"].endswith("\n") for n in range(1, 12))


def test_completion_refusals(mockserver: MockServer, legacy: MockServer) -> None:
    refused = complete(mockserver, model="claude-haiku-4-5")
    assert refused.status_code == 400 and refused.json()["error"]["message"] == (
        '"claude-haiku-4-5-20251001" is not supported on this API. Please use the Messages API instead.'
    )
    assert complete(mockserver).json()["error"] == {"type": "not_found_error", "message": "model: claude-2.1"}  # retired
    assert complete(legacy, prompt="Hello").json()["error"]["message"] == 'prompt must start with "\\n\\nHuman:" turn'
    missing = httpx2.post(f"{legacy.url}/v1/complete", json={"model": "claude-2.1", "prompt": PROMPT}, headers=HEADERS)
    assert missing.json()["error"]["message"] == "max_tokens_to_sample: field required"


def test_completion_fields_are_typed(legacy: MockServer, make_server: Any) -> None:
    lenient: MockServer = make_server(lenient=True)
    for server in (legacy, lenient):  # --lenient relaxes rules, not types (as for Messages)
        for fields, message in [
            ({"temperature": "hot"}, "temperature: value is not a valid float"),
            ({"stream": "yes"}, "stream: value could not be parsed to a boolean"),
            ({"top_k": 1.5}, "top_k: value is not a valid integer"),
            ({"metadata": {"user_id": 1}}, "metadata.user_id: str type expected"),
        ]:
            refused = complete(server, **fields)
            assert refused.status_code == 400, fields
            assert refused.json()["error"] == {"type": "invalid_request_error", "message": message}
        assert complete(server, temperature=0.2, top_k=40, top_p=0.9, metadata={"user_id": "u"}, stop_sequences=["END"]).status_code == 200
    auth = {"authorization": "Bearer bedrock-key"}
    bedrock = {"anthropic_version": "bedrock-2023-05-31", "prompt": PROMPT, "max_tokens_to_sample": 300, "temperature": "hot"}
    refused = httpx2.post(f"{legacy.url}/model/anthropic.claude-v2:1/invoke", json=bedrock, headers=auth)
    assert refused.status_code == 400 and refused.json() == {"message": "temperature: value is not a valid float"}
    assert refused.headers["x-amzn-errortype"].startswith("ValidationException:")


def test_completion_numbers_are_in_range(legacy: MockServer, make_server: Any) -> None:
    lenient: MockServer = make_server(lenient=True)
    for fields, message in [
        ({"temperature": 2}, "temperature: range: 0..1"),
        ({"top_p": -0.5}, "top_p: range: 0..1"),
        ({"top_k": -5}, "top_k: ensure this value is greater than or equal to 0"),
        ({"max_tokens_to_sample": 0}, "max_tokens_to_sample: ensure this value is greater than or equal to 1"),
    ]:
        refused = complete(legacy, **fields)
        assert refused.status_code == 400 and refused.json()["error"]["message"] == message
        assert complete(lenient, **fields).status_code == 200  # --lenient relaxes ranges, as for Messages


def test_completion_faults_and_scenarios(legacy: MockServer) -> None:
    legacy.fault(stream_error=1, match={"endpoint": "completions.create"})
    events = parse_sse(complete(legacy, stream=True).content)
    assert [e["event"] for e in events] == ["completion", "error"]
    legacy.error(529, match={"endpoint": "completions.create"})
    assert complete(legacy).status_code == 529


def test_completion_rate_limits(make_server: Any) -> None:
    clock = ManualClock()
    server: MockServer = make_server(any_model=True, clock=clock)
    server.set_rate_limits(requests_per_minute=1)
    first, second = complete(server), complete(server)
    assert first.status_code == 200 and first.json()["type"] == "completion"
    assert second.status_code == 429 and second.headers["retry-after"] == "60"  # the clock stands still
    assert second.json()["error"]["type"] == "rate_limit_error" and "of 1 requests per minute" in second.json()["error"]["message"]
    assert [(e.status, e.origin) for e in server.journal.calls(endpoint="completions.create")] == [(200, "default"), (429, "ratelimit")]
    clock.advance(60)
    assert complete(server).status_code == 200


SEA = "The sea and the ships upon it. "
BIG = f"\n\nHuman: {SEA * 800}\n\nAssistant:"  # 6,407 tokens by the estimator: over the 5,000 below
SMALL = f"\n\nHuman: {SEA * 200}\n\nAssistant:"  # 1,607 tokens
ITPM, OTPM = 5000, 100


def limited(make_server: Any) -> MockServer:
    """A server with a still clock (no refill between calls) and token limits a completion meets."""
    server: MockServer = make_server(any_model=True, clock=ManualClock())
    server.set_rate_limits(input_tokens_per_minute=ITPM, output_tokens_per_minute=OTPM)
    return server


def completion_body(prompt: str, max_tokens: int = 50) -> dict[str, Any]:
    return {"model": "claude-2.1", "prompt": prompt, "max_tokens_to_sample": max_tokens}


def buckets(server: MockServer) -> tuple[int, int]:
    """claude-2.1's input and output tokens left, exactly (the admin API's view; the headers round to thousands)."""
    state = httpx2.get(f"{server.url}/_mock/ratelimits").json()["buckets"]["claude-2.1"]
    return state["input_tokens"]["remaining"], state["output_tokens"]["remaining"]


def check_refused(error: anthropic.RateLimitError, per_minute: str) -> None:
    """The API's 429: its body's shape and words, ``retry-after``, and (as every Completion answer) no
    ``anthropic-ratelimit-*`` headers (docs/protocol.md "Text Completions")."""
    body = error.response.json()
    assert error.status_code == 429 and list(body) == ["type", "error", "request_id"]
    assert body["error"]["type"] == "rate_limit_error" and f"of {per_minute} per minute" in body["error"]["message"]
    headers = error.response.headers
    assert int(headers["retry-after"]) >= 1 and headers["request-id"] == body["request_id"]
    assert not [name for name in headers if name.startswith("anthropic-ratelimit-")]


def check_admitted(server: MockServer, response: httpx2.Response) -> None:
    """The prompt's estimate was taken at admission (the refused call before took nothing), the
    completion's tokens after."""
    completion = response.json()["completion"]
    assert response.status_code == 200 and count_text(completion) > 10
    assert buckets(server) == (ITPM - count_text(SMALL), OTPM - count_text(completion))


def check_messages_header(headers: Any, used: int) -> None:
    """A Messages call for the same model (``used`` its input tokens) reports the same bucket, the
    completion's prompt gone from it."""
    left = ITPM - count_text(SMALL) - used
    assert headers["anthropic-ratelimit-input-tokens-remaining"] == str(left - left % 1000) == "3000"
    assert ITPM - used - (ITPM - used) % 1000 == 4000  # what it said when a completion took no tokens


LEGACY_WARNING = pytest.mark.filterwarnings("ignore:The model 'claude-2.1' is deprecated:DeprecationWarning")


@LEGACY_WARNING
def test_completion_tokens_are_charged_through_the_sdk(make_server: Any) -> None:
    """SDK 2.12 has no ``completions`` resource (only 0.x has): its ``post`` sends the call through
    the same client (auth, retries, the 429 as ``RateLimitError``)."""
    server = limited(make_server)
    with server.client(max_retries=0) as client:
        with pytest.raises(anthropic.RateLimitError) as caught:
            client.post("/v1/complete", cast_to=httpx2.Response, body=completion_body(BIG))
        check_refused(caught.value, "5,000 input tokens")
        check_admitted(server, client.post("/v1/complete", cast_to=httpx2.Response, body=completion_body(SMALL)))
        raw = client.messages.with_raw_response.create(model="claude-2.1", max_tokens=5, messages=USER_HI)
        check_messages_header(raw.headers, raw.parse().usage.input_tokens)
        client.post("/v1/complete", cast_to=httpx2.Response, body=completion_body(SMALL, 100))  # the output bucket runs dry
        with pytest.raises(anthropic.RateLimitError) as caught:
            client.post("/v1/complete", cast_to=httpx2.Response, body=completion_body(PROMPT))
        check_refused(caught.value, "100 output tokens")
    statuses = [(e.status, e.origin) for e in server.journal.calls(endpoint="completions.create")]
    assert statuses == [(429, "ratelimit"), (200, "default"), (200, "default"), (429, "ratelimit")]


@LEGACY_WARNING
async def test_completion_tokens_are_charged_through_the_async_sdk(make_server: Any) -> None:
    server = limited(make_server)
    async with server.async_client(max_retries=0) as client:
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.post("/v1/complete", cast_to=httpx2.Response, body=completion_body(BIG))
        check_refused(caught.value, "5,000 input tokens")
        check_admitted(server, await client.post("/v1/complete", cast_to=httpx2.Response, body=completion_body(SMALL)))
        raw = await client.messages.with_raw_response.create(model="claude-2.1", max_tokens=5, messages=USER_HI)
        check_messages_header(raw.headers, (await raw.parse()).usage.input_tokens)
        await client.post("/v1/complete", cast_to=httpx2.Response, body=completion_body(SMALL, 100))
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.post("/v1/complete", cast_to=httpx2.Response, body=completion_body(PROMPT))
        check_refused(caught.value, "100 output tokens")


def test_streamed_and_bedrock_completions_are_charged_alike(make_server: Any) -> None:
    """A streamed completion is charged its pieces joined; Bedrock's invoke with a ``prompt`` body (both
    doors) as ``/v1/complete`` (it took a Messages body's few tokens for the prompt, and no output)."""
    server = limited(make_server)
    streamed = httpx2.post(f"{server.url}/v1/complete", json={**completion_body(SMALL), "stream": True}, headers=HEADERS)
    text = "".join(e["data"]["completion"] for e in parse_sse(streamed.content) if e["event"] == "completion")
    assert buckets(server) == (ITPM - count_text(SMALL), OTPM - count_text(text))
    auth = {"authorization": "Bearer bedrock-key"}
    for door in ("invoke", "invoke-with-response-stream"):
        server.set_rate_limits(input_tokens_per_minute=ITPM, output_tokens_per_minute=OTPM)  # new limits: full buckets
        body = {"anthropic_version": "bedrock-2023-05-31", "prompt": SMALL, "max_tokens_to_sample": 50}
        answered = httpx2.post(f"{server.url}/model/anthropic.claude-v2:1/{door}", json=body, headers=auth)
        if door == "invoke":
            text = answered.json()["completion"]
        else:
            chunks = [m.chunk_data for m in map(eventstream.decode, eventstream.split(answered.content)) if m is not None]
            text = "".join(json.loads(c)["completion"] for c in chunks if c is not None)
        assert answered.status_code == 200 and buckets(server) == (ITPM - count_text(SMALL), OTPM - count_text(text)), door
        refused = httpx2.post(f"{server.url}/model/anthropic.claude-v2:1/invoke", json={**body, "prompt": BIG}, headers=auth)
        assert refused.status_code == 429 and refused.json() == {"message": "Too many tokens, please wait before trying again."}


def test_completion_record_and_replay(make_server: Any, tmp_path: Path) -> None:
    upstream: MockServer = make_server(any_model=True, seed=11)
    path = tmp_path / "complete.yaml"
    recorder = Proxy(path, record_mode="all", upstream=upstream.url)
    try:
        recorded = [complete(recorder), complete(recorder, stream=True)]
    finally:
        recorder.stop()
    assert [r.status_code for r in recorded] == [200, 200]
    saved = fmt.load(path)
    assert [(i.request.path, i.response.status) for i in saved] == [("/v1/complete", 200)] * 2
    assert [e.status for e in upstream.journal.calls(endpoint="completions.create")] == [200, 200]  # both reached the upstream
    replayer = Proxy(path, record_mode="none")
    try:
        replayed = [complete(replayer), complete(replayer, stream=True)]
        assert [e.origin for e in replayer.server.journal.calls(endpoint="completions.create")] == ["cassette"] * 2
    finally:
        replayer.stop()
    for got, want in zip(replayed, recorded):
        assert got.status_code == 200 and got.content == want.content  # byte for byte, the SSE framing included
        assert got.headers["content-type"] == want.headers["content-type"]
    assert [e["event"] for e in parse_sse(replayed[1].content)].count("completion") >= 2


def test_completion_through_bedrock(legacy: MockServer) -> None:
    auth = {"authorization": "Bearer bedrock-key"}
    body = {"anthropic_version": "bedrock-2023-05-31", "prompt": PROMPT, "max_tokens_to_sample": 300}
    whole = httpx2.post(f"{legacy.url}/model/anthropic.claude-v2:1/invoke", json=body, headers=auth).json()
    assert list(whole) == ["completion", "stop_reason", "stop"] and whole["completion"].startswith(" ")
    streamed = httpx2.post(f"{legacy.url}/model/anthropic.claude-v2:1/invoke-with-response-stream", json=body, headers=auth)
    chunks = [m.chunk_data for m in map(eventstream.decode, eventstream.split(streamed.content)) if m is not None]
    datas = [json.loads(c) for c in chunks if c is not None]
    assert datas[-1]["stop_reason"] == "stop_sequence" and "".join(d["completion"] for d in datas) == whole["completion"]
    assert base64.b64encode(chunks[0] or b"")  # the bytes of each event travel base64-encoded


def test_the_sdk_0x_completions_tests(legacy: MockServer) -> None:
    """SDK 0.49's ``completions.create``, sync and async, and its ``AnthropicBedrock`` (the body
    carries ``anthropic_version``, the path the model) over a socket: every optional field passes
    and bad values get the 400 (tests/legacy/test_sdk_0x.py, run as tests/compat/run.py runs it,
    in an interpreter whose path puts SDK 0.49 first)."""
    site = schema_gen.release_site("0.49.0")  # installed once into .cache/schema-sdks (the schema tests use it too)
    env = {**os.environ, "PYTHONPATH": str(site), "MOCKSERVER_URL": legacy.url}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:mockserver", "-c", os.devnull,
               "-o", "asyncio_default_fixture_loop_scope=function", "--rootdir", str(LEGACY_TESTS),
               "--confcutdir", str(LEGACY_TESTS), "-k", "completions", str(LEGACY_TESTS / "test_sdk_0x.py")]
    done = subprocess.run(command, cwd=LEGACY_TESTS, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout
    assert {entry.status for entry in legacy.journal.calls(endpoint="bedrock.invoke")} == {200, 400}

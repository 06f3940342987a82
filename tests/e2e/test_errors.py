"""Bad input gets the real API's answer: status, error.type, message, headers; never a 500."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import HAIKU

LEGACY = "2023-06-01"
LATEST = "2026-10-21"
PNG_1X1 = base64.b64encode(
    bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000" "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
).decode()
GIF = base64.b64encode(b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;").decode()


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"model": HAIKU, "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]}
    for key, value in changes.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def user(*blocks: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(blocks)}]


TOOL = {"name": "lookup", "input_schema": {"type": "object"}}

# (id, path, version, body, status, type, message)
CASES: list[tuple[str, str, str, Any, int, str, str]] = [
    ("missing-field", "/v1/messages", LATEST, body(max_tokens=None), 400, "invalid_request_error", "max_tokens: Field required"),
    ("message-not-an-object", "/v1/messages", LATEST, body(messages=["Invalid content"]), 400, "invalid_request_error",
     "messages.0: Input does not match the expected shape."),
    ("effort-level", "/v1/messages", LATEST, body(model="claude-opus-4-6", output_config={"effort": "xhigh"}), 400, "invalid_request_error",
     "This model does not support effort level 'xhigh'. Supported levels: high, low, max, medium."),
    ("wrong-type", "/v1/messages", LATEST, body(max_tokens="abc"), 400, "invalid_request_error", "max_tokens: Input should be a valid integer"),
    ("model-type", "/v1/messages", LATEST, body(model=5), 400, "invalid_request_error", "model: Input should be a valid string"),
    ("messages-type", "/v1/messages", LATEST, body(messages="hi"), 400, "invalid_request_error", "messages: Input should be a valid list"),
    ("content-type", "/v1/messages", LATEST, body(messages=[{"role": "user", "content": 5}]), 400, "invalid_request_error", "messages.0.content: Input should be a valid list"),
    ("bad-role", "/v1/messages", LATEST, body(messages=[{"role": "bot", "content": "x"}]), 400, "invalid_request_error",
     'messages: Unexpected role "bot". Allowed roles are "user" or "assistant"'),
    ("unknown-block", "/v1/messages", LATEST, body(messages=user({"type": "video"})), 400, "invalid_request_error",
     "messages.0.content.0: Input tag 'video' found using 'type' does not match any of the expected tags: 'bash_code_execution_tool_result', "
     "'code_execution_tool_result', 'container_upload', 'document', 'image', 'redacted_thinking', 'search_result', 'server_tool_use', "
     "'text', 'text_editor_code_execution_tool_result', 'thinking', 'tool_result', 'tool_search_tool_result', 'tool_use', "
     "'web_fetch_tool_result', 'web_search_tool_result'"),
    ("text-missing", "/v1/messages", LATEST, body(messages=user({"type": "text"})), 400, "invalid_request_error", "messages.0.content.0.text.text: Field required"),
    ("extra-field", "/v1/messages", LATEST, body(foo=1), 400, "invalid_request_error", "foo: Extra inputs are not permitted"),
    ("empty-messages", "/v1/messages", LATEST, body(messages=[]), 400, "invalid_request_error", "messages: at least one message is required"),
    ("empty-content", "/v1/messages", LATEST, body(messages=[{"role": "user", "content": []}]), 400, "invalid_request_error",
     "messages.0: all messages must have non-empty content except for the optional final assistant message"),
    ("empty-text", "/v1/messages", LATEST, body(messages=user({"type": "text", "text": ""})), 400, "invalid_request_error", "messages: text content blocks must be non-empty"),
    ("blank-text", "/v1/messages", LATEST, body(messages=user({"type": "text", "text": "  "})), 400, "invalid_request_error",
     "messages: text content blocks must contain non-whitespace text"),
    ("max-tokens-cap", "/v1/messages", LATEST, body(max_tokens=100000), 400, "invalid_request_error",
     "max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-haiku-4-5-20251001"),
    ("max-tokens-negative", "/v1/messages", LATEST, body(max_tokens=-1), 400, "invalid_request_error", "max_tokens: must be greater than or equal to 0"),
    ("temperature-range", "/v1/messages", LEGACY, body(temperature=1.5), 400, "invalid_request_error", "temperature: range: 0..1"),
    ("top-p-range", "/v1/messages", LEGACY, body(top_p=-0.1), 400, "invalid_request_error", "top_p: range: 0..1"),
    ("top-k-type", "/v1/messages", LEGACY, body(top_k="x"), 400, "invalid_request_error", "top_k: Input should be a valid integer"),
    ("temperature-removed", "/v1/messages", LATEST, body(temperature=0.5), 400, "invalid_request_error", "temperature: Extra inputs are not permitted"),
    ("top-k-removed", "/v1/messages", LATEST, body(top_k=5), 400, "invalid_request_error", "top_k: Extra inputs are not permitted"),
    ("temperature-and-top-p", "/v1/messages", LEGACY, body(temperature=0.5, top_p=0.5), 400, "invalid_request_error",
     "`temperature` and `top_p` cannot both be specified for this model. Please use only one."),
    ("thinking-temperature", "/v1/messages", LEGACY, body(max_tokens=3000, temperature=0.5, thinking={"type": "enabled", "budget_tokens": 1024}),
     400, "invalid_request_error", "`temperature` may only be set to 1 when thinking is enabled"),
    ("budget-low", "/v1/messages", LATEST, body(max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 500}), 400, "invalid_request_error",
     "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"),
    ("budget-over-max", "/v1/messages", LATEST, body(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 2000}), 400, "invalid_request_error",
     "`max_tokens` must be greater than `thinking.budget_tokens`."),
    ("budget-missing", "/v1/messages", LATEST, body(thinking={"type": "enabled"}), 400, "invalid_request_error", "thinking.enabled.budget_tokens: Field required"),
    ("enabled-on-adaptive-model", "/v1/messages", LATEST, body(model="claude-opus-4-7", max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024}),
     400, "invalid_request_error",
     '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.'),
    ("thinking-forced-tool", "/v1/messages", LATEST, body(max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024}, tools=[TOOL], tool_choice={"type": "any"}),
     400, "invalid_request_error", "Thinking may not be enabled when tool_choice forces tool use."),
    ("tool-name", "/v1/messages", LATEST, body(tools=[{"name": "bad name", "input_schema": {"type": "object"}}]), 400, "invalid_request_error",
     "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"),
    ("tool-schema-missing", "/v1/messages", LATEST, body(tools=[{"name": "t"}]), 400, "invalid_request_error", "tools.0.custom.input_schema: Field required"),
    ("tool-schema-type", "/v1/messages", LATEST, body(tools=[{"name": "t", "input_schema": {"type": "array"}}]), 400, "invalid_request_error",
     "tools.0.custom.input_schema.type: Input should be 'object'"),
    ("tool-duplicate", "/v1/messages", LATEST, body(tools=[TOOL, TOOL]), 400, "invalid_request_error", "tools: Tool names must be unique."),
    ("tool-choice-no-tools", "/v1/messages", LATEST, body(tool_choice={"type": "any"}), 400, "invalid_request_error",
     "tool_choice may only be specified while providing tools."),
    ("tool-choice-unknown", "/v1/messages", LATEST, body(tools=[TOOL], tool_choice={"type": "tool", "name": "other"}), 400, "invalid_request_error",
     "Tool 'other' not found in provided tools"),
    ("tool-use-unanswered", "/v1/messages", LATEST, body(tools=[TOOL], messages=[
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}]},
        {"role": "user", "content": "b"}]), 400, "invalid_request_error",
     "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. "
     "Each `tool_use` block must have a corresponding `tool_result` block in the next message."),
    ("tool-result-orphan", "/v1/messages", LATEST, body(messages=user({"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"})), 400,
     "invalid_request_error",
     "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. "
     "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."),
    ("image-base64", "/v1/messages", LATEST, body(messages=user({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "not base64!"}})),
     400, "invalid_request_error", "messages.0.content.0.image.source.base64.data: invalid base64 data"),
    ("image-empty", "/v1/messages", LATEST, body(messages=user({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ""}})),
     400, "invalid_request_error", "messages.0.content.0.image.source.base64: image cannot be empty"),
    ("image-mismatch", "/v1/messages", LATEST, body(messages=user({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": GIF}})),
     400, "invalid_request_error",
     "messages.0.content.0.image.source.base64: The image was specified using the image/png media type, but the image appears to be a image/gif image"),
    ("image-media-type", "/v1/messages", LATEST, body(messages=user({"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": PNG_1X1}})),
     400, "invalid_request_error",
     "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"),
    ("image-http-url", "/v1/messages", LATEST, body(messages=user({"type": "image", "source": {"type": "url", "url": "http://x.test/a.png"}})),
     400, "invalid_request_error", "Only HTTPS URLs are supported."),
    ("pdf-invalid", "/v1/messages", LATEST, body(messages=user({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PNG_1X1}})),
     400, "invalid_request_error", "messages.0.content.0.document.source.base64.data: The PDF specified was not valid."),
    ("stop-empty", "/v1/messages", LATEST, body(stop_sequences=[""]), 400, "invalid_request_error", "stop_sequences: each stop sequence must be non-empty"),
    ("stop-blank", "/v1/messages", LATEST, body(stop_sequences=["\n"]), 400, "invalid_request_error", "stop_sequences: each stop sequence must contain non-whitespace"),
    ("cache-breakpoints", "/v1/messages", LATEST, body(messages=user(*[{"type": "text", "text": f"t{i}", "cache_control": {"type": "ephemeral"}} for i in range(5)])),
     400, "invalid_request_error", "A maximum of 4 blocks with cache_control may be provided. Found 5."),
    ("prefill-unsupported", "/v1/messages", LATEST, body(model="claude-opus-4-6", messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]),
     400, "invalid_request_error", "Prefilling assistant messages is not supported for this model."),
    ("unknown-model", "/v1/messages", LATEST, body(model="claude-nope"), 404, "not_found_error", "model: claude-nope"),
    ("retired-model", "/v1/messages", LATEST, body(model="claude-3-haiku-20240307"), 404, "not_found_error", "model: claude-3-haiku-20240307"),
    ("prompt-too-long", "/v1/messages", LATEST, body(messages=[{"role": "user", "content": "word " * 210_000}]), 400, "invalid_request_error",
     "prompt is too long: 210008 tokens > 200000 maximum"),
    ("count-extra", "/v1/messages/count_tokens", LATEST, body(), 400, "invalid_request_error", "max_tokens: Extra inputs are not permitted"),
    ("count-model", "/v1/messages/count_tokens", LATEST, body(max_tokens=None, model="nope"), 404, "not_found_error", "model: nope"),
]


async def _post(url: str, path: str, payload: Any, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as session:
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        async with session.post(url + path, data=data, headers=headers) as response:
            return response.status, dict(response.headers), await response.json(content_type=None)


def _headers(version: str | None = LATEST, **extra: str) -> dict[str, str]:
    headers = {"x-api-key": "sk-ant-test", "content-type": "application/json", **extra}
    if version:
        headers["anthropic-version"] = version
    return headers


def _assert_error(status: int, headers: dict[str, str], payload: Any, want_status: int, want_type: str, want_message: str) -> None:
    assert (status, payload["error"]["type"], payload["error"]["message"]) == (want_status, want_type, want_message)
    assert payload["type"] == "error" and payload["request_id"] == headers["request-id"]
    if want_status not in (408, 409, 429):
        assert headers["x-should-retry"] == "false"
    assert not any(h.startswith("anthropic-ratelimit-") for h in headers)


@pytest.mark.parametrize(("path", "version", "payload", "status", "type_", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_validation_errors(mockserver, path, version, payload, status, type_, message) -> None:
    got_status, headers, got = await _post(mockserver.url, path, payload, _headers(version))
    _assert_error(got_status, headers, got, status, type_, message)


async def test_document_in_assistant_turn_is_rejected_only_by_the_new_version(mockserver) -> None:
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}}
    payload = body(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": [document]}, {"role": "user", "content": "b"}])
    status, _, got = await _post(mockserver.url, "/v1/messages", payload, _headers(LATEST))
    assert status == 400 and "document blocks are not supported in assistant messages" in got["error"]["message"]
    status, _, _ = await _post(mockserver.url, "/v1/messages", payload, _headers(LEGACY))
    assert status == 200


async def test_sampling_parameters_are_accepted_under_2023_06_01(mockserver) -> None:
    status, _, got = await _post(mockserver.url, "/v1/messages", body(temperature=0.2, top_k=5), _headers(LEGACY))
    assert status == 200 and got["type"] == "message"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"model":', "The request body is not valid JSON: unexpected end of data: line 1 column 10 (char 9)"),
        (b"", "The request body is not valid JSON: Input is a zero-length, empty document: line 1 column 1 (char 0)"),
        (b'{"a":1,}', "The request body is not valid JSON: trailing comma is not allowed: line 1 column 7 (char 6)"),
        (b"[]", "Input should be a valid dictionary"),
    ],
)
async def test_malformed_json(mockserver, raw: bytes, message: str) -> None:
    status, headers, got = await _post(mockserver.url, "/v1/messages", raw, _headers())
    _assert_error(status, headers, got, 400, "invalid_request_error", message)


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x", "application/jsonx"])
async def test_wrong_content_type(mockserver, content_type: str) -> None:
    status, headers, got = await _post(mockserver.url, "/v1/messages", body(), _headers(**{"content-type": content_type}))
    assert status == 400 and got["error"]["type"] == "invalid_request_error" and "application/json" in got["error"]["message"]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"])
async def test_json_content_types_with_parameters_or_case_are_accepted(mockserver, content_type: str) -> None:
    status, _, got = await _post(mockserver.url, "/v1/messages", body(), _headers(**{"content-type": content_type}))
    assert status == 200 and got["type"] == "message"


async def test_missing_and_invalid_headers(make_server) -> None:
    server = make_server(api_keys=frozenset({"sk-ant-good"}))
    cases = [
        ({"content-type": "application/json", "anthropic-version": LATEST}, 401, "authentication_error", "x-api-key header is required"),
        (_headers(**{"x-api-key": "sk-ant-bad"}), 401, "authentication_error", "invalid x-api-key"),
        ({**_headers(version=None), "x-api-key": "sk-ant-good"}, 400, "invalid_request_error", "anthropic-version: header is required"),
        ({**_headers("2020-01-01"), "x-api-key": "sk-ant-good"}, 400, "invalid_request_error", 'anthropic-version: "2020-01-01" is not a valid version'),
    ]
    for headers, status, type_, message in cases:
        got_status, got_headers, got = await _post(server.url, "/v1/messages", body(), headers)
        _assert_error(got_status, got_headers, got, status, type_, message)
    bearer = {"content-type": "application/json", "anthropic-version": LATEST, "authorization": "Bearer sk-ant-good"}
    assert (await _post(server.url, "/v1/messages", body(), bearer))[0] == 200


async def test_body_over_32_mb_is_413_from_the_edge(mockserver) -> None:
    payload = body(messages=[{"role": "user", "content": "x" * (32 * 1024 * 1024 + 10)}])
    status, headers, got = await _post(mockserver.url, "/v1/messages", payload, _headers())
    assert status == 413
    assert got == {"error": {"type": "request_too_large", "message": "Request exceeds the maximum size"}}
    assert headers["request-id"].startswith("req_")


async def test_unknown_path_and_wrong_method(mockserver) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(mockserver.url + "/v1/nothing", headers=_headers()) as response:
            assert response.status == 404
            assert (await response.json())["error"] == {"type": "not_found_error", "message": "Not Found"}
        async with session.get(mockserver.url + "/v1/messages", headers=_headers()) as response:
            assert response.status == 405
            assert (await response.json())["error"]["type"] == "invalid_request_error"
        async with session.delete(mockserver.url + "/v1/models", headers=_headers()) as response:
            assert response.status == 405
        # A path no method is routed on is a 404 for the method its look-alike takes too: a
        # client that doubles or adds a slash is told the path is unknown, not that POST is wrong.
        for path in ("//v1/messages", "/v1/messages/", "/v1//messages"):
            async with session.post(mockserver.url + path, headers=_headers(), json=body()) as response:
                assert response.status == 404, path
                assert (await response.json())["error"] == {"type": "not_found_error", "message": "Not Found"}

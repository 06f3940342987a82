"""Hypothesis: random and malformed request bodies never produce a 5xx or a non-Anthropic error."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.testing import MockServer

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
FIELDS = ["model", "max_tokens", "messages", "system", "tools", "tool_choice", "thinking", "stream", "stop_sequences",
          "metadata", "temperature", "top_p", "top_k", "output_config", "cache_control", "service_tier"]
BLOCK = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image", "document", "tool_use", "tool_result", "thinking", "bogus"])},
    optional={"text": JSON, "source": JSON, "id": JSON, "name": JSON, "input": JSON, "content": JSON, "tool_use_id": JSON,
              "thinking": JSON, "signature": JSON, "cache_control": JSON, "citations": JSON},
)
MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "bot"]), "content": st.text(max_size=20) | st.lists(BLOCK, max_size=3)})
NEAR_VALID = st.fixed_dictionaries(
    {"model": st.sampled_from(["claude-haiku-4-5", "claude-opus-4-7", "claude-sonnet-4-5", "nope"]) | JSON,
     "max_tokens": st.integers(-5, 200_000) | JSON,
     "messages": st.lists(MESSAGE, max_size=4) | JSON},
    optional={name: JSON for name in FIELDS[3:]} | {"stream": st.booleans(), "thinking": st.fixed_dictionaries(
        {"type": st.sampled_from(["enabled", "adaptive", "disabled", "nope"])}, optional={"budget_tokens": st.integers(-10, 5000)})},
)
PATHS = ["/v1/messages", "/v1/messages/count_tokens", "/v1/models", "/v1/models/claude-haiku-4-5", "/v1/nope", "/v1/messages/batches"]
VERSIONS = ["2023-06-01", "2026-10-21", "", "1999-01-01"]


@pytest.fixture(scope="module")
def server():
    with MockServer() as s:
        yield s


def _send(server: MockServer, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    finally:
        conn.close()


def _assert_anthropic_shaped(status: int, content_type: str, raw: bytes) -> None:
    assert status < 500, raw[:300]
    if status >= 400:
        body = json.loads(raw)
        error = body["error"]
        assert isinstance(error["type"], str) and isinstance(error["message"], str) and error["message"]
        if status != 413:
            assert body["type"] == "error" and body["request_id"].startswith("req_")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=NEAR_VALID | JSON, path=st.sampled_from(PATHS[:2]), version=st.sampled_from(VERSIONS))
def test_json_bodies_never_break_the_server(server: MockServer, body: Any, path: str, version: str) -> None:
    headers = {"x-api-key": "k", "content-type": "application/json"}
    if version:
        headers["anthropic-version"] = version
    status, content_type, raw = _send(server, "POST", path, json.dumps(body).encode(), headers)
    _assert_anthropic_shaped(status, content_type, raw)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.binary(max_size=200) | st.text(max_size=100).map(str.encode),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=st.sampled_from(PATHS) | st.text(alphabet="/abcv1?=&%", min_size=1, max_size=20).map(lambda p: "/" + p.lstrip("/")),
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/json; charset=utf-8"]),
)
def test_malformed_requests_never_break_the_server(server: MockServer, raw: bytes, method: str, path: str, content_type: str) -> None:
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    if content_type:
        headers["content-type"] = content_type
    status, ctype, body = _send(server, method, path, raw, headers)
    _assert_anthropic_shaped(status, ctype, body)

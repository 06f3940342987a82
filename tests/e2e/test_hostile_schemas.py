"""A schema that asks for a huge value costs the server a bounded amount of work: the 211-byte
request that used to freeze every client (``minItems: 100000000`` in a structured-output schema)
is refused at once while an ordinary client is served, a forced tool call gets an input cut to
the limits, and batch items do the same."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import anthropic

from mockserver.emulation.schema_instance import MAX_ITEMS
from mockserver.harness.testing import MockServer
from tests.batch_support import item, wait_ended
from tests.conftest import HAIKU

HUGE_ARRAY = {"type": "array", "minItems": 100_000_000, "items": {"type": "string"}}
STRUCTURED = {
    "model": HAIKU, "max_tokens": 50, "messages": [{"role": "user", "content": "x"}],
    "output_config": {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"a": HUGE_ARRAY}, "required": ["a"]}}},
}
FORCED_TOOL = {
    "model": HAIKU, "max_tokens": 4096, "messages": [{"role": "user", "content": "x"}],
    "tools": [{"name": "t", "input_schema": {"type": "object", "properties": {"a": HUGE_ARRAY}, "required": ["a"]}}],
    "tool_choice": {"type": "tool", "name": "t"},
}
HEADERS = {"x-api-key": "sk-ant-mock-test-key", "anthropic-version": "2023-06-01", "content-type": "application/json"}


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url + "/v1/messages", data=json.dumps(body, separators=(",", ":")).encode(), headers=HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_211_byte_request_is_refused_while_an_ordinary_client_is_served(mockserver: MockServer) -> None:
    assert len(json.dumps(STRUCTURED, separators=(",", ":"))) < 300  # the attack is tiny
    answers: dict[str, tuple[int, dict[str, Any]]] = {}
    ordinary = {"model": HAIKU, "max_tokens": 20, "messages": [{"role": "user", "content": "Hello"}]}
    threads = [
        threading.Thread(target=lambda: answers.__setitem__("hostile", _post(mockserver.url, STRUCTURED))),
        threading.Thread(target=lambda: answers.__setitem__("ordinary", _post(mockserver.url, ordinary))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    status, body = answers["hostile"]
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == (
        "output_config.format.schema: For 'array' type, 'minItems' values other than 0 or 1 are not supported"
    )
    assert answers["ordinary"][0] == 200 and answers["ordinary"][1]["type"] == "message"


def test_a_forced_tool_call_gets_an_input_cut_to_the_limits(mockserver: MockServer) -> None:
    status, body = _post(mockserver.url, FORCED_TOOL)
    assert status == 200
    (block,) = [b for b in body["content"] if b["type"] == "tool_use"]
    assert len(block["input"]["a"]) == MAX_ITEMS


def test_nested_arrays_and_huge_strings_are_bounded_too(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    nested = {"type": "array", "minItems": 100, "items": {"type": "array", "minItems": 100, "items": {"type": "string", "minLength": 4000}}}
    tool = dict(FORCED_TOOL, max_tokens=64_000, tools=[{"name": "t", "input_schema": {"type": "object", "properties": {"a": nested}, "required": ["a"]}}])
    status, body = _post(mockserver.url, tool)
    assert status == 200 and len(json.dumps(body)) < 300_000
    try:
        anthropic_client.messages.create(
            model=HAIKU, max_tokens=100, messages=[{"role": "user", "content": "x"}],
            output_config={"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"s": {"type": "string", "minLength": 10**9}}, "required": ["s"]}}},
        )
    except anthropic.BadRequestError as error:
        assert "'minLength' values above" in error.message
    else:
        raise AssertionError("a minLength no value can meet within the limits was accepted")


def test_batch_items_with_hostile_schemas_end_errored_or_cut(anthropic_client: anthropic.Anthropic) -> None:
    hostile = {k: v for k, v in STRUCTURED.items() if k != "model" and k != "messages"}
    tool = {k: v for k, v in FORCED_TOOL.items() if k != "model" and k != "messages"}
    batch = anthropic_client.messages.batches.create(requests=[item("structured", "x", **hostile), item("tool", "x", **tool), item("plain")])
    wait_ended(anthropic_client, batch.id, timeout=30)
    results = {r.custom_id: r.result for r in anthropic_client.messages.batches.results(batch.id)}
    assert results["structured"].type == "errored"
    assert "minItems" in results["structured"].error.error.message
    assert results["tool"].type == "succeeded" and len(results["tool"].message.content[0].input["a"]) == MAX_ITEMS
    assert results["plain"].type == "succeeded"

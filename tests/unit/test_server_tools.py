"""Server tools and the MCP connector in the fake model, in isolation: the triggers, the block
sequences and their shapes (checked against the SDK's types), determinism, max_uses, pause_turn
and its continuation, the token accounting, and how the blocks stream."""

from __future__ import annotations

import base64
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from anthropic._models import validate_type
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.beta import BetaMessage

from mockserver.clock import ManualClock
from mockserver.emulation.fake_model import FakeModel
from mockserver.emulation.server_tools import (
    ITERATION_LIMIT,
    RESULTS_PER_SEARCH,
    offered_mcp_tools,
    queries,
)
from mockserver.emulation.synth import Synthesizer
from mockserver.ids import IdGenerator
from mockserver.protocol.catalog import ModelCatalog
from mockserver.protocol.errors import ApiError
from mockserver.protocol.message import fed_back_tokens
from mockserver.protocol.schema import RequestSchema
from mockserver.protocol.sse import message_events
from mockserver.protocol.tokens import count_request
from mockserver.protocol.validate import Rules

HAIKU = "claude-haiku-4-5"
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search"}
WEB_FETCH = {"type": "web_fetch_20250910", "name": "web_fetch"}
CODE = {"type": "code_execution_20250825", "name": "code_execution"}
PYTHON = {"type": "code_execution_20250522", "name": "code_execution"}
WEATHER = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def body(text: str, *tools: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": HAIKU, "max_tokens": 4000, "messages": [{"role": "user", "content": text}], "tools": list(tools), **extra}


def kinds(content: list[dict[str, Any]]) -> list[str]:
    return [b["type"] for b in content]


@pytest.fixture
def synth() -> Synthesizer:
    return Synthesizer(seed=7)


@pytest.fixture
def model() -> FakeModel:
    rules = Rules(RequestSchema.load(), ModelCatalog.load())
    return FakeModel(rules, Synthesizer(seed=7), clock=ManualClock())


IDS = IdGenerator(1)


def reply(model: FakeModel, request: dict[str, Any], *, beta: bool = False) -> dict[str, Any]:
    draft = model.draft(request, version="2023-06-01", beta=beta)
    message = model.message(draft, IDS)
    validate_type(type_=BetaMessage if beta else Message, value=message)  # what strict validation checks
    return message


# -- triggers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["Use web_search to find rivers", "use the web search tool: rivers", "WEB-SEARCH rivers"])
def test_naming_the_tool_triggers_it(synth: Synthesizer, text: str) -> None:
    assert kinds(synth.generate(body(text, WEB_SEARCH)).content)[:2] == ["server_tool_use", "web_search_tool_result"]


@pytest.mark.parametrize("text", ["Tell me about rivers", "websearching is fun", "my_web_search_helper"])
def test_a_prompt_that_does_not_name_it_gets_text(synth: Synthesizer, text: str) -> None:
    assert kinds(synth.generate(body(text, WEB_SEARCH)).content) == ["text"]


def test_tool_choice_forces_a_server_tool_and_none_rules_it_out(synth: Synthesizer) -> None:
    forced = synth.generate(body("rivers", WEB_SEARCH, WEATHER, tool_choice={"type": "tool", "name": "web_search"}))
    assert kinds(forced.content)[0] == "server_tool_use" and forced.stop_reason == "end_turn"
    anything = synth.generate(body("rivers", WEB_SEARCH, WEATHER, tool_choice={"type": "any"}))
    assert kinds(anything.content)[0] == "server_tool_use"  # the first offered tool
    none = synth.generate(body("web_search rivers", WEB_SEARCH, tool_choice={"type": "none"}))
    assert kinds(none.content) == ["text"]


def test_server_tools_run_before_a_named_client_tool(synth: Synthesizer) -> None:
    out = synth.generate(body("web_search for rain, then get_weather", WEB_SEARCH, WEATHER))
    assert kinds(out.content) == ["server_tool_use", "web_search_tool_result", "text", "tool_use"]
    assert out.stop_reason == "tool_use"


def _sdk_server_tool_types() -> list[str]:
    """Every dated web search, web fetch and code execution tool type SDK 2.12 defines."""
    import anthropic.types

    found = Path(anthropic.types.__file__).parent.glob("*_tool_[0-9]*_param.py")
    names = (re.fullmatch(r"(web_search|web_fetch|code_execution)_tool_(\d{8})_param\.py", f.name) for f in found)
    return sorted(f"{m.group(1)}_{m.group(2)}" for m in names if m)


SERVER_TOOL_TYPES = _sdk_server_tool_types()
FIRST_CALL = {"web_search": "web_search", "web_fetch": "web_fetch", "code_execution": "bash_code_execution"}


def test_every_server_tool_version_the_sdk_knows_is_covered() -> None:
    assert len(SERVER_TOOL_TYPES) == 11 and "code_execution_20250522" in SERVER_TOOL_TYPES


@pytest.mark.parametrize("tool_type", SERVER_TOOL_TYPES)
def test_every_version_gets_its_blocks(model: FakeModel, tool_type: str) -> None:
    kind = re.sub(r"_\d{8}$", "", tool_type)
    message = reply(model, body(f"Use {kind} on https://example.com/rivers", {"type": tool_type, "name": kind}))
    call, result = message["content"][:2]
    expected = "code_execution" if tool_type == "code_execution_20250522" else FIRST_CALL[kind]
    assert call["type"] == "server_tool_use" and call["name"] == expected
    assert result["type"] == f"{expected}_tool_result" and result["tool_use_id"] == call["id"]
    assert message["stop_reason"] == "end_turn" and message["content"][-1]["type"] == "text"
    assert ("container" in message) is (kind == "code_execution")


# -- web search -------------------------------------------------------------------------------------
def test_web_search_sequence_and_shapes(model: FakeModel) -> None:
    message = reply(model, body("Use web_search to find the price of bitcoin", WEB_SEARCH))
    call, result, *text = message["content"]
    assert list(call) == ["type", "id", "name", "input"]  # as recorded: no caller on the call
    assert re.fullmatch(r"srvtoolu_01[1-9A-HJ-NP-Za-km-z]{22}", call["id"])
    assert call["name"] == "web_search" and call["input"] == {"query": "find the price of bitcoin"}
    assert list(result) == ["type", "tool_use_id", "content", "caller"] and result["tool_use_id"] == call["id"]
    assert result["caller"] == {"type": "direct"} and len(result["content"]) == RESULTS_PER_SEARCH
    first = result["content"][0]
    assert list(first) == ["type", "title", "url", "encrypted_content", "page_age"]
    cited = [b for b in text if b.get("citations")]
    assert cited and all(list(b) == ["citations", "type", "text"] for b in cited)
    citation = cited[0]["citations"][0]
    assert list(citation) == ["type", "cited_text", "url", "title", "encrypted_index"]
    assert citation["url"] in {r["url"] for r in result["content"]} and citation["cited_text"] == cited[0]["text"]
    assert message["usage"]["server_tool_use"] == {"web_search_requests": 1, "web_fetch_requests": 0}
    assert list(message["usage"])[-1] == "server_tool_use"
    assert message["stop_reason"] == "end_turn" and "container" not in message


def test_encrypted_fields_have_the_recorded_envelope(synth: Synthesizer) -> None:
    out = synth.generate(body("web_search rivers", WEB_SEARCH))
    result = out.content[1]["content"][0]
    raw = base64.b64decode(result["encrypted_content"])
    assert result["encrypted_content"].startswith("E") and raw[0] == 0x12  # field 2, like the API's "Eo…"/"Et…"
    assert raw.endswith(b"\x18\x03") and b"\x08\x12\x18\x02\x22\x24" in raw  # version 18, a uuid, kind 3
    index = base64.b64decode(next(b for b in out.content if b.get("citations"))["citations"][0]["encrypted_index"])
    assert index.endswith(b"\x18\x04")


def test_results_depend_on_the_seed_and_query_only() -> None:
    a = Synthesizer(seed=1).generate(body('web_search "rivers"', WEB_SEARCH))
    b = Synthesizer(seed=1).generate(body('Please web search "rivers" today', WEB_SEARCH, system="other"))
    c = Synthesizer(seed=2).generate(body('web_search "rivers"', WEB_SEARCH))
    assert a.content[1] == b.content[1] != c.content[1]


def test_quoted_phrases_are_separate_queries() -> None:
    assert queries('web_search "bitcoin price" and “ether price”') == ["bitcoin price", "ether price"]
    assert queries("Use the web search tool to lookup the price of bitcoin.") == ["lookup the price of bitcoin"]
    assert queries("web_search") == ["latest news"]


def test_allowed_and_blocked_domains(synth: Synthesizer) -> None:
    allowed = synth.generate(body("web_search rivers", dict(WEB_SEARCH, allowed_domains=["rivers.example"])))
    assert {r["url"].split("/")[2] for r in allowed.content[1]["content"]} == {"rivers.example"}
    blocked = synth.generate(body("web_search rivers", dict(WEB_SEARCH, blocked_domains=["example.com"])))
    assert not any(r["url"].split("/")[2].endswith("example.com") for r in blocked.content[1]["content"])


def test_max_uses_gives_the_error_result(model: FakeModel) -> None:
    message = reply(model, body('web_search "one" "two" "three"', dict(WEB_SEARCH, max_uses=2)))
    results = [b for b in message["content"] if b["type"] == "web_search_tool_result"]
    assert [isinstance(r["content"], list) for r in results] == [True, True, False]
    assert results[2]["content"] == {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}
    assert message["usage"]["server_tool_use"]["web_search_requests"] == 2  # errors are not counted
    assert "max_uses_exceeded" in "".join(b.get("text", "") for b in message["content"])


def test_pause_turn_after_the_iteration_limit_then_the_continuation_completes(model: FakeModel) -> None:
    asked = body("web_search " + " ".join(f'"q{i}"' for i in range(ITERATION_LIMIT + 2)), WEB_SEARCH, model="claude-opus-4-6")
    paused = reply(model, asked)
    assert paused["stop_reason"] == "pause_turn"
    assert kinds(paused["content"]) == ["server_tool_use", "web_search_tool_result"] * ITERATION_LIMIT
    again = dict(asked, messages=asked["messages"] + [{"role": "assistant", "content": paused["content"]}])
    done = reply(model, again)  # Opus 4.6 refuses prefill, but a paused turn is not one
    assert done["stop_reason"] == "end_turn"
    calls = [b["input"]["query"] for b in done["content"] if b["type"] == "server_tool_use"]
    assert calls == [f"q{ITERATION_LIMIT}", f"q{ITERATION_LIMIT + 1}"]
    assert done["content"][-1]["type"] == "text"
    finished = reply(model, dict(asked, messages=again["messages"][:-1] + [{"role": "assistant", "content": paused["content"] + done["content"][:4]}]))
    assert "server_tool_use" not in kinds(finished["content"]) and finished["stop_reason"] == "end_turn"


def test_a_text_prefill_is_still_refused_where_the_model_refuses_prefill(model: FakeModel) -> None:
    asked = body("hello", model="claude-opus-4-6")
    with pytest.raises(ApiError, match="Prefilling"):
        model.draft(dict(asked, messages=asked["messages"] + [{"role": "assistant", "content": "Sure"}]), version="2023-06-01", beta=False)


# -- web fetch --------------------------------------------------------------------------------------
def test_web_fetch_of_a_url_in_the_prompt(model: FakeModel) -> None:
    message = reply(model, body("web_fetch https://docs.example.com/rivers-of-europe please", dict(WEB_FETCH, citations={"enabled": True})))
    call, result, answer = message["content"]
    assert call["input"] == {"url": "https://docs.example.com/rivers-of-europe"}
    fetched = result["content"]
    assert fetched["type"] == "web_fetch_result" and fetched["url"] == call["input"]["url"]
    assert fetched["retrieved_at"] == "2026-01-01T00:00:00Z"  # the clock, per reply
    document = fetched["content"]
    assert document["source"]["type"] == "text" and "rivers of europe" in document["source"]["data"]
    assert document["citations"] == {"enabled": True}
    assert message["usage"]["server_tool_use"] == {"web_search_requests": 0, "web_fetch_requests": 1}
    assert call["input"]["url"] in answer["text"]


def test_web_fetch_after_a_search_opens_its_first_result(synth: Synthesizer) -> None:
    out = synth.generate(body("web_search rivers, then web_fetch the best page", WEB_SEARCH, WEB_FETCH))
    assert kinds(out.content)[:4] == ["server_tool_use", "web_search_tool_result", "server_tool_use", "web_fetch_tool_result"]
    assert out.content[2]["input"]["url"] == out.content[1]["content"][0]["url"]


@pytest.mark.parametrize(
    "text, tool, code",
    [
        ("web_fetch something", WEB_FETCH, "url_not_in_prior_context"),
        ("web_fetch https://example.com/x", dict(WEB_FETCH, blocked_domains=["example.com"]), "url_not_allowed"),
        ("web_fetch https://example.com/x", dict(WEB_FETCH, allowed_domains=["example.org"]), "url_not_allowed"),
        ("web_fetch https://example.com/a https://example.com/b", dict(WEB_FETCH, max_uses=1), "max_uses_exceeded"),
    ],
)
def test_web_fetch_errors(synth: Synthesizer, text: str, tool: dict[str, Any], code: str) -> None:
    out = synth.generate(body(text, tool))
    errors = [b["content"] for b in out.content if b["type"] == "web_fetch_tool_result" and b["content"]["type"].endswith("_error")]
    assert errors[-1] == {"type": "web_fetch_tool_result_error", "error_code": code}


def test_web_fetch_max_content_tokens(synth: Synthesizer) -> None:
    out = synth.generate(body("web_fetch https://example.com/long-page", dict(WEB_FETCH, max_content_tokens=5)))
    assert len(out.content[1]["content"]["content"]["source"]["data"].split()) <= 5


# -- code execution ---------------------------------------------------------------------------------
def test_bash_code_execution_with_a_container(model: FakeModel) -> None:
    message = reply(model, body("Use code_execution: `echo 42`", CODE))
    call, result, answer = message["content"]
    assert (call["name"], call["input"]) == ("bash_code_execution", {"command": "echo 42"})
    assert result == {
        "type": "bash_code_execution_tool_result", "tool_use_id": call["id"],
        "content": {"type": "bash_code_execution_result", "stdout": "42\n", "stderr": "", "return_code": 0, "content": []},
    }
    assert "42" in answer["text"]
    assert re.fullmatch(r"container_011C[1-9A-HJ-NP-Za-km-z]{20}", message["container"]["id"])
    assert message["container"]["expires_at"] == "2026-01-31T00:00:00.000000+00:00"  # 30 days on
    assert list(message)[:6] == ["model", "id", "type", "role", "content", "container"]
    assert message["usage"]["server_tool_use"] == {"web_search_requests": 0, "web_fetch_requests": 0}


def test_a_requested_container_is_reused(model: FakeModel) -> None:
    message = reply(model, body("code_execution `echo hi`", CODE, container="container_011CPmeL2A4TgyKpx2CYV98b"))
    assert message["container"]["id"] == "container_011CPmeL2A4TgyKpx2CYV98b"


def test_python_code_execution_and_the_text_editor(synth: Synthesizer) -> None:
    python = synth.generate(body("code execution: ```python\nprint('hi')\n```", PYTHON))
    assert python.content[0]["input"] == {"code": "print('hi')"}
    assert python.content[1]["content"]["type"] == "code_execution_result" and python.content[1]["content"]["stdout"] == "hi\n"
    other = synth.generate(body("code_execution `import this`", PYTHON))
    assert other.content[1]["content"]["stdout"] == ""  # nothing runs here
    editor = synth.generate(body("code_execution: write notes.md", CODE))
    assert editor.content[0]["name"] == "text_editor_code_execution"
    assert editor.content[0]["input"]["command"] == "create" and editor.content[0]["input"]["path"] == "notes.md"
    assert editor.content[1]["content"] == {"type": "text_editor_code_execution_create_result", "is_file_update": False}


# -- MCP --------------------------------------------------------------------------------------------
MCP_SERVER = {"type": "url", "name": "docs", "url": "https://mcp.example.com/sse"}


def test_mcp_tools_come_from_the_configuration_or_the_toolset() -> None:
    old = {"mcp_servers": [dict(MCP_SERVER, tool_configuration={"allowed_tools": ["lookup", "search"]})]}
    assert [(t.name, t.server) for t in offered_mcp_tools(old)] == [("lookup", "docs"), ("search", "docs")]
    off = {"mcp_servers": [dict(MCP_SERVER, tool_configuration={"enabled": False, "allowed_tools": ["lookup"]})]}
    assert offered_mcp_tools(off) == []
    toolset = {
        "mcp_servers": [MCP_SERVER],
        "tools": [{
            "type": "mcp_toolset", "mcp_server_name": "docs", "default_config": {"enabled": False},
            "configs": {"lookup": {"enabled": True}, "hidden": {"enabled": False}},
            "tools": [{"name": "lookup", "input_schema": {"type": "object", "properties": {"term": {"type": "string"}}, "required": ["term"]}}],
        }],
    }
    tools = offered_mcp_tools(toolset)
    assert [(t.name, t.server) for t in tools] == [("lookup", "docs")] and tools[0].schema is not None


def test_mcp_tool_use_and_result(model: FakeModel) -> None:
    request = body("lookup mock servers", mcp_servers=[dict(MCP_SERVER, tool_configuration={"allowed_tools": ["lookup"]})])
    request.pop("tools")
    message = reply(model, request, beta=True)
    use, result, answer = message["content"]
    assert list(use) == ["type", "id", "name", "server_name", "input"]
    assert re.fullmatch(r"mcptoolu_01[1-9A-HJ-NP-Za-km-z]{22}", use["id"]) and use["server_name"] == "docs"
    assert result["tool_use_id"] == use["id"] and result["is_error"] is False
    assert result["content"][0]["text"] in answer["text"]
    assert "server_tool_use" not in message["usage"]


def test_tool_choice_and_mcp_tools(synth: Synthesizer) -> None:
    servers = [dict(MCP_SERVER, tool_configuration={"allowed_tools": ["lookup"]})]
    forced = synth.generate(body("lookup rain", WEATHER, mcp_servers=servers, tool_choice={"type": "tool", "name": "get_weather"}))
    assert kinds(forced.content) == ["tool_use"]  # that tool and no other
    anything = synth.generate(body("lookup rain", WEATHER, mcp_servers=servers, tool_choice={"type": "any"}))
    assert kinds(anything.content)[:2] == ["mcp_tool_use", "mcp_tool_result"]  # a named MCP tool satisfies "any"
    assert kinds(synth.generate(body("lookup rain", mcp_servers=servers, tool_choice={"type": "none"})).content) == ["text"]


def test_mcp_input_follows_a_pinned_listing(synth: Synthesizer) -> None:
    toolset = {"type": "mcp_toolset", "mcp_server_name": "docs", "tools": [
        {"name": "lookup", "input_schema": {"type": "object", "properties": {"term": {"type": "string", "minLength": 3}}, "required": ["term"]}}]}
    out = synth.generate(body("lookup things", toolset, mcp_servers=[MCP_SERVER]))
    assert out.content[0]["type"] == "mcp_tool_use" and len(out.content[0]["input"]["term"]) >= 3


# -- limits and tokens ------------------------------------------------------------------------------
def test_max_tokens_drops_a_call_that_does_not_fit(synth: Synthesizer) -> None:
    out = synth.generate(body('web_search "one" "two"', WEB_SEARCH, max_tokens=30))
    assert kinds(out.content) == ["server_tool_use", "web_search_tool_result"] and out.stop_reason == "max_tokens"
    assert out.output_tokens <= 30


def test_usage_counts_the_results_as_input_and_message_start_shows_the_request(model: FakeModel) -> None:
    request = body("Use web_search to find rivers", WEB_SEARCH)
    message = reply(model, request)
    requested = count_request(request).total
    fed = fed_back_tokens(message["content"])
    assert fed > 1000 and message["usage"]["input_tokens"] == requested + fed
    events = message_events(message, random.Random(0))
    for event in (e for e in events if e.name != "ping"):  # the events are what the SDK's types say
        validate_type(type_=RawMessageStreamEvent, value=event.data)
    assert events[0].data["message"]["usage"]["input_tokens"] == requested
    delta = next(e for e in events if e.name == "message_delta")
    assert delta.data["usage"]["input_tokens"] == requested + fed
    assert delta.data["usage"]["server_tool_use"] == {"web_search_requests": 1, "web_fetch_requests": 0}


def test_server_blocks_stream_as_recorded(model: FakeModel) -> None:
    message = reply(model, body("Use web_search to find rivers", WEB_SEARCH))
    events = message_events(message, random.Random(3))
    starts = [e.data for e in events if e.name == "content_block_start"]
    assert starts[0]["content_block"] == dict(message["content"][0], input={})
    partial = "".join(e.data["delta"]["partial_json"] for e in events if e.name == "content_block_delta" and e.data["index"] == 0)
    assert partial == '{"query": "find rivers"}'  # spaced, as every recorded server tool call
    first_delta = next(e.data["delta"] for e in events if e.name == "content_block_delta" and e.data["index"] == 0)
    assert first_delta == {"type": "input_json_delta", "partial_json": ""}
    assert starts[1]["content_block"] == message["content"][1]  # the whole result, no deltas
    assert not [e for e in events if e.name == "content_block_delta" and e.data["index"] == 1]
    cited = next(s for s in starts if "citations" in s["content_block"])
    assert list(cited["content_block"]) == ["citations", "type", "text"]


def test_same_request_same_blocks_and_fresh_ids(model: FakeModel) -> None:
    request = body("Use web_search to find rivers", WEB_SEARCH)
    a, b = reply(model, request), reply(model, request)
    strip = lambda m: json.loads(json.dumps(m["content"]).replace(m["content"][0]["id"], "ID"))  # noqa: E731
    assert strip(a) == strip(b)
    assert model.message(model.draft(request, version="2023-06-01", beta=False), IdGenerator(2))["content"][0]["id"] != a["content"][0]["id"]

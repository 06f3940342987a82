"""Server tools and the MCP connector through the official SDK (sync and async, streamed and not,
strict response validation) over a real socket: the default responder's blocks, max_uses,
pause_turn and its continuation, containers, MCP, scripted server tool blocks, a fault on a
server tool stream, and the README's worked example as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any, Callable

import anthropic
import httpx2
import pytest

from mockserver.harness.testing import MockServer
from tests.conftest import HAIKU

ROOT = Path(__file__).resolve().parents[2]
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search"}
WEB_FETCH = {"type": "web_fetch_20250910", "name": "web_fetch"}
CODE = {"type": "code_execution_20250825", "name": "code_execution"}
MCP_SERVER = {"type": "url", "name": "docs", "url": "https://mcp.example.com/sse", "tool_configuration": {"allowed_tools": ["lookup"]}}
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # claude-opus-4-6 is deprecated in the catalog


def ask(text: str, *tools: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": HAIKU, "max_tokens": 2000, "messages": [{"role": "user", "content": text}], "tools": list(tools), **extra}


def without_ids(message: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in b.items() if k not in ("id", "tool_use_id")} for b in message.model_dump(exclude_none=True)["content"]]


# -- web search -------------------------------------------------------------------------------------
def test_web_search_plain_and_streamed_agree(make_server: Callable[..., MockServer]) -> None:
    params = ask("Use web_search to find the longest rivers", WEB_SEARCH)
    plain = make_server(seed=4).client().messages.create(**params)
    with make_server(seed=4).client().messages.stream(**params) as stream:
        final = stream.get_final_message()
    assert final.model_dump() == plain.model_dump()
    call, result = plain.content[0], plain.content[1]
    assert call.type == "server_tool_use" and call.name == "web_search" and call.input == {"query": "find the longest rivers"}
    assert result.type == "web_search_tool_result" and result.tool_use_id == call.id and isinstance(result.content, list)
    assert [r.type for r in result.content] == ["web_search_result"] * 10
    citations = [c for b in plain.content if b.type == "text" for c in (b.citations or [])]
    assert citations and all(c.type == "web_search_result_location" for c in citations)
    assert {c.url for c in citations} <= {r.url for r in result.content}
    assert plain.usage.server_tool_use is not None and plain.usage.server_tool_use.web_search_requests == 1
    assert plain.stop_reason == "end_turn"


async def test_web_search_async_stream_events(mockserver: MockServer) -> None:
    client = mockserver.async_client()
    try:
        params = ask("web search for rivers", WEB_SEARCH)
        counted = await client.messages.count_tokens(model=HAIKU, messages=params["messages"], tools=params["tools"])
        events = [event async for event in await client.messages.create(**params, stream=True)]
    finally:
        await client.close()
    start = events[0]
    assert start.type == "message_start" and start.message.usage.input_tokens == counted.input_tokens
    blocks = [e.content_block for e in events if e.type == "content_block_start"]
    assert blocks[0].type == "server_tool_use" and blocks[0].input == {}
    assert blocks[1].type == "web_search_tool_result" and len(blocks[1].content) == 10  # whole, in the start event
    json_deltas = [e.delta.partial_json for e in events if e.type == "content_block_delta" and e.index == 0]
    assert json_deltas[0] == "" and "".join(json_deltas) == '{"query": "for rivers"}'
    assert any(e.type == "content_block_delta" and e.delta.type == "citations_delta" for e in events)
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.usage.input_tokens is not None and delta.usage.input_tokens > counted.input_tokens  # the results came back in
    assert delta.usage.server_tool_use is not None and delta.usage.server_tool_use.web_search_requests == 1


def test_max_uses_then_pause_turn_and_its_continuation(anthropic_client: anthropic.Anthropic) -> None:
    queries = " ".join(f'"river {i}"' for i in range(12))
    params = ask(f"web_search {queries}", dict(WEB_SEARCH, max_uses=8), model="claude-opus-4-6", max_tokens=8000)
    paused = anthropic_client.messages.create(**params)
    assert paused.stop_reason == "pause_turn" and len(paused.content) == 20  # 10 calls and their results
    errors = [b.content.error_code for b in paused.content if b.type == "web_search_tool_result" and not isinstance(b.content, list)]
    assert errors == ["max_uses_exceeded", "max_uses_exceeded"]  # the 9th and 10th searches
    assert paused.usage.server_tool_use is not None and paused.usage.server_tool_use.web_search_requests == 8
    params["messages"].append({"role": "assistant", "content": paused.content})
    with anthropic_client.messages.stream(**params) as stream:
        done = stream.get_final_message()
    assert done.stop_reason == "end_turn"
    assert [b.input["query"] for b in done.content if b.type == "server_tool_use"] == ["river 10", "river 11"]
    assert done.content[-1].type == "text"


# -- web fetch and code execution ---------------------------------------------------------------------
async def test_web_fetch(mockserver: MockServer) -> None:
    client = mockserver.async_client()
    try:
        message = await client.messages.create(**ask("web_fetch https://docs.example.com/getting-started", WEB_FETCH))
    finally:
        await client.close()
    call, result, answer = message.content
    assert call.type == "server_tool_use" and call.input == {"url": "https://docs.example.com/getting-started"}
    assert result.type == "web_fetch_tool_result" and result.content.type == "web_fetch_result"
    assert result.content.content.source.type == "text" and "getting started" in result.content.content.source.data.lower()
    assert result.content.retrieved_at and answer.type == "text"
    assert message.usage.server_tool_use is not None and message.usage.server_tool_use.web_fetch_requests == 1


def test_code_execution_plain_and_beta_streamed(anthropic_client: anthropic.Anthropic) -> None:
    params = ask("Run this with code_execution: `echo 6x7=42`", CODE)
    plain = anthropic_client.messages.create(**params)
    call, result, _ = plain.content
    assert call.name == "bash_code_execution" and call.input == {"command": "echo 6x7=42"}
    assert result.type == "bash_code_execution_tool_result" and result.content.stdout == "6x7=42\n"
    assert plain.container is not None and plain.container.id.startswith("container_011C")
    with anthropic_client.beta.messages.stream(**params, betas=["code-execution-2025-08-25"], container=plain.container.id) as stream:
        again = stream.get_final_message()
    assert again.container is not None and again.container.id == plain.container.id  # reused, as asked
    assert [b.type for b in again.content] == [b.type for b in plain.content]


# -- MCP ----------------------------------------------------------------------------------------------
async def test_mcp_connector(mockserver: MockServer) -> None:
    client = mockserver.async_client()
    params = dict(model=HAIKU, max_tokens=500, betas=["mcp-client-2025-04-04"], mcp_servers=[MCP_SERVER],
                  messages=[{"role": "user", "content": "lookup mock servers"}])
    try:
        plain = await client.beta.messages.create(**params)
        async with client.beta.messages.stream(**params) as stream:
            streamed = await stream.get_final_message()
    finally:
        await client.close()
    use, result, answer = plain.content
    assert use.type == "mcp_tool_use" and use.name == "lookup" and use.server_name == "docs" and use.id.startswith("mcptoolu_01")
    assert result.type == "mcp_tool_result" and result.tool_use_id == use.id and result.is_error is False
    assert answer.type == "text" and without_ids(plain) == without_ids(streamed)
    assert mockserver.journal.last().header("anthropic-beta") == "mcp-client-2025-04-04"


# -- scripted blocks ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "prompt, kinds",
    [
        ("scripted search", ["server_tool_use", "web_search_tool_result", "text", "text"]),
        ("scripted search error", ["server_tool_use", "web_search_tool_result"] * 2 + ["text"]),
        ("scripted pause", ["server_tool_use", "web_search_tool_result"]),
        ("scripted fetch", ["server_tool_use", "web_fetch_tool_result", "text"]),
        ("scripted code", ["server_tool_use", "code_execution_tool_result", "server_tool_use", "bash_code_execution_tool_result"]
         + ["server_tool_use", "text_editor_code_execution_tool_result"] * 2 + ["text"]),
    ],
)
def test_scripted_server_tool_blocks(mockserver: MockServer, anthropic_client: anthropic.Anthropic, prompt: str, kinds: list[str]) -> None:
    mockserver.load_scenario(ROOT / "fixtures" / "server-tools.yaml")
    plain = anthropic_client.messages.create(**ask(prompt))
    with anthropic_client.messages.stream(**ask(prompt)) as stream:
        streamed = stream.get_final_message()
    assert [b.type for b in plain.content] == kinds == [b.type for b in streamed.content]
    assert without_ids(plain) == without_ids(streamed) and plain.usage == streamed.usage
    calls = [b for b in plain.content if b.type == "server_tool_use"]
    assert all(re.fullmatch(r"srvtoolu_01\w{22}", c.id) for c in calls)
    assert [b.tool_use_id for b in plain.content if b.type.endswith("_tool_result")] == [c.id for c in calls]
    again = anthropic_client.messages.create(**ask(prompt))
    assert {c.id for c in calls}.isdisjoint(b.id for b in again.content if b.type == "server_tool_use")  # fresh per reply
    if prompt == "scripted pause":
        assert plain.stop_reason == "pause_turn"
    if prompt == "scripted code":
        assert plain.container is not None and plain.content[1].content.stdout == "42\n"
    if prompt == "scripted search":
        assert plain.content[3].citations[0].type == "web_search_result_location"
        assert plain.usage.server_tool_use is not None and plain.usage.server_tool_use.web_search_requests == 1


def test_scripted_mcp_blocks(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.load_scenario(ROOT / "fixtures" / "server-tools.yaml")
    message = anthropic_client.beta.messages.create(**ask("scripted mcp"))
    use, result, _ = message.content
    assert use.type == "mcp_tool_use" and result.type == "mcp_tool_result" and result.tool_use_id == use.id
    assert result.content[0].text == "A mock stands in for the real thing."


# -- faults -------------------------------------------------------------------------------------------
def test_a_stream_dropped_after_the_search_result(make_server: Callable[..., MockServer]) -> None:
    """Dropped right after the web_search_tool_result's start event: the SDK has seen the call and
    its results, then the connection breaks."""
    params = ask("Use web_search to find rivers", WEB_SEARCH)
    whole = make_server(seed=9)
    list(whole.client().messages.create(**params, stream=True))
    sent = whole.journal.last().events or []
    cut = next(i for i, e in enumerate(sent) if e["event"] == "content_block_start"
               and e["data"]["content_block"]["type"] == "web_search_tool_result") + 1
    faulted = make_server(seed=9)  # same seed: the same bytes, ping included
    faulted.fault(drop={"after_events": cut})
    seen: list[Any] = []
    with pytest.raises(httpx2.RemoteProtocolError):
        for event in faulted.client(max_retries=2).messages.create(**params, stream=True):
            seen.append(event)
    assert [e.type for e in seen] == [e["event"] for e in sent[:cut] if e["event"] != "ping"]
    assert seen[-1].type == "content_block_start" and seen[-1].content_block.type == "web_search_tool_result"
    entry = faulted.journal.wait_for_calls(1)[0]
    assert f"dropped after {cut} events" in entry.faults
    faulted.journal.assert_called(1)


# -- the README's worked example ------------------------------------------------------------------------
def test_readme_server_tools_example_runs_as_written() -> None:
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"<!-- example: server-tools -->\s*```python\n(.*?)```", readme, re.DOTALL)
    assert code is not None
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code.group(1), "README.md", "exec"), {})  # noqa: S102 - our own README
    expected = re.findall(r"^# (.*)$", code.group(1).split("# prints:", 1)[1], re.MULTILINE)
    assert printed.getvalue().splitlines() == expected

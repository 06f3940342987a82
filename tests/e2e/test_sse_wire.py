"""The SSE bytes on the wire, read with a raw HTTP client: framing, order, ping, padding."""

from __future__ import annotations

import json
import re

import aiohttp
import orjson

from tests.conftest import HAIKU

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
EVENT = re.compile(rb"event: ([a-z_]+)\ndata: ([^\n]*)\n\n")


async def _stream_bytes(url: str, body: dict) -> tuple[aiohttp.ClientResponse, bytes, list[bytes]]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/v1/messages", json=body, headers=HEADERS) as response:
            chunks = [chunk async for chunk in response.content.iter_any()]
            return response, b"".join(chunks), chunks


async def test_framing_and_event_order(mockserver) -> None:
    body = {"model": HAIKU, "max_tokens": 300, "stream": True, "messages": [{"role": "user", "content": "Hi there"}]}
    response, raw, _ = await _stream_bytes(mockserver.url, body)
    assert response.status == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.headers["request-id"].startswith("req_")
    assert "anthropic-ratelimit-requests-limit" in response.headers

    events = EVENT.findall(raw)
    assert b"".join(b"event: %s\ndata: %s\n\n" % e for e in events) == raw  # nothing but events, \n\n framing
    names = [name.decode() for name, _ in events]
    assert names[:2] == ["message_start", "content_block_start"] and names.count("ping") == 1
    assert names.index("ping") in (2, 3, 4)  # right after the block's start, or after its first deltas
    assert names[-2:] == ["message_delta", "message_stop"]
    assert set(names[2:-3]) == {"content_block_delta", "ping"} and names[-3] == "content_block_stop"
    for name, data in events:
        if name == b"ping":
            assert data == b'{"type": "ping"}'
            continue
        payload = json.loads(data)
        assert payload["type"] == name.decode()
        assert re.sub(rb" +}$", b"}", data) == orjson.dumps(payload)  # compact JSON; padding only before the last brace
    start = json.loads(events[0][1])["message"]
    assert list(start)[:3] == ["model", "id", "type"]
    assert start["content"] == [] and start["stop_reason"] is None
    delta = json.loads(events[-2][1])
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] > start["usage"]["output_tokens"]


async def test_data_lines_are_padded_like_the_real_api(make_server) -> None:
    server = make_server(seed=1)
    body = {"model": HAIKU, "max_tokens": 500, "stream": True, "messages": [{"role": "user", "content": "a b c d e f g"}]}
    _, raw, _ = await _stream_bytes(server.url, body)
    padded = [data for name, data in EVENT.findall(raw) if name != b"ping" and data.endswith(b" }")]
    assert padded, "expected some padded data lines"
    quiet = make_server(seed=1, sse_padding=False)
    _, raw, _ = await _stream_bytes(quiet.url, body)
    assert not [d for n, d in EVENT.findall(raw) if n != b"ping" and d.endswith(b" }")]


async def test_errors_before_streaming_are_json_not_sse(mockserver) -> None:
    body = {"model": "no-such-model", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "x"}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{mockserver.url}/v1/messages", json=body, headers=HEADERS) as response:
            assert response.status == 404
            assert response.headers["content-type"] == "application/json"
            assert response.headers["x-should-retry"] == "false"
            assert "anthropic-ratelimit-requests-limit" not in response.headers
            payload = await response.json()
    assert payload == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "model: no-such-model"},
        "request_id": response.headers["request-id"],
    }


async def test_the_ping_moves_like_the_real_apis_and_the_sdk_still_gets_the_message(make_server) -> None:
    """The ping comes right after the first content_block_start in most streams, after a delta or
    two in some (docs/protocol.md "SSE"); the SDK, strict, accumulates the same Message anyway."""
    import anthropic

    server = make_server(seed=5)
    positions = []
    async with anthropic.AsyncAnthropic(base_url=server.url, api_key="k", _strict_response_validation=True) as client:
        for i in range(40):
            body = {"model": HAIKU, "max_tokens": 300, "stream": True, "messages": [{"role": "user", "content": f"Question {i}"}]}
            _, raw, _ = await _stream_bytes(server.url, body)
            names = [name.decode() for name, _ in EVENT.findall(raw)]
            positions.append(names.index("ping") - 2)
            async with client.messages.stream(model=HAIKU, max_tokens=300, messages=body["messages"]) as stream:
                streamed = await stream.get_final_message()
            plain = await client.messages.create(model=HAIKU, max_tokens=300, messages=body["messages"])
            assert [b.to_dict() for b in streamed.content] == [b.to_dict() for b in plain.content]
            assert streamed.stop_reason == plain.stop_reason
            assert streamed.usage.output_tokens == plain.usage.output_tokens
    assert positions.count(0) >= 28 and any(p > 0 for p in positions)

"""The shape of answers as recorded real traffic has it (docs/protocol.md "Response framing"):
rate-limit headers only on Messages answers, no organisation id on a 401, successes chunked and
gzipped for clients that accept gzip (streams flushed event by event), errors with a length."""

from __future__ import annotations

import asyncio
import socket
import threading
import zlib
from typing import Any, AsyncIterator, Callable

import anthropic
import httpx2
import orjson
import pytest

from mockserver.harness.testing import DEFAULT_TEST_KEY, MockServer
from mockserver.pipeline.exchange import ApiRequest, BytesReply, Next, Reply
from mockserver.protocol import sse
from tests.conftest import HAIKU, USER_HI
from tests.fuzz.wire import API_HEADERS, address, exchange, request

LIMITS = "anthropic-ratelimit-requests-limit"
ASK = {"model": HAIKU, "max_tokens": 20, "messages": USER_HI}


def test_rate_limit_headers_only_on_messages_answers(anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.with_raw_response.create(**ASK)
    counted = anthropic_client.messages.with_raw_response.count_tokens(model=HAIKU, messages=USER_HI)
    models = anthropic_client.models.with_raw_response.list()
    batches = anthropic_client.messages.batches.with_raw_response.list()
    assert LIMITS in message.headers
    assert all(LIMITS not in r.headers for r in (counted, models, batches))


def test_rate_limit_headers_on_a_scripted_429_of_messages_but_not_on_other_errors(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.error(429, times=1)
    with pytest.raises(anthropic.RateLimitError) as limited:
        anthropic_client.with_options(max_retries=0).messages.create(**ASK)
    assert LIMITS in limited.value.response.headers
    with pytest.raises(anthropic.NotFoundError) as missing:
        anthropic_client.messages.create(**{**ASK, "model": "claude-nonexistent-9"})
    assert LIMITS not in missing.value.response.headers


def test_a_401_carries_no_organization_id(mockserver: MockServer) -> None:
    unauthenticated = exchange(mockserver.url, request("GET", "/v1/models", headers=API_HEADERS[1:]))
    missing = exchange(mockserver.url, request("GET", "/v1/models/claude-nonexistent-9", headers=API_HEADERS))
    assert unauthenticated.status == 401 and "anthropic-organization-id" not in unauthenticated.headers
    assert missing.status == 404 and missing.headers["anthropic-organization-id"]


def test_successes_are_chunked_and_errors_have_a_length(mockserver: MockServer) -> None:
    ok = exchange(mockserver.url, request("GET", "/v1/models", headers=API_HEADERS))
    refused = exchange(mockserver.url, request("GET", "/v1/models/claude-nonexistent-9", headers=API_HEADERS))
    assert ok.headers["transfer-encoding"] == "chunked" and "content-length" not in ok.headers
    assert "transfer-encoding" not in refused.headers and int(refused.headers["content-length"]) == len(refused.body)


def test_the_sdk_gets_gzip_and_reads_it(anthropic_client: anthropic.Anthropic) -> None:
    raw = anthropic_client.messages.with_raw_response.create(**ASK)
    assert raw.headers["content-encoding"] == "gzip" and raw.headers["vary"] == "Accept-Encoding"
    assert raw.parse().content[0].type == "text"
    with anthropic_client.messages.with_streaming_response.create(**ASK, stream=True) as stream:
        assert stream.headers["content-encoding"] == "gzip"
        events = [event.type for event in stream.parse()]
    assert events[0] == "message_start" and events[-1] == "message_stop"


async def test_the_async_sdk_reads_gzipped_streams(async_anthropic_client: anthropic.AsyncAnthropic) -> None:
    async with async_anthropic_client.messages.stream(**ASK) as stream:
        message = await stream.get_final_message()
    plain = await async_anthropic_client.messages.create(**ASK)
    assert message.content[0].type == plain.content[0].type == "text"


def test_no_gzip_without_accept_encoding_or_with_q0(mockserver: MockServer) -> None:
    body = b'{"model":"%s","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}' % HAIKU.encode()
    for accept in (None, "gzip;q=0", "identity"):
        headers = [*API_HEADERS] + ([("accept-encoding", accept)] if accept else [])
        answer = exchange(mockserver.url, request("POST", "/v1/messages", headers=headers, body=body), method="POST")
        assert answer.status == 200 and "content-encoding" not in answer.headers and answer.json["type"] == "message"


def test_no_gzip_turns_it_off(make_server: Callable[..., MockServer]) -> None:
    server = make_server(gzip=False)
    with server.client() as client:
        raw = client.messages.with_raw_response.create(**ASK)
    assert "content-encoding" not in raw.headers and raw.parse().type == "message"


class Gated:
    """A stream of ours whose second event waits until the test has read the first."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    async def __call__(self, request: ApiRequest, next: Next) -> Reply:
        release = self.release

        async def body() -> AsyncIterator[bytes]:
            yield b'event: ping\ndata: {"type": "ping"}\n\n'
            released = await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
            yield b'event: done\ndata: {"released": %s}\n\n' % (b"true" if released else b"false")

        return BytesReply(status=200, body=body(), content_type="text/event-stream; charset=utf-8", api_headers=True)


def test_a_gzipped_stream_is_flushed_event_by_event(make_server: Callable[..., MockServer]) -> None:
    """The first event decodes on the client before the second is even written: a compressor that
    waited for more data would deadlock here (and the second event would say ``false``)."""
    server = make_server()
    release = threading.Event()
    server.api.use(Gated(release))
    headers = [*API_HEADERS, ("accept-encoding", "gzip")]
    raw = request("POST", "/v1/messages", headers=headers, body=b'{"model":"%s","max_tokens":5,"messages":[]}' % HAIKU.encode())


    with socket.create_connection(address(server.url), timeout=10) as sock:
        sock.sendall(raw)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head, _, rest = received.partition(b"\r\n\r\n")
        assert b"content-encoding: gzip" in head.lower()
        decoder = zlib.decompressobj(31)
        decoded = b""
        while b'"ping"' not in decoded:
            decoded += decoder.decompress(_dechunk(rest))
            rest = b"" if b'"ping"' in decoded else sock.recv(65536)
        release.set()
        tail = b""
        while not tail.endswith(b"\r\n0\r\n\r\n"):
            tail += sock.recv(65536)
    decoded += decoder.decompress(_dechunk(tail)) + decoder.flush()
    assert decoded == b'event: ping\ndata: {"type": "ping"}\n\nevent: done\ndata: {"released": true}\n\n'
    assert decoder.eof  # the gzip trailer came before the end of the body


def _dechunk(data: bytes) -> bytes:
    """The payload of whole chunks in ``data`` (chunk sizes in hex, CRLF-framed)."""
    out, rest = b"", data
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line, 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out


def test_recorded_bytes_are_never_re_encoded(make_server: Callable[..., MockServer]) -> None:
    server = make_server()

    class Recorded:
        async def __call__(self, request: ApiRequest, next: Next) -> Reply:
            return BytesReply(status=200, body=b'{"type":"message"}', content_type="application/json", headers={"x-recorded": "1"})

    server.api.use(Recorded())
    headers: dict[str, Any] = {"x-api-key": DEFAULT_TEST_KEY, "anthropic-version": "2023-06-01", "accept-encoding": "gzip"}
    with httpx2.Client(base_url=server.url, timeout=10) as client:
        answer = client.post("/v1/messages", json=ASK, headers=headers)
    assert "content-encoding" not in answer.headers and answer.content == b'{"type":"message"}'
    assert answer.headers["content-length"] == "18"


SCRIPT = [
    {"event": "message_start", "data": {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                                                       "model": HAIKU, "stop_reason": None, "stop_sequence": None,
                                                                       "usage": {"input_tokens": 3, "output_tokens": 1}}}},
    {"event": "content_block_start", "data": {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}},
    *[{"event": "content_block_delta", "data": {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f" w{i}"}}}
      for i in range(50)],
    {"event": "content_block_stop", "data": {"type": "content_block_stop", "index": 0}},
    {"event": "message_delta", "data": {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 50}}},
    {"event": "message_stop", "data": {"type": "message_stop"}},
]


def _raw_stream(url: str, *extra: tuple[str, str]) -> tuple[bytes, bytes]:
    """The head and the still chunk-framed body of one streamed call, read to the last chunk."""
    body = b'{"model":"%s","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}' % HAIKU.encode()
    with socket.create_connection(address(url), timeout=10) as sock:
        sock.sendall(request("POST", "/v1/messages", headers=[*API_HEADERS, *extra], body=body))
        received = b""
        while not received.endswith(b"\r\n0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, "the connection closed before the end of the body"
            received += chunk
    head, _, framed = received.partition(b"\r\n\r\n")
    return head, framed


PACED = [{**event, "delay": 0.01} if i % 10 == 5 else event for i, event in enumerate(SCRIPT)]


@pytest.mark.parametrize("gzip", [False, True])
@pytest.mark.parametrize("script", [SCRIPT, PACED], ids=["due at once", "paced"])
def test_a_scripted_stream_keeps_its_framing_and_its_events(mockserver: MockServer, gzip: bool, script: list[dict[str, Any]]) -> None:
    """Events due together leave together (one write), yet the chunked framing is whole and the
    events arrive as scripted, in order, each ending with its blank line; gzipped the same (a
    paced stream through the streaming compressor, with its small window)."""
    mockserver.stream(script)
    head, framed = _raw_stream(mockserver.url, *([("accept-encoding", "gzip")] if gzip else []))
    assert b"transfer-encoding: chunked" in head.lower() and (b"content-encoding: gzip" in head.lower()) == gzip
    payload = _dechunk(framed)
    assert framed.endswith(b"\r\n0\r\n\r\n") and len(framed) > len(payload)
    body = zlib.decompress(payload, 31) if gzip else payload
    assert body == mockserver.journal.last_request().response_bytes
    events = sse.split(body)
    assert len(events) == len(SCRIPT) and all(e.endswith(b"\n\n") for e in events)
    assert [sse.canonical(e)[0] for e in events] == [item["event"] for item in SCRIPT]  # type: ignore[index]
    assert [orjson.loads(sse.canonical(e)[1]) for e in events] == [item["data"] for item in SCRIPT]  # type: ignore[index]
    assert mockserver.journal.last_request().streamed


def test_the_sdk_reads_a_scripted_stream_due_at_once(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.stream(SCRIPT)
    with anthropic_client.messages.stream(**ASK) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "".join(f" w{i}" for i in range(50)) and final.usage.output_tokens == 50

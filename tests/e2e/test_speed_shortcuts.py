"""Shortcuts taken for speed must not change what goes on the wire: successes carry their
constant headers serialized once (mockserver/http/preserialized.py), spliced into aiohttp's."""

from __future__ import annotations

import json
import socket

import pytest

from mockserver.clock import ManualClock
from mockserver.config import Config
from mockserver.http import sink
from mockserver.http.runner import ServerThread
from mockserver.store.sqlite import MEMORY
from tests.fuzz.wire import API_HEADERS, address, exchange, request

needs_shortcut = pytest.mark.skipif(not sink.PRESERIALIZED, reason="this aiohttp release writes headers another way: no shortcut to check")
MESSAGE = {"model": "claude-haiku-4-5", "max_tokens": 40, "messages": [{"role": "user", "content": "Hello"}]}
CALLS = [
    request("POST", "/v1/messages", headers=API_HEADERS, body=json.dumps(MESSAGE).encode()),
    request("POST", "/v1/messages", headers=API_HEADERS, body=json.dumps({**MESSAGE, "stream": True}).encode()),
    request("POST", "/v1/messages", headers=API_HEADERS, body=json.dumps({**MESSAGE, "max_tokens": 0}).encode()),
    request("POST", "/v1/messages", headers=API_HEADERS[1:], body=json.dumps(MESSAGE).encode()),  # no key: 401
    request("POST", "/v1/messages/count_tokens", headers=API_HEADERS, body=json.dumps({**MESSAGE, "max_tokens": None}).encode()),
    request("GET", "/v1/models?limit=2", headers=API_HEADERS),
    request("POST", "/v1/messages/batches", headers=API_HEADERS,
            body=json.dumps({"requests": [{"custom_id": "a", "params": MESSAGE}]}).encode()),
    request("GET", "/v1/messages/batches", headers=API_HEADERS),
    request("GET", "/v1/models/claude-haiku-4-5", headers=API_HEADERS),  # a path with an id
]


def _serve() -> ServerThread:
    config = Config(port=0, seed=7, log_requests=False, data_dir=MEMORY, clock=ManualClock())
    return ServerThread(config).start()


@needs_shortcut
def test_every_call_answers_alike_with_and_without_serialized_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same seed and clock: the same status, headers (in order), ids and content either way."""
    fast = _serve()
    monkeypatch.setattr(sink, "PRESERIALIZED", False)
    plain = _serve()
    try:
        for raw in CALLS:
            a, b = exchange(fast.url, raw), exchange(plain.url, raw)
            assert a.status == b.status
            assert [k for k in a.headers if k != "date"] == [k for k in b.headers if k != "date"]
            assert {k: v for k, v in a.headers.items() if k != "date"} == {k: v for k, v in b.headers.items() if k != "date"}
            # batch results_url names the server
            assert a.body.replace(fast.url.encode(), b"URL") == b.body.replace(plain.url.encode(), b"URL")
    finally:
        fast.stop()
        plain.stop()


def test_expect_100_continue_is_answered_before_the_body() -> None:
    """curl sends ``Expect: 100-continue`` for larger bodies and waits for the interim answer."""
    server = _serve()
    body = json.dumps(MESSAGE).encode()
    head = request("POST", "/v1/messages", headers=[*API_HEADERS, ("expect", "100-continue")], content_length=len(body))
    try:
        with socket.create_connection(address(server.url), timeout=10) as sock:
            sock.sendall(head)
            assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n")
            sock.sendall(body)
            answer = b""
            while b'"type":"message"' not in answer:
                chunk = sock.recv(65536)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    finally:
        server.stop()


def _raw_answer(url: str, raw: bytes) -> bytes:
    with socket.create_connection(address(url), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while not answer.endswith(b"\r\n0\r\n\r\n"):  # a success is chunked, as the real API's
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
    return answer


@needs_shortcut
@pytest.mark.parametrize("edge", [True, False], ids=["edge headers", "no edge headers"])
def test_preserialized_headers_are_byte_for_byte_the_plain_ones(edge: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = []
    for preserialized in (True, False):
        monkeypatch.setattr(sink, "PRESERIALIZED", preserialized)
        config = Config(port=0, seed=7, log_requests=False, data_dir=MEMORY, clock=ManualClock(), edge_headers=edge)
        server = ServerThread(config).start()
        try:
            answers.append(_raw_answer(server.url, CALLS[0]))
        finally:
            server.stop()
    fast, plain = (b"\r\n".join(line for line in a.split(b"\r\n") if not line.startswith(b"Date: ")) for a in answers)
    assert fast.startswith(b"HTTP/1.1 200 OK\r\nanthropic-ratelimit-requests-limit: ")
    assert (b"\r\nserver: cloudflare\r\n" in fast) is edge
    assert fast == plain

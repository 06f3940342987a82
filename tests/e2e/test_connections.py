"""Connection hygiene: slow or idle connections cannot hold the server hostage (docs/protocol.md)."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Callable

from mockserver.config import ConnectionLimits
from mockserver.harness.testing import MockServer
from tests.conftest import HAIKU, USER_HI
from tests.fuzz.wire import API_HEADERS, address, exchange, request


def _closed_by_server(sock: socket.socket) -> bool:
    """Read until the server closes the connection (True), or the socket's timeout (False)."""
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def _ask(server: MockServer) -> str:
    with server.client(max_retries=0, timeout=10) as client:
        return client.messages.create(model=HAIKU, max_tokens=10, messages=USER_HI).type


def test_headers_that_never_finish_are_cut_off(make_server: Callable[..., MockServer]) -> None:
    server = make_server(connections=ConnectionLimits(header_timeout=0.3))
    with socket.create_connection(address(server.url), timeout=10) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\nx-api-key: k\r\n")  # ... and nothing more
        assert _closed_by_server(sock)
    assert _ask(server) == "message"


def test_a_keep_alive_connection_answered_then_stalled_mid_headers_is_cut_off(make_server: Callable[..., MockServer]) -> None:
    """The header timer is armed once per connection, not per call: after answered calls, a
    second request's headers that stop arriving still close the connection; calls that keep
    coming on it are answered all the while."""
    server = make_server(connections=ConnectionLimits(header_timeout=0.5, keepalive_timeout=60))
    with socket.create_connection(address(server.url), timeout=10) as sock:
        for _ in range(3):
            sock.sendall(request("GET", "/v1/models", headers=API_HEADERS))
            answer = http.client.HTTPResponse(sock, method="GET")
            answer.begin()
            assert answer.status == 200 and json.loads(answer.read())["data"]
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\n")  # ... and nothing more
        assert _closed_by_server(sock)


def test_a_body_that_stops_arriving_is_a_408_and_the_connection_closes(make_server: Callable[..., MockServer]) -> None:
    server = make_server(connections=ConnectionLimits(body_timeout=0.3))
    head = request("POST", "/v1/messages", headers=API_HEADERS, content_length=200)
    with socket.create_connection(address(server.url), timeout=10) as sock:
        sock.sendall(head + b'{"model": "')
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 ")
        body = json.loads(answer.partition(b"\r\n\r\n")[2])
        assert body["error"]["type"] == "timeout_error" and "stopped arriving" in body["error"]["message"]
        assert _closed_by_server(sock)
    entry = server.journal.last(endpoint="messages.create")
    assert entry is not None and entry.status == 408


def test_an_idle_keep_alive_connection_closes(make_server: Callable[..., MockServer]) -> None:
    server = make_server(connections=ConnectionLimits(keepalive_timeout=0.3))
    with socket.create_connection(address(server.url), timeout=10) as sock:
        sock.sendall(request("GET", "/v1/models", headers=API_HEADERS))
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        assert _closed_by_server(sock)


def test_at_the_cap_the_longest_idle_connection_makes_room(make_server: Callable[..., MockServer]) -> None:
    server = make_server(connections=ConnectionLimits(max_connections=4))
    idle = [socket.create_connection(address(server.url), timeout=10) for _ in range(4)]
    try:
        assert exchange(server.url, request("GET", "/v1/models", headers=API_HEADERS)).status == 200  # a fifth gets in
        assert _closed_by_server(idle[0])  # the oldest idle one went
        assert _ask(server) == "message"
    finally:
        for sock in idle:
            sock.close()


def test_many_slow_connections_do_not_lock_others_out(make_server: Callable[..., MockServer]) -> None:
    """1,500 connections sending headers a byte at a time (slowloris); a real client is still answered."""
    server = make_server(connections=ConnectionLimits(max_connections=1000))
    slow: list[socket.socket] = []
    try:
        for _ in range(1500):
            sock = socket.create_connection(address(server.url), timeout=10)
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\nx-slow: ")
            slow.append(sock)
        assert _ask(server) == "message"
        assert exchange(server.url, request("GET", "/v1/models", headers=API_HEADERS)).status == 200
    finally:
        for sock in slow:
            sock.close()

"""Connection hygiene: slow or idle connections cannot hold the server hostage (docs/protocol.md)."""

from __future__ import annotations

import errno
import http.client
import json
import logging
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest

from mockserver.config import ConnectionLimits
from mockserver.harness.testing import MockServer
from mockserver.http.server import ACCEPT_OUT_OF_RESOURCES, ApiServer
from tests.conftest import HAIKU, USER_HI
from tests.fuzz.wire import API_HEADERS, address, exchange, request
from tests.process_support import free_port, serve


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


FD_LIMIT = 256
BURST = 120  # connections the kernel completes while the server is stopped: under the listen backlog (128)


def _low_fd_limit() -> None:  # in the child: soft and hard, so the server cannot raise it
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def test_at_the_file_descriptor_limit_others_are_answered_and_the_log_has_no_traceback(tmp_path: Path) -> None:
    """With ``ulimit -n 1024`` and 1,500 slow connections the log had ~1,900 "Too many open
    files" tracebacks in 2 s, and the server stopped accepting: asyncio accepts up to the listen
    backlog at once, more than the cap's margin left room for, and logs each failure with a
    traceback. Here the server runs with 256 descriptors and takes slow connections in bursts
    of 120 (stopped while the kernel completes them), four times."""
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:  # the log (stdout) and anything else (stderr)
        proc = serve(port, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_low_fd_limit)
    url = f"http://127.0.0.1:{port}"
    slow: list[socket.socket] = []
    unanswered = 0
    try:
        for _ in range(4):
            proc.send_signal(signal.SIGSTOP)
            try:
                for _ in range(BURST):
                    try:
                        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                    except OSError:  # the server no longer accepts: its backlog stays full
                        unanswered += 1
                        break
                    sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\nx-slow: ")
                    slow.append(sock)
            finally:
                proc.send_signal(signal.SIGCONT)
            time.sleep(1.2)  # (asyncio retries an accept that ran out of descriptors after 1 s)
        assert unanswered == 0, "the server stopped accepting connections"
        for _ in range(3):
            assert exchange(url, request("GET", "/v1/models", headers=API_HEADERS), timeout=10).status == 200
    finally:
        for sock in slow:
            sock.close()
        proc.terminate()
        proc.wait(timeout=10)
    logged = log_path.read_text(errors="replace")
    assert "Traceback" not in logged and "Too many open files" not in logged, logged[:3000]


def test_asyncio_running_out_of_descriptors_on_accept_is_one_warning_a_minute(
    make_server: Callable[..., MockServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = make_server()
    runner = server._thread._runner
    assert runner is not None and isinstance(runner.server, ApiServer)
    loop = server._thread.loop
    assert loop.get_exception_handler() == runner.server.handle_loop_exception
    emfile = OSError(errno.EMFILE, "Too many open files")
    with caplog.at_level(logging.WARNING):
        for _ in range(50):  # what asyncio reports, once per failed accept burst
            loop.call_exception_handler({"message": ACCEPT_OUT_OF_RESOURCES, "exception": emfile})
        loop.call_exception_handler({"message": "something else", "exception": ValueError("x")})
    ours = [r for r in caplog.records if r.name == "mockserver"]
    assert len(ours) == 1 and ours[0].exc_info is None
    assert ours[0].getMessage().startswith("could not accept connections: Too many open files (retrying each second")
    others = [r for r in caplog.records if r.name == "asyncio"]  # anything else: asyncio's own handler, as before
    assert len(others) == 1 and others[0].getMessage() == "something else"

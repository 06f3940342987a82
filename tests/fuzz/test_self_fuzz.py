"""Self-fuzzing: whatever a client sends over a real socket — valid, nearly valid or garbage —
the server answers in the API's shape, never with a 5xx it was not told to inject, never
crashes or logs an internal error, and its memory stays steady.

A bounded run is part of ``make test``; ``make fuzz-long`` runs the same tests with twenty times
the examples and requests (``MOCKSERVER_FUZZ_SCALE``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver import fuzz
from mockserver.harness.testing import MockServer
from tests.fuzz import requests as rq
from tests.fuzz.wire import API_HEADERS, Answer, address, assert_anthropic_error, exchange, request

SCALE = max(1, int(os.environ.get("MOCKSERVER_FUZZ_SCALE", "1")))


def budget(examples: int) -> settings:
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


class ErrorLog(logging.Handler):
    """Every ERROR the server logs (an internal error, a traceback) is a finding."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def errors_logged() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    loggers = [logging.getLogger(name) for name in ("mockserver", "aiohttp")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture(scope="module")
def server(errors_logged: ErrorLog) -> Iterator[MockServer]:
    with MockServer() as s:
        yield s


def healthy(server: MockServer, errors_logged: ErrorLog, answer: Answer | None = None) -> None:
    """The invariants after each example."""
    if answer is not None and answer.status is not None:
        assert_anthropic_error(answer)
    for entry in server.journal.newest(5):  # also what nobody was left to read (a client that hung up)
        assert entry.status < 500 or entry.origin not in ("server", "default", "none"), entry
    # (lone surrogates escaped: a report xdist cannot encode would crash the worker, not fail the test)
    assert not errors_logged.records, [ascii(r.getMessage()) for r in errors_logged.records]
    assert server._thread._thread.is_alive()


@budget(150)
@given(
    method=rq.METHODS, path=rq.PATHS, credentials=rq.CREDENTIALS, version=rq.VERSIONS, content_type=rq.CONTENT_TYPES,
    beta=rq.BETAS, extra=rq.EXTRA, body=rq.BODIES, data=st.data(),
)
def test_any_request_gets_an_answer_in_the_api_shape(
    server: MockServer, errors_logged: ErrorLog, method: str, path: str, credentials: list, version: list, content_type: list,
    beta: list, extra: list, body: bytes, data: st.DataObject,
) -> None:
    framing, raw_body, length = data.draw(rq.framed(body), label="framing")
    headers = [*credentials, *version, *content_type, *beta, *extra, *framing]
    answer = exchange(server.url, request(method, path, headers=headers, body=raw_body, content_length=length), method=method, timeout=10)
    assert answer.status is not None, "no answer to a complete request"
    healthy(server, errors_logged, answer)


@budget(100)
@given(garbage=rq.GARBAGE)
def test_protocol_garbage_gets_a_json_400_or_a_closed_connection(server: MockServer, errors_logged: ErrorLog, garbage: bytes) -> None:
    try:
        answer = exchange(server.url, garbage if garbage.endswith(b"\r\n\r\n") else garbage + b"\r\n\r\n", timeout=2)
    except (socket.timeout, TimeoutError):
        answer = None  # the parser is waiting for the rest of something that looked like a request
    healthy(server, errors_logged, answer)
    follow_up = exchange(server.url, request("GET", "/v1/models", headers=API_HEADERS))
    assert follow_up.status == 200


@budget(30)
@given(
    path=st.sampled_from(["/v1/messages", "/v1/messages/count_tokens", "/v1/messages/batches"]),
    body=rq.BODIES.filter(lambda b: len(b) > 1), chunked=st.booleans(), cut=st.floats(0, 0.99),
)
def test_a_body_cut_short_is_journaled_as_a_client_error(
    server: MockServer, errors_logged: ErrorLog, path: str, body: bytes, chunked: bool, cut: float
) -> None:
    sent = body[: int(len(body) * cut)]
    if chunked:  # a chunk announced longer than what arrives
        raw = request("POST", path, headers=[*API_HEADERS, ("transfer-encoding", "chunked")]) + b"%x\r\n" % len(body) + sent
    else:  # fewer bytes than the Content-Length promised
        raw = request("POST", path, headers=API_HEADERS, body=sent, content_length=len(body))
    server.journal.clear()
    exchange(server.url, raw, close_after_send=True)
    (entry,) = server.journal.wait_for_calls(1, endpoint=None)
    assert entry.status == 400 and entry.error.startswith("The request body is incomplete or malformed"), (entry.status, entry.error)
    healthy(server, errors_logged)


@budget(40)
@given(scenario=fuzz.scenarios(faults=fuzz.faults(max_delay=0.01)), body=rq.VALID.map(rq._dumps) | rq.NEAR_VALID.map(rq._dumps))
def test_scripted_faults_and_bad_requests_together_only_give_the_5xx_they_script(
    server: MockServer, errors_logged: ErrorLog, scenario: dict[str, Any], body: bytes
) -> None:
    with fuzz.installed(server, scenario) as run:
        answer = exchange(server.url, request("POST", "/v1/messages", headers=API_HEADERS, body=body), method="POST", timeout=10)
        entries = run.journal.wait_for_calls(1)
    if answer.status is not None and answer.status >= 500:
        assert entries[-1].origin == "fuzz", entries  # a rule injected it
    if answer.complete and answer.status is not None and answer.status >= 400 and answer.headers.get("content-type", "").startswith("application/json"):
        assert_anthropic_error(answer, allow_5xx=True)
    healthy(server, errors_logged)


ADMIN_PATHS = st.sampled_from(["/_mock", "/_mock/", "/_mock/rules", "/_mock/rules/fuzz", "/_mock/reset", "/_mock/journal",
                               "/_mock/ratelimits", "/_mock/chaos/report", "/_mock/nope"])
ADMIN_BODIES = rq.BODIES | st.sampled_from([b"- reply: hi", b"rules: [", b"{error: 700}", b"!!python/object:os.system ls", b"a: &a [*a]",
                                            b'{"requests_per_minute": -1}', b'{"match": {"txt": 1}, "reply": "x"}', b'{"\\ud800": 1}'])


@budget(60)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), path=ADMIN_PATHS,
    query=st.sampled_from(["", "?since=-1", "?limit=abc", "?since=1e9999", "?format=markdown", "?endpoint=%00"]),
    content_type=st.sampled_from(["application/json", "application/yaml", "text/plain", ""]), body=ADMIN_BODIES,
)
def test_the_admin_api_survives_garbage(
    server: MockServer, errors_logged: ErrorLog, method: str, path: str, query: str, content_type: str, body: bytes
) -> None:
    headers = [("content-type", content_type)] if content_type else []
    answer = exchange(server.url, request(method, path + query, headers=headers, body=body, content_length=len(body)), method=method)
    assert answer.status is not None
    healthy(server, errors_logged, answer)
    server.reset()  # whatever the garbage configured (rate limits, rules) goes


def test_a_lone_surrogate_in_an_admin_yaml_body_is_a_400(server: MockServer, errors_logged: ErrorLog) -> None:
    """Found by the long run: the loader's message quoted the key, which JSON cannot carry (a 500).
    Now the document check refuses it before the key is read, and its message escapes the key too."""
    answer = exchange(server.url, request("POST", "/_mock/rules", headers=[("content-type", "application/yaml")], body=b'{"\\ud800": 1}'), method="POST")
    assert answer.status == 400 and "a key holds a lone surrogate (like \\ud800)" in answer.json["error"]["message"]
    healthy(server, errors_logged, answer)


# -- memory --------------------------------------------------------------------------------------------
class Subprocess:
    """``mockserver serve`` in its own process, so its memory is its own."""

    def __init__(self, *options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--quiet", "--data-dir", ":memory:", *options],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert self.process.stdout is not None
        self.output: list[str] = []
        while not (line := self.process.stdout.readline()).startswith("export ANTHROPIC_BASE_URL="):
            assert line, "".join(self.output)
            self.output.append(line)
        self.url = line.strip().split("=", 1)[1]
        # Keep reading what it prints, or a full pipe would stop the server mid-run.
        self.reader = threading.Thread(target=lambda: self.output.extend(self.process.stdout or ()), daemon=True)
        self.reader.start()

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=20)
        self.reader.join(timeout=5)
        return "".join(self.output)


def traffic(url: str, i: int) -> None:
    """One of eight kinds of calls: good and bad, streamed, malformed, cut short."""
    kind = i % 8
    prompt = f"Tell me about the number {i}. " * (1 + i % 7)
    if kind == 0:
        body = {"model": "claude-haiku-4-5", "max_tokens": 60, "messages": [{"role": "user", "content": prompt}]}
    elif kind == 1:
        body = {"model": "claude-haiku-4-5", "max_tokens": 60, "stream": True, "messages": [{"role": "user", "content": prompt}]}
    elif kind == 2:
        body = {"model": "claude-haiku-4-5", "max_tokens": -i, "messages": []}
    elif kind == 3:
        exchange(url, request("POST", "/v1/messages", headers=API_HEADERS, body=b"[" * 300 + b"]" * 300), method="POST")
        return
    elif kind == 4:
        exchange(url, b"GARBAGE %d\r\n\r\n" % i)
        return
    elif kind == 5:
        exchange(url, request("POST", "/v1/messages", headers=API_HEADERS, body=b'{"model":', content_length=500), close_after_send=True)
        return
    elif kind == 6:
        exchange(url, request("GET", f"/v1/models/nope-{i}", headers=API_HEADERS))
        return
    else:
        exchange(url, request("GET", "/v1/models", headers=[("x-big", "a" * 70_000)]))
        return
    answer = exchange(url, request("POST", "/v1/messages", headers=API_HEADERS, body=json.dumps(body).encode()), method="POST")
    assert answer.status is not None and answer.status < 500


def test_memory_stays_steady_under_a_long_mixed_run() -> None:
    # A small journal, so what is measured is the server, not the history it is asked to keep.
    server = Subprocess("--journal-limit", "50", "--seed", "3")
    try:
        warm_up = 1600  # past the fake model's memo (1024 prompts) and every lazily built table
        for i in range(warm_up):
            traffic(server.url, i)
        before = server.rss_mb()
        started = time.monotonic()
        for i in range(warm_up, warm_up + 3000 * SCALE):
            traffic(server.url, i)
        after = server.rss_mb()
        assert server.process.poll() is None, "the server died"
    finally:
        output = server.stop()
    assert after - before < 6, f"RSS grew from {before:.1f} MB to {after:.1f} MB over {3000 * SCALE} more calls ({time.monotonic() - started:.1f} s)"
    assert "Traceback" not in output and "internal error" not in output, output[-2000:]


def test_wire_helper_sees_a_closed_connection() -> None:
    """The raw-socket helper reports 'no answer' rather than hanging or raising."""
    listener = socket.create_server(("127.0.0.1", 0))
    host, port = listener.getsockname()
    try:
        listener.settimeout(5)

        def accept_and_close() -> None:
            conn, _ = listener.accept()
            conn.recv(100)
            conn.close()

        thread = threading.Thread(target=accept_and_close)
        thread.start()
        assert exchange(f"http://{host}:{port}", b"GET / HTTP/1.1\r\n\r\n").status is None
        thread.join()
    finally:
        listener.close()
    assert address("http://[::1]:8787") == ("::1", 8787)

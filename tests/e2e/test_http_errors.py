"""Malformed HTTP gets the API's JSON errors, not aiohttp's text/plain (server/http_errors.py)."""

from __future__ import annotations

import json

import pytest

from mockserver.harness.testing import MockServer
from tests.fuzz.wire import API_HEADERS, assert_anthropic_error, exchange, request

VALID = json.dumps({"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}).encode()


@pytest.fixture(scope="module")
def server():
    with MockServer() as s:
        yield s


MALFORMED = {
    "garbage request line": b"GARBAGE\r\n\r\n",
    "invalid method token": b"G@T /v1/models HTTP/1.1\r\nHost: x\r\n\r\n",
    "unsupported HTTP version": b"GET /v1/models HTTP/3.0\r\nHost: x\r\n\r\n",
    "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "request line over 8190 bytes": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "header over the field limit": request("GET", "/v1/models", headers=[("x-big", "a" * 70_000), *API_HEADERS]),
    "too many headers": request("GET", "/v1/models", headers=[(f"x-h{i}", "v") for i in range(200)]),
    "space before the colon": b"GET /v1/models HTTP/1.1\r\nHost: x\r\nx-api-key : k\r\n\r\n",
    "NUL in a header value": b"GET /v1/models HTTP/1.1\r\nHost: x\r\nx-a: a\x00b\r\n\r\n",
    "duplicate Content-Length": request("POST", "/v1/messages", headers=[*API_HEADERS, ("content-length", "3")], body=VALID),
    "non-numeric Content-Length": request("POST", "/v1/messages", headers=[*API_HEADERS, ("content-length", "abc")]),
    "Transfer-Encoding with Content-Length": request(
        "POST", "/v1/messages", headers=[*API_HEADERS, ("transfer-encoding", "chunked"), ("content-length", "5")]
    ),
    "bad chunk size": request("POST", "/v1/messages", headers=[*API_HEADERS, ("transfer-encoding", "chunked")]) + b"zz\r\nabc\r\n0\r\n\r\n",
    "unknown content encoding": request("POST", "/v1/messages", headers=[*API_HEADERS, ("content-encoding", "br")], body=VALID),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_http_gets_an_anthropic_shaped_400(server: MockServer, raw: bytes) -> None:
    answer = exchange(server.url, raw)
    assert answer.status == 400
    assert_anthropic_error(answer)
    assert answer.json["error"]["type"] == "invalid_request_error"
    assert answer.json["error"]["message"].startswith("Malformed HTTP request: ")
    assert answer.headers["x-should-retry"] == "false"  # a 4xx, as every other 4xx
    assert answer.headers["connection"] == "close"
    assert "b'" not in answer.json["error"]["message"]  # aiohttp's echo of the bad bytes is dropped


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"CONNECT mockserver.test:443 HTTP/1.1\r\nHost: x\r\n\r\n", 404),  # not a path: no route
        (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (request("POST", "/v1/messages", headers=[*API_HEADERS, ("expect", "bogus")], body=VALID), 417),
    ],
    ids=["CONNECT authority", "OPTIONS asterisk", "unknown Expect"],
)
def test_errors_aiohttp_raises_before_routing_are_anthropic_shaped(server: MockServer, raw: bytes, status: int) -> None:
    answer = exchange(server.url, raw)
    assert answer.status == status
    assert_anthropic_error(answer)


def test_the_server_keeps_answering_after_malformed_requests(server: MockServer) -> None:
    for raw in MALFORMED.values():
        exchange(server.url, raw)
    answer = exchange(server.url, request("POST", "/v1/messages", headers=API_HEADERS, body=VALID), method="POST")
    assert answer.status == 200 and answer.json["type"] == "message"


@pytest.mark.parametrize(
    "raw",
    [
        request("POST", "/v1/messages", headers=API_HEADERS, body=VALID[:20], content_length=len(VALID)),
        request("POST", "/v1/messages", headers=[*API_HEADERS, ("transfer-encoding", "chunked")]) + b"40\r\nabc",
    ],
    ids=["fewer bytes than Content-Length", "chunked body cut short"],
)
def test_a_body_cut_short_is_a_client_error_in_the_journal(server: MockServer, raw: bytes) -> None:
    server.journal.clear()
    exchange(server.url, raw, close_after_send=True)
    entry = server.journal.wait_for_calls(1)[0]
    assert entry.status == 400 and entry.origin == "server"
    assert entry.error.startswith("The request body is incomplete or malformed")

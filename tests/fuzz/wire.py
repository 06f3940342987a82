"""Raw HTTP over a real socket: send any bytes (valid or not), read whatever comes back.

``http.client`` refuses to send most of what the self-fuzz needs (bad request lines, duplicate or
oversized headers, bodies shorter than their Content-Length), so requests are bytes here and
only the response is parsed, by ``http.client.HTTPResponse``.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    status: int | None  # None: the server closed the connection without answering
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    method: str = "GET"
    complete: bool = True  # False: the connection closed before the whole body arrived

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host.strip("[]"), int(port)


def exchange(url: str, data: bytes, *, method: str = "GET", close_after_send: bool = False, timeout: float = 10) -> Answer:
    """Send ``data``; with ``close_after_send``, hang up at once (a truncated body) and expect nothing."""
    sock = socket.create_connection(address(url), timeout=timeout)
    try:
        sock.sendall(data)
        if close_after_send:
            return Answer(None)
        response = http.client.HTTPResponse(sock, method=method)
        try:
            response.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return Answer(None)
        headers = {k.lower(): v for k, v in response.getheaders()}
        try:
            body = response.read()
        except (http.client.IncompleteRead, ConnectionError) as exc:  # a scripted drop mid-body
            body = exc.partial if isinstance(exc, http.client.IncompleteRead) else b""
            return Answer(response.status, headers, body, method, complete=False)
        return Answer(response.status, headers, body, method)
    finally:
        sock.close()


def request(
    method: str, target: str, *, headers: list[tuple[str, str]] | list[tuple[bytes, bytes]] = (), body: bytes = b"",
    content_length: int | None = None, version: str = "HTTP/1.1",
) -> bytes:
    """A request as bytes: headers in order (duplicates allowed), Content-Length as given (or the
    body's length when there is a body)."""
    lines = [f"{method} {target} {version}".encode("latin-1", "replace"), b"Host: localhost"]
    for name, value in headers:
        lines.append((name if isinstance(name, bytes) else name.encode("latin-1", "replace")) + b": " + (value if isinstance(value, bytes) else value.encode("utf-8")))
    if content_length is not None or body:
        lines.append(b"Content-Length: " + str(len(body) if content_length is None else content_length).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


API_HEADERS = [("x-api-key", "sk-ant-fuzz"), ("anthropic-version", "2023-06-01"), ("content-type", "application/json")]


def assert_anthropic_error(answer: Answer, *, allow_5xx: bool = False) -> None:
    """An error in the API's shape: JSON ``{"type":"error","error":{type,message},"request_id"}``,
    the ``request-id`` header matching the body; 413 from the edge has no envelope."""
    assert answer.status is not None, "the server closed the connection without answering"
    if not allow_5xx:
        assert answer.status < 500, (answer.status, answer.body[:300])
    if answer.status < 400:
        return
    assert answer.headers.get("content-type", "").startswith("application/json"), (answer.status, answer.headers, answer.body[:300])
    if answer.method == "HEAD":  # no body, by definition
        assert answer.headers.get("request-id", "").startswith("req_"), answer.headers
        return
    body = answer.json
    error = body["error"]
    assert isinstance(error["type"], str) and error["type"], body
    assert isinstance(error["message"], str) and error["message"], body
    if answer.status == 413 and "request_id" not in body:
        return
    assert body["type"] == "error", body
    assert body["request_id"].startswith("req_") and body["request_id"] == answer.headers.get("request-id"), (body, answer.headers)

"""Compressed request bodies count by what they inflate to: past an endpoint's limit, the edge's 413
(never a 500, never the whole thing in memory), while other clients are served."""

from __future__ import annotations

import gzip
import json
import zlib

from mockserver.harness.testing import MockServer
from tests.conftest import HAIKU
from tests.fuzz.wire import API_HEADERS, exchange, request

MB = 1024 * 1024
EDGE_413 = {"error": {"type": "request_too_large", "message": "Request exceeds the maximum size"}}


def _zeros_gzipped(size: int) -> bytes:
    """``size`` bytes of JSON-ish padding, gzipped (a 1000:1 bomb), without building them whole."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * MB
    out = [compressor.compress(b'{"model": "x", "pad": "')]
    for _ in range(size // MB):
        out.append(compressor.compress(chunk))
    out.append(compressor.compress(b'"}'))
    out.append(compressor.flush())
    return b"".join(out)


def _post(server: MockServer, path: str, body: bytes) -> tuple[int | None, dict[str, object]]:
    headers = [*API_HEADERS, ("content-encoding", "gzip")]
    answer = exchange(server.url, request("POST", path, headers=headers, body=body), method="POST", timeout=60)
    return answer.status, json.loads(answer.body)


def test_a_messages_body_inflating_past_32_mb_is_the_edges_413(mockserver: MockServer) -> None:
    bomb = _zeros_gzipped(40 * MB)
    assert len(bomb) < 100_000
    assert _post(mockserver, "/v1/messages", bomb) == (413, EDGE_413)
    assert _post(mockserver, "/v1/messages/count_tokens", bomb) == (413, EDGE_413)


def test_a_batch_body_inflating_past_256_mb_is_the_edges_413(mockserver: MockServer) -> None:
    assert _post(mockserver, "/v1/messages/batches", _zeros_gzipped(257 * MB)) == (413, EDGE_413)


def test_a_small_gzipped_body_is_read_as_json(mockserver: MockServer) -> None:
    body = {"model": HAIKU, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    status, answer = _post(mockserver, "/v1/messages", gzip.compress(json.dumps(body).encode()))
    assert status == 200 and answer["type"] == "message"

"""The recorder inflates a compressed upstream answer itself, a piece at a time, whatever aiohttp
release it runs on (3.10, the lowest supported, inflates each network read whole: a 64 KiB read
of a gzip bomb became 64 MiB at once). So a small body that inflates hugely never sits in memory
whole: it passes through under RECORD_LIMIT's bound like any other, and is not recorded past it.
A small compressed answer is recorded and relayed decoded, as before; an encoding the recorder
did not ask for is refused, not relayed undecoded into a cassette."""

from __future__ import annotations

import gzip
import logging
import tracemalloc
import zlib
from pathlib import Path
from typing import Callable, Iterator

import anthropic
import orjson
import pytest
from aiohttp import web

from mockserver.cassettes.record import RECORD_LIMIT
from tests.cassette_support import HAIKU, AppThread, Proxy, hello

INFLATED = 64 * 1024 * 1024


def _compress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data, 9)
    if encoding == "deflate":  # RFC 9110's deflate: a zlib stream
        return zlib.compress(data, 9)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate, which servers send too
    return compressor.compress(data) + compressor.flush()


@pytest.fixture
def bomb_origin(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """An upstream whose every answer is 64 MiB of zeros compressed to about 64 KiB, sent in one write."""
    encoding = request.param
    body = _compress(bytes(INFLATED), encoding)
    assert len(body) < 128 * 1024

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        asked = request.headers.get("Accept-Encoding", "")
        response = web.Response(body=body, headers={"content-type": "application/octet-stream",
                                                    "content-encoding": "gzip" if encoding == "gzip" else "deflate",
                                                    "x-asked": asked})
        return response

    app = web.Application()
    app.router.add_post("/v1/messages", answer)
    with AppThread(app) as origin:
        yield origin.url, encoding


@pytest.mark.parametrize("bomb_origin", ["gzip", "deflate", "raw-deflate"], indirect=True)
def test_a_small_body_that_inflates_hugely_is_inflated_a_piece_at_a_time(
    tmp_path: Path, proxies: Callable[..., Proxy], bomb_origin: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = bomb_origin
    caplog.set_level(logging.INFO, logger="mockserver.record")
    proxy = proxies(tmp_path / "bomb.yaml", record_mode="all", upstream=url)
    recorder = proxy.installed.stage.recorder
    assert recorder is not None
    recorder.limit = 1024 * 1024
    zeros = received = 0
    with proxy.client(max_retries=0) as client:
        tracemalloc.start()
        try:
            with client.messages.with_streaming_response.create(**hello("bomb")) as response:
                assert response.headers["x-asked"] == "gzip, deflate"
                assert "content-encoding" not in response.headers  # relayed decoded
                for chunk in response.iter_bytes():
                    received += len(chunk)
                    zeros += chunk.count(0)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert received == zeros == INFLATED  # the client got all of it, exactly
    assert peak < 16 * 1024 * 1024, f"{peak} bytes held at the peak"  # was over 64 MiB on aiohttp 3.10
    proxy.flush()
    assert not (tmp_path / "bomb.yaml").exists()
    assert recorder.not_recorded == 1 and "RECORD_LIMIT" in next(iter(recorder.unrecorded))


def _origin(body: bytes, encoding: str) -> web.Application:
    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"content-type": "application/json", "content-encoding": encoding})
        await response.prepare(request)
        for i in range(0, len(body), 7):  # a few bytes a write: the inflater is fed piece by piece
            await response.write(body[i : i + 7])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/messages", answer)
    return app


MESSAGE = {"id": "msg_01Zipped", "type": "message", "role": "assistant", "model": HAIKU,
           "content": [{"type": "text", "text": "zipped"}], "stop_reason": "end_turn", "stop_sequence": None,
           "usage": {"input_tokens": 5, "output_tokens": 1}}


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_a_compressed_answer_is_relayed_and_recorded_decoded(tmp_path: Path, proxies: Callable[..., Proxy], encoding: str) -> None:
    body = orjson.dumps(MESSAGE)
    with AppThread(_origin(_compress(body, encoding), "gzip" if encoding == "gzip" else "deflate")) as origin:
        proxy = proxies(tmp_path / "zipped.yaml", record_mode="all", upstream=origin.url)
        with proxy.client(max_retries=0) as client:
            answer = client.messages.with_raw_response.create(**hello("zip"))
            assert answer.http_response.content == body
        (kept,) = proxy.saved()
    assert kept.response.body == body
    assert "content-encoding" not in {k.lower() for k, _ in kept.response.headers}


@pytest.mark.parametrize("padding", [0, 9], ids=["members", "zero-padded"])
def test_gzip_members_one_after_another_are_one_body(tmp_path: Path, proxies: Callable[..., Proxy], padding: int) -> None:
    """As ``gzip.decompress`` reads them: zero padding after a member is skipped, not an error."""
    body = orjson.dumps(MESSAGE)
    compressed = gzip.compress(body[:20]) + bytes(padding) + gzip.compress(body[20:]) + bytes(padding)
    with AppThread(_origin(compressed, "gzip")) as origin:
        proxy = proxies(tmp_path / "members.yaml", record_mode="all", upstream=origin.url)
        with proxy.client(max_retries=0) as client:
            assert client.messages.with_raw_response.create(**hello("zip")).http_response.content == body
        (kept,) = proxy.saved()
    assert kept.response.body == body


def test_an_encoding_the_recorder_did_not_ask_for_is_refused(tmp_path: Path, proxies: Callable[..., Proxy]) -> None:
    with AppThread(_origin(b"\x0b\x02\x80{}\x03", "br")) as origin:
        proxy = proxies(tmp_path / "br.yaml", record_mode="all", upstream=origin.url)
        with proxy.client(max_retries=0) as client:
            with pytest.raises(anthropic.APIStatusError) as refused:
                client.messages.create(**hello("br"))
        assert refused.value.status_code == 502
        assert "content-encoding br" in refused.value.message
        recorder = proxy.installed.stage.recorder
        assert recorder is not None and recorder.not_recorded == 1
    assert not (tmp_path / "br.yaml").exists()

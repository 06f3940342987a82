"""The recorder holds at most ``Recorder.limit`` bytes of one upstream answer (RECORD_LIMIT,
small here): a larger answer, JSON or stream, reaches the client whole and unchanged, is not
recorded, and says so in one log line; an endless stream passes through in bounded memory."""

from __future__ import annotations

import logging
import tracemalloc
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import orjson
import pytest
from aiohttp import web

from mockserver.cassettes import format as fmt
from mockserver.cassettes.record import RECORD_LIMIT
from tests.cassette_support import HAIKU, AppThread, Proxy, hello

LIMIT = 4096
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextmanager
def _recording(proxies: Callable[..., Proxy], path: Path, messages: Handler, limit: int = LIMIT) -> Iterator[Proxy]:
    """A recording proxy to an upstream answering POST /v1/messages with ``messages``, whose
    recorder holds at most ``limit`` bytes of an answer."""
    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    with AppThread(app) as origin:
        proxy = proxies(path, record_mode="all", upstream=origin.url)
        recorder = proxy.installed.stage.recorder
        assert recorder is not None and recorder.limit == RECORD_LIMIT
        recorder.limit = limit
        yield proxy


def _message(text: str) -> dict[str, Any]:
    return {"id": "msg_01Limit", "type": "message", "role": "assistant", "model": HAIKU,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 9}}


def _event(data: dict[str, Any]) -> bytes:
    return b"event: " + str(data["type"]).encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _start() -> bytes:
    message = {**_message(""), "content": [], "stop_reason": None}
    return _event({"type": "message_start", "message": message}) + _event(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})


def _delta(text: str) -> bytes:
    return _event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})


def _end() -> bytes:
    return (_event({"type": "content_block_stop", "index": 0})
            + _event({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 9}})
            + _event({"type": "message_stop"}))


def _prompt(request_body: bytes) -> str:
    return str(orjson.loads(request_body)["messages"][0]["content"])


def _not_recorded(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "mockserver.record" and r.levelno >= logging.WARNING]


def test_a_json_answer_over_the_limit_reaches_the_client_whole_and_is_not_recorded(
    tmp_path: Path, proxies: Callable[..., Proxy], caplog: pytest.LogCaptureFixture
) -> None:
    big = "".join(f"{i:05d} " for i in range(2000))  # 12 kB of text, three times the limit

    async def messages(request: web.Request) -> web.StreamResponse:
        text = "small" if _prompt(await request.read()) == "small" else big
        response = web.StreamResponse(headers={"content-type": "application/json"})
        await response.prepare(request)
        body = orjson.dumps(_message(text))
        for i in range(0, len(body), 1000):  # no content-length: the recorder cannot know the size up front
            await response.write(body[i : i + 1000])
        await response.write_eof()
        return response

    caplog.set_level(logging.INFO, logger="mockserver.record")
    with _recording(proxies, tmp_path / "json.yaml", messages) as proxy:
        with proxy.client() as client:
            assert client.messages.create(**hello("small")).content[0].text == "small"
            answer = client.messages.with_raw_response.create(**hello("big"))
            assert answer.parse().content[0].text == big
            assert answer.http_response.content == orjson.dumps(_message(big))  # byte for byte
        (kept,) = proxy.saved()
    assert _prompt(kept.request.body) == "small"
    (line,) = _not_recorded(caplog)
    assert "POST /v1/messages" in line and f"{LIMIT} bytes" in line and "not recorded" in line


@pytest.mark.parametrize("room", [0, -1], ids=["exactly-the-limit", "one-byte-over"])
def test_a_json_answer_counts_its_bytes_alone(tmp_path: Path, proxies: Callable[..., Proxy], room: int) -> None:
    """A JSON answer is recorded without arrival times, so none count against the limit: one of
    exactly the limit's size, however many reads it came in, is recorded; a byte more is not."""
    body = orjson.dumps(_message("sized"))

    async def messages(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"content-type": "application/json"})
        await response.prepare(request)
        for i in range(0, len(body), 10):
            await response.write(body[i : i + 10])
        await response.write_eof()
        return response

    with _recording(proxies, tmp_path / "sized.yaml", messages, limit=len(body) + room) as proxy:
        with proxy.client() as client:
            assert client.messages.with_raw_response.create(**hello("sized")).http_response.content == body
        proxy.flush()
        saved = fmt.load(tmp_path / "sized.yaml") if (tmp_path / "sized.yaml").exists() else []
    assert [kept.response.body for kept in saved] == ([body] if room == 0 else [])


def test_a_stream_over_the_limit_reaches_the_client_whole_and_is_not_recorded(
    tmp_path: Path, proxies: Callable[..., Proxy], caplog: pytest.LogCaptureFixture
) -> None:
    pieces = [f"piece {i:04d}. " for i in range(400)]  # about 40 kB of events

    async def messages(request: web.Request) -> web.StreamResponse:
        prompt = _prompt(await request.read())
        response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        await response.write(_start())
        for piece in ([prompt] if prompt == "short" else pieces):
            await response.write(_delta(piece))
        await response.write(_end())
        await response.write_eof()
        return response

    caplog.set_level(logging.INFO, logger="mockserver.record")
    with _recording(proxies, tmp_path / "stream.yaml", messages) as proxy:
        with proxy.client() as client:
            with client.messages.stream(**hello("short")) as stream:
                assert stream.get_final_text() == "short"
            with client.messages.stream(**hello("long")) as stream:
                assert stream.get_final_text() == "".join(pieces)
        (kept,) = proxy.saved()
    assert _prompt(kept.request.body) == "short" and kept.response.frames
    (line,) = _not_recorded(caplog)  # one line, not a second "ended early" one
    assert "POST /v1/messages" in line and f"{LIMIT} bytes" in line and "not recorded" in line


def test_an_endless_stream_passes_through_in_bounded_memory(
    tmp_path: Path, proxies: Callable[..., Proxy], caplog: pytest.LogCaptureFixture
) -> None:
    """The upstream never ends its stream; the client reads 24 MiB of it and hangs up. The
    recorder (and the journal behind it) held at most the limit of it, not all 24 MiB."""
    delta = _delta("x" * 4000)

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        await response.write(_start())
        try:
            while True:
                await response.write(delta)
        except (ConnectionError, RuntimeError):  # the recorder hung up
            pass
        return response

    caplog.set_level(logging.INFO, logger="mockserver.record")
    limit = 64 * 1024
    with _recording(proxies, tmp_path / "endless.yaml", endless, limit) as proxy:
        received = 0
        try:
            with proxy.client() as client:
                with client.messages.with_streaming_response.create(**hello("forever", stream=True)) as response:
                    for chunk in response.iter_bytes():
                        if not received:
                            tracemalloc.start()  # from here on: past the imports a first call makes
                        received += len(chunk)
                        if received > 24 * 1024 * 1024:
                            break
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        proxy.flush()
    assert received > 24 * 1024 * 1024
    assert peak < 8 * 1024 * 1024, f"{peak} bytes held at the peak"
    assert not (tmp_path / "endless.yaml").exists()  # nothing was recorded
    (line,) = _not_recorded(caplog)
    assert "POST /v1/messages" in line and f"{limit} bytes" in line

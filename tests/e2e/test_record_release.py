"""The recorder gives back its upstream connection whatever happens to the client: one that goes
away before the answer's headers reach it, or in the middle of a stream while the upstream is
silent. The upstream sees its connection closed at once, and the recorder's connection pool holds
nothing afterwards (not when a garbage collection or the 600 s read timeout gets to it)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import anthropic
import pytest
from aiohttp import web

from tests.cassette_support import AppThread, Proxy, hello

START = b'event: message_start\ndata: {"type":"message_start"}\n\n'


class Upstream:
    """An upstream whose POST /v1/messages streams one event and then says nothing (``headers_after``:
    seconds it waits before even its headers); it notes when the recorder closed the connection."""

    def __init__(self, headers_after: float = 0.0) -> None:
        self.headers_after = headers_after
        self.answering = threading.Event()
        self.closed = threading.Event()
        self.app = web.Application()
        self.app.router.add_post("/v1/messages", self.messages)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.answering.set()
        await asyncio.sleep(self.headers_after)
        response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        await response.write(START)
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.01)  # silent: only the recorder's hanging up ends this
        self.closed.set()
        return response


@pytest.fixture
def no_gc() -> Iterator[None]:
    """No cyclic garbage collection meanwhile: a response the recorder dropped must be closed by
    the recorder, not by the collector happening upon it."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _acquired(proxy: Proxy) -> int:
    recorder = proxy.installed.stage.recorder
    assert recorder is not None and recorder._session is not None
    connector = recorder._session.connector
    assert connector is not None
    return len(connector._acquired)  # aiohttp's own count of the connections handed out


def _settled(proxy: Proxy, upstream: Upstream) -> None:
    assert upstream.closed.wait(5), "the upstream never saw its connection closed"
    deadline = time.monotonic() + 5
    while _acquired(proxy) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _acquired(proxy) == 0


def test_a_client_gone_before_the_headers_leaves_no_upstream_connection(
    tmp_path: Path, proxies: Callable[..., Proxy], no_gc: None
) -> None:
    upstream = Upstream(headers_after=0.6)
    with AppThread(upstream.app) as origin:
        proxy = proxies(tmp_path / "gone.yaml", record_mode="all", upstream=origin.url)
        with proxy.client(max_retries=0, timeout=0.3) as client:
            with pytest.raises(anthropic.APITimeoutError):
                client.messages.create(**hello("gone", stream=True))
        assert upstream.answering.is_set()
        _settled(proxy, upstream)


def test_a_client_gone_mid_stream_while_the_upstream_is_silent_leaves_no_upstream_connection(
    tmp_path: Path, proxies: Callable[..., Proxy], no_gc: None
) -> None:
    upstream = Upstream()
    with AppThread(upstream.app) as origin:
        proxy = proxies(tmp_path / "silent.yaml", record_mode="all", upstream=origin.url)
        with proxy.client(max_retries=0) as client:
            with client.messages.with_streaming_response.create(**hello("silent", stream=True)) as response:
                first = next(response.iter_bytes())
                assert first.startswith(b"event: message_start")
            # the client hung up; the upstream has nothing more to say
        _settled(proxy, upstream)

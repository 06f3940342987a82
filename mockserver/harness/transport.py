"""An in-process transport: the SDK talks to the fake API without a socket.

    import anthropic, httpx2
    from mockserver import MockServer

    with MockServer() as server:
        client = anthropic.Anthropic(api_key="test", http_client=httpx2.Client(transport=server.transport()))

The transport (as httpx's ``MockTransport``, the seam the SDK's maintainers point people to)
hands each request to the same :class:`~mockserver.root.Api` a socket would — the same parser,
chain, renderer, journal and scenarios — on the server's own loop, and streams the answer back
frame by frame, with its delays, drops and resets. It works with ``httpx2`` (the SDK's 1.x and 2.x
lines) and with ``httpx`` (0.x), sync and async clients alike: answers are built with the
library of the request they answer.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import sys
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterator

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from mockserver.pipeline.parse import Incoming, too_large
from mockserver.render.deliver import deliver
from mockserver.render.plan import Plan
from mockserver.root import Api

END = object()  # the body is complete


class _Dropped(Exception):
    """The server closed the connection mid-body (a drop fault)."""


class _Reset(Exception):
    """The server reset the connection before answering."""


@dataclass
class _Head:
    status: int
    headers: list[tuple[str, str]]


class _QueueSink:
    """A sink on the server's loop that hands the answer to the client's thread or loop."""

    def __init__(self, put: Any) -> None:
        self._put = put  # called on the server's loop with ("head", _Head) / ("data", bytes) / ("end"|"drop"|"reset", None)
        self.gone = False
        self.head_sent = False

    @property
    def closed(self) -> bool:
        return self.gone

    def _head(self, plan: Plan) -> None:
        headers = list(plan.headers.items())
        if plan.constant is not None:
            headers = list(plan.constant[1].items()) + headers
        self._put(("head", _Head(plan.status, headers)))
        self.head_sent = True

    async def whole(self, plan: Plan, body: bytes) -> None:
        self._head(plan)
        if body:
            self._put(("data", body))

    async def start(self, plan: Plan) -> None:
        self._head(plan)

    async def write(self, data: bytes) -> None:
        if self.gone:
            raise ConnectionResetError("the client closed the response")
        self._put(("data", data))

    async def finish(self) -> None:
        pass

    def hangup(self) -> None:
        return None  # the client's side closes a response on its own thread or loop: pauses poll

    def abort(self, *, rst: bool) -> None:
        self._put(("reset" if not self.head_sent else "drop", None))


class Transport:
    """An httpx / httpx2 transport, sync and async, into one server's :class:`Api`."""

    def __init__(self, api: Api, loop: asyncio.AbstractEventLoop) -> None:
        self.api = api
        self.loop = loop

    # -- the exchange, on the server's loop ----------------------------------------------------------
    async def _exchange(self, method: str, url: Any, headers: list[tuple[str, str]], body: bytes, sink: _QueueSink) -> None:
        async def read(limit: int) -> bytes:
            if len(body) > limit:
                raise too_large()
            return body

        raw_path = url.raw_path.decode("ascii", "replace") if isinstance(url.raw_path, bytes) else str(url.raw_path)
        query: MultiDictProxy[str] = MultiDictProxy(MultiDict(_query(url)))
        incoming = Incoming(method, url.path, raw_path, query, CIMultiDictProxy(CIMultiDict(headers)), read, bool(body))
        exchange = await self.api.handle(incoming)
        try:
            outcome = await deliver(exchange.plan, sink)
        except Exception:  # a bug while writing: the client sees a dropped connection, the log why
            sink.abort(rst=False)
            raise
        await self.api.finish(exchange, outcome)
        sink._put(("end", None))

    def _start(self, request: Any, body: bytes, put: Any) -> _QueueSink:
        sink = _QueueSink(put)
        headers = [(k, v) for k, v in request.headers.items()]
        coroutine = self._exchange(request.method, request.url, headers, body, sink)
        asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return sink

    # -- httpx's sync interface ------------------------------------------------------------------
    def handle_request(self, request: Any) -> Any:
        lib = _library(request)
        items: queue.Queue[tuple[str, Any]] = queue.Queue()
        sink = self._start(request, request.read(), lambda item: items.put(item))
        kind, value = items.get()
        if kind == "reset":
            raise lib.ConnectError("connection reset by peer (mockserver: a reset fault)", request=request)
        assert kind == "head"
        stream = _streams(lib)[0](items, sink, lib, request)
        return lib.Response(value.status, headers=value.headers, stream=stream, request=request)

    def close(self) -> None:
        pass

    # -- httpx's async interface -----------------------------------------------------------------
    async def handle_async_request(self, request: Any) -> Any:
        lib = _library(request)
        here = asyncio.get_running_loop()
        items: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        body = await request.aread()
        sink = self._start(request, body, lambda item: here.call_soon_threadsafe(items.put_nowait, item))
        kind, value = await items.get()
        if kind == "reset":
            raise lib.ConnectError("connection reset by peer (mockserver: a reset fault)", request=request)
        assert kind == "head"
        stream = _streams(lib)[1](items, sink, lib, request)
        return lib.Response(value.status, headers=value.headers, stream=stream, request=request)

    async def aclose(self) -> None:
        pass

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    async def __aenter__(self) -> "Transport":
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


class _SyncStream:
    def __init__(self, items: "queue.Queue[tuple[str, Any]]", sink: _QueueSink, lib: Any, request: Any) -> None:
        self.items, self.sink, self.lib, self.request = items, sink, lib, request

    def __iter__(self) -> Iterator[bytes]:
        while True:
            kind, value = self.items.get()
            if kind == "data":
                yield value
            elif kind == "end":
                return
            else:
                raise self.lib.RemoteProtocolError("peer closed connection without sending complete message body", request=self.request)

    def close(self) -> None:
        self.sink.gone = True


class _AsyncStream:
    def __init__(self, items: "asyncio.Queue[tuple[str, Any]]", sink: _QueueSink, lib: Any, request: Any) -> None:
        self.items, self.sink, self.lib, self.request = items, sink, lib, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            kind, value = await self.items.get()
            if kind == "data":
                yield value
            elif kind == "end":
                return
            else:
                raise self.lib.RemoteProtocolError("peer closed connection without sending complete message body", request=self.request)

    async def aclose(self) -> None:
        self.sink.gone = True


@functools.lru_cache(maxsize=None)
def _streams(lib: Any) -> tuple[type, type]:
    """The two stream classes as ``lib``'s own byte streams (httpx checks the type)."""
    return (
        type("SyncStream", (_SyncStream, lib.SyncByteStream), {}),
        type("AsyncStream", (_AsyncStream, lib.AsyncByteStream), {}),
    )


def _library(request: Any) -> Any:
    """``httpx2`` or ``httpx``: whichever built the request (the SDK's line decides)."""
    return sys.modules[type(request).__module__.split(".", 1)[0]]


def _query(url: Any) -> list[tuple[str, str]]:
    params = url.params
    return [(str(k), str(v)) for k, v in params.multi_items()]

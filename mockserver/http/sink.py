"""Writing a rendered plan as an aiohttp response.

A whole body (the common case) becomes a ``web.Response`` the handler returns, so aiohttp sends
it after the exchange is journaled; its constant headers go in already serialized where aiohttp
allows it (:mod:`.preserialized`). Anything timed, streamed or cut goes through the generic
writer (mockserver/render/deliver.py) with this sink.

As the real API's edge does, a success this server wrote is sent chunked, and gzipped when the
client accepts gzip (``Config.gzip``); an event stream is flushed after every write so each event
arrives when it is sent. Errors keep a ``Content-Length``; recorded bytes go out as recorded.

An event stream whose events are all due at once (nothing paced, no fault that counts or times
events) is such a whole body too: status line, headers, every event and the chunked body's end
leave in one write, byte for byte what writing it event by event sends (the events' boundaries
are in the bytes, not in how they are cut into writes).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import zlib

from aiohttp import web
from aiohttp.web_request import BaseRequest
from multidict import CIMultiDict

from mockserver.http.preserialized import SUPPORTED as PRESERIALIZED
from mockserver.http.preserialized import PreserializedResponse
from mockserver.render.deliver import deliver, whole_body
from mockserver.pipeline.exchange import Outcome
from mockserver.render.plan import Plan


def headers_of(plan: Plan) -> CIMultiDict[str]:
    """Every header of the plan in one multidict, the constant ones first (as serialized)."""
    if plan.constant is None:
        return plan.headers
    merged: CIMultiDict[str] = plan.constant[1].copy()
    merged.extend(plan.headers)
    return merged


GZIP = 31  # zlib's wbits for a gzip container
STREAM_GZIP = 16 + 11
"""A gzip container with a 2 KiB window, for answers written piece by piece: their compressor
lives as long as the response (an open stream may be held for minutes), and zlib's defaults hold
about 256 KiB per compressor; a 2 KiB window and ``memLevel`` 3 hold about 12 KiB (SSE events
repeat within a few hundred bytes, so they compress nearly as well). Any gzip reader reads it."""
STREAM_MEM_LEVEL = 3


def stream_compressor() -> "zlib._Compress":
    """The compressor of an answer written piece by piece (:data:`STREAM_GZIP`)."""
    return zlib.compressobj(6, zlib.DEFLATED, STREAM_GZIP, STREAM_MEM_LEVEL)


VARY = "Accept-Encoding"


def accepts_gzip(value: str) -> bool:
    """Whether an ``Accept-Encoding`` header allows gzip (``gzip``, or ``*``, without ``q=0``)."""
    if not value:
        return False
    for part in value.split(","):
        name, _, params = part.partition(";")
        if name.strip().lower() in ("gzip", "*"):
            weight = params.strip().lower()
            try:
                return float(weight[2:]) > 0 if weight.startswith("q=") else True
            except ValueError:
                return True
    return False


COMPRESSIBLE = ("application/json", "text/", "application/x-jsonl")


def _edge_encoded(plan: Plan) -> bool:
    """A success this server wrote behind the first-party API's edge, in a text type: sent
    chunked, and compressible (a downloaded file keeps its length; Bedrock and Vertex answers are
    neither: docs/protocol.md)."""
    if not plan.ours or not 200 <= plan.status < 300 or (plan.wire is not None and not plan.wire.edge_headers):
        return False
    content_type = plan.headers.get("Content-Type", "")
    return content_type.startswith(COMPRESSIBLE) or "+json" in content_type


def response_for(plan: Plan, body: bytes, *, gzip: bool = False, edge: bool | None = None) -> web.Response:
    """A whole body as a response aiohttp sends once the handler returns (``edge``: whether
    :func:`_edge_encoded`, when the caller knows)."""
    if edge is None:
        edge = _edge_encoded(plan)
    if edge and gzip:
        compressor = zlib.compressobj(6, zlib.DEFLATED, GZIP)
        body = compressor.compress(body) + compressor.flush()
        plan.headers["Content-Encoding"] = "gzip"
        plan.headers["Vary"] = VARY
    if plan.constant is not None and PRESERIALIZED:
        response: web.Response = PreserializedResponse(status=plan.status, body=body, headers=plan.headers, lines=plan.constant[0])
    else:
        response = web.Response(status=plan.status, reason=plan.reason, body=body, headers=headers_of(plan))
    if edge:
        response.enable_chunked_encoding()
    elif plan.headers.get("Connection") == "close":  # what was left of the request cannot be read
        response.force_close()
    return response


def whole_response(plan: Plan) -> web.Response:
    """A plan that is one body (an error, say) as a response."""
    body = whole_body(plan)
    assert body is not None
    return response_for(plan, body)


async def respond(http: BaseRequest, plan: Plan, *, gzip: bool = True) -> tuple[web.StreamResponse, Outcome]:
    """The response for ``plan`` and what went out (streams are written before this returns,
    all but their end, which aiohttp writes after the handler: after the journal). ``gzip``:
    compress what the client accepts compressed."""
    edge = _edge_encoded(plan)
    compress = edge and gzip and accepts_gzip(http.headers.get("Accept-Encoding", ""))
    if not plan.wait and not plan.reset:
        body = whole_body(plan, streams=True)
        if body is not None:
            return response_for(plan, body, gzip=compress, edge=edge), Outcome(plan.status, body, plan.streamed, tuple(plan.notes))
    sink = AiohttpSink(http, gzip=compress)
    outcome = await deliver(plan, sink)
    if sink.response is None:  # the client left (or was reset) before anything was written
        return web.Response(status=204), outcome
    return sink.response, outcome


class AiohttpSink:
    def __init__(self, http: BaseRequest, *, gzip: bool = False) -> None:
        self.http = http
        self.gzip = gzip
        self.response: web.StreamResponse | None = None
        self._compressor: "zlib._Compress | None" = None

    @property
    def closed(self) -> bool:
        transport = self.http.transport
        return transport is None or transport.is_closing()

    async def whole(self, plan: Plan, body: bytes) -> None:
        self.response = response_for(plan, body, gzip=self.gzip)

    async def start(self, plan: Plan) -> None:
        headers = headers_of(plan)
        if self.gzip and _edge_encoded(plan):
            self._compressor = stream_compressor()
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = VARY
        response = web.StreamResponse(status=plan.status, reason=plan.reason, headers=headers)
        if plan.length is not None and self._compressor is None and not _edge_encoded(plan):
            response.content_length = plan.length
        else:
            response.enable_chunked_encoding()
        self.response = response
        await response.prepare(self.http)

    async def write(self, data: bytes) -> None:
        assert self.response is not None
        if self._compressor is not None:  # flushed, so each event arrives when it is sent
            data = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        await self.response.write(data)

    async def finish(self) -> None:
        if self._compressor is not None and self.response is not None:
            await self.response.write(self._compressor.flush())

    def hangup(self) -> "asyncio.Future[None] | None":
        # mockserver's connections (http/server.py ApiRequestHandler) say when they are lost; a
        # plain aiohttp server's do not, and pauses poll.
        hangup = getattr(self.http.protocol, "hangup", None)
        return hangup() if hangup is not None else None

    def abort(self, *, rst: bool) -> None:
        """Close the client's connection now. ``rst`` makes it a TCP reset (SO_LINGER 0), which a
        client sees as "connection reset by peer"; otherwise a plain close mid-response."""
        transport = self.http.transport
        if transport is None:
            return
        if rst:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
        transport.abort()

"""Writing a rendered plan as an aiohttp response.

A whole body (the common case) becomes a ``web.Response`` the handler returns, so aiohttp sends
it after the exchange is journaled; its constant headers go in already serialized where aiohttp
allows it (:mod:`.preserialized`). Anything timed, streamed or cut goes through the generic
writer (mockserver/render/deliver.py) with this sink.
"""

from __future__ import annotations

import socket
import struct

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


def response_for(plan: Plan, body: bytes) -> web.Response:
    """A whole body as a response aiohttp sends once the handler returns."""
    if plan.constant is not None and PRESERIALIZED:
        return PreserializedResponse(status=plan.status, body=body, headers=plan.headers, lines=plan.constant[0])
    return web.Response(status=plan.status, reason=plan.reason, body=body, headers=headers_of(plan))


def whole_response(plan: Plan) -> web.Response:
    """A plan that is one body (an error, say) as a response."""
    body = whole_body(plan)
    assert body is not None
    return response_for(plan, body)


async def respond(http: BaseRequest, plan: Plan) -> tuple[web.StreamResponse, Outcome]:
    """The response for ``plan`` and what went out (streams are written before this returns,
    all but their end, which aiohttp writes after the handler: after the journal)."""
    if not plan.wait and not plan.reset:
        body = whole_body(plan)
        if body is not None:
            return response_for(plan, body), Outcome(plan.status, body, False, tuple(plan.notes))
    sink = AiohttpSink(http)
    outcome = await deliver(plan, sink)
    if sink.response is None:  # the client left (or was reset) before anything was written
        return web.Response(status=204), outcome
    return sink.response, outcome


class AiohttpSink:
    def __init__(self, http: BaseRequest) -> None:
        self.http = http
        self.response: web.StreamResponse | None = None

    @property
    def closed(self) -> bool:
        transport = self.http.transport
        return transport is None or transport.is_closing()

    async def whole(self, plan: Plan, body: bytes) -> None:
        self.response = response_for(plan, body)

    async def start(self, plan: Plan) -> None:
        response = web.StreamResponse(status=plan.status, reason=plan.reason, headers=headers_of(plan))
        if plan.length is not None:
            response.content_length = plan.length
        else:
            response.enable_chunked_encoding()
        self.response = response
        await response.prepare(self.http)

    async def write(self, data: bytes) -> None:
        assert self.response is not None
        await self.response.write(data)

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

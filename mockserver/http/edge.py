"""The HTTP edge: aiohttp's low-level server hands each request to the :class:`~mockserver.root.Api`.

No Application and no router: the endpoint table (mockserver/protocol/endpoints.py) routes API
calls inside the pipeline's parser; ``/_mock/`` goes to the admin API. Bodies are read in
chunks and counted after decompression, so a small compressed body cannot inflate past its
endpoint's limit. Everything here is aiohttp's public API (``web.Server``, ``BaseRequest``);
malformed HTTP is answered in :mod:`.malformed`.
"""

from __future__ import annotations

import logging

from aiohttp import hdrs, web
from aiohttp.web_request import BaseRequest

from mockserver.http import admin
from mockserver.http.body import Body
from mockserver.http.server import ApiRequestHandler, error_for
from mockserver.http.sink import respond, whole_response
from mockserver.pipeline.parse import EMPTY_QUERY, Incoming
from mockserver.protocol.errors import ApiError
from mockserver.root import Api

log = logging.getLogger("mockserver")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
MAX_HEADERS = 128  # as aiohttp 3.13+ refuses more itself; older releases take any number


class Edge:
    """The request handler of aiohttp's low-level server."""

    def __init__(self, api: Api) -> None:
        self.api = api

    async def __call__(self, http: BaseRequest) -> web.StreamResponse:
        connection = http.protocol if isinstance(http.protocol, ApiRequestHandler) else None
        if connection is not None:
            connection.request_started()
        try:  # one coroutine per request: this runs for every call
            if len(http.raw_headers) > MAX_HEADERS:
                refusal = whole_response(self.api.error_plan(error_for(400, "Too many headers", None)))
                refusal.headers["Connection"] = "close"
                refusal.force_close()
                return refusal
            path = http.path
            if path.startswith(admin.PREFIX) and (len(path) == len(admin.PREFIX) or path[len(admin.PREFIX)] == "/"):
                return await admin.handle(http, self.api)
            headers = http.headers
            expect = headers.get(hdrs.EXPECT)
            if expect is not None:
                if expect.lower() != "100-continue":
                    return whole_response(self.api.error_plan(ApiError(417, "Expectation Failed")))
                await http.writer.write(CONTINUE)
            api = self.api
            body = Body(http, api.config.connections.body_timeout)
            incoming = Incoming(
                http.method, path, http.raw_path, http.query if http.query_string else EMPTY_QUERY, headers,
                body.read, http.can_read_body, chunks=body.chunks, raw_headers=http.raw_headers,
            )
            exchange = await api.handle(incoming)
            response, outcome = await respond(http, exchange.plan, gzip=api.config.gzip)
            await api.finish(exchange, outcome)
            return response
        finally:
            if connection is not None:
                connection.request_finished()

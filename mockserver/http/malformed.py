"""Anthropic-shaped answers to requests aiohttp refuses before any handler runs: malformed HTTP.

aiohttp answers a bad request line, oversized or invalid headers, a bad chunk or content
encoding itself (``RequestHandler.handle_error``, status 400) with a ``text/plain`` body. A
client of the real API only ever sees JSON error bodies, so :class:`ApiServer` — aiohttp's
low-level ``web.Server`` — makes its connections with :class:`ApiRequestHandler`, which renders
these errors in the API's shape, with the headers every error carries. Both classes are
aiohttp's public API (``aiohttp.web.Server`` and ``aiohttp.web.RequestHandler``), subclassed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from aiohttp import web
from aiohttp.web_request import BaseRequest

from mockserver.http.sink import whole_response
from mockserver.protocol.errors import ApiError
from mockserver.root import Api

log = logging.getLogger("mockserver")
_ECHOED = re.compile(r":? (?:b|bytearray\(b)['\"].*$")  # aiohttp quotes the bytes it choked on


def error_for(status: int, message: str | None, exc: BaseException | None) -> ApiError:
    if status >= 500:
        return ApiError(status, "Internal server error" if status == 500 else None)
    text = (message or (str(exc) if exc is not None else "") or "Bad Request").strip()
    first = _ECHOED.sub("", text.splitlines()[0]).rstrip(":.")[:200] if text else "Bad Request"
    return ApiError(status, f"Malformed HTTP request: {first}")


class ApiRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering protocol errors with Anthropic-shaped JSON."""

    def __init__(self, manager: "ApiServer", *, loop: asyncio.AbstractEventLoop, **kwargs: Any) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self.api = manager.api

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # headers already went out: nothing more can be said
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        if status >= 500:
            log.error("error answering %s %s", request.method, request.path, exc_info=exc)
        elif self.api.config.log_requests:  # a client's malformed request: one line, as the access log
            log.info("malformed HTTP request from %s: %s", request.remote, (message or str(exc or "")).strip().split("\n", 1)[0])
        response = whole_response(self.api.error_plan(error_for(status, message, exc)))
        response.headers["Connection"] = "close"  # the parser cannot resynchronise: say so
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp drains a request body the handler did not read (the answer was an error
        before the body mattered); a body that turns out malformed then is the client's mistake,
        already answered, not an error of the server's."""
        if isinstance(kw.get("exc_info"), web.RequestPayloadError):
            self.logger.debug("malformed request body left unread: %s", kw["exc_info"])
            return
        super().log_exception(*args, **kw)


class ApiServer(web.Server):
    """aiohttp's low-level server, whose connections answer malformed HTTP as the API would."""

    def __init__(self, api: Api, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.api = api
        self._handler_kwargs = kwargs
        self._handler_loop = asyncio.get_running_loop()

    def __call__(self) -> web.RequestHandler:
        return ApiRequestHandler(self, loop=self._handler_loop, **self._handler_kwargs)

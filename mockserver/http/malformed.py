"""Anthropic-shaped answers to requests that never reach a route: malformed HTTP and the like.

aiohttp answers some requests itself, before any handler of ours runs, with ``text/plain``
bodies: a bad request line, oversized or invalid headers, a bad chunk or content encoding
(``RequestHandler.handle_error``, status 400), a request target that is not a path
(``CONNECT host:443``, ``OPTIONS *``) and an unknown ``Expect`` (``HTTPException`` raised
inside ``Application._handle``). A client of the real API only ever sees JSON error bodies, so
these are rendered here in the API's shape, with the headers every error carries.

This leans on four pieces of aiohttp's private API (written against aiohttp 3.14):
``Server.__call__`` (builds a ``RequestHandler`` per connection from ``Server._loop`` and
``Server._kwargs``), ``RequestHandler.handle_error`` (the hook for errors outside handlers),
``RequestHandler.log_exception`` (quietened for malformed bodies aiohttp drains after an
answer) and ``Server.request_handler`` (the application's ``_handle``, wrapped to catch
``HTTPException``). :func:`install` is the only entry point; ``runner.start_site`` calls it.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable

from aiohttp import web, web_protocol, web_server
from aiohttp.web_request import BaseRequest

from mockserver.pipeline.exchange import ErrorReply
from mockserver.protocol.errors import ApiError
from mockserver.render.delivery import error_response
from mockserver.pipeline.root import ServerState

log = logging.getLogger("mockserver")
_ECHOED = re.compile(r":? (?:b|bytearray\(b)['\"].*$")  # aiohttp quotes the bytes it choked on


def render(state: ServerState, error: ApiError) -> web.Response:
    """An error response exactly as the pipeline renders one (body, request-id, edge headers)."""
    response, _ = error_response(state, state.ids.request(), ErrorReply(error=error, origin="server"))
    return response


def _error_for(status: int, message: str | None, exc: BaseException | None) -> ApiError:
    if status >= 500:
        return ApiError(status, "Internal server error" if status == 500 else None)
    text = (message or (str(exc) if exc is not None else "") or "Bad Request").strip()
    first = _ECHOED.sub("", text.splitlines()[0]).rstrip(":.")[:200] if text else "Bad Request"
    return ApiError(status, f"Malformed HTTP request: {first}")


class ApiRequestHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler, answering protocol errors with Anthropic-shaped JSON."""

    state: ServerState

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
        elif self.state.config.log_requests:  # a client's malformed request: one line, as the access log
            log.info("malformed HTTP request from %s: %s", request.remote, (message or str(exc or "")).strip().split("\n", 1)[0])
        response = render(self.state, _error_for(status, message, exc))
        response.headers["Connection"] = "close"  # the parser cannot resynchronise: say so
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp drains a request body the handler did not read (the answer was an error
        before the body mattered); a body that turns out malformed then is the client's mistake,
        already answered, not an error of the server's."""
        if isinstance(kw.get("exc_info"), web_protocol.RequestPayloadError):
            self.logger.debug("malformed request body left unread: %s", kw["exc_info"])
            return
        super().log_exception(*args, **kw)


class _ApiServer(web_server.Server):
    state: ServerState

    def __call__(self) -> web_protocol.RequestHandler:
        handler = ApiRequestHandler(self, loop=self._loop, **self._kwargs)
        handler.state = self.state
        return handler


def _catch_http_exceptions(
    handle: Callable[[BaseRequest], Awaitable[web.StreamResponse]], state: ServerState
) -> Callable[[BaseRequest], Awaitable[web.StreamResponse]]:
    """aiohttp raises ``HTTPException`` for targets no route can match (``CONNECT host:443``)
    and for an unknown ``Expect``; our own handlers never raise it (they answer every path)."""

    async def handle_request(request: BaseRequest) -> web.StreamResponse:
        try:
            return await handle(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return render(state, ApiError(exc.status, exc.reason if exc.status != 404 else "Not Found"))

    return handle_request


def install(server: Any, state: ServerState) -> None:
    """Make ``server`` (``AppRunner.server``, before the site starts) render protocol errors as JSON."""
    if not isinstance(server, web_server.Server) or isinstance(server, _ApiServer):
        return
    server.__class__ = _ApiServer  # same layout: only __call__ differs
    server.state = state  # type: ignore[attr-defined]
    server.request_handler = _catch_http_exceptions(server.request_handler, state)

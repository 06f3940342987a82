"""aiohttp's low-level server, made to behave as a public API edge: malformed HTTP answered in the
API's shape, and connections that cannot hold the server hostage.

**Malformed HTTP.** aiohttp answers a bad request line, oversized or invalid headers, a bad chunk
or content encoding itself (``RequestHandler.handle_error``, status 400) with a ``text/plain``
body. A client of the real API only ever sees JSON error bodies, so :class:`ApiRequestHandler`
renders these in the API's shape, with the headers every error carries.

**Connection hygiene** (``Config.connections``, documented in docs/protocol.md): a request's
headers must arrive within ``header_timeout`` of its first byte; a body must keep arriving
(``body_timeout`` between chunks, enforced where it is read: mockserver/http/body.py); an idle
keep-alive connection closes after ``keepalive_timeout``; and at most ``max_connections`` are
open — at the cap, the longest-idle connection makes room (one that is not being answered), so
a flood of slow connections cannot lock others out. The cap leaves room below the
file-descriptor limit for one burst of accepts (the listen backlog) and more; should the process
run out of descriptors anyway, asyncio's report of it (a traceback per failed accept) becomes one
warning line a minute (:meth:`ApiServer.handle_loop_exception`). Nothing here logs more than one
line a minute per kind of connection problem.

Both classes subclass aiohttp's public ``aiohttp.web.Server`` and ``aiohttp.web.RequestHandler``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import resource
from typing import Any, Callable

from aiohttp import web
from aiohttp.web_request import BaseRequest

from mockserver.config import ConnectionLimits
from mockserver.http.sink import whole_response
from mockserver.protocol.errors import ApiError
from mockserver.root import Api

log = logging.getLogger("mockserver")
_ECHOED = re.compile(r":? (?:b|bytearray\(b)['\"].*$")  # aiohttp quotes the bytes it choked on
BACKLOG = 128
"""The listen backlog (aiohttp's default, passed explicitly): asyncio accepts up to this many
connections in one go, before the cap can close any of them."""
FD_MARGIN = BACKLOG + 64
"""File descriptors the cap leaves free: one accept burst, then the store, logs and the like."""
FD_WANTED = 65536  # the soft limit is raised towards this (never past the hard limit)
LINGER = 2.0
ACCEPT_OUT_OF_RESOURCES = "socket.accept() out of system resource"  # asyncio's message (selector_events.py)


def connection_cap(wanted: int | None) -> int:
    """The connection cap: ``wanted``, or what the file-descriptor limit allows (raising the
    soft limit towards the hard one first, as servers do)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = FD_WANTED if hard == resource.RLIM_INFINITY else min(hard, FD_WANTED)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    available = FD_WANTED if soft == resource.RLIM_INFINITY else max(1, soft - FD_MARGIN)
    return min(wanted, available) if wanted is not None else available


def error_for(status: int, message: str | None, exc: BaseException | None) -> ApiError:
    if status >= 500:
        return ApiError(status, "Internal server error" if status == 500 else None)
    text = (message or (str(exc) if exc is not None else "") or "Bad Request").strip()
    first = _ECHOED.sub("", text.splitlines()[0]).rstrip(":.")[:200] if text else "Bad Request"
    return ApiError(status, f"Malformed HTTP request: {first}")


class ApiRequestHandler(web.RequestHandler):
    """One connection: answers protocol errors with Anthropic-shaped JSON and times out a request
    whose headers do not arrive."""

    def __init__(self, manager: "ApiServer", *, loop: asyncio.AbstractEventLoop, **kwargs: Any) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self.api = manager.api
        self.server = manager
        self.event_loop = loop
        self.answering = False
        self.last_active = loop.time()
        self._waiting_since: float | None = None  # when the first byte of unanswered headers came
        self._headers_due: asyncio.TimerHandle | None = None
        self._lost: asyncio.Future[None] | None = None

    # -- the header timeout ------------------------------------------------------------------------
    # One timer per connection, not per request: it is armed when bytes arrive with none armed,
    # and when it fires it closes the connection only if headers have been awaited that long,
    # else it re-arms for the time left (or stays off until more bytes come). A keep-alive client
    # sending call after call costs no timer per call.
    def data_received(self, data: bytes) -> None:
        self.last_active = now = self.event_loop.time()
        if not self.answering and self._waiting_since is None:
            self._waiting_since = now
            if self._headers_due is None:
                self._headers_due = self.event_loop.call_at(now + self.server.limits.header_timeout, self._headers_late)
        super().data_received(data)

    def _headers_late(self) -> None:
        self._headers_due = None
        since = self._waiting_since
        if since is None or self.answering or self.transport is None:
            return
        due = since + self.server.limits.header_timeout
        if self.event_loop.time() < due:
            self._headers_due = self.event_loop.call_at(due, self._headers_late)
            return
        self.server.warn(f"closed connections whose request headers did not arrive within {self.server.limits.header_timeout:g} s")
        self.transport.close()

    def request_started(self) -> None:
        """The edge calls this once a request's headers are in."""
        self.answering = True
        self._waiting_since = None

    def request_finished(self) -> None:
        self.answering = False
        self.last_active = self.event_loop.time()

    def hangup(self) -> asyncio.Future[None]:
        """Done once the connection is lost: a paused answer waits on it (render/deliver.py)."""
        if self._lost is None:
            self._lost = self.event_loop.create_future()
            if self.transport is None:
                self._lost.set_result(None)
        return self._lost

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None
        super().connection_lost(exc)

    # -- malformed HTTP ----------------------------------------------------------------------------
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
    """aiohttp's low-level server, with :class:`ApiRequestHandler` connections, capped."""

    def __init__(self, api: Api, handler: Any, limits: ConnectionLimits, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", limits.keepalive_timeout)
        kwargs.setdefault("access_log", None)  # ours is mockserver.access, one line per exchange (root.py)
        # After an answer that did not read the whole body (a 413, a 408), the rest is read and
        # dropped for this long before closing, so the client still sees the answer.
        kwargs.setdefault("lingering_time", LINGER)
        super().__init__(handler, **kwargs)
        self.api = api
        self.limits = limits
        self.cap = connection_cap(limits.max_connections)
        self.open: dict[ApiRequestHandler, None] = {}
        self._handler_kwargs = kwargs
        self._handler_loop = asyncio.get_running_loop()
        self._warnings: dict[str, tuple[float, int]] = {}  # what -> (when last logged, how many since)
        self._previous_handler: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None = None

    def __call__(self) -> web.RequestHandler:
        return ApiRequestHandler(self, loop=self._handler_loop, **self._handler_kwargs)

    def connection_made(self, handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if not isinstance(handler, ApiRequestHandler):
            return
        if len(self.open) >= self.cap and not self._make_room():
            self.warn(f"at the connection cap ({self.cap}, --max-connections): refused connections")
            transport.close()
            return
        self.open[handler] = None

    def connection_lost(self, handler: web.RequestHandler, exc: BaseException | None = None) -> None:
        if isinstance(handler, ApiRequestHandler):
            self.open.pop(handler, None)
        super().connection_lost(handler, exc)

    def _make_room(self) -> bool:
        """Close the longest-idle connection that is not being answered; whether one was."""
        idle = [h for h in self.open if not h.answering and h.transport is not None]
        if not idle:
            return False
        oldest = min(idle, key=lambda h: h.last_active)
        self.warn(f"at the connection cap ({self.cap}, --max-connections): closed the longest-idle connections to make room")
        self.open.pop(oldest, None)
        assert oldest.transport is not None
        oldest.transport.close()
        return True

    def install_loop_handler(self) -> None:
        """Route the loop's own reports through :meth:`handle_loop_exception` (until
        :meth:`remove_loop_handler`)."""
        self._previous_handler = self._handler_loop.get_exception_handler()
        self._handler_loop.set_exception_handler(self.handle_loop_exception)

    def remove_loop_handler(self) -> None:
        if self._handler_loop.get_exception_handler() == self.handle_loop_exception:
            self._handler_loop.set_exception_handler(self._previous_handler)

    def handle_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's report of an accept that ran out of file descriptors (or memory), which it
        logs with a traceback each time, becomes one warning line a minute; asyncio itself stops
        accepting for a second and tries again. Anything else goes where it went before."""
        exc = context.get("exception")
        if context.get("message") == ACCEPT_OUT_OF_RESOURCES and isinstance(exc, OSError):
            self.warn(f"could not accept connections: {exc.strerror or exc} (retrying each second; raise the "
                      "file-descriptor limit, ulimit -n, or lower --max-connections)")
            return
        if self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    def warn(self, what: str) -> None:
        """One log line a minute for each kind of connection problem, with how many there were."""
        now = self._handler_loop.time()
        last, count = self._warnings.get(what, (float("-inf"), 0))
        count += 1
        if now - last >= 60:
            log.warning("%s (%d since the last such line)", what, count)
            self._warnings[what] = (now, 0)
        else:
            self._warnings[what] = (last, count)

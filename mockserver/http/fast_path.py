"""API calls on fixed paths go straight to the pipeline, past aiohttp's Application and router.

For every request ``Application._handle`` resolves a route through the router, builds and
freezes match info, and checks for an ``Expect`` header and middlewares: about 4% of the machine
instructions a whole Messages call costs here (``make bench``, docs/architecture.md). For the
API's fixed paths one dict lookup finds the same endpoint. Everything else (paths with ids, the admin API, unknown paths, ``Expect:
100-continue``) still goes through the Application, so both routes answer alike.

Like :mod:`.http_errors`, this wraps ``Server.request_handler`` (aiohttp private API, 3.14).
Only apps built by :func:`.app.create_app` and started by :func:`.runner.start_site` have it; an
app served any other way (aiohttp's test client) routes every call through the router.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.web_request import BaseRequest

from mockserver.http.edge import FIXED_PATHS, STATE, answer

NO_PATH_PARAMS: MappingProxyType[str, str] = MappingProxyType({})


def install(server: Any, app: web.Application) -> None:
    """Make ``server`` (``AppRunner.server``, before the site starts) answer ``app``'s fixed paths directly."""
    fixed = app.get(FIXED_PATHS)
    if fixed is None:  # not an app of create_app's: its own routes decide
        return
    state = app[STATE]
    routed: Callable[[BaseRequest], Awaitable[web.StreamResponse]] = server.request_handler

    async def handle_request(request: BaseRequest) -> web.StreamResponse:
        endpoint = fixed.get((request.method, request.path))
        if endpoint is None or hdrs.EXPECT in request.headers:
            return await routed(request)
        return await answer(request, state, endpoint, NO_PATH_PARAMS)  # type: ignore[arg-type]

    server.request_handler = handle_request

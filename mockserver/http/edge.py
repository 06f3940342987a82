"""The aiohttp application: routes, request parsing, and the one pipeline every call walks.

parse + validate headers/body -> first responder that answers -> deliver (with faults) -> journal.
"""

from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable, Mapping

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy

from mockserver.config import KNOWN_VERSIONS, Config
from mockserver.pipeline.exchange import ApiRequest, ErrorReply, MessageReply, Reply
from mockserver.journal import JournalEntry
from mockserver.protocol.endpoints import ROUTES
from mockserver.protocol.errors import ApiError, internal_error, invalid_request
from mockserver.emulation.stage import DefaultResponder
from mockserver.scenarios.stage import ScenarioResponder
from mockserver.scenarios.watch import watcher as scenario_watcher
from mockserver.ratelimit import stage as ratelimiting
from mockserver.http.admin import add_admin_routes
from mockserver.render.delivery import Delivered, deliver, error_response
from mockserver.pipeline.root import ServerState

log = logging.getLogger("mockserver.access")
EMPTY_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())
STATE: web.AppKey[ServerState] = web.AppKey("state", ServerState)
# (method, path) -> endpoint for the API's fixed paths, set on apps that create_app builds:
# servers started by runner.start_site answer these before the router (server/fast_path.py).
FIXED_PATHS: web.AppKey[dict[tuple[str, str], str]] = web.AppKey("fixed_paths", dict)

MB = 1024 * 1024
MAX_BODY = 256 * MB  # a Message Batch's limit: the largest body any endpoint takes
JSON_BODY_ENDPOINTS = {"messages.create": 32 * MB, "messages.count_tokens": 32 * MB, "batches.create": MAX_BODY}


def _too_large() -> ApiError:
    # The 32 MB limit is enforced at the edge: its body has no envelope and no request_id.
    return ApiError(413, "Request exceeds the maximum size", type="request_too_large", edge=True)


def _credentials(headers: CIMultiDictProxy[str]) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _check_headers(headers: CIMultiDictProxy[str], config: Config) -> str:
    """Credentials first, then the API version, as the real API checks them."""
    key = _credentials(headers)
    if key is None:
        raise ApiError(401, "x-api-key header is required", type="authentication_error")
    if config.api_keys is not None and key not in config.api_keys:
        raise ApiError(401, "invalid x-api-key", type="authentication_error")
    version = headers.get("anthropic-version")
    if not version:
        raise invalid_request("anthropic-version: header is required")
    if version not in KNOWN_VERSIONS and not config.lenient:
        raise invalid_request(f'anthropic-version: "{version}" is not a valid version')
    return version


async def _read_body(http: web.Request, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it passes ``limit`` even without a Content-Length."""
    try:
        length = http.content_length
        if length is not None:
            if length > limit:
                raise _too_large()
            return await http.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in http.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise _too_large()
            chunks.append(chunk)
        return b"".join(chunks)
    except (ConnectionResetError, HttpProcessingError, RequestPayloadError) as exc:
        # The client hung up mid-body (fewer bytes than its Content-Length) or sent a broken
        # chunk or compressed body: a client mistake, journaled as a 400 (nobody may be left to
        # read the answer).
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection lost"
        raise invalid_request(f"The request body is incomplete or malformed: {reason}") from None


def _decode_json(http: web.Request, raw: bytes) -> object:
    if http.headers.get("content-type") != "application/json":  # what every SDK sends needs no parsing
        mime = http.content_type  # aiohttp parses it; "application/octet-stream" when absent
        if mime != "application/json" and not mime.endswith("+json") and "content-type" in http.headers:
            raise invalid_request(f'Unsupported Content-Type "{mime}": the request body must be JSON sent as application/json.')
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid_request(f"The request body is not valid JSON: {exc}") from None


async def _parse(
    http: web.Request, endpoint: str, path_params: Mapping[str, str], state: ServerState, request_id: str, received_at: float
) -> ApiRequest:
    headers = http.headers
    version = _check_headers(headers, state.config)
    limit = JSON_BODY_ENDPOINTS.get(endpoint)
    body = None
    if limit is not None:
        raw = await _read_body(http, limit)
        body = _decode_json(http, raw)
    else:
        # cancel and delete bodies are read (and ignored, as the API does)
        raw = await _read_body(http, MB) if http.can_read_body else b""
    query, beta = _query_and_beta(http)
    return ApiRequest(
        http.method, http.path, query, headers, raw, body, endpoint, path_params, request_id, version, received_at, beta
    )


def _query_and_beta(http: web.Request) -> tuple[MultiDictProxy[str], bool]:
    """The query (one shared empty one when there is none) and whether the call uses the beta API."""
    query = http.query if http.query_string else EMPTY_QUERY
    return query, query.get("beta") == "true" or "anthropic-beta" in http.headers


async def _parse_passthrough(
    http: web.Request, endpoint: str, path_params: Mapping[str, str], state: ServerState, request_id: str, received_at: float
) -> ApiRequest:
    """Replay and record: the recording (or the upstream) is the truth, so nothing is checked here —
    not credentials, version or content type — and any method on any path reaches the responders."""
    raw = await _read_body(http, MAX_BODY) if http.can_read_body else b""
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    query, beta = _query_and_beta(http)
    return ApiRequest(
        http.method, http.path, query, http.headers, raw, body, endpoint, path_params, request_id,
        http.headers.get("anthropic-version"), received_at, beta, raw_target=http.raw_path,
    )


async def run_pipeline(api: ApiRequest, state: ServerState) -> Reply:
    """The responders in order, the first answer wins; with rate-limit emulation on, admit (or
    429) first and charge the output once the answer is known."""
    limited = state.ratelimits.enabled and ratelimiting.applies(api)
    if limited:
        refusal, estimate = ratelimiting.admit(api, state)
        if refusal is not None:
            return ErrorReply(error=refusal, origin="ratelimit")
    reply: Reply | None = None
    for responder in state.responders:
        reply = await responder.respond(api, state)
        if reply is not None:
            break
    if reply is None:
        reply = ErrorReply(error=ApiError(404, "Not Found", type="not_found_error"), origin="none")
    if limited:
        ratelimiting.settle(api, state, reply, estimate)
    return reply


async def answer(http: web.Request, state: ServerState, endpoint: str, path_params: Mapping[str, str]) -> web.StreamResponse:
    """One API call, start to end: parse, run the pipeline, deliver, journal. Never raises."""
    started = time.perf_counter()
    received_at = state.clock.now()
    request_id = state.ids.request()
    api: ApiRequest | None = None
    try:
        parse = _parse_passthrough if state.passthrough else _parse
        api = await parse(http, endpoint, path_params, state, request_id, received_at)
        reply = await run_pipeline(api, state)
        response, delivered = await deliver(http, api, reply, state)
        if delivered.reply is not None:  # a fault answered instead (an injected error)
            reply = delivered.reply
    except ApiError as error:
        reply = ErrorReply(error=error, origin="server")
        response, delivered = error_response(state, request_id, reply)
    except Exception:  # a bug here must still answer like the API, never with a traceback
        logging.getLogger("mockserver").exception("internal error answering %s %s", http.method, http.path)
        reply = ErrorReply(error=internal_error(), origin="server")
        response, delivered = error_response(state, request_id, reply)
    _record(state, http, endpoint, api, request_id, received_at, reply, delivered, started)
    return response


def _handler(endpoint: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The route handler for ``endpoint`` (see :mod:`.fast_path` for the fixed paths' shortcut)."""

    async def handle(http: web.Request) -> web.StreamResponse:
        return await answer(http, http.app[STATE], endpoint, http.match_info)

    return handle


def _record(
    state: ServerState,
    http: web.Request,
    endpoint: str,
    api: ApiRequest | None,
    request_id: str,
    received_at: float,
    reply: Reply,
    delivered: Delivered,
    started: float,
) -> None:
    """Journal the exchange (bytes only: decoding waits until a test reads it) and log one line."""
    elapsed = (time.perf_counter() - started) * 1000
    usage = reply.message["usage"] if isinstance(reply, MessageReply) else None
    model = api.model if api is not None else None
    faults = reply.faults.describe() if reply.faults is not None else []
    entry = JournalEntry(
        0,
        request_id=request_id,
        method=http.method,
        path=http.path,
        query=api.query if api is not None else http.query,
        raw_headers=http.headers,
        request_bytes=api.raw_body if api is not None else b"",
        endpoint=endpoint,
        received_at=received_at,
        status=delivered.status,
        origin=reply.origin,
        response_bytes=delivered.raw,
        streamed=delivered.streamed,
        duration_ms=elapsed,
        model=model,
        input_tokens=usage["input_tokens"] if usage else None,
        output_tokens=usage["output_tokens"] if usage else None,
        faults=[*faults, *delivered.notes],
        error=reply.error.message if isinstance(reply, ErrorReply) else None,
    )
    state.journal.append(entry)
    if state.config.log_requests:
        tokens = f" in={usage['input_tokens']} out={usage['output_tokens']}" if usage else ""
        extra = " stream" if api is not None and api.stream else ""
        log.info("%s %s %d %s%s %.1fms%s", http.method, http.path, delivered.status, model or "-", tokens, elapsed, extra)


async def _unknown_route(http: web.Request) -> web.StreamResponse:
    state = http.app[STATE]
    if state.passthrough:  # a cassette or an upstream answers every path (HEAD to image hosts, /v1/complete, …)
        return await _any_route(http)
    path = http.path
    error = (
        ApiError(405, "Method Not Allowed", type="invalid_request_error")
        if any(_same_shape(pattern, path) for _, pattern, _ in ROUTES)
        else ApiError(404, "Not Found", type="not_found_error")
    )
    request_id = state.ids.request()
    reply = ErrorReply(error=error, origin="server")
    response, delivered = error_response(state, request_id, reply)
    _record(state, http, "unknown", None, request_id, state.clock.now(), reply, delivered, time.perf_counter())
    return response


_any_route = _handler("other")


async def _close_responders(app: web.Application) -> None:
    """Responders may hold resources (the recorder's upstream connections): released with the app."""
    for responder in app[STATE].responders:
        close = getattr(responder, "aclose", None)
        if close is not None:
            await close()


def _same_shape(pattern: str, path: str) -> bool:
    a, b = pattern.strip("/").split("/"), path.strip("/").split("/")
    return len(a) == len(b) and all(x == y or x.startswith("{") for x, y in zip(a, b))


def create_app(config: Config | None = None, *, state: ServerState | None = None) -> web.Application:
    """The app factory: one independent server per call (tests run many in one process)."""
    state = state or ServerState.from_config(config or Config())
    if not state.responders:
        state.responders.append(DefaultResponder())
    if not any(isinstance(r, ScenarioResponder) for r in state.responders):
        state.responders.insert(0, ScenarioResponder())  # scripted rules answer first
    if state.chaos is not None and state.chaos not in state.responders:
        state.responders.insert(0, state.chaos)  # chaos mode (--chaos): in front of everything
    app = web.Application(client_max_size=MAX_BODY + 1, handler_args={"max_field_size": 65536})
    app[STATE] = state
    app.cleanup_ctx.append(state.batches.lifespan(state, run_pipeline))  # the batch processor's lifetime
    for method, path, endpoint in ROUTES:
        app.router.add_route(method, path, _handler(endpoint))
    app[FIXED_PATHS] = {(method, path): endpoint for method, path, endpoint in ROUTES if "{" not in path}
    add_admin_routes(app, STATE)  # /_mock/…: rules, journal, rate limits (before the catch-all)
    if state.scenarios.files:
        app.cleanup_ctx.append(scenario_watcher(state.scenarios))  # reload scenario files on change
    app.router.add_route("*", "/{tail:.*}", _unknown_route)
    app.on_cleanup.append(_close_responders)
    if state.chaos is not None:
        app.on_cleanup.append(state.chaos.on_cleanup)  # the chaos report, when the server stops
    return app

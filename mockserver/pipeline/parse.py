"""From what arrived to an :class:`~mockserver.pipeline.exchange.ApiRequest`: the front door.

:class:`Incoming` is a request as any transport hands it over (the aiohttp edge, an in-process
httpx transport), its body still unread. :class:`Parser` finds the endpoint in the table and
reads the body within the endpoint's limit (counted after decompression). In front of the
emulated API it checks what the real API checks before anything else, in the real order:
the route (404, or 405 for a wrong method), credentials (401), ``anthropic-version`` (400), the
body's size (413) and content type, and the JSON itself. With a cassette the recording (or the
upstream) is the truth, so the composition root uses the open parser: any method on any path,
nothing checked, a body that is not JSON kept as bytes. Bedrock and Vertex calls take their own
door (pipeline/platform.py): their credentials, their model ids, ``anthropic_version`` in the body.

An upload (an endpoint the table marks ``multipart``) is never read whole: it is parsed as it
arrives (mockserver/pipeline/multipart.py), its file spooled, and the request carries the form;
with the open parser the body is spooled as it came too, to be forwarded as it came.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

import orjson
from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy, MultiMapping

from mockserver.pipeline.exchange import ApiRequest
from mockserver.pipeline.multipart import Form, FormError, boundary_of, read_form
from mockserver.pipeline.platform import Lookup, Rename, check_credentials, named_model, platform_key, read_call
from mockserver.protocol.endpoints import MB, NO_PARAMS, UNKNOWN, Endpoint, EndpointTable
from mockserver.protocol.errors import ApiError, invalid_request, not_found
from mockserver.protocol.versions import KNOWN_VERSIONS

EMPTY_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())
UNKNOWN_PATH_BODY = MB  # a body sent to a path nobody answers is read (and dropped) up to this
NAMESPACE_HEADER = "x-mock-namespace"
"""Selects the namespace a call reads and changes (rules, journal, limits, cache, batches)."""
DEFAULT_NAMESPACE = "default"
_NAMESPACE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_NAMESPACE = 64
MAX_JSON_DEPTH = 200
"""Arrays and objects a JSON body may nest (the body's own object is level 1). orjson reads
1,024 levels but writes only 254, and the server re-encodes what it was sent (a reply's seed, a
batch item, the journal): deeper is refused with a 400 (the real API's limit and wording are
unconfirmed: docs/protocol.md)."""
_ORJSON_WRITE_DEPTH = 254  # orjson.dumps raises "Recursion limit reached" past this many levels


def valid_namespace(name: str) -> bool:
    """1 to 64 letters, digits, ``.``, ``_`` or ``-`` (no ``:``: store keys start ``<namespace>:``)."""
    return 0 < len(name) <= MAX_NAMESPACE and _NAMESPACE_CHARS.issuperset(name)


def check_namespace(name: str, where: str = NAMESPACE_HEADER) -> str:
    if not valid_namespace(name):
        raise invalid_request(f"{where}: a namespace is 1 to {MAX_NAMESPACE} letters, digits, '.', '_' or '-'")
    return name


@dataclass(slots=True)
class Incoming:
    """One request as a transport received it."""

    method: str
    path: str
    raw_target: str
    """The request target as sent (path and query, still percent-encoded), for forwarding."""
    query: MultiMapping[str]
    headers: CIMultiDictProxy[str]
    read: Callable[[int], Awaitable[bytes]]
    """The whole (decoded) body; raises the 413 as soon as it passes the limit given."""
    has_body: bool
    endpoint: str = "unknown"
    """Set by the parser once the route is known (journaled even when parsing fails later)."""
    chunks: Callable[[int], AsyncIterator[bytes]] | None = None
    """The (decoded) body as it arrives, with the same limit as ``read``; transports that cannot
    stream leave it out (uploads are then read whole, then parsed)."""
    raw_headers: tuple[tuple[bytes, bytes], ...] | None = None
    """The headers as they came, in order (the reply memo's key); transports without them leave
    it out, and their calls always take the long way."""

    def stream(self, limit: int) -> AsyncIterator[bytes]:
        if self.chunks is not None:
            return self.chunks(limit)
        return _whole(self.read, limit)


async def _whole(read: Callable[[int], Awaitable[bytes]], limit: int) -> AsyncIterator[bytes]:
    yield await read(limit)


def too_large() -> ApiError:
    # Enforced at the edge (Cloudflare) in front of the API: no envelope and no request_id.
    return ApiError(413, "Request exceeds the maximum size", type="request_too_large", edge=True)


def credentials(headers: CIMultiDictProxy[str]) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key
    return platform_key(headers)  # a bearer token, or AWS SigV4 (the AWS and Bedrock Mantle clients)


class Parser:
    def __init__(
        self, table: EndpointTable, *, strict: bool, api_keys: frozenset[str] | None = None, lenient: bool = False,
        models: Lookup | None = None, vertex_names: Rename | None = None,
        default_namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self.table = table
        self.strict = strict
        self.api_keys = api_keys
        self.lenient = lenient
        self.models = models
        """Model id -> lifecycle, for the models platform paths name (``None``: any model)."""
        self.vertex_names = vertex_names
        """Vertex model names the catalog records for a model (``claude-3-5-sonnet-v2@20241022``)."""
        # The namespace of calls without the header (the pytest plugin moves it from test to test).
        self.default_namespace = default_namespace

    async def parse(self, incoming: Incoming, request_id: str, received_at: float) -> ApiRequest:
        match = self.table.match(incoming.method, incoming.path)
        endpoint = match.endpoint if match is not None else UNKNOWN
        params = match.params if match is not None else NO_PARAMS
        if match is not None or not self.strict:
            incoming.endpoint = endpoint.name
        if not self.strict:
            return await self._open(incoming, endpoint, params, request_id, received_at)
        if match is None:
            if self.table.allowed(incoming.path, incoming.method):
                raise ApiError(405, "Method Not Allowed", type="invalid_request_error")
            raise not_found("Not Found")
        if endpoint.platform != "anthropic":
            return await self._platform(incoming, endpoint, params, request_id, received_at)
        version = self._check_headers(incoming.headers)
        body: Any = None
        if endpoint.multipart:
            form = await _strict_form(incoming, endpoint)
            request = self._request(incoming, endpoint, params, b"", None, version, request_id, received_at)
            return _with_form(request, form)
        if endpoint.json_body:
            raw = await incoming.read(endpoint.body_limit)
            body = _decode_json(incoming.headers, raw)
        else:  # cancel and delete bodies are read (and ignored, as the API does)
            raw = await incoming.read(endpoint.body_limit) if incoming.has_body else b""
        return self._request(incoming, endpoint, params, raw, body, version, request_id, received_at)

    def _check_headers(self, headers: CIMultiDictProxy[str]) -> str:
        """Credentials first, then the API version, as the real API checks them."""
        key = credentials(headers)
        if key is None:
            raise ApiError(401, "x-api-key header is required", type="authentication_error")
        if self.api_keys is not None and key not in self.api_keys:
            raise ApiError(401, "invalid x-api-key", type="authentication_error")
        version = headers.get("anthropic-version")
        if not version:
            raise invalid_request("anthropic-version: header is required")
        if version not in KNOWN_VERSIONS and not self.lenient:
            raise invalid_request(f'anthropic-version: "{version}" is not a valid version')
        return version

    async def _platform(self, incoming: Incoming, endpoint: Endpoint, params: Any, request_id: str, received_at: float) -> ApiRequest:
        """A Bedrock or Vertex call as the Messages call it stands for (pipeline/platform.py)."""
        check_credentials(endpoint.platform, incoming.headers, self.api_keys)
        raw = await incoming.read(endpoint.body_limit)
        sent = _decode_json(incoming.headers, raw)
        body, version, beta = read_call(endpoint, params, incoming.headers, sent, self.models, self.vertex_names)
        request = self._request(incoming, endpoint, params, raw, body, version, request_id, received_at)
        request.beta = beta
        request.platform_model = named_model(params, sent)
        return request

    async def _open(self, incoming: Incoming, endpoint: Endpoint, params: Any, request_id: str, received_at: float) -> ApiRequest:
        boundary = boundary_of(incoming.headers.get("content-type")) if endpoint.multipart and incoming.has_body else None
        raw: bytes | None = None
        if boundary is not None:  # spooled as it came (to be forwarded), and summarized
            form = await read_form(incoming.stream(endpoint.body_limit), boundary, keep_files=False, keep_raw=True)
            version = incoming.headers.get("anthropic-version")
            if form.error is None:
                request = self._request(incoming, endpoint, params, b"", None, version, request_id, received_at)
                return _with_form(request, form)
            raw = b"".join(form.raw_chunks())  # not a form after all: bytes, as any other body
            form.close()
        if raw is None:
            raw = await incoming.read(max(endpoint.body_limit, UNKNOWN.body_limit)) if incoming.has_body else b""
        body = writable_json(raw)[1] if raw else None  # deeper JSON stays bytes, as any other body
        version = incoming.headers.get("anthropic-version")
        return self._request(incoming, endpoint, params, raw, body, version, request_id, received_at)

    def _request(
        self, incoming: Incoming, endpoint: Endpoint, params: Any, raw: bytes, body: Any, version: str | None, request_id: str,
        received_at: float,
    ) -> ApiRequest:
        query = incoming.query
        headers = incoming.headers
        beta = endpoint.beta and (query.get("beta") == "true" or "anthropic-beta" in headers)
        namespace = headers.get(NAMESPACE_HEADER)
        return ApiRequest(
            incoming.method, incoming.path, query, headers, raw, body, endpoint.name, params, request_id, version,
            received_at, beta, raw_target=incoming.raw_target,
            namespace=self.default_namespace if namespace is None else check_namespace(namespace),
        )

    def namespace_of(self, incoming: Incoming) -> str:
        """The namespace a call that failed before parsing ended is journaled under."""
        namespace = incoming.headers.get(NAMESPACE_HEADER)
        return namespace if namespace is not None and valid_namespace(namespace) else self.default_namespace


async def _strict_form(incoming: Incoming, endpoint: Endpoint) -> Form:
    """The upload's form, or the 400 for a body that is not ``multipart/form-data`` (wording
    unconfirmed: docs/files.md)."""
    declared = incoming.headers.get("content-type")
    boundary = boundary_of(declared)
    if boundary is None:
        mime = (declared or "").split(";", 1)[0].strip().lower() or "application/octet-stream"
        if mime == "multipart/form-data":
            raise invalid_request("The request body is not valid multipart/form-data: no boundary in its Content-Type.")
        raise invalid_request(f'Unsupported Content-Type "{mime}": the request body must be sent as multipart/form-data.')
    try:
        return await read_form(incoming.stream(endpoint.body_limit), boundary)
    except FormError as error:
        raise invalid_request(f"The request body is not valid multipart/form-data: {error}.") from None


def _with_form(request: ApiRequest, form: Form) -> ApiRequest:
    request.upload = form
    request.body = form.summary()
    request.raw_body = orjson.dumps(request.body)
    return request


def _decode_json(headers: CIMultiDictProxy[str], raw: bytes) -> Any:
    declared = headers.get("content-type")
    if declared is not None and declared != "application/json":  # what every SDK sends needs no parsing
        mime = declared.split(";", 1)[0].strip().lower()
        if mime != "application/json" and not mime.endswith("+json"):
            raise invalid_request(f'Unsupported Content-Type "{mime or "application/octet-stream"}": the request body must be JSON sent as application/json.')
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid_request(f"The request body is not valid JSON: {exc}") from None
    if _nests_too_deep(raw, body):
        raise invalid_request(f"The request body is nested too deeply: JSON arrays and objects may nest at most {MAX_JSON_DEPTH} levels.")
    return body


def writable_json(raw: bytes) -> tuple[bool, Any]:
    """``(True, value)`` for JSON text that nests at most :data:`MAX_JSON_DEPTH` levels, which
    this server can write back (a cassette, a match key, the journal); ``(False, None)`` for
    anything else, which the open parser and cassettes keep as bytes or text."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False, None
    return (False, None) if _nests_too_deep(raw, value) else (True, value)


def _nests_too_deep(raw: bytes, value: Any) -> bool:
    """:func:`too_deep` for ``value`` read from ``raw``, asked only when ``raw`` holds more than
    :data:`MAX_JSON_DEPTH` ``[`` and ``{`` bytes at all (a count at memory speed), which a body of
    up to twice that many bytes cannot (each needs its closing byte)."""
    return len(raw) > 2 * MAX_JSON_DEPTH and raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and too_deep(value)


def too_deep(value: Any) -> bool:
    """Whether decoded JSON nests more than :data:`MAX_JSON_DEPTH` levels. Asked only when the
    body has that many ``[`` and ``{`` bytes at all (a count at memory speed), and answered by
    orjson's own encoder, which refuses more than 254 levels: the value wrapped in enough lists
    to pass that exactly when it is too deep (a walk in Python would cost 50 times as much on
    a body of many small arrays). JSON orjson decoded has nothing else it could refuse."""
    for _ in range(_ORJSON_WRITE_DEPTH - MAX_JSON_DEPTH):
        value = [value]
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return True
    return False

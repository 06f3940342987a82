"""The API's endpoints, in one table that routing, rate limits, scenario matchers, the journal and
the docs all read.

Each :class:`Endpoint` says how a call is read (its body limit, whether the body is JSON), whether
rate-limit emulation admits it and whether its answers carry ``anthropic-ratelimit-*`` headers
(only Messages answers do in real traffic: docs/protocol.md), and whether ``?beta=true`` selects
the beta request schema. :class:`EndpointTable` matches a method and path against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

MB = 1024 * 1024

MESSAGES_CREATE = "messages.create"
COUNT_TOKENS = "messages.count_tokens"
BATCHES_CREATE = "batches.create"
BATCHES_LIST = "batches.list"
BATCHES_RETRIEVE = "batches.retrieve"
BATCHES_DELETE = "batches.delete"
BATCHES_CANCEL = "batches.cancel"
BATCHES_RESULTS = "batches.results"
MODELS_LIST = "models.list"
MODELS_RETRIEVE = "models.retrieve"
FILES_CREATE = "files.create"
FILES_LIST = "files.list"
FILES_RETRIEVE = "files.retrieve"
FILES_DELETE = "files.delete"
FILES_DOWNLOAD = "files.download"
FILE_LIMIT = 500 * MB
"""The largest file ``POST /v1/files`` takes (the Files docs: "File exceeds the 500 MB limit")."""
OTHER = "other"
"""A path the table does not know, answered only when a cassette or an upstream takes every path."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    method: str
    path: str
    """With ``{name}`` segments for path parameters."""
    body_limit: int = MB
    """Bytes a body may have (413 beyond); bodies of calls that take none are read and ignored."""
    json_body: bool = False
    """The body is a JSON document (content type checked, parse errors are 400s)."""
    rate_limited: bool = False
    """Rate-limit emulation admits (or refuses with 429) each call."""
    limit_headers: bool = False
    """Answers carry the ``anthropic-ratelimit-*`` headers."""
    beta: bool = True
    """``?beta=true`` or an ``anthropic-beta`` header select the beta request schema."""
    multipart: bool = False
    """The body is ``multipart/form-data``, parsed as it arrives: a file part goes to a spool
    (memory, then disk), never whole into memory (mockserver/pipeline/multipart.py)."""

    @property
    def fixed(self) -> bool:
        return "{" not in self.path


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(MESSAGES_CREATE, "POST", "/v1/messages", 32 * MB, json_body=True, rate_limited=True, limit_headers=True),
    Endpoint(COUNT_TOKENS, "POST", "/v1/messages/count_tokens", 32 * MB, json_body=True, rate_limited=True),
    Endpoint(BATCHES_CREATE, "POST", "/v1/messages/batches", 256 * MB, json_body=True),
    Endpoint(BATCHES_LIST, "GET", "/v1/messages/batches"),
    Endpoint(BATCHES_RETRIEVE, "GET", "/v1/messages/batches/{batch_id}"),
    Endpoint(BATCHES_DELETE, "DELETE", "/v1/messages/batches/{batch_id}"),
    Endpoint(BATCHES_CANCEL, "POST", "/v1/messages/batches/{batch_id}/cancel"),
    Endpoint(BATCHES_RESULTS, "GET", "/v1/messages/batches/{batch_id}/results"),
    Endpoint(MODELS_LIST, "GET", "/v1/models"),
    Endpoint(MODELS_RETRIEVE, "GET", "/v1/models/{model_id}"),
    # Files: the file plus the form's framing and small fields may use up to 1 MB more.
    # Their rate limit is one bucket of requests (mockserver/ratelimit/limiter.py); no ratelimit headers.
    Endpoint(FILES_CREATE, "POST", "/v1/files", FILE_LIMIT + MB, multipart=True, rate_limited=True),
    Endpoint(FILES_LIST, "GET", "/v1/files", rate_limited=True),
    Endpoint(FILES_RETRIEVE, "GET", "/v1/files/{file_id}", rate_limited=True),
    Endpoint(FILES_DELETE, "DELETE", "/v1/files/{file_id}", rate_limited=True),
    Endpoint(FILES_DOWNLOAD, "GET", "/v1/files/{file_id}/content", rate_limited=True),
)
ENDPOINT_NAMES: tuple[str, ...] = tuple(e.name for e in ENDPOINTS)
BY_NAME: Mapping[str, Endpoint] = MappingProxyType({e.name: e for e in ENDPOINTS})
MAX_BODY = max(e.body_limit for e in ENDPOINTS if not e.multipart)
"""The largest body read whole into memory (a Message Batch's 256 MB); uploads are streamed."""
UNKNOWN = Endpoint(OTHER, "*", "/{path}", MAX_BODY)
NO_PARAMS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Match:
    endpoint: Endpoint
    params: Mapping[str, str]


class EndpointTable:
    """Method and path -> endpoint and path parameters: a dict lookup for fixed paths, a walk
    over the few parameterised ones otherwise. ``allowed`` tells a wrong method (405) from an
    unknown path (404)."""

    def __init__(self, endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> None:
        self._fixed = {(e.method, e.path): Match(e, NO_PARAMS) for e in endpoints if e.fixed}
        self._patterns = [(e, e.path.strip("/").split("/")) for e in endpoints if not e.fixed]
        self._shapes = [e.path.strip("/").split("/") for e in endpoints]

    def match(self, method: str, path: str) -> Match | None:
        found = self._fixed.get((method, path))
        if found is not None or not self._patterns:
            return found
        parts = path.strip("/").split("/")
        for endpoint, pattern in self._patterns:
            if endpoint.method == method and len(pattern) == len(parts):
                params = _bind(pattern, parts)
                if params is not None:
                    return Match(endpoint, params)
        return None

    def allowed(self, path: str) -> bool:
        """Whether some endpoint has this path (with another method: a 405, not a 404)."""
        parts = path.strip("/").split("/")
        return any(len(shape) == len(parts) and _bind(shape, parts) is not None for shape in self._shapes)


def _bind(pattern: list[str], parts: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for want, got in zip(pattern, parts):
        if want.startswith("{"):
            if not got:
                return None
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params

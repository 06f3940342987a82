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
from typing import Any, Mapping

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
COMPLETIONS_CREATE = "completions.create"
# The same Messages API behind the cloud platforms' doors (docs/protocol.md "Platforms").
BEDROCK_INVOKE = "bedrock.invoke"
BEDROCK_INVOKE_STREAM = "bedrock.invoke_stream"
BEDROCK_COUNT_TOKENS = "bedrock.count_tokens"
VERTEX_RAW_PREDICT = "vertex.raw_predict"
VERTEX_STREAM_RAW_PREDICT = "vertex.stream_raw_predict"
VERTEX_COUNT_TOKENS = "vertex.count_tokens"
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
    platform: str = "anthropic"
    """Whose door: ``anthropic`` (and every client that sends the first-party wire), ``bedrock``
    or ``vertex`` (model in the path, ``anthropic_version`` in the body, their own errors and,
    for Bedrock, their own stream framing)."""
    like: str | None = None
    """The first-party endpoint this one is answered as (``bedrock.invoke`` -> ``messages.create``)."""
    streams: bool = False
    """Always answers with a stream (Bedrock's ``invoke-with-response-stream``), whatever the body says."""
    multipart: bool = False
    """The body is ``multipart/form-data``, parsed as it arrives: a file part goes to a spool
    (memory, then disk), never whole into memory (mockserver/pipeline/multipart.py)."""

    @property
    def fixed(self) -> bool:
        return "{" not in self.path


VERTEX_MODELS = "/v1/projects/{project}/locations/{region}/publishers/anthropic/models"
"""Vertex's path up to the model, on regional (``us-east5``) and global (``global``) hosts alike."""
PREFIXES: tuple[str, ...] = ("/anthropic", "/v1/projects/{project}/locations/{location}/workspaces/{workspace}/invoke")
"""Doors in front of the first-party API (the whole wire unchanged behind a prefix): Microsoft
Foundry and Bedrock Mantle (``/anthropic``), Claude on Google Cloud (``…/workspaces/{w}/invoke``).
The AWS client (``AnthropicAWS``) uses the first-party paths as they are."""

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
    Endpoint(COMPLETIONS_CREATE, "POST", "/v1/complete", 32 * MB, json_body=True, rate_limited=True, beta=False),
    # Bedrock: the model id may be an ARN with a '/' in it ({model_id+} takes one or more segments).
    Endpoint(BEDROCK_INVOKE, "POST", "/model/{model_id+}/invoke", 32 * MB, json_body=True, rate_limited=True,
             platform="bedrock", like=MESSAGES_CREATE),
    Endpoint(BEDROCK_INVOKE_STREAM, "POST", "/model/{model_id+}/invoke-with-response-stream", 32 * MB, json_body=True,
             rate_limited=True, platform="bedrock", like=MESSAGES_CREATE, streams=True),
    Endpoint(BEDROCK_COUNT_TOKENS, "POST", "/model/{model_id+}/count-tokens", 32 * MB, json_body=True, rate_limited=True,
             platform="bedrock", like=COUNT_TOKENS),
    # Vertex: count-tokens first, as its path would also read as a model named "count-tokens".
    Endpoint(VERTEX_COUNT_TOKENS, "POST", VERTEX_MODELS + "/count-tokens:rawPredict", 32 * MB, json_body=True,
             rate_limited=True, platform="vertex", like=COUNT_TOKENS),
    Endpoint(VERTEX_RAW_PREDICT, "POST", VERTEX_MODELS + "/{model}:rawPredict", 32 * MB, json_body=True,
             rate_limited=True, platform="vertex", like=MESSAGES_CREATE),
    Endpoint(VERTEX_STREAM_RAW_PREDICT, "POST", VERTEX_MODELS + "/{model}:streamRawPredict", 32 * MB, json_body=True,
             rate_limited=True, platform="vertex", like=MESSAGES_CREATE),
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
LIKE: Mapping[str, str] = MappingProxyType({e.name: e.like or e.name for e in ENDPOINTS})
"""Each endpoint's first-party counterpart (itself for first-party endpoints)."""


def kind(endpoint: str) -> str:
    """The first-party endpoint ``endpoint`` is answered as (``bedrock.invoke`` -> ``messages.create``)."""
    return LIKE.get(endpoint, endpoint)


EITHER_API = frozenset({BEDROCK_INVOKE, BEDROCK_INVOKE_STREAM})
"""The doors that take a Messages or a Text Completions body alike (Bedrock's invoke): the body
decides, by :func:`is_completion` (Vertex's doors take Messages only)."""


def is_completion(body: Any) -> bool:
    """A Text Completions body (sent through a door that takes either API, :data:`EITHER_API`)."""
    return isinstance(body, dict) and "prompt" in body and "messages" not in body


@dataclass(frozen=True, slots=True)
class Match:
    endpoint: Endpoint
    params: Mapping[str, str]


class EndpointTable:
    """Method and path -> endpoint and path parameters: a dict lookup for fixed paths, a walk
    over the few parameterised ones otherwise. ``allowed`` tells a wrong method (405) from an
    unknown path (404)."""

    def __init__(self, endpoints: tuple[Endpoint, ...] = ENDPOINTS, prefixes: tuple[str, ...] = PREFIXES) -> None:
        self._fixed = {(e.method, e.path): Match(e, NO_PARAMS) for e in endpoints if e.fixed}
        self._patterns = [(e, e.path.strip("/").split("/")) for e in endpoints if not e.fixed]
        self._methods = sorted({e.method for e in endpoints})
        self._prefixes = [p.strip("/").split("/") for p in prefixes]

    def match(self, method: str, path: str) -> Match | None:
        found = self._fixed.get((method, path))  # the common case, without a call
        if found is None:
            found = self._match(method, path)
        if found is not None or not self._prefixes:
            return found
        rest = self._unprefixed(path)  # a platform's door in front of the first-party paths
        if rest is None:
            return None
        found = self._match(method, rest)
        return found if found is not None and found.endpoint.platform == "anthropic" else None

    def _match(self, method: str, path: str) -> Match | None:
        found = self._fixed.get((method, path))
        if found is not None or not self._patterns:
            return found
        parts = path.strip("/").split("/")
        for endpoint, pattern in self._patterns:
            if endpoint.method == method:
                params = _bind(pattern, parts)
                if params is not None:
                    return Match(endpoint, params)
        return None

    def _unprefixed(self, path: str) -> str | None:
        parts = path.strip("/").split("/")
        for prefix in self._prefixes:
            if len(parts) > len(prefix) and _bind(prefix, parts[: len(prefix)]) is not None:
                return "/" + "/".join(parts[len(prefix) :])
        return None

    def allowed(self, path: str, method: str | None = None) -> bool:
        """Whether another method than ``method`` is routed on this path (a 405, not a 404).
        The path is matched as routing matches it, so a path no method answers (``//v1/messages``,
        ``/v1/messages/``) is a 404 for every method, not a 405 for the one it documents."""
        return any(other != method and self.match(other, path) is not None for other in self._methods)


def _bind(pattern: list[str], parts: list[str]) -> dict[str, str] | None:
    """Path parameters for ``parts`` against ``pattern``: ``{name}`` takes one segment,
    ``{name+}`` one or more (joined with ``/``), ``{name}:suffix`` a segment ending in ``:suffix``."""
    for at, want in enumerate(pattern):
        if want.endswith("+}"):  # one greedy parameter: fixed segments on both sides
            tail = len(pattern) - at - 1
            if len(parts) < len(pattern):
                return None
            head = _bind(pattern[:at], parts[:at])
            rest = _bind(pattern[at + 1 :], parts[len(parts) - tail :])
            middle = parts[at : len(parts) - tail]
            if head is None or rest is None or not all(middle):
                return None
            return {**head, want[1:-2]: "/".join(middle), **rest}
    if len(pattern) != len(parts):
        return None
    params: dict[str, str] = {}
    for want, got in zip(pattern, parts):
        if want.startswith("{"):
            name, _, suffix = want[1:].partition("}")
            value = got[: len(got) - len(suffix)] if suffix else got
            if not value or (suffix and not got.endswith(suffix)):
                return None
            params[name] = value
        elif want != got:
            return None
    return params


def markdown_table(endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> str:
    """The table as docs/protocol.md shows it (a test keeps the two the same)."""
    lines = ["| name | method and path | body limit | rate-limited | ratelimit headers | door |", "|---|---|---:|---|---|---|"]
    for e in endpoints:
        limit = f"{e.body_limit // MB} MB" if e.body_limit >= MB else f"{e.body_limit} B"
        door = e.platform + (f" (as `{e.like}`)" if e.like else "")
        lines.append(f"| `{e.name}` | `{e.method} {e.path}` | {limit} | {'yes' if e.rate_limited else 'no'} | "
                     f"{'yes' if e.limit_headers else 'no'} | {door} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m mockserver.protocol.endpoints: the table for docs/protocol.md
    print(markdown_table())

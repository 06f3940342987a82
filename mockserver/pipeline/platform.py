"""The front door for Bedrock and Vertex calls: a platform request becomes the ordinary
:class:`~mockserver.pipeline.exchange.ApiRequest` of the Messages API it stands for.

The checks run in the platform's order and answer in its words (docs/protocol.md "Platforms"):
credentials as the platform takes them (AWS SigV4 or a Bedrock API key in ``Authorization``;
a Google access token as ``Authorization: Bearer``), present and, with ``--api-key``, listed;
the body's JSON; the model from the path mapped onto the catalog; ``anthropic_version`` in the
body. The body then loses what only the door reads (``anthropic_version``, ``anthropic_beta``)
and gains the model, so validation, the fake model, scenarios and rate limits see a Messages
body. ``raw_body`` stays as sent (journal, cassettes).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Callable, Mapping

import orjson
from multidict import CIMultiDictProxy

from mockserver.protocol.endpoints import COUNT_TOKENS, Endpoint
from mockserver.protocol.errors import ApiError, invalid_request
from mockserver.protocol.platforms import BEDROCK, PLATFORM_VERSIONS, VERTEX, api_version, bedrock_model, vertex_model, vertex_model_not_found

Lookup = Callable[[str], str | None]
"""A model id -> its lifecycle (``active``, ``deprecated``, ``retired``), or ``None`` if unknown."""
Rename = Callable[[str], str | None]
"""A Vertex model name -> the model id the catalog records it for (``claude-3-5-sonnet-v2@20241022``
-> ``claude-3-5-sonnet-20241022``), or ``None`` where the name maps mechanically."""

_GOOGLE_AUTH_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def platform_key(headers: CIMultiDictProxy[str]) -> str | None:
    """The credential in ``Authorization``: a bearer token, or a SigV4 signature's access key id."""
    scheme, _, rest = headers.get("authorization", "").strip().partition(" ")
    rest = rest.strip()
    if scheme.lower() == "bearer" and rest:
        return rest
    if scheme == "AWS4-HMAC-SHA256" and "Credential=" in rest:
        key = rest.split("Credential=", 1)[1].split("/", 1)[0].strip()
        return key or None
    return None


def check_credentials(platform: str, headers: CIMultiDictProxy[str], api_keys: frozenset[str] | None) -> None:
    key = platform_key(headers)
    if platform == BEDROCK:
        if key is None:
            raise ApiError(403, "Missing Authentication Token", type="MissingAuthenticationTokenException")
        if api_keys is not None and key not in api_keys:
            raise ApiError(403, "The security token included in the request is invalid.", type="UnrecognizedClientException")
        return
    if key is None:
        raise ApiError(401, f"Request is missing required authentication credential. {_GOOGLE_AUTH_HELP}", type="UNAUTHENTICATED")
    if api_keys is not None and key not in api_keys:
        raise ApiError(401, f"Request had invalid authentication credentials. {_GOOGLE_AUTH_HELP}", type="UNAUTHENTICATED")


def read_call(
    endpoint: Endpoint, params: Mapping[str, str], headers: CIMultiDictProxy[str], body: Any, lookup: Lookup | None,
    vertex_names: Rename | None = None,
) -> tuple[dict[str, Any], str, bool]:
    """The Messages body, the API version and whether betas are on, for a platform call."""
    if not isinstance(body, dict):
        raise _invalid(endpoint.platform, "Malformed input request: #: expected type: JSONObject, please reformat your input and try again.")
    if endpoint.platform == BEDROCK and endpoint.like == COUNT_TOKENS:
        body = _bedrock_count_input(body)
    body = dict(body)
    if endpoint.platform == BEDROCK:
        body["model"] = _bedrock_model(params["model_id"], lookup)
        body.pop("stream", None)
        if endpoint.streams:
            body["stream"] = True
    elif "model" in params:  # rawPredict / streamRawPredict: the path names the model
        body["model"] = _vertex_model(params, params["model"], lookup, vertex_names)
    elif isinstance(body.get("model"), str):  # count-tokens: the body does
        body["model"] = _vertex_model(params, body["model"], lookup, vertex_names)
    version = _version(endpoint.platform, body.pop("anthropic_version", None))
    betas = body.pop("anthropic_beta", None)
    if betas is not None and not (isinstance(betas, list) and all(isinstance(b, str) for b in betas)):
        raise _invalid(endpoint.platform, "Malformed input request: #/anthropic_beta: expected type: JSONArray, please reformat your input and try again.")
    beta = bool(betas) or "anthropic-beta" in headers
    return body, version, beta


def named_model(params: Mapping[str, str], body: Any) -> str | None:
    """The model as a platform call names it, in the platform's spelling, before its door maps it
    onto the catalog (``claude-haiku-4-5@20251001``, ``anthropic.claude-…-v1:0``): the path's
    (Bedrock's ``model_id``, Vertex's ``model``), else the body's (Vertex's count-tokens). What a
    door's own errors name (Vertex's quota: render/wire.py)."""
    model = params.get("model_id") or params.get("model")
    if model is None and isinstance(body, dict):
        model = body.get("model")
    return model if isinstance(model, str) else None


# What an InvokeModel body may hold that a count is not about (the count_tokens schema refuses them).
_NOT_COUNTED = ("max_tokens", "stop_sequences", "temperature", "top_k", "top_p", "metadata", "service_tier", "container", "inference_geo")


def _bedrock_count_input(body: dict[str, Any]) -> dict[str, Any]:
    """CountTokens' ``{"input": {"invokeModel": {"body": <base64 InvokeModel body>}}}`` as that
    body (botocore's bedrock-runtime model: ``CountTokensInput``; the ``converse`` form is not
    emulated)."""
    invoke = body.get("input", {}).get("invokeModel") if isinstance(body.get("input"), dict) else None
    blob = invoke.get("body") if isinstance(invoke, dict) else None
    if not isinstance(blob, str):
        raise _invalid(BEDROCK, "The input for token counting must be an InvokeModel request body (input.invokeModel.body).")
    try:
        inner = orjson.loads(base64.b64decode(blob, validate=True))
    except (binascii.Error, ValueError):
        raise _invalid(BEDROCK, "Malformed input request: the InvokeModel body to count is not JSON, please reformat your input and try again.") from None
    if not isinstance(inner, dict):
        raise _invalid(BEDROCK, "Malformed input request: #: expected type: JSONObject, please reformat your input and try again.")
    return {k: v for k, v in inner.items() if k not in _NOT_COUNTED}


def _invalid(platform: str, message: str) -> ApiError:
    return ApiError(400, message, type="ValidationException") if platform == BEDROCK else invalid_request(message)


def _version(platform: str, version: Any) -> str:
    if version is None:
        if platform == BEDROCK:
            raise _invalid(platform, "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.")
        raise invalid_request("anthropic_version: Field required")
    found = api_version(platform, version) if isinstance(version, str) else None
    if found is None:
        if platform == BEDROCK:
            raise _invalid(platform, f"Malformed input request: #/anthropic_version: {version} is not a valid enum value, please reformat your input and try again.")
        raise invalid_request(f"anthropic_version: Input should be '{PLATFORM_VERSIONS[VERTEX]}'")
    return found


# Bedrock's names for the Text Completions generation, which its id pattern does not cover.
_BEDROCK_LEGACY = {"anthropic.claude-v2": "claude-2.0", "anthropic.claude-v2:1": "claude-2.1", "anthropic.claude-instant-v1": "claude-instant-1.2"}


def _bedrock_model(model_id: str, lookup: Lookup | None) -> str:
    name = _BEDROCK_LEGACY.get(model_id.rsplit("/", 1)[-1]) or bedrock_model(model_id)
    if lookup is None:
        return name or model_id
    lifecycle = lookup(name) if name is not None else None
    if lifecycle is None:
        raise ApiError(400, "The provided model identifier is invalid.", type="ValidationException")
    if lifecycle == "retired":
        raise ApiError(
            404, "This model version has reached the end of its life. Please refer to the AWS documentation for more details.",
            type="ResourceNotFoundException",
        )
    return name or model_id


def _vertex_model(params: Mapping[str, str], model: str, lookup: Lookup | None, vertex_names: Rename | None) -> str:
    name = (vertex_names(model) if vertex_names is not None else None) or vertex_model(model)
    if lookup is not None and lookup(name) in (None, "retired"):
        raise vertex_model_not_found(params.get("project", "-"), params.get("region", "-"), model)
    return name

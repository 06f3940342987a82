"""Amazon Bedrock and Google Vertex AI: the Messages API behind another door. Pure facts, no I/O.

What each platform changes on the wire (evidence and what is unconfirmed: docs/protocol.md
"Platforms"): the model moves from the body into the path, in the platform's own spelling;
``anthropic_version`` moves from a header into the body, with the platform's own value (SDK ≤
1.x) or a first-party one (SDK 2.x sends ``2026-10-21``); Bedrock takes betas in the body too
(``anthropic_beta``); errors the platform raises itself have the platform's shape; ids carry the
platform's tag (``msg_bdrk_…``, ``msg_vrtx_…``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from mockserver.protocol.errors import DEFAULT_MESSAGES, STATUS_BY_ERROR_TYPE, ApiError, error_type_for_status
from mockserver.protocol.versions import KNOWN_VERSIONS, LEGACY_VERSION

BEDROCK = "bedrock"
VERTEX = "vertex"
BEDROCK_VERSION = "bedrock-2023-05-31"
VERTEX_VERSION = "vertex-2023-10-16"
PLATFORM_VERSIONS = {BEDROCK: BEDROCK_VERSION, VERTEX: VERTEX_VERSION}
ID_TAGS = {BEDROCK: "bdrk", VERTEX: "vrtx"}

# anthropic.claude-sonnet-4-5-20250929-v1:0, us.anthropic.…, global.anthropic.…, and ARNs of
# foundation models and (system) inference profiles ending in one of those.
_BEDROCK_ID = re.compile(r"^(?:arn:aws[\w-]*:bedrock:[\w-]*:\d*:(?:foundation-model|inference-profile)/)?(?:[a-z]{2,6}\.)?anthropic\.(?P<model>claude-[\w.-]+?)(?:-v\d+)?(?::\d+)?(?::\d+k)?$")


def bedrock_model(model_id: str) -> str | None:
    """The Anthropic model id a Bedrock model id (or inference-profile id, or ARN) names, or
    ``None`` when it names none (an application inference profile, a typo)."""
    match = _BEDROCK_ID.match(model_id)
    return match.group("model") if match is not None else None


VERTEX_UNVERSIONED = ("", "default", "latest")
"""The versions of a Vertex model name (after ``@``) that name the model itself."""


def vertex_model(model: str) -> str:
    """``claude-sonnet-4-5@20250929`` -> ``claude-sonnet-4-5-20250929``; ``@default`` and
    ``@latest``, and ids without ``@``, name the model itself."""
    name, _, version = model.partition("@")
    if version in VERTEX_UNVERSIONED:
        return name
    return f"{name}-{version}"


def api_version(platform: str, version: str) -> str | None:
    """The first-party API version a body's ``anthropic_version`` selects, or ``None`` if the
    platform does not know it. The platform's own value reads as 2023-06-01 (what SDK 1.x and
    0.x send beside it); SDK 2.x sends a first-party version itself."""
    if version == PLATFORM_VERSIONS.get(platform):
        return LEGACY_VERSION
    return version if version in KNOWN_VERSIONS else None


# -- Bedrock errors ----------------------------------------------------------------------------
# The exceptions of InvokeModel / InvokeModelWithResponseStream and their HTTP statuses, from
# botocore's bedrock-runtime service model (2023-09-30).
BEDROCK_STATUS = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ModelStreamErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
    # Raised by AWS's front door before Bedrock sees the call (SigV4): unconfirmed for Bedrock.
    "UnrecognizedClientException": 403,
    "MissingAuthenticationTokenException": 403,
}
_BEDROCK_BY_TYPE = {
    "invalid_request_error": "ValidationException",
    "request_too_large": "ValidationException",
    "authentication_error": "UnrecognizedClientException",
    "permission_error": "AccessDeniedException",
    "billing_error": "AccessDeniedException",
    "not_found_error": "ResourceNotFoundException",
    "timeout_error": "ModelTimeoutException",
    "rate_limit_error": "ThrottlingException",
    "api_error": "InternalServerException",
    "overloaded_error": "ServiceUnavailableException",
}
# The exception a status stands for when the error's type names none: the first of that status
# in BEDROCK_STATUS (the list docs/protocol.md gives: ValidationException 400, ThrottlingException
# 429, ModelErrorException 424 …).
_BEDROCK_BY_STATUS = {status: name for name, status in reversed(BEDROCK_STATUS.items())}
BEDROCK_ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
BEDROCK_THROTTLED = "Too many requests, please wait before trying again."
"""What Bedrock's ThrottlingException says (a real 429 quoted in rusty-objects/gourmand, 65 bytes
of body as its content-length says; kirodotdev/Kiro#8113; AWS re:Post's Bedrock throttling page
gives it with a second sentence, as 2023-24 reports quote it)."""
BEDROCK_TOKENS_THROTTLED = "Too many tokens, please wait before trying again."
"""What it says when a tokens-per-minute quota ran out (a real 429 quoted in
aws-samples/amazon-bedrock-client-for-mac#99, its body 63 bytes as its Content-Length says;
RooCodeInc/Roo-Code#5050, anthropics/claude-code#236)."""


def _bedrock_spelling(name: str) -> str:
    """A Bedrock exception's name as written in a stream member (``throttlingException``) or as
    the exception itself: the exception's spelling, first letter upper case."""
    return name[:1].upper() + name[1:]


def bedrock_exception(error: ApiError) -> tuple[str, int]:
    """The Bedrock exception (and its status) an error becomes: a name already Bedrock's stays
    (scenarios may script one), an Anthropic error type maps to its nearest exception, and any
    other type (a Google status, a custom one) to the exception of its status, or, for a status
    botocore has none for, the one ``error: <status>`` gets (529: ServiceUnavailableException)."""
    named = _bedrock_spelling(error.type)
    if named in BEDROCK_STATUS:
        return named, BEDROCK_STATUS[named]
    name = _BEDROCK_BY_TYPE.get(error.type)
    if name is None and error.type not in STATUS_BY_ERROR_TYPE:
        name = _BEDROCK_BY_STATUS.get(error.status) or _BEDROCK_BY_TYPE.get(error_type_for_status(error.status))
    if name is None:
        name = "InternalServerException" if error.status >= 500 else "ValidationException"
    if error.status == 503:
        name = "ServiceUnavailableException"
    return name, BEDROCK_STATUS[name]


def bedrock_error_message(error: ApiError, name: str) -> str:
    """What Bedrock's exception ``name`` (either spelling: ``ThrottlingException``, a stream's
    ``throttlingException``) says for ``error``: the message given, whatever the exception; a
    ThrottlingException given none (the rate limiter's refusal, a scripted ``rate_limit_error``,
    ``ThrottlingException`` or ``error: 429`` without a ``message``), Bedrock's own sentence, not
    the API's (its tokens one where the limiter's token buckets ran out); any other, the server's
    default (``error.message``)."""
    if not error.message_given and _bedrock_spelling(name) == "ThrottlingException":
        return BEDROCK_TOKENS_THROTTLED if error.quota == "tokens" else BEDROCK_THROTTLED
    return error.message


def bedrock_stream_exception(error: ApiError) -> str:
    """An error's name as an exception event of the response stream (``throttlingException``…:
    the members of botocore's ``ResponseStream`` shape); mid-stream errors the stream has no
    member for are ``modelStreamErrorException``."""
    name, _ = bedrock_exception(error)
    member = name[0].lower() + name[1:]
    return member if member in _STREAM_MEMBERS else "modelStreamErrorException"


_STREAM_MEMBERS = frozenset({
    "internalServerException", "modelStreamErrorException", "validationException", "throttlingException",
    "modelTimeoutException", "serviceUnavailableException",
})


# -- Vertex errors -----------------------------------------------------------------------------
# Google's canonical statuses (google.rpc.Code) by HTTP status.
GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_GOOGLE_CODE = {status: code for code, status in GOOGLE_STATUS.items()}
# Anthropic error types Vertex answers in Google's shape itself (auth, quota, routing and
# model lookup happen in Google's front end); everything else the model raises passes through
# in Anthropic's shape (claude-code#12429: a 400 invalid_request_error with req_vrtx_ id).
_VERTEX_OWN = frozenset({"authentication_error", "permission_error", "not_found_error", "rate_limit_error"})


def platform_error_status(name: str) -> int | None:
    """The HTTP status a platform's own error name stands for, as its wire renders it: a Bedrock
    exception (``ThrottlingException`` 429, spelled as :func:`bedrock_exception` reads it) or a
    Google status (``RESOURCE_EXHAUSTED`` 429); ``None`` for any other name. A scenario's error
    that names one needs no ``status`` (docs/protocol.md "Platforms")."""
    named = _bedrock_spelling(name)
    if named in BEDROCK_STATUS:
        return BEDROCK_STATUS[named]
    return _GOOGLE_CODE.get(name)


# The Anthropic type each door answers under a platform's own name: Bedrock's exception for it
# (the first type of each in _BEDROCK_BY_TYPE), Google's status for the types Vertex raises itself.
_TYPE_BY_PLATFORM_NAME: dict[str, str] = {
    **{name: error_type for error_type, name in reversed(_BEDROCK_BY_TYPE.items())},
    **{GOOGLE_STATUS[STATUS_BY_ERROR_TYPE[error_type]]: error_type for error_type in _VERTEX_OWN},
}


def platform_error_type(name: str) -> str | None:
    """The Anthropic error type a platform's own error name stands for: the one its door answers
    under that name (``ThrottlingException`` and ``RESOURCE_EXHAUSTED``: ``rate_limit_error``);
    ``None`` for a name no door answers a type under (``ModelErrorException``, ``INTERNAL``)."""
    return _TYPE_BY_PLATFORM_NAME.get(_bedrock_spelling(name)) or _TYPE_BY_PLATFORM_NAME.get(name)


def platform_error_message(name: str | None) -> str | None:
    """The message a scripted error of a platform's own name says when given none: its
    Anthropic type's (docs/protocol.md "Platforms"), where it has one (``ApiError``'s ``default``)."""
    error_type = platform_error_type(name) if name is not None else None
    return DEFAULT_MESSAGES.get(error_type) if error_type is not None else None


def vertex_google_error(error: ApiError, model: str | None = None) -> tuple[int, dict[str, Any]] | None:
    """The status and Google-shaped body of an error Vertex raises itself, or ``None`` when
    the error passes through in Anthropic's shape. A type neither the API's nor Google's (a
    Bedrock exception, a custom one) goes the way its status does (``error: 429``: Google's).
    ``model``: the model as the Vertex call named it (:func:`vertex_error_message`)."""
    if error.type in _GOOGLE_CODE:
        status = _GOOGLE_CODE[error.type]
    elif error.type in _VERTEX_OWN or (error.type not in STATUS_BY_ERROR_TYPE and error_type_for_status(error.status) in _VERTEX_OWN):
        status = error.status
    else:
        return None
    return status, {"error": {"code": status, "message": vertex_error_message(error, model), "status": GOOGLE_STATUS.get(status, "UNKNOWN")}}


def vertex_error_message(error: ApiError, model: str | None) -> str:
    """What an error Vertex raises itself says: the message given, whatever the error; a quota
    error given none (``RESOURCE_EXHAUSTED``, a ``rate_limit_error``, any 429: the rate
    limiter's refusal, ``error: 429`` without a ``message``), Vertex's quota wording for
    ``model``, the model as the Vertex call named it; any other error given none, the server's
    default (``error.message``)."""
    if error.message_given:
        return error.message
    if _GOOGLE_CODE.get(error.type, error.status) == 429 or error.type == "rate_limit_error":
        return vertex_quota_message(model)
    return error.message


def vertex_quota_message(model: str | None) -> str:
    """Vertex's 429 (aider#1912, cline#651, claude-code#1440). Its base model is ``anthropic-``
    and the model as the Vertex call named it, without its ``@version``
    (``claude-3-5-sonnet@20240620``: ``anthropic-claude-3-5-sonnet``)."""
    base = f"anthropic-{model.split('@')[0]}" if model else "anthropic-claude"
    return (
        "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: "
        f"{base}. Please submit a quota increase request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
    )


def vertex_model_not_found(project: str, region: str, model: str) -> ApiError:
    """Vertex's 404 for a model it does not serve (genkit#4688, truefoundry/models#946)."""
    return ApiError(
        404,
        f"Publisher Model `projects/{project}/locations/{region}/publishers/anthropic/models/{model}` was not found or "
        "your project does not have access to it. Please ensure you are using a valid model version. For more "
        "information, see: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions",
        type="NOT_FOUND",
    )


@dataclass(frozen=True, slots=True)
class PlatformCall:
    """A platform request, read: the Messages body it stands for and what the door added."""

    body: dict[str, Any]
    version: str
    beta: bool


def tag_ids(message: Mapping[str, Any], platform: str) -> dict[str, Any]:
    """``message`` with its ids tagged as the platform tags them (``msg_bdrk_01…``,
    ``toolu_vrtx_01…``); other fields unchanged."""
    tag = ID_TAGS.get(platform)
    out = dict(message)
    if tag is None:
        return out
    out["id"] = _tagged(out.get("id"), tag)
    content = out.get("content")
    if isinstance(content, list) and any(isinstance(b, dict) and "id" in b for b in content):
        out["content"] = [dict(b, id=_tagged(b["id"], tag)) if isinstance(b, dict) and "id" in b else b for b in content]
    return out


def _tagged(value: Any, tag: str) -> Any:
    if not isinstance(value, str):
        return value
    prefix, sep, rest = value.partition("_")
    if not sep or rest.startswith(tag + "_"):
        return value
    return f"{prefix}_{tag}_{rest}"

"""Anthropic-shaped errors: one exception type and one body builder for every error response.

No handler writes an error body by hand; they raise :class:`ApiError` and the server renders it.
"""

from __future__ import annotations

from typing import Mapping

# status -> error.type, as the real API pairs them (see docs/protocol.md).
ERROR_TYPE_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# error.type -> the status the real API sends it with.
STATUS_BY_ERROR_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

DEFAULT_MESSAGES: dict[str, str] = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "conflict_error": "Conflict",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "This request would exceed your account's rate limit. Please try again later.",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}


def error_type_for_status(status: int) -> str:
    if status in ERROR_TYPE_BY_STATUS:
        return ERROR_TYPE_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


class ApiError(Exception):
    """An error the API answers with; carries everything needed to render the response."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
        details: Mapping[str, object] | None = None,
        edge: bool = False,
        default: str | None = None,
    ) -> None:
        self.status = status
        self.type = type or error_type_for_status(status)
        # ``default``: the message when none is given, worded by the server, not the user: the rate
        # limiter's refusal, or a platform's own error name borrowing its Anthropic type's
        # (protocol/platforms.py); without one, the type's own, else "Error".
        if message is not None:
            self.message = _encodable(message)
        else:
            self.message = default if default is not None else DEFAULT_MESSAGES.get(self.type, "Error")
        self.message_given = message is not None  # a door may word one nobody gave its own way (Vertex's quota: protocol/platforms.py)
        self.quota: str | None = None
        """A rate limiter's refusal: what ran out, ``"requests"`` or ``"tokens"`` (Bedrock says which)."""
        self.headers = dict(headers or {})
        self.details = dict(details) if details is not None else None
        # Raised by the edge (Cloudflare) in front of the API: body without envelope or request_id.
        self.edge = edge
        super().__init__(f"{status} {self.type}: {self.message}")

    def error_object(self) -> dict[str, object]:
        error: dict[str, object] = {"type": self.type, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return error

    def body(self, request_id: str | None) -> dict[str, object]:
        if self.edge:
            return {"error": self.error_object()}
        return error_body(self.error_object(), request_id)


def _encodable(message: str) -> str:
    """Messages may quote what a client sent, and YAML lets a client send lone surrogates
    (``"\\ud800"``), which no UTF-8 JSON can carry: those are written as ``\\ud800`` text."""
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        return message.encode("utf-8", "backslashreplace").decode("utf-8")
    return message


def error_body(error: Mapping[str, object], request_id: str | None) -> dict[str, object]:
    """``{"type":"error","error":{...},"request_id":...}``: the shape of every error body."""
    body: dict[str, object] = {"type": "error", "error": dict(error)}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def invalid_request(message: str) -> ApiError:
    return ApiError(400, message, type="invalid_request_error")


def not_found(message: str) -> ApiError:
    return ApiError(404, message, type="not_found_error")


def internal_error() -> ApiError:
    return ApiError(500, "Internal server error", type="api_error")

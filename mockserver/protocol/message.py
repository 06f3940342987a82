"""Message and usage objects, keyed in the order the real API writes them (model first, since 2025-08)."""

from __future__ import annotations

from typing import Any

from mockserver.protocol.tokens import block_tokens


def build_usage(
    *,
    input_tokens: int,
    output_tokens: int,
    cache_creation_5m: int = 0,
    cache_creation_1h: int = 0,
    cache_read: int = 0,
    service_tier: str = "standard",
    inference_geo: str = "not_available",
    thinking_tokens: int | None = None,
    server_tool_use: dict[str, int] | None = None,
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_creation_5m + cache_creation_1h,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache_creation_5m,
            "ephemeral_1h_input_tokens": cache_creation_1h,
        },
        "output_tokens": output_tokens,
    }
    if thinking_tokens is not None:
        usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    usage["service_tier"] = service_tier
    usage["inference_geo"] = inference_geo
    if server_tool_use is not None:  # last, as recorded (docs/protocol.md "Server tool blocks")
        usage["server_tool_use"] = server_tool_use
    return usage


def build_message(
    *,
    id: str,
    model: str,
    content: list[dict[str, Any]],
    stop_reason: str | None,
    usage: dict[str, Any],
    stop_sequence: str | None = None,
    stop_details: dict[str, Any] | None = None,
    container: dict[str, Any] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "model": model,
        "id": id,
        "type": "message",
        "role": "assistant",
        "content": content,
    }
    if container is not None:  # after content, as in the one real code-execution reply seen (docs/protocol.md)
        message["container"] = container
    message["stop_reason"] = stop_reason
    message["stop_sequence"] = stop_sequence
    message["stop_details"] = stop_details
    message["usage"] = usage
    return message


def text_block(text: str, citations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A text block; with citations, ``citations`` comes first, as the API writes it."""
    if citations:
        return {"citations": citations, "type": "text", "text": text}
    return {"type": "text", "text": text}


# Blocks of a server tool loop: after each result the API samples again with everything written
# so far as input, so a reply's final usage counts them as input (docs/default-responder.md).
RESULT_BLOCK_TYPES = frozenset(
    {
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "mcp_tool_result",
    }
)
_PER_REPLY_KEYS = ("id", "tool_use_id", "retrieved_at")


def fed_back_tokens(content: list[dict[str, Any]]) -> int:
    """Input tokens a server tool loop adds to the request's: every block up to and including
    the last server tool (or MCP) result, counted as the estimator counts blocks sent back (ids
    and fetch times, issued per reply, left out so the template and the reply agree); 0 when
    there is no result."""
    last = max((i for i, b in enumerate(content) if b.get("type") in RESULT_BLOCK_TYPES), default=-1)
    total = 0
    for block in content[: last + 1]:
        shown = {k: v for k, v in block.items() if k not in _PER_REPLY_KEYS}
        inner = shown.get("content")
        if isinstance(inner, dict) and "retrieved_at" in inner:
            shown["content"] = {k: v for k, v in inner.items() if k != "retrieved_at"}
        total += block_tokens(shown)
    return total

"""Message and usage objects, keyed in the order the real API writes them (model first, since 2025-08)."""

from __future__ import annotations

from typing import Any


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
    if server_tool_use is not None:
        usage["server_tool_use"] = server_tool_use
    usage["service_tier"] = service_tier
    usage["inference_geo"] = inference_geo
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
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "stop_details": stop_details,
    }
    if container is not None:
        message["container"] = container
    message["usage"] = usage
    return message


def text_block(text: str, citations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if citations:
        block["citations"] = citations
    return block

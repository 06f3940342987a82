"""The one token estimator: used for count_tokens, for ``usage`` and for cutting output at
``max_tokens``, so that all three always agree.

Text is split into *pieces*, roughly as a BPE tokenizer splits English: a run of up to eight
letters with its leading space, up to three digits, one punctuation mark, or a run of whitespace.
Each piece is one token. Fixed costs stand in for what the real API adds around content
(docs/token-estimator.md lists every number).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from mockserver.protocol.media import read_base64

PIECE = re.compile(r" ?[^\W\d_]{1,8}| ?\d{1,3}| ?[^\s\w]| ?_|\s+", re.UNICODE)

REQUEST_OVERHEAD = 3  # start-of-prompt markers
MESSAGE_OVERHEAD = 4  # role markers around every turn
SYSTEM_OVERHEAD = 3
TOOLS_OVERHEAD = 346  # the tool-use system prompt the API adds when tools are offered
TOOL_OVERHEAD = 8  # per tool definition, besides its name, description and schema
IMAGE_MAX_TOKENS = 1600  # a full-size image; also used when the size cannot be read
IMAGE_TOKEN_PIXELS = 750  # tokens = width * height / 750, after the API's downscaling
PDF_PAGE_TOKENS = 1500  # per page: the page image plus its extracted text
REMOTE_DOCUMENT_TOKENS = 1500  # documents by URL or file id: one page's worth


def count_text(text: str) -> int:
    return len(PIECE.findall(text))


def split_pieces(text: str) -> list[str]:
    return PIECE.findall(text)


def count_json(value: Any) -> int:
    return count_text(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def image_tokens(width: int, height: int) -> int:
    """Tokens for an image of this size, after downscaling to 1568 px on the long edge and
    about 1.15 megapixels, as the API documents."""
    if width <= 0 or height <= 0:
        return IMAGE_MAX_TOKENS
    scale = min(1.0, 1568 / max(width, height), math.sqrt(1_150_000 / (width * height)))
    return max(1, math.ceil(width * height * scale * scale / IMAGE_TOKEN_PIXELS))


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """A ``cache_control`` mark: the prompt prefix up to and including that block."""

    prefix_tokens: int
    ttl: str
    location: str


@dataclass(slots=True)
class RequestTokens:
    total: int = 0
    breakpoints: list[Breakpoint] = field(default_factory=list)
    # What cacheable_units yielded while counting, kept only when there are breakpoints, so
    # prompt caching reads the prompt's units without walking and counting it again.
    units: list[tuple[int, Any, str]] | None = field(default=None, compare=False, repr=False)


def _image(block: dict[str, Any]) -> int:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64" and isinstance(source.get("data"), str):
        media = read_base64(source["data"])
        size = media.image_size if media else None
        if size:
            return image_tokens(*size)
    return IMAGE_MAX_TOKENS


def _document(block: dict[str, Any]) -> int:
    source = block.get("source")
    extra = count_text(str(block.get("title") or "")) + count_text(str(block.get("context") or ""))
    if not isinstance(source, dict):
        return REMOTE_DOCUMENT_TOKENS + extra
    kind = source.get("type")
    if kind == "text" and isinstance(source.get("data"), str):
        return count_text(source["data"]) + 10 + extra
    if kind == "base64" and isinstance(source.get("data"), str):
        media = read_base64(source["data"])
        pages = media.pdf_pages if media else None
        return (pages or 1) * PDF_PAGE_TOKENS + extra
    if kind == "content":
        content = source.get("content")
        if isinstance(content, str):
            return count_text(content) + 10 + extra
        if isinstance(content, list):
            return sum(block_tokens(b) for b in content) + 10 + extra
    return REMOTE_DOCUMENT_TOKENS + extra


def block_tokens(block: Any) -> int:
    """Tokens of one content block (of any type the API accepts)."""
    if isinstance(block, str):
        return count_text(block)
    if not isinstance(block, dict):
        return 0
    kind = block.get("type")
    if kind == "text":
        return count_text(str(block.get("text", "")))
    if kind == "image":
        return _image(block)
    if kind == "document":
        return _document(block)
    if kind == "thinking":
        return count_text(str(block.get("thinking", "")))
    if kind == "redacted_thinking":
        return max(1, len(str(block.get("data", ""))) // 8)
    if kind in ("tool_use", "server_tool_use"):
        return 3 + count_text(str(block.get("name", ""))) + count_json(block.get("input", {}))
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            return 3 + sum(block_tokens(b) for b in content)
        return 3 + count_text(str(content or ""))
    if kind == "search_result":
        inner = block.get("content")
        body = sum(block_tokens(b) for b in inner) if isinstance(inner, list) else 0
        return 5 + count_text(str(block.get("title", ""))) + count_text(str(block.get("source", ""))) + body
    # Server tool results and anything newer: their JSON is what the model reads.
    return count_json({k: v for k, v in block.items() if k != "cache_control"})


def _tool_tokens(tool: Any) -> int:
    if not isinstance(tool, dict):
        return 0
    return (
        TOOL_OVERHEAD
        + count_text(str(tool.get("name", "")))
        + count_text(str(tool.get("description", "")))
        + count_json(tool.get("input_schema", {}))
    )


def cacheable_units(body: dict[str, Any]) -> Iterator[tuple[int, Any, str]]:
    """(tokens, block, location) for every cacheable unit, in prompt order: tools, system, messages."""
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        yield TOOLS_OVERHEAD, None, "tools"
        for i, tool in enumerate(tools):
            yield _tool_tokens(tool), tool, f"tools.{i}"
    system = body.get("system")
    if isinstance(system, str) and system:
        yield SYSTEM_OVERHEAD + count_text(system), None, "system"
    elif isinstance(system, list) and system:
        yield SYSTEM_OVERHEAD, None, "system"
        for i, block in enumerate(system):
            yield block_tokens(block), block, f"system.{i}"
    messages = body.get("messages")
    if isinstance(messages, list):
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                continue
            yield MESSAGE_OVERHEAD, None, f"messages.{i}"
            content = message.get("content")
            if isinstance(content, str):
                yield count_text(content), None, f"messages.{i}.content"
            elif isinstance(content, list):
                for j, block in enumerate(content):
                    yield block_tokens(block), block, f"messages.{i}.content.{j}"


def count_request(body: Any) -> RequestTokens:
    """Input tokens of a Messages or count_tokens body, with its cache breakpoints."""
    result = RequestTokens(total=REQUEST_OVERHEAD)
    if not isinstance(body, dict):
        return result
    last_block_location: str | None = None
    units = list(cacheable_units(body))
    for tokens, block, location in units:
        result.total += tokens
        if block is not None:
            last_block_location = location
            cache = block.get("cache_control") if isinstance(block, dict) else None
            if isinstance(cache, dict):
                ttl = cache.get("ttl") if cache.get("ttl") in ("5m", "1h") else "5m"
                result.breakpoints.append(Breakpoint(result.total, ttl, location))
        elif location.endswith(".content") and location.startswith("messages."):
            last_block_location = location
    top = body.get("cache_control")
    if isinstance(top, dict) and last_block_location is not None:
        ttl = top.get("ttl") if top.get("ttl") in ("5m", "1h") else "5m"
        if not result.breakpoints or result.breakpoints[-1].prefix_tokens != result.total:
            result.breakpoints.append(Breakpoint(result.total, ttl, last_block_location))
    if result.breakpoints:
        result.units = units
    return result

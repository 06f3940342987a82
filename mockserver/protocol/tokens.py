"""The one token estimator: used for count_tokens, for ``usage`` and for cutting output at
``max_tokens``, so that all three always agree.

Text is split into *pieces*, roughly as a BPE tokenizer splits English: a run of up to eight
letters with its leading space, one digit, up to three punctuation marks, or a run of
whitespace. Each piece is one token. Around the content, the estimator adds what the real API
adds to the prompt it builds: turn markers, the tool-use system prompt (its size depends on the
model family and ``tool_choice``), the thinking and structured-output instructions, server tool
definitions, citation chunking, images by their size and PDF pages. docs/token-estimator.md lists
every number with the recorded traffic it was measured on; ``make token-accuracy`` scores the
whole estimate against that traffic.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, time
from functools import lru_cache
from typing import Any, Iterator, Mapping

from mockserver.protocol.media import FileFacts, read_base64

PIECE = re.compile(r" ?[^\W\d_]{1,8}| ?\d| ?[^\s\w]{1,3}| ?_|\s+", re.UNICODE)

# -- the prompt's frame ---------------------------------------------------------------------------
REQUEST_OVERHEAD = 1  # start of the prompt
MESSAGE_OVERHEAD = 3  # the role marker opening every turn
ASSISTANT_PROMPT = 3  # the assistant turn the API opens after a final user turn (none after a prefill)

# -- features that add instructions -----------------------------------------------------------------
THINKING_ENABLED = 29  # thinking {type: enabled}
THINKING_ADAPTIVE = 18  # thinking {type: adaptive}
OUTPUT_FORMAT_OVERHEAD = 139  # output_config.format / output_format, besides the schema itself
CITATIONS_OVERHEAD = 501  # once per request with a citations-enabled document
CITATION_CHUNK = 22  # per sentence of a citations-enabled document

# -- tools ------------------------------------------------------------------------------------------
TOOL_USE_OVERHEAD = 24  # a tool_use block besides its name and input (its keys and values)
TOOL_RESULT_OVERHEAD = 23  # a tool_result block besides its content
# Anthropic-defined tools whose definition is built in: tokens of the definition the API adds.
SERVER_TOOL_TOKENS = {
    "web_search": 1659,
    "bash": 245,
    "text_editor": 700,
    "str_replace_editor": 700,
    "str_replace_based_edit_tool": 700,
    "computer": 735,
}

# -- media ------------------------------------------------------------------------------------------
IMAGE_MAX_TOKENS = 1600  # a full-size image
IMAGE_TOKEN_PIXELS = 750  # tokens = width * height / 750, after the API's downscaling
REMOTE_IMAGE_TOKENS = 274  # an image by URL (or by an unknown file id): its size is unknown here
PDF_PAGE_TOKENS = 1533  # the image of one page: a Letter or A4 page at the largest image size
PDF_PAGE_OVERHEAD = 66  # per page, besides its image and its text
DOCUMENT_OVERHEAD = 10  # a plain-text or content document, besides its text
REMOTE_DOCUMENT_PAGES = 1  # documents by URL (or by an unknown file id): sized as one page


@dataclass(frozen=True, slots=True)
class TokenProfile:
    """What one model family adds to a prompt (docs/token-estimator.md gives the sources)."""

    family: str
    tool_prompt: int
    """The tool-use system prompt with ``tool_choice`` auto, none or absent."""
    tool_prompt_forced: int
    """The same with ``tool_choice`` any or tool."""
    tool_prompt_explicit_auto: int | None = None
    """The same when ``tool_choice`` {type: auto} is sent explicitly, where that differs."""


PROFILES = {
    "claude-3-opus": TokenProfile("claude-3-opus", 530, 281),
    "claude-3-sonnet": TokenProfile("claude-3-sonnet", 159, 235),
    "claude-3-haiku": TokenProfile("claude-3-haiku", 264, 340),  # also Claude 3.5 Haiku
    "claude-3-5-sonnet-june": TokenProfile("claude-3-5-sonnet-june", 294, 261),
    "claude-3-5-sonnet": TokenProfile("claude-3-5-sonnet", 346, 313),  # October 2024 and 3.7
    "claude-4": TokenProfile("claude-4", 315, 282),  # Opus 4, Sonnet 4, Opus 4.1
    "claude-4-5": TokenProfile("claude-4-5", 494, 461, 267),  # 4.5 and later
}
DEFAULT_FAMILY = "claude-4-5"

_OLD_ID = re.compile(r"claude-(\d)(?:-(\d))?-(haiku|sonnet|opus)(.*)")
_NEW_ID = re.compile(r"claude-(?:haiku|sonnet|opus|fable|mythos)-(\d+)(?:-(\d{1,2})(?!\d))?")


@lru_cache(maxsize=256)
def profile_for(model: str | None) -> TokenProfile:
    """The profile of a model id or alias (``claude-3-5-haiku-latest``, ``claude-sonnet-4-0``…);
    ids it does not recognise get the newest family's."""
    return PROFILES[_family(model)]


def _family(model: str | None) -> str:
    if not isinstance(model, str):
        return DEFAULT_FAMILY
    old = _OLD_ID.match(model)
    if old:
        major, minor, line, rest = old.groups()
        if major == "3" and minor == "5" and line == "sonnet":
            return "claude-3-5-sonnet-june" if "20240620" in rest else "claude-3-5-sonnet"
        if major == "3" and minor == "7":
            return "claude-3-5-sonnet"
        if major == "3" and line == "haiku":
            return "claude-3-haiku"
        if major == "3" and minor is None:
            return f"claude-3-{line}"
        return DEFAULT_FAMILY
    new = _NEW_ID.match(model)
    if new:
        major, minor = int(new.group(1)), int(new.group(2) or 0)
        if major == 4 and minor < 5:
            return "claude-4"
    return DEFAULT_FAMILY


def count_text(text: str) -> int:
    return PIECE.subn("", text)[1]  # every character is in some piece: no list of pieces to build


def split_pieces(text: str) -> list[str]:
    return PIECE.findall(text)


def json_default(value: Any) -> str:
    """``json.dumps``'s ``default``: a date or time (a scenario's unquoted ``2025-01-01`` in a
    tool input is one) as orjson writes it on the wire; without this, a 500."""
    if isinstance(value, (date, time)):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def count_json(value: Any) -> int:
    return count_text(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=json_default))


def _count_rendered_json(value: Any) -> int:
    """Tokens of a value as the API shows JSON to the model (``", "`` and ``": "`` separators)."""
    return count_text(json.dumps(value, ensure_ascii=False, default=json_default))


def image_tokens(width: int, height: int) -> int:
    """Tokens for an image of this size, after downscaling to 1568 px on the long edge and
    about 1.15 megapixels, as the API documents."""
    if width <= 0 or height <= 0:
        return IMAGE_MAX_TOKENS
    scale = min(1.0, 1568 / max(width, height), math.sqrt(1_150_000 / (width * height)))
    return max(1, math.ceil(width * height * scale * scale / IMAGE_TOKEN_PIXELS))


_SENTENCE_END = re.compile(r"[.!?。！？]+(?:\s|$)")


def sentence_count(text: str) -> int:
    """Sentences of a text, as citation chunking cuts it (a sentence ends in . ! or ? and a space)."""
    return max(1, len(_SENTENCE_END.findall(text.strip()))) if text.strip() else 0


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


Files = Mapping[str, FileFacts]
"""Stored files a request names by ``file_id`` (the Files API), as the caller resolved them."""


def _stored(source: dict[str, Any], files: Files | None) -> FileFacts | None:
    """The stored file a ``{"type": "file", "file_id": …}`` source names, when it is known."""
    file_id = source.get("file_id")
    return files.get(file_id) if files is not None and isinstance(file_id, str) else None


def _image(block: dict[str, Any], files: Files | None = None) -> int:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64" and isinstance(source.get("data"), str):
        media = read_base64(source["data"])
        size = media.image_size if media else None
        if size:
            return image_tokens(*size)
        return IMAGE_MAX_TOKENS
    stored = _stored(source, files) if isinstance(source, dict) and source.get("type") == "file" else None
    if stored is not None:  # a file by id: sized from the bytes it was uploaded with
        return image_tokens(*stored.image_size) if stored.image_size else IMAGE_MAX_TOKENS
    return REMOTE_IMAGE_TOKENS


def _cited(block: dict[str, Any]) -> bool:
    citations = block.get("citations")
    return isinstance(citations, dict) and citations.get("enabled") is True


def _document(block: dict[str, Any], files: Files | None = None) -> int:
    found = block.get("source")
    source: dict[str, Any] = found if isinstance(found, dict) else {}
    extra = count_text(str(block.get("title") or "")) + count_text(str(block.get("context") or ""))
    cited = _cited(block)
    text = ""
    tokens = 0
    kind = source.get("type")
    if kind == "text" and isinstance(source.get("data"), str):
        text = source["data"]
        tokens = DOCUMENT_OVERHEAD
    elif kind == "base64" and isinstance(source.get("data"), str):
        media = read_base64(source["data"])
        pages = (media.pdf_pages if media else None) or 1
        text = (media.pdf_text if media else None) or ""
        tokens = pages * (PDF_PAGE_TOKENS + PDF_PAGE_OVERHEAD)
    elif kind == "content":
        content = source.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            tokens = sum(block_tokens(b, files) for b in content)
            if cited:
                tokens += CITATION_CHUNK * len(content)
        tokens += DOCUMENT_OVERHEAD
    elif kind == "file" and (stored := _stored(source, files)) is not None:
        # a file by id: counted as its bytes sent as base64 (a PDF) or as text (plain text) would be
        if stored.pdf_pages is not None:
            tokens = stored.pdf_pages * (PDF_PAGE_TOKENS + PDF_PAGE_OVERHEAD)
        else:
            tokens = DOCUMENT_OVERHEAD
        tokens += stored.text_tokens
        if cited:
            tokens += CITATION_CHUNK * stored.text_sentences
    else:  # by URL (or an unknown file id): the bytes are not here
        tokens = REMOTE_DOCUMENT_PAGES * (PDF_PAGE_TOKENS + PDF_PAGE_OVERHEAD)
    if text:
        tokens += count_text(text)
        if cited:
            tokens += CITATION_CHUNK * sentence_count(text)
    return tokens + extra


def _tool_use(block: dict[str, Any]) -> int:
    tokens = TOOL_USE_OVERHEAD + count_text(str(block.get("name", "")))
    arguments = block.get("input")
    if isinstance(arguments, dict):
        for key, value in arguments.items():
            tokens += count_text(str(key))
            tokens += count_text(value) if isinstance(value, str) else _count_rendered_json(value)
    elif arguments is not None:
        tokens += _count_rendered_json(arguments)
    return tokens


def block_tokens(block: Any, files: Files | None = None) -> int:
    """Tokens of one content block (of any type the API accepts); ``files``: the stored files it
    may name by ``file_id``."""
    if isinstance(block, str):
        return count_text(block)
    if not isinstance(block, dict):
        return 0
    kind = block.get("type")
    if kind == "text":
        return count_text(str(block.get("text", "")))
    if kind == "image":
        return _image(block, files)
    if kind == "document":
        return _document(block, files)
    if kind == "thinking":
        return count_text(str(block.get("thinking", "")))
    if kind == "redacted_thinking":
        return max(1, len(str(block.get("data", ""))) // 8)
    if kind in ("tool_use", "server_tool_use"):
        return _tool_use(block)
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            return TOOL_RESULT_OVERHEAD + sum(block_tokens(b, files) for b in content)
        return TOOL_RESULT_OVERHEAD + count_text(str(content or ""))
    if kind == "search_result":
        inner = block.get("content")
        body = sum(block_tokens(b) for b in inner) if isinstance(inner, list) else 0
        return 5 + count_text(str(block.get("title", ""))) + count_text(str(block.get("source", ""))) + body
    # Server tool results and anything newer: their JSON is what the model reads.
    return count_json({k: v for k, v in block.items() if k != "cache_control"})


def _server_tool_kind(tool: dict[str, Any]) -> str | None:
    """``web_search`` for ``web_search_20250305`` and so on; ``None`` for a custom tool."""
    kind = tool.get("type")
    if not isinstance(kind, str) or kind == "custom":
        return None
    return re.sub(r"_\d{8}$", "", kind)


def _tool_tokens(tool: Any) -> int:
    """A tool definition as the tool-use system prompt lists it: a custom tool's description, name
    and schema as JSON; an Anthropic-defined tool's built-in definition."""
    if not isinstance(tool, dict):
        return 0
    kind = _server_tool_kind(tool)
    if kind is not None:
        known = SERVER_TOOL_TOKENS.get(kind)
        if known is not None:
            return known
        return count_json({k: v for k, v in tool.items() if k != "cache_control"})
    shown: dict[str, Any] = {}
    if tool.get("description"):
        shown["description"] = tool["description"]
    shown["name"] = tool.get("name", "")
    shown["parameters"] = tool.get("input_schema", {})
    return count_text("<function>" + json.dumps(shown, ensure_ascii=False) + "</function>")


def _tool_prompt(body: dict[str, Any], profile: TokenProfile) -> int:
    choice = body.get("tool_choice")
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind in ("any", "tool"):
        return profile.tool_prompt_forced
    if kind == "auto" and profile.tool_prompt_explicit_auto is not None:
        return profile.tool_prompt_explicit_auto
    return profile.tool_prompt


def _instructions(body: dict[str, Any]) -> Iterator[tuple[int, Any, str]]:
    """Instructions the API adds for features asked for in the request (no content of their own)."""
    thinking = body.get("thinking")
    if isinstance(thinking, dict):
        if thinking.get("type") == "enabled":
            yield THINKING_ENABLED, None, "thinking"
        elif thinking.get("type") == "adaptive":
            yield THINKING_ADAPTIVE, None, "thinking"
    output_config = body.get("output_config")
    output_format = output_config.get("format") if isinstance(output_config, dict) else None
    if not isinstance(output_format, dict):
        output_format = body.get("output_format")
    if isinstance(output_format, dict):
        schema = output_format.get("schema")
        yield OUTPUT_FORMAT_OVERHEAD + (_count_rendered_json(schema) if schema is not None else 0), None, "output_format"
    messages = body.get("messages")
    if isinstance(messages, list) and any(
        isinstance(m, dict) and isinstance(m.get("content"), list)
        and any(isinstance(b, dict) and b.get("type") == "document" and _cited(b) for b in m["content"])
        for m in messages
    ):
        yield CITATIONS_OVERHEAD, None, "citations"


def cacheable_units(body: dict[str, Any], profile: TokenProfile | None = None, files: Files | None = None) -> Iterator[tuple[int, Any, str]]:
    """(tokens, block, location) for every part of the prompt, in prompt order: tools, system,
    feature instructions, messages, the opened assistant turn. ``block`` is set for the parts a
    ``cache_control`` mark can sit on."""
    if profile is None:
        profile = profile_for(body.get("model"))
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        yield _tool_prompt(body, profile), None, "tools"
        for i, tool in enumerate(tools):
            yield _tool_tokens(tool), tool, f"tools.{i}"
    system = body.get("system")
    if isinstance(system, str) and system:
        yield count_text(system.strip()), None, "system"
    elif isinstance(system, list) and system:
        for i, block in enumerate(system):
            yield block_tokens(block), block, f"system.{i}"
    yield from _instructions(body)
    messages = body.get("messages")
    last_role = None
    if isinstance(messages, list):
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                continue
            last_role = message.get("role")
            yield MESSAGE_OVERHEAD, None, f"messages.{i}"
            content = message.get("content")
            if isinstance(content, str):
                yield count_text(content), None, f"messages.{i}.content"
            elif isinstance(content, list):
                for j, block in enumerate(content):
                    yield block_tokens(block, files), block, f"messages.{i}.content.{j}"
    if last_role != "assistant":
        yield ASSISTANT_PROMPT, None, "assistant"


def count_request(body: Any, files: Files | None = None) -> RequestTokens:
    """Input tokens of a Messages or count_tokens body, with its cache breakpoints; ``files``: the
    stored files it names by ``file_id`` (unknown ones are sized as a URL's would be)."""
    result = RequestTokens(total=REQUEST_OVERHEAD)
    if not isinstance(body, dict):
        return result
    last_block_location: str | None = None
    last_block_total = result.total
    units = list(cacheable_units(body, files=files))
    for tokens, block, location in units:
        result.total += tokens
        if block is not None:
            last_block_location, last_block_total = location, result.total
            cache = block.get("cache_control") if isinstance(block, dict) else None
            if isinstance(cache, dict):
                ttl: str = cache["ttl"] if cache.get("ttl") in ("5m", "1h") else "5m"
                result.breakpoints.append(Breakpoint(result.total, ttl, location))
        elif location.endswith(".content") and location.startswith("messages."):
            last_block_location, last_block_total = location, result.total
    top = body.get("cache_control")
    if isinstance(top, dict) and last_block_location is not None:
        ttl = top["ttl"] if top.get("ttl") in ("5m", "1h") else "5m"
        if not result.breakpoints or result.breakpoints[-1].prefix_tokens != last_block_total:
            result.breakpoints.append(Breakpoint(last_block_total, ttl, last_block_location))
    if result.breakpoints:
        result.units = units
    return result

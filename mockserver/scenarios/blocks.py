"""Content blocks of a scripted reply: shorthands, fresh ids per reply, and validation at load.

A scenario may write blocks in full (``{type: tool_use, name: …, input: …}``) or short
(``"Hello"``, ``{tool_use: {name: …}}``, ``{thinking: "…"}``, ``{redacted_thinking: "…"}``).
Blocks are expanded to the wire shape when the file loads, and a sample Message holding them
is checked against the SDK's response types (``anthropic.types.Message``, or ``BetaMessage``
for beta-only blocks) as ``_strict_response_validation=True`` will check the reply, so a typo
fails at load time with the rule and field named rather than in the client. Those types come
as data (``mockserver/data/response-schema.json``, generated from the SDK at development time by
:mod:`mockserver.protocol.schema_gen`): the server needs no SDK installed.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from typing import TYPE_CHECKING, Any

from mockserver.protocol.schema import Tag, response_schema
from mockserver.protocol.tokens import block_tokens, count_text
from mockserver.documents import Node

if TYPE_CHECKING:
    from mockserver.ids import IdGenerator
    from mockserver.emulation.synth import Synthesizer

SHORTHANDS = ("text", "tool_use", "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result")
TOOL_USE_TYPES = {"tool_use": "tool_use", "server_tool_use": "server_tool_use", "mcp_tool_use": "mcptoolu"}
PLACEHOLDER_IDS = {"tool_use": "toolu_01" + "A" * 22, "server_tool_use": "srvtoolu_01" + "A" * 22, "mcp_tool_use": "mcptoolu_01" + "A" * 22}


def parse_blocks(node: Node) -> list[dict[str, Any]]:
    """The ``content`` list of a reply, in wire shape (ids and signatures still to fill in)."""
    if isinstance(node.value, str):
        return [{"type": "text", "text": node.value}]
    return [parse_block(item) for item in node.items()]


def parse_block(node: Node) -> dict[str, Any]:
    value = node.value
    if isinstance(value, str):
        return {"type": "text", "text": value}
    if not isinstance(value, dict):
        raise node.error("a content block must be a string or a mapping")
    if "type" in value:
        block = copy.deepcopy(value)
        if block.get("type") == "web_search_tool_result" and isinstance(block.get("content"), list):
            block["content"] = [_search_result(node.child("content").child(i), r) for i, r in enumerate(block["content"])]
        return block
    if "text" in value:
        fields = node.mapping({"text", "citations"})
        block = {"type": "text", "text": fields["text"].string()}
        if "citations" in fields and fields["citations"].value is not None:
            citations = list(fields["citations"].items())
            for citation in citations:
                citation.mapping()  # each one a mapping; the SDK check below reads the fields
            block["citations"] = [copy.deepcopy(c.value) for c in citations]
        return block
    keys = [k for k in value if k in SHORTHANDS]
    if len(keys) != 1 or len(value) != 1:
        raise node.error(f"a content block needs a 'type', or exactly one of: {', '.join(SHORTHANDS)}")
    kind = keys[0]
    inner = node.child(kind)
    if kind == "thinking":
        if isinstance(inner.value, str):
            return {"type": "thinking", "thinking": inner.value}
        fields = inner.mapping({"thinking", "signature"}, required=("thinking",))
        block = {"type": "thinking", "thinking": fields["thinking"].string()}
        if "signature" in fields:
            block["signature"] = fields["signature"].string()
        return block
    if kind == "redacted_thinking":
        if isinstance(inner.value, str):
            return {"type": "redacted_thinking", "data": inner.value}
        return {"type": "redacted_thinking", "data": inner.mapping({"data"}, required=("data",))["data"].string()}
    if kind in ("tool_use", "server_tool_use"):
        fields = inner.mapping({"name", "input", "id", "caller"}, required=("name",))
        block = {"type": kind, "name": fields["name"].string(nonempty=True), "input": {}}
        if "input" in fields:
            fields["input"].mapping()
            block["input"] = copy.deepcopy(fields["input"].value)
        if "id" in fields:
            block["id"] = fields["id"].string(nonempty=True)
        if "caller" in fields:
            block["caller"] = copy.deepcopy(fields["caller"].value)
        return block
    if kind == "web_search_tool_result":
        fields = inner.mapping({"content", "results", "error_code", "tool_use_id"})
        block = {"type": "web_search_tool_result"}
        if "tool_use_id" in fields:
            block["tool_use_id"] = fields["tool_use_id"].string(nonempty=True)
        if "error_code" in fields:
            block["content"] = {"type": "web_search_tool_result_error", "error_code": fields["error_code"].string()}
        else:
            results = fields.get("results") or fields.get("content")
            if results is None:
                raise inner.error("give 'results' (a list of {url, title}) or 'error_code'")
            block["content"] = [_search_result(r, r.value) for r in results.items()]
        return block
    raise inner.error(f"unsupported shorthand {kind!r}")  # pragma: no cover - SHORTHANDS are all handled


def _search_result(node: Node, value: Any) -> Any:
    """``{url, title}`` -> a ``web_search_result`` with an opaque ``encrypted_content``."""
    if not isinstance(value, dict) or "type" in value:
        return copy.deepcopy(value)
    fields = node.mapping({"url", "title", "encrypted_content", "page_age"}, required=("url", "title"))
    url = fields["url"].string()
    return {
        "type": "web_search_result",
        "url": url,
        "title": fields["title"].string(),
        "encrypted_content": fields["encrypted_content"].string() if "encrypted_content" in fields else _opaque(url),
        "page_age": fields["page_age"].value if "page_age" in fields else None,
    }


def _opaque(seed: str) -> str:
    return base64.b64encode(hashlib.sha512(seed.encode()).digest() * 2).decode()


def instantiate(
    templates: list[dict[str, Any]], ids: "IdGenerator | None", synth: "Synthesizer | None"
) -> list[dict[str, Any]]:
    """Fresh blocks for one reply: new ``toolu_``/``srvtoolu_`` ids where none was scripted, a
    verifiable signature on thinking, and server tool results pointing at their tool call."""
    out: list[dict[str, Any]] = []
    last_server_id: str | None = None
    for template in templates:
        kind = template.get("type")
        block = dict(template)
        if kind in TOOL_USE_TYPES and "id" not in block:
            if ids is None:
                block["id"] = PLACEHOLDER_IDS[kind]
            elif kind == "tool_use":
                block["id"] = ids.tool_use()
            elif kind == "server_tool_use":
                block["id"] = ids.server_tool_use()
            else:
                block["id"] = ids.new(TOOL_USE_TYPES[kind])
        if kind == "tool_use" and "caller" not in block:  # as the API marks it since 2026; a scenario may set its own
            block["caller"] = {"type": "direct"}
        if kind in ("server_tool_use", "mcp_tool_use"):
            last_server_id = block["id"]
        if kind == "thinking" and "signature" not in block:
            block["signature"] = synth.sign(block.get("thinking", "")) if synth is not None else "c2lnbmF0dXJl"
        if isinstance(kind, str) and kind.endswith("_tool_result") and "tool_use_id" not in block:
            block["tool_use_id"] = last_server_id or PLACEHOLDER_IDS["server_tool_use"]
        out.append(block)
    return out


def output_usage(content: list[dict[str, Any]]) -> tuple[int, int | None, dict[str, int] | None]:
    """(output tokens, thinking tokens or None, server_tool_use counts or None) for scripted blocks."""
    output = 0
    thinking: int | None = None
    searches = fetches = 0
    server_calls = False
    for block in content:
        kind = block.get("type")
        if kind == "text":
            output += count_text(str(block.get("text", "")))
        elif kind in ("thinking", "redacted_thinking"):
            tokens = block_tokens(block)
            output += tokens
            thinking = (thinking or 0) + tokens
        elif kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
            output += block_tokens(block)
            if kind == "server_tool_use":
                server_calls = True
                searches += block.get("name") == "web_search"
                fetches += block.get("name") == "web_fetch"
    if content:
        output = max(1, output)
    server = {"web_search_requests": searches, "web_fetch_requests": fetches} if server_calls else None
    return output, thinking, server


def validate_message(node: Node, message: dict[str, Any]) -> None:
    """Check a sample reply against the SDK's ``Message`` (then ``BetaMessage``) model, as
    generated into ``response-schema.json``; the first ``Message`` error names its field."""
    schema = response_schema()
    errors = schema.check("message", message)
    if not errors or not schema.check("beta_message", message):
        return
    loc, msg = errors[0]
    path = _value_path(message, loc)  # the loc without the tags of tagged unions
    where = node
    if len(path) > 1 and path[0] == "content" and isinstance(path[1], int):
        where, path = node.child("content").child(path[1]), path[2:]
    elif path:
        where, path = node.child(str(path[0])), path[1:]
    detail = f" (at {'.'.join(str(p) for p in path)})" if path else ""
    raise where.error(f"not a valid reply for the SDK's Message type: {msg}{detail}")


def _value_path(value: Any, loc: tuple[Any, ...]) -> list[Any]:
    """``loc`` as keys and indexes into ``value``, without the tags of tagged unions."""
    path: list[Any] = []
    for part in loc:
        if isinstance(part, Tag):
            continue
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        path.append(part)
    return path

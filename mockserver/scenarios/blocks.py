"""Content blocks of a scripted reply: shorthands, fresh ids per reply, and validation at load.

A scenario may write blocks in full (``{type: tool_use, name: …, input: …}``) or short
(``"Hello"``, ``{tool_use: {name: …}}``, ``{thinking: "…"}``, ``{redacted_thinking: "…"}``, and one
per server tool block: ``{server_tool_use: …}``, ``{web_search_tool_result: {results: …}}``,
``{web_fetch_tool_result: {url: …}}``, ``{code_execution_tool_result: {stdout: …}}``,
``{mcp_tool_use: …}`` … or ``{…: {error_code: …}}`` for the tool's error; docs/scenarios.md).
Blocks are expanded to the wire shape when the file loads, and a sample Message holding them
is checked against the SDK's response types (``anthropic.types.Message``, or ``BetaMessage``
for beta-only blocks) as ``_strict_response_validation=True`` will check the reply, so a typo
fails at load time with the rule and field named rather than in the client. Those types come
as data (``mockserver/data/response-schema.json``, generated from the SDK at development time by
:mod:`mockserver.protocol.schema_gen`): the server needs no SDK installed.
"""

from __future__ import annotations

import copy
import hashlib
from typing import TYPE_CHECKING, Any

from mockserver.emulation.server_tools import DIRECT_CALLER, ENCRYPTED_CONTENT, ENCRYPTED_INDEX, encrypted_field, server_usage
from mockserver.protocol.schema import Tag, response_schema
from mockserver.protocol.tokens import block_tokens, count_text
from mockserver.documents import Node

if TYPE_CHECKING:
    from mockserver.ids import IdGenerator
    from mockserver.emulation.synth import Synthesizer

CODE_RESULTS = ("code_execution_tool_result", "bash_code_execution_tool_result")
SHORTHANDS = (
    "text", "tool_use", "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result",
    "web_fetch_tool_result", *CODE_RESULTS, "text_editor_code_execution_tool_result", "mcp_tool_use", "mcp_tool_result",
)
TOOL_USE_TYPES = {"tool_use": "tool_use", "server_tool_use": "server_tool_use", "mcp_tool_use": "mcptoolu"}
PLACEHOLDER_IDS = {"tool_use": "toolu_01" + "A" * 22, "server_tool_use": "srvtoolu_01" + "A" * 22, "mcp_tool_use": "mcptoolu_01" + "A" * 22}
# Result blocks that carry ``caller`` as the API writes them since 2026 (docs/protocol.md).
CALLER_RESULTS = ("web_search_tool_result", "web_fetch_tool_result")
SESSION = "6d6f636b-7365-4276-8572-736365656e65"  # the uuid in scripted encrypted fields


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
        node.child("type").string()  # replies dispatch on it (a list or mapping there was a TypeError, a 500)
        block = copy.deepcopy(value)
        if block.get("type") == "web_search_tool_result" and isinstance(block.get("content"), list):
            block["content"] = [_search_result(node.child("content").child(i), r) for i, r in enumerate(block["content"])]
        return block
    if "text" in value:
        fields = node.mapping({"text", "citations"})
        text = fields["text"].string()
        if "citations" in fields and fields["citations"].value is not None:
            citations = [_citation(c) for c in fields["citations"].items()]
            return {"citations": citations, "type": "text", "text": text}  # key order as recorded
        return {"type": "text", "text": text}
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
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        allowed = {"name", "input", "id", "caller"} | ({"server_name"} if kind == "mcp_tool_use" else set())
        required = ("name", "server_name") if kind == "mcp_tool_use" else ("name",)
        fields = inner.mapping(allowed, required=required)
        block = {"type": kind, "name": fields["name"].string(nonempty=True)}
        if kind == "mcp_tool_use":
            block["server_name"] = fields["server_name"].string(nonempty=True)
        block["input"] = {}
        if "input" in fields:
            fields["input"].mapping()
            block["input"] = copy.deepcopy(fields["input"].value)
        if "id" in fields:
            block = {"type": kind, "id": fields["id"].string(nonempty=True), **{k: v for k, v in block.items() if k != "type"}}
        if "caller" in fields:
            block["caller"] = copy.deepcopy(fields["caller"].value)
        return block
    if kind == "mcp_tool_result":
        return _mcp_result(inner)
    if kind != "web_search_tool_result":
        return _server_result(kind, inner)
    fields = inner.mapping({"content", "results", "error_code", "tool_use_id", "caller"})
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
    if "caller" in fields:
        block["caller"] = copy.deepcopy(fields["caller"].value)
    return block


def _search_result(node: Node, value: Any) -> Any:
    """``{url, title}`` -> a ``web_search_result`` (keys in the recorded order) with an
    ``encrypted_content`` shaped like the API's."""
    if not isinstance(value, dict) or "type" in value:
        return copy.deepcopy(value)
    fields = node.mapping({"url", "title", "encrypted_content", "page_age"}, required=("url", "title"))
    url = fields["url"].string()
    return {
        "type": "web_search_result",
        "title": fields["title"].string(),
        "url": url,
        "encrypted_content": fields["encrypted_content"].string() if "encrypted_content" in fields else _opaque(url, 400, ENCRYPTED_CONTENT),
        "page_age": fields["page_age"].value if "page_age" in fields else None,
    }


def _citation(node: Node) -> Any:
    """A citation as written, or ``{url, title?, cited_text}`` -> a ``web_search_result_location``."""
    fields = node.mapping()
    if "type" in fields or "url" not in fields:
        return copy.deepcopy(node.value)  # the SDK check reads the fields
    fields = node.mapping({"url", "title", "cited_text", "encrypted_index"}, required=("url", "cited_text"))
    url, cited = fields["url"].string(), fields["cited_text"].string()
    return {
        "type": "web_search_result_location",
        "cited_text": cited,
        "url": url,
        "title": fields["title"].value if "title" in fields else None,
        "encrypted_index": fields["encrypted_index"].string() if "encrypted_index" in fields else _opaque(f"{url}:{cited}", 20, ENCRYPTED_INDEX),
    }


def _opaque(seed: str, size: int, kind: int) -> str:
    return encrypted_field(hashlib.sha256(seed.encode()).digest(), size, kind=kind, session=SESSION)


def _server_result(kind: str, inner: Node) -> dict[str, Any]:
    """``web_fetch_tool_result``, the code execution results and the text editor's: the fields of
    their content (or ``error_code``) given directly."""
    common = {"tool_use_id", "error_code"}
    if kind == "web_fetch_tool_result":
        fields = inner.mapping(common | {"url", "title", "text", "retrieved_at", "caller"}, required=() if "error_code" in _keys(inner) else ("url",))
    elif kind == "text_editor_code_execution_tool_result":
        extra = {"error_message", "content", "file_type", "num_lines", "start_line", "total_lines", "is_file_update",
                 "lines", "new_lines", "new_start", "old_lines", "old_start"}
        fields = inner.mapping(common | extra)
    else:
        fields = inner.mapping(common | {"stdout", "stderr", "return_code", "files"})
    block: dict[str, Any] = {"type": kind}
    if "tool_use_id" in fields:
        block["tool_use_id"] = fields["tool_use_id"].string(nonempty=True)
    if "error_code" in fields:
        error: dict[str, Any] = {"type": f"{kind}_error", "error_code": fields["error_code"].string()}
        if "error_message" in fields:
            error["error_message"] = fields["error_message"].value
        block["content"] = error
    elif kind == "web_fetch_tool_result":
        url = fields["url"].string()
        document: dict[str, Any] = {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": fields["text"].string() if "text" in fields else f"The page at {url}."},
        }
        if "title" in fields:
            document["title"] = fields["title"].value
        block["content"] = {"type": "web_fetch_result", "url": url, "content": document}
        if "retrieved_at" in fields:
            block["content"]["retrieved_at"] = fields["retrieved_at"].string()
    elif kind == "text_editor_code_execution_tool_result":
        given = {k: copy.deepcopy(v.value) for k, v in fields.items() if k not in common}
        if "is_file_update" in given:
            result = "create"
        elif "content" in given or "file_type" in given:
            result = "view"
            given.setdefault("file_type", "text")
        else:
            result = "str_replace"
        block["content"] = {"type": f"text_editor_code_execution_{result}_result", **given}
    else:
        base = kind.removesuffix("_tool_result")
        files = [{"type": f"{base}_output", "file_id": f.string(nonempty=True)} for f in fields["files"].items()] if "files" in fields else []
        block["content"] = {
            "type": f"{base}_result",
            "stdout": fields["stdout"].string() if "stdout" in fields else "",
            "stderr": fields["stderr"].string() if "stderr" in fields else "",
            "return_code": fields["return_code"].integer() if "return_code" in fields else 0,
            "content": files,
        }
    if kind == "web_fetch_tool_result" and "caller" in fields:
        block["caller"] = copy.deepcopy(fields["caller"].value)
    return block


def _mcp_result(inner: Node) -> dict[str, Any]:
    """``mcp_tool_result: "text"`` or ``{content: "text" or [blocks], is_error, tool_use_id}``."""
    if isinstance(inner.value, str):
        return {"type": "mcp_tool_result", "is_error": False, "content": [{"type": "text", "text": inner.value}]}
    fields = inner.mapping({"content", "is_error", "tool_use_id"})
    block: dict[str, Any] = {"type": "mcp_tool_result"}
    if "tool_use_id" in fields:
        block["tool_use_id"] = fields["tool_use_id"].string(nonempty=True)
    block["is_error"] = fields["is_error"].boolean() if "is_error" in fields else False
    content = fields["content"].value if "content" in fields else ""
    block["content"] = [{"type": "text", "text": content}] if isinstance(content, str) else copy.deepcopy(content)
    return block


def _keys(node: Node) -> set[str]:
    return set(node.value) if isinstance(node.value, dict) else set()


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
                fresh = PLACEHOLDER_IDS[kind]
            elif kind == "tool_use":
                fresh = ids.tool_use()
            elif kind == "server_tool_use":
                fresh = ids.server_tool_use()
            else:
                fresh = ids.new(TOOL_USE_TYPES[kind])
            block = _after_type(block, "id", fresh)
        if (kind == "tool_use" or kind in CALLER_RESULTS) and "caller" not in block:
            block["caller"] = dict(DIRECT_CALLER)  # as the API marks them since 2026; a scenario may set its own
        if kind in ("server_tool_use", "mcp_tool_use"):
            last_server_id = block["id"]
        if kind == "thinking" and "signature" not in block:
            block["signature"] = synth.sign(block.get("thinking", "")) if synth is not None else "c2lnbmF0dXJl"
        if isinstance(kind, str) and kind.endswith("_tool_result") and "tool_use_id" not in block:
            block = _after_type(block, "tool_use_id", last_server_id or PLACEHOLDER_IDS["server_tool_use"])
        out.append(block)
    return out


def _after_type(block: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """``block`` with ``key`` right after ``type``, where the API writes ids."""
    return {"type": block["type"], key: value, **{k: v for k, v in block.items() if k != "type"}}


def output_usage(content: list[dict[str, Any]]) -> tuple[int, int | None, dict[str, int] | None]:
    """(output tokens, thinking tokens or None, server_tool_use counts or None) for scripted blocks:
    counted as the fake model counts its own (docs/default-responder.md)."""
    output = 0
    thinking: int | None = None
    for block in content:
        kind = block.get("type")
        if kind == "text":
            output += count_text(str(block.get("text", "")))
        elif kind in ("thinking", "redacted_thinking"):
            tokens = block_tokens(block)
            output += tokens
            thinking = (thinking or 0) + tokens
        elif kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
            output += block_tokens({k: v for k, v in block.items() if k != "id"})
    if content:
        output = max(1, output)
    return output, thinking, server_usage(content)


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

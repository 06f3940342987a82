"""Server tools and the MCP connector in the default responder (docs/default-responder.md).

A request that offers ``web_search``, ``web_fetch`` or ``code_execution`` (any dated version), or
names MCP tools through ``mcp_servers``, gets the real block sequence when the last user turn
names the tool (or ``tool_choice`` forces it): each call a ``server_tool_use`` (``mcp_tool_use``)
block followed by its result block, then text citing what was found. Nothing is fetched, searched
or run: results are pure functions of the server's seed and the call's input (a query, a URL, the
code), so the same query gets the same results in any request.

Limits as the API applies them: ``max_uses`` (calls past it get a ``max_uses_exceeded`` error
result) and the server-side loop's 10 iterations per response (past them the turn stops with
``pause_turn``; sending the paused turn back as the last assistant message continues it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from mockserver.clock import rfc3339
from mockserver.emulation.schema_instance import instance
from mockserver.protocol.message import RESULT_BLOCK_TYPES as RESULT_TYPES
from mockserver.protocol.tokens import split_pieces

if TYPE_CHECKING:
    from mockserver.ids import IdGenerator

# The API's server-side sampling loop stops after this many iterations (one per server tool call)
# and answers ``pause_turn`` (docs/default-responder.md: the documented default, unconfirmed).
ITERATION_LIMIT = 10
RESULTS_PER_SEARCH = 10  # every recorded search returned 10 results
CONTAINER_LIFETIME = 30 * 86400  # "Containers expire 30 days after creation" (code execution docs)
DIRECT_CALLER = {"type": "direct"}
# The calls of a server tool loop (their results: RESULT_TYPES, which arrive whole).
CALL_TYPES = frozenset({"server_tool_use", "mcp_tool_use"})
CODE_EXECUTION_CALLS = frozenset({"code_execution", "bash_code_execution", "text_editor_code_execution"})
# Envelope version of the recorded encrypted fields (9 in 2025-11, 12 in 2026-01, 18 later in 2026).
ENVELOPE_VERSION = 18
ENCRYPTED_CONTENT = 3  # the envelope's trailing field: 3 on encrypted_content, 4 on encrypted_index
ENCRYPTED_INDEX = 4

SITES = (
    "example.com", "docs.example.com", "example.org", "news.example.org", "wiki.example.net",
    "example.net", "blog.example.com", "reference.example.org", "forum.example.net", "data.example.com",
)
PATH_PREFIXES = ("", "wiki/", "articles/", "news/2026/", "guides/", "docs/")
PAGE_AGES = (None, None, None, None, "1 day ago", "3 days ago", "1 week ago", "2 weeks ago", "1 month ago", "May 11, 2026")
PAGE_SENTENCES = (
    "This page collects what is known about {topic}.",
    "The short answer about {topic} depends on the source.",
    "Several reports on {topic} were published this year.",
    "Readers often ask how {topic} has changed over time.",
    "A summary of {topic} appears in the first section.",
    "The figures for {topic} were last updated this month.",
    "Experts describe {topic} in a few different ways.",
    "An overview of {topic} and its history follows.",
    "Most sources agree on the basic facts about {topic}.",
    "The details below cover {topic} step by step.",
    "Earlier versions of this page said less about {topic}.",
    "Links at the end point to more about {topic}.",
)
_URL = re.compile(r"https?://[^\s<>\"'`()\[\]{}]+")
_QUOTED = re.compile(r"\"([^\"\n]{1,400})\"|“([^”\n]{1,400})”")
_FENCED = re.compile(r"```[\w+-]*\n?(.*?)```", re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")
_FILE = re.compile(r"(?<![\w/.-])((?:/|\./)?(?:[\w-]+/)*[\w-]+\.(?:txt|py|md|json|csv|ya?ml|js|ts|sh|html|toml|ini|cfg|log))(?![\w.-])")
_PRINT = re.compile(r"""^\s*print\(\s*(['"])(.*?)\1\s*\)\s*$""", re.DOTALL)
_ECHO = re.compile(r"""^\s*echo\s+(['"]?)(.*?)\1\s*$""", re.DOTALL)
MAX_QUERY_WORDS = 12
INVENTED_URL = "https://example.com/"


# -- what the request offers ---------------------------------------------------------------------
@dataclass(frozen=True)
class ServerTool:
    """An Anthropic-run tool the request offers: ``kind`` is web_search, web_fetch or code_execution."""

    kind: str
    type: str
    spec: dict[str, Any]

    @property
    def max_uses(self) -> int | None:
        value = self.spec.get("max_uses")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def legacy_python(self) -> bool:
        """``code_execution_20250522`` runs Python; later versions run Bash and a text editor."""
        return self.type == "code_execution_20250522"


@dataclass(frozen=True)
class McpTool:
    """A tool of an MCP server the request connects (named by its configuration or listing)."""

    name: str
    server: str
    schema: dict[str, Any] | None = None


_KINDS = frozenset({"web_search", "web_fetch", "code_execution"})


def offered_server_tools(body: dict[str, Any]) -> list[ServerTool]:
    out: list[ServerTool] = []
    for tool in _items(body.get("tools")):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if not isinstance(kind, str):
            continue
        base = re.sub(r"_\d{8}$", "", kind)
        if base in _KINDS and base != kind:
            out.append(ServerTool(base, kind, tool))
    return out


def offered_mcp_tools(body: dict[str, Any]) -> list[McpTool]:
    """MCP tools the model may call: a server's ``tool_configuration.allowed_tools``
    (mcp-client-2025-04-04), or an ``mcp_toolset``'s ``configs`` and pinned ``tools`` listing
    (mcp-client-2025-11-20 and later), less the disabled ones. A server's other tools are unknown
    here, since no MCP server is contacted."""
    servers = [s for s in _items(body.get("mcp_servers")) if isinstance(s, dict) and isinstance(s.get("name"), str)]
    names = {s["name"] for s in servers}
    out: list[McpTool] = []
    for server in servers:
        config = _mapping(server.get("tool_configuration"))
        if config.get("enabled") is False:
            continue
        for name in _items(config.get("allowed_tools")):
            if isinstance(name, str):
                out.append(McpTool(name, server["name"]))
    for toolset in _items(body.get("tools")):
        if not (isinstance(toolset, dict) and toolset.get("type") == "mcp_toolset" and toolset.get("mcp_server_name") in names):
            continue
        server_name = toolset["mcp_server_name"]
        default = _mapping(toolset.get("default_config"))
        configs = _mapping(toolset.get("configs"))

        def enabled(name: str) -> bool:
            own = configs.get(name)
            if isinstance(own, dict) and isinstance(own.get("enabled"), bool):
                return bool(own["enabled"])
            return default.get("enabled") is not False

        listed = [t for t in _items(toolset.get("tools")) if isinstance(t, dict) and isinstance(t.get("name"), str)]
        for tool in listed:
            if enabled(tool["name"]):
                schema = tool.get("input_schema")
                out.append(McpTool(tool["name"], server_name, schema if isinstance(schema, dict) else None))
        listed_names = {t["name"] for t in listed}
        for name in configs:
            if isinstance(name, str) and name not in listed_names and enabled(name):
                out.append(McpTool(name, server_name))
    return out


def names_tool(text: str, name: str, *, loose: bool = False) -> bool:
    """Whether ``text`` names the tool as a word; ``loose``: ``web search`` and ``web-search`` too."""
    pattern = re.escape(name)
    if loose:
        pattern = "[ _-]".join(re.escape(part) for part in name.split("_"))
    return re.search(rf"(?<![\w-]){pattern}(?![\w-])", text, re.IGNORECASE) is not None


def server_tool_named(text: str, tool: ServerTool) -> bool:
    if names_tool(text, tool.kind, loose=True):
        return True
    return tool.kind == "code_execution" and not tool.legacy_python and (
        names_tool(text, "bash_code_execution", loose=True) or names_tool(text, "text_editor_code_execution", loose=True)
    )


# -- opaque fields -------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _expand(seed: bytes, n: int) -> bytes:
    blocks = (hashlib.sha512(seed + i.to_bytes(4, "big")).digest() for i in range(-(-n // 64)))
    return b"".join(blocks)[:n]


def encrypted_field(seed: bytes, payload_size: int, *, kind: int, session: str) -> str:
    """Base64 of the envelope the recorded ``encrypted_content`` and ``encrypted_index`` values
    share: ``{2: {1: {1: version, 3: 2, 4: <uuid>}, 2: <12 bytes>, 3: <12 bytes>, 4: <48 bytes>,
    5: <payload>}, 3: kind}`` (docs/protocol.md "Server tool blocks"), its bytes derived from ``seed``."""
    stream = _expand(seed, 12 + 12 + 48 + payload_size)
    nonce, key_id, header, payload = stream[:12], stream[12:24], stream[24:72], stream[72:]
    head = b"\x08" + _varint(ENVELOPE_VERSION) + b"\x18\x02\x22" + _varint(len(session)) + session.encode()
    inner = (
        b"\x0a" + _varint(len(head)) + head + b"\x12\x0c" + nonce + b"\x1a\x0c" + key_id + b"\x22\x30" + header
        + b"\x2a" + _varint(len(payload)) + payload
    )
    return base64.b64encode(b"\x12" + _varint(len(inner)) + inner + b"\x18" + bytes([kind])).decode()


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# -- pages, searches, fetches, code ----------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    url: str
    title: str
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def _host(url: str) -> str:
    match = re.match(r"https?://([^/?#]+)", url)
    return (match.group(1) if match else url).lower()


def _label(host: str) -> str:
    parts = [p for p in host.split(".")[:-1] if p and p != "www"]
    return " ".join(p.capitalize() for p in parts) or host


def _topic_of(url: str) -> str:
    path = re.sub(r"https?://[^/]+", "", url).split("?")[0].split("#")[0].strip("/")
    last = path.rsplit("/", 1)[-1] if path else ""
    last = re.sub(r"\.\w{1,5}$", "", last)
    words = re.sub(r"[-_+]+", " ", last).strip()
    return words or _label(_host(url))


def _slug(text: str) -> str:
    slug = re.sub(r"[^\w]+", "-", text.lower(), flags=re.UNICODE).strip("-")
    return slug[:60].strip("-") or "page"


class ToolWorld:
    """The pretend web and sandbox: pure functions of the server's seed and their input."""

    def __init__(self, seed_key: bytes) -> None:
        self.seed_key = seed_key

    def _rng(self, *parts: str) -> random.Random:
        digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=16, key=self.seed_key).digest()
        return random.Random(int.from_bytes(digest, "big"))

    def page(self, url: str) -> Page:
        rng = self._rng("page", url)
        topic = _topic_of(url)
        count = rng.randint(6, 14)
        chosen = [PAGE_SENTENCES[i] for i in rng.sample(range(len(PAGE_SENTENCES)), min(count, len(PAGE_SENTENCES)))]
        sentences = tuple(s.format(topic=topic) for s in chosen)
        sentences = (sentences[0][0].upper() + sentences[0][1:],) + sentences[1:]
        title = f"{topic[:1].upper()}{topic[1:]} | {_label(_host(url))}"
        return Page(url, title, sentences)

    def search(self, query: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """``web_search_result`` items for ``query``: 10, from the allowed domains when the tool
        names some, never from a blocked one."""
        rng = self._rng("search", query)
        session = _uuid(rng)
        allowed = [_bare(d) for d in _items(spec.get("allowed_domains")) if isinstance(d, str) and _bare(d)]
        blocked = {_bare(d) for d in _items(spec.get("blocked_domains")) if isinstance(d, str)}
        sites = allowed or [s for s in SITES if s not in blocked and not any(s.endswith("." + b) for b in blocked)] or ["example.invalid"]
        slug = _slug(query)
        results = []
        seen: set[str] = set()
        for i in range(RESULTS_PER_SEARCH):
            host = sites[(i + rng.randrange(len(sites))) % len(sites)]
            url = f"https://{host}/{PATH_PREFIXES[rng.randrange(len(PATH_PREFIXES))]}{slug}"
            while url in seen:
                url = f"{url}-{i + 1}"
            seen.add(url)
            page = self.page(url)
            size = len(page.text.encode()) + rng.randint(200, 1400)  # the page's text, compressed and padded
            results.append(
                {
                    "type": "web_search_result",
                    "title": page.title,
                    "url": url,
                    "encrypted_content": encrypted_field(f"{session}:{url}".encode(), size, kind=ENCRYPTED_CONTENT, session=session),
                    "page_age": PAGE_AGES[rng.randrange(len(PAGE_AGES))],
                }
            )
        return results

    def citation(self, result: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        """A ``web_search_result_location`` citing one sentence of a search result's page."""
        page = self.page(result["url"])
        sentence = page.sentences[rng.randrange(min(3, len(page.sentences)))]
        session = _session_of(result.get("encrypted_content"))
        return {
            "type": "web_search_result_location",
            "cited_text": sentence,
            "url": result["url"],
            "title": result.get("title"),
            "encrypted_index": encrypted_field(f"{session}:{result['url']}:{sentence}".encode(), 20, kind=ENCRYPTED_INDEX, session=session),
        }

    def fetch(self, url: str, spec: dict[str, Any]) -> dict[str, Any]:
        """A ``web_fetch_result``: the page as a plain-text document (``retrieved_at`` is set per reply)."""
        page = self.page(url)
        text = page.text
        limit = spec.get("max_content_tokens")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            pieces = split_pieces(text)
            text = "".join(pieces[:limit])
        document: dict[str, Any] = {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": text},
            "title": page.title,
        }
        citations = spec.get("citations")
        if isinstance(citations, dict) and citations.get("enabled") is True:
            document["citations"] = {"enabled": True}
        return {"type": "web_fetch_result", "url": url, "content": document, "retrieved_at": ""}

    def mcp_output(self, tool: "McpTool", arguments: dict[str, Any]) -> str:
        rng = self._rng("mcp", tool.server, tool.name, json.dumps(arguments, sort_keys=True, default=str))
        topic = tool.name.replace("_", " ")
        return PAGE_SENTENCES[rng.randrange(len(PAGE_SENTENCES))].format(topic=topic)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[Any]:
    """A list field, or nothing when the body (accepted leniently) has something else there."""
    return value if isinstance(value, list) else []


def _bare(domain: str) -> str:
    return re.sub(r"^(?:https?://)?(?:\*\.)?", "", domain.strip().lower()).split("/")[0]


def _session_of(encrypted: Any) -> str:
    """The uuid inside one of our envelopes (the search it came from), or a fixed one."""
    if isinstance(encrypted, str):
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except ValueError:
            raw = b""
        at = raw.find(b"\x22\x24")
        if at >= 0:
            return raw[at + 2 : at + 38].decode(errors="replace")
    return "00000000-0000-4000-8000-000000000000"


def _domain_allowed(url: str, spec: dict[str, Any]) -> bool:
    host = _host(url)
    allowed = [_bare(d) for d in _items(spec.get("allowed_domains")) if isinstance(d, str)]
    blocked = [_bare(d) for d in _items(spec.get("blocked_domains")) if isinstance(d, str)]

    def within(domains: list[str]) -> bool:
        return any(host == d or host.endswith("." + d) for d in domains if d)

    if allowed and not within(allowed):
        return False
    return not within(blocked)


def _printed(code: str) -> str:
    """What ``print("…")`` or ``echo …`` of a literal prints; nothing for any other code."""
    for pattern in (_PRINT, _ECHO):
        match = pattern.match(code)
        if match:
            return match.group(2) + "\n"
    return ""


# -- one turn -------------------------------------------------------------------------------------
@dataclass
class Turn:
    """The server tool part of an answer: calls and results (ids empty), the text written after
    them once the turn completes, and whether the loop paused."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    answer: list[dict[str, Any]] = field(default_factory=list)
    paused: bool = False


@dataclass
class _Call:
    tool: ServerTool | McpTool
    name: str
    input: dict[str, Any]
    invented: bool = False  # a fetch of a URL the conversation never showed


def _strip_names(text: str, names: list[str]) -> str:
    for name in names:
        pattern = "[ _-]".join(re.escape(part) for part in name.split("_"))
        text = re.sub(rf"(?i)(?:\bthe\s+)?(?<![\w-]){pattern}(?![\w-])(?:\s+tool)?", " ", text)
    return text


_TOOL_NAMES = ["web_search", "web_fetch", "code_execution", "bash_code_execution", "text_editor_code_execution"]
_ASKING = re.compile(r"(?i)^\s*(?:please\s+)?(?:use|search|run|call)\b(?:\s+(?:it|this|that))?(?:\s+(?:to|for))?[:\s]*")


def _request_words(text: str) -> str:
    """A user turn without code, URLs, tool names and a leading "use … to"."""
    plain = _URL.sub(" ", _FENCED.sub(" ", text))
    plain = _ASKING.sub("", _strip_names(plain, _TOOL_NAMES))
    return re.sub(r"\s+", " ", plain).strip()


def queries(text: str) -> list[str]:
    """Search queries in a user turn: each double-quoted phrase, or else the turn's words (tool
    names and code left out), up to 12."""
    quoted = [(a or b).strip() for a, b in _QUOTED.findall(text)]
    quoted = [q for q in quoted if q]
    if quoted:
        return quoted
    words = re.findall(r"[\w'’.$%#+-]+", _request_words(text), re.UNICODE)
    words = [w.strip(".") for w in words if w.strip(".")]
    query = " ".join(words[:MAX_QUERY_WORDS]).strip()
    return [query or "latest news"]


def urls_in(text: str) -> list[str]:
    return [u.rstrip(".,;:!?") for u in _URL.findall(text)]


def _code_of(text: str) -> str | None:
    fenced = _FENCED.search(text)
    if fenced and fenced.group(1).strip():
        return fenced.group(1).strip("\n")
    inline = _INLINE.search(text)
    return inline.group(1) if inline else None


def _excerpt(text: str) -> str:
    return _request_words(text)[:80].strip() or "hello"


class ServerTurns:
    """Plans the server tool part of the fake model's answers."""

    def __init__(self, seed_key: bytes) -> None:
        self.world = ToolWorld(seed_key)

    def plan(
        self,
        body: dict[str, Any],
        user_text: str,
        context_text: str,
        prior: list[dict[str, Any]],
        chosen: list[ServerTool],
        mcp: list[McpTool],
        rng: random.Random,
    ) -> Turn | None:
        """The calls for ``chosen`` server tools and named ``mcp`` tools, less those ``prior``
        already holds (a paused turn sent back to be continued), each followed by its result;
        then the answer. ``None`` when there is nothing to call or continue."""
        calls = self._calls(user_text, context_text, chosen, mcp, rng)
        calls = calls[sum(1 for b in prior if b.get("type") in CALL_TYPES) :]
        if not calls and not prior:
            return None
        turn = Turn()
        uses: dict[str, int] = {}
        for n, call in enumerate(calls):
            if n == ITERATION_LIMIT:
                turn.paused = True
                return turn
            tool = call.tool
            if isinstance(tool, McpTool):
                turn.blocks.append({"type": "mcp_tool_use", "id": "", "name": tool.name, "server_name": tool.server, "input": call.input})
                text = self.world.mcp_output(tool, call.input)
                turn.blocks.append({"type": "mcp_tool_result", "tool_use_id": "", "is_error": False, "content": [{"type": "text", "text": text}]})
                continue
            turn.blocks.append({"type": "server_tool_use", "id": "", "name": call.name, "input": call.input})
            uses[tool.kind] = uses.get(tool.kind, 0) + 1
            over = tool.max_uses is not None and uses[tool.kind] > tool.max_uses
            turn.blocks.append(self._result(tool, call, over))
        turn.answer = self._write_answer(findings(prior + turn.blocks), rng)
        return turn

    # -- calls --------------------------------------------------------------------------------
    def _calls(
        self,
        user_text: str,
        context_text: str,
        chosen: list[ServerTool],
        mcp: list[McpTool],
        rng: random.Random,
    ) -> list[_Call]:
        calls: list[_Call] = []
        found_urls: list[str] = []
        order = {"web_search": 0, "web_fetch": 1, "code_execution": 2}
        for tool in sorted(chosen, key=lambda t: order[t.kind]):
            if tool.kind == "web_search":
                for query in queries(user_text):
                    calls.append(_Call(tool, "web_search", {"query": query}))
                    if not found_urls:
                        found_urls = [r["url"] for r in self.world.search(query, tool.spec)[:1]]
            elif tool.kind == "web_fetch":
                targets = urls_in(user_text) or (urls_in(context_text) + found_urls)[:1]
                if targets:
                    calls.extend(_Call(tool, "web_fetch", {"url": url}) for url in targets)
                else:  # nothing to open: the model guesses, and the API refuses a URL it was never shown
                    calls.append(_Call(tool, "web_fetch", {"url": INVENTED_URL}, invented=True))
            else:
                calls.append(self._code_call(tool, user_text))
        for mcp_tool in mcp:
            arguments = instance(mcp_tool.schema, rng) if mcp_tool.schema is not None else {}
            calls.append(_Call(mcp_tool, mcp_tool.name, arguments if isinstance(arguments, dict) else {}))
        return calls

    def _code_call(self, tool: ServerTool, user_text: str) -> _Call:
        code = _code_of(user_text)
        if tool.legacy_python:
            return _Call(tool, "code_execution", {"code": code if code is not None else f"print({json.dumps(_excerpt(user_text), ensure_ascii=False)})"})
        path = _FILE.search(_URL.sub(" ", _FENCED.sub(" ", user_text)))
        if path or names_tool(user_text, "text_editor_code_execution", loose=True):
            target = path.group(1) if path else "notes.txt"
            text = code if code is not None else _excerpt(user_text)
            return _Call(tool, "text_editor_code_execution", {"command": "create", "path": target, "file_text": text})
        command = code if code is not None else "echo " + json.dumps(_excerpt(user_text), ensure_ascii=False)
        return _Call(tool, "bash_code_execution", {"command": command})

    # -- results ------------------------------------------------------------------------------
    def _result(self, tool: ServerTool, call: _Call, over: bool) -> dict[str, Any]:
        if tool.kind == "web_search":
            if over:
                return _error("web_search_tool_result", "max_uses_exceeded")
            results = self.world.search(call.input["query"], tool.spec)
            return {"type": "web_search_tool_result", "tool_use_id": "", "content": results, "caller": dict(DIRECT_CALLER)}
        if tool.kind == "web_fetch":
            url = call.input["url"]
            code = "max_uses_exceeded" if over else None
            if code is None and not _domain_allowed(url, tool.spec):
                code = "url_not_allowed"
            if code is None and call.invented:
                code = "url_not_in_prior_context"
            if code is not None:
                return _error("web_fetch_tool_result", code)
            fetched = self.world.fetch(url, tool.spec)
            return {"type": "web_fetch_tool_result", "tool_use_id": "", "content": fetched, "caller": dict(DIRECT_CALLER)}
        if call.name == "text_editor_code_execution":
            created = {"type": "text_editor_code_execution_create_result", "is_file_update": False}
            return {"type": "text_editor_code_execution_tool_result", "tool_use_id": "", "content": created}
        source = call.input.get("code") if call.name == "code_execution" else call.input.get("command")
        kind = "code_execution" if call.name == "code_execution" else "bash_code_execution"
        ran = {"type": f"{kind}_result", "stdout": _printed(str(source)), "stderr": "", "return_code": 0, "content": []}
        return {"type": f"{kind}_tool_result", "tool_use_id": "", "content": ran}

    # -- the answer ------------------------------------------------------------------------------
    def _write_answer(self, findings: list[tuple[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
        """Text after the results: a cited sentence per search (as the API splits cited text
        into blocks of their own), a line per fetch, run or error."""
        blocks: list[dict[str, Any]] = []
        plain: list[str] = []

        def flush() -> None:
            if plain:
                blocks.append({"type": "text", "text": "".join(plain)})
                plain.clear()

        searches = [f for f in findings if f[0] == "search"]
        if searches:
            plain.append(f'Here is what I found about "{searches[0][1][0]}":\n\n')
        cited = 0
        for kind, data in findings:
            if kind == "search":
                _, results = data
                if cited == 5 or not results:
                    continue
                if cited:
                    plain.append(" ")
                flush()
                result = results[rng.randrange(min(3, len(results)))]
                citation = self.world.citation(result, rng)
                blocks.append({"citations": [citation], "type": "text", "text": citation["cited_text"]})
                cited += 1
            elif kind == "fetch":
                url, fetched = data
                document = _mapping(fetched.get("content"))
                source = _mapping(document.get("source"))
                first = str(source.get("data") or "").split(". ")[0].rstrip(".") if source.get("type") == "text" else ""
                plain.append(f"{_sep(plain, blocks)}The page at {url} says: {first}." if first else f"{_sep(plain, blocks)}I opened {url}.")
            elif kind == "ran":
                plain.append(f"{_sep(plain, blocks)}" + (f"The code printed: {data.strip()}" if data.strip() else "The code ran without output."))
            elif kind == "created":
                plain.append(f"{_sep(plain, blocks)}I created {data}.")
            elif kind == "edited":
                plain.append(f"{_sep(plain, blocks)}I worked on {data}.")
            elif kind == "mcp":
                name, server, text = data
                plain.append(f"{_sep(plain, blocks)}The {name} tool on {server} returned: {text}")
            elif kind == "error":
                tool, code = data
                plain.append(f"{_sep(plain, blocks)}The {tool} tool returned an error: {code}.")
        flush()
        return blocks


def findings(blocks: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """What the results among ``blocks`` say, in order, for the answer to report: ("search",
    (query, results)), ("fetch", (url, result)), ("ran", stdout), ("created"/"edited", path),
    ("mcp", (tool, server, text)) or ("error", (tool, code))."""
    out: list[tuple[str, Any]] = []
    call: dict[str, Any] = {}
    for block in blocks:
        kind = block.get("type")
        if kind in CALL_TYPES:
            call = block
            continue
        if kind not in RESULT_TYPES:
            continue
        arguments = _mapping(call.get("input"))
        content = block.get("content")
        tool = str(call.get("name") or kind.removesuffix("_tool_result"))
        if kind == "mcp_tool_result":
            text = content if isinstance(content, str) else " ".join(
                str(c.get("text", "")) for c in _items(content) if isinstance(c, dict)
            )
            out.append(("error", (tool, text)) if block.get("is_error") else ("mcp", (tool, call.get("server_name", ""), text)))
        elif isinstance(content, dict) and "error_code" in content:
            out.append(("error", (tool, content["error_code"])))
        elif kind == "web_search_tool_result" and isinstance(content, list):
            out.append(("search", (str(arguments.get("query", "")), content)))
        elif kind == "web_fetch_tool_result" and isinstance(content, dict):
            out.append(("fetch", (str(content.get("url", arguments.get("url", ""))), content)))
        elif kind == "text_editor_code_execution_tool_result" and isinstance(content, dict):
            created = content.get("type") == "text_editor_code_execution_create_result"
            out.append(("created" if created else "edited", str(arguments.get("path", "the file"))))
        elif isinstance(content, dict) and "stdout" in content:
            out.append(("ran", str(content.get("stdout") or "")))
    return out


def _sep(plain: list[str], blocks: list[dict[str, Any]]) -> str:
    return "\n\n" if plain or blocks else ""


def _error(block_type: str, code: str) -> dict[str, Any]:
    return {"type": block_type, "tool_use_id": "", "content": {"type": f"{block_type}_error", "error_code": code}, "caller": dict(DIRECT_CALLER)}


# -- after generation -------------------------------------------------------------------------------
def server_usage(content: list[dict[str, Any]]) -> dict[str, int] | None:
    """``usage.server_tool_use`` for a reply: searches and fetches that ran (error results are
    not counted), present with both counts whenever the reply calls a server tool."""
    if not any(b.get("type") == "server_tool_use" for b in content):
        return None
    searches = sum(1 for b in content if b.get("type") == "web_search_tool_result" and isinstance(b.get("content"), list))
    fetches = sum(
        1 for b in content if b.get("type") == "web_fetch_tool_result" and isinstance(b.get("content"), dict)
        and b["content"].get("type") == "web_fetch_result"
    )
    return {"web_search_requests": searches, "web_fetch_requests": fetches}


def runs_code(content: list[dict[str, Any]]) -> bool:
    return any(b.get("type") == "server_tool_use" and b.get("name") in CODE_EXECUTION_CALLS for b in content)


def requested_container(body: dict[str, Any]) -> str | None:
    """The container id a request asks to reuse (``container: "…"`` or ``{id: "…"}``)."""
    container = body.get("container")
    if isinstance(container, str) and container:
        return container
    if isinstance(container, dict) and isinstance(container.get("id"), str) and container["id"]:
        return str(container["id"])
    return None


def container_for(requested: str | None, ids: "IdGenerator", now: float) -> dict[str, Any]:
    """``container`` of a reply that ran code: the one asked for, or a fresh ``container_011C…``."""
    return {"id": requested or ids.new("container"), "expires_at": rfc3339(now + CONTAINER_LIFETIME, micro=True)}


def needs_issuing(content: list[dict[str, Any]]) -> bool:
    """Whether a block is a tool call or result: the only blocks that get ids, run code, count as
    server tool use or are fed back into the input (FakeModel.draft asks the rest only then)."""
    return any(b.get("type") in ("tool_use", *CALL_TYPES) or b.get("type") in RESULT_TYPES for b in content)


def issue(content: list[dict[str, Any]], ids: "IdGenerator", now: float) -> list[dict[str, Any]]:
    """Fresh per-reply values: ``toolu_``/``srvtoolu_``/``mcptoolu_`` ids where empty, each result
    pointing at the call before it, and a fetch's ``retrieved_at``."""
    out: list[dict[str, Any]] = []
    last_call = ""
    for block in content:
        kind = block.get("type")
        if kind == "tool_use" or kind in CALL_TYPES:
            if not block.get("id"):
                fresh = ids.tool_use() if kind == "tool_use" else ids.server_tool_use() if kind == "server_tool_use" else ids.new("mcptoolu")
                block = dict(block, id=fresh)
            if kind != "tool_use":
                last_call = block["id"]
        elif kind in RESULT_TYPES:
            block = dict(block)
            if not block.get("tool_use_id"):
                block["tool_use_id"] = last_call
            inner = block.get("content")
            if isinstance(inner, dict) and inner.get("retrieved_at") == "":
                block["content"] = dict(inner, retrieved_at=rfc3339(now))
        out.append(block)
    return out


def trailing_server_blocks(messages: list[Any]) -> list[dict[str, Any]]:
    """The content of a final assistant turn that ends in server tool blocks (a paused turn sent
    back to continue it), else ``[]``."""
    blocks: list[dict[str, Any]] = []
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "assistant":
            break
        content = message.get("content")
        if not isinstance(content, list):
            break
        blocks[:0] = [b for b in content if isinstance(b, dict)]
    if blocks and (blocks[-1].get("type") in CALL_TYPES or blocks[-1].get("type") in RESULT_TYPES):
        return blocks
    return []


def context_text(messages: list[Any]) -> str:
    """Every text the conversation shows, with the URLs of earlier search results (what a fetch may open)."""
    parts: list[str] = []

    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)
        elif isinstance(value, dict):
            if value.get("type") == "text" and isinstance(value.get("text"), str):
                yield value["text"]
            elif value.get("type") == "web_search_result" and isinstance(value.get("url"), str):
                yield value["url"]
            elif "content" in value:
                yield from walk(value["content"])

    for message in messages:
        if isinstance(message, dict):
            parts.extend(walk(message.get("content")))
    return "\n".join(parts)

"""The default responder's fake model: deterministic content that honours the request.

What it writes (docs/default-responder.md): the text of the last user turn echoed back, then
seeded prose; a ``tool_use`` block when ``tool_choice`` demands one or when the user names an
offered tool; server tool calls and their results (:mod:`.server_tools`) when the user names an
offered server or MCP tool; a thinking block (with a signature this server can verify) when thinking is on;
JSON matching ``output_config.format`` when structured output is asked for. ``max_tokens`` and
``stop_sequences`` cut the output exactly as the real API does. Everything is a pure function of
the seed and the request body (``stream`` aside), so streamed and plain replies are identical.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from mockserver.protocol.errors import invalid_request
from mockserver.protocol.message import RESULT_BLOCK_TYPES
from mockserver.protocol.tokens import block_tokens, count_text, split_pieces
from mockserver.emulation.schema_instance import generate, instance
from mockserver.emulation.server_tools import (
    CALL_TYPES,
    McpTool,
    ServerTool,
    ServerTurns,
    Turn,
    context_text,
    names_tool,
    offered_mcp_tools,
    offered_server_tools,
    server_tool_named,
    trailing_server_blocks,
)

SENTENCES = (
    "This reply comes from an offline stand-in for the Claude API.",
    "Its words are chosen from a fixed list, so the same request always gets the same answer.",
    "Nothing here was produced by a language model.",
    "A seeded generator picks each sentence.",
    "Tests can rely on the length and shape of this text.",
    "The usage numbers follow the same token estimate as count_tokens.",
    "Streaming sends these words as text deltas, a few tokens at a time.",
    "Change the seed to get a different but equally repeatable reply.",
    "The quick brown fox jumps over the lazy dog.",
    "Every block here follows the shapes of the real Messages API.",
    "Scenario files can replace this text with exactly what a test needs.",
    "Rivers bend around the hills and reach the sea at last.",
    "A small lighthouse stands on the northern cape.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Morning light falls across the quiet harbor.",
    "A careful answer weighs the evidence before it concludes.",
    "The meeting moved to Thursday afternoon.",
    "Clouds gathered over the valley, but the rain held off.",
)
REASONING = (
    "Let me work through this step by step.",
    "First, I should restate what is being asked.",
    "There are a few ways to read the question.",
    "The simplest reading seems the most likely one.",
    "I should check the request for any constraints.",
    "A short, direct answer will serve best here.",
    "I will keep the reply consistent with the context given.",
    "Nothing in the request calls for a tool right now.",
)
# Tokens of each sentence at the start of a text and after the space that joins it to the one
# before: a filler's count is their sum (docs/default-responder.md), so a reply within max_tokens
# is never split into pieces just to be counted.
SENTENCE_TOKENS = tuple(count_text(sentence) for sentence in SENTENCES)
JOINED_TOKENS = tuple(count_text(" " + sentence) for sentence in SENTENCES)
MAX_ECHO_CHARS = 400
SIGNATURE_MAGIC = b"MCKS"
# ``caller`` of a tool_use block the model emitted itself (not a server tool's programmatic call):
# on every tool_use in the 2026 recordings, after ``input`` (docs/protocol.md "Tool use blocks").
DIRECT_CALLER = {"type": "direct"}


class Seeded:
    """One request's seeded choices: a plain reply's few straight from its digest, and a full
    generator only for what needs more (thinking, tools, structured output), made on first use:
    seeding a Mersenne Twister costs more than the rest of a plain reply."""

    __slots__ = ("digest", "_rng")

    def __init__(self, digest: bytes) -> None:
        self.digest = digest
        self._rng: random.Random | None = None

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(int.from_bytes(self.digest, "big"))
        return self._rng

    def filler(self, fewest: int, most: int) -> tuple[str, int]:
        """``fewest`` to ``most`` sentences (at most 15) and their tokens."""
        digest = self.digest
        chosen = [digest[1 + i] % len(SENTENCES) for i in range(fewest + digest[0] % (most - fewest + 1))]
        text = " ".join([SENTENCES[i] for i in chosen])
        return text, SENTENCE_TOKENS[chosen[0]] + sum([JOINED_TOKENS[i] for i in chosen[1:]])


@dataclass
class Generated:
    content: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "end_turn"
    stop_sequence: str | None = None
    output_tokens: int = 0
    thinking_tokens: int | None = None


# The envelope's first field as the API writes it today: {1: 11, 3: 2, 5: <64 bytes>}.
_SIG_HEAD = b"\x0a\x46\x08\x0b\x18\x02\x2a\x40"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _expand(seed: bytes, n: int) -> bytes:
    """``n`` pseudo-random bytes from ``seed`` (SHA-512 in counter mode)."""
    blocks = (hashlib.sha512(seed + i.to_bytes(4, "big")).digest() for i in range(-(-n // 64)))
    return b"".join(blocks)[:n]


def _signature_mark(mac: bytes) -> bytes:
    """The second half of the 64-byte field: tells this server's signatures (of any seed) apart."""
    return hashlib.sha256(SIGNATURE_MAGIC + mac).digest()


def _signed_mac(raw: bytes) -> bytes | None:
    """The MAC inside one of our signatures, or ``None`` when ``raw`` is not one."""
    if raw[:1] != b"\x12":
        return None
    i = 1
    while i < len(raw) and raw[i] & 0x80:  # skip the envelope's length varint
        i += 1
    start = i + 1
    head = raw[start : start + len(_SIG_HEAD) + 64]
    if len(head) != len(_SIG_HEAD) + 64 or not head.startswith(_SIG_HEAD):
        return None
    mac, mark = head[len(_SIG_HEAD) : len(_SIG_HEAD) + 32], head[len(_SIG_HEAD) + 32 :]
    return mac if hmac.compare_digest(mark, _signature_mark(mac)) else None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _tool_results(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def _last(messages: list[Any], role: str) -> dict[str, Any] | None:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == role:
            return message
    return None


def _output_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    schema = fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None
    return schema if isinstance(schema, dict) else None


def _check_output_schema(body: dict[str, Any]) -> None:
    """Structured output promises a valid value, so a schema whose smallest valid value is past
    the generator's limits is refused (400), whatever the reply turns out to be, as the API
    refuses schemas it cannot constrain (docs/protocol.md). A tool's input, which promises
    nothing, is cut to the limits instead."""
    schema = _output_schema(body)
    if schema is not None:
        made = generate(schema, random.Random(0))
        if made.cut is not None:
            raise invalid_request(f"output_config.format.schema: {made.cut}")


class Synthesizer:
    """Deterministic fake model. One per server; ``seed=None`` still gives stable content."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._key = hashlib.sha256(f"mockserver-thinking:{seed}".encode()).digest()
        self._seed_key = hashlib.sha256(f"mockserver-content:{seed}".encode()).digest()[:32]
        self.server_turns = ServerTurns(hashlib.sha256(f"mockserver-tools:{seed}".encode()).digest()[:32])

    # -- determinism -------------------------------------------------------------------------
    def seeded(self, body: dict[str, Any]) -> Seeded:
        """The choices for ``body``: a pure function of the seed and the body (``stream`` aside)."""
        canonical = orjson.dumps({k: v for k, v in body.items() if k != "stream"}, option=orjson.OPT_SORT_KEYS)
        return Seeded(hashlib.blake2b(canonical, digest_size=16, key=self._seed_key).digest())

    # -- thinking signatures -----------------------------------------------------------------
    def sign(self, thinking: str, *, hidden: str | None = None) -> str:
        """A signature shaped like the API's (docs/protocol.md "Thinking signatures"): base64 of
        a protobuf envelope whose 64-byte field holds our HMAC of ``thinking`` (what the client
        will send back) and a seed-independent mark, then a nonce, a key id and a payload as long
        as the encrypted thinking would be (``hidden``: the full text when display is omitted),
        filled from a hash of the MAC so equal thinking gets equal signatures."""
        mac = hmac.new(self._key, thinking.encode(), hashlib.sha256).digest()
        stream = _expand(mac, 12 + 12 + 48 + len((thinking if hidden is None else hidden).encode()) + 16)
        nonce, key_id, header, payload = stream[:12], stream[12:24], stream[24:72], stream[72:]
        head = _SIG_HEAD + mac + _signature_mark(mac)
        inner = head + b"\x12\x0c" + nonce + b"\x1a\x0c" + key_id + b"\x22\x30" + header + b"\x2a" + _varint(len(payload)) + payload
        return base64.b64encode(b"\x12" + _varint(len(inner)) + inner + b"\x18\x01").decode()

    def signature_matches(self, thinking: str, signature: str) -> bool | None:
        """True/False for a signature this server made; ``None`` for anyone else's (not checkable)."""
        try:
            raw = base64.b64decode(signature, validate=True)
        except ValueError:
            return None
        mac = _signed_mac(raw)
        if mac is None:
            return None
        return hmac.compare_digest(mac, hmac.new(self._key, thinking.encode(), hashlib.sha256).digest())

    # -- generation --------------------------------------------------------------------------
    def generate(self, body: dict[str, Any]) -> Generated:
        """The answer to ``body``; ``tool_use`` ids are left empty for the caller to issue."""
        seeded = self.seeded(body)
        _check_output_schema(body)
        max_tokens = int(body.get("max_tokens", 0))
        messages = body.get("messages") or []
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        prefill = last.get("role") == "assistant"
        prior = trailing_server_blocks(messages) if prefill else []  # a paused turn sent back
        user = _last(messages, "user") or {}
        user_text = _text_of(user.get("content"))
        results = _tool_results(user.get("content"))

        planned: list[dict[str, Any]] = []
        thinking: dict[str, Any] = body["thinking"] if isinstance(body.get("thinking"), dict) else {}
        if thinking.get("type") in ("enabled", "adaptive") and not prefill:
            planned.append(self._thinking_block(thinking, user_text, max_tokens, seeded.rng))

        tool, servers, mcp = self._chosen_tools(body, user_text, results)
        turn: Turn | None = None
        if servers or mcp or prior:
            turn = self.server_turns.plan(body, user_text, context_text(messages), prior, servers, mcp, seeded.rng)
        forced = isinstance(body.get("tool_choice"), dict) and body["tool_choice"].get("type") in ("any", "tool")
        if turn is not None:
            planned.extend(turn.blocks)
        if turn is not None and turn.paused:
            pass  # the loop stops here; the client sends the turn back to continue it
        elif tool is not None:
            if not forced:
                planned.append({"type": "text", "text": f"I'll use the {tool['name']} tool for this."})
            planned.append(
                {"type": "tool_use", "id": "", "name": tool["name"], "input": instance(tool.get("input_schema"), seeded.rng)}
            )
        elif turn is not None:
            planned.extend(self._after_tools(body, turn, seeded))
        else:
            planned.append(self._reply(body, user_text, results, prefill, seeded))
        out = self._fit(planned, body, max_tokens)
        if turn is not None and turn.paused and out.stop_reason == "end_turn":
            out.stop_reason = "pause_turn"
        # Since 2026 the API marks a client tool call made by the model itself (docs/protocol.md).
        out.content = [dict(b, caller=DIRECT_CALLER) if b["type"] == "tool_use" else b for b in out.content]
        return out

    def _chosen_tools(
        self, body: dict[str, Any], user_text: str, results: list[dict[str, Any]]
    ) -> tuple[dict[str, Any] | None, list[ServerTool], list[McpTool]]:
        """The client tool to call (or ``None``), and the server and MCP tools to run first."""
        if not body.get("tools") and not body.get("mcp_servers"):  # nothing offered: a plain reply
            return None, [], []
        offered = [t for t in body.get("tools") or [] if isinstance(t, dict)]
        tools = [t for t in offered if "input_schema" in t and isinstance(t.get("name"), str)]
        servers = offered_server_tools(body)
        choice: dict[str, Any] = body["tool_choice"] if isinstance(body.get("tool_choice"), dict) else {"type": "auto"}
        kind = choice.get("type")
        if kind == "none":
            return None, [], []
        if kind == "tool":  # that tool and no other
            client = next((t for t in tools if t["name"] == choice.get("name")), None)
            if client is not None:
                return client, [], []
            return None, [s for s in servers if s.spec.get("name") == choice.get("name")][:1], []
        named = [s for s in servers if server_tool_named(user_text, s)]
        mcp = [m for m in offered_mcp_tools(body) if names_tool(user_text, m.name)]
        mentioned = [t for t in tools if re.search(rf"(?<![\w-]){re.escape(t['name'])}(?![\w-])", user_text, re.IGNORECASE)]
        if kind == "any" and not (mentioned or named or mcp):  # some tool must be used: the first offered
            first = next((t for t in offered if t in tools or any(t is s.spec for s in servers)), None)
            if first is None:
                return None, [], []
            return (first, [], []) if first in tools else (None, [s for s in servers if s.spec is first], [])
        # auto: call a tool the user names, unless this turn already carries tool results.
        client = mentioned[0] if mentioned and (kind == "any" or not results) else None
        return client, named, mcp

    def _after_tools(self, body: dict[str, Any], turn: Turn, seeded: Seeded) -> list[dict[str, Any]]:
        """The text that ends a completed server tool turn: the findings with their citations and
        seeded prose, or a JSON document when structured output is asked for."""
        if _output_schema(body) is not None:
            return [self._reply(body, "", [], False, seeded)]
        blocks = [dict(b) for b in turn.answer]
        filler, _ = seeded.filler(1, 3)
        if blocks and not blocks[-1].get("citations"):
            blocks[-1]["text"] += "\n\n" + filler
        else:
            blocks.append({"type": "text", "text": (" " if blocks else "") + filler})
        return blocks

    def _reply(
        self, body: dict[str, Any], user_text: str, results: list[dict[str, Any]], prefill: bool, seeded: Seeded
    ) -> dict[str, Any]:
        """The reply's text block, with its tokens (``_tokens``) where they are known without
        splitting it: a line ending in a blank line, then the filler, counts as the two apart."""
        schema = _output_schema(body)
        if schema is not None:
            made = generate(schema, seeded.rng)
            if made.cut is not None:  # the check in generate() drew other random choices
                raise invalid_request(f"output_config.format.schema: {made.cut}")
            return {"type": "text", "text": json.dumps(made.value, ensure_ascii=False)}
        filler, tokens = seeded.filler(2, 4)
        if prefill:
            return {"type": "text", "text": " " + filler, "_tokens": count_text(" " + filler)}
        if results:
            excerpt = _text_of(results[0].get("content")) or str(results[0].get("content") or "")
            head = f"The tool returned: {excerpt[:MAX_ECHO_CHARS]}\n\n" if excerpt else "The tool finished without output.\n\n"
        elif user_text.strip():
            echo = user_text.strip()
            echo = echo if len(echo) <= MAX_ECHO_CHARS else echo[:MAX_ECHO_CHARS] + "…"
            head = f'You said: "{echo}"\n\n'
        else:
            head = ""
        return {"type": "text", "text": head + filler, "_tokens": (count_text(head) if head else 0) + tokens}

    def _thinking_block(self, thinking: dict[str, Any], user_text: str, max_tokens: int, rng: random.Random) -> dict[str, Any]:
        excerpt = user_text.strip()[:120]
        text = f'The request says: "{excerpt}". ' if excerpt else ""
        text += " ".join(rng.choice(REASONING) for _ in range(rng.randint(3, 6)))
        budget = thinking.get("budget_tokens") if thinking.get("type") == "enabled" else None
        limit = min(int(budget), max_tokens) if isinstance(budget, int) else max(1, max_tokens // 2)
        pieces = split_pieces(text)
        if len(pieces) > limit:
            text = "".join(pieces[:limit])
        block: dict[str, Any] = {"type": "thinking", "thinking": text, "signature": self.sign(text)}
        if thinking.get("display") == "omitted":  # the client sends "" back: that is what is signed
            block["thinking"] = ""
            block["signature"] = self.sign("", hidden=text)
            block["_tokens"] = count_text(text)
        return block

    def _fit(self, planned: list[dict[str, Any]], body: dict[str, Any], max_tokens: int) -> Generated:
        """Apply ``stop_sequences`` and ``max_tokens`` the way the API does; count output tokens."""
        out = Generated()
        stops = [s for s in body.get("stop_sequences") or [] if isinstance(s, str) and s]
        remaining = max_tokens
        for block in planned:
            if remaining <= 0:
                out.stop_reason = "max_tokens"
                break
            kind = block["type"]
            if kind == "thinking":
                used = block.pop("_tokens", None) or count_text(block["thinking"])
                used = min(used, remaining)
                out.thinking_tokens = used
                out.content.append(block)
                remaining -= used
            elif kind == "text":
                text = block["text"]
                known = block.pop("_tokens", None)
                if known is not None and known <= remaining and not stops:  # whole: no need to split it
                    out.content.append(block)
                    remaining -= known
                    continue
                hit = min(((text.find(s), s) for s in stops if s in text), default=None)
                if hit is not None:
                    text = text[: hit[0]]
                pieces = split_pieces(text)
                if len(pieces) > remaining:
                    block["text"] = "".join(pieces[:remaining])
                    out.content.append(block)
                    remaining = 0
                    out.stop_reason = "max_tokens"
                    break
                block["text"] = text
                out.content.append(block)
                remaining -= len(pieces)
                if hit is not None:
                    out.stop_reason, out.stop_sequence = "stop_sequence", hit[1]
                    break
            elif kind == "tool_use" or kind in CALL_TYPES:
                cost = block_tokens({k: v for k, v in block.items() if k != "id"})
                if cost > remaining:
                    out.stop_reason = "max_tokens"
                    remaining = 0
                    break
                out.content.append(block)
                remaining -= cost
                if kind == "tool_use":
                    out.stop_reason = "tool_use"
            elif kind in RESULT_BLOCK_TYPES:  # written by the server, not the model: no output tokens
                out.content.append(block)
        out.content = [b for b in out.content if not (b["type"] == "text" and b["text"] == "" and len(out.content) > 1)]
        out.output_tokens = max_tokens - remaining if max_tokens else 0
        if out.output_tokens == 0 and max_tokens > 0:
            out.output_tokens = 1
        return out

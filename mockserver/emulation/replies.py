"""Identical calls answered again from what the pipeline made of them: the reply memo.

With the emulated API answering (no rate limits, chaos, cassette, shared store or added stage:
the composition root checks; scenario rules may be loaded, but none may accept the call: the
scenarios stage marks what a rule counted as not ``pure``, and the rules' generation is part of
the key), a Messages or count_tokens answer that depends on nothing but the request (no prompt
caching, stored files, tool or container ids: the emulation marks such replies ``pure``) is the
same bytes for the same request, but for three things made per answer: the ``request-id`` and
``cf-ray`` headers and the Message's ``id``. So the second time a request's exact bytes
(target, headers, body) arrive, the rendered body is kept split around its id, and from the
third time on the parse, the chain and the renderer are skipped: the ids are drawn in the
order the long way draws them (``request-id``, then the Message's, then ``cf-ray``), so a seeded
run answers byte for byte as it would without the memo. The journal, the access log and
delivery are the same for both ways.

Only bodies of up to :data:`MEMO_BODY` bytes, sent whole with a ``Content-Length`` and no
``Content-Encoding``, are looked up, so the memo reads no body the parser would refuse, and
at most :data:`MEMO_SIZE` answers are kept (the least recently used goes first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from mockserver.emulation.fake_model import Memo
from mockserver.ids import IdGenerator
from mockserver.pipeline.exchange import ApiRequest, JsonReply, MessageReply, Reply
from mockserver.pipeline.parse import Incoming, too_large
from mockserver.protocol.endpoints import BY_NAME, COUNT_TOKENS, MESSAGES_CREATE, Endpoint
from mockserver.render.headers import JSON, ResponseHeaders
from mockserver.render.plan import Frame, Plan

MEMO_SIZE = 256
MEMO_BODY = 16 * 1024
"""The largest body looked up (and so kept, with its parsed request): 256 of them stay small."""
_ENDPOINTS = {BY_NAME[name].path: BY_NAME[name] for name in (MESSAGES_CREATE, COUNT_TOKENS)}
Key = tuple[int, str, str, Any, bytes]
Found = tuple[ApiRequest, Reply, Plan]


@dataclass(frozen=True, slots=True)
class _Kept:
    """One remembered answer: its body around the Message id (``tail`` ``None``: no id)."""

    request: ApiRequest
    reply: Reply
    endpoint: Endpoint
    head: bytes
    tail: bytes | None
    output_tokens: int | None


class ReplyMemo:
    """The answers kept, by call; the composition root asks it first and tells it what the long
    way made (mockserver/root.py ``Api.handle``)."""

    def __init__(self, headers: ResponseHeaders, ids: IdGenerator, size: int = MEMO_SIZE) -> None:
        self.headers = headers
        self.ids = ids
        self._kept: Memo[_Kept] = Memo(size)

    async def lookup(self, incoming: Incoming, namespace: str, request_id: str, rules: int) -> tuple[Key | None, Found | None]:
        """What identifies this call's answer, and the answer when it is kept (then with this
        call's ids); ``rules``: the generation of the scenario rules it is answered under. The
        memo reads the body; when it does not answer, the parser reads it again from here,
        failures included. ``(None, None)``: not a call the memo answers."""
        raw_headers = incoming.raw_headers
        if raw_headers is None or incoming.method != "POST" or incoming.path not in _ENDPOINTS:
            return None, None
        headers = incoming.headers
        length = headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MEMO_BODY or "Content-Encoding" in headers:
            return None, None
        incoming.chunks = None  # the parser reads the body through ``read`` from now on
        try:
            body = await incoming.read(MEMO_BODY)
        except Exception as error:  # the parser meets it where it would have (after its checks)
            incoming.read = _failing(error)
            return None, None
        key = rules, namespace, incoming.raw_target, raw_headers, body
        kept = self._kept.get(key)
        if kept is None:
            incoming.read = _again(body)
            return key, None
        return key, self._answer(kept, request_id)

    def _answer(self, kept: _Kept, request_id: str) -> Found:
        """The remembered request and reply, and a plan with this answer's ids."""
        body = kept.head if kept.tail is None else b"".join((kept.head, self.ids.message().encode(), kept.tail))
        lines, constant, headers = self.headers.serialized(request_id, kept.endpoint, None)
        headers["Content-Type"] = JSON
        plan = Plan(200, headers, [Frame(body)], length=len(body), ours=True, output_tokens=kept.output_tokens)
        plan.constant = (lines, constant)
        return kept.request, kept.reply, plan

    def remember(self, key: Key, request: ApiRequest | None, reply: Reply, plan: Plan) -> None:
        """Keep what the long way made of ``key``'s call, when it may be answered again."""
        if request is None or not reply.pure or not self._kept.seen(key):  # the first time, only its hash
            return
        if (
            reply.faults is not None or reply.observers or reply.headers
            or reply.limit_headers is not None or request.stream or plan.constant is None or plan.status != 200
            or plan.wait or plan.reset or plan.paced or plan.notes or not isinstance(plan.frames, list) or len(plan.frames) != 1
        ):
            return
        endpoint = _ENDPOINTS.get(request.path)
        frame = plan.frames[0]
        if endpoint is None or endpoint.name != request.endpoint or not isinstance(frame, Frame):
            return
        head, tail = frame.raw, None
        if isinstance(reply, MessageReply):
            head, found, tail = frame.raw.partition(reply.message["id"].encode())
            if not found or found in tail:
                return
        elif not isinstance(reply, JsonReply):
            return
        self._kept.keep(key, _Kept(request, reply, endpoint, head, tail, plan.output_tokens), len(key[4]) + len(frame.raw))


def _again(body: bytes) -> Callable[[int], Awaitable[bytes]]:
    async def read(limit: int) -> bytes:
        if len(body) > limit:
            raise too_large()
        return body

    return read


def _failing(error: Exception) -> Callable[[int], Awaitable[bytes]]:
    async def read(limit: int) -> bytes:
        raise error

    return read

"""The fake model: validate a Messages body, then answer it, deterministically.

Both steps are pure functions of the body (and the seed), so a bounded memo keyed by the raw
request bytes lets repeated requests (a test suite's fixtures, a benchmark, polling loops) skip
them. Only what must be fresh per reply is made per reply: ids, a code execution container and a
fetch's ``retrieved_at`` (from the clock), and (with prompt caching) usage.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mockserver.clock import Clock, SystemClock
from mockserver.ids import IdGenerator
from mockserver.protocol.catalog import ModelEntry
from mockserver.protocol.message import build_message, build_usage, fed_back_tokens
from mockserver.protocol.tokens import Files, RequestTokens
from mockserver.protocol.validate import Rules
from mockserver.emulation.server_tools import container_for, issue, needs_issuing, requested_container, runs_code, server_usage
from mockserver.emulation.synth import Synthesizer

MEMO_SIZE = 1024
MEMO_BYTES = 16 * 1024 * 1024
"""Request bytes a memo's kept answers may be keyed by, in all: the key holds the whole body
(and a draft its parsed form), so the count alone would let 1024 large bodies, each sent twice,
hold gigabytes."""
V = TypeVar("V")


class Memo(Generic[V]):
    """The latest ``size`` answers by key, the least recently used going first.

    An answer is kept from the second time its key is seen; the first time only the key's hash
    is remembered (among the latest ``size``). Traffic whose requests never repeat (every prompt
    different) then keeps no answers it will not use, and does not pay to drop them again. The
    answers kept cost at most ``max_bytes`` in all (each costs what its caller says: its request's
    size), and one that costs more than a quarter of that is not kept."""

    def __init__(self, size: int, max_bytes: int = MEMO_BYTES) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[Any, ...], tuple[V, int]] = OrderedDict()
        self._seen: OrderedDict[int, None] = OrderedDict()  # hashes of keys seen once
        self._bytes = 0

    def get(self, key: tuple[Any, ...]) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)
        return found[0]

    def put(self, key: tuple[Any, ...], value: V, cost: int = 0) -> None:
        if self.seen(key):
            self.keep(key, value, cost)

    def seen(self, key: tuple[Any, ...]) -> bool:
        """Whether ``key`` came before, so that its answer is worth keeping; the first time,
        only remember that it came (callers then need not even make the answer to keep)."""
        digest = hash(key)
        if digest not in self._seen:
            self._seen[digest] = None
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return False
        del self._seen[digest]
        return True

    def keep(self, key: tuple[Any, ...], value: V, cost: int = 0) -> None:
        if cost > self.max_bytes // 4:
            return
        items = self._items
        old = items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        items[key] = (value, cost)
        self._bytes += cost
        while len(items) > self.size or self._bytes > self.max_bytes:
            self._bytes -= items.popitem(last=False)[1][1]


@dataclass(frozen=True, slots=True)
class Draft:
    """A validated body and the fake model's answer to it, before ids are issued.

    ``template`` is the finished Message with empty ids; replies copy it and fill them in.
    ``fed_back`` is the input a server tool loop added to the request's (docs/default-responder.md).
    """

    body: dict[str, Any]
    model: ModelEntry
    tokens: RequestTokens
    template: dict[str, Any]
    needs_ids: bool
    fed_back: int = 0
    runs_code: bool = False

    @property
    def content(self) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = self.template["content"]
        return content


class FakeModel:
    def __init__(self, rules: Rules, synth: Synthesizer, memo_size: int = MEMO_SIZE, clock: Clock | None = None) -> None:
        self.rules = rules
        self.synth = synth
        self.clock: Clock = clock or SystemClock()
        self._drafts: Memo[Draft] = Memo(memo_size)
        self._counts: Memo[int] = Memo(memo_size)

    def draft(
        self, body: Any, *, version: str | None, beta: bool, raw: bytes | None = None, batch_item: bool = False,
        files: Files | None = None,
    ) -> Draft:
        """Validate (raising the API's error; a batch item also by the batch's own rules) and
        answer; ``raw`` bytes, when given, key the memo (with the stored files the body names,
        whose state is part of the answer)."""
        key = (version, beta, batch_item, raw, tuple(sorted(files.items())) if files else None) if raw else None
        if key is not None and (hit := self._drafts.get(key)) is not None:
            return hit
        check = self.rules.batch_item if batch_item else self.rules.messages
        checked = check(body, version=version, beta=beta, files=files)
        generated = self.synth.generate(checked.body)
        content = generated.content
        needs_ids = needs_issuing(content)  # no tool call or result (most replies): nothing to run, count or feed back
        if needs_ids:
            fed_back, code, tool_usage = fed_back_tokens(content), runs_code(content), server_usage(content)
        else:
            fed_back, code, tool_usage = 0, False, None
        usage = build_usage(
            input_tokens=checked.tokens.total + fed_back,
            output_tokens=generated.output_tokens,
            thinking_tokens=generated.thinking_tokens,
            server_tool_use=tool_usage,
        )
        template = build_message(
            id="",
            model=checked.model.id,
            content=content,
            stop_reason=generated.stop_reason,
            stop_sequence=generated.stop_sequence,
            usage=usage,
            container={"id": "", "expires_at": ""} if code else None,
        )
        draft = Draft(
            body=checked.body,
            model=checked.model,
            tokens=checked.tokens,
            template=template,
            needs_ids=needs_ids,
            fed_back=fed_back,
            runs_code=code,
        )
        if key is not None and raw is not None:
            self._drafts.put(key, draft, len(raw))
        return draft

    def count_tokens(self, body: Any, *, version: str | None, beta: bool, raw: bytes | None = None, files: Files | None = None) -> int:
        """Validate a count_tokens body and count it, memoised by its bytes (``raw``) as :meth:`draft` is."""
        key = (version, beta, raw, tuple(sorted(files.items())) if files else None) if raw else None
        if key is not None and (counted := self._counts.get(key)) is not None:
            return counted
        counted = self.rules.count_tokens(body, version=version, beta=beta, files=files).tokens.total
        if key is not None and raw is not None:
            self._counts.put(key, counted, len(raw))
        return counted

    def message(self, draft: Draft, ids: IdGenerator, *, usage: dict[str, Any] | None = None) -> dict[str, Any]:
        """A fresh Message for ``draft``: its own ``msg_`` id, ``toolu_``/``srvtoolu_``/``mcptoolu_``
        ids and container (the template, shared between replies, is never mutated)."""
        message = dict(draft.template)
        message["id"] = ids.message()
        if draft.needs_ids:
            message["content"] = issue(draft.content, ids, self.clock.now())
        if draft.runs_code:
            message["container"] = container_for(requested_container(draft.body), ids, self.clock.now())
        if usage is not None:
            message["usage"] = usage
        return message

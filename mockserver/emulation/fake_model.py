"""The fake model: validate a Messages body, then answer it, deterministically.

Both steps are pure functions of the body (and the seed), so a bounded memo keyed by the raw
request bytes lets repeated requests (a test suite's fixtures, a benchmark, polling loops) skip
them. Only what must be fresh per reply is made per reply: ids, and (with prompt caching) usage.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from mockserver.ids import IdGenerator
from mockserver.protocol.catalog import ModelEntry
from mockserver.protocol.message import build_message, build_usage
from mockserver.protocol.tokens import Files, RequestTokens
from mockserver.protocol.validate import Rules
from mockserver.emulation.synth import Synthesizer

MEMO_SIZE = 1024


@dataclass(frozen=True, slots=True)
class Draft:
    """A validated body and the fake model's answer to it, before ids are issued.

    ``template`` is the finished Message with empty ids; replies copy it and fill them in.
    """

    body: dict[str, Any]
    model: ModelEntry
    tokens: RequestTokens
    template: dict[str, Any]
    has_tool_use: bool

    @property
    def content(self) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = self.template["content"]
        return content


class FakeModel:
    def __init__(self, rules: Rules, synth: Synthesizer, memo_size: int = MEMO_SIZE) -> None:
        self.rules = rules
        self.synth = synth
        self.memo_size = memo_size
        self._memo: OrderedDict[tuple[Any, ...], Draft] = OrderedDict()

    def draft(
        self, body: Any, *, version: str | None, beta: bool, raw: bytes | None = None, batch_item: bool = False,
        files: Files | None = None,
    ) -> Draft:
        """Validate (raising the API's error; a batch item also by the batch's own rules) and
        answer; ``raw`` bytes, when given, key the memo (with the stored files the body names,
        whose state is part of the answer)."""
        key = (version, beta, batch_item, raw, tuple(sorted(files.items())) if files else None) if raw else None
        if key is not None:
            hit = self._memo.get(key)
            if hit is not None:
                self._memo.move_to_end(key)
                return hit
        check = self.rules.batch_item if batch_item else self.rules.messages
        checked = check(body, version=version, beta=beta, files=files)
        generated = self.synth.generate(checked.body)
        usage = build_usage(
            input_tokens=checked.tokens.total,
            output_tokens=generated.output_tokens,
            thinking_tokens=generated.thinking_tokens,
        )
        template = build_message(
            id="",
            model=checked.model.id,
            content=generated.content,
            stop_reason=generated.stop_reason,
            stop_sequence=generated.stop_sequence,
            usage=usage,
        )
        draft = Draft(
            body=checked.body,
            model=checked.model,
            tokens=checked.tokens,
            template=template,
            has_tool_use=any(block["type"] == "tool_use" for block in generated.content),
        )
        if key is not None:
            self._memo[key] = draft
            if len(self._memo) > self.memo_size:
                self._memo.popitem(last=False)
        return draft

    def message(self, draft: Draft, ids: IdGenerator, *, usage: dict[str, Any] | None = None) -> dict[str, Any]:
        """A fresh Message for ``draft``: its own ``msg_`` id and ``toolu_`` ids (the template,
        shared between replies, is never mutated)."""
        message = dict(draft.template)
        message["id"] = ids.message()
        if draft.has_tool_use:
            message["content"] = [
                dict(block, id=ids.tool_use()) if block["type"] == "tool_use" else block for block in draft.content
            ]
        if usage is not None:
            message["usage"] = usage
        return message

"""The answer half of a rule: reply, error, raw stream, JSON body, pass-through, or a sequence.

Each action turns one matched request into a :class:`~mockserver.pipeline.exchange.Reply` (or
``None`` to let the request fall through to later rules). Replies are the pipeline's ordinary
reply types, so rendering (JSON or SSE, with faults) treats scripted answers exactly like the
emulated ones. ``passthrough`` is ``await next(request)``: the rest of the chain answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mockserver.clock import Clock, SystemClock
from mockserver.emulation.server_tools import container_for, requested_container, runs_code
from mockserver.emulation.stage import FileLookup, resolve_files
from mockserver.faults.spec import Faults
from mockserver.pipeline.exchange import ErrorReply, EventsReply, JsonReply, MessageReply, Next, Reply, SseEvent
from mockserver.protocol.endpoints import BEDROCK_COUNT_TOKENS, COUNT_TOKENS, LIKE, MESSAGES_CREATE
from mockserver.protocol.errors import ApiError
from mockserver.protocol.message import build_message, build_usage, fed_back_tokens
from mockserver.protocol.platforms import platform_error_message
from mockserver.scenarios.blocks import instantiate, output_usage

if TYPE_CHECKING:
    from mockserver.cache.prompt_cache import PromptCache
    from mockserver.emulation.synth import Synthesizer
    from mockserver.ids import IdGenerator
    from mockserver.protocol.validate import Rules
    from mockserver.scenarios.matchers import RequestView

MESSAGE_ENDPOINTS = frozenset(name for name, kind in LIKE.items() if kind in (MESSAGES_CREATE, COUNT_TOKENS))
"""The endpoints a Message reply answers: Messages and count_tokens, behind any door."""
THEN = ("repeat_last", "fallthrough", "cycle")


@dataclass(frozen=True)
class Toolkit:
    """What scripted replies are built with: the same validation, ids, signatures and prompt
    cache as emulated answers, so a scripted Message is checked and counted like one."""

    rules: "Rules"
    ids: "IdGenerator"
    synth: "Synthesizer"
    prompt_cache: "PromptCache"
    clock: Clock = field(default_factory=SystemClock)
    files: FileLookup | None = None
    """Looks up the stored files a body names by ``file_id`` (checked and counted as emulated)."""


@dataclass
class Action:
    faults: Faults | None = field(default=None, kw_only=True)

    async def run(self, view: "RequestView", kit: Toolkit, next: Next) -> Reply | None:
        raise NotImplementedError


@dataclass
class ReplyAction(Action):
    """A Message built from scripted blocks; the request is validated first, as the API would."""

    content: list[dict[str, Any]]
    stop_reason: str | None = None
    stop_sequence: str | None = None
    stop_details: dict[str, Any] | None = None
    container: dict[str, Any] | None = None
    model: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)

    def default_stop_reason(self) -> str:
        return "tool_use" if any(b.get("type") == "tool_use" for b in self.content) else "end_turn"

    def build(
        self, content: list[dict[str, Any]], model: str, usage: dict[str, Any], message_id: str, *, container: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        for key, value in self.usage.items():
            usage[key] = value
        if "cache_creation_input_tokens" in self.usage and "cache_creation" not in self.usage:
            usage["cache_creation"] = {"ephemeral_5m_input_tokens": self.usage["cache_creation_input_tokens"], "ephemeral_1h_input_tokens": 0}
        return build_message(
            id=message_id,
            model=self.model or model,
            content=content,
            stop_reason=self.stop_reason or self.default_stop_reason(),
            stop_sequence=self.stop_sequence,
            stop_details=self.stop_details,
            container=self.container if container is None else container,
            usage=usage,
        )

    async def run(self, view: "RequestView", kit: Toolkit, next: Next) -> Reply | None:
        api = view.api
        files = await resolve_files(kit.files, api)
        if api.kind == COUNT_TOKENS:
            checked = kit.rules.count_tokens(api.body, version=api.api_version, beta=api.beta, files=files)
            tokens = int(self.usage.get("input_tokens", checked.tokens.total))
            return JsonReply(body={"inputTokens": tokens} if api.endpoint == BEDROCK_COUNT_TOKENS else {"input_tokens": tokens})
        if api.custom_id is not None:  # a batch item: the batch's rules apply too
            checked = kit.rules.batch_item(api.body, version=api.api_version, beta=api.beta, files=files)
        else:
            checked = kit.rules.messages(api.body, version=api.api_version, beta=api.beta, files=files)
        content = instantiate(self.content, kit.ids, kit.synth)
        output, thinking, server = output_usage(content)
        fed_back = fed_back_tokens(content)  # server tool results are input, as for the fake model
        usage = build_usage(
            input_tokens=checked.tokens.total + fed_back, output_tokens=output, thinking_tokens=thinking, server_tool_use=server
        )
        if checked.tokens.breakpoints:
            usage = await kit.prompt_cache.apply(checked.model, checked.body, checked.tokens, usage, api.namespace)
            usage["input_tokens"] += fed_back
        container = self.container
        if (isinstance(container, dict) and not {"id", "expires_at"} <= set(container)) or (container is None and runs_code(content)):
            # code execution always reports its container: fill in what the scenario left out
            container = {**container_for(requested_container(checked.body), kit.ids, kit.clock.now()), **(container or {})}
        message = self.build(content, checked.model.id, usage, kit.ids.message(), container=container)
        return MessageReply(message=message)


@dataclass
class ErrorAction(Action):
    status: int
    type: str | None = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] | None = None

    async def run(self, view: "RequestView", kit: Toolkit, next: Next) -> Reply | None:
        return ErrorReply(error=ApiError(self.status, self.message, type=self.type, headers=self.headers, details=self.details,
                                         default=platform_error_message(self.type)))


@dataclass
class StreamAction(Action):
    """Raw SSE, event by event, exactly as scripted (broken events included, on purpose)."""

    events: list[SseEvent]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    prepared: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """The events' bytes, worked out by the renderer on the first answer (EventsReply.prepared)."""

    async def run(self, view: "RequestView", kit: Toolkit, next: Next) -> Reply | None:
        return EventsReply(events=self.events, status=self.status, headers=dict(self.headers), prepared=self.prepared)


@dataclass
class JsonAction(Action):
    """Any JSON body with any status (models, batches, or a body the SDK should reject)."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    async def run(self, view: "RequestView", kit: Toolkit, next: Next) -> Reply | None:
        return JsonReply(body=self.body, status=self.status, headers=dict(self.headers))


@dataclass
class PassAction(Action):
    """Let the rest of the chain answer (a cassette, the emulated API …); with ``faults`` this is
    how a fault is put on an ordinary answer."""

    async def run(self, view: "RequestView", kit: Toolkit, next: Next) -> Reply | None:
        return await next(view.api)


@dataclass
class Sequence:
    """Steps taken in order, one per matching request; then repeat the last, fall through, or
    start again. Which step is due is decided by a counter the scenario stage keeps in the store."""

    steps: list[Action]
    then: str = "repeat_last"

    def step(self, n: int) -> Action | None:
        """The action of the ``n``-th matching request (from 1)."""
        if n <= len(self.steps):
            return self.steps[n - 1]
        if self.then == "repeat_last":
            return self.steps[-1]
        if self.then == "cycle":
            return self.steps[(n - 1) % len(self.steps)]
        return None

"""Faults as transforms on a rendered plan: they change how an answer arrives, never what it says.

Every reply has already become a :class:`~mockserver.render.plan.Plan` — a list of frames (the
bytes of one SSE event, or one chunk of a body) with the output tokens each carries — so each
fault here works on JSON bodies, Message streams, raw event scripts and replayed bytes alike:

- latency, and for a whole (non-streamed) answer the time its tokens take, become ``plan.wait``;
- ``reset`` becomes ``plan.reset``;
- malformed events, a mid-stream ``event: error`` and drops after N events rewrite the frames of
  a stream (skipped, with a note, on a plain body);
- pacing (``ttft``, ``tokens_per_second``) gives frames due times; ``slow_body`` cuts frames into
  delayed chunks; ``drop_after_bytes`` cuts the bytes and ends with a drop.

The writer (mockserver/render/deliver.py) only honours delays and drops.
"""

from __future__ import annotations

import random
from typing import AsyncIterator

from mockserver.faults.spec import Faults
from mockserver.pipeline.exchange import ApiRequest, ErrorReply, Reply
from mockserver.protocol.endpoints import Endpoint
from mockserver.protocol.errors import ApiError
from mockserver.render.plan import DROP, Drop, Frame, Frames, Item, Plan, each
from mockserver.render.renderer import Renderer
from mockserver.render.wire import SSE, Wire, corrupt_sse

UNKNOWN_DATA = b'{"type":"mock_unknown_event","note":"injected by mockserver"}'
UNKNOWN_EVENT = SSE.event("mock_unknown_event", UNKNOWN_DATA)


class FaultedRenderer:
    """The renderer, then the faults a reply carries; ``rng`` decides random errors (seeded, so a
    seeded run repeats)."""

    def __init__(self, renderer: Renderer, rng: random.Random) -> None:
        self.renderer = renderer
        self.rng = rng

    def render(self, request: ApiRequest | None, request_id: str, reply: Reply) -> tuple[Plan, Reply]:
        """The plan for ``reply``, and the reply it is for (an injected error may replace it)."""
        faults = reply.faults
        if faults is None:
            return self.renderer.render(request, request_id, reply), reply
        injected = injected_error(reply, faults, self.rng)
        if injected is not None:
            reply = injected
        plan = self.renderer.render(request, request_id, reply)
        if injected is not None:
            plan.notes.append(f"injected {injected.error.status} {injected.error.type}")
        return apply(plan, faults, request_id), reply

    def error(self, request_id: str, reply: ErrorReply, endpoint: Endpoint | None = None, model: str | None = None) -> Plan:
        return self.renderer.error(request_id, reply, endpoint, model)


def injected_error(reply: Reply, faults: Faults, rng: random.Random) -> ErrorReply | None:
    """``random_error``: the error that replaces ``reply`` this time, or ``None``."""
    if not faults.error_probability or rng.random() >= faults.error_probability:
        return None
    return ErrorReply(error=faults.injected_error(), origin=reply.origin, faults=reply.faults, observers=reply.observers)


def apply(plan: Plan, faults: Faults, request_id: str) -> Plan:
    """``plan`` with ``faults`` applied; notes of what happened go to ``plan.notes``."""
    notes = plan.notes
    wait = faults.latency
    if plan.output_tokens is not None:
        # A whole Message arrives at once, when its last token is written.
        tps = faults.tokens_per_second
        wait += faults.ttft + (plan.output_tokens / tps if tps else 0.0)
    plan.wait = wait
    if faults.reset:
        plan.reset = True
        return plan
    if not plan.streamed and faults.stream_only:
        notes.append("stream faults skipped: not a stream")
    frames: Frames = plan.frames
    if plan.streamed:
        if faults.stream_only:
            frames = _stream_faults(frames, faults, notes, request_id, plan.wire or SSE)
        if faults.ttft or faults.tokens_per_second:
            frames = _paced(frames, faults.ttft, faults.tokens_per_second)
            plan.paced = True
    if faults.slow_body_chunk:
        frames = _slow(frames, faults.slow_body_chunk, faults.slow_body_interval)
        plan.paced = True
    if faults.drop_after_bytes is not None:
        frames = _cut(frames, faults.drop_after_bytes, notes)
        plan.paced = True
    plan.frames = frames
    return plan


async def _stream_faults(frames: Frames, faults: Faults, notes: list[str], request_id: str, wire: Wire) -> AsyncIterator[Item]:
    """Malformed events, a mid-stream ``event: error`` (on Bedrock an exception event) and drops,
    counted in events, each framed by the plan's wire."""
    index = 0
    async for frame in each(frames):
        if isinstance(frame, Drop):
            yield frame
            return
        if faults.stream_error_after is not None and index >= faults.stream_error_after:
            notes.append(f"event: error after {index} events")
            yield _error_frame(faults, request_id, wire)
            return
        if faults.drop_after_events is not None and index >= faults.drop_after_events:
            notes.append(f"dropped after {index} events")
            yield DROP
            return
        if faults.malformed is not None and index == faults.malformed_at:
            notes.append(f"malformed event {index}: {faults.malformed}")
            if faults.malformed == "unknown_event":
                yield Frame(wire.event("mock_unknown_event", UNKNOWN_DATA))
            else:
                frame = Frame(wire.corrupt(frame.raw, faults.malformed), frame.tokens, frame.delay)
        yield frame
        index += 1
    # The stream was shorter than the fault's count: the fault happens at its end.
    if faults.stream_error_after is not None:
        notes.append(f"event: error after {index} events")
        yield _error_frame(faults, request_id, wire)
    elif faults.drop_after_events is not None:
        notes.append(f"dropped after {index} events")
        yield DROP


def _error_frame(faults: Faults, request_id: str, wire: Wire = SSE) -> Frame:
    error = ApiError(200, faults.stream_error_message, type=faults.stream_error_type)  # no message: the type's
    return Frame(wire.error_event(error, request_id))


corrupt = corrupt_sse
"""One SSE event, broken the way ``kind`` says (bad JSON, no ``event:`` line, bad UTF-8)."""


async def _paced(frames: Frames, ttft: float, tps: float) -> AsyncIterator[Item]:
    """Frames that carry output are due ``ttft`` after the headers, then one token every
    ``1 / tps`` seconds (the first token of a frame marks its time)."""
    sent = 0
    async for frame in each(frames):
        if isinstance(frame, Frame) and frame.tokens:
            frame = Frame(frame.raw, frame.tokens, frame.delay, at=ttft + (max(0, sent + frame.tokens - 1) / tps if tps else 0.0))
            sent += frame.tokens
        yield frame


async def _slow(frames: Frames, size: int, interval: float) -> AsyncIterator[Item]:
    """Each frame's bytes ``size`` at a time, ``interval`` seconds apart."""
    async for frame in each(frames):
        if isinstance(frame, Drop):
            yield frame
            continue
        for at in range(0, len(frame.raw), size):
            first = at == 0
            yield Frame(frame.raw[at : at + size], frame.tokens if first else 0, (frame.delay if first else 0.0) + interval, frame.at if first else None)


async def _cut(frames: Frames, budget: int, notes: list[str]) -> AsyncIterator[Item]:
    """The first ``budget`` bytes, then a drop."""
    total = 0
    async for frame in each(frames):
        if isinstance(frame, Drop):
            yield frame
            return
        if total + len(frame.raw) >= budget:
            piece = frame.raw[: budget - total]
            if piece:
                yield Frame(piece, frame.tokens, frame.delay, frame.at)
            notes.append(f"dropped after {budget} bytes")
            yield DROP
            return
        total += len(frame.raw)
        yield frame

"""How a scripted event stream is encoded and written: the bytes (each event as the API pads it,
from the same seeded draws whichever way it is written), one write when every event is due at
once, and event by event, each when due, when something paces it. No timing is measured: the
writer's waits are recorded instead of slept."""

from __future__ import annotations

import asyncio
import itertools
import random
import tracemalloc
from typing import Any

import pytest

from mockserver.config import Config
from mockserver.faults.spec import Faults
from mockserver.pipeline.exchange import EventsReply, SseEvent
from mockserver.protocol import sse
from mockserver.render import deliver as deliver_module
from mockserver.render import scripted
from mockserver.render.deliver import deliver
from mockserver.render.plan import Plan
from mockserver.render.wire import WIRES, SSE
from mockserver.root import Api

EVENTS = [
    SseEvent("message_start", {"type": "message_start", "message": {"id": "msg_1", "content": []}}),
    SseEvent("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    SseEvent("ping", {"type": "ping"}),
    *[
        SseEvent("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f" word{i}"}})
        for i in range(20)
    ],
    SseEvent("odd", "raw text, sent verbatim"),
    SseEvent(None, [1, 2, 3]),  # JSON that is not an object: never padded
    SseEvent("content_block_stop", {"type": "content_block_stop", "index": 0}),
    SseEvent("message_stop", {"type": "message_stop"}),
]


def old_pad(json_bytes: bytes, rng: random.Random | None) -> bytes:
    """sse.pad as it was written first (randint): the draws the fast paths must repeat."""
    if rng is None or not json_bytes.endswith(b"}"):
        return json_bytes
    n = rng.randint(1, 15) if rng.random() < 0.93 else 0
    return json_bytes[:-1] + b" " * n + b"}" if n else json_bytes


def reference(events: list[SseEvent], rng: random.Random | None) -> list[bytes]:
    """Each event encoded on its own, as the renderer encoded scripted events before the cache."""
    out = []
    for event in events:
        if isinstance(event.data, (str, bytes)):
            out.append(sse.frame(event.event, event.data))
        elif event.event == "ping" and event.data == {"type": "ping"}:
            out.append(sse.frame("ping", sse.PING_DATA))
        else:
            out.append(sse.frame(event.event, old_pad(sse.dumps(event.data), rng)))
    return out


def test_pad_width_draws_what_randint_drew() -> None:
    for seed in range(40):
        fast, slow = random.Random(seed), random.Random(seed)
        assert [sse.pad_width(fast) for _ in range(300)] == [slow.randint(1, 15) if slow.random() < 0.93 else 0 for _ in range(300)]
        assert fast.random() == slow.random()  # and left the generator in the same state


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_a_script_is_encoded_as_before_whole_or_event_by_event(seed: int) -> None:
    script = scripted.Script(scripted.prepare(EVENTS, SSE))
    expected = reference(EVENTS, random.Random(seed))
    frames = scripted.frames(script, random.Random(seed))
    assert [f.raw for f in frames] == expected
    assert scripted.joined(script, random.Random(seed)) == b"".join(expected)
    assert scripted.joined(script, None) == b"".join(reference(EVENTS, None)) == b"".join(f.raw for f in scripted.frames(script, None))
    assert sse.split(b"".join(expected)) == expected  # the boundaries are in the bytes


def test_a_held_paced_stream_keeps_its_draws_not_its_bytes() -> None:
    """A 200-delta stream paused before its second delta: rendering it and sending what is due
    before the pause holds about a byte per event (its padding widths), not the rest of the
    stream padded (26 KiB, all of it held while the stream waited); the bytes, once sent, are
    those of the events padded one by one from the same draws."""
    deltas = [SseEvent("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f" word{i}"}})
              for i in range(200)]
    deltas[1].delay = 600.0
    events = [*EVENTS[:2], *deltas, *EVENTS[-2:]]
    script = scripted.Script(scripted.prepare(events, SSE))
    tracemalloc.start()
    try:
        frames = scripted.runs(script, random.Random(4))
        first, wait = next(frames), next(frames)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert wait.raw == b"" and wait.delay == 600.0
    assert held < len(first.raw) + 2 * len(events) + 1024, held  # the rest is not made yet
    rest = list(frames)
    assert first.raw == b"".join(reference(events, random.Random(4))[:3])
    assert first.raw + b"".join(f.raw for f in rest) == b"".join(reference(events, random.Random(4)))


@pytest.mark.parametrize("platform", sorted(WIRES))
def test_every_wire_prepares_the_events_it_frames(platform: str) -> None:
    wire = WIRES[platform]
    rng = random.Random(3) if wire.pads else None
    ref_rng = random.Random(3) if wire.pads else None
    script = scripted.Script(scripted.prepare(EVENTS[:5], wire))
    expected = []
    for event in EVENTS[:5]:
        if event.event == "ping":
            expected.append(wire.ping())
        else:
            expected.append(wire.event(event.event, old_pad(sse.dumps(event.data), ref_rng)))
    assert scripted.joined(script, rng) == b"".join(expected)


# -- through the renderer and the writer ----------------------------------------------------------
class RecordingSink:
    """A sink that records what is written and when the writer waited (``pause`` patched)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []
        self.started = False

    @property
    def closed(self) -> bool:
        return False

    async def whole(self, plan: Plan, body: bytes) -> None:
        self.log.append(("whole", body))

    async def start(self, plan: Plan) -> None:
        self.started = True

    async def write(self, data: bytes) -> None:
        self.log.append(("write", data))

    async def finish(self) -> None:
        self.log.append(("finish", None))

    def abort(self, *, rst: bool) -> None:
        self.log.append(("abort", rst))

    def hangup(self) -> None:
        return None

    @property
    def writes(self) -> list[bytes]:
        return [data for kind, data in self.log if kind == "write"]


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> RecordingSink:
    recording = RecordingSink()

    async def pause(_: Any, seconds: float) -> None:
        recording.log.append(("wait", round(seconds, 2)))

    monkeypatch.setattr(deliver_module, "pause", pause)
    return recording


def render(events: list[SseEvent], faults: Faults | None = None, *, seed: int = 5, prepared: dict[str, Any] | None = None) -> Plan:
    api = Api(Config(seed=seed))
    reply = EventsReply(events=events, faults=faults, prepared=prepared)
    plan, _ = api.renderer.render(None, "req_1", reply)
    return plan


def at_once(events: list[SseEvent], seed: int = 5) -> bytes:
    """The stream a server seeded with ``seed`` sends first for ``events`` (nothing paced)."""
    plan = render(events, seed=seed)
    assert isinstance(plan.frames, list) and len(plan.frames) == 1
    return plan.frames[0].raw  # type: ignore[union-attr]


async def test_events_due_at_once_go_out_in_one_write_byte_for_byte(sink: RecordingSink) -> None:
    plan = render(EVENTS)
    assert not plan.paced and plan.streamed
    outcome = await deliver(plan, sink)
    assert len(sink.writes) == 1 and not any(kind == "wait" for kind, _ in sink.log)
    assert outcome.raw == sink.writes[0] and outcome.streamed
    # the same bytes as the events written one by one (a fault that changes nothing makes it so)
    one_by_one = RecordingSink()
    await deliver(render(EVENTS, Faults(drop_after_events=len(EVENTS) + 1)), one_by_one)
    assert one_by_one.writes == sse.split(sink.writes[0]) and len(one_by_one.writes) == len(EVENTS)


async def test_the_cache_changes_nothing_on_the_wire() -> None:
    cache: dict[str, Any] = {}
    first = render(EVENTS, prepared=cache)
    again = render(EVENTS, prepared=cache)  # a fresh server with the same seed, the script's cache warm
    assert cache and first.frames == again.frames == render(EVENTS).frames


async def test_scripted_delays_send_each_run_of_events_when_due_in_one_write(sink: RecordingSink) -> None:
    events = [SseEvent("a", {"n": 1}), SseEvent("b", {"n": 2}, delay=0.25), SseEvent("c", {"n": 3}), SseEvent("d", {"n": 4}, delay=0.5)]
    plan = render(events)
    assert plan.paced
    await deliver(plan, sink)
    log = [(kind, value if kind != "write" else names(value)) for kind, value in sink.log]
    # "c" has no delay of its own: it is due with "b", and goes out in the same write
    assert log == [("write", ["a"]), ("wait", 0.25), ("write", ["b", "c"]), ("wait", 0.5), ("write", ["d"]), ("finish", None)]
    assert b"".join(sink.writes) == at_once([SseEvent(e.event, e.data) for e in events])


def names(data: bytes) -> list[str | None]:
    return [sse.canonical(event)[0] for event in sse.split(data)]  # type: ignore[index]


@pytest.mark.parametrize("seed", range(6))
async def test_no_event_of_a_paced_script_goes_out_before_it_is_due(sink: RecordingSink, seed: int) -> None:
    """Each event is due when the delays up to it have passed (the writer's clock is the waits it
    made); every event is written then, with the events due at the same instant, and the bytes
    are those of the events written one by one, from the same padding draws."""
    draw = random.Random(seed)
    events = [SseEvent(e.event, e.data, delay=draw.choice([0, 0, 0, 0.1, 0.3]) if i else 0) for i, e in enumerate(EVENTS)]
    events[draw.randrange(1, len(events))].delay = 0.2  # paced, whatever the draws
    plan = render(events, seed=seed)
    await deliver(plan, sink)
    now, written = 0.0, []
    for kind, value in sink.log:
        if kind == "wait":
            now += value
        elif kind == "write":
            written += [(now, event) for event in sse.split(value)]
    due = list(itertools.accumulate(e.delay for e in events))
    assert [at for at, _ in written] == pytest.approx(due)  # not before, and not after either
    writes_expected = 1 + sum(1 for e in events[1:] if e.delay)
    assert len(sink.writes) == writes_expected
    one_by_one = RecordingSink()
    await deliver(render(events, Faults(drop_after_events=len(events) + 1), seed=seed), one_by_one)
    assert [event for _, event in written] == one_by_one.writes
    assert b"".join(sink.writes) == at_once([SseEvent(e.event, e.data) for e in events], seed=seed)


async def test_token_pacing_still_times_each_delta(sink: RecordingSink) -> None:
    plan = render(EVENTS, Faults(ttft=1.0, tokens_per_second=10))
    await deliver(plan, sink)
    waits = [value for kind, value in sink.log if kind == "wait"]
    assert len(waits) == 20 and 1.0 <= waits[0] < waits[1] < waits[-1]  # one wait per delta, each later
    assert len(sink.writes) == len(EVENTS)  # every event its own write
    assert b"".join(sink.writes) == at_once(EVENTS)


async def test_a_drop_after_events_still_counts_events(sink: RecordingSink) -> None:
    plan = render(EVENTS, Faults(drop_after_events=4))
    outcome = await deliver(plan, sink)
    assert len(sink.writes) == 4 and sink.log[-1] == ("abort", False)
    assert outcome.raw == b"".join(sse.split(at_once(EVENTS))[:4])


# -- a Message's stream (the fake model's, no scenario) -------------------------------------------
MESSAGES = [
    {"id": "msg_a", "type": "message", "role": "assistant", "model": "m", "stop_reason": "end_turn", "stop_sequence": None,
     "content": [{"type": "text", "text": "Hello there! " * 30}], "usage": {"input_tokens": 5, "output_tokens": 90}},
    {"id": "msg_b", "type": "message", "role": "assistant", "model": "m", "stop_reason": "tool_use", "stop_sequence": None,
     "content": [{"type": "thinking", "thinking": "Let me think " * 10, "signature": "sig"},
                 {"type": "text", "text": "Checking.", "citations": [{"type": "char_location", "cited_text": "x"}]},
                 {"type": "tool_use", "id": "toolu_1", "name": "get", "input": {"city": "Paris", "n": [1, 2, 3]}}],
     "usage": {"input_tokens": 5, "output_tokens": 40}},
    {"id": "msg_c", "type": "message", "role": "assistant", "model": "m", "stop_reason": "end_turn", "stop_sequence": None,
     "content": [], "usage": {"input_tokens": 5, "output_tokens": 0}},
]


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m["id"])
def test_a_message_stream_encoded_at_once_is_its_events_encoded_one_by_one(message: dict[str, Any], seed: int) -> None:
    events = sse.message_events(message, random.Random(seed))
    one_rng, all_rng = random.Random(seed + 1), random.Random(seed + 1)
    assert sse.encode_all(events, all_rng) == b"".join(e.encode(one_rng) for e in events)
    assert all_rng.random() == one_rng.random()  # the same draws
    assert sse.encode_all(events, None) == b"".join(e.encode(None) for e in events)


@pytest.mark.parametrize("platform", sorted(WIRES))
@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m["id"])
def test_the_renderer_sends_a_message_stream_whole_as_it_sends_it_event_by_event(platform: str, message: dict[str, Any]) -> None:
    renderer = Api(Config(seed=9)).renderer.renderer
    wire = WIRES[platform]
    whole = renderer._message_frames(wire.message(message), wire, whole=True)
    each_event = renderer._message_frames(wire.message(message), wire)
    assert len(whole) == 1 and len(each_event) >= 3
    assert whole[0].raw == b"".join(f.raw for f in each_event)


async def test_a_pause_waits_on_the_hangup_instead_of_polling() -> None:
    """With a sink that says when its client leaves, a pause looks at ``closed`` only after the
    wait (a held stream costs no wake-ups), and ends as soon as the client is gone."""
    from mockserver.render.deliver import pause

    class Watched(RecordingSink):
        def __init__(self) -> None:
            super().__init__()
            self.looks = 0
            self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        @property
        def closed(self) -> bool:
            self.looks += 1
            return self.lost.done()

        def hangup(self) -> asyncio.Future[None]:  # type: ignore[override]
            return self.lost

    sink = Watched()
    asyncio.get_running_loop().call_later(0.1, sink.lost.set_result, None)
    with pytest.raises(ConnectionResetError):
        await pause(sink, 30)
    assert sink.looks <= 1
    quiet = Watched()
    await pause(quiet, 0.05)  # nobody left: the pause simply ends
    assert quiet.looks <= 1

"""A scripted event stream (an :class:`~mockserver.pipeline.exchange.EventsReply`) as frames,
with the work done once per script rather than once per request.

Encoding a scripted event (JSON, framing, the tokens it carries) gives the same bytes every time;
only the SSE padding differs between answers, and it is drawn per request from the wire's seeded
rng exactly as :func:`mockserver.protocol.sse.pad` draws it (the same draws, in the same order,
for the same events), so a seeded run sends the very bytes it sent before this cache existed.
The cache lives on the scenario action that owns the script (``EventsReply.prepared``); a reply
without one (a completion's stream, built per call) is prepared for that one answer.
"""

from __future__ import annotations

import itertools
import random
from typing import Any, Iterator, Sequence

from mockserver.pipeline.exchange import EventsReply, SseEvent
from mockserver.protocol import sse
from mockserver.protocol.tokens import count_text
from mockserver.render.plan import Frame
from mockserver.render.wire import Wire

SPACES = tuple(b" " * n for n in range(sse.MAX_PAD + 1))

Prepared = tuple[bytes, bytes | None, int, float]
"""One event: ``(head, tail, tokens, delay)``. ``tail is None``: ``head`` is the whole event (no
padding); otherwise the event is ``head + padding + tail``."""


def prepare(events: Sequence[SseEvent], wire: Wire) -> list[Prepared]:
    """Everything about ``events`` on ``wire`` that does not change from answer to answer."""
    out: list[Prepared] = []
    for event in events:
        data, tokens, delay = event.data, event_tokens(event), float(event.delay)
        if isinstance(data, (str, bytes)):  # verbatim, so a script can send broken events on purpose
            out.append((wire.event(event.event, data.encode() if isinstance(data, str) else data), None, tokens, delay))
        elif event.event == "ping" and data == {"type": "ping"}:
            out.append((wire.ping(), None, tokens, delay))
        else:
            payload = sse.dumps(data)
            whole = wire.event(event.event, payload)
            if not wire.pads or not payload.endswith(b"}"):  # no padding drawn (sse.pad's rule)
                out.append((whole, None, tokens, delay))
                continue
            # The padding goes right before the data's closing brace; a padding wire frames the
            # data verbatim (as SSE does), so the event splits there.
            at = whole.rfind(payload)
            head, tail = whole[: at + len(payload) - 1], whole[at + len(payload) - 1 :]
            if at < 0 or wire.event(event.event, payload[:-1] + b" }") != head + b" " + tail:
                raise TypeError(f"{type(wire).__name__} pads, so it must frame event data verbatim")
            out.append((head, tail, tokens, delay))
    return out


class Script:
    """A script's events on one wire, prepared: per event (for faults), cut into the runs that are
    due at the same instant (to pace it: one write per run), and as the whole stream (to answer
    all of it at once); the runs and the whole are cut at their padding slots."""

    __slots__ = ("events", "glue", "paced", "runs")

    def __init__(self, events: list[Prepared]) -> None:
        self.events = events
        self.paced = any(delay for _, _, _, delay in events)
        """Some event carries a delay: the stream is written run by run, each when due."""
        self.glue = _glue(events)
        """The stream is ``glue[0] + padding + glue[1] + padding + ... + glue[-1]``."""
        runs: list[tuple[float, int, list[bytes]]] = []
        if self.paced:
            start = 0
            for i in range(1, len(events) + 1):
                if i == len(events) or events[i][3]:
                    run = events[start:i]
                    runs.append((run[0][3], sum(tokens for _, _, tokens, _ in run), _glue(run)))
                    start = i
        self.runs = runs
        """Paced: ``(delay, tokens, glue)`` per run of events due together: an event with a delay
        and the events without one that follow it (the first event starts the first run)."""


def _glue(events: list[Prepared]) -> list[bytes]:
    """``events`` joined, cut at their padding slots."""
    glue: list[bytes] = []
    run: list[bytes] = []
    for head, tail, _, _ in events:
        run.append(head)
        if tail is not None:
            glue.append(b"".join(run))
            run = [tail]
    glue.append(b"".join(run))
    return glue


def script_for(reply: EventsReply, wire: Wire) -> Script:
    """``reply``'s events on ``wire``, prepared; from the script's cache when it has one."""
    cache = reply.prepared
    if cache is None:
        return Script(prepare(reply.events, wire))
    found: Script | None = cache.get(wire.platform)
    if found is None:
        found = cache[wire.platform] = Script(prepare(reply.events, wire))
    return found


def frames(script: Script, rng: random.Random | None) -> list[Frame]:
    """One frame per event (faults count them, pacing times them). ``rng``: the padding's, or
    ``None`` for none."""
    if rng is None:
        return [Frame(head if tail is None else head + tail, tokens, delay) for head, tail, tokens, delay in script.events]
    pad_width = sse.pad_width
    return [
        Frame(head if tail is None else head + SPACES[pad_width(rng)] + tail, tokens, delay)
        for head, tail, tokens, delay in script.events
    ]


def joined(script: Script, rng: random.Random | None) -> bytes:
    """All the events as one body: the bytes of :func:`frames` joined, from the same draws."""
    glue = script.glue
    return _spaced(glue, None if rng is None else _widths(len(glue) - 1, rng))


def runs(script: Script, rng: random.Random | None) -> Iterator[Frame]:
    """A paced script as one frame per run of events due together (:attr:`Script.runs`): the
    bytes of :func:`frames` joined run by run, from the same draws; each run's delay is its first
    event's. Nothing counts events here (a fault that does gets :func:`frames`).

    A paced stream may be held open for minutes, so it keeps the shared script, its padding
    widths (drawn now, a byte per event) and a place in the script, not its padded bytes (a
    200-delta stream's were 26 KiB per open stream): a run's wait is a frame of its own, and the
    run is joined once the wait is over."""
    widths = None if rng is None else _widths(len(script.glue) - 1, rng)  # the runs' slots are the whole's
    return _due(script.runs, widths)


def _due(runs: Sequence[tuple[float, int, list[bytes]]], widths: bytes | None) -> Iterator[Frame]:
    start = 0
    for delay, tokens, glue in runs:
        if delay:
            yield Frame(b"", 0, delay)
        yield Frame(_spaced(glue, widths, start), tokens)
        start += len(glue) - 1


def _widths(slots: int, rng: random.Random) -> bytes:
    """A padding width for each of ``slots`` slots, drawn as :func:`sse.pad_width` draws them."""
    out = bytearray(slots)
    draw, bits = rng.random, rng.getrandbits
    for slot in range(slots):
        if draw() < sse.PADDED_SHARE:  # sse.pad_width, inline: a stream has hundreds of these
            width = bits(4)
            while width >= sse.MAX_PAD:
                width = bits(4)
            out[slot] = width + 1
    return bytes(out)


def _spaced(glue: list[bytes], widths: bytes | None, start: int = 0) -> bytes:
    """``glue`` joined with ``widths[start:]`` spaces in its slots (none: no padding)."""
    if widths is None or len(glue) == 1:
        return b"".join(glue)
    parts = [glue[0]]
    append = parts.append
    for width, piece in zip(widths[start : start + len(glue) - 1], itertools.islice(glue, 1, None)):
        if width:
            append(SPACES[width])
        append(piece)
    return b"".join(parts)


def event_tokens(event: SseEvent) -> int:
    """Output tokens a scripted event carries (for pacing): the text of its delta."""
    data: Any = event.data
    if not isinstance(data, dict) or data.get("type") != "content_block_delta":
        return 0
    delta = data.get("delta")
    if not isinstance(delta, dict):
        return 0
    text = delta.get("text") or delta.get("thinking") or ""
    if isinstance(text, str) and text:
        return count_text(text)
    return 1 if delta.get("partial_json") else 0

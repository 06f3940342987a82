"""What goes on the wire, before it goes: a :class:`Plan` is a status, headers and a sequence of
:class:`Frame` s (one SSE event, one JSON body, one JSONL chunk, one replayed chunk …).

Every reply is rendered into a plan once (:mod:`.renderer`); faults are transforms on plans and
frames (mockserver/faults/); a :class:`Sink` (an aiohttp response, an in-process httpx stream)
writes it (:mod:`.deliver`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Protocol, Union

from multidict import CIMultiDict

if TYPE_CHECKING:
    from mockserver.render.wire import Wire


@dataclass(slots=True)
class Frame:
    raw: bytes
    tokens: int = 0
    """Output tokens it carries (pacing spreads them over time)."""
    delay: float = 0.0
    """Seconds to wait before it goes out (a scripted delay, a slow body's interval)."""
    at: float | None = None
    """When it is due, in seconds after the headers went out (pacing); ``None``: at once."""


class Drop:
    """A marker frame: close the connection here, mid-response."""

    __slots__ = ()


DROP = Drop()
Item = Union[Frame, Drop]
Frames = Union[Iterable[Item], AsyncIterator[Item]]


async def each(frames: Frames) -> AsyncGenerator[Item, None]:
    """The frames one by one, whichever kind of iterable holds them; closing this closes theirs
    (a relaying generator learns at once that nobody reads it any more)."""
    if isinstance(frames, Iterable):
        for item in frames:
            yield item
        return
    try:
        async for item in frames:
            yield item
    finally:
        await close(frames)


async def close(body: object) -> None:
    """Close a body read as it goes (an async generator, or anything with ``aclose``)."""
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()


@dataclass(slots=True)
class Plan:
    status: int
    headers: CIMultiDict[str]
    frames: Frames
    streamed: bool = False
    """An event stream (written as frames arrive), as opposed to one body."""
    length: int | None = None
    """The body's size when known up front (sent as ``Content-Length``); ``None``: chunked."""
    reason: str | None = None
    wait: float = 0.0
    """Seconds before the status line (latency faults)."""
    reset: bool = False
    """Reset the connection instead of answering."""
    paced: bool = False
    """Some frame carries a delay: write frame by frame, each when due."""
    notes: list[str] = field(default_factory=list)
    """What faults did to it (the journal's ``faults``)."""
    ours: bool = False
    """A body this server wrote (not recorded bytes): a transport may compress it, and sends a
    success chunked, as the real API's edge does (docs/protocol.md)."""
    output_tokens: int | None = None
    """For a whole (non-streamed) Message: its output tokens (a pacing fault times it by them)."""
    keep: int | None = None
    """Bytes of the body kept for the journal (the rest is written, not kept); ``None``: all."""
    constant: "tuple[bytes, CIMultiDict[str]] | None" = None
    """Constant headers not in ``headers``: serialized once for many responses, and the same as
    a multidict for writers that cannot splice bytes (mockserver/http/preserialized.py)."""
    wire: "Wire | None" = None
    """How the door frames events and errors (render/wire.py); ``None``: the first-party SSE."""
    source: "AsyncIterable[bytes] | None" = None
    """The reply's own body when it is read as it goes (an upstream's answer being relayed, a
    stored file, a paced replay): delivery closes it when it ends, whether it read it to the end, part
    of it or none of it (a client gone before the headers, a reset), so what it holds (the
    upstream connection) is given back at once (:func:`mockserver.render.deliver.deliver`)."""
    watch: bool = False
    """``source`` may say nothing for a while (an upstream being relayed, a paced replay): while
    waiting for its next piece, delivery also watches for the client going away. A stored file or
    an unpaced replay is never silent, so its pieces are awaited directly (no task per piece)."""


class Sink(Protocol):
    """Where a plan is written: the HTTP edge's response, or an in-process transport's stream."""

    @property
    def closed(self) -> bool:
        """The client has gone away."""
        ...

    async def whole(self, plan: Plan, body: bytes) -> None:
        """Answer with one body (status, headers and all)."""
        ...

    async def start(self, plan: Plan) -> None:
        """Send the status line and headers."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def finish(self) -> None:
        """Everything was written (not called after a drop or a disconnect)."""
        ...

    def abort(self, *, rst: bool) -> None:
        """Close the connection now (``rst``: a TCP reset)."""
        ...

    def hangup(self) -> asyncio.Future[None] | None:
        """Done once the client has gone away, for a pause to wait on; ``None``: the sink cannot
        tell, and a pause polls :attr:`closed` instead."""
        ...

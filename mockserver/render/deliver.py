"""Write a plan to a sink, honouring its waits, due times and drops; report what went out.

The same code serves the HTTP edge and the in-process transport: a sink only knows how to start
a response, write bytes, abort and tell whether the client is still there.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncGenerator, AsyncIterator

from mockserver.pipeline.exchange import Outcome
from mockserver.render.plan import Drop, Frame, Frames, Item, Plan, Sink, close, each

DISCONNECTED = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)
POLL_SECONDS = 0.02  # how often a pause checks that the client is still there


async def pause(sink: Sink, seconds: float) -> None:
    """Sleep, but stop as soon as the client hangs up (raising ``ConnectionResetError``), so a
    client that timed out does not leave a long fault running into the next test. A pause longer
    than :data:`POLL_SECONDS` waits on the client's leaving where the sink can tell it (a thousand
    held streams cost nothing while they wait); otherwise it looks every :data:`POLL_SECONDS`."""
    if seconds <= POLL_SECONDS:  # a short pause just sleeps: writing to a client that left fails
        await asyncio.sleep(seconds)
        return
    hangup = sink.hangup()
    if hangup is not None:
        if not hangup.done():
            await asyncio.wait((hangup,), timeout=seconds)
        if hangup.done() or sink.closed:
            raise ConnectionResetError("the client went away")
        return
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while True:
        if sink.closed:
            raise ConnectionResetError("the client went away")
        left = until - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(left, POLL_SECONDS))


def whole_body(plan: Plan, *, streams: bool = False) -> bytes | None:
    """The body in one piece when nothing has to be timed or cut (``None`` otherwise);
    ``streams``: an event stream whose frames are all due now too."""
    if (plan.streamed and not streams) or plan.paced or not isinstance(plan.frames, list):
        return None
    frames = plan.frames
    if len(frames) == 1 and isinstance(frames[0], Frame):
        return frames[0].raw
    return b"".join(f.raw for f in frames if isinstance(f, Frame))


async def deliver(plan: Plan, sink: Sink) -> Outcome:
    """Waits and resets before the headers; then a whole body in one piece, or frame by frame
    (frames due together go out in one write). The end of the body is left to the sink's owner,
    so the exchange can be journaled before a client that read everything sees it end.

    A body read as it goes (``plan.source``: an upstream's answer, say) is closed when this
    returns or raises, read or not — a client gone before the headers, a reset, a bug while
    writing — so what it holds is given back now, not when the garbage collector finds it."""
    try:
        return await _deliver(plan, sink)
    finally:
        if plan.source is not None:
            await close(plan.source)


async def _deliver(plan: Plan, sink: Sink) -> Outcome:
    notes = plan.notes
    if plan.wait > 0:
        try:
            await pause(sink, plan.wait)
        except DISCONNECTED:
            return Outcome(0, notes=(*notes, "client disconnected"))
    if plan.reset:
        sink.abort(rst=True)
        notes.append("connection reset before headers")
        return Outcome(0, notes=tuple(notes))
    body = whole_body(plan)
    if body is not None:
        await sink.whole(plan, body)
        return Outcome(plan.status, body, False, tuple(notes))
    sent: list[bytes] = []
    frames = plan.frames
    try:
        await sink.start(plan)
        if isinstance(frames, list) and not plan.paced:
            data = b"".join(f.raw for f in frames if isinstance(f, Frame))
            if data:
                await sink.write(data)
                sent.append(data)
            await sink.finish()
        elif await _timed(frames, sink, sent, plan.keep, watch=plan.watch):
            await sink.finish()
    except DISCONNECTED:
        notes.append("client disconnected")
    return Outcome(plan.status, b"".join(sent), plan.streamed, tuple(notes))


async def _timed(frames: Frames, sink: Sink, sent: list[bytes], keep: int | None = None, *, watch: bool = False) -> bool:
    """Writes each frame when due; keeps what went out in ``sent`` (its first ``keep`` bytes);
    ``False`` when a drop ended it. ``watch``: the frames come from outside (an upstream that
    may say nothing for minutes), so a client going away is noticed while waiting for them."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with contextlib.aclosing(each(frames)) as items:
        async for frame in (_while_there(items, sink) if watch else items):
            if isinstance(frame, Drop):
                sink.abort(rst=False)
                return False
            if frame.delay:
                await pause(sink, frame.delay)
            if frame.at is not None:
                left = start + frame.at - loop.time()
                if left > 0:
                    await pause(sink, left)
            if frame.raw:
                await sink.write(frame.raw)
                if keep is None:
                    sent.append(frame.raw)
                elif keep > 0:
                    sent.append(frame.raw[:keep])
                    keep -= len(sent[-1])
    return True


async def _while_there(items: AsyncIterator[Item], sink: Sink) -> AsyncGenerator[Item, None]:
    """``items``, each awaited only while the client is there: if it goes away first, the wait is
    cancelled and ``ConnectionResetError`` raised (where the sink cannot tell, as the in-process
    transport's, the next write finds out instead)."""
    hangup = sink.hangup()
    if hangup is None:
        async for item in items:
            yield item
        return
    while True:
        if hangup.done():
            raise ConnectionResetError("the client went away")
        step: asyncio.Future[Item] = asyncio.ensure_future(items.__anext__())
        await asyncio.wait((step, hangup), return_when=asyncio.FIRST_COMPLETED)
        if not step.done():
            step.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await step
            raise ConnectionResetError("the client went away")
        try:
            item = step.result()
        except StopAsyncIteration:
            return
        yield item

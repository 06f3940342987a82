"""Works batches off in the background: one asyncio task on the server's loop.

Each item is answered by the same chain of stages as a single ``POST /v1/messages`` (scenario
rules, cassettes, the fake model — whatever answers Messages answers batch items), as a request
derived from the batch with the item's ``custom_id`` set. Its reply becomes the item's
result row:

- a Message -> ``succeeded`` (``usage.service_tier: "batch"``);
- an error (an ``ErrorReply``, or an ``ApiError`` raised by validation) -> ``errored`` with that
  error's body, as the real API reports items whose params fail validation;
- a JSON or bytes reply (a replayed recording) -> ``succeeded`` if it holds a Message,
  ``errored`` if it holds an error body; anything else (an SSE script) -> ``errored`` api_error.

Pace: ``batch_pace`` items per second per batch, on the server's clock (so a ``ManualClock`` drives
it: advance the clock, nudge, and the items due by then finish); ``0`` = as fast as possible.
Time also ends batches: at ``expires_at`` the requests not yet processed end ``expired``; a
canceled batch ends with its unprocessed requests ``canceled``.

Shared records (``--state redis://``): every process runs a processor; each looks for active
batches every ``IDLE`` seconds, and works one off only while it holds the batch's claim (a lease
it renews every step, for ``lease`` seconds). A process that dies leaves its claims to expire
and another takes the batch over; results are recorded only for items still pending, so an item
answered twice is counted once. Each step reads the batch's row again, so a cancel or a delete
made through another process is seen.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import orjson
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from mockserver.batches.objects import errored_line, succeeded_line
from mockserver.clock import Clock
from mockserver.pipeline.exchange import ApiRequest, BytesReply, ErrorReply, JsonReply, MessageReply, Next, Reply
from mockserver.protocol.endpoints import BATCHES_CREATE, MESSAGES_CREATE
from mockserver.protocol.errors import ApiError, internal_error
from mockserver.store.base import BatchRecords, StoreError, StoreUnavailable
from mockserver.store.records import BatchRow

log = logging.getLogger("mockserver.batches")
CHUNK = 64  # items answered (and committed) per step of one batch
IDLE = 0.25  # longest real-time wait while some batch is waiting for its clock (or for others' batches)
LEASE = 10.0  # seconds a claim on a shared batch lasts without renewal
EPSILON = 1e-9
NO_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())
BETA_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict({"beta": "true"}))


@dataclass(slots=True)
class Active:
    """A batch being worked off: its stored row, the request its items derive from, its pace."""

    row: BatchRow
    template: ApiRequest
    next_due: float  # clock time at which its next item finishes (pace > 0)


def template_for(row: BatchRow) -> ApiRequest:
    """The batch's create call, as far as items need it: version, beta flag and header. Only
    these are stored (credentials never reach disk), so a restarted server rebuilds the same."""
    headers: CIMultiDict[str] = CIMultiDict()
    if row.api_version:
        headers["anthropic-version"] = row.api_version
    if row.anthropic_beta:
        headers["anthropic-beta"] = row.anthropic_beta
    headers["content-type"] = "application/json"
    return ApiRequest(
        method="POST",
        path="/v1/messages/batches",
        query=BETA_QUERY if row.beta else NO_QUERY,
        headers=CIMultiDictProxy(headers),
        raw_body=b"",
        body=None,
        endpoint=BATCHES_CREATE,
        path_params={},
        request_id=row.request_id,
        api_version=row.api_version,
        received_at=row.created_at,
        beta=row.beta,
        namespace=row.namespace,
    )


def result_for(custom_id: str, reply: Reply) -> tuple[str, bytes]:
    """The result row ``(kind, line)`` for an item's reply."""
    if isinstance(reply, MessageReply):
        return "succeeded", succeeded_line(custom_id, reply.message)
    if isinstance(reply, ErrorReply):
        return "errored", errored_line(custom_id, reply.error)
    if isinstance(reply, JsonReply):
        return _from_body(custom_id, reply.status, reply.body)
    if isinstance(reply, BytesReply) and isinstance(reply.body, bytes):
        try:
            body = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            body = None
        return _from_body(custom_id, reply.status, body)
    return "errored", errored_line(custom_id, internal_error())


def _from_body(custom_id: str, status: int, body: Any) -> tuple[str, bytes]:
    if isinstance(body, dict):
        if 200 <= status < 300 and body.get("type") == "message":
            return "succeeded", succeeded_line(custom_id, body)
        error = body.get("error")
        if status >= 400 and isinstance(error, dict) and isinstance(error.get("type"), str):
            return "errored", errored_line(custom_id, error)
    return "errored", errored_line(custom_id, internal_error())


class BatchProcessor:
    """Works off the batches of ``records``; the service opens them (at start, or on the first
    batch) and closes them only after stopping this processor."""

    def __init__(
        self, records: Callable[[], BatchRecords | None], run: Next, clock: Clock, *, pace: float, lease: float = LEASE
    ) -> None:
        self.records = records
        self.run = run
        self.clock = clock
        self.pace = pace
        self.lease = lease
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"  # whose claims these are (shared records)
        self._looked = 0.0  # when the shared records were last searched for active batches
        self._active: dict[int, Active] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._problem, self._problem_at = "", 0.0  # the last storage error logged, and when

    # -- control (all on the server's loop) ------------------------------------------------------
    async def start(self) -> None:
        store = self.records()
        if store is not None:
            now = self.clock.now()
            for row in await store.active():  # resumed after a restart: the pace restarts from now
                self.add(row, next_due=now)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="mockserver-batches")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        store = self.records()
        if store is not None and store.shared:  # a clean stop hands its batches over at once
            for seq in list(self._active):
                try:
                    await store.release(seq, self.owner)
                except StoreUnavailable:
                    break

    def add(self, row: BatchRow, *, next_due: float | None = None) -> None:
        start = row.created_at if next_due is None else next_due
        self._active[row.seq] = Active(row, template_for(row), start + (1 / self.pace if self.pace else 0.0))
        self.nudge()

    def canceling(self, seq: int, at: float) -> None:
        active = self._active.get(seq)
        if active is not None:
            active.row.status = "canceling"
            active.row.cancel_initiated_at = at
        self.nudge()

    def forget(self, seq: int) -> None:
        self._active.pop(seq, None)

    def clear(self, namespace: str | None = None) -> None:
        if namespace is None:
            self._active.clear()
        else:
            for seq in [seq for seq, active in self._active.items() if active.row.namespace == namespace]:
                del self._active[seq]

    def nudge(self) -> None:
        self._wake.set()

    # -- the loop ------------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                progressed = await self._step()
            except StoreUnavailable:  # the store said so in the log; try again shortly
                progressed = False
                await asyncio.sleep(IDLE)
            except StoreError as exc:  # a full disk, say: back off, try again; say so once a minute
                now = asyncio.get_running_loop().time()
                if str(exc) != self._problem or now - self._problem_at >= 60:
                    log.error("mockserver: batch processing paused: %s", exc)
                    self._problem, self._problem_at = str(exc), now
                progressed = False
                await asyncio.sleep(IDLE)
            except Exception:  # a bug must not stop every batch for good: log, back off, go on
                log.exception("batch processing step failed")
                progressed = False
                await asyncio.sleep(IDLE)
            if progressed:
                await asyncio.sleep(0)  # let requests in between chunks
                continue
            timeout = self._idle_timeout()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    def _idle_timeout(self) -> float | None:
        store = self.records()
        if store is not None and store.shared:
            return min(IDLE, self._busy_timeout()) if self._active else IDLE  # others' batches appear in the store
        if not self._active:
            return None
        return self._busy_timeout()

    def _busy_timeout(self) -> float:
        now = self.clock.now()
        wait = IDLE
        for active in self._active.values():
            due = min(active.next_due if self.pace else now, active.row.expires_at)
            wait = min(wait, max(due - now, 0.001))
        return wait

    async def _step(self) -> bool:
        progressed = False
        store = self.records()
        if store is not None and store.shared and time.monotonic() - self._looked >= IDLE:
            await self._look(store)
        for seq in list(self._active):
            active = self._active.get(seq)
            if active is not None:
                progressed |= await self._advance(active)
        return progressed

    async def _look(self, store: BatchRecords) -> None:
        """Shared records: take up the active batches other processes created (or left)."""
        self._looked = time.monotonic()
        now = self.clock.now()
        found = await store.active()
        for row in found:
            if row.seq not in self._active:
                self._active[row.seq] = Active(row, template_for(row), now + (1 / self.pace if self.pace else 0.0))
        still = {row.seq for row in found}
        for seq in [seq for seq in self._active if seq not in still]:
            del self._active[seq]

    async def _advance(self, active: Active) -> bool:
        """Move one batch forward as far as the clock allows (at most one chunk of items)."""
        store, row = self.records(), active.row
        assert store is not None
        if store.shared:
            if not await store.claim(row.seq, self.owner, self.lease):
                return False  # another process works this one off
            fresh = await store.get(row.id)
            if fresh is None or fresh.ended:
                self.forget(row.seq)
                await store.release(row.seq, self.owner)
                return fresh is not None
            row.status, row.cancel_initiated_at = fresh.status, fresh.cancel_initiated_at
        now = self.clock.now()
        if row.status == "canceling":
            await store.finish_remaining(row.seq, "canceled", ended_at=now)
            self.forget(row.seq)
            return True
        horizon = min(now, row.expires_at)
        if not self.pace:
            due = CHUNK if now < row.expires_at else 0
        elif active.next_due <= horizon + EPSILON:
            due = min(CHUNK, math.floor((horizon - active.next_due) * self.pace + EPSILON) + 1)
        else:
            due = 0
        if due:
            items = await store.pending(row.seq, due)
            if items:
                results = []
                for idx, custom_id, params in items:
                    kind, line = await self._answer(active, custom_id, params)
                    results.append((idx, custom_id, kind, line))
                if self.pace:
                    finished_at = active.next_due + (len(items) - 1) / self.pace
                    active.next_due += len(items) / self.pace
                else:
                    finished_at = now
                if row.seq in self._active and await store.record(row.seq, results, ended_at=finished_at):
                    self.forget(row.seq)
                return True
        if now >= row.expires_at:
            await store.finish_remaining(row.seq, "expired", ended_at=row.expires_at)
            self.forget(row.seq)
            return True
        if not due:
            return False
        # Items were due but none is pending: nothing left (e.g. resumed after the last item).
        await store.record(row.seq, [], ended_at=now)
        self.forget(row.seq)
        return True

    async def _answer(self, active: Active, custom_id: str, params: bytes) -> tuple[str, bytes]:
        """One item through the responder pipeline, exactly as a single Messages call."""
        try:
            body = orjson.loads(params)
            request = active.template.derive(endpoint=MESSAGES_CREATE, body=body, raw_body=params, custom_id=custom_id)
            reply = await self.run(request)
        except ApiError as error:
            return "errored", errored_line(custom_id, error)
        except Exception:
            log.exception("answering batch item %s of %s failed", custom_id, active.row.id)
            return "errored", errored_line(custom_id, internal_error())
        return result_for(custom_id, reply)

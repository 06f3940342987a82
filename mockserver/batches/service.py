"""The Message Batches service of one server: its records in the store, its processor, its lifetime.

The records open when the server starts if they already exist (so a restarted server resumes its
batches) or on the first batch (so a server that never sees a batch never writes a file); the
processor runs as long as the server does, answering items through ``run`` — the chain.
"""

from __future__ import annotations

import asyncio

from mockserver.batches.processor import LEASE, BatchProcessor
from mockserver.clock import Clock
from mockserver.pipeline.exchange import Next
from mockserver.store.base import BatchRecords, Store


class BatchService:
    def __init__(self, store: Store, run: Next, clock: Clock, *, pace: float, live_counts: bool, lease: float = LEASE) -> None:
        if not 0 <= pace < float("inf"):
            raise ValueError(f"batch_pace must be a number of items per second >= 0, not {pace!r}")
        self.store = store
        self.clock = clock
        self.pace = float(pace)
        self.live_counts = live_counts
        self.processor = BatchProcessor(self.records, run, clock, pace=self.pace, lease=lease)
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifetime ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.store.batch_records(create=False)  # opened now if some exist: resumed
        await self.processor.start()

    async def stop(self) -> None:
        await self.processor.stop()

    # -- what handlers use -----------------------------------------------------------------------
    def records(self) -> BatchRecords | None:
        """The records if they exist (reads of a data dir that never saw a batch need no file)."""
        return self.store.batch_records(create=False)

    def writable(self) -> BatchRecords:
        records = self.store.batch_records(create=True)
        assert records is not None
        return records

    def nudge(self) -> None:
        """Wake the processor (after advancing a ManualClock, say); safe from any thread."""
        loop = self._loop
        if loop is None:
            return
        if _on_loop(loop):
            self.processor.nudge()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self.processor.nudge)

    async def reset(self, namespace: str | None = None) -> None:
        """Forget the batches of a namespace, or every batch (``None``)."""
        self.processor.clear(namespace)
        records = self.records()
        if records is not None:
            await records.clear(namespace)

    @property
    def in_use(self) -> bool:
        return self.records() is not None


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False

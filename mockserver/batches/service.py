"""The Message Batches service of one server: its store, its processor, and their lifetime.

Hangs off ``ServerState.batches``. The store opens when the app starts if it already exists
(so a restarted server resumes its batches) or on the first batch (so a server that never sees
a batch never writes a file); the processor runs as long as the app does.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from mockserver.config import Config
from mockserver.batches.processor import BatchProcessor, Run
from mockserver.batches.store import MEMORY, BatchStore, StoreError, default_data_dir

if TYPE_CHECKING:
    from mockserver.pipeline.root import ServerState

log = logging.getLogger("mockserver.batches")


class BatchService:
    def __init__(self, config: Config) -> None:
        self.config = config
        configured = config.data_dir
        # An explicit data dir must be usable; the default one falls back to memory if another
        # server holds it (two `mockserver serve` on one machine must both start).
        self.explicit = configured is not None
        self.location: str | Path = MEMORY if str(configured) == MEMORY else Path(configured or default_data_dir())
        self.pace = float(config.batch_pace)
        if not 0 <= self.pace < float("inf"):
            raise ValueError(f"batch_pace must be a number of items per second >= 0, not {config.batch_pace!r}")
        self.live_counts = config.batch_live_counts
        self._store: BatchStore | None = None
        self._processor: BatchProcessor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifetime ------------------------------------------------------------------------------
    def lifespan(self, state: "ServerState", run: Run) -> Callable[[Any], AsyncIterator[None]]:
        """For ``app.cleanup_ctx``: start with the app, stop (and close the store) with it."""

        async def batches_context(app: Any) -> AsyncIterator[None]:
            await self.start(state, run)
            try:
                yield
            finally:
                await self.stop()

        return batches_context

    async def start(self, state: "ServerState", run: Run) -> None:
        self._loop = asyncio.get_running_loop()
        if self.location == MEMORY or BatchStore.exists(self.location):
            self._open()
        self._processor = BatchProcessor(state, run, pace=self.pace)
        self._processor.start()

    async def stop(self) -> None:
        if self._processor is not None:
            await self._processor.stop()
            self._processor = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def _open(self) -> BatchStore:
        try:
            self._store = BatchStore.open(self.location)
        except StoreError as error:
            if self.explicit:
                raise
            log.warning("mockserver: %s; this server keeps its batches in memory", error)
            self.location = MEMORY
            self._store = BatchStore.open(MEMORY)
        return self._store

    # -- what handlers use -----------------------------------------------------------------------
    @property
    def store(self) -> BatchStore | None:
        """The store if it exists (reads of a data dir that never saw a batch need no file)."""
        return self._store

    def writable_store(self) -> BatchStore:
        return self._store or self._open()

    @property
    def processor(self) -> BatchProcessor:
        if self._processor is None:
            raise RuntimeError("the batch processor runs only while the app is started")
        return self._processor

    def nudge(self) -> None:
        """Wake the processor (after advancing a ManualClock, say); safe from any thread."""
        loop, processor = self._loop, self._processor
        if loop is None or processor is None:
            return
        if _on_loop(loop):
            processor.nudge()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(processor.nudge)

    async def reset(self) -> None:
        """Forget every batch (the pytest fixture's reset between tests)."""
        if self._processor is not None:
            self._processor.clear()
        if self._store is not None:
            self._store.clear()

    @property
    def in_use(self) -> bool:
        return self._store is not None


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False

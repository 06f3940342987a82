"""Reload scenario files when they change: poll their modification times (no extra dependency,
works on every platform and inside containers where inotify is not available)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mockserver.scenarios.book import ScenarioBook

POLL_SECONDS = 0.5
log = logging.getLogger("mockserver.scenarios")


async def watch(book: "ScenarioBook", interval: float = POLL_SECONDS) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            book.reload_changed()
        except Exception:  # never let the watcher die: the server keeps its last good rules
            log.exception("scenario watcher failed")

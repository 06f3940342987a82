"""The journal keeps what it counts: bodies cost their length, whatever made them."""

from __future__ import annotations

import asyncio
import tracemalloc

import orjson

from mockserver.journal.journal import JournalEntry, JournalLog, kept
from mockserver.store.base import LogLimits
from mockserver.store.local import LocalStore

MESSAGE = {"id": "msg_011CcdgNmP8FtLLQR7AaK3kV", "type": "message", "role": "assistant",
           "content": [{"type": "text", "text": "Hello! How can I help you today?"}], "model": "claude-haiku-4-5",
           "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 12}}


def test_kept_is_equal_bytes_of_their_own_size() -> None:
    made = orjson.dumps(MESSAGE)
    copy = kept(made)
    assert copy == made and copy is not made and type(copy) is bytes


def test_a_full_journal_holds_about_what_its_cap_counts() -> None:
    # orjson's output holds its whole 4 KiB buffer: kept as it came, 200 entries cost ~800 KiB.
    async def fill() -> int:
        log = JournalLog(LocalStore(), LogLimits(1000, 64 * 1024 * 1024))
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(200):
            row = [f"req_{n}", "POST", "/v1/messages", {}, {}, orjson.dumps({"n": n}), "messages.create",
                   0.0, 200, "default", orjson.dumps(MESSAGE)]
            await log.append(row)
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        return grown

    per_entry = asyncio.run(fill()) / 200
    assert per_entry < 1500, per_entry  # the entry, its two bodies (~260 bytes) and the log's slot

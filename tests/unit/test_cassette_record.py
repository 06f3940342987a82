"""What the recorder holds of one answer while it passes: bytes and per-chunk timing, both
counted against the limit, so a stream of many tiny chunks is bounded as a few large ones are; and
a compressed answer inflated a step at a time."""

from __future__ import annotations

import gzip

import aiohttp
import pytest

from mockserver.cassettes.record import ARRIVAL_BYTES, INFLATE_STEP, _Held, _Inflater


def test_the_limit_counts_each_chunks_timing_as_well_as_its_bytes() -> None:
    held = _Held(1000)
    taken = 0
    while held.add(b"x", float(taken)):
        taken += 1
    assert taken == 1000 // (1 + ARRIVAL_BYTES)  # not 1000: 1-byte chunks cost their timing too
    assert len(held.body) + ARRIVAL_BYTES * len(held.ends) <= 1000
    assert not held.add(b"x", 0.0) and len(held.body) == taken  # past the limit nothing more is kept


def test_each_event_is_stamped_with_the_arrival_of_the_chunk_that_completed_it() -> None:
    held = _Held(10_000)
    for at, chunk in enumerate((b"event: a\ndata: {}\n", b"\nevent: b\ndata: {}\n\nevent: c\n", b"data: {}\n\n")):
        assert held.add(chunk, float(at))
    frames = held.frames(bytes(held.body))
    assert [(f.raw[:8], f.at) for f in frames] == [(b"event: a", 1.0), (b"event: b", 1.0), (b"event: c", 2.0)]


def test_the_inflater_makes_at_most_one_step_a_piece_and_refuses_a_body_cut_short() -> None:
    bomb = gzip.compress(bytes(8 * 1024 * 1024), 9)
    inflater = _Inflater("gzip")
    sizes = [len(piece) for piece in inflater.feed(bomb)]
    inflater.end()
    assert sum(sizes) == 8 * 1024 * 1024 and max(sizes) <= INFLATE_STEP
    cut = _Inflater("gzip")
    assert b"".join(cut.feed(gzip.compress(b"hello" * 100)[:-8])) == b"hello" * 100  # all but the trailer
    with pytest.raises(aiohttp.ClientPayloadError, match="ends before its compressed stream does"):
        cut.end()
    with pytest.raises(aiohttp.ClientPayloadError, match="cannot decode the gzip body"):
        list(_Inflater("gzip").feed(b"not gzip at all"))

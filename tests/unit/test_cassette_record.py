"""What the recorder holds of one answer while it passes: bytes and per-chunk timing, both
counted against the limit, so a stream of many tiny chunks is bounded as a few large ones are; and
a compressed answer inflated a step at a time."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from typing import AsyncIterator, cast

import aiohttp
import pytest

from mockserver.cassettes.record import ARRIVAL_BYTES, INFLATE_STEP, MAX_GZIP_MEMBERS, _Held, _pieces


def test_the_limit_counts_each_chunks_timing_as_well_as_its_bytes() -> None:
    held = _Held(1000)
    taken = 0
    while held.add(b"x", float(taken)):
        taken += 1
    assert taken == 1000 // (1 + ARRIVAL_BYTES)  # not 1000: 1-byte chunks cost their timing too
    assert len(held.body) + ARRIVAL_BYTES * len(held.ends) <= 1000
    assert not held.add(b"x", 0.0) and len(held.body) == taken  # past the limit nothing more is kept


def test_an_answer_that_is_not_an_event_stream_keeps_no_timing_and_may_use_the_whole_limit() -> None:
    held = _Held(1000, timed=False)
    taken = 0
    while held.add(b"x", float(taken)):
        taken += 1
    assert taken == 1000 and len(held.ends) == len(held.times) == 0


def test_each_event_is_stamped_with_the_arrival_of_the_chunk_that_completed_it() -> None:
    held = _Held(10_000)
    for at, chunk in enumerate((b"event: a\ndata: {}\n", b"\nevent: b\ndata: {}\n\nevent: c\n", b"data: {}\n\n")):
        assert held.add(chunk, float(at))
    frames = held.frames(bytes(held.body))
    assert [(f.raw[:8], f.at) for f in frames] == [(b"event: a", 1.0), (b"event: b", 1.0), (b"event: c", 2.0)]


class _Upstream:
    """What ``_pieces`` reads of an upstream answer: its body, a network read at a time."""

    def __init__(self, *reads: bytes) -> None:
        self.content = self
        self.reads = reads

    async def iter_any(self) -> AsyncIterator[bytes]:
        for read in self.reads:
            yield read


def _decoded(encoding: str, *reads: bytes) -> list[bytes]:
    async def read() -> list[bytes]:
        return [piece async for piece in _pieces(cast(aiohttp.ClientResponse, _Upstream(*reads)), encoding)]

    return asyncio.run(read())


def test_the_recorder_inflates_at_most_one_step_a_piece_and_refuses_a_body_cut_short() -> None:
    bomb = gzip.compress(bytes(8 * 1024 * 1024), 9)
    sizes = [len(piece) for piece in _decoded("gzip", bomb[:100], bomb[100:])]
    assert sum(sizes) == 8 * 1024 * 1024 and max(sizes) <= INFLATE_STEP
    with pytest.raises(aiohttp.ClientPayloadError, match="the gzip body ends before its compressed stream does"):
        _decoded("gzip", gzip.compress(b"hello" * 100)[:-8])  # all but the trailer
    with pytest.raises(aiohttp.ClientPayloadError, match="cannot decode the x-gzip body"):
        _decoded("x-gzip", b"not gzip at all")
    with pytest.raises(aiohttp.ClientPayloadError, match=f"the gzip body holds more than {MAX_GZIP_MEMBERS} members"):
        _decoded("gzip", gzip.compress(b"") * (MAX_GZIP_MEMBERS + 1))


def test_the_recorder_reads_gzip_as_gzip_does_and_deflate_in_either_form() -> None:
    """Members one after another, zero padding after them (even split across reads); a deflate
    body as a zlib stream or a raw one."""
    member = gzip.compress(b"hello ")
    assert b"".join(_decoded("gzip", member + bytes(3), bytes(4) + member, bytes(2))) == b"hello hello "
    raw = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    for body in (zlib.compress(b"deflated"), raw.compress(b"deflated") + raw.flush()):
        assert b"".join(_decoded("deflate", body[:3], body[3:])) == b"deflated"
    assert _decoded("gzip") == []  # an empty body (a HEAD's, a 204's) is no error

"""The one inflater the recorder and the importers share: bounded steps, a bounded total, gzip read
as gzip does (every member, zero padding skipped), deflate in either form."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest

from mockserver.cassettes.inflate import INPUT_WINDOW, Inflater, Kind, TooLarge, TooManyMembers

STEP = 64 * 1024


def _inflate(kind: Kind, *feeds: bytes, step: int = STEP, limit: int | None = None) -> list[bytes]:
    inflater = Inflater(kind, step, limit=limit)
    pieces = [piece for data in feeds for piece in inflater.feed(data)]
    inflater.end()
    return pieces


def test_a_gzip_bomb_is_refused_at_the_limit_having_inflated_at_most_one_step_past_it() -> None:
    bomb = gzip.compress(bytes(64 * 1024 * 1024), 9)  # about 64 KiB
    limit = 1024 * 1024
    inflater = Inflater("gzip", STEP, limit=limit)
    given = 0
    with pytest.raises(TooLarge):
        for piece in inflater.feed(bomb):
            assert len(piece) <= STEP
            given += len(piece)
    assert given <= limit < inflater.produced <= limit + STEP  # refused at the limit, not 64 MiB later
    exactly = gzip.compress(bytes(limit))
    assert sum(map(len, _inflate("gzip", exactly, limit=limit))) == limit  # the limit itself is allowed


def test_every_piece_is_at_most_one_step_however_the_body_is_fed() -> None:
    body = os.urandom(100_000) * 5
    packed = gzip.compress(body)
    for feeds in ([packed], [packed[i : i + 7] for i in range(0, len(packed), 7)], [packed[:10], packed[10:]]):
        pieces = _inflate("gzip", *feeds, step=1000)
        assert b"".join(pieces) == body and max(map(len, pieces)) <= 1000


def test_gzip_members_one_after_another_are_one_body_and_zero_padding_is_skipped() -> None:
    first, second = gzip.compress(b"hello "), gzip.compress(b"world")
    assert b"".join(_inflate("gzip", first + second)) == b"hello world"
    assert b"".join(_inflate("gzip", first + bytes(10) + second + bytes(3))) == b"hello world"  # as gzip.decompress
    assert b"".join(_inflate("gzip", first, bytes(INPUT_WINDOW + 5), bytes(2) + second[:4], second[4:], bytes(1))) == b"hello world"
    with pytest.raises(zlib.error):
        _inflate("gzip", first + b"junk")  # after a member: another member or padding, nothing else
    with pytest.raises(EOFError):
        _inflate("gzip", first + second[:-1])
    assert _inflate("gzip") == [] and _inflate("gzip", b"") == []


def test_many_members_are_read_in_one_pass() -> None:
    """zlib copies the input after a member's end into ``unused_data``: handed all the rest of the
    body at each member, these 4 MB of empty members took 28 s (quadratic), read a window at a time
    a third of a second."""
    empty = gzip.compress(b"")
    assert _inflate("gzip", empty * 200_000 + gzip.compress(b"end")) == [b"end"]
    inflater = Inflater("gzip", STEP, max_members=3)
    with pytest.raises(TooManyMembers, match="more than 3 gzip members"):
        list(inflater.feed(empty * 4))


def test_deflate_is_a_zlib_stream_or_a_raw_one_and_what_follows_its_end_is_ignored() -> None:
    raw = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw_body = raw.compress(b"deflated") + raw.flush()
    zlib_body = zlib.compress(b"deflated")
    assert b"".join(_inflate("deflate", zlib_body + b"trailing")) == b"deflated"
    assert b"".join(_inflate("deflate", raw_body[:2], raw_body[2:])) == b"deflated"
    assert b"".join(_inflate("zlib", zlib_body)) == b"".join(_inflate("raw", raw_body)) == b"deflated"
    with pytest.raises(zlib.error):
        _inflate("zlib", raw_body)
    with pytest.raises(EOFError):
        _inflate("zlib", zlib_body[:-2])

"""The compressor of an answer written piece by piece (mockserver/http/sink.py): a small window
and memLevel, so an open stream holds little; any gzip reader reads it, each flushed piece as soon
as it arrives, and the whole decodes to the very bytes written."""

from __future__ import annotations

import gzip
import random
import zlib

from mockserver.http.sink import GZIP, stream_compressor
from mockserver.protocol import sse

EVENTS = [
    sse.frame("content_block_delta", b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" w%d"}%s}' % (i, b" " * (i % 7)))
    for i in range(400)
]


def test_each_flushed_piece_decodes_on_arrival_and_the_whole_to_the_same_bytes() -> None:
    rng = random.Random(1)
    pieces, at = [], 0
    while at < len(EVENTS):  # runs of events, as a paced stream writes them
        n = rng.randint(1, 30)
        pieces.append(b"".join(EVENTS[at : at + n]))
        at += n
    compressor, reader = stream_compressor(), zlib.decompressobj(GZIP)
    wire = []
    for piece in pieces:
        out = compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)
        wire.append(out)
        assert reader.decompress(out) == piece  # nothing held back
    wire.append(compressor.flush())
    assert reader.decompress(wire[-1]) == b"" and reader.eof
    assert gzip.decompress(b"".join(wire)) == b"".join(EVENTS)


def test_it_compresses_an_event_stream_about_as_well_as_the_default_window() -> None:
    body = b"".join(EVENTS)
    small, default = stream_compressor(), zlib.compressobj(6, zlib.DEFLATED, GZIP)
    small_size = len(small.compress(body) + small.flush())
    default_size = len(default.compress(body) + default.flush())
    assert small_size < len(body) / 5 and small_size < default_size * 1.5

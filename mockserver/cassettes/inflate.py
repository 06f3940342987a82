"""Inflate a gzip or deflate body a bounded step at a time: what the recorder does to a compressed
upstream answer as it arrives (``record.py``) and the importers to a gzipped cassette file or a
compressed body in one (``importers.py``).

:class:`Inflater` is fed the compressed bytes in pieces (all at once is one piece) and yields what
they inflate to, never more than ``step`` bytes a piece, so a small body that inflates hugely
never sits in memory whole unless the caller joins it. With a ``limit`` it refuses
(:class:`TooLarge`) once its output would pass that many bytes, having inflated at most one byte
past it. Input goes to zlib a window at a time (:data:`MEMBER_WINDOW` growing to
:data:`INPUT_WINDOW`): zlib copies the input it has not used yet (``unconsumed_tail``, and after a
gzip member ``unused_data``) at every call, so handing it all of a large body at each step, or at
each of many small members, would be quadratic.

How a body is read, for every caller:

* ``gzip``: every member, one after another (RFC 1952 §2.2), as one body; zero bytes after a
  member are padding (what block-padded writers leave) and skipped, as :func:`gzip.decompress`
  and GNU gzip skip them, and a member may follow them. Anything else after a member must be
  another member: junk is an error. Both callers read gzip this way (before this module the
  recorder refused the padding, as aiohttp 3.14's own decoding still does; the importers skipped
  it). ``max_members`` caps how many members (the recorder keeps aiohttp 3.14's 1024; a file
  being imported has no cap, as :func:`gzip.decompress` has none).
* ``zlib`` (RFC 1950, what RFC 9110 calls deflate) and ``raw`` (RFC 1951, which servers send as
  deflate too): one stream; whatever follows its end is ignored.
* ``deflate``: ``zlib`` or ``raw``, told apart by the first byte (as aiohttp does).

Damaged data raises ``zlib.error``; a body whose last stream did not end, ``EOFError`` from
:meth:`Inflater.end`. An empty body inflates to nothing.
"""

from __future__ import annotations

import zlib
from typing import Iterator, Literal

Kind = Literal["gzip", "zlib", "raw", "deflate"]
INPUT_WINDOW = 64 * 1024
"""The most compressed bytes handed to zlib in one call."""
MEMBER_WINDOW = 64
"""What a new stream is handed first; doubled at each call up to :data:`INPUT_WINDOW`, so a body of
many tiny gzip members takes time in proportion to its size (aiohttp 3.14 does the same)."""
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "zlib": zlib.MAX_WBITS, "raw": -zlib.MAX_WBITS}


class TooLarge(Exception):
    """The body inflates past the inflater's ``limit``."""


class TooManyMembers(Exception):
    """A gzip body holds more members than the inflater's ``max_members``."""


class Inflater:
    """One compressed body, inflated as its bytes are fed (see the module's docstring)."""

    def __init__(self, kind: Kind, step: int, limit: int | None = None, max_members: int | None = None) -> None:
        if step <= 0:
            raise ValueError("step must be positive")
        self.kind = kind
        self.step = step
        self.limit = limit
        self.max_members = max_members
        self.produced = 0
        """Bytes inflated so far."""
        self.members = 0
        self._z: "zlib._Decompress | None" = None  # the stream being read; None between members
        self._window = MEMBER_WINDOW  # compressed bytes handed to it next
        self._done = False  # a zlib or raw stream has ended: anything after it is ignored

    def _start(self, first: int) -> "zlib._Decompress":
        self.members += 1
        if self.max_members is not None and self.members > self.max_members:
            raise TooManyMembers(f"more than {self.max_members} gzip members")
        if self.kind == "deflate":
            return zlib.decompressobj(zlib.MAX_WBITS if first & 0x0F == 8 else -zlib.MAX_WBITS)
        return zlib.decompressobj(_WBITS[self.kind])

    def feed(self, data: bytes) -> Iterator[bytes]:
        """What ``data``, the body's next bytes, inflates to: pieces of at most ``step`` bytes."""
        view = memoryview(data)
        pos = 0
        while pos < len(view) and not self._done:
            if self._z is None:
                if self.members and self.kind == "gzip" and view[pos] == 0:  # between members: zero padding
                    window = bytes(view[pos : pos + INPUT_WINDOW])
                    pos += len(window) - len(window.lstrip(b"\x00"))
                    continue
                self._z = self._start(view[pos])
                self._window = MEMBER_WINDOW
            z = self._z
            end = min(pos + self._window, len(view))
            pending: bytes | memoryview = view[pos:end]
            while True:
                room = self.step if self.limit is None else min(self.step, self.limit - self.produced + 1)
                out = z.decompress(pending, room)  # room is never 0, which would mean no bound
                if out:
                    self.produced += len(out)
                    if self.limit is not None and self.produced > self.limit:
                        raise TooLarge(f"inflates past {self.limit} bytes")
                    yield out
                pending = z.unconsumed_tail
                if z.eof or (not pending and len(out) < room):
                    break
            if z.eof:
                pos = end - len(z.unused_data)
                self._z = None
                self._done = self.kind != "gzip"
            else:
                pos = end
                self._window = min(2 * self._window, INPUT_WINDOW)

    def end(self) -> None:
        """The body has ended: ``EOFError`` if it stopped inside a compressed stream."""
        if self._z is not None:
            raise EOFError("the compressed data ended before its end-of-stream marker")

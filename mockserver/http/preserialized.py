"""A JSON response whose constant headers were serialized once, not on every response.

A real API response carries about 25 headers, 18 of them the same from one response to the next
within a second (rate limits, organization, edge headers). aiohttp's C header writer checks and
copies them one character at a time: about 8% of the machine instructions a whole Messages call
cost here (``make bench``, docs/architecture.md). :class:`PreserializedResponse` takes those lines as bytes, serialized and
checked once by ``StaticHeaders``, and lets aiohttp write only the few per-response headers.

This leans on aiohttp's private API (3.12 and later, written against 3.14): a ``Response``
buffers its serialized headers in ``StreamWriter._headers_buf`` until the body goes out, and
``StreamResponse._write_headers`` fills that buffer. The lines are spliced in right after the
status line. :data:`SUPPORTED` is false where aiohttp works otherwise, and callers then use a
plain ``web.Response`` with every header in its multidict.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_writer import StreamWriter
from multidict import CIMultiDict

SUPPORTED = hasattr(StreamWriter, "send_headers") and getattr(web.Response, "_send_headers_immediately", True) is False


class PreserializedResponse(web.Response):
    def __init__(self, *, status: int, body: bytes, headers: CIMultiDict[str], lines: bytes) -> None:
        super().__init__(status=status, body=body, headers=headers)
        self._lines = lines

    async def _write_headers(self) -> None:
        await super()._write_headers()
        writer = self._payload_writer
        head: bytes = writer._headers_buf  # type: ignore[union-attr]  # private (see the module's docstring); set once headers are written
        status_line_end = head.index(b"\r\n") + 2
        writer._headers_buf = head[:status_line_end] + self._lines + head[status_line_end:]  # type: ignore[union-attr]  # (as above)

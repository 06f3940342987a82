"""Reading a request body with aiohttp: in chunks, counted after decompression, each chunk due
within the body timeout (a client that stops sending mid-body gets a 408 and the connection
closes)."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Awaitable, Callable

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from aiohttp.web_request import BaseRequest

from mockserver.pipeline.parse import too_large
from mockserver.protocol.errors import ApiError, invalid_request


def _declared_too_large(http: BaseRequest, limit: int) -> bool:
    """A plain body whose ``Content-Length`` already passes ``limit`` (a compressed one is counted
    as it inflates)."""
    length = http.content_length
    return length is not None and length > limit and "content-encoding" not in http.headers


class Body:
    """A request's body as aiohttp receives it: :meth:`read` whole or :meth:`chunks` as it
    arrives, decoded, refused (413) as soon as it passes the limit given."""

    __slots__ = ("http", "timeout")

    def __init__(self, http: BaseRequest, timeout: float) -> None:
        self.http = http
        self.timeout = timeout

    async def chunks(self, limit: int) -> AsyncIterator[bytes]:
        """The body, decoded, as it arrives, refusing (413) as soon as it passes ``limit``."""
        http, timeout = self.http, self.timeout
        if _declared_too_large(http, limit):
            raise too_large()
        size = 0
        content = http.content
        try:
            while True:
                chunk = content.read_nowait()  # what has arrived: a small body is all here already
                if not chunk:
                    if content.at_eof():
                        return
                    chunk = await asyncio.wait_for(content.readany(), timeout)  # wait (bounded) for more
                    if not chunk:
                        return
                size += len(chunk)
                if size > limit:
                    raise too_large()
                yield chunk
        except asyncio.TimeoutError:
            raise ApiError(408, f"The request body stopped arriving (nothing for {timeout:g} s).", type="timeout_error",
                           headers={"Connection": "close"}) from None
        except (ConnectionResetError, HttpProcessingError, RequestPayloadError) as exc:
            # The client hung up mid-body (fewer bytes than its Content-Length) or sent a broken
            # chunk or compressed body: a client mistake, journaled as a 400 (nobody may be left
            # to read the answer).
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection lost"
            raise invalid_request(f"The request body is incomplete or malformed: {reason}") from None

    async def read(self, limit: int) -> bytes:
        """The whole body, decoded, refusing (413) as soon as it passes ``limit``."""
        content = self.http.content
        if content.is_eof() and content.exception() is None:  # all here already: the usual small body
            if _declared_too_large(self.http, limit):
                raise too_large()
            body = content.read_nowait()
            if len(body) > limit:
                raise too_large()
            return body
        return b"".join([chunk async for chunk in self.chunks(limit)])


def body_reader(http: BaseRequest, timeout: float) -> Callable[[int], Awaitable[bytes]]:
    """The whole body's reader (:meth:`Body.read`)."""
    return Body(http, timeout).read

"""Reading a request body at the aiohttp edge (mockserver/http/body.py): a body that has all
arrived is taken at once, one still arriving is read in chunks, and both refuse past the limit."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from unittest import mock

import pytest
from aiohttp import StreamReader
from multidict import CIMultiDict

from mockserver.http.body import body_reader
from mockserver.protocol.errors import ApiError


def _http(length: int | None, headers: dict[str, str] | None = None) -> SimpleNamespace:
    content = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop())
    return SimpleNamespace(content=content, content_length=length, headers=CIMultiDict(headers or {}))


async def _arrived(body: bytes, limit: int, headers: dict[str, str] | None = None, length: int | None = None) -> bytes:
    http = _http(len(body) if length is None else length, headers)
    http.content.feed_data(body)
    http.content.feed_eof()
    return await body_reader(http, timeout=5)(limit)  # type: ignore[arg-type]


async def test_a_body_all_here_is_read_whole() -> None:
    assert await _arrived(b'{"a": 1}', 100) == b'{"a": 1}'
    assert await _arrived(b"", 100) == b""


async def test_a_body_all_here_past_the_limit_is_a_413_by_its_length_or_its_size() -> None:
    with pytest.raises(ApiError) as declared:
        await _arrived(b"x" * 101, 100)
    # decoded (gzip) bodies are counted by what they became, whatever their Content-Length said
    with pytest.raises(ApiError) as inflated:
        await _arrived(b"x" * 101, 100, headers={"Content-Encoding": "gzip"}, length=20)
    assert declared.value.status == inflated.value.status == 413


async def test_a_body_still_arriving_is_read_as_it_comes_and_refused_past_the_limit() -> None:
    for limit, expected in ((100, b"abcdef"), (5, None)):
        http = _http(None)
        http.content.feed_data(b"abc")
        read = asyncio.ensure_future(body_reader(http, timeout=5)(limit))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        http.content.feed_data(b"def")
        http.content.feed_eof()
        if expected is None:
            with pytest.raises(ApiError) as refused:
                await read
            assert refused.value.status == 413
        else:
            assert await read == expected

"""Replay: answer from a cassette with no network — the recorded status, headers and body bytes.

A stream is sent event by event as recorded (optionally at the recorded pace, scaled by a speed
factor). A request no recording matches gets a 404 ``not_found_error`` naming the closest
recorded request and how it differs — a status the SDKs do not retry — unless the recorder
may take it (record modes ``new_episodes`` and ``once`` on a new file).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import AsyncIterator, Callable

from multidict import CIMultiDict

from mockserver.protocol.urls import reachable_base_url
from mockserver.cassettes.cassette import Cassette
from mockserver.cassettes.model import Frame, RecordedRequest, RecordedResponse, keep_request_header, response_headers
from mockserver.protocol.headers import wire_text
from mockserver.pipeline.exchange import ApiRequest, BytesReply, ErrorReply, Reply
from mockserver.protocol.errors import ApiError

log = logging.getLogger("mockserver.cassette")
_RESULTS_URL = re.compile(rb'("results_url"\s*:\s*")https?://[^/"]+')


def request_from_api(api: ApiRequest) -> RecordedRequest:
    """The live request in the cassette's terms (kept headers only, raw body bytes)."""
    return RecordedRequest(
        method=api.method,
        path=api.path,
        query=[(str(k), v) for k, v in api.query.items()],
        headers=[(str(k), wire_text(v)) for k, v in api.headers.items() if keep_request_header(k)],
        body=api.raw_body if api.upload is None else b"",
        form=api.upload.summary() if api.upload is not None else None,
    )


def rewrite_results_url(body: bytes, base_url: str) -> bytes:
    """Point a batch's ``results_url`` at this server, so ``batches.results()`` comes back here."""
    if not base_url or b'"results_url"' not in body:
        return body
    return _RESULTS_URL.sub(lambda m: m.group(1) + base_url.encode(), body)


def reply_headers(response: RecordedResponse, method: str) -> CIMultiDict[str]:
    """Recorded headers in recorded order and case, minus those about the recorded hop."""
    return CIMultiDict(response_headers(response.headers, method, response.status))


async def _paced(frames: list[Frame], speed: float | None) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    for frame in frames:
        if speed and frame.at is not None:
            delay = started + frame.at / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        yield frame.raw


class Replayer:
    """Answers from a cassette; ``None`` for a request no recording matches when ``fallthrough``
    (the recorder takes it)."""

    def __init__(
        self,
        cassette: Cassette,
        base_url: Callable[[], str],
        *,
        fallthrough: bool = False,
        realtime: bool = False,
        speed: float = 1.0,
        rewrite_urls: bool = True,
    ) -> None:
        self.cassette = cassette
        self.base_url = base_url
        self.fallthrough = fallthrough
        self.speed = speed if realtime else None
        self.rewrite_urls = rewrite_urls

    async def answer(self, api: ApiRequest) -> Reply | None:
        request = request_from_api(api)
        hit = self.cassette.play(request)
        if hit is None:
            if self.fallthrough:
                return None
            message = "mockserver replay: " + self.cassette.explain_miss(request)
            log.warning("%s", message)
            return ErrorReply(error=ApiError(404, message, type="not_found_error"), origin="cassette")
        return await self.replay(hit.response, api)

    async def replay(self, response: RecordedResponse, api: ApiRequest) -> Reply:
        if self.speed and response.latency:
            await asyncio.sleep(response.latency / self.speed)
        headers = reply_headers(response, api.method)
        if response.is_stream and response.body and api.method != "HEAD":
            frames = list(response.chunks())
            return BytesReply(status=response.status, body=_paced(frames, self.speed), headers=headers,
                              reason=response.reason, origin="cassette", stalls=bool(self.speed))  # paced: it waits between events
        body = response.body
        if self.rewrite_urls:
            body = rewrite_results_url(body, reachable_base_url(self.base_url(), api.headers.get("host")))
        return BytesReply(status=response.status, body=body, headers=headers, reason=response.reason, origin="cassette")

"""Record: forward each request to an upstream API and relay its answer as it arrives, capturing it.

The client's own headers (credentials included) go upstream unchanged, minus hop-by-hop ones;
the answer streams back chunk by chunk with nothing buffered, except JSON bodies, which are read
whole so a batch's ``results_url`` can point back at this proxy. Once the answer has arrived
whole the interaction — error statuses included — goes to ``capture`` (the cassette redacts it
and writes it), and only after that does the client get the end of it: a JSON body is sent once
captured, a stream's end (the chunked terminator) once the capture after its last chunk
returns. So a client that saw a response complete can count on it being on disk. If the capture
fails (a full disk), the client is told: a JSON answer becomes a 500 ``api_error`` naming the
problem, a stream gets an ``event: error`` after its last event. An answer cut short (client
gone, upstream dropped) is not recorded.

Every read of upstream data is bounded: the recorder holds at most :data:`RECORD_LIMIT` bytes of
one answer (``Recorder.limit``). An answer that grows past it — JSON, stream or anything else, a
huge body or an endless stream — still reaches the client whole and unchanged (passed through
chunk by chunk from then on, so memory stays bounded), but is not recorded: one warning says so.

A gzip or deflate answer is inflated here, :data:`INFLATE_STEP` bytes at a time (aiohttp's own
decoding is off: its lowest supported release inflates each network read whole), so the bound
holds for a small body that inflates hugely too; an encoding the recorder did not ask for is
refused (502).

Every exchange that is not recorded — over the limit, cut short by either side, never answered,
still under way at the end — is counted by why (``Recorder.unrecorded``), for the summary
``mockserver record`` ends with (and its exit status) and for the pytest fixture's teardown.
"""

from __future__ import annotations

import asyncio
import bisect
import inspect
import logging
import zlib
from array import array
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, AsyncGenerator, AsyncIterator, Callable, Iterator

import orjson

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from mockserver.protocol.urls import reachable_base_url
from mockserver.protocol import sse
from mockserver.cassettes.inflate import Inflater, TooManyMembers
from mockserver.cassettes.model import HOP_BY_HOP, Frame, Interaction, RecordedResponse
from mockserver.protocol.headers import wire_text
from mockserver.pipeline.exchange import ApiRequest, BytesReply, ErrorReply, Reply
from mockserver.protocol.errors import ApiError
from mockserver.cassettes.replay import request_from_api, rewrite_results_url
from mockserver.clock import Clock

log = logging.getLogger("mockserver.record")
DEFAULT_UPSTREAM = "https://api.anthropic.com"
RECORD_LIMIT = 64 * 1024 * 1024
"""Bytes of one upstream answer the recorder holds to record it (its decoded body, plus, for an
event stream, :data:`ARRIVAL_BYTES` per chunk of timing). Four times the longest
Messages stream (128k output tokens, one per event, is about 16 MB of SSE); stored even as base64
such an answer stays under the 100 MB GitHub takes in one file. An answer past it is relayed, not
recorded."""
ARRIVAL_BYTES = 16
"""What the recorder keeps per chunk of a stream, to stamp each event with its arrival time."""
ACCEPT_ENCODING = "gzip, deflate"
"""What the recorder asks the upstream for: the encodings it inflates itself, a piece at a time."""
GZIP_NAMES = ("gzip", "x-gzip")
DECODED = ("", "identity", *GZIP_NAMES, "deflate")
"""The content-encodings the recorder relays (what it asks for, their aliases, and none)."""
INFLATE_STEP = 64 * 1024
"""The most one step of inflating an upstream answer makes (aiohttp 3.14's step too; 3.10, the
lowest release supported, inflates each network read whole, so the recorder does not let it)."""
MAX_GZIP_MEMBERS = 1024
"""Gzip members one answer may hold one after another (as aiohttp 3.14 allows)."""
# Not forwarded: hop-by-hop, and what aiohttp sets for the upstream hop itself.
_NOT_FORWARDED = HOP_BY_HOP | {"host", "accept-encoding", "x-mock-namespace"}  # the last is this server's own

Capture = Callable[[Interaction], object]
"""Takes a finished interaction; may return an awaitable, which is awaited before the client
gets the end of the answer. An ``OSError`` from it means the interaction was not saved."""


async def _spooled(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


class _Held:
    """The part of an answer kept to record it: its bytes and, when ``timed`` (an event stream,
    whose events are stamped), when each chunk arrived (offsets in two flat arrays,
    ``ARRIVAL_BYTES`` a chunk); never more than ``limit`` bytes in all."""

    def __init__(self, limit: int, *, timed: bool = True) -> None:
        self.limit = limit
        self.timed = timed
        self.body = bytearray()
        self.ends = array("q")
        self.times = array("d")

    def add(self, chunk: bytes, at: float) -> bool:
        """Keep ``chunk``, arrived ``at`` seconds in; ``False`` (keeping nothing) past the limit."""
        timing = ARRIVAL_BYTES * (len(self.ends) + 1) if self.timed else 0
        if len(self.body) + len(chunk) + timing > self.limit:
            return False
        self.body += chunk
        if self.timed:
            self.ends.append(len(self.body))
            self.times.append(at)
        return True

    def frames(self, body: bytes) -> list[Frame]:
        """Cut the stream into events, each stamped with the arrival time of the chunk that completed it."""
        frames, offset = [], 0
        for raw in sse.split(body):
            offset += len(raw)
            i = min(bisect.bisect_left(self.ends, offset), len(self.ends) - 1)
            frames.append(Frame(raw, self.times[i] if self.ends else None))
        return frames


GONE = "cut short: the client went away before the answer ended"
BROKE = "cut short: the upstream's answer broke off"
NO_ANSWER = "not answered: the upstream could not be reached (the client got a 502)"
INTERRUPTED = "interrupted: the recorder failed or was cancelled while answering (see the log)"
STOPPED = "still being answered when the recorder stopped"
UNDECODED = "refused: the upstream answered in a content-encoding the recorder did not ask for (the client got a 502)"


def too_big(limit: int) -> str:
    return f"over the {limit} bytes the recorder holds of one answer (RECORD_LIMIT): relayed whole, not recorded"


@dataclass
class Unrecorded:
    """Exchanges not recorded for one reason: how many, and the first of them."""

    count: int
    first: str
    """``METHOD /path`` of the first."""


class _Tally:
    """One exchange on its way through the recorder, until it is settled: recorded (or handed
    to the cassette, which counts a failed write itself), or not, and why."""

    __slots__ = ("recorder", "what")

    def __init__(self, recorder: "Recorder", api: ApiRequest) -> None:
        self.recorder = recorder
        self.what = f"{api.method} {api.path}"
        recorder._open[self] = None  # until settled

    def settle(self, unrecorded: str | None) -> None:
        """``unrecorded``: why it is not recorded; ``None``: it went to the cassette. Only the
        first call counts."""
        if self.recorder._open.pop(self, False) is False:
            return
        if unrecorded is not None:
            found = self.recorder.unrecorded.get(unrecorded)
            if found is None:
                self.recorder.unrecorded[unrecorded] = Unrecorded(1, self.what)
            else:
                found.count += 1


class _Relay:
    """A relayed answer's body: ``chunks`` as they arrive. Closing it gives the upstream
    connection back even when nothing was read (closing a generator that never started runs none
    of its code, so its ``finally`` could not), and settles an exchange nothing else settled: its
    client went away."""

    def __init__(self, chunks: AsyncGenerator[bytes, None], upstream: aiohttp.ClientResponse, tally: _Tally) -> None:
        self.chunks = chunks
        self.upstream = upstream
        self.tally = tally

    def __aiter__(self) -> "_Relay":
        return self

    async def __anext__(self) -> bytes:
        return await self.chunks.__anext__()

    async def aclose(self) -> None:
        try:
            await self.chunks.aclose()
        finally:
            self.upstream.close()  # nothing left to do once the relay gave it back itself
            self.tally.settle(GONE)


async def _pieces(upstream: aiohttp.ClientResponse, encoding: str) -> AsyncGenerator[bytes, None]:
    """The upstream's answer in ``encoding`` (one of :data:`DECODED`), decoded, as it arrives
    (never more than a network read, or one :data:`INFLATE_STEP`, at a time). A gzip or deflate
    body is inflated as :mod:`mockserver.cassettes.inflate` reads it (every gzip member, zero
    padding skipped); damaged or cut short, it raises ``aiohttp.ClientPayloadError``, as aiohttp's
    own decoding would."""
    if encoding in ("", "identity"):
        async for chunk in upstream.content.iter_any():
            yield chunk
        return
    inflater = Inflater("gzip" if encoding in GZIP_NAMES else "deflate", INFLATE_STEP, max_members=MAX_GZIP_MEMBERS)
    try:  # its errors become the one aiohttp's own decoding raises
        async for chunk in upstream.content.iter_any():
            for piece in inflater.feed(chunk):
                yield piece
        inflater.end()
    except zlib.error as exc:
        raise aiohttp.ClientPayloadError(f"cannot decode the {encoding} body: {exc}") from None
    except EOFError:
        raise aiohttp.ClientPayloadError(f"the {encoding} body ends before its compressed stream does") from None
    except TooManyMembers:
        raise aiohttp.ClientPayloadError(f"the {encoding} body holds more than {MAX_GZIP_MEMBERS} members") from None


class Recorder:
    """Forwards to the upstream API and hands each complete interaction to ``capture``."""

    def __init__(
        self,
        clock: Clock,
        base_url: Callable[[], str],
        upstream: str = DEFAULT_UPSTREAM,
        capture: Capture | None = None,
        *,
        timeout: float = 600.0,
        limit: int = RECORD_LIMIT,
    ) -> None:
        self.clock = clock
        self.base_url = base_url
        self.upstream = upstream.rstrip("/")
        self.capture = capture
        self.timeout = timeout
        self.limit = limit
        """Bytes of one answer held to record it (:data:`RECORD_LIMIT`); a larger one is only relayed."""
        self._session: aiohttp.ClientSession | None = None
        self.unrecorded: dict[str, Unrecorded] = {}
        """Exchanges answered but not recorded, by why (the reasons above: :func:`too_big`,
        :data:`GONE`, :data:`BROKE`, :data:`NO_ANSWER`, :data:`INTERRUPTED`, :data:`STOPPED`)."""
        self._open: dict[_Tally, None] = {}

    @property
    def not_recorded(self) -> int:
        """How many exchanges were answered but are not in the cassette."""
        return sum(u.count for u in self.unrecorded.values())

    def describe_unrecorded(self) -> str:
        """Each reason with its count and first request, for the end-of-run summary."""
        return "; ".join(f"{u.count} {why} (the first: {u.first})" for why, u in self.unrecorded.items())

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_read=self.timeout, sock_connect=30),
                auto_decompress=False,  # inflated here, a piece at a time, whatever aiohttp release (_pieces)
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def aclose(self, grace: float = 2.0) -> None:
        """Wait up to ``grace`` seconds for the answers still under way (a client that has just
        hung up is noticed a moment later), count those still open as not recorded, and close
        the upstream connections."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._open and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for tally in list(self._open):
            tally.settle(STOPPED)
        if self._session is not None:
            await self._session.close()

    def url_for(self, api: ApiRequest) -> URL:
        target = api.raw_target or api.path
        return URL(self.upstream + target, encoded=True)

    async def answer(self, api: ApiRequest) -> Reply:
        loop = asyncio.get_running_loop()
        headers = CIMultiDict((k, v) for k, v in api.headers.items() if k.lower() not in _NOT_FORWARDED)
        url = self.url_for(api)
        started = loop.time()
        data: Any = api.raw_body or None
        if api.upload is not None and api.upload.raw is not None:  # an upload: the bytes as they came, from their spool
            data, headers["Content-Length"] = _spooled(api.upload.raw_chunks()), str(api.upload.raw_size)
        headers["Accept-Encoding"] = ACCEPT_ENCODING
        tally = _Tally(self, api)
        try:
            upstream = await self._client().request(api.method, url, headers=headers, data=data, allow_redirects=False)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            message = f"mockserver record: upstream {self.upstream} did not answer: {exc or type(exc).__name__}"
            log.error("%s", message)
            tally.settle(NO_ANSWER)
            return ErrorReply(error=ApiError(502, message, type="api_error"), origin="upstream")
        except BaseException:
            tally.settle(INTERRUPTED)
            raise
        try:
            return await self._answer_from(api, upstream, loop.time() - started, tally)
        except BaseException:  # cancelled, or a bug: the connection goes back (closed) all the same
            upstream.close()
            tally.settle(INTERRUPTED)
            raise

    async def _answer_from(self, api: ApiRequest, upstream: aiohttp.ClientResponse, latency: float, tally: _Tally) -> Reply:
        """The reply to ``api`` from the upstream's answer, whose headers have arrived. Every way
        out gives the connection back: at once for a JSON answer; for the rest, once the relay
        ends or the reply's body is closed, read or not (delivery closes it: render/deliver.py)."""
        loop = asyncio.get_running_loop()
        recorded_headers = [(str(k), wire_text(v)) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
        reason = wire_text(upstream.reason) if upstream.reason is not None else None
        if api.method == "HEAD":
            length = upstream.headers.get("content-length")
            if length is not None:
                recorded_headers.append(("Content-Length", length))
        relayed = CIMultiDict(recorded_headers)
        content_type = upstream.headers.get("content-type", "").split(";")[0].strip().lower()
        encoding = upstream.headers.get("content-encoding", "").strip().lower()
        if encoding not in DECODED:
            upstream.close()
            tally.settle(UNDECODED)
            message = (f"mockserver record: the upstream answered {api.method} {api.path} in content-encoding {encoding}, which "
                       f"the recorder did not ask for (it asks for {ACCEPT_ENCODING}) and does not decode; not relayed, not recorded")
            log.error("%s", message)
            return ErrorReply(error=ApiError(502, message, type="api_error"), origin="upstream")
        pieces = _pieces(upstream, encoding)

        async def finish(body: bytes, held: _Held | None) -> str | None:
            """Capture the interaction; ``None`` once it is saved, else why it was not."""
            tally.settle(None)  # from here the cassette counts it: saved, or a failed write
            response = RecordedResponse(
                status=upstream.status, headers=recorded_headers, body=body, reason=reason, latency=latency,
                frames=held.frames(body) if held is not None and held.timed else None,
            )
            try:
                await self._record(api, response)
            except OSError as exc:
                return f"mockserver record: this answer was not saved to the cassette ({exc}); the recording is incomplete"
            return None

        def over_limit() -> None:
            tally.settle(too_big(self.limit))
            log.warning("mockserver record: the answer to %s %s is over %d bytes, the most the recorder holds of one answer "
                        "(RECORD_LIMIT); relayed to the client whole, not recorded", api.method, api.path, self.limit)

        def relayed_reply(body: AsyncGenerator[bytes, None]) -> BytesReply:
            return BytesReply(status=upstream.status, body=_Relay(body, upstream, tally), headers=relayed, reason=reason,
                              origin="upstream", journal_bytes=self.limit,  # the journal, too, keeps no more of it than the recorder
                              stalls=True)

        async def relay(head: bytes | None = None) -> AsyncGenerator[bytes, None]:
            """The answer as it arrives, recorded once it is complete; ``head``: what came before
            it grew past the limit, so none of it is recorded."""
            held = _Held(self.limit, timed=content_type == "text/event-stream") if head is None else None
            first = loop.time()
            complete = False
            try:
                if head is not None:
                    yield head
                    head = b""
                async for chunk in pieces:
                    if held is not None and not held.add(chunk, loop.time() - first):
                        held = None  # what it held is freed; the rest only passes through
                        over_limit()
                    yield chunk
                complete = True
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                tally.settle(BROKE)
                log.warning("mockserver record: upstream stream for %s %s broke off (%s); not recorded", api.method, api.path, exc)
            finally:  # also when the client hung up (delivery closes the body at its last yield)
                await pieces.aclose()
                if complete:
                    upstream.release()  # read to its end: the connection may serve another request
                else:
                    upstream.close()
                if not complete and held is not None and held.body:
                    log.warning("mockserver record: %s %s ended early; not recorded", api.method, api.path)
            if complete and held is not None:  # saved before this generator ends, i.e. before the client sees the end
                body = bytes(held.body)
                held.body = bytearray()
                unsaved = await finish(body, held)
                if unsaved is not None:
                    error = {"type": "error", "error": {"type": "api_error", "message": unsaved}}
                    yield b"event: error\ndata: " + orjson.dumps(error) + b"\n\n"

        if content_type == "application/json" or content_type.endswith("+json"):
            whole = bytearray()  # no arrival times: a JSON answer is recorded without frames
            try:
                async for chunk in pieces:
                    if len(whole) + len(chunk) > self.limit:
                        over_limit()
                        return relayed_reply(relay(bytes(whole) + chunk))  # the rest of ``pieces`` with it
                    whole += chunk
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                await pieces.aclose()
                upstream.close()
                tally.settle(BROKE)
                return ErrorReply(error=ApiError(502, f"mockserver record: upstream answer cut short: {exc}", type="api_error"), origin="upstream")
            upstream.release()
            body = bytes(whole)
            del whole
            unsaved = await finish(body, None)
            if unsaved is not None:
                return ErrorReply(error=ApiError(500, unsaved, type="api_error", headers={"x-should-retry": "false"}), origin="upstream")
            relayed_body = rewrite_results_url(body, reachable_base_url(self.base_url(), api.headers.get("host")))
            return BytesReply(status=upstream.status, body=relayed_body, headers=relayed,
                              reason=reason, origin="upstream")

        return relayed_reply(relay())

    async def _record(self, api: ApiRequest, response: RecordedResponse) -> None:
        if self.capture is None:
            return
        stamp = datetime.fromtimestamp(self.clock.now(), tz=timezone.utc).isoformat(timespec="seconds")
        result = self.capture(Interaction(request_from_api(api), response, stamp))
        if inspect.isawaitable(result):
            await result

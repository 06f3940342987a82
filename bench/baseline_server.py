"""The baseline: a bare aiohttp app answering a canned Message, a canned 200-delta stream and a
token count: the ceiling each mockserver number is compared with (bench/run.py).

A streamed request's ``x-bench-mode`` header picks how the stream goes out, as the benchmark's
scenario file scripts it for mockserver: absent, every event at once (one write per event);
``paced``, a pause of :data:`PACE_SECONDS` before each delta; ``bursts``, the same pause before
every tenth event only (the events between are due together, as tokens arrive in bursts);
``held``, the stream stops for :data:`HOLD_SECONDS` before its second delta (an open stream, for
memory per stream).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from aiohttp import web

MESSAGE = json.dumps(
    {
        "model": "claude-haiku-4-5-20251001",
        "id": "msg_011CcdgNmP8FtLLQR7AaK3kV",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello! How can I help you today?"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 12},
    },
    separators=(",", ":"),
).encode()


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


STREAM = (
    [_event("message_start", {"type": "message_start", "message": json.loads(MESSAGE) | {"content": [], "stop_reason": None}})]
    + [_event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})]
    + [
        _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f" word{i}"}})
        for i in range(200)
    ]
    + [_event("content_block_stop", {"type": "content_block_stop", "index": 0})]
    + [_event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 200}})]
    + [_event("message_stop", {"type": "message_stop"})]
)


PACE_SECONDS = 0.001  # before each delta of a paced stream
HOLD_SECONDS = 600.0  # before the second delta of a held stream
FIRST_DELTA = 2  # STREAM's index of its first delta


def delay_before(index: int, mode: str | None) -> float:
    """Seconds to wait before writing ``STREAM[index]`` in this mode."""
    is_delta = FIRST_DELTA <= index < FIRST_DELTA + 200
    if mode == "paced" and is_delta:
        return PACE_SECONDS
    if mode == "bursts" and index and index % 10 == 0:
        return PACE_SECONDS
    if mode == "held" and index == FIRST_DELTA + 1:
        return HOLD_SECONDS
    return 0.0


async def messages(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    if not json.loads(body).get("stream"):
        return web.Response(body=MESSAGE, content_type="application/json")
    mode = request.headers.get("x-bench-mode")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for index, event in enumerate(STREAM):
        delay = delay_before(index, mode)
        if delay:
            await asyncio.sleep(delay)
        await response.write(event)
    await response.write_eof()
    return response


async def count_tokens(request: web.Request) -> web.Response:
    body = await request.read()
    json.loads(body)  # parsed, as any server must
    return web.Response(body=b'{"input_tokens":%d}' % (len(body) // 4), content_type="application/json")


def serve(port: int, reuse_port: bool = False) -> None:
    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, reuse_port=reuse_port or None, shutdown_timeout=1)


if __name__ == "__main__":
    # baseline_server.py PORT [PROCESSES]: with more than one, forked processes share the port
    # (SO_REUSEPORT), as `mockserver serve --workers N` does: the ceiling for its scaling.
    port, processes = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1
    if processes == 1:
        serve(port)
    else:
        import os
        import signal

        children = []
        for _ in range(processes):
            pid = os.fork()
            if pid == 0:
                serve(port, reuse_port=True)
                os._exit(0)
            children.append(pid)

        def stop(signum: int, frame: object) -> None:
            for child in children:
                os.kill(child, signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for child in children:
            os.waitpid(child, 0)

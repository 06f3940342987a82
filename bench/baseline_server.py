"""The baseline: a bare aiohttp app answering a canned Message, and a canned 200-delta stream
(``?paced=1``: with a sleep before every tenth event, as a scenario's per-event delays pace it)."""

from __future__ import annotations

import asyncio
import json
import sys

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


def _event(name: str, data: dict) -> bytes:
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

PACED_DELAYS = [0.001 if i and i % 10 == 0 else 0.0 for i in range(len(STREAM))]
"""``?paced=1``: seconds to sleep before each event (a 1 ms pause every tenth event), the
schedule a scenario's per-event ``delay`` gives the same stream."""


async def messages(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    if not json.loads(body).get("stream"):
        return web.Response(body=MESSAGE, content_type="application/json")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    if request.query.get("paced"):
        for event, delay in zip(STREAM, PACED_DELAYS):
            if delay:
                await asyncio.sleep(delay)
            await response.write(event)
    else:
        for event in STREAM:
            await response.write(event)
    await response.write_eof()
    return response


def serve(port: int, reuse_port: bool = False) -> None:
    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, reuse_port=reuse_port or None)


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

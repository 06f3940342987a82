"""The floor: aiohttp's low-level ``web.Server`` sending one reply mockserver made, doing no work.

It answers every request with the status, headers and body mockserver sent for the benchmark's
non-streaming request (captured by bench/run.py, passed as a JSON file), chunked as mockserver
sends it, through aiohttp's public API only. It reads the body and parses it with orjson, as
mockserver does. What it costs per request is what any server built on aiohttp's ``web.Server``
pays to send a reply of that size and shape; mockserver's own work is the difference
(bench/run.py prints it).

    python bench/floor_server.py PORT REPLY_JSON
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

DROPPED = frozenset({"transfer-encoding", "content-length", "date", "connection"})  # aiohttp writes these itself


def handler_for(reply: dict[str, Any]) -> web.Server:
    status = int(reply["status"])
    headers = CIMultiDict((k, v) for k, v in reply["headers"] if k.lower() not in DROPPED)
    body = str(reply["body"]).encode()

    async def answer(request: web.BaseRequest) -> web.Response:
        orjson.loads(await request.read())
        response = web.Response(status=status, body=body, headers=headers)
        response.enable_chunked_encoding()
        return response

    return web.Server(answer, access_log=None)


async def serve(port: int, reply: dict[str, Any]) -> None:
    runner = web.ServerRunner(handler_for(reply))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    with open(sys.argv[2]) as file:
        captured = json.load(file)
    try:
        asyncio.run(serve(int(sys.argv[1]), captured))
    except KeyboardInterrupt:
        pass

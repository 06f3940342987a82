"""Memory per open stream: a server's resident memory while it holds 0, 250, 500 and 1,000
streams open (each stopped mid-stream by a long pause, as bench/baseline_server.py's ``held``
mode and the benchmark's scenario script it), opened with raw asyncio sockets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

STEPS = (0, 250, 500, 1000)
OPENING_AT_ONCE = 50
SETTLE_SECONDS = 0.5  # after each step, before reading the memory


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of a process, in KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise ValueError(f"no {field} for process {pid}")


def held_request(port: int, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    data = json.dumps(body).encode()
    lines = ["POST /v1/messages HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(data)}", "x-bench-mode: held"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


async def open_stream(port: int, request: bytes) -> asyncio.StreamWriter:
    """A connection whose stream has started: its first delta has arrived."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    seen = b""
    while b"content_block_delta" not in seen:
        chunk = await reader.read(65536)
        if not chunk:
            raise ConnectionError(f"the server closed a held stream: {seen[-300:]!r}")
        seen += chunk
    return writer


async def open_many(port: int, request: bytes, count: int) -> list[asyncio.StreamWriter]:
    gate = asyncio.Semaphore(OPENING_AT_ONCE)

    async def one() -> asyncio.StreamWriter:
        async with gate:
            return await open_stream(port, request)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _measure(pid: int, port: int, request: bytes) -> dict[int, int]:
    """``{open streams: VmRSS KiB}`` at each of :data:`STEPS`."""
    writers: list[asyncio.StreamWriter] = []
    rss: dict[int, int] = {}
    try:
        for step in STEPS:
            writers += await open_many(port, request, step - len(writers))
            await asyncio.sleep(SETTLE_SECONDS)
            rss[step] = rss_kib(pid)
    finally:
        for writer in writers:
            writer.close()
    return rss


def measure(pid: int, port: int, body: dict[str, Any], headers: dict[str, str]) -> dict[int, int]:
    return asyncio.run(_measure(pid, port, held_request(port, body, headers)))


def per_stream_kib(rss: dict[int, int]) -> list[float]:
    """KiB per stream over each step (0 -> 250, 250 -> 500, 500 -> 1000)."""
    steps = sorted(rss)
    return [(rss[b] - rss[a]) / (b - a) for a, b in zip(steps, steps[1:])]


def flat(rss: dict[int, int]) -> bool:
    """Memory grows by about the same amount per stream at every step (no step costs more than
    twice the first's per stream, give or take 4 KiB of page-granular noise)."""
    steps = per_stream_kib(rss)
    return all(step <= 2 * steps[0] + 4 for step in steps)

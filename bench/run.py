"""Benchmark: mockserver beside a bare aiohttp baseline, measured in one run on this machine.

    .venv/bin/python -m bench.run            # or: make bench

Load comes from ``wrk`` (a separate C process) when it is installed, else from a Python aiohttp
client; the table says which. Every number for mockserver is reported next to the same number
for the baseline (bench/baseline_server.py: a handler returning a canned Message, or a canned
200-delta stream), and as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HEADERS = {"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01", "content-type": "application/json"}
MODEL = "claude-haiku-4-5"
PLAIN = {"model": MODEL, "max_tokens": 256, "messages": [{"role": "user", "content": "Hello, how are you today?"}]}
DISTINCT = {**PLAIN, "messages": [{"role": "user", "content": "Hello, how are you today? ({n})"}]}
# With two or more CPUs, server and load generator each get their own (less noise, no contention).
_PINNED = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
PIN_SERVER = ["taskset", "-c", "0"] if _PINNED else []
PIN_CLIENT = ["taskset", "-c", "1"] if _PINNED else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict, timeout: float = 2.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url + "/v1/messages", data=json.dumps(body).encode(), headers=HEADERS)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start and wait for the first 200 to a Messages call; returns seconds since spawn."""
        self.port = free_port()
        started = time.perf_counter()
        argv = [*PIN_SERVER, *(a.replace("{port}", str(self.port)) for a in self.argv)]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                if post(self.url, PLAIN, timeout=0.5)[0] == 200:
                    return time.perf_counter() - started
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}") from None
                time.sleep(0.002)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float


def _wrk_script(body: dict) -> str:
    """A wrk script posting ``body``; a ``{n}`` in it becomes a per-request counter (distinct prompts)."""
    lines = ['wrk.method = "POST"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in HEADERS.items()]
    encoded = json.dumps(body)
    if "{n}" in encoded:
        head, tail = encoded.split("{n}", 1)
        lines += [
            "counter = 0",
            "request = function()",
            "  counter = counter + 1",
            f"  return wrk.format(nil, nil, nil, {json.dumps(head)} .. counter .. {json.dumps(tail)})",
            "end",
        ]
    else:
        lines.append(f"wrk.body = {json.dumps(encoded)}")
    path = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    path.write("\n".join(lines) + "\n")
    path.close()
    return path.name


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, body: dict, connections: int, seconds: float) -> Load:
    script = _wrk_script(body)
    try:
        out = subprocess.run(
            [*PIN_CLIENT, "wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-s", script, url + "/v1/messages"],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    return Load(rps, p50, p99)


async def _python_load(url: str, body: dict, connections: int, seconds: float) -> Load:
    import aiohttp

    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    data = json.dumps(body).encode()

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            async with session.post(url + "/v1/messages", data=data, headers=HEADERS) as response:
                await response.read()
            latencies.append(time.perf_counter() - t)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    latencies.sort()
    return Load(len(latencies) / seconds, latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000)


def load(url: str, body: dict, connections: int, seconds: float, use_wrk: bool) -> Load:
    if use_wrk:
        return wrk(url, body, connections, seconds)
    return asyncio.run(_python_load(url, body, connections, seconds))


def best_of(runs: int, measure) -> Load:  # noqa: ANN001
    """Median by throughput over ``runs`` runs (this machine's noise is large)."""
    results = sorted((measure() for _ in range(runs)), key=lambda r: r.rps)
    return results[len(results) // 2]


def stream_body() -> dict:
    """A streamed request whose reply is about 200 text deltas long (the reply echoes the prompt)."""
    words = " ".join(f"w{i}" for i in range(245))
    return {**PLAIN, "max_tokens": 4096, "stream": True, "messages": [{"role": "user", "content": words}]}


def count_deltas(url: str, body: dict) -> int:
    return post(url, body)[1].count(b"event: content_block_delta")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=4, help="length of each load run")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (the median is kept)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    use_wrk = shutil.which("wrk") is not None
    servers = [
        Server("baseline", [PY, "bench/baseline_server.py", "{port}"]),
        Server("mockserver", [PY, "-m", "mockserver", "serve", "--port", "{port}", "--quiet", "--seed", "1"]),
    ]
    results: dict[str, dict[str, float]] = {}
    for server in servers:
        startups = []
        for _ in range(3):
            startups.append(server.start())
            server.stop()
        row: dict[str, float] = {"startup_s": statistics.median(startups)}
        server.start()
        try:
            for connections in (1, 64):
                measured = best_of(args.runs, lambda: load(server.url, PLAIN, connections, args.seconds, use_wrk))
                row[f"rps_c{connections}"] = measured.rps
                row[f"p50_ms_c{connections}"] = measured.p50_ms
                row[f"p99_ms_c{connections}"] = measured.p99_ms
            if use_wrk:
                row["rps_distinct_c64"] = best_of(args.runs, lambda: load(server.url, DISTINCT, 64, args.seconds, use_wrk)).rps
            streamed = stream_body()
            row["deltas"] = count_deltas(server.url, streamed)
            row["streams_per_s"] = best_of(args.runs, lambda: load(server.url, streamed, 8, args.seconds, use_wrk)).rps
        finally:
            server.stop()
        results[server.name] = row

    base, mock = results["baseline"], results["mockserver"]
    rows = [
        ("non-streaming req/s, concurrency 1", "rps_c1", True),
        ("non-streaming req/s, concurrency 64", "rps_c64", True),
        ("non-streaming req/s, concurrency 64, every prompt different", "rps_distinct_c64", True),
        ("p50 latency ms, concurrency 1", "p50_ms_c1", False),
        ("p99 latency ms, concurrency 1", "p99_ms_c1", False),
        ("p50 latency ms, concurrency 64", "p50_ms_c64", False),
        ("p99 latency ms, concurrency 64", "p99_ms_c64", False),
        ("full 200-delta streams/s (concurrency 8)", "streams_per_s", True),
        ("seconds from process start to first 200", "startup_s", False),
    ]
    pinning = "server and wrk pinned to separate CPUs" if _PINNED else "no CPU pinning"
    print(f"\nLoad generator: {'wrk' if use_wrk else 'Python aiohttp client'}; {os.cpu_count()} CPUs, {pinning}; median of {args.runs} runs of {args.seconds:g}s.")
    print(f"Streams: mockserver sent {int(mock['deltas'])} text deltas per stream, the baseline {int(base['deltas'])}.\n")
    print("| measure | baseline | mockserver | ratio |")
    print("|---|---:|---:|---:|")
    for label, key, higher_is_better in rows:
        if key not in mock:
            continue
        ratio = mock[key] / base[key] if higher_is_better else base[key] / mock[key]
        print(f"| {label} | {base[key]:,.2f} | {mock[key]:,.2f} | {ratio:.2f}x |")
    print("\nratio: mockserver relative to the baseline; above 1 is better for mockserver (for latencies and start-up, baseline/mockserver).")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: one large Message Batch through a real ``mockserver serve``, end to end.

    .venv/bin/python -m bench.batches                # or: make bench-batches
    .venv/bin/python -m bench.batches --requests 50000 --data-dir :memory:

Creates a batch of N distinct requests (10,000 by default) through the official SDK, polls it
until it has ended, and streams its results (counting lines), against a server keeping its
batches in SQLite in a temporary data dir. Reports the time of each phase and the server's
resident memory: after start-up, its peak (``VmHWM``) once the batch is created, and at the end. The peak is
dominated by the create call's body (the JSON of N requests, parsed at once, as any server must);
processing reads pending requests in chunks and results are streamed from storage in pages,
so neither grows with N.
"""

from __future__ import annotations

import argparse
from typing import Any
import subprocess
import tempfile
import time

import anthropic

from bench.open_streams import rss_kib
from tests.process_support import free_port, serve


def rss_mb(pid: int, field: str) -> float | None:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of a process, in MB; ``None`` where there is no /proc."""
    try:
        return rss_kib(pid, field) / 1024
    except (OSError, ValueError):
        return None


def start(port: int, data_dir: str) -> subprocess.Popen[bytes]:
    return serve(port, "--quiet", "--seed", "1", "--data-dir", data_dir)


def run(n: int, data_dir: str) -> dict[str, float | None]:
    port = free_port()
    proc = start(port, data_dir)
    try:
        idle = rss_mb(proc.pid, "VmRSS")
        client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key="sk-ant-bench", timeout=600, max_retries=0)
        requests: list[Any] = [
            {"custom_id": f"req-{i}", "params": {"model": "claude-haiku-4-5", "max_tokens": 128,
                                                 "messages": [{"role": "user", "content": f"Summarise item {i} of the report."}]}}
            for i in range(n)
        ]
        t0 = time.perf_counter()
        batch = client.messages.batches.create(requests=requests)
        del requests
        t1 = time.perf_counter()
        after_create = rss_mb(proc.pid, "VmHWM")
        while batch.processing_status != "ended":
            time.sleep(0.05)
            batch = client.messages.batches.retrieve(batch.id)
        t2 = time.perf_counter()
        lines = size = 0
        with client.messages.batches.with_streaming_response.results(batch.id) as response:
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
                size += len(chunk)
        t3 = time.perf_counter()
        if lines != n or batch.request_counts.succeeded != n:
            raise RuntimeError(f"expected {n} results, got {lines} lines and counts {batch.request_counts}")
        return {
            "create_s": t1 - t0, "process_s": t2 - t1, "results_s": t3 - t2, "total_s": t3 - t0,
            "results_mb": size / 1e6, "rss_idle_mb": idle, "rss_create_mb": after_create,
            "rss_peak_mb": rss_mb(proc.pid, "VmHWM"), "rss_end_mb": rss_mb(proc.pid, "VmRSS"),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000, help="requests in the batch (default 10,000)")
    parser.add_argument("--data-dir", default=None, help="the server's data dir (default: a fresh temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mockserver-bench-") as tmp:
        r = run(args.requests, args.data_dir or tmp)

    def mb(value: float | None) -> str:
        return "n/a" if value is None else f"{value:,.0f} MB"

    print(f"Message Batch of {args.requests:,} requests, SQLite store {'in memory' if args.data_dir == ':memory:' else 'on disk'}:\n")
    print("| phase | time |")
    print("|---|---:|")
    print(f"| create (upload, validate, store) | {r['create_s']:.2f} s |")
    print(f"| processing, until `ended` | {r['process_s']:.2f} s ({args.requests / (r['process_s'] or 1):,.0f} items/s) |")
    print(f"| results streamed ({r['results_mb']:.1f} MB JSONL) | {r['results_s']:.2f} s |")
    print(f"| total | {r['total_s']:.2f} s |")
    print(
        f"\nserver memory: {mb(r['rss_idle_mb'])} after start-up; peak {mb(r['rss_create_mb'])} once the batch was "
        f"created, {mb(r['rss_peak_mb'])} at the end (processing and streaming add what the difference shows); "
        f"{mb(r['rss_end_mb'])} resident at the end"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable
from pathlib import Path

from tests.process_support import free_port

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
    pinned: bool = True  # on CPU 0 (the load generator on CPU 1); unpinned: processes go where the OS puts them
    processes: int = 1  # start() waits until this many answer (mockserver --workers N reports its pid per worker)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start and wait for the first 200 to a Messages call; returns seconds since spawn."""
        self.port = free_port()
        started = time.perf_counter()
        argv = [*(PIN_SERVER if self.pinned else []), *(a.replace("{port}", str(self.port)) for a in self.argv)]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                if post(self.url, PLAIN, timeout=0.5)[0] == 200:
                    elapsed = time.perf_counter() - started
                    self._await_processes()
                    return elapsed
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}") from None
                time.sleep(0.002)

    def _await_processes(self) -> None:
        """Until every worker answers (new connections land on any of them)."""
        if self.processes == 1 or "mockserver" not in self.argv:
            return
        pids: set[int] = set()
        for _ in range(2000):
            with urllib.request.urlopen(self.url + "/_mock/", timeout=2) as response:
                pids.add(json.loads(response.read())["worker"]["pid"])
            if len(pids) >= self.processes:
                return
            time.sleep(0.005)
        raise RuntimeError(f"{self.name}: only {len(pids)} of {self.processes} workers answer")

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


def wrk(url: str, body: dict, connections: int, seconds: float, pinned: bool = True) -> Load:
    script = _wrk_script(body)
    try:
        out = subprocess.run(
            [*(PIN_CLIENT if pinned else []), "wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-s", script, url + "/v1/messages"],
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


def load(url: str, body: dict, connections: int, seconds: float, use_wrk: bool, pinned: bool = True) -> Load:
    if use_wrk:
        return wrk(url, body, connections, seconds, pinned)
    return asyncio.run(_python_load(url, body, connections, seconds))


def interleaved(runs: int, measure_base: Callable[[], Load], measure_mock: Callable[[], Load]) -> tuple[Load, Load, float]:
    """Alternate baseline and mockserver runs, so both see the same moments of this machine's
    (large) background noise; returns each side's median run and the median of the per-pair
    throughput ratios."""
    pairs = [(measure_base(), measure_mock()) for _ in range(runs)]
    ratios = sorted(mock.rps / base.rps for base, mock in pairs)

    def median(loads: list[Load]) -> Load:
        return sorted(loads, key=lambda load: load.rps)[len(loads) // 2]

    return median([b for b, _ in pairs]), median([m for _, m in pairs]), ratios[len(ratios) // 2]


STREAM_BODY = {**PLAIN, "stream": True}


def stream_scenario() -> Path:
    """A scenario file answering streamed calls with exactly the baseline's canned stream (the same
    200 text deltas), so both servers send the same events and only the serving differs."""
    from bench.baseline_server import STREAM

    events = []
    for raw in STREAM:
        head, data = raw.decode().rstrip("\n").split("\n", 1)
        events.append({"event": head.removeprefix("event: "), "data": json.loads(data.removeprefix("data: "))})
    scenario = {"rules": [{"name": "bench-200-deltas", "match": {"stream": True}, "stream": events}]}
    path = Path(tempfile.mkstemp(suffix=".yaml", prefix="bench-stream-")[1])
    path.write_text(json.dumps(scenario))  # JSON is YAML
    return path


def count_deltas(url: str, body: dict) -> int:
    return post(url, body)[1].count(b"event: content_block_delta")


def instructions_per_request(argv: list[str], requests: int = 1000, template: dict = PLAIN) -> float | None:
    """Machine instructions the server executes per non-streaming request, counted by valgrind's
    callgrind: unlike wall-clock numbers, nearly identical from run to run on any machine.
    ``template`` with ``{n}`` in its text varies the prompt per request, as DISTINCT does."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        return None
    port = free_port()
    out = Path(tempfile.mkdtemp(prefix="bench-callgrind-"))
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/cg.%p", *argv]
    proc = subprocess.Popen([a.replace("{port}", str(port)) for a in command], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                post(url, PLAIN, timeout=5)
                break
            except OSError:
                time.sleep(0.1)
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        text = json.dumps(template)
        sent = 0

        def send(n: int) -> None:
            nonlocal sent
            for _ in range(n):
                sent += 1
                connection.request("POST", "/v1/messages", body=text.replace("{n}", str(sent)), headers=HEADERS)
                connection.getresponse().read()

        send(300)  # warm up: imports, caches, the memo
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], capture_output=True, check=True)
        send(requests)
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], capture_output=True, check=True)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
        time.sleep(1)
        totals = [int(line.split()[1]) for f in out.iterdir() for line in f.read_text().splitlines() if line.startswith("totals:")]
        return max(totals) / requests if totals else None
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=4, help="length of each load run")
    parser.add_argument("--runs", type=int, default=5, help="alternating runs per server and measurement (medians are kept)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--no-instructions", action="store_true", help="skip the callgrind instruction count (about a minute)")
    parser.add_argument("--no-workers", action="store_true", help="skip the 1 vs 2 worker processes comparison")
    args = parser.parse_args(argv)

    use_wrk = shutil.which("wrk") is not None
    mock_argv = [PY, "-m", "mockserver", "serve", "--port", "{port}", "--quiet", "--seed", "1"]
    scenario = stream_scenario()
    base_server = Server("baseline", [PY, "bench/baseline_server.py", "{port}"])
    mock_server = Server("mockserver", mock_argv)
    mock_streams = Server("mockserver-streams", [*mock_argv, "--scenario", str(scenario)])
    base: dict[str, float] = {}
    mock: dict[str, float] = {}
    ratios: dict[str, float] = {}

    def startup(server: Server) -> float:
        times = []
        for _ in range(3):
            times.append(server.start())
            server.stop()
        return statistics.median(times)

    base["startup_s"], mock["startup_s"] = startup(base_server), startup(mock_server)
    for server in (base_server, mock_server, mock_streams):
        server.start()
    try:

        def measure(key: str, body: dict, connections: int, mock_url: str) -> None:
            b, m, ratio = interleaved(
                args.runs,
                lambda: load(base_server.url, body, connections, args.seconds, use_wrk),
                lambda: load(mock_url, body, connections, args.seconds, use_wrk),
            )
            base[key], mock[key], ratios[key] = b.rps, m.rps, ratio
            base[key.replace("rps", "p50_ms")], mock[key.replace("rps", "p50_ms")] = b.p50_ms, m.p50_ms
            base[key.replace("rps", "p99_ms")], mock[key.replace("rps", "p99_ms")] = b.p99_ms, m.p99_ms

        measure("rps_c1", PLAIN, 1, mock_server.url)
        measure("rps_c64", PLAIN, 64, mock_server.url)
        if use_wrk:
            measure("rps_distinct_c64", DISTINCT, 64, mock_server.url)
        base["deltas"], mock["deltas"] = count_deltas(base_server.url, STREAM_BODY), count_deltas(mock_streams.url, STREAM_BODY)
        measure("rps_streams", STREAM_BODY, 8, mock_streams.url)
    finally:
        for server in (base_server, mock_server, mock_streams):
            server.stop()
        scenario.unlink()
    scaling: dict[str, dict[str, float]] = {}
    if not args.no_workers:
        scaling = measure_workers(args.runs, args.seconds, use_wrk, mock_argv)
    if not args.no_instructions:
        for row, server in ((base, base_server), (mock, mock_server)):
            counted = instructions_per_request(server.argv)
            if counted is not None:
                row["instructions_per_request"] = counted

    rows = [
        ("non-streaming req/s, concurrency 1", "rps_c1", True),
        ("non-streaming req/s, concurrency 64", "rps_c64", True),
        ("non-streaming req/s, concurrency 64, every prompt different", "rps_distinct_c64", True),
        ("p50 latency ms, concurrency 1", "p50_ms_c1", False),
        ("p99 latency ms, concurrency 1", "p99_ms_c1", False),
        ("p50 latency ms, concurrency 64", "p50_ms_c64", False),
        ("p99 latency ms, concurrency 64", "p99_ms_c64", False),
        ("full 200-delta streams/s (concurrency 8)", "rps_streams", True),
        ("seconds from process start to first 200", "startup_s", False),
        ("CPU instructions per non-streaming request (callgrind)", "instructions_per_request", False),
    ]
    pinning = "server and wrk pinned to separate CPUs" if _PINNED else "no CPU pinning"
    print(f"\nLoad generator: {'wrk' if use_wrk else 'Python aiohttp client'}; {os.cpu_count()} CPUs, {pinning}; "
          f"{args.runs} alternating runs of {args.seconds:g}s per server, medians.")
    print(f"Streams: both servers send the same {int(base['deltas'])}-delta stream (mockserver as a scripted scenario: {int(mock['deltas'])}).\n")
    print("| measure | baseline | mockserver | ratio |")
    print("|---|---:|---:|---:|")
    for label, key, higher_is_better in rows:
        if key not in mock or key not in base:
            continue
        ratio = ratios.get(key) or (mock[key] / base[key] if higher_is_better else base[key] / mock[key])
        print(f"| {label} | {base[key]:,.2f} | {mock[key]:,.2f} | {ratio:.2f}x |")
    print("\nratio: mockserver relative to the baseline (throughput: the median of the alternating runs' ratios; latencies, start-up and\n"
          "instructions: baseline / mockserver), so above 1 is better for mockserver.")
    if scaling:
        print(f"\nWorker processes (non-streaming req/s, concurrency 64; servers and wrk unpinned, sharing the {os.cpu_count()} CPUs):\n")
        print("| server | 1 process | 2 processes | scaling | CPUs busy, 1 → 2 processes |")
        print("|---|---:|---:|---:|---:|")
        for label, key in (("baseline (bare aiohttp, 2 forked processes on SO_REUSEPORT)", "baseline"), ("mockserver (`--workers 2`)", "mockserver")):
            row = scaling[key]
            cpus = f"{row['cpus_one']:.2f} → {row['cpus_two']:.2f}" if "cpus_one" in row else "-"
            print(f"| {label} | {row['one']:,.2f} | {row['two']:,.2f} | {row['scaling']:.2f}x | {cpus} |")
        print("\nscaling: the median of the alternating runs' ratios, 2 processes / 1 process. CPUs busy: the server processes'\n"
              "CPU time over the run's length (medians); 2 processes on an idle 2-CPU machine get about 1.8 (the rest is wrk's).")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"baseline": base, "mockserver": mock, "ratios": ratios, "workers": scaling}, indent=2))
    return 0


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of a process and its children's threads so far; None off Linux."""
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        total = 0.0
        for each in [pid, *map(int, children)]:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total
    except (OSError, ValueError, IndexError):
        return None


def measure_workers(runs: int, seconds: float, use_wrk: bool, mock_argv: list[str]) -> dict[str, dict[str, float]]:
    """1 process against 2 on the non-streaming workload, everything unpinned (two workers need
    both CPUs, which they share with the load generator): mockserver --workers 2, and beside it
    the bare aiohttp baseline forked twice on SO_REUSEPORT (what two processes can do here).
    Each side also reports the CPUs its processes kept busy: on a machine others share, two
    workers may get far less than two CPUs, and the scaling then says more about the machine."""
    out: dict[str, dict[str, float]] = {}
    pairs = (
        ("baseline", Server("baseline-1", [PY, "bench/baseline_server.py", "{port}"], pinned=False),
         Server("baseline-2", [PY, "bench/baseline_server.py", "{port}", "2"], pinned=False, processes=2)),
        ("mockserver", Server("mockserver-1", mock_argv, pinned=False),
         Server("mockserver-2", [*mock_argv, "--workers", "2"], pinned=False, processes=2)),
    )
    for key, one, two in pairs:
        one.start(), two.start()
        busy: dict[str, list[float]] = {"one": [], "two": []}

        def measured(server: Server, side: str) -> Callable[[], Load]:
            def run() -> Load:
                assert server.proc is not None
                before, started = cpu_seconds(server.proc.pid), time.perf_counter()
                result = load(server.url, PLAIN, 64, seconds, use_wrk, pinned=False)
                after, elapsed = cpu_seconds(server.proc.pid), time.perf_counter() - started
                if before is not None and after is not None:
                    busy[side].append((after - before) / elapsed)
                return result
            return run

        try:
            a, b, ratio = interleaved(runs, measured(one, "one"), measured(two, "two"))
        finally:
            one.stop(), two.stop()
        out[key] = {"one": a.rps, "two": b.rps, "scaling": ratio}
        if busy["one"] and busy["two"]:
            out[key]["cpus_one"] = statistics.median(busy["one"])
            out[key]["cpus_two"] = statistics.median(busy["two"])
    return out


if __name__ == "__main__":
    raise SystemExit(main())

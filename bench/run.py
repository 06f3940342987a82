"""Benchmark: mockserver beside a bare aiohttp baseline, measured in one run on this machine.

    .venv/bin/python -m bench.run                        # or: make bench (about 6 minutes)
    .venv/bin/python -m bench.run --runs 1 --seconds 2   # a quick look
    .venv/bin/python -m bench.run --compare /work/wt/before   # also another checkout's mockserver

Load comes from ``wrk`` (a separate C process) when it is installed, else from a Python aiohttp
client; the table says which. Every number for mockserver is reported next to the same number
for the baseline (bench/baseline_server.py: a handler returning a canned Message, a canned
200-delta stream, paced or held open, and a token count), and as a ratio. Rows: throughput and
latency (non-streaming, every prompt different, count_tokens, with scenario rules loaded, streams
unpaced, paced and in bursts), start-up time and peak memory with and without scenario files,
memory per open stream (bench/open_streams.py), a 10,000-item Message Batch (bench/batches.py),
CPU instructions per request (callgrind) and 1 against 2 worker processes.
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
from dataclasses import asdict, dataclass, field
from typing import Any, Callable
from pathlib import Path

from bench import open_streams
from bench.baseline_server import FIRST_DELTA, HOLD_SECONDS, PACE_SECONDS, delay_before
from tests.process_support import free_port

ROOT = Path(__file__).resolve().parent.parent
Body = dict[str, Any]  # a request body, as JSON
PY = sys.executable
HEADERS = {"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01", "content-type": "application/json"}
MODEL = "claude-haiku-4-5"
MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"
PLAIN = {"model": MODEL, "max_tokens": 256, "messages": [{"role": "user", "content": "Hello, how are you today?"}]}
DISTINCT = {**PLAIN, "messages": [{"role": "user", "content": "Hello, how are you today? ({n})"}]}
COUNT = {"model": MODEL, "messages": [{"role": "user", "content": "Hello, how are you today? How many tokens is this?"}]}
STREAM_BODY = {**PLAIN, "stream": True}
PACED = {"x-bench-mode": "paced"}
BURSTS = {"x-bench-mode": "bursts"}
# Realistic scenario files for the start-up and memory rows: replies checked against the
# response schema when they load, raw streams, server tools.
SCENARIO_FIXTURES = [ROOT / "fixtures" / name for name in ("replies.yaml", "streams.yaml", "server-tools.yaml")]
RULES = ROOT / "fixtures" / "replies.yaml"  # seven rules, none of which matches the benchmark's requests
# Servers start as users start them: PYTHONDONTWRITEBYTECODE would recompile every import each time.
SERVER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
# With two or more CPUs, server and load generator each get their own (less noise, no contention).
_PINNED = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
PIN_SERVER = ["taskset", "-c", "0"] if _PINNED else []
PIN_CLIENT = ["taskset", "-c", "1"] if _PINNED else []


def post(url: str, body: Body, timeout: float = 2.0, path: str = MESSAGES, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers={**HEADERS, **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    pinned: bool = True  # on CPU 0 (the load generator on CPU 1); unpinned: processes go where the OS puts them
    processes: int = 1  # start() waits until this many answer (mockserver --workers N reports its pid per worker)
    cwd: Path = ROOT  # another checkout's mockserver (--compare) runs from its own root
    env: dict[str, str] = field(default_factory=lambda: SERVER_ENV)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start and wait for the first 200 to a Messages call; returns seconds since spawn."""
        self.port = free_port()
        started = time.perf_counter()
        argv = [*(PIN_SERVER if self.pinned else []), *(a.replace("{port}", str(self.port)) for a in self.argv)]
        self.proc = subprocess.Popen(argv, cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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

    def peak_rss_mib(self) -> float:
        assert self.proc is not None
        return open_streams.rss_kib(self.proc.pid, "VmHWM") / 1024

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
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Workload:
    """One load: a request sent over and over on ``connections`` connections."""

    key: str
    name: str
    body: Body
    connections: int
    path: str = MESSAGES
    headers: dict[str, str] = field(default_factory=dict)
    streams: bool = False  # served by mockserver with the benchmark's stream scenario loaded
    compare: bool = False  # also run on the --compare checkout
    latency: bool = False  # also report p50 and p99
    floor: float | None = None  # also run on the floor (bench/floor_server.py); the ratio whose budget it prints
    journal: bool = True  # False: mockserver keeps no journal (--journal-limit 0, as a load test runs it)
    rules: bool = False  # mockserver (and the --compare checkout) with RULES loaded, none of which matches: every call
    # is matched against seven rules (a repeated one is still answered by the reply memo, the checkout's parses it)

    def label(self, measure: str = "req/s") -> str:
        return f"{self.name}: {measure}, concurrency {self.connections}"


WORKLOADS = [
    Workload("rps_c1", "non-streaming, one repeated request", PLAIN, 1, compare=True, latency=True),
    Workload("rps_c64", "non-streaming, one repeated request", PLAIN, 64, compare=True, latency=True, floor=0.85),
    Workload("rps_distinct_c64", "non-streaming, every prompt different", DISTINCT, 64, compare=True, latency=True, floor=0.7),
    Workload("rps_count_tokens_c64", "count_tokens", COUNT, 64, COUNT_TOKENS, compare=True, latency=True),
    Workload("rps_c64_rules", "non-streaming, one repeated request, 7 scenario rules loaded (none matching)", PLAIN, 64,
             compare=True, rules=True),
    Workload("rps_distinct_c64_rules", "non-streaming, every prompt different, 7 scenario rules loaded (none matching)", DISTINCT,
             64, compare=True, rules=True),
    Workload("rps_c64_no_journal", "non-streaming, one repeated request, no journal (--journal-limit 0)", PLAIN, 64, journal=False),
    Workload("rps_distinct_c64_no_journal", "non-streaming, every prompt different, no journal (--journal-limit 0)", DISTINCT, 64,
             journal=False),
    Workload("rps_count_tokens_c64_no_journal", "count_tokens, no journal (--journal-limit 0)", COUNT, 64, COUNT_TOKENS, journal=False),
    Workload("rps_streams_c16", "full 200-delta streams, unpaced", STREAM_BODY, 16, streams=True),
    Workload("rps_streams_paced_c16", f"full 200-delta streams, paced ({PACE_SECONDS * 1000:g} ms before each delta)",
             STREAM_BODY, 16, headers=PACED, streams=True),
    Workload("rps_streams_bursts_c16", f"full 200-delta streams, paced in bursts ({PACE_SECONDS * 1000:g} ms before every tenth event)",
             STREAM_BODY, 16, headers=BURSTS, streams=True),
]


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float


def _wrk_script(workload: Workload) -> str:
    """A wrk script posting the workload's body; a ``{n}`` in it becomes a per-request counter (distinct prompts)."""
    lines = ['wrk.method = "POST"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in {**HEADERS, **workload.headers}.items()]
    encoded = json.dumps(workload.body)
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


def wrk(url: str, workload: Workload, seconds: float, pinned: bool = True) -> Load:
    script = _wrk_script(workload)
    try:
        out = subprocess.run(
            [*(PIN_CLIENT if pinned else []), "wrk", "-t1", f"-c{workload.connections}", f"-d{int(seconds)}s", "--latency", "-s", script, url + workload.path],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    return Load(rps, p50, p99)


async def _python_load(url: str, workload: Workload, seconds: float) -> Load:
    import aiohttp

    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    text = json.dumps(workload.body)
    headers = {**HEADERS, **workload.headers}

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            data = text.replace("{n}", str(len(latencies)))
            async with session.post(url + workload.path, data=data, headers=headers) as response:
                await response.read()
            latencies.append(time.perf_counter() - t)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workload.connections)) as session:
        await asyncio.gather(*(worker(session) for _ in range(workload.connections)))
    latencies.sort()
    return Load(len(latencies) / seconds, latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000)


def load(url: str, workload: Workload, seconds: float, use_wrk: bool, pinned: bool = True) -> Load:
    if use_wrk:
        return wrk(url, workload, seconds, pinned)
    return asyncio.run(_python_load(url, workload, seconds))


def interleaved(runs: int, measures: list[Callable[[], Load]]) -> tuple[list[Load], list[float]]:
    """Take turns (first, second, …, first, second, …), so every side sees the same moments of
    this machine's (large) background noise; returns each side's median run and, for each side,
    the median of its per-turn throughput ratios to the first side."""
    turns = [[measure() for measure in measures] for _ in range(runs)]

    def median(loads: list[Load]) -> Load:
        return sorted(loads, key=lambda load: load.rps)[len(loads) // 2]

    medians = [median([turn[side] for turn in turns]) for side in range(len(measures))]
    ratios = [statistics.median(turn[side].rps / turn[0].rps for turn in turns) for side in range(len(measures))]
    return medians, ratios


@dataclass
class Row:
    """One line of the table; ``ratio``: mockserver relative to the baseline, above 1 better."""

    label: str
    baseline: float | None
    mockserver: float | None
    ratio: float | None = None
    before: float | None = None
    before_ratio: float | None = None


def lower_is_better(label: str, baseline: float, mock: float, before: float | None = None) -> Row:
    """A row of latencies, seconds, memory or instructions: the ratio is baseline / mockserver."""
    return Row(label, baseline, mock, baseline / mock, before, baseline / before if before else None)


def throughput_rows(workload: Workload, loads: list[Load], ratios: list[float]) -> dict[str, Row]:
    base, mock, before = loads[0], loads[1], loads[2] if len(loads) > 2 else None
    rows = {workload.key: Row(workload.label(), base.rps, mock.rps, ratios[1], before.rps if before else None, ratios[2] if before else None)}
    if workload.latency:
        for name in ("p50_ms", "p99_ms"):
            rows[workload.key.replace("rps", name)] = lower_is_better(
                workload.label(f"{name[:3]} ms"), getattr(base, name), getattr(mock, name), getattr(before, name) if before else None)
    return rows


def stream_scenario() -> Path:
    """A scenario file answering streamed calls with exactly the baseline's canned stream (the same
    200 text deltas), so both servers send the same events and only the serving differs: unpaced,
    paced and held as bench/baseline_server.py's ``x-bench-mode`` header picks them."""
    from bench.baseline_server import STREAM

    def events(mode: str | None) -> list[Body]:
        out = []
        for index, raw in enumerate(STREAM):
            head, data = raw.decode().rstrip("\n").split("\n", 1)
            event = {"event": head.removeprefix("event: "), "data": json.loads(data.removeprefix("data: "))}
            delay = delay_before(index, mode)
            out.append({**event, "delay": delay} if delay else event)
        return out

    rules = [
        {"name": f"bench-200-deltas-{mode}", "match": {"stream": True, "headers": {"x-bench-mode": mode}}, "stream": events(mode)}
        for mode in ("paced", "bursts", "held")
    ]
    rules.append({"name": "bench-200-deltas", "match": {"stream": True}, "stream": events(None)})
    path = Path(tempfile.mkstemp(suffix=".yaml", prefix="bench-stream-")[1])
    path.write_text(json.dumps({"rules": rules}))  # JSON is YAML
    return path


def sse_events(url: str, headers: dict[str, str]) -> list[tuple[str, Any]]:
    """The ``(event, decoded data)`` pairs of one streamed answer."""
    raw = post(url, STREAM_BODY, timeout=30, headers=headers)[1].decode()
    pairs = []
    for block in raw.split("\n\n"):
        if block.strip():
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            pairs.append((fields.get("event", ""), json.loads(fields.get("data", "null"))))
    return pairs


def compare_events(base_url: str, mock_url: str) -> dict[str, dict[str, float]]:
    """Events each side sends, unpaced and paced, and whether mockserver's are the baseline's,
    one by one (event boundaries kept)."""
    out = {}
    for mode, headers in (("unpaced", {}), ("paced", PACED), ("in bursts", BURSTS)):
        base, mock = sse_events(base_url, headers), sse_events(mock_url, headers)
        out[mode] = {"baseline": len(base), "mockserver": len(mock), "same": float(base == mock)}
    return out


def startup(server: Server, runs: int = 3) -> tuple[float, float]:
    """Median seconds from spawn to the first 200 and the largest peak RSS (MiB) then; one
    discarded start first writes the bytecode caches."""
    times, peaks = [], []
    for index in range(runs + 1):
        elapsed = server.start()
        peak = server.peak_rss_mib()
        server.stop()
        if index:
            times.append(elapsed)
            peaks.append(peak)
    return statistics.median(times), max(peaks)


def startup_rows(base: Server, mock_argv: list[str]) -> dict[str, Row]:
    base_s, base_mib = startup(base)
    none_s, none_mib = startup(Server("mockserver", mock_argv))
    files_s, files_mib = startup(Server("mockserver-scenarios", [*mock_argv, "--scenario", *map(str, SCENARIO_FIXTURES)]))
    files = f"{len(SCENARIO_FIXTURES)} scenario files ({', '.join(p.name for p in SCENARIO_FIXTURES)})"
    return {
        "startup_s": lower_is_better("seconds from process start to first 200, no scenario file", base_s, none_s),
        "startup_scenarios_s": lower_is_better(f"seconds from process start to first 200, {files}", base_s, files_s),
        "peak_rss_mib": lower_is_better("peak RSS MiB at the first 200, no scenario file", base_mib, none_mib),
        "peak_rss_scenarios_mib": lower_is_better(f"peak RSS MiB at the first 200, {files}", base_mib, files_mib),
    }


def open_stream_rows(base: Server, mock: Server) -> tuple[dict[str, Row], dict[str, dict[str, Any]]]:
    """Each server freshly started, holding 0 to 1,000 streams open (bench/open_streams.py)."""
    measured = {}
    for server in (base, mock):
        server.start()
        try:
            assert server.proc is not None
            measured[server.name] = open_streams.measure(server.proc.pid, server.port, STREAM_BODY, HEADERS)
        finally:
            server.stop()
    b, m = measured[base.name], measured[mock.name]
    rows = {f"rss_open_{n}_mib": lower_is_better(f"server RSS MiB, {n:,} streams held open", b[n] / 1024, m[n] / 1024) for n in b}
    top = max(b)
    rows["kib_per_open_stream"] = lower_is_better(f"KiB per open stream (0 -> {top:,})", (b[top] - b[0]) / top, (m[top] - m[0]) / top)
    detail = {name: {"rss_kib": rss, "kib_per_stream_by_step": open_streams.per_stream_kib(rss), "flat": open_streams.flat(rss)}
              for name, rss in (("baseline", b), ("mockserver", m))}
    return rows, detail


def batch_rows(requests: int) -> dict[str, float | None]:
    """bench/batches.py's Message Batch, end to end, through a fresh mockserver."""
    from bench import batches

    with tempfile.TemporaryDirectory(prefix="mockserver-bench-") as data_dir:
        return batches.run(requests, data_dir)


def instructions_per_request(argv: list[str], templates: dict[str, tuple[str, Body]], requests: int = 1000) -> dict[str, float]:
    """Machine instructions the server executes per request, for each ``{key: (path, body)}``,
    counted by valgrind's callgrind in one server process: unlike wall-clock numbers, nearly
    identical from run to run on any machine. A body with ``{n}`` in its text varies per request,
    as DISTINCT does."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        return {}
    port = free_port()
    out = Path(tempfile.mkdtemp(prefix="bench-callgrind-"))
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/cg.%p", *argv]
    proc = subprocess.Popen([a.replace("{port}", str(port)) for a in command], cwd=ROOT, env=SERVER_ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def control(*args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(proc.pid)], capture_output=True, check=True)

    try:
        _await_valgrind(f"http://127.0.0.1:{port}")
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        sent = 0

        def send(path: str, body: Body, n: int) -> None:
            nonlocal sent
            text = json.dumps(body)
            for _ in range(n):
                sent += 1
                connection.request("POST", path, body=text.replace("{n}", str(sent)), headers=HEADERS)
                connection.getresponse().read()

        counted = {}
        for key, (path, body) in templates.items():
            send(path, body, 300)  # warm up: imports, caches, the memo
            control("-i", "on")
            send(path, body, requests)
            control("-i", "off")
            control("-d")  # writes the counts since the last dump, and zeroes them
            counted[key] = _take_totals(out) / requests
        return counted
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(out, ignore_errors=True)


def _await_valgrind(url: str) -> None:
    for _ in range(600):
        try:
            post(url, PLAIN, timeout=5)
            return
        except OSError:
            time.sleep(0.1)


def _take_totals(out: Path) -> int:
    """The instruction total of the dump in ``out`` (then removed, so the next dump is alone there)."""
    for _ in range(200):  # the dump may still be under way
        for dump in out.iterdir():
            totals = [line for line in dump.read_text().splitlines() if line.startswith("totals:")]
            if totals:
                dump.unlink()
                return int(totals[0].split()[1])
        time.sleep(0.05)
    raise RuntimeError("callgrind wrote no counts")


CALLGRIND: dict[str, tuple[str, str, Body]] = {
    "instructions_per_request": ("CPU instructions per non-streaming request (callgrind), one repeated request", MESSAGES, PLAIN),
    "instructions_per_distinct_request": ("CPU instructions per non-streaming request (callgrind), every prompt different", MESSAGES, DISTINCT),
    "instructions_per_count_tokens": ("CPU instructions per count_tokens request (callgrind)", COUNT_TOKENS, COUNT),
}


def callgrind_rows(base_argv: list[str], mock_argv: list[str]) -> dict[str, Row]:
    templates = {key: (path, body) for key, (_, path, body) in CALLGRIND.items()}
    base, mock = instructions_per_request(base_argv, templates), instructions_per_request(mock_argv, templates)
    return {key: lower_is_better(label, base[key], mock[key]) for key, (label, _, _) in CALLGRIND.items() if key in base and key in mock}


def capture(url: str, body: Body) -> dict[str, Any]:
    """Status, headers and body of mockserver's answer to ``body``, for the floor to send."""
    request = urllib.request.Request(url + MESSAGES, data=json.dumps(body).encode(), headers=HEADERS)
    with urllib.request.urlopen(request, timeout=5) as response:
        return {"status": response.status, "headers": list(response.headers.items()), "body": response.read().decode()}


@dataclass
class Floor:
    """One workload on the baseline, mockserver and the floor, in req/s; ``floor_ratio``: the floor's to the baseline's."""

    label: str
    baseline: float
    mockserver: float
    floor: float
    floor_ratio: float
    target: float

    def print(self) -> None:
        """Per request, as the server is saturated: microseconds are 1e6 / req/s."""
        target = self.target
        floor_us, mock_us, target_us = 1e6 / self.floor, 1e6 / self.mockserver, 1e6 / (self.baseline * target)
        print(f"\nWhere the time goes ({self.label}): the floor, aiohttp's web.Server sending mockserver's own reply and "
              f"doing nothing else (bench/floor_server.py), serves {self.floor:,.0f} req/s, {self.floor_ratio:.2f}x the "
              f"baseline. Per request that is {floor_us:.0f} µs; mockserver takes {mock_us:.0f} µs, so its own work "
              f"(the edge, the pipeline, the journal) costs {mock_us - floor_us:.0f} µs. {target:.2f}x the baseline "
              f"would leave it {target_us - floor_us:.0f} µs.")


def throughput(args: argparse.Namespace, use_wrk: bool, mock_argv: list[str]) -> tuple[dict[str, Row], dict[str, dict[str, float]], dict[str, Floor]]:
    """Every workload, the servers taking turns; the events each side streams; the floor where
    a workload asks for it."""
    scenario = stream_scenario()
    reply = Path(tempfile.mkstemp(suffix=".json", prefix="bench-reply-")[1])
    base = Server("baseline", [PY, "bench/baseline_server.py", "{port}"])
    mock = Server("mockserver", mock_argv)
    streams = Server("mockserver-streams", [*mock_argv, "--scenario", str(scenario)])
    unjournaled = Server("mockserver-no-journal", [*mock_argv, "--journal-limit", "0"])
    floor = Server("floor", [PY, "bench/floor_server.py", "{port}", str(reply)])
    ruled = Server("mockserver-rules", [*mock_argv, "--scenario", str(RULES)])
    before = compare_server(args.compare, mock_argv) if args.compare else None
    before_ruled = compare_server(args.compare, [*mock_argv, "--scenario", str(RULES)]) if args.compare else None
    servers = [s for s in (base, mock, streams, unjournaled, ruled, before, before_ruled) if s is not None]
    rows: dict[str, Row] = {}
    floors: dict[str, Floor] = {}
    try:
        for server in servers:
            server.start()
        reply.write_text(json.dumps(capture(mock.url, PLAIN)))
        servers.append(floor)
        floor.start()
        events = compare_events(base.url, streams.url)
        for workload in WORKLOADS:
            ours = streams if workload.streams else ruled if workload.rules else mock if workload.journal else unjournaled
            theirs = before_ruled if workload.rules else before
            sides = [base, ours, *([theirs] if theirs and workload.compare else [])]
            measures = [_measure(side.url, workload, args.seconds, use_wrk) for side in sides]
            if workload.floor is not None:
                measures.append(_measure(floor.url, workload, args.seconds, use_wrk))
            loads, ratios = interleaved(args.runs, measures)
            rows.update(throughput_rows(workload, loads[:len(sides)], ratios[:len(sides)]))
            if workload.floor is not None:
                floors[workload.key] = Floor(workload.label(), loads[0].rps, loads[1].rps, loads[-1].rps, ratios[-1], workload.floor)
    finally:
        for server in servers:
            server.stop()
        scenario.unlink()
        reply.unlink()
    return rows, events, floors


def _measure(url: str, workload: Workload, seconds: float, use_wrk: bool) -> Callable[[], Load]:
    return lambda: load(url, workload, seconds, use_wrk)


def compare_server(root: Path, mock_argv: list[str]) -> Server:
    """Another checkout's mockserver, run by this interpreter from that checkout's root."""
    env = {**SERVER_ENV, "PYTHONPATH": str(root)}
    return Server("before", mock_argv, cwd=root, env=env)


def print_table(rows: dict[str, Row], compare: bool) -> None:
    def cell(value: float | None, suffix: str = "") -> str:
        return "-" if value is None else f"{value:,.2f}{suffix}"

    head = "| measure | baseline | mockserver | ratio |" + (" before | before's ratio |" if compare else "")
    print(head)
    print("|---|" + "---:|" * (head.count("|") - 2))
    for row in rows.values():
        line = f"| {row.label} | {cell(row.baseline)} | {cell(row.mockserver)} | {cell(row.ratio, 'x')} |"
        print(line + (f" {cell(row.before)} | {cell(row.before_ratio, 'x')} |" if compare else ""))


def print_events(events: dict[str, dict[str, float]]) -> None:
    for mode, seen in events.items():
        same = "the same events, one by one (event boundaries kept)" if seen["same"] else "DIFFERENT events"
        print(f"Streams, {mode}: baseline sends {int(seen['baseline'])} events, mockserver {int(seen['mockserver'])}: {same}.")


def print_open_streams(detail: dict[str, dict[str, Any]]) -> None:
    for name, seen in detail.items():
        steps = ", ".join(f"{kib:.1f}" for kib in seen["kib_per_stream_by_step"])
        print(f"Open streams, {name}: KiB per stream over 0-250, 250-500, 500-1000 open: {steps} "
              f"({'flat' if seen['flat'] else 'NOT flat'}).")


def print_batch(batch: dict[str, float | None], requests: int) -> None:
    def mib(value: float | None) -> str:
        return "n/a" if value is None else f"{value:,.0f} MB"

    print(f"\nMessage Batch of {requests:,} requests through mockserver (bench/batches.py): create {batch['create_s']:.2f} s, "
          f"processing {batch['process_s']:.2f} s, results {batch['results_s']:.2f} s; server memory {mib(batch['rss_idle_mb'])} "
          f"after start-up, peak {mib(batch['rss_create_mb'])} once created, {mib(batch['rss_peak_mb'])} at the end.")


def print_workers(scaling: dict[str, dict[str, float]]) -> None:
    print(f"\nWorker processes (non-streaming req/s, concurrency 64; servers and wrk unpinned, sharing the {os.cpu_count()} CPUs):\n")
    print("| server | 1 process | 2 processes | scaling | CPUs busy, 1 → 2 processes |")
    print("|---|---:|---:|---:|---:|")
    for label, key in (("baseline (bare aiohttp, 2 forked processes on SO_REUSEPORT)", "baseline"), ("mockserver (`--workers 2`)", "mockserver")):
        row = scaling[key]
        cpus = f"{row['cpus_one']:.2f} → {row['cpus_two']:.2f}" if "cpus_one" in row else "-"
        print(f"| {label} | {row['one']:,.2f} | {row['two']:,.2f} | {row['scaling']:.2f}x | {cpus} |")
    print("\nscaling: the median of the alternating runs' ratios, 2 processes / 1 process. CPUs busy: the server processes'\n"
          "CPU time over the run's length (medians); 2 processes on an idle 2-CPU machine get about 1.8 (the rest is wrk's).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=3, help="length of each load run")
    parser.add_argument("--runs", type=int, default=3, help="alternating runs per server and measurement (medians are kept)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--compare", type=Path, default=None, metavar="ROOT",
                        help="also run the mockserver of the checkout at ROOT (with this interpreter) on the non-streaming rows")
    parser.add_argument("--batch-requests", type=int, default=10_000, help="items in the Message Batch (0: skip it)")
    parser.add_argument("--no-instructions", action="store_true", help="skip the callgrind instruction counts (about two minutes)")
    parser.add_argument("--no-workers", action="store_true", help="skip the 1 vs 2 worker processes comparison")
    args = parser.parse_args(argv)

    use_wrk = shutil.which("wrk") is not None
    base_argv = [PY, "bench/baseline_server.py", "{port}"]
    mock_argv = [PY, "-m", "mockserver", "serve", "--port", "{port}", "--quiet", "--seed", "1"]
    rows, events, floors = throughput(args, use_wrk, mock_argv)
    rows.update(startup_rows(Server("baseline", base_argv), mock_argv))
    scenario = stream_scenario()
    try:
        held_rows, held = open_stream_rows(Server("baseline", base_argv), Server("mockserver", [*mock_argv, "--scenario", str(scenario)]))
    finally:
        scenario.unlink()
    rows.update(held_rows)
    batch = batch_rows(args.batch_requests) if args.batch_requests else {}
    if not args.no_instructions:
        rows.update(callgrind_rows(base_argv, mock_argv))
    scaling = {} if args.no_workers else measure_workers(args.runs, args.seconds, use_wrk, mock_argv)

    pinning = "server and wrk pinned to separate CPUs" if _PINNED else "no CPU pinning"
    print(f"\nLoad generator: {'wrk' if use_wrk else 'Python aiohttp client'}; {os.cpu_count()} CPUs, {pinning}; "
          f"{args.runs} alternating runs of {args.seconds:g}s per server, medians."
          + (f" before: the mockserver of {args.compare}." if args.compare else ""))
    print_events(events)
    print_open_streams(held)
    print()
    print_table(rows, args.compare is not None)
    print("\nratio: mockserver (before: that checkout's) relative to the baseline (throughput: the median of the alternating\n"
          "runs' ratios; latencies, start-up, memory and instructions: baseline / mockserver), so above 1 is better for mockserver.")
    for floor in floors.values():
        floor.print()
    if batch:
        print_batch(batch, args.batch_requests)
    if scaling:
        print_workers(scaling)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        results = {"rows": {key: asdict(row) for key, row in rows.items()}, "stream_events": events,
                   "open_streams": held, "batch": batch, "workers": scaling, "floor": {k: asdict(f) for k, f in floors.items()}}
        args.json.write_text(json.dumps(results, indent=2))
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
        one.start()
        two.start()
        busy: dict[str, list[float]] = {"one": [], "two": []}

        def measured(server: Server, side: str) -> Callable[[], Load]:
            def run() -> Load:
                assert server.proc is not None
                before, started = cpu_seconds(server.proc.pid), time.perf_counter()
                result = load(server.url, WORKLOADS[1], seconds, use_wrk, pinned=False)
                after, elapsed = cpu_seconds(server.proc.pid), time.perf_counter() - started
                if before is not None and after is not None:
                    busy[side].append((after - before) / elapsed)
                return result
            return run

        try:
            (a, b), (_, ratio) = interleaved(runs, [measured(one, "one"), measured(two, "two")])
        finally:
            one.stop()
            two.stop()
        out[key] = {"one": a.rps, "two": b.rps, "scaling": ratio}
        if busy["one"] and busy["two"]:
            out[key]["cpus_one"] = statistics.median(busy["one"])
            out[key]["cpus_two"] = statistics.median(busy["two"])
    return out


if __name__ == "__main__":
    raise SystemExit(main())

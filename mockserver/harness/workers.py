"""``mockserver serve --workers N``: N processes answering on one port.

A small master process starts the workers and watches them. Each worker is a whole server (its
own event loop, its own :class:`~mockserver.root.Api`) bound to the same host and port with
``SO_REUSEPORT``, so the kernel spreads connections over them and throughput grows with cores;
no request passes through the master. Worker 0 binds first (so ``--port 0`` picks one port for
all), the others follow; the master announces the server once every worker answers. A worker
that dies is started again (the others go on serving meanwhile); SIGINT or SIGTERM to the master
stops every worker cleanly.

What workers share is what their store shares: with ``--state redis://…`` everything (rules,
counts, limits, journal, cache, batches, admin changes); without it each worker keeps its own,
and the master says so.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any, Callable

from mockserver.config import Config
from mockserver.ids import IdGenerator
from mockserver.root import Api
from mockserver.store.sqlite import MEMORY

log = logging.getLogger("mockserver")
Announcement = Callable[[Api, str], list[str]]
Explain = Callable[[BaseException, Config], "tuple[str, int] | None"]
START_TIMEOUT = 60.0
RESTART_WITHIN = 2.0  # a worker dying this soon after starting counts towards giving up
GIVE_UP_AFTER = 5  # quick deaths in a row

PER_WORKER = (
    "the journal, scenario counts and sequences, rate-limit buckets, the prompt cache, rules and limits "
    "set at run time (/_mock/ reaches one worker) and Message Batches (in memory)"
)


def can_share_port() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def worker_config(config: Config, count: int) -> Config:
    """What every worker runs with: one organization id for all (unseeded, each would draw its
    own); without a shared store, batches in memory (a data dir has one processor at a time)."""
    changes: dict[str, Any] = {"organization_id": config.organization_id or IdGenerator(config.seed).uuid()}
    if not config.state and count > 1:
        changes["data_dir"] = MEMORY
    return replace(config, **changes)


def per_worker_note(config: Config, count: int) -> str | None:
    if config.state or count < 2:
        return None
    return f"mockserver: {count} workers without --state: each keeps its own {PER_WORKER}; pass --state redis://HOST:PORT/DB to share them"


def _context() -> Any:
    # fork: a worker starts at once, with everything the master imported (the master has no
    # threads and no event loop); elsewhere, spawn.
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _worker(config: Config, index: int, port: int, report: Connection, announcement: Announcement, explain: Explain) -> None:
    """One worker: a whole server on the shared port, until SIGINT/SIGTERM."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    import asyncio

    from mockserver.http.runner import serve_until_signalled

    config = replace(config, worker=index, port=port)

    async def serve() -> None:
        api = Api(config)

        def ready(url: str) -> None:
            report.send(("ready", index, os.getpid(), url, announcement(api, url) if index == 0 else []))

        await serve_until_signalled(api, config.host, port, ready, reuse_port=True)

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    except BaseException as exc:
        explained = explain(exc, config)
        if explained is None:
            raise
        message, code = explained
        report.send(("failed", index, os.getpid(), message, code))
        sys.exit(code)


class Workers:
    def __init__(self, config: Config, count: int, announcement: Announcement, explain: Explain) -> None:
        self.config = worker_config(config, count)
        self.count = count
        self.announcement = announcement
        self.explain = explain
        self.port = config.port
        self.procs: dict[int, Any] = {}
        self.started: dict[int, float] = {}
        self.quick_deaths = 0
        self._ctx = _context()
        self._stopping = False

    def _start(self, index: int) -> tuple[Any, Connection]:
        receive, send = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_worker, args=(self.config, index, self.port, send, self.announcement, self.explain),
            name=f"mockserver-worker-{index}", daemon=False,
        )
        proc.start()
        send.close()
        self.procs[index], self.started[index] = proc, time.monotonic()
        return proc, receive

    def _await_ready(self, index: int, proc: Any, receive: Connection) -> tuple[Any, ...]:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and not self._stopping:
            if receive.poll(0.1):
                try:
                    return tuple(receive.recv())
                except EOFError:
                    break
            if not proc.is_alive():
                break
        return ("failed", index, proc.pid, f"worker {index} did not start (exit status {proc.exitcode})", 1)

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._run()
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum: int, frame: Any) -> None:
        self._stopping = True

    def _run(self) -> int:
        proc, receive = self._start(0)
        first = self._await_ready(0, proc, receive)
        if first[0] != "ready":
            return self._failed(first)
        _, _, pid, url, lines = first
        self.port = int(url.rsplit(":", 1)[1])
        pids = [pid]
        waiting = [(i, *self._start(i)) for i in range(1, self.count)]
        for index, proc, receive in waiting:
            message = self._await_ready(index, proc, receive)
            if message[0] != "ready":
                return self._failed(message)
            pids.append(message[2])
        for line in lines:
            if line.startswith("export "):
                continue
            print(line, flush=True)
        print(f"mockserver: {self.count} workers on port {self.port} (pids {', '.join(map(str, pids))})", flush=True)
        note = per_worker_note(self.config, self.count)
        if note:
            print(note, flush=True)
        for line in lines:
            if line.startswith("export "):
                print(line, flush=True)
        return self._watch()

    def _failed(self, message: tuple[Any, ...]) -> int:
        print(f"mockserver: {message[3]}", file=sys.stderr, flush=True)
        return int(message[4])

    def _watch(self) -> int:
        while not self._stopping:
            time.sleep(0.2)
            for index, proc in list(self.procs.items()):
                if proc.is_alive() or self._stopping:
                    continue
                quick = time.monotonic() - self.started[index] < RESTART_WITHIN
                self.quick_deaths = self.quick_deaths + 1 if quick else 0
                log.warning("mockserver: worker %d (pid %s) exited with status %s; starting it again", index, proc.pid, proc.exitcode)
                if self.quick_deaths >= GIVE_UP_AFTER:
                    print("mockserver: workers keep dying at start; giving up", file=sys.stderr, flush=True)
                    return 1
                new, receive = self._start(index)
                message = self._await_ready(index, new, receive)
                if message[0] == "ready":
                    log.warning("mockserver: worker %d is back (pid %s)", index, message[2])
        return 0

    def _shutdown(self) -> None:
        self._stopping = True
        for proc in self.procs.values():
            if proc.is_alive() and proc.pid is not None:
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()


def run_workers(config: Config, count: int, announcement: Announcement, explain: Explain) -> int:
    """Serve with ``count`` worker processes until SIGINT/SIGTERM; the exit status."""
    return Workers(config, count, announcement, explain).run()

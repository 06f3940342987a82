"""A real ``mockserver serve`` in a subprocess, for whatever needs one: the SDK contract and
compatibility runners (tests/contract, tests/compat), the subprocess tests, the benchmarks
(bench/). Standard library only.

Imported as ``tests.process_support`` from the repository root, where ``make`` runs everything
(``python -m bench.run``, ``python -m tests.compat.run``, pytest).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Callable

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(
    port: int, *args: str, stderr: int | IO[bytes] | None = None, timeout: float = 30.0,
    preexec_fn: Callable[[], object] | None = None, stdout: int | IO[bytes] | None = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """``mockserver serve --port PORT ARGS…`` with this interpreter, returned once it answers
    HTTP on ``127.0.0.1:PORT`` (``GET /v1/models`` without a key: any status will do).

    The server logs to stdout (dropped unless ``stdout`` is given). ``preexec_fn`` runs in the child before it starts (a lower ``RLIMIT_NOFILE``, say).
    Raises ``RuntimeError`` (with its stderr, when ``stderr=subprocess.PIPE``) if the server
    exits first or does not answer within ``timeout`` seconds; it is killed then.
    """
    argv = [sys.executable, "-m", "mockserver", "serve", "--port", str(port), *args]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=stdout, stderr=stderr, preexec_fn=preexec_fn)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).close()
            return proc
        except urllib.error.HTTPError:
            return proc  # answering (401 without a key): ready
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    exited = proc.poll() is not None
    if not exited:
        proc.kill()
    proc.wait()
    output = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    how = f"exited with status {proc.returncode}" if exited else f"did not answer within {timeout:g} s"
    raise RuntimeError(f"mockserver {how}" + (f": {output}" if output else ""))

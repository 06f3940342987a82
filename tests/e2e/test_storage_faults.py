"""Storage faults: at start, one line naming the file and what to do, exit status 2; while serving,
an ``api_error`` to the client and one line in the log, and the server goes on."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import anthropic
import pytest

from mockserver.store.sqlite import DB_NAME
from tests.conftest import HAIKU
from tests.process_support import ROOT, free_port, serve


def _serve_fails(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--port", str(free_port()), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_corrupt_batch_store_stops_start_up_with_one_line(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not SQLite " * 100)
    result = _serve_fails("--data-dir", str(tmp_path))
    line = _one_line(result.stderr)
    assert result.returncode == 2
    assert str(tmp_path / DB_NAME) in line and "not a batch store, or damaged" in line and "move the file away" in line


def test_a_data_dir_that_cannot_be_written_stops_start_up_with_one_line(tmp_path: Path) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    result = _serve_fails("--data-dir", str(in_the_way / "data"))
    line = _one_line(result.stderr)
    assert result.returncode == 2 and str(in_the_way / "data") in line and "pass a writable --data-dir" in line


def test_a_port_in_use_names_the_way_out() -> None:
    port = free_port()
    first = serve(port, "--data-dir", ":memory:")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "mockserver", "serve", "--port", str(port), "--data-dir", ":memory:"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
    finally:
        first.terminate()
        first.wait(timeout=10)
    line = _one_line(result.stderr)
    assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line and "PORT=" in line


def _small_files() -> None:
    """In the child: files may not grow past 200 KB (a full disk, without root), and writing past
    that fails with EFBIG instead of killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
def test_a_full_disk_while_serving_is_an_api_error_and_one_log_line(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "mockserver", "serve", "--port", str(port), "--data-dir", str(tmp_path), "--quiet"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_small_files)
    try:
        client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key="k", max_retries=0)
        _wait_until_up(port)
        params = {"model": HAIKU, "max_tokens": 5, "messages": [{"role": "user", "content": "x" * 20_000}]}
        with pytest.raises(anthropic.InternalServerError) as full:
            for i in range(40):  # ~20 KB of requests per batch: the store fills up well before 40
                client.messages.batches.create(requests=[{"custom_id": f"q{i}-{j}", "params": params} for j in range(1)])
        body = full.value.body
        assert isinstance(body, dict) and body["error"]["type"] == "api_error"
        message = body["error"]["message"]
        assert "could not store this request" in message and str(tmp_path) in message and "the disk is full or failing" in message
        assert client.models.list().data  # still serving
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0].decode(errors="replace")
    assert "Traceback" not in output
    assert any("the disk is full or failing" in line for line in output.splitlines())


def _wait_until_up(port: int) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the server did not start")


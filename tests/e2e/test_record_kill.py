"""``mockserver record`` killed with SIGKILL under concurrent traffic never leaves a half-written
or unparsable cassette: every save is a temporary file renamed over the old one."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import pytest

from mockserver.cassettes import format as fmt
from mockserver.harness.testing import MockServer


def _start_recorder(cassette: Path, upstream: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "record", "--cassette", str(cassette), "--upstream", upstream,
         "--record-mode", "all", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    for line in proc.stdout:  # type: ignore[union-attr]
        if line.startswith("export ANTHROPIC_BASE_URL="):
            return proc, line.strip().split("=", 1)[1]
    proc.kill()
    raise AssertionError("the recorder printed no export line")


def _call(url: str, n: int) -> None:
    stream = n % 3 == 0
    body = {"model": "claude-haiku-4-5", "max_tokens": 80, "stream": stream, "messages": [{"role": "user", "content": f"request {n}"}]}
    request = urllib.request.Request(url + "/v1/messages", data=json.dumps(body).encode(), method="POST", headers={
        "x-api-key": "sk-ant-api03-kill-test-secret", "anthropic-version": "2023-06-01", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        pass  # the recorder was killed under us


def _assert_whole(cassette: Path) -> int:
    items = fmt.load(cassette)  # raises if the file were partial or unparsable
    for item in items:
        assert item.response.status == 200
        if item.response.is_stream:
            assert list(item.response.chunks())[-1].raw.startswith(b'event: message_stop\ndata: {"type":"message_stop"')
        else:
            assert json.loads(item.response.body)["type"] == "message"
    return len(items)


def test_sigkill_under_concurrent_requests_leaves_a_whole_cassette(tmp_path: Path, make_server: Callable[..., MockServer]) -> None:
    upstream = make_server(seed=3)
    cassette = tmp_path / "killed.yaml"
    previous = 0
    for round_ in range(3):
        proc, url = _start_recorder(cassette, upstream.url)
        stop = threading.Event()
        bad: list[BaseException] = []
        counter = iter(range(round_ * 10_000, (round_ + 1) * 10_000))
        lock = threading.Lock()

        def traffic() -> None:
            while not stop.is_set():
                with lock:
                    n = next(counter)
                _call(url, n)

        def reader() -> None:  # the file is whole at every instant, not just after the kill
            while not stop.is_set():
                if cassette.exists():
                    try:
                        fmt.load(cassette)
                    except BaseException as exc:  # noqa: BLE001 - reported below
                        bad.append(exc)
                        return

        threads = [threading.Thread(target=traffic) for _ in range(6)] + [threading.Thread(target=reader)]
        for thread in threads:
            thread.start()
        deadline = 10.0
        waited = 0.0
        while waited < deadline and (not cassette.exists() or _count(cassette) < previous + 5 + round_ * 3):
            threading.Event().wait(0.05)
            waited += 0.05
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        assert not bad, bad
        count = _assert_whole(cassette)
        assert count >= previous + 5  # mode all keeps what earlier (killed) runs saved
        previous = count
    text = cassette.read_text()
    assert "kill-test-secret" not in text and "sk-ant-" not in text


def _count(cassette: Path) -> int:
    try:
        return len(fmt.load(cassette))
    except Exception:  # noqa: BLE001 - counted by the assertions, not here
        pytest.fail("unparsable cassette while recording")

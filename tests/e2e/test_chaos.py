"""Chaos mode end to end: seeded errors and faults on real sockets, and the verdict it gives the
official SDK, curl, and a hand-written HTTP loop (any client in any language gets one)."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import anthropic
import httpx2
import pytest

from mockserver.chaos.stage import ChaosConfig
from mockserver.harness.testing import MockServer
from tests.fuzz.wire import address

REQUEST: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 30, "messages": [{"role": "user", "content": "Hello"}]}
BODY = json.dumps(REQUEST).encode()
HEADERS = {"x-api-key": "sk-ant-chaos", "anthropic-version": "2023-06-01", "content-type": "application/json"}


def chaos_server(make_server: Callable[..., MockServer], **options: Any) -> MockServer:
    options.setdefault("max_wait", 0.3)
    return make_server(chaos=ChaosConfig(**options))


def report(server: MockServer, markdown: bool = False) -> Any:
    """The live report, from the admin API as any client would read it."""
    host, port = address(server.url)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/_mock/chaos/report" + ("?format=markdown" if markdown else ""))
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 200, body
    return body.decode() if markdown else json.loads(body)


def client_verdict(server: MockServer, prefix: str) -> dict[str, Any]:
    return next(c for c in report(server)["clients"] if c["client"].startswith(prefix))


def post(server: MockServer, body: bytes = BODY, user_agent: str = "hand-rolled-loop/1.0") -> tuple[int, dict[str, str]]:
    host, port = address(server.url)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("POST", "/v1/messages", body=body, headers={**HEADERS, "user-agent": user_agent})
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    except (ConnectionError, http.client.HTTPException):
        return 0, {}
    finally:
        conn.close()


def test_the_sdk_retries_every_injected_529_honours_retry_after_then_gives_up(make_server: Callable[..., MockServer]) -> None:
    server = chaos_server(make_server, seed=11, rate=1.0, errors={"529": 1}, faults={})
    with server.client(max_retries=2) as client, pytest.raises(anthropic.OverloadedError):
        client.messages.create(**REQUEST)
    verdict = client_verdict(server, "Anthropic/Python")
    assert verdict["verdict"] == "pass", verdict["reasons"]
    assert verdict["requests"] == 3 and verdict["injected_by_kind"] == {"529": 3}
    assert verdict["chains"]["retried"] == 1 and verdict["retries"] == 2
    assert verdict["retry_after"]["honoured"] == verdict["retry_after"]["advised"]
    assert verdict["waits_ms"]["min"] >= 30  # the SDK backed off (or waited as asked) before each retry
    (chain,) = report(server)["chains"]
    assert [row["retry_count"] for row in chain["attempts"]] == [0, 1, 2]
    assert all(row["outcome"].startswith("529") for row in chain["attempts"])
    assert server.journal.header_values("x-stainless-retry-count") == ["0", "1", "2"]
    assert {e.origin for e in server.journal.calls()} == {"chaos"}


def test_a_mixed_run_with_the_sdk_repeats_for_a_seed_and_passes(make_server: Callable[..., MockServer]) -> None:
    def run(seed: int) -> tuple[list[str | None], dict[str, Any]]:
        server = chaos_server(make_server, seed=seed, rate=0.5)
        with server.client(max_retries=2, timeout=5) as client:
            for i in range(8):
                request = {**REQUEST, "messages": [{"role": "user", "content": f"call {i}"}]}
                try:
                    if i % 2:
                        with client.messages.stream(**request) as stream:
                            stream.get_final_message()
                    else:
                        client.messages.create(**request)
                except (anthropic.APIError, httpx2.HTTPError):
                    pass  # what SDK 2.12 raises for injected errors and broken streams
        attempts = server.api.chaos.attempts
        return [a.injected for a in attempts], client_verdict(server, "Anthropic/Python")

    injected, verdict = run(5)
    assert run(5)[0] == injected  # the same seed injects the same things for the same calls
    assert any(injected) and not all(injected)
    assert verdict["verdict"] == "pass", verdict["reasons"]
    assert verdict["injected"] == sum(1 for i in injected if i)


def test_a_loop_that_retries_at_once_and_ignores_retry_after_is_called_out(make_server: Callable[..., MockServer]) -> None:
    server = chaos_server(make_server, seed=2, rate=1.0, errors={"503": 1}, faults={}, max_wait=0.5)
    for _ in range(4):  # a naive client: try again immediately, four times
        if post(server)[0] == 200:
            break
    verdict = client_verdict(server, "hand-rolled-loop")
    assert verdict["verdict"] in ("fail", "warn") and verdict["chains"]["pending"] == 1 and verdict["retries"] == 3
    problems = " ".join(verdict["reasons"])
    assert "asked for" in problems or "without being told to" in problems


def test_retrying_what_the_server_said_not_to_retry_fails(make_server: Callable[..., MockServer]) -> None:
    server = chaos_server(make_server, seed=3, rate=1.0, errors={"400": 1}, faults={})
    status, headers = post(server)
    assert status == 400 and headers["x-should-retry"] == "false"
    post(server)
    verdict = client_verdict(server, "hand-rolled-loop")
    assert verdict["verdict"] == "fail"
    assert verdict["violations"][0].startswith("retried 400 (req_") and verdict["violations"][0].endswith("although x-should-retry: false")


def test_faults_reset_and_drop_reach_a_plain_http_client(make_server: Callable[..., MockServer]) -> None:
    server = chaos_server(make_server, seed=4, rate=1.0, errors={}, faults={"reset": 1, "drop": 1})
    outcomes = {post(server, json.dumps({**REQUEST, "max_tokens": 30 + i}).encode())[0] for i in range(6)}
    assert outcomes == {0}  # the connection broke every time
    kinds = report(server)["injected_by_kind"]
    assert set(kinds) == {"reset", "drop"} and sum(kinds.values()) == 6


def test_batch_items_and_other_endpoints_are_left_alone(make_server: Callable[..., MockServer]) -> None:
    server = chaos_server(make_server, seed=5, rate=1.0, errors={"529": 1}, faults={})
    with server.client(max_retries=0) as client:
        assert client.models.list().data
        batch = client.messages.batches.create(requests=[{"custom_id": "a", "params": REQUEST}])
        for _ in range(200):
            if (batch := client.messages.batches.retrieve(batch.id)).processing_status == "ended":
                break
            time.sleep(0.01)
        assert batch.request_counts.succeeded == 1
    assert report(server)["requests"] == 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_gets_a_verdict_too(make_server: Callable[..., MockServer]) -> None:
    def curl(server: MockServer, content: str) -> None:
        body = json.dumps({**REQUEST, "messages": [{"role": "user", "content": content}]})
        headers = [arg for name, value in HEADERS.items() for arg in ("-H", f"{name}: {value}")]
        # (curl will not retry when its output goes to /dev/null, so the output is captured)
        subprocess.run(["curl", "-s", "--retry", "1", *headers, "-d", body, server.url + "/v1/messages"], capture_output=True, timeout=30, check=False)

    # curl retries a 429 (after its own 1 s backoff, longer than any advice here)…
    server = chaos_server(make_server, seed=6, rate=1.0, errors={"429": 1}, faults={})
    curl(server, "rate limited")
    verdict = client_verdict(server, "curl/")
    assert verdict["verdict"] == "pass" and verdict["retries"] == 1 and verdict["waits_ms"]["min"] >= 900
    # …but not a 529, which the Anthropic SDKs do retry: the report says so.
    server = chaos_server(make_server, seed=6, rate=1.0, errors={"529": 1}, faults={})
    curl(server, "overloaded")
    verdict = client_verdict(server, "curl/")
    assert verdict["chains"]["pending"] == 1  # live: it might still retry within the window…
    final = server.api.chaos.report(final=True)["clients"][0]  # …at shutdown it has given up
    assert final["verdict"] == "warn" and final["chains"]["gave_up"] == 1
    assert final["warnings"] == ["never retried: gave up on all 1 retryable failure(s) at the first attempt"]


NODE_CLIENT = """
const [url, body] = process.argv.slice(1);
const headers = {"x-api-key": "sk-ant-chaos", "anthropic-version": "2023-06-01", "content-type": "application/json"};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
(async () => {
  for (let attempt = 0; attempt < 3; attempt++) {
    const response = await fetch(url + "/v1/messages", {method: "POST", headers, body});
    await response.text();
    if (response.ok || ![408, 409, 429, 500, 502, 503, 504, 529].includes(response.status)) return;
    const ms = Number(response.headers.get("retry-after-ms")) || 1000 * Number(response.headers.get("retry-after")) || 200 * 2 ** attempt;
    await sleep(ms);
  }
})();
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_a_javascript_client_gets_a_verdict(make_server: Callable[..., MockServer]) -> None:
    server = chaos_server(make_server, seed=8, rate=1.0, errors={"429": 1, "503": 1}, faults={})
    subprocess.run(["node", "-e", NODE_CLIENT, server.url, BODY.decode()], timeout=60, check=True)
    verdict = client_verdict(server, "node")
    assert verdict["verdict"] == "pass", verdict["reasons"]
    assert verdict["requests"] == 3 and verdict["retries"] == 2 and verdict["waits_ms"]["min"] >= 100
    assert verdict["retry_after"]["honoured"] == verdict["retry_after"]["advised"]


def test_a_retry_count_of_other_digits_is_no_500(make_server: Callable[..., MockServer]) -> None:
    """``x-stainless-retry-count: ²`` passed str.isdigit() and then int() raised: a 500."""
    server = chaos_server(make_server, seed=3, rate=0.0)
    host, port = address(server.url)
    for count in ("\u00b2", "\u0663", "1_0", "0"):
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: k\r\nanthropic-version: 2023-06-01\r\n"
                         b"content-type: application/json\r\nconnection: close\r\nx-stainless-retry-count: " + count.encode()
                         + f"\r\ncontent-length: {len(BODY)}\r\n\r\n".encode() + BODY)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 "), (count, answer[:300])
    assert report(server)["requests"] == 4


def test_the_report_endpoint_without_chaos_is_a_404(mockserver: MockServer) -> None:
    host, port = address(mockserver.url)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/_mock/chaos/report")
    response = conn.getresponse()
    assert response.status == 404 and b"chaos mode is off" in response.read()


def test_serve_chaos_writes_the_report_on_shutdown(tmp_path: Path) -> None:
    target = tmp_path / "chaos" / "report.json"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "mockserver", "serve", "--port", "0", "--data-dir", ":memory:", "--chaos", "9",
            "--chaos-rate", "1", "--chaos-errors", "529", "--chaos-faults", "none", "--chaos-max-wait", "0.2",
            "--chaos-report", str(target),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        while not (line := process.stdout.readline()).startswith("export ANTHROPIC_BASE_URL="):
            assert line, "".join(lines)
            lines.append(line)
        assert any("chaos mode on (seed 9, rate 1.0)" in line for line in lines)
        server = type("Url", (), {"url": line.strip().split("=", 1)[1]})()
        assert post(server)[0] == 529  # type: ignore[arg-type]
        assert post(server)[0] == 529  # type: ignore[arg-type]
        live = report(server, markdown=True)  # type: ignore[arg-type]
        assert live.startswith("# mockserver chaos report") and "(live:" in live
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    written = json.loads(target.read_text())
    assert written["final"] is True and written["requests"] == 2 and written["injected_by_kind"] == {"529": 2}
    (client,) = written["clients"]
    assert client["client"] == "hand-rolled-loop/1.0" and client["chains"]["retried"] == 1
    assert target.with_suffix(".md").read_text().startswith("# mockserver chaos report")
    assert "chaos verdict for hand-rolled-loop/1.0:" in output and f"chaos report written to {target}" in output


def test_serve_chaos_says_when_the_report_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    target = blocker / "report.json"  # its folder is a file
    process = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "mockserver", "serve", "--port", "0", "--data-dir", ":memory:", "--chaos", "9",
         "--chaos-report", str(target)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        while not process.stdout.readline().startswith("export ANTHROPIC_BASE_URL="):
            pass
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:  # a dropped SIGINT (fixed in http/runner.py) showed as this: where is it stuck?
            process.send_signal(signal.SIGABRT)  # -X faulthandler prints every thread's stack first
            pytest.fail(f"still running 20 s after SIGINT; its output and stacks:\n{process.communicate(timeout=20)[0]}")
    assert "Traceback" not in output, output  # shutdown was a FileExistsError traceback, exit status 1
    assert f"cannot write the chaos report to {target}: File exists" in output and process.returncode == 0


def test_serve_refuses_bad_chaos_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--chaos", "1", "--chaos-errors", "200"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and "not an HTTP error status" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--chaos", "1", "--chaos-errors", "none", "--chaos-faults", "none"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1 and "at least one error or fault" in result.stderr

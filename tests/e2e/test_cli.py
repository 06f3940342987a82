"""`mockserver serve` as a user runs it: the export line, one log line per request, signals."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request

import pytest


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _base_url(proc: subprocess.Popen[str]) -> str:
    for line in proc.stdout:  # type: ignore[union-attr]
        if line.startswith("export ANTHROPIC_BASE_URL="):
            return line.strip().split("=", 1)[1]
    raise AssertionError("no export line")


def test_serve_prints_the_export_line_and_logs_each_request() -> None:
    proc = _serve("--seed", "3")
    try:
        url = _base_url(proc)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        body = json.dumps({"model": "claude-haiku-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}).encode()
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
        with urllib.request.urlopen(urllib.request.Request(url + "/v1/messages", data=body, headers=headers)) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(urllib.request.Request(url + "/v1/models/nope", headers=headers))
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=10)[0]
    finally:
        proc.kill()
    lines = [line for line in rest.splitlines() if re.match(r"\d\d:\d\d:\d\d\.\d{3} (POST|GET) ", line)]
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} POST /v1/messages 200 claude-haiku-4-5 in=\d+ out=\d+ \d+\.\dms", lines[0]), lines
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} GET /v1/models/nope 404 - \d+\.\dms not_found_error: model: nope", lines[1]), lines
    assert proc.returncode == 0


def test_serve_stops_on_a_sigint_sent_as_soon_as_it_announces_its_url_even_started_with_sigint_ignored() -> None:
    """A process started with SIGINT ignored (a script's background job, a pytest-xdist worker's
    child) had no handler for it until just after the export line: a SIGINT sent on reading that
    line was dropped about one time in three, and the server ran on. Its handlers now go in first."""
    for _ in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--data-dir", ":memory:"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
        try:
            _base_url(proc)
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=10)
        finally:
            proc.kill()
        assert proc.returncode == 0


def test_serve_reports_a_busy_port() -> None:
    first = _serve()
    try:
        port = _base_url(first).rsplit(":", 1)[1]
        second = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", port], capture_output=True, text=True, timeout=20)
        assert second.returncode == 1 and "cannot listen" in second.stderr
    finally:
        first.kill()


def test_serve_refuses_an_organization_id_that_cannot_be_a_header() -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--organization-id", "org\r\nx-injected: 1"],
        capture_output=True, text=True, timeout=20,
    )
    assert refused.returncode == 2 and "--organization-id: control characters cannot go in a header" in refused.stderr


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        ("models: [1, 2]\n", "models.yaml: #1: must be a mapping, not an integer"),
        (None, "models.yaml: cannot read the catalog: [Errno 2] No such file or directory"),
    ],
)
def test_serve_refuses_a_broken_model_catalog_naming_it(tmp_path, catalog: str | None, message: str) -> None:
    path = tmp_path / "models.yaml"
    if catalog is not None:
        path.write_text(catalog)
    refused = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--data-dir", ":memory:", "--models", str(path)],
        capture_output=True, text=True, timeout=20,
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr  # it was a traceback, status 1
    assert refused.stderr.startswith("mockserver: model catalog rejected: ") and message in refused.stderr, refused.stderr


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ("aliases: [claude-3-5-sonnet-latest]", "aliases: [claude-3-5-sonnet-latest, 3_5]",
         "claude-3-5-sonnet-20241022: aliases[1]: 3_5, unquoted, is YAML 1.1's integer 35, not the text '3_5': quote it"),
        ("display_name: Claude Sonnet 3.5 (New)", "display_name: on",
         "claude-3-5-sonnet-20241022: display_name: on, unquoted, is YAML 1.1's boolean true, not the text 'on': quote it"),
        ("created_at: 2024-10-22\n    lifecycle: retired\n    deprecated_at: 2025-08-13",
         "created_at: 2024-10-22\n    lifecycle: retired\n    deprecated_at: 2025:08:13",
         "claude-3-5-sonnet-20241022: deprecated_at: 2025:08:13, unquoted, is YAML 1.1's sexagesimal (base 60) integer 7290493, "
         "not the text '2025:08:13': quote it"),
    ],
)
def test_serve_refuses_a_yaml11_only_scalar_in_a_models_file(tmp_path, before: str, after: str, message: str) -> None:
    """A user's --models file: a plain scalar only YAML 1.1 types where the catalog reads text
    is refused naming the file, the entry, the key and the text as written."""
    from mockserver.harness.testing import MockServer
    from mockserver.protocol.catalog import DEFAULT_PATH, CatalogError

    text = DEFAULT_PATH.read_text(encoding="utf-8")
    assert text.count(before) == 1
    path = tmp_path / "my-models.yaml"
    path.write_text(text.replace(before, after), encoding="utf-8")
    refused = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--data-dir", ":memory:", "--models", str(path)],
        capture_output=True, text=True, timeout=20,
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert refused.stderr.strip() == f"mockserver: model catalog rejected: {path}: {message}", refused.stderr
    with pytest.raises(CatalogError, match=re.escape(f"{path}: {message}")):
        MockServer(models_file=path)


@pytest.mark.parametrize("port", ["70000", "-5"])
def test_serve_refuses_a_port_out_of_range(port: str) -> None:
    refused = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", port], capture_output=True, text=True, timeout=20)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr  # an OverflowError from bind before
    assert f"--port: must be a port from 0 to 65535 (0 picks a free one): '{port}'" in refused.stderr

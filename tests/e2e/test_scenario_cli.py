"""`mockserver serve --scenario FILE...` as a user runs it: several files, reload on change, a
broken edit keeps the last good rules, a broken file is refused at start naming what is wrong."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx2

from tests.conftest import HAIKU


class Served:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--data-dir", ":memory:", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self.url = ""
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line)
            if line.startswith("export ANTHROPIC_BASE_URL="):
                self.url = line.strip().split("=", 1)[1]
                break
        assert self.url, "".join(self.lines)
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line)

    def client(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key="k", max_retries=0, _strict_response_validation=True)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)


def answer(client: anthropic.Anthropic, text: str) -> str:
    return client.messages.create(model=HAIKU, max_tokens=50, messages=[{"role": "user", "content": text}]).content[0].text


def rewrite(path: Path, text: str) -> None:
    path.write_text(text)
    stamp = time.time() + 2  # a new mtime even on coarse-grained file systems
    os.utime(path, (stamp, stamp))


def eventually(check, timeout: float = 8.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_serve_with_several_files_reloads_them_when_they_change(tmp_path: Path) -> None:
    first = tmp_path / "first.yaml"
    second = tmp_path / "second.yaml"
    first.write_text("- {match: {text: ping}, reply: pong}\n")
    second.write_text("- {match: {text: hello}, reply: from the second file}\n")
    served = Served("--scenario", str(first), str(second), "--quiet")
    try:
        assert any("1 scenario rule(s) from" in line and "first.yaml" in line for line in served.lines)
        with served.client() as client:
            assert answer(client, "ping") == "pong"
            assert answer(client, "hello") == "from the second file"
            rewrite(first, "- {match: {text: ping}, reply: \"pong, version two\"}\n")
            eventually(lambda: answer(client, "ping") == "pong, version two")
            rewrite(first, "- {match: {text: ping}, reply: {content: [{tool_use: {}}]}}\n")  # broken
            eventually(lambda: any("scenario reload failed" in line for line in served.lines))
            assert answer(client, "ping") == "pong, version two"  # the last good rules stay
            assert answer(client, "hello") == "from the second file"
        message = next(line for line in served.lines if "scenario reload failed" in line)
        assert "first.yaml: rules[0]: reply.content[0].tool_use: 'name' is required" in message
    finally:
        served.stop()


def _serve(path: Path) -> subprocess.CompletedProcess[str]:
    """``mockserver serve --scenario path``, which exits at once on a refused file."""
    return subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--data-dir", ":memory:", "--scenario", str(path)],
        capture_output=True, text=True, timeout=30,
    )


def test_a_broken_file_is_refused_at_start_naming_file_rule_and_field(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("rules:\n  - name: fine\n    reply: ok\n  - name: typo\n    match: {txt: hello}\n    reply: ok\n")
    result = _serve(path)
    assert result.returncode == 2
    assert f'{path}: rules[1] ("typo"): match.txt: unknown field (did you mean \'text\'?)' in result.stderr


def test_a_yaml11_only_scalar_in_a_match_is_refused_at_start_with_its_text(tmp_path: Path) -> None:
    """``user_id: 10:00:00`` is YAML 1.1's integer 36000: served, the rule would never fire."""
    path = tmp_path / "morning.yaml"
    path.write_text("rules:\n  - name: morning\n    match: {body: {metadata: {user_id: 10:00:00}}}\n    reply: good morning\n")
    result = _serve(path)
    assert result.returncode == 2, result.stderr
    assert (f'{path}: rules[0] ("morning"): match.body.metadata.user_id: 10:00:00, unquoted, is YAML 1.1\'s sexagesimal (base 60) '
            "integer 36000, not the text '10:00:00': quote it for the text, or write 36000 for the number") in result.stderr, result.stderr


def test_admin_token_and_rate_limit_options(tmp_path: Path) -> None:
    served = Served("--admin-token", "s3cret", "--rate-limit-rpm", "2", "--quiet")
    try:
        assert any("rate-limit emulation on" in line for line in served.lines)
        with httpx2.Client(base_url=served.url) as admin:
            assert admin.get("/_mock/rules").status_code == 401
            limits = admin.get("/_mock/ratelimits", headers={"authorization": "Bearer s3cret"}).json()
            assert limits["enabled"] is True and limits["requests_per_minute"] == 2
        with served.client() as client:
            answer(client, "one")
            answer(client, "two")
            try:
                answer(client, "three")
            except anthropic.RateLimitError as exc:
                assert exc.response.headers["retry-after"] == "30"
            else:
                raise AssertionError("the third request in a minute should be refused")
    finally:
        served.stop()


# Modules a plain `serve` has no use for: the SDK and pydantic (replies are checked against the
# schema as data), the cassette modules (loaded when a cassette is put on), multiprocessing (for
# --workers) and zipfile (importlib.resources' zip reader). Start-up time itself is the benchmark's.
NOT_FOR_SERVING = ("anthropic", "pydantic", "mockserver.cassettes", "multiprocessing", "zipfile")


def test_serving_scenario_files_imports_nothing_heavy(tmp_path: Path, monkeypatch: Any) -> None:
    from tests.process_support import ROOT, free_port, serve

    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")  # every import, one line each, on stderr
    fixtures = [str(ROOT / "fixtures" / name) for name in ("replies.yaml", "streams.yaml", "server-tools.yaml")]
    port = free_port()
    with (tmp_path / "imports.txt").open("w+") as log:
        proc = serve(port, "--quiet", "--data-dir", ":memory:", "--scenario", *fixtures, stderr=log.fileno())
        try:
            client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key="sk-ant-test", max_retries=0)
            client.messages.create(model=HAIKU, max_tokens=16, messages=[{"role": "user", "content": "What is the weather?"}],
                                   tools=[{"name": "get_weather", "input_schema": {"type": "object"}}])
            with client.messages.stream(model=HAIKU, max_tokens=16, messages=[{"role": "user", "content": "by hand"}]) as stream:
                assert stream.get_final_text() == "Hello world"
            client.messages.count_tokens(model=HAIKU, messages=[{"role": "user", "content": "hi"}])
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        log.seek(0)
        imported = {line.split("|")[-1].strip() for line in log if line.startswith("import time:")}
    assert "mockserver.scenarios" in imported  # the log is the server's
    heavy = sorted(name for name in imported if name.split(".")[0] in NOT_FOR_SERVING or name.startswith(NOT_FOR_SERVING))
    assert heavy == []

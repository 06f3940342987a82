"""``mockserver record``/``replay`` as processes, and the cassette tools as a user runs them."""

from __future__ import annotations

import gzip
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

import anthropic
import pytest

from mockserver.cassettes import format as fmt
from mockserver.cassettes import importers
from mockserver.harness.cli import main
from mockserver.harness.testing import MockServer

REALWORLD = Path(__file__).resolve().parents[1] / "data" / "realworld"
PROMPT = REALWORLD / "simonw__llm-anthropic" / "test_anthropic" / "test_prompt.yaml"
TOOLS_GZIP = REALWORLD / "simonw__llm-anthropic" / "test_anthropic" / "test_tools.yaml"
HI = [{"role": "user", "content": "Hello from the CLI test"}]


def _run(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "mockserver", *args, "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:  # type: ignore[union-attr]
        seen.append(line)
        if line.startswith("export ANTHROPIC_BASE_URL="):
            proc.banner = "".join(seen)  # type: ignore[attr-defined]
            return proc, line.strip().split("=", 1)[1]
    proc.kill()
    raise AssertionError("no export line: " + "".join(seen))


def _secret_cassette(tmp_path: Path, upstream: MockServer) -> Path:
    """A cassette recorded through the CLI with a real-looking key in a header and in the prompt."""
    path = tmp_path / "recorded.yaml"
    proc, url = _run("record", "--cassette", str(path), "--upstream", upstream.url, "--redact-header", "x-team-token")
    try:
        with anthropic.Anthropic(base_url=url, api_key="sk-ant-api03-HEADERsecret0000") as client:
            client.messages.create(model="claude-haiku-4-5", max_tokens=80, extra_headers={"x-team-token": "team-secret-42"},
                                   messages=[{"role": "user", "content": "my key is sk-ant-api03-BODYsecret1111 ok"}])
            with client.messages.stream(model="claude-haiku-4-5", max_tokens=80, messages=HI) as stream:
                stream.until_done()
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=20)[0]
    assert proc.returncode == 0, out
    assert "2 new interaction(s) saved" in out
    return path


def test_record_writes_no_key_material(tmp_path: Path, make_server: Callable[..., MockServer], capsys: pytest.CaptureFixture[str]) -> None:
    upstream = make_server(seed=4)
    path = _secret_cassette(tmp_path, upstream)
    text = path.read_text()
    for secret in ("HEADERsecret0000", "BODYsecret1111", "team-secret-42", "sk-ant-"):
        assert secret not in text
    assert "[REDACTED]" in text
    # the upstream echoed the prompt back ("You said: …"): the key is gone from the response too
    first = fmt.load(path)[0]
    assert b"BODYsecret1111" not in first.response.body and b"[REDACTED]" in first.response.body
    assert main(["cassette", "check", str(path), "--redact-header", "x-team-token"]) == 0


def test_check_finds_secrets_and_redact_removes_them(tmp_path: Path, make_server: Callable[..., MockServer], capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "leaky.yaml"
    upstream = make_server(seed=5)
    clean = fmt.load(_secret_cassette(tmp_path, upstream))
    leaky = fmt.dumps(clean).replace("'[REDACTED]'", "sk-ant-api03-LEAKED9999", 1).replace("x-team-token: '[REDACTED]'", "x-team-token: team-secret-42")
    path.write_text(leaky)
    capsys.readouterr()
    assert main(["cassette", "check", str(path), "--redact-header", "x-team-token"]) == 1
    out = capsys.readouterr().out
    assert "credential header holds a value" in out and "LEAKED9999" not in out and "sk-ant-api" not in out  # reported, nothing of it shown
    assert "x-team-token" in out
    assert main(["cassette", "redact", str(path), "--redact-header", "x-team-token"]) == 0
    assert "LEAKED9999" not in path.read_text() and "team-secret-42" not in path.read_text()
    assert main(["cassette", "check", str(path), "--redact-header", "x-team-token"]) == 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the recording's model is deprecated
def test_replay_command_serves_a_vcrpy_cassette_to_the_sdk() -> None:
    proc, url = _run("replay", "--cassette", str(PROMPT))
    try:
        with anthropic.Anthropic(base_url=url, api_key="anything", max_retries=0) as client:
            recorded = importers.load_any(PROMPT).interactions[0]
            body = recorded.request.json
            with client.messages.stream(model=body["model"], max_tokens=body["max_tokens"], messages=body["messages"],
                                        extra_body={"temperature": body["temperature"]}) as stream:
                text = stream.get_final_text()
            assert text == "- Captain\n- Scoop"
            with pytest.raises(anthropic.NotFoundError, match="closest is #0"):
                client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=HI)
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=20)[0]
    assert proc.returncode == 0
    assert "replaying 1 interaction(s)" in proc.banner and "no recorded interaction" in out  # type: ignore[attr-defined]


def test_list_show_diff_and_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cassette", "list", str(TOOLS_GZIP)]) == 0
    listing = capsys.readouterr().out
    assert "(vcrpy, 2 interactions)" in listing and "#1   POST /v1/messages model=claude-haiku-4-5-20251001 stream -> 200" in listing

    assert main(["cassette", "show", str(TOOLS_GZIP), "1"]) == 0
    shown = capsys.readouterr().out
    assert "event: content_block_start" in shown and "pelican_name_generator" in shown

    out = tmp_path / "converted.yaml"
    assert main(["cassette", "convert", str(TOOLS_GZIP), "-o", str(out)]) == 0
    original = importers.load_any(TOOLS_GZIP).interactions
    converted = fmt.load(out)
    assert [i.response.body for i in converted] == [i.response.body for i in original]
    assert "!!binary" not in out.read_text() and "content_block_delta" in out.read_text()

    capsys.readouterr()
    assert main(["cassette", "show", str(out), "0", "--body"]) == 0
    assert capsys.readouterr().out.encode() == original[0].response.body

    request = tmp_path / "request.json"
    request.write_bytes(original[1].request.body)
    assert main(["cassette", "diff", str(out), str(request)]) == 0
    assert "matches #1" in capsys.readouterr().out
    changed = original[1].request.json
    changed["max_tokens"] = 100
    request.write_text(__import__("json").dumps(changed))
    assert main(["cassette", "diff", str(out), str(request)]) == 1
    assert "body max_tokens: recorded 8192, sent 100" in capsys.readouterr().out


def test_tools_report_errors_without_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("just: [a, list\n")
    assert main(["cassette", "list", str(bad)]) == 1
    assert "mockserver:" in capsys.readouterr().err
    assert main(["cassette", "show", str(bad), "0"]) == 1
    capsys.readouterr()
    cut = tmp_path / "cut.yaml.gz"  # a gzipped cassette cut short: was an EOFError traceback
    cut.write_bytes(gzip.compress(PROMPT.read_bytes())[:40])
    assert main(["cassette", "list", str(cut)]) == 1
    assert f"mockserver: {cut}: a gzip file that does not decompress" in capsys.readouterr().err
    request = tmp_path / "request.json"  # diff's REQUEST that is not JSON: the error names it
    request.write_text("{model: haiku}")
    assert main(["cassette", "diff", str(PROMPT), str(request)]) == 1
    assert f"mockserver: {request}: the request is not JSON: " in capsys.readouterr().err


def test_every_command_and_argument_has_help() -> None:
    """Every option and positional argument of every command says what it is."""
    import argparse

    from mockserver.harness import cli

    parser = cli.build_parser()
    undocumented = []

    def walk(p: argparse.ArgumentParser, name: str) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    walk(sub, f"{name} {sub_name}")
            elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)) and not action.help:
                undocumented.append(f"{name}: {action.dest}")

    walk(parser, "mockserver")
    assert undocumented == []


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("mockserver ")


def test_record_and_replay_take_the_options_serve_takes() -> None:
    """One set of server options (less workers and shared state: a cassette is one process's): a
    scenario rule answers in front of the cassette, chaos and rate limits and the admin token are
    accepted."""
    from mockserver.harness import cli

    parser = cli.build_parser()
    serve = {a.dest for a in parser._subparsers._group_actions[0].choices["serve"]._actions}  # type: ignore[union-attr]
    for command in ("record", "replay"):
        taken = {a.dest for a in parser._subparsers._group_actions[0].choices[command]._actions}  # type: ignore[union-attr]
        assert serve - taken == {"workers", "state", "fail_open"}, command  # a cassette is one process's


def test_replay_with_a_scenario_rule_in_front(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("- {match: {text: scripted}, reply: from the rule}\n")
    proc, url = _run("replay", "--cassette", str(PROMPT), "--scenario", str(rules), "--rate-limit-rpm", "100")
    try:
        with anthropic.Anthropic(base_url=url, api_key="anything", max_retries=0) as client:
            answer = client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "scripted"}])
            assert answer.content[0].text == "from the rule"  # type: ignore[union-attr]
            raw = client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "scripted"}])
            assert raw.headers["anthropic-ratelimit-requests-limit"] == "100"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_check_advises_the_fix_that_fits_the_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    leaky = tmp_path / "leaky_vcr.yaml"
    leaky.write_text(PROMPT.read_text().replace("Captain", "sk-ant-api03-LEAKEDLEAKEDLEAKED", 1))
    assert importers.load_any(leaky).kind == "vcrpy"
    assert main(["cassette", "check", str(leaky)]) == 1
    err = capsys.readouterr().err
    assert f"mockserver cassette convert {leaky}" in err and "cassette redact" not in err

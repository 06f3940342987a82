"""Every fenced block of README.md and docs/*.md runs as written (tests/docs/markdown.py finds
them and reads their directives), or carries ``<!-- doc-test: skip="why" -->``.

By language:

- ``python`` with a ``def test_``: a test module in a fresh folder with an empty ``pytest.ini``
  and a copy of fixtures/
  (a new project: the plugin from the installed package, pytest-asyncio in strict mode), run by
  pytest in a subprocess; it must pass (``fails=TEXT``: fail, saying TEXT). ``asyncio`` runs it
  with pytest-asyncio alone (``-p no:aiohttp``), ``aiohttp`` with pytest-aiohttp loaded too;
  ``record`` runs it with ``--record-mode=once --record-upstream URL`` (a fake upstream) and then
  again offline, where it must pass from the cassettes it wrote.
- other ``python``: a script in a subprocess whose environment points the SDK at a running server
  (``ANTHROPIC_BASE_URL``, ``ANTHROPIC_API_KEY``), as after the README's quick start.
- ``sh``: bash (``set -euo pipefail``) in a folder holding copies of fixtures/ and cassettes/, a
  ``.venv`` link to this venv (whose bin/ is on PATH, as after ``. .venv/bin/activate``), a git
  repository and a ``my_app.py`` (the reader's app: one Messages call). Port 8787 is replaced by a
  free port. A ``mockserver serve|record|replay`` line starts that server in the background (the
  "first shell": the next one stops it with SIGINT, as Ctrl-C does); a block without one gets a
  ``mockserver serve`` started first, as ``make run`` does. ``mockserver record`` records from a
  fake upstream ($MOCKSERVER_RECORD_UPSTREAM). ``expect=TEXT``: the output must contain TEXT.
  ``redis``: ``redis://127.0.0.1:6379/0`` names an empty database of a Valkey the tests started.
- ``yaml``: a scenario document (a list of rules, ``rules``/``rate_limits``, or one rule's
  mapping), or a cassette (``interactions``, or a list of ``request``/``response`` items), loaded
  by the server's own loaders; ``alternatives``: each top-level key is a rule of its own.
- ``json``: parses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from mockserver.cassettes.format import decode_document, decode_interaction
from mockserver.harness.testing import MockServer
from mockserver.scenarios import parse_document, parse_text
from tests.docs.markdown import ROOT, Unit, all_blocks, units
from tests.process_support import free_port

RUNNABLE = {"python", "sh", "yaml", "json"}
TIMEOUT = 240
MY_APP = """\
import anthropic

message = anthropic.Anthropic().messages.create(
    model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "Hello from my app"}])
print(message.content[0].text)
"""
PRELUDE = r"""
set -euo pipefail
__pid=""
__n=0
__stop() {
  if [ -n "$__pid" ]; then kill -INT "$__pid" 2>/dev/null || true; wait "$__pid" 2>/dev/null || true; __pid=""; fi
}
trap __stop EXIT
__serve() {  # a server of the block, in the background on $DOCS_PORT; the previous one gets Ctrl-C
  __stop
  __n=$((__n + 1))
  "$@" --port "$DOCS_PORT" > "$DOCS_LOGS/server-$__n.log" 2>&1 &
  __pid=$!
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null "http://127.0.0.1:$DOCS_PORT/v1/models"; then return 0; fi
    if ! kill -0 "$__pid" 2>/dev/null; then cat "$DOCS_LOGS/server-$__n.log" >&2; return 1; fi
    sleep 0.1
  done
  cat "$DOCS_LOGS/server-$__n.log" >&2
  return 1
}
"""
_SERVER_LINE = re.compile(r"^(\s*)(mockserver (?:serve|record|replay)\b)", re.MULTILINE)
UNITS = units()


def test_every_block_runs_or_says_why_not() -> None:
    blocks = all_blocks()
    assert len(blocks) > 40
    unexplained = [b.id for b in blocks if "skip" not in b.options and b.lang not in RUNNABLE]
    assert not unexplained, f"blocks with no runner and no skip=\"reason\": {unexplained}"
    assert all(b.options["skip"].strip() for b in blocks if "skip" in b.options)


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    """What the SDK reaches in script blocks, and the upstream that blocks record from."""
    with MockServer() as running:
        yield running


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "MOCKSERVER_", "PYTEST_", "VIRTUAL_ENV"))}
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def _show(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-6000:]}"


@pytest.mark.parametrize("unit", UNITS, ids=[u.id for u in UNITS])
def test_block(unit: Unit, tmp_path: Path, server: MockServer, request: pytest.FixtureRequest) -> None:
    server.reset()
    if unit.lang == "python" and re.search(r"^(async )?def test_", unit.text, re.MULTILINE):
        run_pytest(unit, tmp_path, server)
    elif unit.lang == "python":
        done = _run([sys.executable, "-c", unit.text], tmp_path, _env(ANTHROPIC_BASE_URL=server.url, ANTHROPIC_API_KEY="sk-ant-mock-key"))
        assert done.returncode == 0, _show(done)
        _expect(unit, done.stdout)
    elif unit.lang == "sh":
        redis_url = request.getfixturevalue("redis_server").fresh_url() if "redis" in unit.options else None
        run_sh(unit, tmp_path, server, redis_url)
    elif unit.lang == "yaml":
        load_yaml_block(unit)
    elif unit.lang == "json":
        json.loads(unit.text)
    else:  # pragma: no cover - test_every_block_runs_or_says_why_not names it
        pytest.fail(f"no runner for {unit.lang!r}")


def _expect(unit: Unit, output: str) -> None:
    if "expect" in unit.options:
        assert unit.options["expect"] in output, output[-4000:]


def run_pytest(unit: Unit, tmp_path: Path, server: MockServer) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    shutil.copytree(ROOT / "fixtures", tmp_path / "fixtures")  # the project's scenario files
    name = "test_" + re.sub(r"\W+", "_", unit.id.lower())
    (tmp_path / f"{name}.py").write_text(unit.text, encoding="utf-8")
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", f"{name}.py"]
    options = unit.options
    variants = [v for v in ("asyncio", "aiohttp") if v in options] or ["default"]
    for variant in variants:
        argv = base + (["-p", "no:aiohttp"] if variant == "asyncio" else [])
        if "record" in options:
            recorded = _run(argv + ["--record-mode=once", "--record-upstream", server.url], tmp_path, _env(ANTHROPIC_API_KEY="sk-ant-docs-recording"))
            assert recorded.returncode == 0, _show(recorded)
            assert list((tmp_path / "cassettes").rglob("*.yaml")), "nothing recorded"
        done = _run(argv, tmp_path, _env())
        if "fails" in options:
            assert done.returncode == 1 and options["fails"] in done.stdout, _show(done)
        else:
            assert done.returncode == 0 and " passed" in done.stdout, _show(done)
            assert not re.search(r"\d+ (skipped|xfailed|deselected)", done.stdout), _show(done)
        _expect(unit, done.stdout)


def run_sh(unit: Unit, tmp_path: Path, server: MockServer, redis_url: str | None = None) -> None:
    work, logs = tmp_path / "project", tmp_path / "logs"
    logs.mkdir()
    shutil.copytree(ROOT / "fixtures", work / "fixtures")
    shutil.copytree(ROOT / "cassettes", work / "cassettes")
    (work / ".venv").symlink_to(Path(sys.prefix))
    (work / "my_app.py").write_text(MY_APP, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    port = free_port()
    text = re.sub(r"\b8787\b", str(port), unit.text)
    if redis_url is not None:
        text = text.replace("redis://127.0.0.1:6379/0", redis_url)
    text = _SERVER_LINE.sub(r"\1__serve \2", text)
    if "__serve" not in text:
        text = "__serve mockserver serve\n" + text
    bin_dir = str(Path(sys.prefix) / "bin")
    env = _env(
        DOCS_PORT=str(port), DOCS_LOGS=str(logs), XDG_DATA_HOME=str(tmp_path / "data"),
        MOCKSERVER_RECORD_UPSTREAM=server.url, ANTHROPIC_BASE_URL=f"http://127.0.0.1:{port}",
        ANTHROPIC_API_KEY="sk-ant-mock-key", PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
    )
    done = _run(["bash", "-c", PRELUDE + text], work, env)
    assert done.returncode == 0, _show(done) + "\n--- servers\n" + "\n".join(p.read_text()[-3000:] for p in sorted(logs.iterdir()))
    _expect(unit, done.stdout)


def load_yaml_block(unit: Unit) -> None:
    pieces = _alternatives(unit.text) if "alternatives" in unit.options else [unit.text]
    for text in pieces:
        data: Any = yaml.safe_load(text)
        if isinstance(data, dict) and "interactions" in data:
            assert decode_document(data, source=unit.id)
        elif isinstance(data, list) and data and isinstance(data[0], dict) and "request" in data[0]:
            for i, item in enumerate(data):
                decode_interaction(item, f"{unit.id}[{i}]")
        elif isinstance(data, dict) and not ({"rules", "rate_limits"} & set(data)):
            assert parse_document([data], source=unit.id).rules  # one rule's mapping
        else:
            document = parse_text(text, source=unit.id)
            assert document.rules or document.rate_limits is not None


def _alternatives(text: str) -> list[str]:
    """Each top-level key with the lines under it (a reference listing one key's forms)."""
    pieces: list[str] = []
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            pieces.append("")
        if pieces:
            pieces[-1] += line + "\n"
    return pieces

"""The pytest plugin as a user meets it: one line per test, record once against an upstream, then
replay offline with the default ``--record-mode=none``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable

from mockserver.cassettes import format as fmt
from mockserver.harness.testing import MockServer

USER_TESTS = '''
import anthropic
import pytest

HI = [{"role": "user", "content": "Hi there"}]


@pytest.mark.claude_cassette
def test_marker_only():
    client = anthropic.Anthropic()  # the code under test builds its own client: the environment points it here
    reply = client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=HI)
    assert reply.content[0].text.startswith("You said")


def test_fixture_stream(cassette_client):
    with cassette_client.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=HI) as stream:
        assert stream.get_final_text()


class TestGroup:
    @pytest.mark.parametrize("who", ["a/b", "c"])
    def test_param(self, cassette_client, who):
        cassette_client.messages.count_tokens(model="claude-haiku-4-5", messages=[{"role": "user", "content": who}])


@pytest.mark.asyncio
async def test_async(async_cassette_client):
    reply = await async_cassette_client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=HI)
    assert reply.stop_reason


@pytest.mark.claude_cassette("shared/custom.yaml", allow_repeats=True)
def test_explicit_path(claude_cassette):
    client = claude_cassette.client()
    ids = [client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=HI).id for _ in range(2)]
    assert len(set(ids)) == 2  # recorded twice; replayed in recorded order
    if claude_cassette.mode == "none":  # allow_repeats: the last recording again
        assert client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=HI).id == ids[-1]
'''


def _pytest(where: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "test_user.py", *args],
        cwd=where, capture_output=True, text=True, env=env, timeout=120,
    )


def test_record_once_then_replay_offline(tmp_path: Path, make_server: Callable[..., MockServer]) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "MOCKSERVER_", "PYTEST_"))}
    secret = "sk-ant-api03-" + "U5erRealKey" * 3
    upstream = make_server(seed=21)

    recorded = _pytest(tmp_path, "--record-mode=once", f"--record-upstream={upstream.url}", env={**env, "ANTHROPIC_API_KEY": secret})
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    folder = tmp_path / "cassettes" / "test_user"
    assert sorted(p.name for p in folder.iterdir()) == [
        "TestGroup.test_param[a-b].yaml", "TestGroup.test_param[c].yaml",
        "test_async.yaml", "test_fixture_stream.yaml", "test_marker_only.yaml",
    ]
    assert (tmp_path / "shared" / "custom.yaml").exists()
    for path in [*folder.iterdir(), tmp_path / "shared" / "custom.yaml"]:
        text = path.read_text()
        assert secret not in text and "U5erRealKey" not in text
        assert fmt.load(path)
    upstream.stop()  # from here on there is nothing to reach

    replayed = _pytest(tmp_path, env=env)  # default --record-mode=none
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "6 passed" in replayed.stdout

    (folder / "test_marker_only.yaml").unlink()
    missing = _pytest(tmp_path, "-k", "marker_only", env=env)
    assert missing.returncode == 1
    assert "there is no cassette file at" in missing.stdout and "test_marker_only.yaml" in missing.stdout

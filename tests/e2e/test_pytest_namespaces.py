"""The pytest plugin's namespaces as a user's suite meets them: every test has its own (its rules,
journal and limits never reach another test), and with ``--mockserver-state`` several
pytest-xdist workers keep their servers' state in one Redis without seeing each other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.redis_support import RedisServer

USER_TESTS = '''
import anthropic
import pytest
import urllib.request, json

HI = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize("n", range(6))
def test_isolated(mockserver, anthropic_client, n):
    assert mockserver.namespace.startswith("t") and mockserver.rules == [] and len(mockserver.journal) == 0
    mockserver.reply(f"only for test {n}", times=1)
    mockserver.set_rate_limits(requests_per_minute=2)
    assert anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=20, messages=HI).content[0].text == f"only for test {n}"
    code_under_test = anthropic.Anthropic(base_url=mockserver.url, api_key="k", max_retries=0)  # sends no header
    assert code_under_test.messages.create(model="claude-haiku-4-5", max_tokens=20, messages=HI).content[0].text != f"only for test {n}"
    with pytest.raises(anthropic.RateLimitError):
        code_under_test.messages.create(model="claude-haiku-4-5", max_tokens=20, messages=HI)
    mockserver.journal.assert_called(3)


@pytest.mark.asyncio
async def test_async_client_too(mockserver, async_anthropic_client):
    mockserver.reply("async and alone")
    reply = await async_anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=20, messages=HI)
    assert reply.content[0].text == "async and alone" and len(mockserver.journal) == 1
'''


def _run(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function", "test_user.py", *args],
        cwd=where, capture_output=True, text=True, timeout=300,
    )


def test_each_test_has_a_namespace_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    done = _run(tmp_path, "-p", "no:xdist")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 passed" in done.stdout


def test_xdist_workers_share_one_redis_apart(tmp_path: Path, redis_server: RedisServer) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    url = redis_server.fresh_url()
    done = _run(tmp_path, "-n", "2", "--mockserver-state", url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 passed" in done.stdout
    import redis

    left = redis.Redis.from_url(url).keys("mockserver:t*")
    assert left == []  # every test's namespace was reset when it ended

"""``--journal-limit 0``: a load test's server keeps no journal (as WireMock's
``--no-request-journal``), answers as before, and says so to whoever reads the journal."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any, Callable

import anthropic
import httpx
import pytest

from mockserver import Config, MockServer
from mockserver.protocol.errors import ApiError

OFF = "This server keeps no journal (it was started with --journal-limit 0)."
CALL: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 30, "messages": [{"role": "user", "content": "Hello there"}]}


def test_calls_are_answered_as_with_a_journal(make_server: Callable[..., MockServer]) -> None:
    """Seeded, both servers send the same Messages (the reply memo included: the call repeats)."""
    kept, off = make_server(seed=5), make_server(seed=5, journal_limit=0)
    answers = [[server.client().messages.create(**CALL).to_dict() for _ in range(3)] for server in (kept, off)]
    assert answers[0] == answers[1]
    assert len(kept.journal) == 3


def test_the_async_client_and_streams_work_without_a_journal(make_server: Callable[..., MockServer]) -> None:
    server = make_server(journal_limit=0)

    async def run() -> tuple[str, str]:
        client = server.async_client()
        message = await client.messages.create(**CALL)
        async with client.messages.stream(**CALL) as stream:
            text = await stream.get_final_text()
        await client.close()
        return message.content[0].text, text  # type: ignore[union-attr]

    whole, streamed = asyncio.run(run())
    assert whole and whole == streamed


def test_reading_the_journal_says_it_is_off(make_server: Callable[..., MockServer]) -> None:
    server = make_server(journal_limit=0)
    server.client().messages.create(**CALL)
    with pytest.raises(ApiError, match="--journal-limit 0"):
        len(server.journal)
    server.journal.clear()  # resets clear it as ever: nothing to do
    server.reset()


def test_the_admin_api_says_it_is_off(make_server: Callable[..., MockServer]) -> None:
    server = make_server(journal_limit=0)
    server.client().messages.create(**CALL)
    with httpx.Client(base_url=server.url) as admin:
        refused = admin.get("/_mock/journal")
        assert refused.status_code == 404
        assert refused.json() == {"type": "error", "error": {"type": "not_found_error", "message": OFF}, "request_id": refused.headers["request-id"]}
        assert admin.get("/_mock").json()["journal"] is None
        assert admin.delete("/_mock/journal").status_code == 200
        assert admin.post("/_mock/reset").status_code == 200


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="journal_limit and journal_bytes must be 0 or more"):
        Config(journal_limit=-1)
    refused = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--journal-limit", "-1"], capture_output=True, text=True, timeout=20)
    assert refused.returncode == 2 and "--journal-limit: must be 0 or more: '-1'" in refused.stderr, refused.stderr


def test_a_journal_with_no_bytes_is_refused() -> None:
    """It would drop every entry as it came: a test reading it would see "no calls"."""
    with pytest.raises(ValueError, match="journal_bytes must be at least 1 while journal_limit keeps entries"):
        Config(journal_bytes=0)
    assert Config(journal_limit=0, journal_bytes=0).journal_limit == 0  # no journal: nothing to hold
    refused = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--journal-bytes", "0"], capture_output=True, text=True, timeout=20)
    assert refused.returncode == 2 and "--journal-bytes: must be at least 1: '0'" in refused.stderr, refused.stderr


def test_the_command_line_serves_without_a_journal() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--port", "0", "--journal-limit", "0", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = next(line.strip().split("=", 1)[1] for line in proc.stdout if line.startswith("export ANTHROPIC_BASE_URL="))  # type: ignore[union-attr]
        client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
        assert client.messages.create(**CALL).stop_reason in ("end_turn", "max_tokens")
        assert httpx.get(url + "/_mock/journal").json()["error"]["message"] == OFF
    finally:
        proc.kill()
        proc.wait(10)

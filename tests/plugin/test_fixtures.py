"""The pytest plugin's fixtures as a project uses them, with whichever SDK release is installed.

``make unit`` runs this module with SDK 2.12 (.venv, the project's own pytest configuration);
``make compat`` and ``make legacy`` run it with SDK 1.17 and 0.49, each installed next to
mockserver in its own venv, under an empty configuration (pytest-asyncio's strict mode, as a
fresh project has). The cassettes under ``cassettes/test_fixtures/`` were recorded from
``mockserver serve`` with ``--record-mode=once --record-upstream URL``, then their answer's text
edited to one the fake model never writes; here they only replay. ``tests/plugin/nosdk`` checks
the plugin in a venv with no SDK at all (``make nosdk``).
"""

from __future__ import annotations

import anthropic
import pytest

from mockserver import MockServer, error, reply

HELLO = [{"role": "user", "content": "Hello"}]
RECORDED = "Hello from the cassette."  # the recorded answer (edited: the fake model never says it)


def test_sync_client_talks_to_the_session_server(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=HELLO)
    assert message.content[0].text.startswith('You said: "Hello"')
    call = mockserver.journal.last()
    assert call.status == 200 and call.header("x-stainless-package-version") == anthropic.__version__


def test_scripted_answers_and_retries(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.sequence([error(529, retry_after_ms=10), reply("Recovered.")])
    message = anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=HELLO)
    assert message.content[0].text == "Recovered."
    assert [c.status for c in mockserver.journal.calls()] == [529, 200]


def test_each_test_starts_clean(mockserver: MockServer) -> None:
    assert mockserver.journal.calls() == [] and mockserver.rules == []


@pytest.mark.asyncio
async def test_async_client(mockserver: MockServer, async_anthropic_client: anthropic.AsyncAnthropic) -> None:
    mockserver.reply("Async hello.")
    message = await async_anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=HELLO)
    assert message.content[0].text == "Async hello."
    async with async_anthropic_client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=HELLO) as stream:
        assert await stream.get_final_text() == "Async hello."


@pytest.mark.claude_cassette
def test_code_that_builds_its_own_client_replays_its_cassette() -> None:
    client = anthropic.Anthropic()  # ANTHROPIC_BASE_URL and a key come from the fixture
    message = client.messages.create(model="claude-haiku-4-5", max_tokens=60, messages=HELLO)
    assert message.content[0].text == RECORDED


def test_cassette_client(cassette_client: anthropic.Anthropic, claude_cassette: object) -> None:
    message = cassette_client.messages.create(model="claude-haiku-4-5", max_tokens=60, messages=HELLO)
    assert message.content[0].text == RECORDED
    assert getattr(claude_cassette, "mode") == "none"  # replayed, not recorded


@pytest.mark.asyncio
async def test_async_cassette_client(async_cassette_client: anthropic.AsyncAnthropic) -> None:
    message = await async_cassette_client.messages.create(model="claude-haiku-4-5", max_tokens=60, messages=HELLO)
    assert message.content[0].text == RECORDED

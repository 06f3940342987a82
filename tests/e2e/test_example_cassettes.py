"""The README's worked example: the committed cassette replays offline through the SDK, with the
one-line marker (its path given explicitly, as the file lives in cassettes/examples/)."""

from __future__ import annotations

from pathlib import Path

import anthropic
import pytest

from mockserver.harness.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "cassettes" / "examples" / "hello.yaml"
HI = [{"role": "user", "content": "Name two moons of Jupiter."}]


@pytest.mark.claude_cassette("../../cassettes/examples/hello.yaml")
def test_the_example_cassette_replays_through_the_sdk() -> None:
    client = anthropic.Anthropic()  # ANTHROPIC_BASE_URL and a key come from the marker
    reply = client.messages.create(model="claude-haiku-4-5", max_tokens=60, messages=HI)
    assert reply.content[0].type == "text" and "Jupiter" in reply.content[0].text
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=40, messages=[{"role": "user", "content": "Count to three."}]) as stream:
        assert stream.get_final_message().stop_reason in ("end_turn", "max_tokens")
    assert client.messages.count_tokens(model="claude-haiku-4-5", messages=HI).input_tokens > 0
    with pytest.raises(anthropic.NotFoundError, match="claude-nonexistent-1"):
        client.messages.create(model="claude-nonexistent-1", max_tokens=10, messages=HI)


def test_the_example_cassette_holds_no_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cassette", "check", str(EXAMPLE)]) == 0

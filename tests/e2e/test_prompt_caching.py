"""Prompt-caching emulation through the SDK, with an injectable clock instead of sleeping."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from mockserver.clock import ManualClock
from mockserver.harness.testing import MockServer
from mockserver.protocol.tokens import ASSISTANT_PROMPT
from tests.conftest import HAIKU

LONG = "The archive holds letters, maps and ledgers from three centuries of trade. " * 400  # ~5,000 tokens
SHORT = "A short system prompt that is far below any minimum. " * 10


def system(text: str = LONG, ttl: str | None = None) -> list[dict[str, Any]]:
    cache: dict[str, Any] = {"type": "ephemeral"}
    if ttl:
        cache["ttl"] = ttl
    return [{"type": "text", "text": text, "cache_control": cache}]


def usage(client: anthropic.Anthropic, question: str = "Summarise it.", model: str = HAIKU, **params: Any) -> Any:
    params.setdefault("system", system())
    return client.messages.create(model=model, max_tokens=50, messages=[{"role": "user", "content": question}], **params).usage


@pytest.fixture
def client(clocked_server: MockServer) -> Any:
    with clocked_server.client() as client:
        yield client


def test_write_then_read_within_the_ttl(client: anthropic.Anthropic) -> None:
    total = client.messages.count_tokens(model=HAIKU, system=system(), messages=[{"role": "user", "content": "Summarise it."}]).input_tokens
    first = usage(client)
    assert first.cache_read_input_tokens == 0 and first.cache_creation_input_tokens > 4096
    assert first.cache_creation.ephemeral_5m_input_tokens == first.cache_creation_input_tokens
    assert first.input_tokens + first.cache_creation_input_tokens == total
    second = usage(client, "Another question about it.")
    assert second.cache_creation_input_tokens == 0
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.input_tokens < 20  # only the new question is uncached


def test_five_minute_ttl_is_refreshed_by_a_hit_and_then_expires(client: anthropic.Anthropic, clock: ManualClock) -> None:
    written = usage(client).cache_creation_input_tokens
    clock.advance(299)
    assert usage(client).cache_read_input_tokens == written
    clock.advance(299)  # 598 s after the write, 299 s after the hit that refreshed it
    assert usage(client).cache_read_input_tokens == written
    clock.advance(301)
    expired = usage(client)
    assert expired.cache_read_input_tokens == 0 and expired.cache_creation_input_tokens == written


def test_one_hour_ttl(client: anthropic.Anthropic, clock: ManualClock) -> None:
    first = usage(client, system=system(ttl="1h"))
    assert first.cache_creation.ephemeral_1h_input_tokens == first.cache_creation_input_tokens > 0
    assert first.cache_creation.ephemeral_5m_input_tokens == 0
    clock.advance(3000)
    assert usage(client, system=system(ttl="1h")).cache_read_input_tokens == first.cache_creation_input_tokens
    clock.advance(3601)
    assert usage(client, system=system(ttl="1h")).cache_read_input_tokens == 0


def test_prefixes_below_the_minimum_are_not_cached(client: anthropic.Anthropic) -> None:
    for _ in range(2):
        short = usage(client, system=system(SHORT))
        assert short.cache_creation_input_tokens == 0 and short.cache_read_input_tokens == 0
    # Haiku 4.5 caches from 4,096 tokens; Opus 5 from 512 (the catalog's min_cacheable_tokens)
    middle = system("word " * 1000)
    assert usage(client, system=middle).cache_creation_input_tokens == 0
    assert usage(client, system=middle, model="claude-opus-5").cache_creation_input_tokens > 0


def test_caches_are_per_model(client: anthropic.Anthropic) -> None:
    usage(client)
    other = usage(client, model="claude-opus-4-6")
    assert other.cache_read_input_tokens == 0 and other.cache_creation_input_tokens > 0


def test_a_moved_breakpoint_reads_the_earlier_prefix(client: anthropic.Anthropic) -> None:
    """Turn 2 puts its breakpoint on the newest message; the system prefix cached by turn 1 is
    found by the look-back, read, and the rest written."""
    turn1 = usage(client)
    conversation = [
        {"role": "user", "content": "Summarise it."},
        {"role": "assistant", "content": "It is a trade archive."},
        {"role": "user", "content": [{"type": "text", "text": "Which centuries?", "cache_control": {"type": "ephemeral"}}]},
    ]
    plain_system = [{"type": "text", "text": LONG}]
    turn2 = client.messages.create(model=HAIKU, max_tokens=50, system=plain_system, messages=conversation).usage
    assert turn2.cache_read_input_tokens == turn1.cache_creation_input_tokens
    assert 0 < turn2.cache_creation_input_tokens < 40  # just the new turns
    assert turn2.input_tokens == ASSISTANT_PROMPT  # only the assistant turn the API opens after the prompt


def test_mixed_ttls_split_the_write(client: anthropic.Anthropic) -> None:
    tools = [{"name": "lookup", "description": "Look a ledger up. " * 1200, "input_schema": {"type": "object"},
              "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    split = usage(client, tools=tools).cache_creation
    assert split.ephemeral_1h_input_tokens > 0 and split.ephemeral_5m_input_tokens > 4000


def test_streamed_and_scripted_replies_report_the_cache_too(clocked_server: MockServer, client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=HAIKU, max_tokens=50, system=system(), messages=[{"role": "user", "content": "Hi"}]) as stream:
        start_usage = None
        for event in stream:
            if event.type == "message_start":
                start_usage = event.message.usage
        final = stream.get_final_message().usage
    assert start_usage is not None and start_usage.cache_creation_input_tokens == final.cache_creation_input_tokens > 0
    clocked_server.reply("Scripted, and cached.")
    scripted = usage(client, "Hi")
    assert scripted.cache_read_input_tokens == final.cache_creation_input_tokens


def test_reset_empties_the_cache(clocked_server: MockServer, client: anthropic.Anthropic) -> None:
    usage(client)
    clocked_server.reset()
    assert usage(client).cache_read_input_tokens == 0

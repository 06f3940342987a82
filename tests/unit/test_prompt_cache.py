"""Prompt-cache accounting as a pure function of the requests seen so far and the clock."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.clock import ManualClock
from mockserver.cache.prompt_cache import PromptCache, _boundaries
from mockserver.clock import Clock
from mockserver.protocol.tokens import count_request
from mockserver.store.local import LocalStore

MODEL = "claude-test"
LONG = "alpha beta gamma delta " * 400  # ~1,600 tokens


def body(*turns: Any, system: Any = None, tools: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"model": MODEL, "max_tokens": 10, "messages": list(turns)}
    if system is not None:
        out["system"] = system
    if tools is not None:
        out["tools"] = tools
    return out


def cached(text: str, ttl: str | None = None) -> dict[str, Any]:
    control: dict[str, Any] = {"type": "ephemeral"}
    if ttl:
        control["ttl"] = ttl
    return {"type": "text", "text": text, "cache_control": control}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def new_cache(clock: Clock) -> PromptCache:
    return PromptCache(LocalStore(":memory:"), clock)


def account(cache: PromptCache, request: dict[str, Any], minimum: int = 1024, model: str = MODEL) -> Any:
    return asyncio.run(cache.account(model, request, count_request(request), minimum))


def peek(cache: PromptCache, request: dict[str, Any], minimum: int = 1024) -> Any:
    return asyncio.run(cache.peek(MODEL, request, count_request(request), minimum))


def entries(cache: PromptCache) -> int:
    return len(cache.store._expiring)  # type: ignore[attr-defined]


def test_no_breakpoints_means_no_cache_fields() -> None:
    cache = new_cache(ManualClock())
    request = body(user("hi"))
    split = account(cache, request)
    assert (split.input_tokens, split.cache_creation, split.cache_read) == (count_request(request).total, 0, 0)
    assert entries(cache) == 0


def test_write_read_expire() -> None:
    clock = ManualClock()
    cache = new_cache(clock)
    request = body(user("q"), system=[cached(LONG)])
    total = count_request(request).total
    first = account(cache, request)
    assert first.cache_creation_5m > 1500 and first.cache_read == 0
    assert first.input_tokens + first.cache_creation == total
    assert peek(cache, request).cache_read == first.cache_creation  # peek sees it
    clock.advance(299.9)
    again = account(cache, request)
    assert again.cache_read == first.cache_creation and again.cache_creation == 0
    clock.advance(300.1)  # 300.1 s after the refreshing read: gone
    assert account(cache, request).cache_read == 0


def test_peek_changes_nothing() -> None:
    cache = new_cache(ManualClock())
    request = body(user("q"), system=[cached(LONG)])
    assert peek(cache, request).cache_creation > 0
    assert entries(cache) == 0


def test_minimum_and_folding_into_the_next_breakpoint() -> None:
    cache = new_cache(ManualClock())
    short = {"type": "text", "text": "tiny", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    request = body(user("q"), system=[short, cached(LONG)])
    split = account(cache, request)
    # the 1h breakpoint is below the minimum: its tokens are written with the next (5m) one
    assert split.cache_creation_1h == 0 and split.cache_creation_5m == count_request(request).breakpoints[-1].prefix_tokens
    assert account(cache, body(user("q"), system=[cached("tiny")])).cache_creation == 0


def test_ttl_split_between_breakpoints() -> None:
    cache = new_cache(ManualClock())
    request = body(user("q"), system=[cached(LONG, "1h"), cached(LONG)])
    bps = count_request(request).breakpoints
    split = account(cache, request)
    assert split.cache_creation_1h == bps[0].prefix_tokens
    assert split.cache_creation_5m == bps[1].prefix_tokens - bps[0].prefix_tokens


def test_different_content_or_model_misses() -> None:
    cache = new_cache(ManualClock())
    account(cache, body(user("q"), system=[cached(LONG)]))
    assert account(cache, body(user("q"), system=[cached(LONG + "!")])).cache_read == 0
    request = body(user("q"), system=[cached(LONG)])
    assert account(cache, request, model="other-model").cache_read == 0


def test_lookback_is_twenty_blocks() -> None:
    cache = new_cache(ManualClock())
    account(cache, body({"role": "user", "content": [cached(LONG)]}))
    filler = [{"type": "text", "text": f"block {i}"} for i in range(25)]
    near = body({"role": "user", "content": [{"type": "text", "text": LONG}, *filler[:18], cached("end")]})
    far = body({"role": "user", "content": [{"type": "text", "text": LONG}, *filler, cached("end")]})
    assert account(cache, near).cache_read > 0  # 19 blocks back: found
    fresh = new_cache(ManualClock())
    account(fresh, body({"role": "user", "content": [cached(LONG)]}))
    assert account(fresh, far).cache_read == 0  # 26 blocks back: out of reach


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=6), st.lists(st.floats(0, 400), min_size=6, max_size=6))
def test_the_split_always_adds_up(questions: list[str], gaps: list[float]) -> None:
    clock = ManualClock()
    cache = new_cache(clock)
    for question, gap in zip(questions, gaps):
        clock.advance(gap)
        request = body(user(question), system=[cached(LONG)])
        split = account(cache, request)
        assert split.input_tokens + split.cache_creation + split.cache_read == count_request(request).total
        assert min(split.input_tokens, split.cache_creation, split.cache_read) >= 0


def test_boundaries_from_the_counted_units_match_a_fresh_walk() -> None:
    request = body(
        user("q"),
        {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "r"}, cached(LONG, "1h")]},
        system="be brief",
        tools=[{"name": "f", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
    )
    request["cache_control"] = {"type": "ephemeral"}
    tokens = count_request(request)
    assert tokens.units is not None and count_request(body(user("q"))).units is None  # kept only with breakpoints
    assert list(_boundaries(MODEL, request, tokens.units)) == list(_boundaries(MODEL, request))

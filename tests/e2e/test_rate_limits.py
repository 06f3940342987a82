"""Rate-limit emulation through the SDK: token buckets, 429s with retry-after, and the headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from mockserver.clock import ManualClock, rfc3339
from mockserver.harness.testing import MockServer
from tests.conftest import HAIKU, USER_HI

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PROMPT = "Tell me about the sea and the ships upon it. " * 60  # ~600 input tokens


def create(client: anthropic.Anthropic, content: str = "Hi", **params: Any) -> Any:
    params.setdefault("model", HAIKU)
    return client.messages.with_raw_response.create(max_tokens=20, messages=[{"role": "user", "content": content}], **params)


@pytest.fixture
def client(clocked_server: MockServer) -> Any:
    with clocked_server.client(max_retries=0) as client:
        yield client


def test_off_by_default_never_exhausted(client: anthropic.Anthropic) -> None:
    for _ in range(20):
        raw = create(client)
    assert raw.headers["anthropic-ratelimit-requests-limit"] == "4000"
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "3999"
    assert raw.headers["anthropic-ratelimit-tokens-limit"] == "2400000"


def test_requests_per_minute(clocked_server: MockServer, client: anthropic.Anthropic, clock: ManualClock) -> None:
    clocked_server.set_rate_limits(requests_per_minute=3)
    start = clock.now()
    remaining = [create(client).headers["anthropic-ratelimit-requests-remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    with pytest.raises(anthropic.RateLimitError) as caught:
        create(client)
    headers = caught.value.response.headers
    assert headers["retry-after"] == "20"  # one request comes back every 60/3 s
    assert headers["anthropic-ratelimit-requests-limit"] == "3" and headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-requests-reset"] == rfc3339(start + 60)
    assert caught.value.type == "rate_limit_error" and "of 3 requests per minute" in caught.value.message
    assert clocked_server.journal.last_request().origin == "ratelimit"
    clock.advance(20)
    assert create(client).status_code == 200


def test_input_tokens_per_minute_and_the_rounded_headers(clocked_server: MockServer, client: anthropic.Anthropic, clock: ManualClock) -> None:
    clocked_server.set_rate_limits(input_tokens_per_minute=1000)
    first = create(client, PROMPT)
    used = first.parse().usage.input_tokens
    assert 500 < used < 1000
    assert first.headers["anthropic-ratelimit-input-tokens-remaining"] == "0"  # 1000 - used, rounded down to thousands
    with pytest.raises(anthropic.RateLimitError) as caught:
        create(client, PROMPT)
    assert "of 1,000 input tokens per minute" in caught.value.message
    assert int(caught.value.response.headers["retry-after"]) >= 1
    clock.advance(60)
    assert create(client, PROMPT).status_code == 200


def test_output_tokens_are_charged_after_the_reply(clocked_server: MockServer, client: anthropic.Anthropic) -> None:
    clocked_server.set_rate_limits(output_tokens_per_minute=100)
    clocked_server.reply("long answer", usage={"output_tokens": 150}, times=1)
    create(client)
    with pytest.raises(anthropic.RateLimitError) as caught:
        create(client)
    assert "output tokens per minute" in caught.value.message


def test_cache_reads_do_not_count_toward_input_tokens(clocked_server: MockServer, client: anthropic.Anthropic) -> None:
    long = "The archive holds letters, maps and ledgers from three centuries of trade. " * 400
    cached = [{"type": "text", "text": long, "cache_control": {"type": "ephemeral"}}]
    size = client.messages.count_tokens(model=HAIKU, system=cached, messages=[{"role": "user", "content": "Hi"}]).input_tokens
    clocked_server.set_rate_limits(input_tokens_per_minute=size + 500)  # room for one uncached prompt, not two
    write = create(client, system=cached).parse().usage
    assert write.cache_creation_input_tokens > 4096
    read = create(client, system=cached).parse().usage  # read from the cache: not counted
    assert read.cache_read_input_tokens == write.cache_creation_input_tokens
    with pytest.raises(anthropic.RateLimitError):
        create(client, system=[{"type": "text", "text": long}])  # the same prompt uncached does not fit


def test_limits_are_per_model(clocked_server: MockServer, client: anthropic.Anthropic) -> None:
    clocked_server.set_rate_limits({"requests_per_minute": 100, "models": {"claude-haiku-4-5": {"requests_per_minute": 1}}})
    create(client)
    with pytest.raises(anthropic.RateLimitError):
        create(client, model="claude-haiku-4-5-20251001")  # the alias and the dated id share a bucket
    assert create(client, model="claude-opus-4-6").headers["anthropic-ratelimit-requests-limit"] == "100"


def test_count_tokens_has_its_own_bucket(clocked_server: MockServer, client: anthropic.Anthropic) -> None:
    clocked_server.set_rate_limits(requests_per_minute=1, count_tokens_requests_per_minute=2)
    client.messages.count_tokens(model=HAIKU, messages=USER_HI)
    client.messages.count_tokens(model=HAIKU, messages=USER_HI)
    with pytest.raises(anthropic.RateLimitError):
        client.messages.count_tokens(model=HAIKU, messages=USER_HI)
    assert create(client).status_code == 200  # messages still had their one request


def test_client_errors_carry_no_rate_limit_headers(clocked_server: MockServer, client: anthropic.Anthropic) -> None:
    clocked_server.set_rate_limits(requests_per_minute=10)
    with pytest.raises(anthropic.NotFoundError) as caught:
        create(client, model="claude-nope-9")
    assert not any(h.startswith("anthropic-ratelimit-") for h in caught.value.response.headers)


def test_scenario_file_rate_limits(make_server) -> None:
    server = make_server(scenario_files=(FIXTURES / "rate-limits.yaml",), clock=ManualClock())
    with server.client(max_retries=0) as client:
        assert create(client).headers["anthropic-ratelimit-requests-limit"] == "5"  # haiku's own limit
        assert create(client, model="claude-opus-4-6").headers["anthropic-ratelimit-input-tokens-limit"] == "40000"
    server.reset()  # back to the file's limits, buckets full
    assert server.api.limiter.enabled

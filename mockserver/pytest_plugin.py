"""pytest fixtures for any project that installs mockserver (registered via the pytest11 entry point).

    def test_hello(anthropic_client):
        reply = anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=64,
                                                 messages=[{"role": "user", "content": "Hi"}])

``mockserver`` is one server per test session (started on first use, on a free loopback port),
reset before each test; override ``mockserver_config`` to configure it.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Iterator

import pytest

from .batches.store import MEMORY
from .config import Config
from .testing import MockServer


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockserver", "offline Claude API (mockserver)")
    group.addoption("--mockserver-seed", type=int, default=None, help="seed for the mockserver fixture's ids and content")


@pytest.fixture(scope="session")
def mockserver_config(request: pytest.FixtureRequest) -> Config:
    """Override in a conftest.py to configure the session's server."""
    return Config(port=0, seed=request.config.getoption("--mockserver-seed"), log_requests=False, data_dir=MEMORY)


@pytest.fixture(scope="session")
def mockserver_session(mockserver_config: Config) -> Iterator[MockServer]:
    with MockServer(mockserver_config) as server:
        yield server


@pytest.fixture
def mockserver(mockserver_session: MockServer) -> Iterator[MockServer]:
    """The running fake API, with a clean journal (and no scripted rules) for this test."""
    mockserver_session.reset()
    yield mockserver_session


@pytest.fixture
def anthropic_client(mockserver: MockServer) -> Iterator[Any]:
    """``anthropic.Anthropic`` pointed at the fake API, strict response validation on."""
    with mockserver.client() as client:
        yield client


@pytest.fixture
async def async_anthropic_client(mockserver: MockServer) -> AsyncIterator[Any]:
    """``anthropic.AsyncAnthropic`` pointed at the fake API, strict response validation on."""
    client = mockserver.async_client()
    try:
        yield client
    finally:
        await client.close()

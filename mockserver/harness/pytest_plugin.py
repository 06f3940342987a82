"""pytest fixtures for any project that installs mockserver (registered via the pytest11 entry point).

    def test_hello(anthropic_client):
        reply = anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=64,
                                                 messages=[{"role": "user", "content": "Hi"}])

``mockserver`` is one server per test session (started on first use, on a free loopback port),
reset before each test; override ``mockserver_config`` to configure it.
"""

from __future__ import annotations

import os
from typing import Any, AsyncIterator, Iterator

import pytest

from mockserver.store.sqlite import MEMORY
from mockserver.harness import pytest_cassettes as cassettes
from mockserver.config import Config
from mockserver.harness.testing import MockServer

try:  # pytest-asyncio's own decorator works in its strict mode too
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - async fixtures then need another async plugin
    _async_fixture = pytest.fixture  # type: ignore[assignment]  # the same decorator, another overload set


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockserver", "offline Claude API (mockserver)")
    group.addoption("--mockserver-seed", type=int, default=None, help="seed for the mockserver fixture's ids and content")
    cassettes.add_options(group)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", cassettes.MARKER_HELP)


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


@_async_fixture
async def async_anthropic_client(mockserver: MockServer) -> AsyncIterator[Any]:
    """``anthropic.AsyncAnthropic`` pointed at the fake API, strict response validation on."""
    client = mockserver.async_client()
    try:
        yield client
    finally:
        await client.close()


# -- cassettes: record once, replay offline (docs/cassettes.md) ---------------------------------

@pytest.fixture(scope="session")
def mockserver_cassette_server() -> Iterator[MockServer]:
    """One server for every cassette test, re-pointed at each test's cassette."""
    with MockServer() as server:
        yield server


@pytest.fixture
def claude_cassette(
    request: pytest.FixtureRequest, mockserver_cassette_server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[cassettes.CassetteHandle]:
    """This test's cassette served offline (``--record-mode`` to record), with ``ANTHROPIC_BASE_URL``
    pointing at it, so clients the code under test builds itself use it too."""
    handle = cassettes.start(mockserver_cassette_server, request)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", handle.url)
    if handle.installed.upstream is None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", os.environ.get("ANTHROPIC_API_KEY") or "sk-ant-mock-key")
    try:
        yield handle
    finally:
        cassettes.stop(handle)


@pytest.fixture(autouse=True)
def _claude_cassette_marker(request: pytest.FixtureRequest) -> None:
    """``@pytest.mark.claude_cassette`` alone is enough: it brings in the fixture."""
    if request.node.get_closest_marker(cassettes.MARKER) is not None:
        request.getfixturevalue("claude_cassette")


@pytest.fixture
def cassette_client(claude_cassette: cassettes.CassetteHandle) -> Iterator[Any]:
    """``anthropic.Anthropic`` answered from this test's cassette (strict response validation)."""
    with claude_cassette.client() as client:
        yield client


@_async_fixture
async def async_cassette_client(claude_cassette: cassettes.CassetteHandle) -> AsyncIterator[Any]:
    """``anthropic.AsyncAnthropic`` answered from this test's cassette."""
    client = claude_cassette.async_client()
    try:
        yield client
    finally:
        await client.close()

"""pytest fixtures for any project that installs mockserver (registered via the pytest11 entry point).

    def test_hello(anthropic_client):
        reply = anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=64,
                                                 messages=[{"role": "user", "content": "Hi"}])

``mockserver`` is one server per test session (started on first use, on a free loopback port);
each test gets a namespace of its own (``x-mock-namespace``): the fixture's clients send it,
calls that name none land in it while the test runs, and it is reset when the test ends. So
tests never see each other's rules, journal, limits, cache or batches — even when many
sessions (pytest-xdist workers, CI jobs) share one store (``--mockserver-state redis://…``).
Override ``mockserver_config`` to configure the server.
"""

from __future__ import annotations

import itertools
import os
import secrets
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
    group.addoption(
        "--mockserver-state", default=None, metavar="URL",
        help="keep the mockserver fixture's state in this Redis/Valkey (redis://HOST:PORT/DB), shared with other sessions",
    )
    cassettes.add_options(group)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", cassettes.MARKER_HELP)


@pytest.fixture(scope="session")
def mockserver_config(request: pytest.FixtureRequest) -> Config:
    """Override in a conftest.py to configure the session's server."""
    return Config(
        port=0, seed=request.config.getoption("--mockserver-seed"), log_requests=False, data_dir=MEMORY,
        state=request.config.getoption("--mockserver-state"),
    )


@pytest.fixture(scope="session")
def mockserver_session(mockserver_config: Config) -> Iterator[MockServer]:
    with MockServer(mockserver_config) as server:
        yield server


@pytest.fixture(scope="session")
def _mockserver_namespaces() -> Iterator[str]:
    """Namespace names for this session's tests: unique across sessions and xdist workers."""
    prefix = f"t{secrets.token_hex(4)}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    return (f"{prefix}-{n}" for n in itertools.count(1))


@pytest.fixture
def mockserver(mockserver_session: MockServer, _mockserver_namespaces: Iterator[str]) -> Iterator[MockServer]:
    """The running fake API, in a namespace of this test's own (clean journal, no scripted rules)."""
    namespace = next(_mockserver_namespaces)
    api = mockserver_session.api
    api.default_namespace = namespace  # clients that send no header (code under test, raw HTTP) land here too
    view = mockserver_session.namespaced(namespace)
    try:
        yield view
    finally:
        api.default_namespace = "default"
        view.reset()  # what the test left is freed (in a shared store too)


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

"""MockServer.reset clears the journal on the server's loop while it runs, and directly when it
does not (before start, after stop)."""

from __future__ import annotations

from typing import Callable

from mockserver.harness.testing import MockServer
from tests.conftest import HAIKU


def _ask(server: MockServer) -> None:
    with server.client(max_retries=0) as client:
        client.messages.create(model=HAIKU, max_tokens=20, messages=[{"role": "user", "content": "hi"}])


def test_reset_clears_the_journal_while_running(make_server: Callable[..., MockServer]) -> None:
    server = make_server()
    _ask(server)
    assert len(server.journal) == 1
    server.reset()
    assert len(server.journal) == 0


def test_reset_clears_the_journal_when_the_server_is_not_running() -> None:
    server = MockServer().start()
    try:
        _ask(server)
    finally:
        server.stop()
    assert len(server.journal) == 1
    server.reset()
    assert len(server.journal) == 0

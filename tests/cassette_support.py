"""Helpers for the record/replay tests: a recorder in front of a local upstream, a replayer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mockserver.cassettes import format as fmt
from mockserver.cassettes.install import CassetteOptions, Installed, install
from mockserver.harness.testing import MockServer

HAIKU = "claude-haiku-4-5"


def hello(text: str = "Hello, Claude", **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": HAIKU, "max_tokens": 60, "messages": [{"role": "user", "content": text}]}
    body.update(params)
    return body


class Proxy:
    """A mockserver with a cassette installed (recording, replaying or both), started."""

    def __init__(self, path: Path, **options: Any) -> None:
        self.server = MockServer()
        self.installed: Installed = install(self.server.state, CassetteOptions([path], **options))
        self.server.start()
        self.path = path
        self.stopped = False

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **kwargs: Any) -> Any:
        return self.server.client(**kwargs)

    def async_client(self, **kwargs: Any) -> Any:
        return self.server.async_client(**kwargs)

    def flush(self) -> None:
        if not self.stopped:
            self.server._thread.call(self.installed.flush())

    def stop(self) -> None:
        self.flush()
        self.server.stop()
        self.stopped = True

    def saved(self) -> list[Any]:
        self.flush()
        return fmt.load(self.path)

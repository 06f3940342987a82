"""Helpers for the record/replay tests: a recorder in front of a local upstream, a replayer."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from mockserver.cassettes import format as fmt
from mockserver.cassettes.install import CassetteOptions, Installed
from mockserver.harness.testing import MockServer

HAIKU = "claude-haiku-4-5"


def hello(text: str = "Hello, Claude", **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": HAIKU, "max_tokens": 60, "messages": [{"role": "user", "content": text}]}
    body.update(params)
    return body


class Proxy:
    """A mockserver with a cassette installed (recording, replaying or both), started."""

    def __init__(self, path: Path, *, server: dict[str, Any] | None = None, **options: Any) -> None:
        self.server = MockServer(**(server or {}))  # server: MockServer's options (log_requests=True, …)
        self.installed: Installed = self.server.api.put_cassette(CassetteOptions([path], **options))
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


class AppThread:
    """A plain aiohttp app on a free loopback port in a thread of its own: an upstream with
    behaviour no fake API has (a stream that waits for its client, say)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.url = ""
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="upstream", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(self.app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    def __enter__(self) -> "AppThread":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

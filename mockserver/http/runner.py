"""Start a server: in the foreground for the CLI, or in a background thread for tests.

The thread owns its own event loop, so sync SDK clients (blocking in the test's thread) and
async clients (on any other loop) can both talk to it over a real socket.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import Any, Callable

from aiohttp import web

from mockserver.config import Config
from mockserver.http import fast_path
from mockserver.http import malformed as http_errors
from mockserver.http.edge import STATE, create_app
from mockserver.pipeline.root import ServerState


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Bind and start; returns the runner and the base URL (the real port when ``port`` is 0)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    http_errors.install(runner.server, app[STATE])  # malformed HTTP gets Anthropic-shaped JSON too
    fast_path.install(runner.server, app)  # the API's fixed paths skip the router
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
    bound = sockets[0].getsockname()[1] if sockets else port
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}"
    app[STATE].base_url = url
    return runner, url


async def serve_until_signalled(app: web.Application, host: str, port: int, announce: Callable[[str], None]) -> None:
    """The foreground server of the CLI: bind, ``announce(url)``, serve until SIGINT or SIGTERM,
    then shut down cleanly (the app's cleanup hooks run before this returns)."""
    runner, url = await start_site(app, host, port)
    announce(url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


class ServerThread:
    """A server on a free loopback port in a daemon thread: ``with ServerThread() as s: s.url``."""

    def __init__(self, config: Config | None = None, *, app: web.Application | None = None) -> None:
        config = config or Config(port=0, log_requests=False)
        self.app = app or create_app(config)
        self.config = self.app[STATE].config
        self.url = ""
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mockserver", daemon=True)

    @property
    def state(self) -> ServerState:
        return self.app[STATE]

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self._runner, self.url = self.loop.run_until_complete(start_site(self.app, self.config.host, self.config.port))
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._runner.cleanup())
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def start(self) -> "ServerThread":
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError(f"mockserver failed to start: {self._error}") from self._error
        return self

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (state changes stay on one thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

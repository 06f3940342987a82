"""Start a server: in the foreground for the CLI, or in a background thread for tests.

The edge is aiohttp's low-level server (``web.Server`` with ``web.ServerRunner``): no
Application, no router. The thread owns its own event loop, so sync SDK clients (blocking in
the test's thread) and async clients (on any other loop) can both talk to it over a real socket.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import threading
from typing import Any, Callable, Coroutine, TypeVar

from aiohttp import web

from mockserver.config import Config
from mockserver.http.edge import Edge
from mockserver.http.server import BACKLOG, ApiServer
from mockserver.root import Api

T = TypeVar("T")


class ListenError(OSError):
    """The address cannot be bound (the port is taken, say)."""


def listen_advice(config: Config, exc: OSError) -> str:
    """The one line a command prints (after ``mockserver: ``) when it cannot listen."""
    return (f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}; is another server using it? "
            "Pick another port: --port N (make run PORT=N), or 0 for any free one")


MAX_FIELD_SIZE = 65536  # header lines up to 64 KiB (long anthropic-beta lists, big cookies)


async def start_site(api: Api, host: str, port: int, *, reuse_port: bool = False) -> tuple[web.ServerRunner, str]:
    """Start the API's services, bind and serve; returns the runner and the base URL (the real
    port when ``port`` is 0). ``reuse_port``: share the port with other processes (SO_REUSEPORT:
    the kernel spreads connections over the workers of ``mockserver serve --workers N``)."""
    await api.start()
    try:
        server = ApiServer(api, Edge(api), api.config.connections, max_field_size=MAX_FIELD_SIZE)
        runner = web.ServerRunner(server, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=BACKLOG, reuse_address=True, reuse_port=reuse_port or None)
        server.install_loop_handler()
        try:
            await site.start()
        except OSError as exc:
            server.remove_loop_handler()
            await runner.cleanup()
            raise ListenError(exc.errno, exc.strerror or str(exc)) from None
        except BaseException:
            server.remove_loop_handler()
            await runner.cleanup()
            raise
    except BaseException:
        await api.stop()
        raise
    addresses = runner.addresses
    bound = addresses[0][1] if addresses else port
    shown = f"[{host}]" if ":" in host else host
    api.base_url = f"http://{shown}:{bound}"
    return runner, api.base_url


async def stop_site(api: Api, runner: web.ServerRunner) -> None:
    if isinstance(runner.server, ApiServer):
        runner.server.remove_loop_handler()
    await runner.cleanup()
    await api.stop()


async def serve_until_signalled(
    api: Api, host: str, port: int, announce: Callable[[str], None], *, reuse_port: bool = False
) -> None:
    """The foreground server of the CLI: bind, ``announce(url)``, serve until SIGINT or SIGTERM,
    then shut down cleanly (the API's services stop before this returns)."""
    runner, url = await start_site(api, host, port, reuse_port=reuse_port)
    # What start-up built (modules, schemas, the catalog) lives as long as this process: out of
    # the collector's sight, so its full collections stop walking it again and again (they cost
    # about 5% of every call, more the fewer modules start-up happened to import).
    gc.freeze()
    # The handlers go in before the URL is announced: whoever reads it may signal at once, and a
    # process started with SIGINT ignored (a background job of a script, a pytest-xdist worker's
    # child) would drop a SIGINT that came before them.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    announce(url)
    try:
        await stop.wait()
    finally:
        await stop_site(api, runner)


class ServerThread:
    """A server on a free loopback port in a daemon thread: ``with ServerThread() as s: s.url``.
    With ``listen=False`` its services run on the thread's loop without a socket (for an
    in-process transport)."""

    def __init__(self, config: Config | None = None, *, api: Api | None = None, listen: bool = True) -> None:
        self.api = api or Api(config or Config(port=0, log_requests=False))
        self.listen = listen
        self.config = self.api.config
        self.url = ""
        self.loop = asyncio.new_event_loop()
        self._runner: web.ServerRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mockserver", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            if self.listen:
                self._runner, self.url = self.loop.run_until_complete(start_site(self.api, self.config.host, self.config.port))
            else:
                self.loop.run_until_complete(self.api.start())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        if self._runner is not None:
            self.loop.run_until_complete(stop_site(self.api, self._runner))
        else:
            self.loop.run_until_complete(self.api.stop())
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> "ServerThread":
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError(f"mockserver failed to start: {self._error}") from self._error
        return self

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
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

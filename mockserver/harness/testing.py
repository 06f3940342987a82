"""The handle tests hold: a running server's URL, its journal, and (as scenarios land) the
Python API to script it. Used by the pytest plugin; usable on its own:

    with MockServer() as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="test")
"""

from __future__ import annotations

from typing import Any

from mockserver.config import Config
from mockserver.harness.scripting import ScenarioScripting
from mockserver.http.runner import ServerThread
from mockserver.journal import Journal
from mockserver.root import Api
from mockserver.store.sqlite import MEMORY

DEFAULT_TEST_KEY = "sk-ant-mock-test-key"


class MockServer(ScenarioScripting):
    """A server in a background thread; scripting methods (``reply``, ``error``, ``sequence``,
    ``fault``, ``stream``, ``add_rules``, ``set_rate_limits``) come from :class:`ScenarioScripting`."""

    def __init__(self, config: Config | None = None, **options: Any) -> None:
        if config is None:
            options.setdefault("port", 0)
            options.setdefault("log_requests", False)
            options.setdefault("data_dir", MEMORY)  # batches in memory: a test suite writes no files
            config = Config(**options)
        self._thread = ServerThread(config)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "MockServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> "MockServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests use ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._thread.url

    @property
    def api(self) -> Api:
        """The server's services (rules, journal, limits, batches …) and its chain."""
        return self._thread.api

    @property
    def journal(self) -> Journal:
        """What clients sent and were answered, read from the server each time it is asked."""
        return Journal(lambda: self._run(self.api.journal.read()), lambda: self._run(self.api.journal.clear()))

    def reset(self) -> None:
        """Forget what earlier tests did: the journal, scripted rules (file rules start over),
        the prompt cache, rate-limit buckets and batches."""
        self._run(self.api.reset())

    def client(self, **kwargs: Any) -> Any:
        import anthropic

        kwargs.setdefault("api_key", DEFAULT_TEST_KEY)
        kwargs.setdefault("_strict_response_validation", True)
        return anthropic.Anthropic(base_url=self.url, **kwargs)

    def async_client(self, **kwargs: Any) -> Any:
        import anthropic

        kwargs.setdefault("api_key", DEFAULT_TEST_KEY)
        kwargs.setdefault("_strict_response_validation", True)
        return anthropic.AsyncAnthropic(base_url=self.url, **kwargs)

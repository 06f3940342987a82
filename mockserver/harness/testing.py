"""The handle tests hold: a running server's URL, its journal, and (as scenarios land) the
Python API to script it. Used by the pytest plugin; usable on its own:

    with MockServer() as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="test")

Namespaces keep tests that share a server (or a store: ``MockServer(state="redis://…")``) apart:
``server.namespaced("run-1")`` is a handle on the same server whose clients send
``x-mock-namespace: run-1`` and whose rules, journal, limits and reset are that namespace's.
"""

from __future__ import annotations

import copy
from typing import Any

from mockserver.config import Config
from mockserver.harness.scripting import ScenarioScripting
from mockserver.http.runner import ServerThread
from mockserver.journal import Journal
from mockserver.pipeline.parse import NAMESPACE_HEADER, check_namespace
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

    # -- namespaces --------------------------------------------------------------------------------
    def namespaced(self, namespace: str) -> "MockServer":
        """A handle on this server acting in ``namespace``: its clients send the header, its
        rules, journal, rate limits and reset are that namespace's."""
        view = copy.copy(self)
        view._namespace = check_namespace(namespace, "namespace")
        return view

    @property
    def namespace(self) -> str:
        """The namespace this handle acts in (the server's default unless ``namespaced``)."""
        return self._namespace if self._namespace is not None else self.api.default_namespace

    @property
    def headers(self) -> dict[str, str]:
        """Headers a client of your own sends to act in this handle's namespace."""
        return {NAMESPACE_HEADER: self.namespace}

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
        """What clients sent and were answered (in this namespace), read from the server each
        time it is asked."""
        return Journal(lambda: self._run(self.api.journal.read(self.namespace)), lambda: self._run(self.api.journal.clear(self.namespace)))

    def reset(self) -> None:
        """Forget what earlier tests did in this namespace: the journal, scripted rules (file
        rules start over), rate limits, the prompt cache, rate-limit buckets and batches."""
        self._run(self.api.reset(self.namespace))

    def _client_options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs.setdefault("api_key", DEFAULT_TEST_KEY)
        kwargs.setdefault("_strict_response_validation", True)
        if self._namespace is not None:
            kwargs["default_headers"] = {**self.headers, **(kwargs.get("default_headers") or {})}
        return kwargs

    def client(self, **kwargs: Any) -> Any:
        import anthropic

        return anthropic.Anthropic(base_url=self.url, **self._client_options(kwargs))

    def async_client(self, **kwargs: Any) -> Any:
        import anthropic

        return anthropic.AsyncAnthropic(base_url=self.url, **self._client_options(kwargs))

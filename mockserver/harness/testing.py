"""The handle tests hold: a running server's URL, its journal, and the Python API to script it.
Used by the pytest plugin; usable on its own:

    with MockServer() as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="test")

The server needs no SDK; ``client()`` and the other client helpers use whichever ``anthropic``
release the project has installed (0.40 and later), imported when first asked for.

Namespaces keep tests that share a server (or a store: ``MockServer(state="redis://…")``) apart:
``server.namespaced("run-1")`` is a handle on the same server whose clients send
``x-mock-namespace: run-1`` and whose rules, journal, limits and reset are that namespace's.
"""

from __future__ import annotations

import copy
from typing import Any

from mockserver.config import Config
from mockserver.harness.scripting import ScenarioScripting
from mockserver.harness.transport import Transport
from mockserver.http.runner import ServerThread
from mockserver.journal import Journal
from mockserver.pipeline.parse import NAMESPACE_HEADER, check_namespace
from mockserver.root import Api

DEFAULT_TEST_KEY = "sk-ant-mock-test-key"
NO_SDK = (
    "the anthropic SDK is not installed: `pip install anthropic` (any release from 0.40 on) for "
    "MockServer's clients and the anthropic_client fixtures; the server itself needs no SDK"
)


def sdk() -> Any:
    """The project's ``anthropic`` module, or an ImportError that says what to install."""
    try:
        import anthropic
    except ImportError as exc:
        raise ImportError(NO_SDK, name="anthropic") from exc
    return anthropic


BEDROCK_TEST_CREDENTIALS = {"aws_access_key": "AKIAMOCKSERVERTEST", "aws_secret_key": "mock-secret", "aws_region": "us-east-1"}


class MockServer(ScenarioScripting):
    """A server in a background thread; scripting methods (``reply``, ``error``, ``sequence``,
    ``fault``, ``stream``, ``add_rules``, ``set_rate_limits``) come from :class:`ScenarioScripting`."""

    def __init__(self, config: Config | None = None, *, listen: bool = True, **options: Any) -> None:
        """``listen=False``: no socket; reach it through :meth:`transport` only."""
        if config is None:  # a free port, batches in memory (Config's defaults), no request log
            options.setdefault("log_requests", False)
            config = Config(**options)
        self._thread = ServerThread(config, listen=listen)

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

    def transport(self) -> Transport:
        """An httpx/httpx2 transport into this server, without a socket (sync and async clients:
        ``http_client=httpx2.Client(transport=server.transport())``). Same journal, same rules."""
        return Transport(self.api, self._thread.loop)

    def reset(self) -> None:
        """Forget what earlier tests did in this namespace: the journal, scripted rules (file
        rules start over), rate limits, the prompt cache, rate-limit buckets, batches and files."""
        self._run(self.api.reset(self.namespace))

    def _client_options(self, kwargs: dict[str, Any], *, api_key: bool = True) -> dict[str, Any]:
        if api_key:
            kwargs.setdefault("api_key", DEFAULT_TEST_KEY)
        kwargs.setdefault("_strict_response_validation", True)
        if self._namespace is not None:
            kwargs["default_headers"] = {**self.headers, **(kwargs.get("default_headers") or {})}
        return kwargs

    def client(self, **kwargs: Any) -> Any:
        return sdk().Anthropic(base_url=self.url, **self._client_options(kwargs))

    def async_client(self, **kwargs: Any) -> Any:
        return sdk().AsyncAnthropic(base_url=self.url, **self._client_options(kwargs))

    # -- the platform clients (docs/protocol.md "Platforms"), with credentials that go nowhere --
    def bedrock_client(self, *, async_: bool = False, **kwargs: Any) -> Any:
        """``AnthropicBedrock`` (or the async one) at this server, signing with dummy AWS keys
        (needs ``anthropic[bedrock]``, i.e. boto3, for SigV4 and the EventStream decoder)."""
        anthropic = sdk()
        for key, value in BEDROCK_TEST_CREDENTIALS.items():
            kwargs.setdefault(key, value)
        kwargs = self._client_options(kwargs, api_key=False)
        cls = anthropic.AsyncAnthropicBedrock if async_ else anthropic.AnthropicBedrock
        return cls(base_url=self.url, **kwargs)

    def vertex_client(self, *, async_: bool = False, **kwargs: Any) -> Any:
        """``AnthropicVertex`` (or the async one) at this server with a given access token, so
        no Google credentials are looked up (``base_url`` ends in ``/v1`` as the real hosts do)."""
        anthropic = sdk()
        kwargs.setdefault("region", "us-east5")
        kwargs.setdefault("project_id", "mock-project")
        kwargs.setdefault("access_token", "mock-vertex-access-token")
        kwargs = self._client_options(kwargs, api_key=False)
        cls = anthropic.AsyncAnthropicVertex if async_ else anthropic.AnthropicVertex
        return cls(base_url=self.url + "/v1", **kwargs)


def transport(config: Config | None = None, **options: Any) -> Transport:
    """A fake API without a socket, as an httpx/httpx2 transport; it runs until the process ends
    (use ``MockServer(listen=False)`` as a context manager to stop it, and to script it)."""
    return MockServer(config, listen=False, **options).start().transport()

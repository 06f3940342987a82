"""The Python API to script a running server, mixed into :class:`mockserver.harness.testing.MockServer`.

    def test_retries(mockserver, anthropic_client):
        mockserver.sequence([error(529, retry_after_ms=10), error(529, retry_after_ms=10), reply("ok")])
        ...
        mockserver.journal.assert_called(3)

Each method writes the scenario file format's mapping (see :mod:`.build`) and adds it through
the same loader as files and the admin API, on the server's event loop (the server runs in a
background thread), in this handle's namespace, and returns the :class:`Rule`, whose ``hits`` a
test can read.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Iterable, Mapping, TypeVar

from mockserver.scenarios import build
from mockserver.scenarios.format import Rule, read_file

if TYPE_CHECKING:
    from mockserver.http.runner import ServerThread
    from mockserver.root import Api

T = TypeVar("T")


class ScenarioScripting:
    _thread: "ServerThread"
    _namespace: str | None = None  # None: the server's default namespace

    @property
    def api(self) -> "Api":  # pragma: no cover - MockServer defines it
        raise NotImplementedError

    def _on_loop(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the server's loop thread (directly if the server is not running yet)."""
        async def run() -> T:
            return fn(*args, **kwargs)

        return self._run(run())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop thread (in a loop of its own if the server is
        not running yet)."""
        if not self._thread.running:
            return asyncio.run(coro)
        return self._thread.call(coro)

    # -- rules -----------------------------------------------------------------------------------
    def add_rules(self, document: Any) -> list[Rule]:
        """Add rules written as in a scenario file: a mapping, a list, or YAML text."""
        return self._run(self.api.add_rules(document, namespace=self._namespace, source="<python>", label="python"))

    def load_scenario(self, path: str | Path) -> list[Rule]:
        """Add the rules of a scenario file (checked now; not watched for changes)."""
        text = read_file(path)
        return self._run(self.api.add_rules(text, namespace=self._namespace, source=str(path), label=Path(path).name, first_index=0))

    def _add_one(self, action: Mapping[str, Any], options: dict[str, Any]) -> Rule:
        return self.add_rules(build.rule(action, **options))[0]

    def reply(
        self,
        text: str | None = None,
        *,
        match: Mapping[str, Any] | None = None,
        name: str | None = None,
        priority: int | None = None,
        times: int | None = None,
        faults: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Rule:
        """Answer matching calls with a Message: ``reply("Hi")``, ``reply(content=[…], usage={…})``."""
        return self._add_one(build.reply(text, **fields), dict(match=match, name=name, priority=priority, times=times, faults=faults))

    def error(
        self,
        status: int | None = None,
        *,
        match: Mapping[str, Any] | None = None,
        name: str | None = None,
        priority: int | None = None,
        times: int | None = None,
        faults: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Rule:
        """Answer matching calls with an API error: ``error(529)``, ``error(429, retry_after=1)``."""
        return self._add_one(build.error(status, **fields), dict(match=match, name=name, priority=priority, times=times, faults=faults))

    def sequence(
        self,
        steps: Iterable[Any],
        *,
        then: str | None = None,
        match: Mapping[str, Any] | None = None,
        name: str | None = None,
        priority: int | None = None,
        times: int | None = None,
        faults: Mapping[str, Any] | None = None,
    ) -> Rule:
        """One step per matching call: builders (``error(529)``, ``reply("ok")``), an int (an error
        status) or a str (a reply's text). ``then``: ``repeat_last`` (default), ``fallthrough``, ``cycle``."""
        return self._add_one({"sequence": list(steps)}, dict(match=match, name=name, priority=priority, times=times, then=then, faults=faults))

    def fault(
        self,
        *,
        match: Mapping[str, Any] | None = None,
        name: str | None = None,
        priority: int | None = None,
        times: int | None = None,
        **faults: Any,
    ) -> Rule:
        """Deliver the ordinary answer with faults: ``fault(latency=0.2)``, ``fault(reset=True)``,
        ``fault(drop={"after_events": 3})``, ``fault(stream_error=2)``, ``fault(random_error=0.5)``."""
        return self._add_one(build.fault(**faults), dict(match=match, name=name, priority=priority, times=times))

    def stream(
        self,
        events: Iterable[Any],
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        match: Mapping[str, Any] | None = None,
        name: str | None = None,
        priority: int | None = None,
        times: int | None = None,
        faults: Mapping[str, Any] | None = None,
    ) -> Rule:
        """Answer with raw SSE events, exactly as given (broken ones too)."""
        action = build.stream(events, status=status, headers=headers)
        return self._add_one(action, dict(match=match, name=name, priority=priority, times=times, faults=faults))

    def json_body(
        self,
        body: Any,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        match: Mapping[str, Any] | None = None,
        name: str | None = None,
        priority: int | None = None,
        times: int | None = None,
        faults: Mapping[str, Any] | None = None,
    ) -> Rule:
        """Answer with any JSON body (``match={"endpoint": "models.list"}`` for other endpoints)."""
        action = build.json_body(body, status=status, headers=headers)
        return self._add_one(action, dict(match=match, name=name, priority=priority, times=times, faults=faults))

    @property
    def rules(self) -> list[Rule]:
        """The rules in evaluation order."""
        return list(self._run(self.api.rules_for(self._namespace)))

    def remove_rule(self, name: str) -> bool:
        return self._run(self.api.remove_rule(name, namespace=self._namespace))

    # -- rate limits -------------------------------------------------------------------------------
    def set_rate_limits(self, limits: Mapping[str, Any] | None = None, **per_minute: Any) -> None:
        """Turn rate-limit emulation on (``set_rate_limits(requests_per_minute=5)``, or a mapping
        as in a scenario file's ``rate_limits``), or off with ``set_rate_limits(None)``."""
        from mockserver.ratelimit.limiter import RateLimitConfig

        config = None if limits is None and not per_minute else RateLimitConfig.parse({**(limits or {}), **per_minute})
        self._run(self.api.set_rate_limits(config, namespace=self._namespace))

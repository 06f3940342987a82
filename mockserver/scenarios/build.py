"""Python builders for scenario steps: they write the same mappings a YAML file holds.

    from mockserver.scenarios import error, reply
    server.sequence([error(529, retry_after_ms=10), error(529), reply("Recovered.")])

Because the builders only produce the file format's mappings, and every rule is parsed by the
same loader, a rule means the same thing whether it came from a file, the admin API or Python;
the loader's limits hold for all three (docs/scenarios.md#limits): a ``retry_after`` or
``latency`` over 600 s, ``float("inf")`` or ``nan`` anywhere, a header value with a line break,
a ``priority`` past a billion … raise :class:`~mockserver.scenarios.ScenarioError` when the rule
is added, not when it is served.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from mockserver.pipeline.exchange import SseEvent


def _clean(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if v is not None}


def _copy(mapping: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A copy of a mapping option; ``None`` (left out) when it is empty or not given."""
    return dict(mapping) if mapping else None


def _step(kind: str, spec: dict[str, Any], faults: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{kind: spec}`` without the options left as ``None``, and with a copy of ``faults`` if any."""
    step: dict[str, Any] = {kind: _clean(spec)}
    if faults:
        step["faults"] = dict(faults)
    return step


def reply(
    text: str | None = None,
    *,
    content: list[Any] | None = None,
    stop_reason: str | None = None,
    stop_sequence: str | None = None,
    stop_details: Mapping[str, Any] | None = None,
    usage: Mapping[str, Any] | None = None,
    model: str | None = None,
    container: Mapping[str, Any] | None = None,
    faults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Message: ``reply("Hi")`` or ``reply(content=[{"tool_use": {"name": "f", "input": {}}}])``."""
    return _step(
        "reply",
        {
            "text": text,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "stop_details": _copy(stop_details),
            "usage": _copy(usage),
            "model": model,
            "container": _copy(container),
        },
        faults,
    )


def error(
    status: int | None = None,
    *,
    type: str | None = None,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
    retry_after: float | None = None,
    retry_after_ms: float | None = None,
    should_retry: bool | None = None,
    details: Mapping[str, Any] | None = None,
    faults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An API error: ``error(529)``, ``error(429, retry_after=1)``, ``error(type="overloaded_error")``."""
    return _step(
        "error",
        {
            "status": status,
            "type": type,
            "message": message,
            "headers": _copy(headers),
            "retry_after": retry_after,
            "retry_after_ms": retry_after_ms,
            "should_retry": should_retry,
            "details": _copy(details),
        },
        faults,
    )


def stream(
    events: Iterable[Any],
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    faults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Raw SSE: each event a ``{"event", "data", "delay"}`` mapping, an ``(event, data)`` pair or
    an :class:`~mockserver.pipeline.exchange.SseEvent`."""
    return _step("stream", {"events": [_event(e) for e in events], "status": status, "headers": _copy(headers)}, faults)


def _event(event: Any) -> dict[str, Any]:
    if isinstance(event, SseEvent):
        out = {"event": event.event, "data": event.data}
        if event.delay:
            out["delay"] = event.delay
        return out
    if isinstance(event, tuple):
        return {"event": event[0], "data": event[1]}
    return dict(event)


def json_body(
    body: Any, *, status: int | None = None, headers: Mapping[str, str] | None = None, faults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Any JSON body and status."""
    return _step("json", {"body": body, "status": status, "headers": _copy(headers)}, faults)


def fault(**faults: Any) -> dict[str, Any]:
    """The ordinary answer (from the responders after the scenarios), delivered with faults:
    ``fault(latency=0.5)``, ``fault(drop={"after_events": 3})``, ``fault(stream_error=2)``."""
    return {"fault": faults}


def sequence(steps: Iterable[Any]) -> dict[str, Any]:
    """Steps taken one per matching call (builders, an int for an error status, a str for a
    reply's text); give it to :func:`rule` with ``then=`` to say what follows the last one."""
    return {"sequence": list(steps)}


def passthrough() -> dict[str, Any]:
    """Let the ordinary answer through unchanged (useful as a step of a sequence)."""
    return {"passthrough": True}


def rule(
    action: Mapping[str, Any],
    *,
    match: Mapping[str, Any] | None = None,
    name: str | None = None,
    priority: int | None = None,
    times: int | None = None,
    then: str | None = None,
    faults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A whole rule: one action mapping (from the builders above) plus its ``match`` and options."""
    spec: dict[str, Any] = _clean({"name": name, "priority": priority, "times": times, "then": then})
    if match:
        spec["match"] = dict(match)
    action = dict(action)
    step_faults = action.pop("faults", None)
    merged = {**(step_faults or {}), **(faults or {})}
    if merged:
        spec["faults"] = merged
    spec.update(action)
    return spec

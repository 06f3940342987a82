"""The scenario file format (docs/scenarios.md): YAML in, :class:`Rule` objects out.

A document is a list of rules, or a mapping with ``rules`` and optional ``rate_limits``. Every
mistake is a :class:`ScenarioError` naming the file, the rule (index and name) and the field,
raised while loading, never while serving. Files, the admin API and the Python API all go
through :func:`parse_document`, which is what makes their semantics the same.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mockserver.pipeline.exchange import SseEvent
from mockserver.faults.spec import FAULT_FIELDS, FIELDS_OF_KEY, MALFORMED_KINDS, Faults
from mockserver.protocol.errors import STATUS_BY_ERROR_TYPE, error_type_for_status
from mockserver.protocol.platforms import platform_error_status
from mockserver.ratelimit.limiter import RateLimitConfig
from mockserver.scenarios.actions import MESSAGE_ENDPOINTS, THEN, Action, ErrorAction, JsonAction, PassAction, ReplyAction, Sequence, StreamAction
from mockserver.scenarios.blocks import instantiate, output_usage, parse_blocks, validate_message
from mockserver.scenarios.errors import ScenarioError, where
from mockserver.scenarios.matchers import Match, parse_match
from mockserver.documents import Node, Where, Yaml11Scalar, by_item, check_document, load_yaml_text
from mockserver.scenarios.matchers import MAX_COUNT

ACTIONS = ("reply", "sequence", "error", "stream", "json", "fault", "passthrough")
RULE_FIELDS = ("name", "priority", "times", "match", "faults", "then", *ACTIONS)
DOCUMENT_FIELDS = ("rules", "rate_limits")
REPLY_FIELDS = ("text", "content", "stop_reason", "stop_sequence", "stop_details", "container", "model", "usage")
USAGE_FIELDS = (
    "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation",
    "output_tokens_details", "server_tool_use", "service_tier", "inference_geo", "speed",
)
ERROR_FIELDS = ("status", "type", "message", "headers", "retry_after", "retry_after_ms", "should_retry", "details")

# Limits on what a rule may ask of the server (docs/scenarios.md#limits): past them a rule is
# refused at load, naming the field, instead of hanging or breaking requests later.
MAX_DELAY = 600.0
"""Seconds: latency, ttft, an event's delay, slow_body's interval, retry_after."""
MAX_PRIORITY = 1_000_000_000
"""priority runs from -MAX_PRIORITY to MAX_PRIORITY."""
MAX_CHUNK = 16 * 1024 * 1024
"""slow_body's chunk_bytes."""
MIN_TOKENS_PER_SECOND = 1.0
"""A nonzero tokens_per_second below this would hold one reply for hours."""
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(eq=False)
class Rule:
    """One ``match`` -> action pair. What it counts between requests (matches, answers, the
    sequence step) lives in the store under ``key`` (given by the book, the same in every
    process that loads the same files); ``hits`` and ``seen`` mirror what this process has
    seen of them, for tests and the admin API."""

    name: str
    match: Match
    action: Action | Sequence
    faults: Faults | None = None
    priority: int = 0
    times: int | None = None
    source: str = "<python>"
    spec: Any = None
    hits: int = 0
    """Requests this rule answered."""
    seen: int = 0
    """Requests that passed its ``match`` (what ``nth`` counts)."""
    key: str = ""

    def reset(self) -> None:
        self.hits = 0
        self.seen = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "priority": self.priority,
            "hits": self.hits,
            "seen": self.seen,
            "spec": self.spec,
        }

    def __repr__(self) -> str:
        return f"<Rule {self.name!r} hits={self.hits}>"


@dataclass
class Document:
    rules: list[Rule]
    rate_limits: RateLimitConfig | None = None
    rate_limits_given: bool = False


# -- entry points --------------------------------------------------------------------------------
def load_file(path: str | Path) -> Document:
    path = Path(path)
    return parse_text(read_file(path), source=str(path), label=path.name)


def read_file(path: str | Path) -> str:
    """A scenario file's text; a :class:`ScenarioError` naming it when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 text: {exc}", source=str(path)) from None


def parse_text(text: str, *, source: str, label: str | None = None, first_index: int = 0) -> Document:
    yaml11: dict[tuple[Any, ...], Yaml11Scalar] = {}
    try:
        data = load_yaml_text(text, allow_aliases=True, yaml11=yaml11)  # a user's own file may use aliases
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"invalid YAML{position}: {problem}", source=source) from None
    return parse_document(data, source=source, label=label, first_index=first_index, yaml11=yaml11)


def parse_document(
    data: Any, *, source: str, label: str | None = None, first_index: int = 0, yaml11: dict[tuple[Any, ...], Yaml11Scalar] | None = None
) -> Document:
    """Rules from a list of rules, a single rule, or ``{rules: […], rate_limits: {…}}``.
    ``yaml11``: the YAML-1.1-only plain scalars :func:`load_yaml_text` found in ``data``, by
    their keys, refused where text is compared or sent (:func:`_refuse_yaml11`)."""
    label = label or source
    check_document(
        data, source=source, locate=lambda keys: _locate(data, keys), error=ScenarioError,
        binary=lambda keys: _raw_event_data(_locate(data, keys)[1]),
    )
    root = Node(data, "", where(source))
    if data is None:
        return Document([])
    rate_limits: RateLimitConfig | None = None
    given = False
    if isinstance(data, dict) and "rules" not in data and "rate_limits" not in data:
        rule_nodes = [Node(data, "", where(source))]  # a single rule
        rule_paths = ["rules[0]"]
    elif isinstance(data, dict):
        fields = root.mapping(DOCUMENT_FIELDS)
        rule_nodes = list(fields["rules"].items()) if "rules" in fields and fields["rules"].value is not None else []
        rule_paths = [f"rules[{i}]" for i in range(len(rule_nodes))]
        if "rate_limits" in fields:
            given = True
            if fields["rate_limits"].value is not None:
                rate_limits = RateLimitConfig.read(fields["rate_limits"])
    elif isinstance(data, list):
        rule_nodes = list(root.items())
        rule_paths = [f"rules[{i}]" for i in range(len(rule_nodes))]
    else:
        raise root.error("a scenario is a list of rules, or a mapping with 'rules' (and 'rate_limits')")
    def rule_of(keys: list[Any]) -> tuple[Any, list[Any]]:
        index, _, rest = _rule_at(data, keys)
        return index, rest

    in_rules = by_item(yaml11, rule_of)
    rules: list[Rule] = []
    names: set[str] = set()
    for offset, (node, path) in enumerate(zip(rule_nodes, rule_paths)):
        place = where(source, path)
        place.yaml11 = in_rules.get(offset)
        rule = parse_rule(Node(node.value, "", place), index=first_index + offset, label=label)
        if rule.name in names:
            raise ScenarioError(f"duplicate rule name {rule.name!r}", source=source, rule=place.context, field="name")
        names.add(rule.name)
        rules.append(rule)
    return Document(rules, rate_limits, given)


def _rule_at(data: Any, keys: list[Any]) -> tuple[Any, Any, list[Any]]:
    """The rule the value at ``keys`` in a document belongs to: its index (None: no rule's), the
    rule itself, and the keys inside it."""
    if isinstance(data, list) and keys:
        return keys[0], data[keys[0]], keys[1:]
    if isinstance(data, dict) and ("rules" in data or "rate_limits" in data):
        rules = data.get("rules")
        if len(keys) < 2 or keys[0] != "rules" or not isinstance(rules, list):
            return None, None, keys
        return keys[1], rules[keys[1]], keys[2:]
    if isinstance(data, dict):
        return 0, data, keys
    return None, None, keys


def _locate(data: Any, keys: list[Any]) -> tuple[str | None, list[Any]]:
    """The rule (``rules[2] ("name")``) that the value at ``keys`` in a document belongs to, and
    its place in that rule: how :func:`check_document` names a problem as parse errors do."""
    index, spec, rest = _rule_at(data, keys)
    if index is None:
        return None, keys
    name = spec.get("name") if isinstance(spec, dict) else None
    return f"rules[{index}]" + (f' ("{name}")' if isinstance(name, str) else ""), rest


def _raw_event_data(keys: list[Any]) -> bool:
    """Whether a rule's ``keys`` lead to a raw stream event's ``data`` (``stream[0].data``, in a
    sequence step too): the one place bytes (``!!binary``) go out as they are; anywhere else
    they could not be written as JSON when the rule answers."""
    if keys[:1] == ["sequence"]:
        keys = keys[3:] if keys[1:2] == ["steps"] else keys[2:]
    if keys[:1] != ["stream"]:
        return False
    keys = keys[2:] if keys[1:2] == ["events"] else keys[1:]
    return len(keys) == 2 and isinstance(keys[0], int) and keys[1] == "data"


def parse_rule(node: Node, *, index: int, label: str) -> Rule:
    if isinstance(node.value, dict) and isinstance(node.value.get("name"), str):
        node.where.context = f'{node.where.context} ("{node.value["name"]}")'
    fields = node.mapping(RULE_FIELDS)
    name = fields["name"].string(nonempty=True) if "name" in fields else f"{label}[{index}]"
    actions = [key for key in ACTIONS if key in fields]
    if len(actions) != 1:
        found = f" (found {', '.join(actions)})" if actions else ""
        raise node.error(f"a rule needs exactly one action: {', '.join(ACTIONS)}{found}")
    match = parse_match(fields.get("match"))
    kind = actions[0]
    if "then" in fields and kind != "sequence":
        raise fields["then"].error("'then' only applies to a sequence")
    action: Action | Sequence
    if kind == "sequence":
        action = parse_sequence(fields["sequence"], fields.get("then"))
        steps = action.steps
    else:
        action = parse_action(kind, fields[kind])
        steps = [action]
    if any(isinstance(step, ReplyAction) for step in steps):
        endpoints = match.endpoints
        if endpoints is None or not endpoints <= MESSAGE_ENDPOINTS:
            at = fields["match"].child("endpoint") if "match" in fields else node
            raise at.error("a reply answers messages.create or messages.count_tokens only; use 'json' for other endpoints")
    rule = Rule(
        name=name,
        match=match,
        action=action,
        faults=parse_faults(fields["faults"]) if "faults" in fields else None,
        priority=fields["priority"].integer(minimum=-MAX_PRIORITY, maximum=MAX_PRIORITY) if "priority" in fields else 0,
        times=fields["times"].integer(minimum=1, maximum=MAX_COUNT) if "times" in fields else None,
        source=node.where.source,
        spec=copy.deepcopy(node.value),
    )
    _refuse_yaml11(node.where)
    return rule


def _refuse_yaml11(place: Where) -> None:
    """A plain scalar only YAML 1.1 types (``yes``, ``0777``, ``10:00:00``) is refused wherever
    text could have been meant: a match's values refuse it as they are read (matchers.py), and
    so, here, does what the rule sends (a reply's text or tool input, a JSON body, a header, an
    event), which would not be what was written (``answer: yes`` sent as ``true``). Fields that
    take only a boolean or a number (``stream: yes``, ``times: 1_000``) read it as YAML 1.1 does."""
    if place.yaml11:
        typed = place.typed or set()
        for path, scalar in place.yaml11.items():
            if path not in typed:
                raise Node(scalar.value, path, place).error(scalar.problem)


# -- actions -------------------------------------------------------------------------------------
def parse_sequence(node: Node, then: Node | None) -> Sequence:
    if isinstance(node.value, dict):
        fields = node.mapping({"steps", "then"}, required=("steps",))
        if "then" in fields:
            if then is not None:
                raise then.error("give 'then' once")
            then = fields["then"]
        node = fields["steps"]
    steps = [parse_step(item) for item in node.items()]
    if not steps:
        raise node.error("a sequence needs at least one step")
    return Sequence(steps, then.choice(THEN) if then is not None else "repeat_last")


def parse_step(node: Node) -> Action:
    """One step: ``{error: …}``, ``{reply: …}`` … with optional ``faults``; an integer is an error
    status and a string a reply's text."""
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool):
        return parse_action("error", node)
    if isinstance(value, str):
        return parse_action("reply", node)
    fields = node.mapping({*ACTIONS, "faults"} - {"sequence"})
    actions = [key for key in ACTIONS if key in fields]
    if len(actions) != 1:
        raise node.error(f"a step needs exactly one of: {', '.join(a for a in ACTIONS if a != 'sequence')}")
    action = parse_action(actions[0], fields[actions[0]])
    if "faults" in fields:
        action.faults = parse_faults(fields["faults"]).merged(action.faults)  # merged(None) returns them unchanged
    return action


def parse_action(kind: str, node: Node) -> Action:
    if kind == "reply":
        return parse_reply(node)
    if kind == "error":
        return parse_error(node)
    if kind == "stream":
        return parse_stream(node)
    if kind == "json":
        return parse_json(node)
    if kind == "fault":
        return PassAction(faults=parse_faults(node) if node.value is not None else None)
    if kind == "passthrough":
        if node.value not in (True, None, {}):
            raise node.error("passthrough takes no options (write 'passthrough: true'; put faults in 'faults')")
        return PassAction()
    raise node.error(f"unknown action {kind!r}")  # pragma: no cover


def parse_reply(node: Node) -> ReplyAction:
    if isinstance(node.value, str):
        action = ReplyAction(content=[{"type": "text", "text": node.value}])
    else:
        fields = node.mapping(REPLY_FIELDS)
        if "text" in fields and "content" in fields:
            raise node.error("give 'text' or 'content', not both")
        if "content" in fields:
            content = parse_blocks(fields["content"])
        elif "text" in fields:
            content = [{"type": "text", "text": fields["text"].string()}]
        else:
            content = []
        usage: dict[str, Any] = {}
        if "usage" in fields:
            for key, child in fields["usage"].mapping(USAGE_FIELDS).items():
                usage[key] = copy.deepcopy(child.value)
        action = ReplyAction(
            content=content,
            stop_reason=fields["stop_reason"].string() if "stop_reason" in fields else None,
            stop_sequence=fields["stop_sequence"].value if "stop_sequence" in fields else None,
            stop_details=copy.deepcopy(fields["stop_details"].value) if "stop_details" in fields else None,
            container=copy.deepcopy(fields["container"].value) if "container" in fields else None,
            model=fields["model"].string(nonempty=True) if "model" in fields else None,
            usage=usage,
        )
    _check_reply(node, action)
    return action


def _check_reply(node: Node, action: ReplyAction) -> None:
    """Build the reply once with placeholder ids and let the SDK's types judge it."""
    content = instantiate(action.content, None, None)
    output, thinking, server = output_usage(content)
    usage: dict[str, Any] = {"input_tokens": 1, "output_tokens": output}
    if server is not None:
        usage["server_tool_use"] = server
    container = action.container
    if isinstance(container, dict) and not {"id", "expires_at"} <= set(container):  # filled in per reply
        container = {"id": "container_011C" + "A" * 20, "expires_at": "2026-01-01T00:00:00+00:00", **container}
    message = action.build(content, action.model or "claude-mock", usage, "msg_011C" + "A" * 20, container=container)
    validate_message(node, message)


def parse_error(node: Node) -> ErrorAction:
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool):
        fields: dict[str, Node] = {}
        status = node.integer(minimum=400, maximum=599)
        error_type = None
    elif isinstance(value, str):
        fields = {}
        error_type = value
        known = _status_of(error_type)
        if known is None:
            raise node.error(f"unknown error type {error_type!r} (give a mapping with 'status' for a custom one)")
        status = known
    else:
        fields = node.mapping(ERROR_FIELDS)
        if "status" not in fields and "type" not in fields:
            raise node.error("give 'status' or 'type'")
        error_type = fields["type"].string(nonempty=True) if "type" in fields else None
        if "status" in fields:
            status = fields["status"].integer(minimum=400, maximum=599)
        elif error_type is not None and (known := _status_of(error_type)) is not None:
            status = known
        else:
            raise fields["type"].error(f"unknown error type {error_type!r}: give 'status' too")
    headers = _headers(fields["headers"]) if "headers" in fields else {}
    if "retry_after" in fields:
        headers["retry-after"] = _header_number(fields["retry_after"], MAX_DELAY)
    if "retry_after_ms" in fields:
        headers["retry-after-ms"] = _header_number(fields["retry_after_ms"], MAX_DELAY * 1000)
    if "should_retry" in fields:
        headers["x-should-retry"] = "true" if fields["should_retry"].boolean() else "false"
    details = None
    if "details" in fields and fields["details"].value is not None:
        fields["details"].mapping()
        details = copy.deepcopy(fields["details"].value)
    return ErrorAction(
        status=status,
        type=error_type or error_type_for_status(status),
        message=fields["message"].string() if "message" in fields else None,
        headers=headers,
        details=details,
    )


def _status_of(error_type: str) -> int | None:
    """The status an error type stands for: the API's (``rate_limit_error`` 429) or a platform's
    own name (Bedrock's ``ThrottlingException``, Google's ``RESOURCE_EXHAUSTED``: 429 both)."""
    status = STATUS_BY_ERROR_TYPE.get(error_type)
    return status if status is not None else platform_error_status(error_type)


def _header_number(node: Node, maximum: float) -> str:
    value = node.number(minimum=0, maximum=maximum)
    return str(int(value)) if value == int(value) else str(value)


def _headers(node: Node) -> dict[str, str]:
    out = {}
    for name, child in node.mapping().items():
        if not _HEADER_NAME.fullmatch(name):
            raise child.error("a header name is letters, digits and !#$%&'*+.^_`|~- only (no spaces, colons or line breaks)")
        if (found := child.yaml11()) is not None:  # sent as text: 0777 would go as 511
            raise child.error(found.problem)
        if isinstance(child.value, bool):
            out[name] = "true" if child.value else "false"
        elif isinstance(child.value, (int, float)):
            out[name] = str(child.number() if isinstance(child.value, float) else child.value)
        elif isinstance(child.value, str):
            if _HEADER_VALUE_BAD.search(child.value):
                raise child.error("a header value must not hold line breaks or other control characters (a tab is fine)")
            out[name] = child.value
        else:
            raise child.error("a header value must be a string or a number")
    return out


def parse_stream(node: Node) -> StreamAction:
    if isinstance(node.value, list):
        return StreamAction(events=[_event(item) for item in node.items()])
    fields = node.mapping({"events", "status", "headers"}, required=("events",))
    return StreamAction(
        events=[_event(item) for item in fields["events"].items()],
        status=fields["status"].integer(minimum=200, maximum=599) if "status" in fields else 200,
        headers=_headers(fields["headers"]) if "headers" in fields else {},
    )


def _event(node: Node) -> SseEvent:
    """``{event, data, delay}``. Without ``event``, a mapping's ``type`` names it; ``event: null``
    leaves the ``event:`` line out. ``data`` as text or bytes (``!!binary``) goes out verbatim."""
    fields = node.mapping({"event", "data", "delay"}, required=("data",))
    data = fields["data"].value
    if "event" in fields:
        name = fields["event"].value
        if name is not None and not isinstance(name, str):
            raise fields["event"].error("must be a string, or null for no event line")
    else:
        name = data.get("type") if isinstance(data, dict) and isinstance(data.get("type"), str) else None
    if not isinstance(data, (dict, list, str, bytes, int, float, bool)) and data is not None:
        raise fields["data"].error("must be JSON (a mapping, list, …), text, or !!binary bytes")
    delay = fields["delay"].number(minimum=0, maximum=MAX_DELAY) if "delay" in fields else 0.0
    return SseEvent(name, copy.deepcopy(data), delay)


def parse_json(node: Node) -> JsonAction:
    fields = node.mapping({"body", "status", "headers"}, required=("body",))
    return JsonAction(
        body=copy.deepcopy(fields["body"].value),
        status=fields["status"].integer(minimum=200, maximum=599) if "status" in fields else 200,
        headers=_headers(fields["headers"]) if "headers" in fields else {},
    )


# -- faults --------------------------------------------------------------------------------------
def parse_faults(node: Node) -> Faults:
    fields = node.mapping(FAULT_FIELDS)
    faults = Faults()
    if "latency" in fields:
        faults.latency = fields["latency"].number(minimum=0, maximum=MAX_DELAY)
    if "ttft" in fields:
        faults.ttft = fields["ttft"].number(minimum=0, maximum=MAX_DELAY)
    if "tokens_per_second" in fields:
        tps = fields["tokens_per_second"]
        faults.tokens_per_second = tps.number(minimum=0)
        if 0 < faults.tokens_per_second < MIN_TOKENS_PER_SECOND:
            raise tps.error(f"must be 0 (no pacing) or at least {MIN_TOKENS_PER_SECOND:g}, not {tps.value}")
    if "reset" in fields:
        faults.reset = fields["reset"].boolean()
    if "drop" in fields:
        drop = fields["drop"]
        if isinstance(drop.value, int) and not isinstance(drop.value, bool):
            faults.drop_after_events = drop.integer(minimum=0, maximum=MAX_COUNT)
        else:
            spec = drop.mapping({"after_events", "after_bytes"})
            if len(spec) != 1:
                raise drop.error("give exactly one of after_events, after_bytes")
            if "after_events" in spec:
                faults.drop_after_events = spec["after_events"].integer(minimum=0, maximum=MAX_COUNT)
            else:
                faults.drop_after_bytes = spec["after_bytes"].integer(minimum=0, maximum=MAX_COUNT)
    if "malformed" in fields:
        bad = fields["malformed"]
        if isinstance(bad.value, str):
            faults.malformed = bad.choice(MALFORMED_KINDS)
        else:
            spec = bad.mapping({"kind", "at"}, required=("kind",))
            faults.malformed = spec["kind"].choice(MALFORMED_KINDS)
            if "at" in spec:
                faults.malformed_at = spec["at"].integer(minimum=0, maximum=MAX_COUNT)
    if "stream_error" in fields:
        err = fields["stream_error"]
        if isinstance(err.value, int) and not isinstance(err.value, bool):
            faults.stream_error_after = err.integer(minimum=0, maximum=MAX_COUNT)
        else:
            spec = err.mapping({"after", "type", "message"}, required=("after",))
            faults.stream_error_after = spec["after"].integer(minimum=0, maximum=MAX_COUNT)
            if "type" in spec:
                faults.stream_error_type = spec["type"].string(nonempty=True)
            if "message" in spec:
                faults.stream_error_message = spec["message"].string()
    if "slow_body" in fields:
        spec = fields["slow_body"].mapping({"chunk_bytes", "interval"}, required=("interval",))
        faults.slow_body_chunk = spec["chunk_bytes"].integer(minimum=1, maximum=MAX_CHUNK) if "chunk_bytes" in spec else 16
        faults.slow_body_interval = spec["interval"].number(minimum=0, maximum=MAX_DELAY)
    if "random_error" in fields:
        rnd = fields["random_error"]
        if isinstance(rnd.value, (int, float)) and not isinstance(rnd.value, bool):
            faults.error_probability = rnd.number(minimum=0, maximum=1)
        else:
            spec = rnd.mapping({"probability", "status", "type", "message", "headers"}, required=("probability",))
            faults.error_probability = spec["probability"].number(minimum=0, maximum=1)
            if "status" in spec:
                faults.error_status = spec["status"].integer(minimum=400, maximum=599)
            if "type" in spec:
                faults.error_type = spec["type"].string(nonempty=True)
                if "status" not in spec:  # the type's status, as error: <type> has; a custom type keeps 529
                    faults.error_status = _status_of(faults.error_type) or faults.error_status
            elif "status" in spec:
                faults.error_type = error_type_for_status(faults.error_status)
            if "message" in spec:
                faults.error_message = spec["message"].string()
            if "headers" in spec:
                faults.error_headers = _headers(spec["headers"])
    faults.given = frozenset(name for key in fields for name in FIELDS_OF_KEY[key])
    return faults


__all__ = ["Document", "Rule", "ScenarioError", "load_file", "parse_document", "parse_text", "parse_faults"]

"""The ``match`` half of a rule: a list of small predicates over one request.

Facts that cost something to extract (the last user turn's text, the tool names offered, the
canonical model id) are computed at most once per request, by :class:`RequestView`, and only
when some rule asks for them. Rules read requests through attributes (``endpoint``, ``body``,
``headers``, ``stream``, ``model``, ``beta`` and, for batch items, ``custom_id``), so derived
requests with more attributes match the same way.
"""

from __future__ import annotations

import fnmatch
from functools import partial
import re
from dataclasses import dataclass, field
from datetime import date, time
from typing import TYPE_CHECKING, Any, Callable

import re2

from mockserver.protocol.endpoints import ENDPOINT_NAMES
from mockserver.documents import MISSING, Node

MAX_COUNT = 1_000_000_000
"""A rule's counts (times, nth, the events and bytes of drop, malformed and stream_error) stop here."""

if TYPE_CHECKING:
    from mockserver.pipeline.exchange import ApiRequest
    from mockserver.protocol.catalog import ModelCatalog

MATCH_FIELDS = (
    "endpoint", "model", "stream", "beta", "text", "regex", "system", "tools", "tool_result",
    "headers", "body", "nth", "custom_id",
)
DEFAULT_ENDPOINTS = frozenset({"messages.create"})
ENDPOINT_ALIASES = {"messages": "messages.create", "count_tokens": "messages.count_tokens"}
_PATH_TOKEN = re.compile(r"\[(-?\d+)\]|\.?([^.\[\]]+)")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is reported as a ScenarioError, not logged by RE2 too


class RequestView:
    """One request as rules see it, with lazily computed facts."""

    __slots__ = ("api", "catalog", "_last_user", "_user_text", "_system", "_tools", "_models")

    def __init__(self, api: "ApiRequest", catalog: "ModelCatalog") -> None:
        self.api = api
        self.catalog = catalog
        self._last_user: Any = MISSING
        self._user_text: str | None = None
        self._system: str | None = None
        self._tools: frozenset[str] | None = None
        self._models: tuple[str, ...] | None = None

    @property
    def body(self) -> dict[str, Any]:
        body = self.api.body
        return body if isinstance(body, dict) else {}

    def last_user_content(self) -> list[Any]:
        """The blocks of the last user turn (a string content counts as one text block)."""
        if self._last_user is MISSING:
            found: list[Any] = []
            messages = self.body.get("messages")
            if isinstance(messages, list):
                for message in reversed(messages):
                    if isinstance(message, dict) and message.get("role") == "user":
                        content = message.get("content")
                        found = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
                        break
            self._last_user = found
        last: list[Any] = self._last_user
        return last

    def last_user_text(self) -> str:
        if self._user_text is None:
            self._user_text = "\n".join(
                b["text"] for b in self.last_user_content() if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
            )
        return self._user_text

    def system_text(self) -> str:
        if self._system is None:
            system = self.body.get("system")
            if isinstance(system, str):
                self._system = system
            elif isinstance(system, list):
                self._system = "\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
            else:
                self._system = ""
        return self._system

    def tool_names(self) -> frozenset[str]:
        if self._tools is None:
            tools = self.body.get("tools")
            self._tools = frozenset(
                t["name"] for t in tools or () if isinstance(t, dict) and isinstance(t.get("name"), str)
            ) if isinstance(tools, list) else frozenset()
        return self._tools

    def has_tool_result(self) -> bool:
        return any(isinstance(b, dict) and b.get("type") == "tool_result" for b in self.last_user_content())

    def model_ids(self) -> tuple[str, ...]:
        """The requested model id and, when the catalog knows it, its canonical (dated) id."""
        if self._models is None:
            model = self.api.model
            if model is None:
                self._models = ()
            else:
                entry = self.catalog.resolve(model)
                self._models = (model, entry.id) if entry is not None and entry.id != model else (model,)
        return self._models


# -- text conditions ---------------------------------------------------------------------------
class Regex:
    """A rule's regular expression, run by RE2: time linear in the text whatever the pattern, so
    ``^(a+)+$`` cannot stall the server (Python's ``re`` backtracks). RE2 has no backreferences
    or lookaround; such a pattern is refused when the rule is loaded.

    It is searched as a one-pattern ``re2.Set``, which says whether it matches in one call: the
    compiled pattern's ``search`` works out where (in a Python generator), at twice the cost."""

    __slots__ = ("source", "_set")

    def __init__(self, source: str) -> None:
        self.source = source
        re2.compile(source, _RE2_OPTIONS)  # raises re2.error, with RE2's reason, for a pattern it cannot run
        self._set = re2.Set.SearchSet(_RE2_OPTIONS)
        self._set.Add(source)
        self._set.Compile()

    def search(self, text: str) -> bool:
        try:
            return bool(self._set.Match(text))
        except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800"): RE2 reads UTF-8
            return bool(self._set.Match(text.encode("utf-8", "replace").decode("utf-8")))


@dataclass(frozen=True)
class TextCondition:
    """``contains`` / ``equals`` / ``regex`` over a string, or ``present`` (true/false)."""

    kind: str
    value: Any
    pattern: Regex | None = field(default=None, compare=False)

    def test(self, text: str | None) -> bool:
        if self.kind == "present":
            return (text is not None) is bool(self.value)
        if text is None:
            return False
        if self.kind == "contains":
            return bool(self.value in text)
        if self.kind == "equals":
            return bool(text == self.value)
        assert self.pattern is not None
        return self.pattern.search(text)


def text_condition(node: Node, default: str) -> TextCondition:
    """A plain string means ``default`` (``contains`` for prompt text, ``equals`` for headers);
    a mapping picks one of ``contains``, ``equals``, ``regex``, ``present``; null means absent."""
    if node.value is None:
        return TextCondition("present", False)
    _refuse_date(node)
    _refuse_yaml11(node)
    if isinstance(node.value, (str, int, float)) and not isinstance(node.value, bool):
        value = str(node.value)
        return _regex(node, value) if default == "regex" else TextCondition(default, value)
    fields = node.mapping({"contains", "equals", "regex", "present"})
    if len(fields) != 1:
        raise node.error("give exactly one of contains, equals, regex, present")
    kind, child = next(iter(fields.items()))
    if kind == "present":
        return TextCondition("present", child.boolean())
    _refuse_date(child)
    value = child.string()  # a YAML 1.1 scalar is no string: refused naming the text as written
    return _regex(child, value) if kind == "regex" else TextCondition(kind, value)


def _regex(node: Node, value: str) -> TextCondition:
    try:
        return TextCondition("regex", value, Regex(value))
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise node.error(
            f"invalid regular expression: {reason} (regexes run on RE2, which has no backreferences or lookaround)"
        ) from None
    except UnicodeEncodeError:
        raise node.error("invalid regular expression: it holds a lone surrogate") from None


def _refuse_date(node: Node) -> None:
    """A match compares with what the request sent, which is text: an unquoted ``2026-01-01``
    is YAML's date and would never equal it (nor could ``2026-01-01 10:00:00`` be compared as
    typed: it writes back as ``2026-01-01T10:00:00``), so it is refused, not left never to match.
    (A reply's tool input takes a date as its text: protocol/tokens.py ``json_default``.)"""
    if isinstance(node.value, (date, time)):
        raise node.error(f"an unquoted date ({node.value}) is a YAML date, which never equals the request's text: quote it, as the request spells it")


def _refuse_yaml11(node: Node) -> None:
    """Likewise a plain scalar only YAML 1.1 types: ``10:00:00`` is 36000 to it, ``yes`` true,
    ``0777`` 511, where the request has the text (documents.py :class:`Yaml11Scalar`)."""
    found = node.yaml11()
    if found is not None:
        raise node.error(found.problem)


def _json_value(node: Node) -> Any:
    """A ``body`` match's value: JSON, as the request's body is, or the rule could never fire."""
    value = node.value
    if isinstance(value, dict):
        for key in value:
            _json_value(node.child(key))
    elif isinstance(value, list):
        for item in node.items():
            _json_value(item)
    elif isinstance(value, (bool, int, float)):
        _refuse_yaml11(node)
    elif not (value is None or isinstance(value, str)):
        _refuse_date(node)
        hint = ": write a list" if isinstance(value, tuple) else ""
        raise node.error(f"a {type(value).__name__} is not JSON, so it never equals the request's body{hint}")
    return value


# -- body paths --------------------------------------------------------------------------------
def parse_path(node: Node, path: str) -> tuple[str | int, ...]:
    """``$.metadata.user_id``, ``messages[0].role``, ``messages.-1.content`` -> keys and indexes."""
    text = path[1:] if path.startswith("$") else path
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        found = _PATH_TOKEN.match(text, pos)
        if found is None or found.end() == pos:
            raise node.error(f"invalid JSON path {path!r}")
        index, key = found.groups()
        if index is not None:
            parts.append(int(index))
        elif re.fullmatch(r"-?\d+", key):
            parts.append(int(key))
        else:
            parts.append(key)
        pos = found.end()
    if not parts:
        raise node.error(f"invalid JSON path {path!r}")
    return tuple(parts)


def resolve_path(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if isinstance(part, int) and isinstance(value, list):
            if not -len(value) <= part < len(value):
                return MISSING
            value = value[part]
        elif isinstance(value, dict):
            key = str(part)
            if key not in value:
                return MISSING
            value = value[key]
        else:
            return MISSING
    return value


# -- the match ---------------------------------------------------------------------------------
Check = Callable[[RequestView], bool]


@dataclass
class Match:
    endpoints: frozenset[str] | None = DEFAULT_ENDPOINTS
    """Endpoint names this rule answers (``None``: every endpoint)."""
    checks: list[Check] = field(default_factory=list)
    nth: frozenset[int] | None = None
    """Answer only the n-th requests (1-based) that pass every other check."""

    def accepts(self, view: RequestView) -> bool:
        endpoints = self.endpoints
        # A platform's door counts as the first-party endpoint it stands for: a rule for
        # messages.create (the default) answers Bedrock and Vertex calls too; one naming
        # bedrock.invoke answers only those.
        if endpoints is not None and view.api.endpoint not in endpoints and view.api.kind not in endpoints:
            return False
        for check in self.checks:
            if not check(view):
                return False
        return True


def parse_match(node: Node | None) -> Match:
    if node is None or node.value is None:
        return Match()
    fields = node.mapping(MATCH_FIELDS)
    match = Match()
    checks = match.checks
    if "endpoint" in fields:
        match.endpoints = _endpoints(fields["endpoint"])
    if "model" in fields:
        patterns = fields["model"].list_of_strings()
        globs = tuple(p for p in patterns if any(c in p for c in "*?["))
        checks.append(partial(_model_matches, exact=tuple(p for p in patterns if p not in globs), globs=globs))
    if "stream" in fields:
        checks.append(partial(_is_stream, want=fields["stream"].boolean()))
    if "beta" in fields:
        checks.append(partial(_is_beta, want=fields["beta"].boolean()))
    if "text" in fields:
        checks.append(partial(_user_text, condition=text_condition(fields["text"], "contains")))
    if "regex" in fields:
        checks.append(partial(_user_text, condition=text_condition(fields["regex"], "regex")))
    if "system" in fields:
        checks.append(partial(_system_text, condition=text_condition(fields["system"], "contains")))
    if "tools" in fields:
        checks.append(_tools_check(fields["tools"]))
    if "tool_result" in fields:
        checks.append(partial(_has_tool_result, want=fields["tool_result"].boolean()))
    if "headers" in fields:
        for name, child in fields["headers"].mapping().items():
            checks.append(partial(_header, name=name, condition=text_condition(child, "equals")))
    if "body" in fields:
        for path, child in fields["body"].mapping().items():
            checks.append(partial(_body_at, path=parse_path(child, path), want=_json_value(child)))
    if "custom_id" in fields:
        checks.append(partial(_custom_id, condition=text_condition(fields["custom_id"], "equals")))
    if "nth" in fields:
        match.nth = _nth(fields["nth"])
    return match


def _is_stream(view: RequestView, *, want: bool) -> bool:
    return view.api.stream is want


def _is_beta(view: RequestView, *, want: bool) -> bool:
    return bool(view.api.beta) is want


def _user_text(view: RequestView, *, condition: TextCondition) -> bool:
    return condition.test(view.last_user_text())


def _system_text(view: RequestView, *, condition: TextCondition) -> bool:
    return condition.test(view.system_text())


def _has_tool_result(view: RequestView, *, want: bool) -> bool:
    return view.has_tool_result() is want


def _header(view: RequestView, *, name: str, condition: TextCondition) -> bool:
    return condition.test(view.api.headers.get(name))


def _body_at(view: RequestView, *, path: Any, want: Any) -> bool:
    return _equal(resolve_path(view.api.body, path), want)


def _custom_id(view: RequestView, *, condition: TextCondition) -> bool:
    return condition.test(view.api.custom_id)


def _endpoints(node: Node) -> frozenset[str] | None:
    names = node.list_of_strings()
    if "*" in names or "any" in names:
        return None
    known = ENDPOINT_NAMES
    out: set[str] = set()
    for name in names:
        name = ENDPOINT_ALIASES.get(name, name)
        found = [e for e in known if fnmatch.fnmatchcase(e, name)]
        if not found:
            raise node.error(f"unknown endpoint {name!r} (known: {', '.join(known)}, or '*')")
        out.update(found)
    return frozenset(out)


def _model_matches(view: RequestView, *, exact: tuple[str, ...], globs: tuple[str, ...]) -> bool:
    """Whether the requested model is one of ``exact`` (an id or an alias of the same model) or
    fits one of the ``globs`` (split apart when the rule loads: this runs on every request)."""
    ids = view.model_ids()
    if not ids:
        return False
    catalog = view.catalog
    for pattern in exact:
        if pattern in ids:
            return True
        entry = catalog.resolve(pattern)
        if entry is not None and entry.id in ids:
            return True
    return any(fnmatch.fnmatchcase(i, pattern) for pattern in globs for i in ids)


def _tools_check(node: Node) -> Check:
    if isinstance(node.value, bool):
        want = node.boolean()
        return lambda v: bool(v.tool_names()) is want
    names = frozenset(node.list_of_strings())
    return lambda v: names <= v.tool_names()


def _nth(node: Node) -> frozenset[int]:
    if isinstance(node.value, list):
        return frozenset(item.integer(minimum=1, maximum=MAX_COUNT) for item in node.items())
    return frozenset({node.integer(minimum=1, maximum=MAX_COUNT)})


def _equal(found: Any, want: Any) -> bool:
    if found is MISSING:
        return False
    if isinstance(want, bool) or isinstance(found, bool):
        return type(found) is type(want) and found == want
    return bool(found == want)

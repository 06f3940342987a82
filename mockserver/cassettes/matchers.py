"""Which recorded interaction answers a request, and, when none does, which came closest and why.

By default a request matches on method, path, query and its body as canonical JSON (keys sorted,
no whitespace), so spacing and key order never matter. Configurable as vcrpy users expect:
``on`` picks the criteria (``method``, ``path``, ``query``, ``body``, ``header:<name>``),
``ignore`` drops body fields before comparing (``metadata.user_id``, ``messages.*.content``),
``fields`` compares only the named body fields, and ``custom`` adds any Python predicate.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import orjson

from mockserver.cassettes.model import Interaction, RecordedRequest, header
from mockserver.protocol.numbers import decimal
from mockserver.cassettes.redact import DEFAULT_REDACTED_HEADERS, REDACTED, known_in, mask

DEFAULT_MATCH_ON = ("method", "path", "query", "body")
KNOWN_CRITERIA = ("method", "path", "query", "body")
_MISSING = object()

CustomMatcher = Callable[[RecordedRequest, RecordedRequest], bool]


def _split(path: str) -> list[str]:
    return [p for p in path.replace("[", ".").replace("]", "").split(".") if p]


def _remove(value: Any, parts: Sequence[str]) -> Any:
    """A copy of ``value`` without the field at ``parts`` (``*`` matches every key or item)."""
    if not parts:
        return _MISSING
    head, rest = parts[0], parts[1:]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if head in ("*", key):
                kept = _remove(item, rest)
                if kept is not _MISSING:
                    out[key] = kept
            else:
                out[key] = item
        return out
    if isinstance(value, list):
        out_list = []
        for i, item in enumerate(value):
            if head in ("*", str(i)):
                kept = _remove(item, rest)
                if kept is not _MISSING:
                    out_list.append(kept)
            else:
                out_list.append(item)
        return out_list
    return value


def _select(value: Any, parts: Sequence[str]) -> Any:
    for part in parts:
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and (index := decimal(part)) is not None and index < len(value):
            value = value[index]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def load_custom(spec: str) -> CustomMatcher:
    """``package.module:function`` → the function (for ``--matcher``)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"matcher {spec!r}: expected module:function")
    function: CustomMatcher = getattr(importlib.import_module(module_name), attr)
    if not callable(function):
        raise ValueError(f"matcher {spec!r} is not callable")
    return function


@dataclass(frozen=True)
class Matcher:
    on: tuple[str, ...] = DEFAULT_MATCH_ON
    ignore: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    custom: CustomMatcher | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for criterion in self.on:
            if criterion not in KNOWN_CRITERIA and not criterion.startswith("header:"):
                raise ValueError(f"unknown match criterion {criterion!r}; use {', '.join(KNOWN_CRITERIA)} or header:<name>")

    # -- keys -------------------------------------------------------------------------------
    def body_value(self, request: RecordedRequest) -> Any:
        """The body as compared: JSON (an upload: its form, the file by its SHA-256, filename and
        type, never the boundary) minus ignored fields (or only the chosen ones), else bytes."""
        value = request.upload()
        if value is None:
            value = request.json
        if value is None:
            return request.body
        if self.fields:
            value = {f: v for f in self.fields if (v := _select(value, _split(f))) is not _MISSING}
        for path in self.ignore:
            value = _remove(value, _split(path))
        return value

    def key(self, request: RecordedRequest) -> tuple[Any, ...]:
        parts: list[Any] = []
        for criterion in self.on:
            if criterion == "method":
                parts.append(request.method.upper())
            elif criterion == "path":
                parts.append(request.path)
            elif criterion == "query":
                parts.append(tuple(sorted(request.query)))
            elif criterion == "body":
                value = self.body_value(request)
                parts.append(value if isinstance(value, bytes) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
            else:
                parts.append(header(request.headers, criterion.split(":", 1)[1]))
        return tuple(parts)

    def matches(self, request: RecordedRequest, recorded: RecordedRequest) -> bool:
        if self.key(recorded) != self.key(request):
            return False
        return self.custom is None or bool(self.custom(request, recorded))

    # -- explaining a miss --------------------------------------------------------------------
    def differences(self, request: RecordedRequest, recorded: RecordedRequest, limit: int = 4) -> list[str]:
        """What differs, recorded first then sent, in the criteria this matcher uses. Values are
        quoted with every secret masked whole (keys, bearer tokens, the credentials either
        request carries), never a prefix of one."""
        known = known_in([request, recorded])
        out: list[str] = []
        for criterion in self.on:
            if criterion == "method" and request.method.upper() != recorded.method.upper():
                out.append(f"method: recorded {recorded.method}, sent {request.method}")
            elif criterion == "path" and request.path != recorded.path:
                out.append(f"path: recorded {recorded.path}, sent {request.path}")
            elif criterion == "query" and sorted(request.query) != sorted(recorded.query):
                out.append(f"query: recorded {_short(dict(recorded.query), known=known)}, sent {_short(dict(request.query), known=known)}")
            elif criterion == "body":
                sent, kept = self.body_value(request), self.body_value(recorded)
                if isinstance(sent, bytes) or isinstance(kept, bytes):
                    if sent != kept:
                        out.append("body: differs (not JSON)")
                else:
                    out.extend(json_differences(kept, sent, limit=limit, known=known))
            elif criterion.startswith("header:"):
                name = criterion.split(":", 1)[1]
                a, b = header(recorded.headers, name), header(request.headers, name)
                if a != b:
                    if name.lower() in DEFAULT_REDACTED_HEADERS:  # a credential: not even its shape
                        a, b = (None if v is None else REDACTED for v in (a, b))
                    out.append(f"header {name}: recorded {_short(a, known=known)}, sent {_short(b, known=known)}")
        if not out and self.custom is not None and not self.custom(request, recorded):
            out.append(f"custom matcher {getattr(self.custom, '__name__', 'custom')} said no")
        return out[:limit] + ([f"… and {len(out) - limit} more"] if len(out) > limit else [])


def _short(value: Any, width: int = 60, known: Iterable[str] = ()) -> str:
    """A value quoted in a message: secrets masked first (so the cut cannot leave a prefix of
    one), then cut to ``width``."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    text = mask(text, known)
    return text if len(text) <= width else text[: width - 1] + "…"


WINDOW = 24  # characters shown on each side of where two strings start to differ


def _window(text: str, at: int) -> str:
    """``text`` around position ``at``, with … where it is cut, quoted as JSON."""
    start, end = max(0, at - WINDOW), at + 2 * WINDOW
    quoted = orjson.dumps(text[start:end]).decode()
    return ("…" if start else "") + quoted + ("…" if end < len(text) else "")


def _strings_differ(recorded: str, sent: str, known: Iterable[str]) -> str:
    """Where two strings start to differ, and both around that point (secrets masked first)."""
    a, b = mask(recorded, known), mask(sent, known)
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"from character {at}: recorded {_window(a, at)}, sent {_window(b, at)}"


def json_differences(recorded: Any, sent: Any, path: str = "", limit: int = 4, known: Iterable[str] = ()) -> list[str]:
    """Paths (``messages.0.content``) where two JSON values differ, with both values (two strings
    shown around where they start to differ), shortest first."""
    out: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if len(out) > limit:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in list(a) + [k for k in b if k not in a]:
                sub = f"{where}.{key}" if where else str(key)
                if key not in b:
                    out.append(f"body {mask(sub, known)}: recorded {_short(a[key], known=known)}, not sent")
                elif key not in a:
                    out.append(f"body {mask(sub, known)}: not recorded, sent {_short(b[key], known=known)}")
                else:
                    walk(a[key], b[key], sub)
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{where}.{i}" if where else str(i))
        elif isinstance(a, str) and isinstance(b, str) and a != b:
            out.append(f"body {mask(where, known) or '(whole)'} differs {_strings_differ(a, b, known)}")
        elif a != b or type(a) is not type(b):
            out.append(f"body {mask(where, known) or '(whole)'}: recorded {_short(a, known=known)}, sent {_short(b, known=known)}")

    walk(recorded, sent, path)
    return out


def closeness(matcher: Matcher, request: RecordedRequest, recorded: RecordedRequest) -> tuple[int, int, int, int]:
    """Lower is closer: the method and path count most, then the model, then the longest common
    start of the conversation (a multi-turn request is closest to the recording of the same
    turns), then how many body fields differ."""
    heavy = (request.method.upper() != recorded.method.upper()) * 4 + (request.path != recorded.path) * 2
    heavy += sorted(request.query) != sorted(recorded.query)
    sent, kept = request.json, recorded.json
    sent_body = sent if isinstance(sent, dict) else {}
    kept_body = kept if isinstance(kept, dict) else {}
    other_model = sent_body.get("model") != kept_body.get("model")
    return heavy, other_model, -_common_turns(sent_body.get("messages"), kept_body.get("messages")), len(
        matcher.differences(request, recorded, limit=50)
    )


def _common_turns(sent: Any, kept: Any) -> int:
    """How many messages two conversations share from their start."""
    if not isinstance(sent, list) or not isinstance(kept, list):
        return 0
    shared = 0
    for a, b in zip(sent, kept):
        if a != b:
            break
        shared += 1
    return shared


def closest(matcher: Matcher, request: RecordedRequest, interactions: Iterable[tuple[int, Interaction]]) -> tuple[int, Interaction] | None:
    best: tuple[tuple[int, int, int, int], int, Interaction] | None = None
    for index, item in interactions:
        score = closeness(matcher, request, item.request)
        if best is None or score < best[0]:
            best = (score, index, item)
    return None if best is None else (best[1], best[2])

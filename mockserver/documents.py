"""The one reader of configuration documents — scenario files, rules from the admin API or
Python, rate limits, the model catalog: typed reads of a parsed YAML/JSON tree that know where
they are, so every mistake is an error naming the file, the place (a rule, a catalog entry) and
the key, with the reason; and the YAML loader they all go through, which bounds nesting first."""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

import orjson
import yaml

MISSING: Any = object()
MAX_DEPTH = 64
"""Levels of nesting a document may have (a scenario rule's reply content sits about six deep).
Deeper documents are refused before anything recursive (YAML composing, ``copy.deepcopy``,
JSON encoding) can overflow the stack."""
MAX_NODES = 1_000_000
"""Values in one document, counting a value reached through several YAML aliases
once per way in (so a few nested aliases cannot stand for billions of values)."""

try:  # the C parser is several times faster on large files
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class Yaml11Scalar:
    """A plain (unquoted, untagged) scalar that PyYAML, reading YAML 1.1, typed where YAML 1.2,
    JSON and a person read text: ``yes``/``no``/``on``/``off`` (any of their three casings) as
    booleans, ``0777`` as octal 511, ``0b101`` as binary, ``1_000`` as 1000, ``10:00:00`` as
    base 60 (36000), a signed or underscored hexadecimal. ``text`` is the scalar as written,
    ``value`` what it loaded as (as before: only its reporting is new)."""

    text: str
    value: Any

    @property
    def problem(self) -> str:
        """What a field that compares or sends text says about it: what was written, what
        YAML 1.1 made of it, and the two ways out."""
        if isinstance(self.value, bool):
            word = "true" if self.value else "false"
            return f"{self.reading}: quote it for the text, or write {word} for the boolean"
        return f"{self.reading}: quote it for the text, or write {self.value!r} for the number"

    @property
    def text_problem(self) -> str:
        """What a field that takes only text (an id, a name, a date) says about it: what was
        written, what YAML 1.1 made of it, and the way out."""
        return f"{self.reading}: quote it"

    @property
    def reading(self) -> str:
        """What was written and what YAML 1.1 made of it."""
        if isinstance(self.value, bool):
            return f"{self.text}, unquoted, is YAML 1.1's boolean {'true' if self.value else 'false'}, not the text '{self.text}'"
        digits = self.text.lstrip("+-").replace("_", "")
        if ":" in digits:
            kind = "sexagesimal (base 60) "
        elif digits.startswith("0b"):
            kind = "binary "
        elif digits.startswith("0x"):
            kind = "hexadecimal "
        elif digits[:1] == "0" and len(digits) > 1 and isinstance(self.value, int):
            kind = "octal "
        else:
            kind = ""
        kind += "integer" if isinstance(self.value, int) else "number"
        return f"{self.text}, unquoted, is YAML 1.1's {kind} {self.value!r}, not the text '{self.text}'"


# PyYAML's implicit resolvers, each bool, int and float one split in two: the forms YAML 1.2
# reads alike (true/false, decimal, unsigned hexadecimal, floats without ``_`` or ``:``) keep
# their tag and are tried first, as often as before; the rest of PyYAML's own pattern resolves
# to a tag of its own, so a scalar is caught only where PyYAML typed it, and its value is
# PyYAML's. Quoted and tagged scalars are never resolved implicitly, so never caught.
_YAML11_TAG = "tag:mockserver,2026:yaml11-only:"
_YAML12_ALIKE = {
    "tag:yaml.org,2002:int": r"(?=(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$)",
    "tag:yaml.org,2002:float": r"(?![^_:]*[_:])",
}
_YAML11_CONSTRUCT = {
    "tag:yaml.org,2002:bool": yaml.constructor.SafeConstructor.construct_yaml_bool,
    "tag:yaml.org,2002:int": yaml.constructor.SafeConstructor.construct_yaml_int,
    "tag:yaml.org,2002:float": yaml.constructor.SafeConstructor.construct_yaml_float,
}


class _Yaml11Loader(_Loader):  # type: ignore[misc]  # the C loader when PyYAML has one
    """The same safe loader (the same values), noting which scalars were YAML-1.1-only forms."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.yaml11_values: dict[int, Any] = {}  # id(scalar node) -> its value


def _yaml11_resolvers() -> dict[Any, list[tuple[str, Any]]]:
    resolvers: dict[Any, list[tuple[str, Any]]] = {}
    for first, entries in _Loader.yaml_implicit_resolvers.items():
        alike: list[tuple[str, Any]] = []
        only: list[tuple[str, Any]] = []
        for tag, regexp in entries:
            if tag == "tag:yaml.org,2002:bool" and first in {"y", "Y", "n", "N", "o", "O"}:  # yes, no, on, off: none is YAML 1.2's
                only.append((_YAML11_TAG + tag, regexp))
            elif tag in _YAML12_ALIKE:
                alike.append((tag, re.compile(_YAML12_ALIKE[tag] + regexp.pattern, regexp.flags)))
                only.append((_YAML11_TAG + tag, regexp))
            else:
                alike.append((tag, regexp))
        resolvers[first] = alike + only
    return resolvers


def _noting(construct: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def construct_yaml11(loader: Any, node: Any) -> Any:
        value = construct(loader, node)
        loader.yaml11_values[id(node)] = value
        return value

    return construct_yaml11


_Yaml11Loader.yaml_implicit_resolvers = _yaml11_resolvers()
for _tag, _construct in _YAML11_CONSTRUCT.items():
    _Yaml11Loader.add_constructor(_YAML11_TAG + _tag, _noting(_construct))


def _find_yaml11(root: Any, values: dict[int, Any], found: dict[tuple[Any, ...], Yaml11Scalar], max_depth: int) -> None:
    """Every path (keys from the root) that reaches one of the noted scalars, through aliases
    and merge keys (``<<``, already merged into the nodes by construction) too. A later key
    replaces an earlier one, as in the loaded mapping. Bounded as :func:`check_document` is,
    which refuses a document past the bounds anyway."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    visits = 0
    while stack and visits < MAX_NODES:
        node, keys = stack.pop()
        visits += 1
        if isinstance(node, yaml.ScalarNode):
            if id(node) in values:
                found[keys] = Yaml11Scalar(node.value, values[id(node)])
        elif len(keys) > max_depth:
            continue
        elif isinstance(node, yaml.SequenceNode):  # pushed last first: found in document order
            stack.extend((node.value[i], (*keys, i)) for i in range(len(node.value) - 1, -1, -1))
        elif isinstance(node, yaml.MappingNode):
            children = {key.value: child for key, child in node.value
                        if isinstance(key, yaml.ScalarNode) and key.tag == "tag:yaml.org,2002:str"}
            stack.extend((child, (*keys, key)) for key, child in reversed(children.items()))


class DocumentError(ValueError):
    """A mistake in a document: ``fixtures/x.yaml: rules[2] ("flaky"): sequence[1].error.status:
    must be an integer from 400 to 599``: the source, the place in it (``context``: a rule, a
    catalog entry), the key path (``field``) and the problem."""

    def __init__(self, problem: str, *, source: str | None = None, context: str | None = None, field: str | None = None) -> None:
        self.problem = problem
        self.source = source
        self.context = context
        self.field = field
        where = [part for part in (source, context, field) if part]
        super().__init__(f"{': '.join(where)}: {problem}" if where else problem)


class YamlLimitError(yaml.YAMLError):
    """A YAML document refused before it is built: nested too deep, or an alias where none may be.
    A :class:`yaml.YAMLError`, so whoever already reports invalid YAML reports this too."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        self.problem = problem
        self.problem_mark = mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        super().__init__(f"{problem}{where}")


def load_yaml_text(
    text: str | bytes, *, allow_aliases: bool, max_depth: int = MAX_DEPTH, yaml11: dict[tuple[Any, ...], Yaml11Scalar] | None = None
) -> Any:
    """Parse YAML safely, refusing (with :class:`YamlLimitError`) a document nested more than
    ``max_depth`` levels deep, and any alias (``*name``) unless ``allow_aliases``. Given a
    ``yaml11`` mapping, fill it with the plain scalars only YAML 1.1 types (``yes``, ``0777``,
    ``10:00:00`` …: :class:`Yaml11Scalar`) by their keys from the root; the values are as
    PyYAML always loaded them, so a reader decides where such a scalar is a mistake.

    The events are read first, without building anything, so an attacker's ``[[[[…`` fails in
    linear time instead of exhausting the recursion limit (a 500 before). Used for scenario
    files and meant for YAML from the network (the admin API, with ``allow_aliases=False``).
    Other problems raise PyYAML's own :class:`yaml.YAMLError` subclasses."""
    loader = _Loader(text)
    try:
        depth = 0
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > max_depth:
                    raise YamlLimitError(f"nested more than {max_depth} levels deep", event.start_mark)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent) and not allow_aliases:
                raise YamlLimitError("aliases (*name) are not accepted here", event.start_mark)
    finally:
        loader.dispose()
    if yaml11 is None:
        loader = _Loader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    loader = _Yaml11Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
        if loader.yaml11_values:
            _find_yaml11(root, loader.yaml11_values, yaml11, max_depth)
        return data
    finally:
        loader.dispose()


INT_RANGE = (-(2**63), 2**64 - 1)
"""Integers JSON encoding (orjson) can write; a scenario value outside it could never be sent."""


Locate = Callable[[list[Any]], tuple[Optional[str], list[Any]]]
"""Splits the keys leading to a value into the rule they are in (its label) and the rest."""


def check_document(
    data: Any,
    *,
    source: str,
    locate: Locate | None = None,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
    error: type[DocumentError] = DocumentError,
    binary: Callable[[list[Any]], bool] | None = None,
) -> None:
    """Refuse, with ``error`` naming ``source`` and the place, a parsed document
    that could not be served as JSON or would break the server later: nested deeper than
    ``max_depth``, more than ``max_nodes`` values, a mapping key that is not a string, an
    integer JSON cannot carry, an infinite or NaN number, a string with a lone surrogate, a
    value JSON has no form for (YAML's ``!!set``; ``!!binary`` bytes except where ``binary``,
    given the keys leading to them, allows them).

    Iterative (it cannot overflow the stack itself); a self-containing value (a YAML alias inside
    its own anchor) is too deep. JSON from the admin API and values from Python reach the loader
    without :func:`load_yaml_text`, so this runs on every document. ``locate`` names the rule a
    problem is in, as the loader's own errors do."""
    # (value, depth, parent entry, key): the parent chain gives the path, built only on error.
    stack: list[tuple[Any, int, Any, Any]] = [(data, 1, None, None)]
    seen = 0
    while stack:
        entry = stack.pop()
        value, depth = entry[0], entry[1]
        seen += 1
        if seen > max_nodes:
            raise error(f"the document holds more than {max_nodes} values (an alias counts once per use)", source=source)
        problem = None
        if isinstance(value, dict):
            if depth > max_depth:
                problem = f"nested more than {max_depth} levels deep"
            else:
                for key, child in value.items():
                    if not isinstance(key, str):
                        problem = f"mapping keys must be strings, not {_kind(key)} ({key!r}; quote it)"
                        break
                    if not _encodable(key):
                        problem = "a key holds a lone surrogate (like \\ud800), which JSON text cannot carry"
                        break
                    stack.append((child, depth + 1, entry, key))
        elif isinstance(value, (list, tuple)):  # YAML's !!pairs and !!omap are lists of tuples
            if depth > max_depth:
                problem = f"nested more than {max_depth} levels deep"
            else:
                stack.extend((child, depth + 1, entry, i) for i, child in enumerate(value))
        elif isinstance(value, float):
            if not math.isfinite(value):
                problem = f"must be a finite number, not {value}"
        elif isinstance(value, int) and not isinstance(value, bool):
            if not INT_RANGE[0] <= value <= INT_RANGE[1]:
                problem = "an integer this large cannot be sent as JSON (at most 2**64 - 1 in size)"
        elif isinstance(value, str):
            if not _encodable(value):
                problem = "holds a lone surrogate (like \\ud800), which JSON text cannot carry"
        elif isinstance(value, bytes):
            if binary is None or not binary(_keys_of(entry)):
                problem = "bytes (!!binary) cannot be sent as JSON here: write text"
        elif isinstance(value, (set, frozenset)):
            problem = "a set (YAML's !!set) cannot be sent as JSON: write a list"
        elif value is not None and not isinstance(value, bool) and not _writable(value):
            problem = f"a {type(value).__name__} cannot be sent as JSON"
        if problem is not None:
            keys = _keys_of(entry)
            rule, keys = locate(keys) if locate is not None else (None, keys)
            raise error(problem, source=source, context=rule, field=_path(keys) or None)


def _writable(value: Any) -> bool:
    """Whether orjson writes this leaf (YAML's dates do; an object from Python may not)."""
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _keys_of(entry: Any) -> list[Any]:
    keys = []
    while entry is not None and entry[2] is not None:
        keys.append(entry[3])
        entry = entry[2]
    keys.reverse()
    return keys


def node_path(keys: Iterable[Any]) -> str:
    """Keys as a :class:`Node` path: ``match.body.messages[0].content``."""
    path = ""
    for key in keys:
        path = _step(path, key)
    return path


def by_item(
    yaml11: Mapping[tuple[Any, ...], Yaml11Scalar] | None, locate: Callable[[list[Any]], tuple[Any, list[Any]]],
) -> dict[Any, dict[str, Yaml11Scalar]]:
    """A document's YAML-1.1-only scalars (:func:`load_yaml_text`) split by the item each is in (a
    rule, a catalog entry), keyed by its path inside it (``aliases[0]``): ``locate`` gives the item
    the keys are in (``None``: none) and the keys inside it."""
    found: dict[Any, dict[str, Yaml11Scalar]] = {}
    for keys, scalar in (yaml11 or {}).items():
        item, rest = locate(list(keys))
        if item is not None:
            found.setdefault(item, {})[node_path(rest)] = scalar
    return found


def _step(path: str, key: Any) -> str:
    """``path`` one key further, as :meth:`Node.child` and :func:`node_path` both spell it."""
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))


def _path(keys: list[Any]) -> str:
    hidden = 0
    if len(keys) > 12:  # a path 64 levels deep says no more than its first few steps
        hidden, keys = len(keys) - 8, keys[:8]
    path = ""
    for key in keys:
        path = _step(path, key if path or isinstance(key, int) else str(key)[:80])
    return path + (f"…({hidden} more levels)" if hidden else "")


@dataclass
class Where:
    """The file being read, the place in it (a rule, filled in once its name is known; a catalog
    entry), and the kind of error a mistake raises."""

    source: str
    context: str | None = None
    error: type[DocumentError] = DocumentError
    yaml11: dict[str, Yaml11Scalar] | None = None
    """The place's YAML-1.1-only plain scalars (``yes``, ``10:00:00`` …) by path, when read from YAML."""
    typed: set[str] | None = None
    """Paths of those read as what YAML 1.1 made of them: a boolean, an integer, a number."""


class Node:
    """A value and its path inside the place being read (``sequence[1].error.status``)."""

    __slots__ = ("value", "path", "where")

    def __init__(self, value: Any, path: str, where: Where) -> None:
        self.value = value
        self.path = path
        self.where = where

    def error(self, problem: str) -> DocumentError:
        return self.where.error(problem, source=self.where.source, context=self.where.context, field=self.path or None)

    def child(self, key: str | int) -> "Node":
        if isinstance(self.value, dict):
            value = self.value.get(key, MISSING)
        elif isinstance(self.value, list) and isinstance(key, int):
            value = self.value[key]
        else:
            value = MISSING
        return Node(value, _step(self.path, key), self.where)

    # -- shapes ----------------------------------------------------------------------------------
    def mapping(self, allowed: Iterable[str] | None = None, *, required: Iterable[str] = ()) -> dict[str, "Node"]:
        if not isinstance(self.value, dict):
            raise self._not("a mapping")
        allowed_set = set(allowed) if allowed is not None else None
        out: dict[str, Node] = {}
        for key in self.value:
            if not isinstance(key, str):
                raise self.error(f"keys must be strings, not {_kind(key)} ({key!r})")
            if allowed_set is not None and key not in allowed_set:
                close = difflib.get_close_matches(key, sorted(allowed_set), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (expected one of: {', '.join(sorted(allowed_set))})"
                raise self.child(key).error(f"unknown field{hint}")
            out[key] = self.child(key)
        for key in required:
            if key not in out:
                raise self.error(f"{key!r} is required")
        return out

    def items(self) -> Iterator["Node"]:
        if not isinstance(self.value, list):
            raise self._not("a list")
        for i in range(len(self.value)):
            yield self.child(i)

    def list_of_strings(self) -> list[str]:
        """A string or a list of strings, as a list."""
        if isinstance(self.value, str):
            return [self.value]
        return [item.string() for item in self.items()]

    def yaml11(self) -> Yaml11Scalar | None:
        """The scalar here as written, when it is a plain one only YAML 1.1 types (``yes``)."""
        table = self.where.yaml11
        if not table:
            return None
        found = table.get(self.path)
        if found is None or type(found.value) is not type(self.value) or found.value != self.value:
            return None
        return found

    def _typed(self) -> None:
        """A boolean, integer or number field took the value: YAML 1.1's reading is what was meant."""
        if self.where.yaml11:
            if self.where.typed is None:
                self.where.typed = set()
            self.where.typed.add(self.path)

    def _not(self, expected: str) -> DocumentError:
        found = self.yaml11()
        return self.error(found.problem if found is not None else f"must be {expected}, not {_kind(self.value)}")

    # -- scalars ---------------------------------------------------------------------------------
    def string(self, *, nonempty: bool = False) -> str:
        if not isinstance(self.value, str):
            raise self._not("a string")
        if nonempty and not self.value:
            raise self.error("must not be empty")
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"must be true or false, not {_kind(self.value)}")
        self._typed()
        return self.value

    def integer(self, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"must be an integer{_range(minimum, maximum)}, not {_kind(value)}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.error(f"must be an integer{_range(minimum, maximum)}, not {value}")
        self._typed()
        return value

    def number(self, *, minimum: float | None = None, maximum: float | None = None) -> float:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(f"must be a number{_range(minimum, maximum)}, not {_kind(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(f"must be a finite number{_range(minimum, maximum)}, not {value}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.error(f"must be a number{_range(minimum, maximum)}, not {value}")
        self._typed()
        return float(value)

    def choice(self, allowed: Iterable[str]) -> str:
        options = list(allowed)
        if self.value not in options:
            raise self.error(f"must be one of {', '.join(options)}, not {self.value!r}")
        return str(self.value)


def _range(minimum: float | None, maximum: float | None) -> str:
    low, high = _bound(minimum), _bound(maximum)
    if minimum is not None and maximum is not None:
        return f" from {low} to {high}"
    if minimum is not None:
        return f" >= {low}"
    if maximum is not None:
        return f" <= {high}"
    return ""


def _bound(value: float | None) -> str:
    """600.0 as ``600``: limits read as the user writes them."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _kind(value: Any) -> str:
    if value is MISSING:
        return "nothing"
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )

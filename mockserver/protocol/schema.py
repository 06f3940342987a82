"""Validate request bodies against the schema generated from the SDK's request TypedDicts (and
scripted replies against the one generated from its response models, ``response-schema.json``).

The schema is data (``mockserver/data/schema.json``, written by :mod:`.schema_gen`) because
importing ``anthropic.types`` at runtime would cost the server ~1 s of start-up. Each node is
compiled once into a closure ``check(value) -> errors | None``: ``None`` on the (common) happy
path, so valid bodies allocate nothing; on failure a list of ``(loc, msg)`` pairs, loc relative to
the node, which parents prefix with their key. Messages follow pydantic v2 wording, since that is
what the real API's validation produces.

Error order: depth-first; within an object, pydantic's order: fields in definition order (a
missing required field at its place), then unknown keys. The top level of a Messages body uses
the order the real API was measured to check its fields in (``API_FIELD_ORDER``). Errors are
collected in body order on the fast path and sorted only when there are some.
"""

from __future__ import annotations

import functools
import json
import math
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple

from mockserver.protocol.errors import ApiError

Loc = Tuple[Any, ...]
Errors = Optional[List[Tuple[Loc, str]]]
Check = Callable[[Any], Errors]

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "schema.json"
RESPONSE_PATH = DEFAULT_PATH.parent / "response-schema.json"

MSG_STR = "Input should be a valid string"
MSG_INT = "Input should be a valid integer"
MSG_INT_FRACTION = "Input should be a valid integer, got a number with a fractional part"
MSG_FINITE = "Input should be a finite number"
MSG_FLOAT = "Input should be a valid number"
MSG_BOOL = "Input should be a valid boolean"
MSG_LIST = "Input should be a valid list"
MSG_DICT = "Input should be a valid dictionary"
MSG_REQUIRED = "Field required"
MSG_EXTRA = "Extra inputs are not permitted"
MSG_SHAPE = "Input does not match the expected shape."
MSG_DATETIME = "Input should be a valid datetime"

# The order in which the real API reports problems with top-level Messages fields.
API_FIELD_ORDER = (
    "model", "tool_choice", "tools", "messages", "system", "thinking", "output_config", "cache_control",
    "max_tokens", "metadata", "stop_sequences", "temperature", "service_tier", "top_k", "top_p", "stream",
    "container", "inference_geo",
)

_NO_EXTRA: FrozenSet[str] = frozenset()
_MISSING = object()


class Tag(str):
    """A tagged union's tag in an error loc (it names the member, not a key of the value)."""


class _Never:
    """A type no JSON value has: the fast-path type check for non-primitive fields never hits."""


# JSON kind of a decoded value, for picking the member of an untagged union.
_KIND = MappingProxyType(
    {str: "str", int: "num", float: "num", bool: "bool", type(None): "null", list: "list", dict: "object"}
)
_ALL_KINDS = frozenset(_KIND.values())


def _one(msg: str) -> Errors:
    return [((), msg)]


def _prefix(key: Any, errors: List[Tuple[Loc, str]]) -> List[Tuple[Loc, str]]:
    return [((key,) + loc, msg) for loc, msg in errors]


def _ok(value: Any) -> Errors:
    return None


def _check_str(value: Any) -> Errors:
    return None if type(value) is str else _one(MSG_STR)


def _check_bool(value: Any) -> Errors:
    return None if type(value) is bool else _one(MSG_BOOL)


def _check_int(value: Any) -> Errors:
    kind = type(value)
    if kind is int:
        return None
    if kind is float:  # 5.0 is an integer to pydantic; 5.5 and inf are not
        if value.is_integer():
            return None
        return _one(MSG_INT_FRACTION if math.isfinite(value) else MSG_FINITE)
    return _one(MSG_INT)


def _check_float(value: Any) -> Errors:
    kind = type(value)
    return None if kind is float or kind is int else _one(MSG_FLOAT)


def _check_datetime(value: Any) -> Errors:
    """What pydantic takes for a ``datetime`` field: an ISO 8601 string or a Unix timestamp."""
    kind = type(value)
    if kind is int or (kind is float and math.isfinite(value)):
        return None
    if kind is str:
        try:
            datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
            return None
        except ValueError:
            pass
    return _one(MSG_DATETIME)


_PRIMITIVES: Mapping[str, Tuple[type, Check]] = MappingProxyType({
    "str": (str, _check_str),
    "int": (int, _check_int),
    "float": (float, _check_float),
    "bool": (bool, _check_bool),
    "any": (_Never, _ok),
    "datetime": (_Never, _check_datetime),
})


def _literal_message(values: List[Any]) -> str:
    shown = [repr(v) for v in values]
    if len(shown) == 1:
        return f"Input should be {shown[0]}"
    return f"Input should be {', '.join(shown[:-1])} or {shown[-1]}"


def _render(loc: Loc, msg: str) -> str:
    return f"{'.'.join(str(part) for part in loc)}: {msg}" if loc else msg


class RequestSchema:
    """The request schemas of one SDK version; validators compile per root on first use."""

    def __init__(self, doc: Dict[str, Any], *, directory: Path | None = None) -> None:
        self.sdk_version: str = doc.get("sdk_version", "")
        self.header_fields: Dict[str, List[str]] = doc.get("header_fields", {})
        # anthropic-version -> schema files of older SDK lines that send it (beside this one)
        self._older_files: Dict[str, List[str]] = doc.get("older", {}) if directory is not None else {}
        self._older: Dict[str, List["RequestSchema"]] = {}
        self._directory = directory
        self._roots_doc: Dict[str, Any] = doc["roots"]
        self._defs_doc: Dict[str, Any] = doc["defs"]
        self._defs: Dict[str, Callable[..., Errors]] = {}
        self._roots: Dict[str, Callable[..., Errors]] = {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> "RequestSchema":
        path = Path(path or DEFAULT_PATH)
        with open(path, "rb") as f:
            return cls(json.loads(f.read()), directory=path.parent)

    def older(self, version: str | None) -> List["RequestSchema"]:
        """Schemas of the older SDK lines that send ``anthropic-version: version`` (newest first),
        loaded on first use: only a body this schema refuses ever needs them."""
        if version is None or version not in self._older_files:
            return []
        schemas = self._older.get(version)
        if schemas is None:
            assert self._directory is not None
            schemas = self._older[version] = [RequestSchema.load(self._directory / name) for name in self._older_files[version]]
            for schema in schemas:
                schema._older_files = {}
        return schemas

    def defining(self, root: str) -> "RequestSchema":
        """The newest schema that has ``root``: this one, else the newest older SDK line's whose
        types define it (an API the SDK has since dropped: ``completions``, SDK 0.x only)."""
        if root in self._roots_doc:
            return self
        for version in self._older_files:
            for older in self.older(version):
                if root in older._roots_doc:
                    return older
        raise KeyError(f"no SDK line's schema has the root {root!r}")

    def validate_for(self, version: str | None, root: str, body: object, *, allow_extra: FrozenSet[str] = _NO_EXTRA) -> None:
        """:meth:`validate` by the rules of the SDK lines that send ``version``: a body this
        (newest) schema refuses passes when an older line's schema for that version accepts it;
        otherwise the error is this schema's, so the wording stays the newest line's."""
        try:
            self.validate(root, body, allow_extra=allow_extra)
        except ApiError:
            for older in self.older(version):
                if root in older._roots_doc and not older._root(root)(body, allow_extra):
                    return
            raise

    @property
    def roots(self) -> List[str]:
        return sorted(self._roots_doc)

    # -- public API ---------------------------------------------------------------------------

    def validate(self, root: str, body: object, *, allow_extra: FrozenSet[str] = _NO_EXTRA) -> None:
        """Raise the first error as the 400 the real API would answer with."""
        errors = self._root(root)(body, allow_extra)
        if errors:
            loc, msg = errors[0]
            raise ApiError(400, _render(loc, msg), type="invalid_request_error")

    def errors(self, root: str, body: object, *, allow_extra: FrozenSet[str] = _NO_EXTRA) -> List[Tuple[str, str]]:
        """Every error as ``(dotted loc, message)``, in report order."""
        return [(".".join(str(p) for p in loc), msg) for loc, msg in self.check(root, body, allow_extra=allow_extra)]

    def check(self, root: str, value: object, *, allow_extra: FrozenSet[str] = _NO_EXTRA) -> List[Tuple[Loc, str]]:
        """Every error as ``(loc, message)``, in report order; a tagged union's tag is part of the loc."""
        return self._root(root)(value, allow_extra) or []

    # -- compilation --------------------------------------------------------------------------

    def _root(self, root: str) -> Callable[..., Errors]:
        check = self._roots.get(root)
        if check is None:
            if root not in self._roots_doc:
                raise KeyError(f"unknown schema root {root!r}; have {self.roots}")
            node = self._roots_doc[root]
            check = self._roots[root] = self._def(node["ref"])
        return check

    def _def(self, name: str) -> Callable[..., Errors]:
        """The object validator for def ``name``; a forwarder while ``name`` is still compiling
        (recursive types), so cycles cost one extra call only on their back-edge."""
        check = self._defs.get(name)
        if check is not None:
            return check
        cell: List[Callable[..., Errors]] = []

        def forward(value: Any, allow: FrozenSet[str] = _NO_EXTRA) -> Errors:
            return cell[0](value, allow)

        self._defs[name] = forward
        real = self._compile_object(self._defs_doc[name])
        cell.append(real)
        self._defs[name] = real
        return real

    def _compile(self, node: Any) -> Tuple[type, Check]:
        """(type for the fast path, full check) of a node; the fast path skips the call when
        ``type(value) is fast`` is already proof of validity."""
        if isinstance(node, str):
            return _PRIMITIVES[node]
        if "ref" in node:
            return _Never, self._def(node["ref"])
        if "nullable" in node:
            fast, inner = self._compile(node["nullable"])
            return fast, lambda value: None if value is None else inner(value)
        if "list" in node:
            return (list if node["list"] == "any" else _Never), self._compile_each(node["list"], list, MSG_LIST, enumerate)
        if "map" in node:
            return (dict if node["map"] == "any" else _Never), self._compile_each(node["map"], dict, MSG_DICT, dict.items)
        if "enum" in node:
            return _Never, self._compile_enum(node["enum"])
        if "tagged" in node:
            return _Never, self._compile_tagged(node)
        if "keyed" in node:
            return _Never, self._compile_keyed(node)
        if "union" in node:
            return _Never, self._compile_union(node["union"])
        raise ValueError(f"unknown schema node {node!r}")

    def _compile_object(self, spec: Dict[str, Any]) -> Callable[..., Errors]:
        fields: Dict[str, Tuple[type, Check]] = {}
        for key, node in spec["fields"].items():
            fields[key] = self._compile(node)
        required: Tuple[str, ...] = tuple(spec["required"])
        required_set = frozenset(required)
        is_open = bool(spec.get("open"))
        order = list(fields)
        if "model" in fields and "messages" in fields:
            order.sort(key=lambda k: API_FIELD_ORDER.index(k) if k in API_FIELD_ORDER else len(API_FIELD_ORDER))
        rank = {key: i for i, key in enumerate(order)}

        def position(error: Tuple[Loc, str]) -> int:
            return rank.get(error[0][0], len(rank)) if error[0] else -1

        def check_object(value: Any, allow: FrozenSet[str] = _NO_EXTRA) -> Errors:
            if type(value) is not dict:
                return _one(MSG_DICT)
            errors: Errors = None
            for key, item in value.items():
                field = fields.get(key)
                if field is None:
                    if not is_open and key not in allow:
                        errors = errors or []
                        errors.append(((key,), MSG_EXTRA))
                    continue
                if type(item) is field[0]:
                    continue
                sub = field[1](item)
                if sub:
                    errors = errors or []
                    errors.extend(_prefix(key, sub))
            if required_set and not required_set.issubset(value):
                errors = errors or []
                errors.extend(((key,), MSG_REQUIRED) for key in required if key not in value)
            if errors and len(errors) > 1:
                errors.sort(key=position)
            return errors

        return check_object

    def _compile_each(
        self, node: Any, container: type, message: str, pairs: Callable[[Any], Iterable[Tuple[Any, Any]]]
    ) -> Check:
        """A list (``list, MSG_LIST, enumerate``) or map (``dict, MSG_DICT, dict.items``) whose
        every item is ``node``; an item's errors are prefixed with its index or key."""
        fast, item_check = self._compile(node)
        if item_check is _ok:
            return lambda value: None if type(value) is container else _one(message)

        def check_each(value: Any) -> Errors:
            if type(value) is not container:
                return _one(message)
            errors: Errors = None
            for key, item in pairs(value):
                if type(item) is fast:
                    continue
                sub = item_check(item)
                if sub:
                    errors = errors or []
                    errors.extend(_prefix(key, sub))
            return errors

        return check_each

    def _compile_enum(self, values: List[Any]) -> Check:
        # Keyed by (type, value) so that True never passes for Literal[1] nor 1 for Literal[True].
        allowed = frozenset((type(v), v) for v in values)
        hashable = frozenset(type(v) for v in values)
        message = _literal_message(values)

        def check_enum(value: Any) -> Errors:
            kind = type(value)
            if kind in hashable and (kind, value) in allowed:
                return None
            return _one(message)

        return check_enum

    def _compile_tagged(self, node: Dict[str, Any]) -> Check:
        """pydantic's discriminated union: the tag picks the member and joins the error loc."""
        key: str = node["tagged"]
        cases = {tag: (Tag(tag), self._def(name)) for tag, name in node["cases"]}
        default = (Tag(node["default"][0]), self._def(node["default"][1])) if "default" in node else None
        expected = ", ".join(f"'{tag}'" for tag in sorted(tag for tag, _ in node["cases"]))

        def check_tagged(value: Any) -> Errors:
            if type(value) is not dict:
                return _one(MSG_DICT)
            tag = value.get(key)
            if tag is None:
                if default is None:
                    if key in value:
                        return _one(f"Input tag 'None' found using '{key}' does not match any of the expected tags: {expected}")
                    return _one(f"Unable to extract tag using discriminator '{key}'")
                case = default
            else:
                found = cases.get(tag) if type(tag) is str else None
                if found is None:
                    return _one(f"Input tag '{tag}' found using '{key}' does not match any of the expected tags: {expected}")
                case = found
            sub = case[1](value)
            return _prefix(case[0], sub) if sub else None

        return check_tagged

    def _compile_keyed(self, node: Dict[str, Any]) -> Check:
        """TypedDicts told apart by a Literal key (``role``): one object to the caller, so a bad
        or missing key is reported at that key and member errors carry no tag; a value that is
        no object at all "does not match the expected shape", as the API words it."""
        key: str = node["keyed"]
        values = [value for value, _ in node["cases"]]
        cases = {(type(value), value): self._def(name) for value, name in node["cases"]}
        message = _literal_message(values)

        def check_keyed(value: Any) -> Errors:
            if type(value) is not dict:  # as recorded: DataDog__dd-trace-py/anthropic_completion_error.yaml
                return _one(MSG_SHAPE)
            tag = value.get(key, _MISSING)
            if tag is _MISSING:
                return [((key,), MSG_REQUIRED)]
            check = cases.get((type(tag), tag)) if type(tag) in (str, int, bool) else None
            if check is None:
                return [((key,), message)]
            return check(value)

        return check_keyed

    def _compile_union(self, members: List[Any]) -> Check:
        """Untagged union: the JSON kind of the input picks the member(s) to try."""
        by_kind: Dict[str, List[Check]] = {}
        for member in members:
            _, check = self._compile(member)
            for kind in sorted(_kinds(member)):
                by_kind.setdefault(kind, []).append(check)
        single = {kind: checks[0] for kind, checks in by_kind.items() if len(checks) == 1}
        # No member takes this kind of value: the API names the list member, when there is one.
        mismatch = MSG_LIST if "list" in by_kind else MSG_SHAPE
        several = {kind: checks for kind, checks in by_kind.items() if len(checks) > 1}

        def check_union(value: Any) -> Errors:
            kind = _KIND.get(type(value), "")
            check = single.get(kind)
            if check is not None:
                return check(value)
            candidates = several.get(kind)
            if not candidates:
                return _one(mismatch)
            first: Errors = None
            for candidate in candidates:
                errors = candidate(value)
                if not errors:
                    return None
                first = first or errors
            return first

        return check_union


def _kinds(node: Any) -> FrozenSet[str]:
    """The JSON kinds a node can accept, which route untagged-union inputs to members."""
    if isinstance(node, str):
        if node == "datetime":
            return frozenset({"str", "num"})
        return _ALL_KINDS if node == "any" else frozenset({"num" if node in ("int", "float") else node})
    if "nullable" in node:
        return _kinds(node["nullable"]) | {"null"}
    if "list" in node:
        return frozenset({"list"})
    if "enum" in node:
        return frozenset(_KIND[type(v)] for v in node["enum"])
    if "union" in node:
        return frozenset().union(*(_kinds(m) for m in node["union"]))
    return frozenset({"object"})  # ref, map, tagged, keyed


@functools.lru_cache(maxsize=1)
def default_schema() -> RequestSchema:
    """The packaged schema, loaded once per process."""
    return RequestSchema.load()


@functools.lru_cache(maxsize=1)
def response_schema() -> RequestSchema:
    """The response models' schema (roots ``message`` and ``beta_message``), loaded once per process."""
    return RequestSchema.load(RESPONSE_PATH)

"""The model catalog: which models exist, what ``/v1/models`` says about them, and the
per-model facts request validation needs (output caps, prefill, thinking types, caching).

The data lives in ``mockserver/data/models.yaml`` so users can add or adjust models without
touching code. Loading is strict: a typo in that file should fail loudly, naming the entry
and field, rather than make the mock quietly disagree with the real API.
"""

from __future__ import annotations

import builtins
import functools
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast, get_args

import yaml

from mockserver.documents import DocumentError, Node, Where, Yaml11Scalar, by_item, load_yaml_text
from mockserver.protocol.platforms import VERTEX_UNVERSIONED

__all__ = [
    "CAPABILITY_SHAPE",
    "THINKING_TYPES",
    "CatalogError",
    "Lifecycle",
    "MockSettings",
    "ModelCatalog",
    "ModelEntry",
    "ModelLine",
]

# The C loader is several times faster; fall back where libyaml is missing.

Lifecycle = Literal["active", "deprecated", "retired"]
ModelLine = Literal["haiku", "sonnet", "opus", "fable", "mythos"]

LIFECYCLES: frozenset[str] = frozenset(get_args(Lifecycle))
LINES: frozenset[str] = frozenset(get_args(ModelLine))
THINKING_TYPES: tuple[str, ...] = ("adaptive", "between_tools", "disabled", "enabled")
DEFAULT_LIST_LIFECYCLES: frozenset[str] = frozenset({"active", "deprecated"})

# ModelInfo.created_at docs: "May be set to an epoch value if the release date is unknown."
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "models.yaml"  # as protocol/schema.py finds its data

_FLAG: Mapping[str, Any] = MappingProxyType({"supported": bool})

# The SDK's ModelCapabilities, key for key and in its field order (tests compare the two).
# `bool` marks a boolean leaf; every other value is a nested object.
CAPABILITY_SHAPE: Mapping[str, Any] = MappingProxyType(
    {
        "batch": _FLAG,
        "citations": _FLAG,
        "code_execution": _FLAG,
        "context_management": MappingProxyType(
            {
                "clear_thinking_20251015": _FLAG,
                "clear_tool_uses_20250919": _FLAG,
                "compact_20260112": _FLAG,
                "supported": bool,
            }
        ),
        "effort": MappingProxyType(
            {"high": _FLAG, "low": _FLAG, "max": _FLAG, "medium": _FLAG, "supported": bool, "xhigh": _FLAG}
        ),
        "image_input": _FLAG,
        "pdf_input": _FLAG,
        "server_tools": MappingProxyType({"code_execution": _FLAG, "supported": bool, "web_search": _FLAG}),
        "structured_outputs": _FLAG,
        "thinking": MappingProxyType(
            {"supported": bool, "types": MappingProxyType({name: _FLAG for name in THINKING_TYPES})}
        ),
    }
)

_ENTRY_FIELDS = frozenset(
    {
        "id",
        "aliases",
        "display_name",
        "created_at",
        "lifecycle",
        "deprecated_at",
        "retires_at",
        "line",
        "max_input_tokens",
        "max_tokens",
        "capabilities",
        "mock",
        "vertex_ids",
    }
)
_MOCK_FIELDS = frozenset({"prefill", "thinking", "min_cacheable_tokens", "nonstreaming_max_tokens", "forced_tool_use"})
_TOP_LEVEL_FIELDS = frozenset({"definitions", "models"})


class CatalogError(DocumentError):
    """A catalog file that cannot be used; the message names the file, the entry and the field."""

    def __init__(
        self, problem: str, *, source: str | None = None, context: str | None = None, field: str | None = None, entry: str | None = None
    ) -> None:
        super().__init__(problem, source=source, context=context or entry, field=field)

    @property
    def entry(self) -> str | None:
        return self.context


@dataclass(frozen=True)
class MockSettings:
    """Facts only the mock uses, to reject what the real model rejects; never sent to clients."""

    prefill: bool
    """Whether a final assistant message (prefill) is accepted."""
    thinking: frozenset[str]
    """Accepted ``thinking.type`` values."""
    min_cacheable_tokens: int
    """Shortest prefix that prompt caching stores; shorter ones are silently not cached."""
    forced_tool_use: bool = True
    """Whether ``tool_choice`` of type ``any``/``tool`` is accepted."""
    nonstreaming_max_tokens: int | None = None
    """The SDK's client-side non-streaming cap for this model (the API does not enforce it)."""


@dataclass(frozen=True)
class ModelEntry:
    """One model: its public ``ModelInfo`` fields plus :class:`MockSettings`."""

    id: str
    display_name: str
    created_at: datetime
    lifecycle: Lifecycle
    capabilities: Mapping[str, Any] = field(hash=False)
    """Read-only, exactly the SDK ``ModelCapabilities`` shape (see :data:`CAPABILITY_SHAPE`)."""
    mock: MockSettings
    aliases: tuple[str, ...] = ()
    deprecated_at: datetime | None = None
    retires_at: datetime | None = None
    line: ModelLine | None = None
    max_input_tokens: int | None = None
    max_tokens: int | None = None
    vertex_ids: tuple[str, ...] = ()
    """Vertex AI's names for this model where they are not its id with the date after ``@``
    (``claude-3-5-sonnet-v2@20241022`` for ``claude-3-5-sonnet-20241022``); never sent to clients."""

    @functools.cached_property
    def released(self) -> str:
        """``created_at``'s date in ISO form, which the validator compares with cut-off dates."""
        return self.created_at.date().isoformat()

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id this entry answers to: the canonical one first, then the aliases."""
        return (self.id, *self.aliases)

    def supports(self, *path: str) -> bool:
        """Read one capability flag, e.g. ``supports("effort", "xhigh")``; unknown paths are False."""
        node: Any = self.capabilities
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                return False
            node = node[key]
        return isinstance(node, Mapping) and node.get("supported") is True

    def to_model_info(self) -> dict[str, Any]:
        """The JSON body of ``GET /v1/models/{id}`` for this model (a fresh, mutable dict)."""
        return {
            "type": "model",
            "id": self.id,
            "display_name": self.display_name,
            "created_at": _rfc3339(self.created_at),
            "lifecycle": self.lifecycle,
            "deprecated_at": _rfc3339(self.deprecated_at),
            "retires_at": _rfc3339(self.retires_at),
            "line": self.line,
            "max_input_tokens": self.max_input_tokens,
            "max_tokens": self.max_tokens,
            "capabilities": _thaw(self.capabilities),
        }

    @classmethod
    def for_unknown(cls, model_id: str) -> ModelEntry:
        """A permissive stand-in for an id the catalog lacks, so lenient modes accept any model.

        Everything is supported and the limits are the largest any current model has, so the
        stand-in never rejects a request a real model might accept.
        """
        return cls(
            id=model_id,
            display_name=model_id,
            created_at=_EPOCH,
            lifecycle="active",
            capabilities=_UNKNOWN_CAPABILITIES,
            mock=_UNKNOWN_MOCK,
            max_input_tokens=1_000_000,
            max_tokens=128_000,
        )


class ModelCatalog:
    """An immutable, ordered set of models with id and alias lookup.

    Build one per app (not per request): each server owns its catalog, so several servers
    with different catalogs can run in one process.
    """

    __slots__ = ("_entries", "_index", "_vertex", "source")

    def __init__(self, entries: Iterable[ModelEntry], *, source: str = "<memory>") -> None:
        self.source = source
        self._entries: tuple[ModelEntry, ...] = tuple(entries)
        self._index: Mapping[str, ModelEntry] = MappingProxyType(
            _by_name(self._entries, lambda e: e.ids, lambda e, name: "id" if name == e.id else "aliases", source)
        )
        vertex = _by_name(self._entries, lambda e: e.vertex_ids, lambda e, name: "vertex_ids", source)
        for entry in self._entries:  # the model without its version (@default, @latest): the newest entry naming it
            for name in entry.vertex_ids:
                vertex.setdefault(name.partition("@")[0], entry)
        self._vertex: Mapping[str, ModelEntry] = MappingProxyType(vertex)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> ModelCatalog:
        """Read a catalog file; ``None`` means the one shipped in ``mockserver/data``."""
        resource = DEFAULT_PATH if path is None else Path(path)
        source = str(resource)
        try:
            text = resource.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"cannot read the catalog: {exc}", source=source) from exc
        return cls.from_yaml(text, source=source)

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<string>") -> ModelCatalog:
        """Parse catalog YAML (the format of ``models.yaml``). A plain scalar only YAML 1.1 types
        (``0777``, ``yes``, ``1_000``, ``10:00:00``) is refused where text is read (ids, aliases,
        names, lifecycle and line, dates), naming the text as written; the boolean and number
        fields read it as YAML 1.1 does, as scenario files' typed fields do."""
        yaml11: dict[tuple[Any, ...], Yaml11Scalar] = {}
        try:
            data = load_yaml_text(text, allow_aliases=True, yaml11=yaml11)
        except yaml.YAMLError as exc:
            raise CatalogError(f"not valid YAML: {exc}", source=source) from exc
        root = Node(data, "", Where(source, error=CatalogError))
        if not isinstance(data, dict):
            raise root.error("the top level must be a mapping with a 'models' list")
        fields = root.mapping(_TOP_LEVEL_FIELDS)
        models = fields["models"] if "models" in fields else root.child("models")
        if not isinstance(models.value, list):
            raise models.error("must be a list of model entries")
        def entry_of(keys: list[Any]) -> tuple[Any, list[Any]]:  # ("models", 3, "aliases", 0): entry 3's "aliases[0]"
            if len(keys) > 2 and keys[0] == "models" and isinstance(keys[1], int):
                return keys[1], keys[2:]
            return None, keys

        by_entry = by_item(yaml11, entry_of)
        entries = [_parse_entry(raw, number, source, by_entry.get(number - 1)) for number, raw in enumerate(models.value, 1)]
        return cls(entries, source=source)

    @property
    def entries(self) -> tuple[ModelEntry, ...]:
        """All entries, retired ones included, in file order."""
        return self._entries

    def resolve(self, model_id: str) -> ModelEntry | None:
        """The entry for a canonical id or an alias; ``None`` if the catalog has neither."""
        return self._index.get(model_id) if isinstance(model_id, str) else None

    def resolve_vertex(self, name: str) -> ModelEntry | None:
        """The entry a Vertex AI model name stands for by an entry's ``vertex_ids``
        (``claude-3-5-sonnet-v2@20241022``, or that model ``@latest``, ``@default`` or without a
        version); ``None`` for every other name, which is read mechanically instead
        (``claude-sonnet-4-5@20250929`` -> ``claude-sonnet-4-5-20250929``, protocol/platforms.py)."""
        found = self._vertex.get(name)
        if found is None:
            base, _, version = name.partition("@")
            if version in VERTEX_UNVERSIONED:
                found = self._vertex.get(base)
        return found

    def list(self, lifecycles: Collection[str] | None = None) -> builtins.list[ModelEntry]:
        """Entries as ``GET /v1/models`` lists them: newest release first, ties in file order.

        ``None`` or an empty collection means the API default, active and deprecated models.
        """
        wanted = frozenset(lifecycles) if lifecycles else DEFAULT_LIST_LIFECYCLES
        chosen = [entry for entry in self._entries if entry.lifecycle in wanted]
        return sorted(chosen, key=lambda entry: entry.created_at, reverse=True)  # stable

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries)

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and model_id in self._index

    def __repr__(self) -> str:
        return f"ModelCatalog({len(self._entries)} models from {self.source})"


# --- parsing -------------------------------------------------------------------------------


class _Entry:
    """Typed reads of one catalog entry's fields (or its ``mock`` mapping), through
    :class:`~mockserver.documents.Node` so every mistake names the file, the entry and the field."""

    def __init__(self, node: Node, allowed: frozenset[str]) -> None:
        self.node = node
        self.fields = node.mapping(allowed)

    def at(self, key: str) -> Node:
        return self.fields[key] if key in self.fields else self.node.child(key)

    def error(self, key: str, problem: str) -> DocumentError:
        return self.at(key).error(problem)

    def get(self, key: str, *, required: bool) -> Any:
        if key not in self.fields:
            if required:
                raise self.error(key, "missing")
            return None
        return self.fields[key].value

    def text(self, key: str) -> str:
        self.get(key, required=True)
        return _as_written(self.at(key)).string(nonempty=True)

    def flag(self, key: str, *, default: bool | None = None) -> bool:
        value = self.get(key, required=default is None)
        if value is None and default is not None:
            return default
        return self.at(key).boolean()

    def count(self, key: str, *, required: bool, minimum: int = 1) -> int | None:
        if self.get(key, required=required) is None:
            return None
        return self.at(key).integer(minimum=minimum)

    def timestamp(self, key: str, *, required: bool) -> datetime | None:
        value = self.get(key, required=required)
        if value is None:
            return None
        _as_written(self.at(key))
        try:
            return _to_utc(value)
        except (TypeError, ValueError):
            raise self.error(key, f"must be an RFC 3339 date or date-time, not {value!r}") from None

    def choice(self, key: str, allowed: frozenset[str], *, required: bool) -> str | None:
        if self.get(key, required=required) is None and not required:
            return None
        return _as_written(self.at(key)).choice(sorted(allowed))

    def names(self, key: str, allowed: frozenset[str] | None = None) -> tuple[str, ...] | None:
        if self.get(key, required=False) is None:
            return None
        node = self.at(key)
        values = [_as_written(item).string(nonempty=True) for item in node.items()]
        if allowed is not None and not set(values) <= allowed:
            raise node.error(f"unknown values {sorted(set(values) - allowed)}; allowed: {sorted(allowed)}")
        return tuple(values)


def _by_name(
    entries: Iterable[ModelEntry], names: Callable[[ModelEntry], Iterable[str]], field: Callable[[ModelEntry, str], str], source: str,
) -> dict[str, ModelEntry]:
    """Each name ``names`` gives an entry -> that entry; a name two entries give is refused,
    naming the second entry and its ``field``."""
    found: dict[str, ModelEntry] = {}
    for entry in entries:
        for name in names(entry):
            other = found.get(name)
            if other is not None:
                raise CatalogError(f"{name!r} is already used by entry {other.id!r}", source=source, entry=entry.id, field=field(entry, name))
            found[name] = entry
    return found


def _as_written(node: Node) -> Node:
    """``node``, unless it holds a plain scalar only YAML 1.1 types where text is meant (an id
    ``0777`` would be 511, a name ``on`` true): then the error naming the text as written."""
    found = node.yaml11()
    if found is not None:
        raise node.error(found.text_problem)
    return node


def _parse_entry(raw: Any, number: int, source: str, yaml11: dict[str, Yaml11Scalar] | None = None) -> ModelEntry:
    """Validate one ``models`` item into a ModelEntry; ``yaml11``: its YAML-1.1-only plain
    scalars by path (``aliases[0]``)."""
    raw_id = raw.get("id") if isinstance(raw, dict) else None
    name = raw_id if isinstance(raw_id, str) and raw_id.strip() else f"#{number}"
    read = _Entry(Node(raw, "", Where(source, name, CatalogError, yaml11=yaml11)), _ENTRY_FIELDS)

    model_id = read.text("id")
    if model_id != model_id.strip() or any(ch.isspace() for ch in model_id):
        raise read.error("id", "must not contain whitespace")
    aliases = read.names("aliases") or ()
    if model_id in aliases or len(set(aliases)) != len(aliases):
        raise read.error("aliases", "repeats the id or an alias")

    lifecycle = cast(Lifecycle, read.choice("lifecycle", LIFECYCLES, required=True))
    deprecated_at = read.timestamp("deprecated_at", required=False)
    retires_at = read.timestamp("retires_at", required=False)
    if lifecycle == "active":
        for key, value in (("deprecated_at", deprecated_at), ("retires_at", retires_at)):
            if value is not None:
                raise read.error(key, "must be null while the model is active")
    elif deprecated_at is None:
        raise read.error("deprecated_at", f"required for a {lifecycle} model")

    capabilities = _check_shape(read.get("capabilities", required=True), CAPABILITY_SHAPE, read, "capabilities")

    return ModelEntry(
        id=model_id,
        aliases=aliases,
        display_name=read.text("display_name"),
        created_at=cast(datetime, read.timestamp("created_at", required=True)),
        lifecycle=lifecycle,
        deprecated_at=deprecated_at,
        retires_at=retires_at,
        line=cast("ModelLine | None", read.choice("line", LINES, required=False)),
        max_input_tokens=read.count("max_input_tokens", required=True),
        max_tokens=read.count("max_tokens", required=True),
        capabilities=_freeze(capabilities),
        mock=_parse_mock(read, capabilities),
        vertex_ids=_vertex_ids(read),
    )


def _vertex_ids(read: _Entry) -> tuple[str, ...]:
    """``vertex_ids``: Vertex model names, each ``<model>@<version>`` (the form Vertex's docs give)."""
    names = read.names("vertex_ids") or ()
    for name in names:
        model, _, version = name.partition("@")
        if not model or not version or "@" in version or any(ch.isspace() for ch in name):
            raise read.error("vertex_ids", f"{name!r} is not a Vertex model name (<model>@<version>, e.g. claude-3-5-sonnet-v2@20241022)")
    if len(set(names)) != len(names):
        raise read.error("vertex_ids", "repeats a name")
    return names


def _parse_mock(parent: _Entry, capabilities: Mapping[str, Any]) -> MockSettings:
    """Validate the ``mock`` mapping; thinking types default to what capabilities advertise."""
    parent.get("mock", required=True)
    read = _Entry(parent.at("mock"), _MOCK_FIELDS)
    thinking = read.names("thinking", frozenset(THINKING_TYPES))
    if thinking is None:
        advertised = capabilities["thinking"]["types"]
        thinking = tuple(name for name in THINKING_TYPES if advertised[name]["supported"])
    return MockSettings(
        prefill=read.flag("prefill"),
        thinking=frozenset(thinking),
        min_cacheable_tokens=cast(int, read.count("min_cacheable_tokens", required=True, minimum=0)),
        forced_tool_use=read.flag("forced_tool_use", default=True),
        nonstreaming_max_tokens=read.count("nonstreaming_max_tokens", required=False),
    )


def _check_shape(value: Any, shape: Mapping[str, Any], read: _Entry, path: str) -> dict[str, Any]:
    """Require exactly the keys of ``shape``; return a fresh dict in the shape's key order.

    Copying also unshares YAML anchors, so no two entries hold the same dict.
    """
    if not isinstance(value, dict):
        raise read.error(path, f"expected a mapping, got {value!r}")
    for key in value:
        if key not in shape:
            raise read.error(f"{path}.{key}", "unknown capability key")
    result: dict[str, Any] = {}
    for key, sub in shape.items():
        if key not in value:
            raise read.error(f"{path}.{key}", "missing (every capability key must be present)")
        if sub is bool:
            if not isinstance(value[key], bool):
                raise read.error(f"{path}.{key}", f"expected true or false, got {value[key]!r}")
            result[key] = value[key]
        else:
            result[key] = _check_shape(value[key], sub, read, f"{path}.{key}")
    return result


# --- small helpers -------------------------------------------------------------------------


def _to_utc(value: Any) -> datetime:
    """YAML gives dates, datetimes or strings; normalise all to aware UTC datetimes."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    else:
        raise TypeError(type(value).__name__)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _rfc3339(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z`` suffix, as the API writes timestamps."""
    if moment is None:
        return None
    moment = moment.astimezone(timezone.utc)
    fraction = f".{moment.microsecond:06d}" if moment.microsecond else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def _all_supported(shape: Mapping[str, Any]) -> dict[str, Any]:
    return {key: True if sub is bool else _all_supported(sub) for key, sub in shape.items()}


def _freeze(value: Any) -> Any:
    """Read-only nested mappings, so entries can be shared freely between requests."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: _freeze(sub) for key, sub in value.items()})
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(sub) for key, sub in value.items()}
    return value


# The stand-in's capabilities and settings: read-only, so every for_unknown entry shares them.
_UNKNOWN_CAPABILITIES: Mapping[str, Any] = _freeze(_all_supported(CAPABILITY_SHAPE))
_UNKNOWN_MOCK = MockSettings(prefill=True, thinking=frozenset(THINKING_TYPES), min_cacheable_tokens=1024)

"""Generate ``mockserver/data/schema.json`` from the installed ``anthropic`` SDK's request TypedDicts,
``schema-anthropic-<release>.json`` from older SDK release lines (:data:`OLDER_RELEASES`), and
``response-schema.json`` from its response models (``Message``, ``BetaMessage``: what a scripted
reply is checked against when a scenario loads, so the server needs no SDK at run time).

Dev-time only: importing ``anthropic.types`` costs ~1 s, so the server never imports this module;
it reads the committed JSON through :mod:`mockserver.protocol.schema`. Re-run after upgrading the
SDK (unit tests fail while a committed file is stale)::

    .venv/bin/python -m mockserver.protocol.schema_gen        # or: make schema

An older release is installed with ``pip install --target`` into ``.cache/schema-sdks/`` (once)
and read by this same module in a subprocess whose path puts that release first. Which
``anthropic-version`` each older schema serves, and why, is in docs/protocol.md ("SDK lines").
A root the SDK has since dropped (``completions``: Text Completions, SDK 0.x) is generated only
from the lines that still have it (``RootSpec.retired``).

Node encoding (interpreted by :mod:`mockserver.protocol.schema`):

* ``"str" | "int" | "float" | "bool" | "any" | "datetime"`` (``datetime``: responses only)
* ``{"ref": Name}``: a TypedDict in ``defs``
* ``{"list": node}``, ``{"map": node}`` (string keys), ``{"enum": [values...]}``
* ``{"nullable": node}``: ``None`` is accepted as well
* ``{"union": [nodes...]}``: untagged; the member is chosen by the JSON kind of the input
* ``{"tagged": "type", "cases": [[tag, Name], ...], "default": [tag, Name]?}``: discriminated on
  ``type`` the pydantic way (the tag joins the error loc); ``default`` is the member whose ``type``
  key is optional (used when it is absent)
* ``{"keyed": key, "cases": [[value, Name], ...]}``: TypedDicts told apart by another Literal key
  (``role`` in ``MessageParam``); validated like one object whose ``key`` picks the fields, so the
  loc carries no tag

A def is ``{"fields": {key: node}, "required": [keys in definition order], "open": true?}``;
``open`` marks TypedDicts the SDK configures with pydantic ``extra="allow"``, and every response
model (the SDK's ``BaseModel`` allows extra fields).
"""

from __future__ import annotations

import ast
import collections.abc
import datetime
import inspect
import json
import os
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import typing_extensions as te

Node = Any  # str | dict[str, Any]; JSON-ready

OUTPUT = Path(__file__).resolve().parent.parent / "data" / "schema.json"
RESPONSE_OUTPUT = OUTPUT.parent / "response-schema.json"
ROOT = Path(__file__).resolve().parents[2]
RELEASE_CACHE = ROOT / ".cache" / "schema-sdks"
# Older SDK release lines whose request types the API still accepts, by the ``anthropic-version``
# they send: SDK 1.x and 0.x send 2023-06-01 (2.x sends 2026-10-21 and is the installed SDK).
OLDER_RELEASES: Dict[str, Tuple[str, ...]] = {"2023-06-01": ("1.17.0", "0.49.0")}
TAG = "type"

_LIST_ORIGINS = {list, collections.abc.Iterable, collections.abc.Sequence, collections.abc.Iterator, tuple, set, frozenset}
_MAP_ORIGINS = {dict, collections.abc.Mapping, collections.abc.MutableMapping}
_PRIMITIVES: Dict[Any, str] = {str: "str", int: "int", float: "float", bool: "bool", object: "any", Any: "any"}
_RESPONSE_PRIMITIVES: Dict[Any, str] = {**_PRIMITIVES, datetime.datetime: "datetime"}
# Members the SDK accepts for convenience but never sends as such: file objects for base64 ``data``
# (serialised to a string by the SDK) — they have no JSON form, so they drop out of unions.
_NON_JSON = (bytes, os.PathLike, typing.IO)


@dataclass(frozen=True)
class RootSpec:
    """One request body: the TypedDict, and the resource method whose ``body=`` it becomes."""

    params: str  # "module:Class"
    resource: str  # module path of the resource implementation
    resource_class: str
    method: str
    extra_fields: Tuple[Tuple[str, Node], ...] = ()  # body keys the TypedDict lacks (``stream``)
    # An API the SDK has since dropped (Text Completions: SDK 0.x only): generated from the lines
    # that still have ``params``' module, absent from the others' schemas.
    retired: bool = False


# Response models: the Message a scripted reply becomes, checked as the SDK's strict validation will.
RESPONSE_ROOTS: Dict[str, str] = {
    "message": "anthropic.types:Message",
    "beta_message": "anthropic.types.beta:BetaMessage",
}

ROOTS: Dict[str, RootSpec] = {
    "messages": RootSpec(
        "anthropic.types.message_create_params:MessageCreateParamsBase",
        "anthropic.resources.messages.messages", "Messages", "create", (("stream", "bool"),),
    ),
    "count_tokens": RootSpec(
        "anthropic.types.message_count_tokens_params:MessageCountTokensParams",
        "anthropic.resources.messages.messages", "Messages", "count_tokens",
    ),
    "batch_create": RootSpec(
        "anthropic.types.messages.batch_create_params:BatchCreateParams",
        "anthropic.resources.messages.batches", "Batches", "create",
    ),
    "beta_messages": RootSpec(
        "anthropic.types.beta.message_create_params:MessageCreateParamsBase",
        "anthropic.resources.beta.messages.messages", "Messages", "create", (("stream", "bool"),),
    ),
    "beta_count_tokens": RootSpec(
        "anthropic.types.beta.message_count_tokens_params:MessageCountTokensParams",
        "anthropic.resources.beta.messages.messages", "Messages", "count_tokens",
    ),
    "beta_batch_create": RootSpec(
        "anthropic.types.beta.messages.batch_create_params:BatchCreateParams",
        "anthropic.resources.beta.messages.batches", "Batches", "create",
    ),
    "completions": RootSpec(
        "anthropic.types.completion_create_params:CompletionCreateParamsBase",
        "anthropic.resources.completions", "Completions", "create", (("stream", "bool"),), retired=True,
    ),
}


def _has_module(path: str) -> bool:
    """Whether the installed SDK has ``path``'s module (``module:Class``)."""
    import importlib.util

    return importlib.util.find_spec(path.partition(":")[0]) is not None


def _import(path: str) -> Any:
    module, _, name = path.partition(":")
    __import__(module)
    mod = sys.modules[module]
    return getattr(mod, name) if name else mod


# ---------------------------------------------------------------------------------------------
# Which TypedDict keys travel as headers: read the resource method's source, not a hand list.


@dataclass
class BodySplit:
    body_keys: List[str]  # keys of the ``body={...}`` literal
    header_params: set[str]  # parameter names used in ``{"anthropic-...": ...}`` header dicts


def _method_body_split(resource: str, class_name: str, method: str) -> BodySplit:
    """Parse the sync resource class's implementation of ``method`` (the overload with a body)."""
    source = inspect.getsource(_import(resource))
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    split = BodySplit([], set())
    for fn in cls.body:
        if not (isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.name == method):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.keyword) and node.arg == "body":
                value = node.value
                if isinstance(value, ast.Call) and value.args:  # maybe_transform({...}, Params)
                    value = value.args[0]
                if isinstance(value, ast.Dict):
                    split.body_keys = [k.value for k in value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            if isinstance(node, ast.Dict) and any(
                isinstance(k, ast.Constant) and str(k.value).lower().startswith("anthropic-") for k in node.keys
            ):
                for v in node.values:
                    split.header_params.update(n.id for n in ast.walk(v) if isinstance(n, ast.Name))
    if not split.body_keys:
        raise RuntimeError(f"no body={{...}} literal in {resource}.{class_name}.{method}")
    return split


# ---------------------------------------------------------------------------------------------
# TypedDict introspection.


def _strip(tp: Any) -> Tuple[Any, bool | None, str | None]:
    """Peel Required/NotRequired/Annotated; return (type, explicit requiredness, body alias)."""
    required: bool | None = None
    alias: str | None = None
    while True:
        origin = te.get_origin(tp)
        if origin is te.Required:
            required, tp = True, te.get_args(tp)[0]
        elif origin is te.NotRequired:
            required, tp = False, te.get_args(tp)[0]
        elif origin is te.Annotated:
            for meta in tp.__metadata__:
                alias = getattr(meta, "alias", None) or alias
            tp = te.get_args(tp)[0]
        else:
            return tp, required, alias


def _bases(cls: type) -> List[type]:
    return [b for b in getattr(cls, "__orig_bases__", ()) if te.is_typeddict(b)]


def _declared_total(cls: type, key: str) -> bool:
    """``total=`` of the class that (re)declares ``key``; ``__required_keys__`` can't be trusted
    because the SDK's string annotations hide ``Required[...]`` from the TypedDict metaclass."""
    own = cls.__dict__.get("__annotations__", {})
    for base in _bases(cls):
        if key in base.__annotations__ and base.__annotations__[key] is own.get(key):
            return _declared_total(base, key)
    return bool(getattr(cls, "__total__", True))


def _is_subtypeddict(cls: type, ancestor: type) -> bool:
    return cls is ancestor or any(_is_subtypeddict(b, ancestor) for b in _bases(cls))


@dataclass
class Generator:
    # root params class -> keys sent as headers; applied to every TypedDict deriving from it too
    # (batch requests embed MessageCreateParamsNonStreaming, a subclass of the messages root).
    header_keys: Dict[type, frozenset[str]] = field(default_factory=dict)
    defs: Dict[type, Dict[str, Any]] = field(default_factory=dict)
    # Response mode: the SDK's pydantic models are defs (in requests they drop out of unions).
    models: bool = False
    _in_progress: set[type] = field(default_factory=set)

    def typeddict(self, cls: type) -> Node:
        if cls not in self.defs and cls not in self._in_progress:
            self._in_progress.add(cls)
            self.defs[cls] = self._model_def(cls) if _is_model(cls) else self._typeddict_def(cls)
            self._in_progress.discard(cls)
        return {"ref": cls}  # replaced by the class's def name once all names are known

    def _model_def(self, cls: type) -> Dict[str, Any]:
        """A response model: its fields by wire name; required when pydantic requires them."""
        fields: Dict[str, Node] = {}
        required: List[str] = []
        for key, info in _model_fields(cls).items():
            name = info.alias or key
            fields[name] = self.node(info.annotation)
            if info.is_required():
                required.append(name)
        return {"fields": fields, "required": required, "open": True}

    def _excluded(self, cls: type) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for root, keys in self.header_keys.items():
            if _is_subtypeddict(cls, root):
                out |= keys
        return out

    def _typeddict_def(self, cls: type) -> Dict[str, Any]:
        hints = typing.get_type_hints(cls, include_extras=True)
        excluded = self._excluded(cls)
        fields: Dict[str, Node] = {}
        required: List[str] = []
        for key, hint in hints.items():
            if key in excluded:
                continue
            tp, explicit, alias = _strip(hint)
            name = alias or key
            fields[name] = self.node(tp)
            if explicit if explicit is not None else _declared_total(cls, key):
                required.append(name)
        out: Dict[str, Any] = {"fields": fields, "required": required}
        config = getattr(cls, "__pydantic_config__", None) or {}
        if config.get("extra") == "allow":
            out["open"] = True
        return out

    def node(self, tp: Any) -> Node:
        tp, _, _ = _strip(tp)
        primitives = _RESPONSE_PRIMITIVES if self.models else _PRIMITIVES
        if tp in primitives:
            return primitives[tp]
        if te.is_typeddict(tp) or (self.models and _is_model(tp)):
            return self.typeddict(tp)
        origin, args = te.get_origin(tp), te.get_args(tp)
        if origin is typing.Literal or origin is te.Literal:
            return {"enum": list(args)}
        if origin is typing.Union:
            return self.union(args)
        if origin in _LIST_ORIGINS:
            return {"list": self.node(args[0]) if args else "any"}
        if origin in _MAP_ORIGINS:
            value = self.node(args[1]) if len(args) == 2 else "any"
            return {"map": value} if value != "any" else "any_map"
        if tp is dict or tp is collections.abc.Mapping:
            return "any_map"
        if tp is list:
            return {"list": "any"}
        raise TypeError(f"unsupported SDK type {tp!r}")

    def union(self, args: Tuple[Any, ...]) -> Node:
        members: List[Any] = []
        for arg in args:  # flatten Annotated[Union[...], UnionDiscriminator(...)] members
            arg, _, _ = _strip(arg)
            members.extend(te.get_args(arg) if te.get_origin(arg) is typing.Union else [arg])
        nullable = type(None) in members
        members = [m for m in members if m is not type(None) and not _skip_member(m, self.models)]
        nodes = [self.node(m) for m in members]
        if "any" in nodes:
            return "any"
        if "str" in nodes:  # Union[str, Literal["a", ...]] (e.g. ModelParam) accepts any string
            nodes = [n for n in nodes if not _is_str_enum(n)]
        if "any_map" in nodes:  # Union[SomeTypedDict, Dict[str, object]]: every object passes
            nodes = [n for n in nodes if not _is_object_node(n)]
            nodes.append("any_map")
        typed = [m for m in members if te.is_typeddict(m) or (self.models and _is_model(m))]
        if len(typed) >= 2 and not _has_object_nodes(nodes, typed):
            grouped = self._discriminated(typed)
            if grouped is not None:
                typed_ids = {id(m) for m in typed}
                nodes = [n for n in nodes if not (isinstance(n, dict) and id(n.get("ref")) in typed_ids)]
                nodes.append(grouped)
        unique: List[Node] = []
        for n in nodes:
            if n not in unique:
                unique.append(n)
        node = unique[0] if len(unique) == 1 else {"union": unique}
        return {"nullable": node} if nullable else node

    def _discriminated(self, members: List[type]) -> Node | None:
        """Several TypedDicts in one union: pydantic-style ``type`` tags when every member has one,
        else a key whose Literal values tell the members apart (``role`` for ``MessageParam``)."""
        tags = [_literal_key(m, TAG) for m in members]
        if all(t is not None for t in tags):
            cases: List[List[Any]] = []
            default: List[Any] | None = None
            for m, tag in zip(members, tags):
                assert tag is not None
                values, optional = tag
                self.typeddict(m)
                cases.extend([v, m] for v in values)
                if optional:
                    if default is not None:
                        raise TypeError(f"two union members with an optional {TAG!r}: {default[1]}, {m}")
                    default = [values[0], m]
            _check_disjoint(cases, members)
            node: Dict[str, Any] = {"tagged": TAG, "cases": cases}
            if default:
                node["default"] = default
            return node
        for key in _field_hints(members[0]):
            keyed = [_literal_key(m, key) for m in members]
            if all(k is not None and not k[1] for k in keyed):
                cases = [[v, m] for m, k in zip(members, keyed) if k is not None for v in k[0]]
                if _distinct(cases):
                    for m in members:
                        self.typeddict(m)
                    return {"keyed": key, "cases": cases}
        print(f"warning: no discriminating key in {[m.__name__ for m in members]}; left untagged", file=sys.stderr)
        return None


def _is_model(tp: Any) -> bool:
    """An SDK response model (a pydantic ``BaseModel``)."""
    return isinstance(tp, type) and any(c.__name__ == "BaseModel" and c.__module__.startswith("pydantic") for c in tp.__mro__)


def _model_fields(cls: type) -> Dict[str, Any]:
    return dict(getattr(cls, "model_fields"))


def _field_hints(cls: type) -> Dict[str, Any]:
    if _is_model(cls):
        return {key: info.annotation for key, info in _model_fields(cls).items()}
    return typing.get_type_hints(cls, include_extras=True)


def _literal_key(cls: type, key: str) -> Tuple[List[Any], bool] | None:
    """(values of ``cls``'s Literal ``key``, whether the key may be absent or null) or None."""
    hints = _field_hints(cls)
    if key not in hints:
        return None
    tp, explicit, _ = _strip(hints[key])
    if _is_model(cls):
        optional = not _model_fields(cls)[key].is_required()
    else:
        optional = not (explicit if explicit is not None else _declared_total(cls, key))
    if te.get_origin(tp) is typing.Union:  # ``type: Optional[Literal["custom"]]``
        args = [a for a in te.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            return None
        tp, optional = args[0], True
    if te.get_origin(tp) is not typing.Literal:
        return None
    return list(te.get_args(tp)), optional


def _distinct(cases: List[List[Any]]) -> bool:
    return len({repr(tag) for tag, _ in cases}) == len(cases)


def _check_disjoint(cases: List[List[Any]], members: List[type]) -> None:
    if not _distinct(cases):
        raise TypeError(f"duplicate {TAG!r} tags among {members}")


def _skip_member(tp: Any, models: bool = False) -> bool:
    """Union members with no request-JSON form of their own (see ``_NON_JSON``) and, in requests,
    SDK response models (pydantic ``BaseModel``: ``ContentBlock`` objects the SDK lets you pass
    back, which it serialises to the matching ``*Param`` shape already in the union)."""
    origin = te.get_origin(tp) or tp
    if isinstance(origin, type) and issubclass(origin, _NON_JSON):
        return True
    return not models and _is_model(tp)


def _is_str_enum(node: Node) -> bool:
    return isinstance(node, dict) and "enum" in node and all(isinstance(v, str) for v in node["enum"])


def _is_object_node(node: Node) -> bool:
    return node == "any_map" or (isinstance(node, dict) and ("ref" in node or "map" in node))


def _has_object_nodes(nodes: List[Node], tagged: List[type]) -> bool:
    """True when an object-kind member other than the tagged TypedDicts remains (e.g. a map)."""
    tagged_ids = {id(m) for m in tagged}
    return any(
        _is_object_node(n) and not (isinstance(n, dict) and id(n.get("ref")) in tagged_ids)
        for n in nodes
    )


# ---------------------------------------------------------------------------------------------
# Naming and serialisation.


def _def_names(classes: List[type]) -> Dict[type, str]:
    """Class name where unique; otherwise the module path under ``anthropic.types`` plus the name."""
    by_name: Dict[str, List[type]] = {}
    for cls in classes:
        by_name.setdefault(cls.__name__, []).append(cls)
    names: Dict[type, str] = {}
    for name, group in by_name.items():
        for cls in group:
            if len(group) == 1:
                names[cls] = name
            else:
                module = cls.__module__.removeprefix("anthropic.types.").removeprefix("anthropic.types")
                names[cls] = f"{module}.{name}" if module else name
    return names


def _resolve(node: Node, names: Dict[type, str]) -> Node:
    """Swap class objects for def names, and spell the internal ``any_map`` marker as a map."""
    if node == "any_map":
        return {"map": "any"}
    if isinstance(node, str):
        return node
    if "ref" in node:
        return {"ref": names[node["ref"]]}
    if "tagged" in node or "keyed" in node:
        kind = "tagged" if "tagged" in node else "keyed"
        out = {kind: node[kind], "cases": [[tag, names[cls]] for tag, cls in node["cases"]]}
        if "default" in node:
            out["default"] = [node["default"][0], names[node["default"][1]]]
        return out
    if "union" in node:
        return {"union": [_resolve(n, names) for n in node["union"]]}
    if "enum" in node:
        return node
    (kind, inner), = node.items()
    return {kind: _resolve(inner, names)}


def _reachable(roots: Dict[str, Any], defs: Dict[str, Any]) -> Dict[str, Any]:
    """Drop defs no root reaches (bases only used through ``+stream``, TypedDicts absorbed by a map)."""
    seen: set[str] = set()
    todo: List[Any] = [roots]
    while todo:
        for name in _ref_names(todo.pop()):
            if name not in seen:
                seen.add(name)
                todo.append(defs[name]["fields"])
    return {name: d for name, d in defs.items() if name in seen}


def _ref_names(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _ref_names(item)
    elif isinstance(node, dict):
        if isinstance(node.get("ref"), str):
            yield node["ref"]
        for _, name in node.get("cases", []) + ([node["default"]] if "default" in node else []):
            yield name
        for key, value in node.items():
            if key not in ("ref", "cases", "default"):
                yield from _ref_names(value)


def build() -> Dict[str, Any]:
    """The whole schema document, JSON-ready."""
    import anthropic

    gen = Generator()
    root_nodes: Dict[str, Tuple[type, RootSpec, List[str]]] = {}
    excluded_report: Dict[str, List[str]] = {}
    for root, spec in ROOTS.items():
        if spec.retired and not _has_module(spec.params):
            continue
        cls = _import(spec.params)
        split = _method_body_split(spec.resource, spec.resource_class, spec.method)
        hints = typing.get_type_hints(cls, include_extras=True)
        wire = {(_strip(h)[2] or k): k for k, h in hints.items()}  # body key -> TypedDict key
        keys = set(wire)
        # TypedDict keys of the header parameters (older SDKs alias ``betas`` as ``anthropic-beta``)
        headers = sorted(wire[k] for k in keys - set(split.body_keys))
        stray = [k for k in headers if k not in split.header_params]
        if stray:
            raise RuntimeError(f"{root}: {stray} are neither in body={{}} nor in a header dict; review by hand")
        missing = set(split.body_keys) - keys - {k for k, _ in spec.extra_fields}
        if missing:
            raise RuntimeError(f"{root}: body keys {sorted(missing)} have no type in {spec.params}")
        gen.header_keys[cls] = gen.header_keys.get(cls, frozenset()) | frozenset(headers)
        excluded_report[root] = headers
        root_nodes[root] = (cls, spec, headers)

    for cls, _, _ in root_nodes.values():
        gen.typeddict(cls)
    names = _def_names(list(gen.defs))
    defs: Dict[str, Any] = {}
    for cls, d in gen.defs.items():
        out = dict(d, fields={k: _resolve(n, names) for k, n in d["fields"].items()})
        defs[names[cls]] = out
    roots: Dict[str, Any] = {}
    for root, (cls, spec, _) in root_nodes.items():
        if spec.extra_fields:  # the body adds keys the params TypedDict lacks: a root-only def
            name = f"{names[cls]}+{'+'.join(k for k, _ in spec.extra_fields)}"
            base = defs[names[cls]]
            defs[name] = dict(base, fields={**base["fields"], **dict(spec.extra_fields)})
            roots[root] = {"ref": name}
        else:
            roots[root] = {"ref": names[cls]}
    defs = _reachable(roots, defs)
    return {
        "sdk_version": anthropic.__version__,
        "older": {version: [older_file(r) for r in releases] for version, releases in OLDER_RELEASES.items()},
        "header_fields": excluded_report,
        "roots": roots,
        "defs": defs,
    }


def build_responses() -> Dict[str, Any]:
    """The response schema document (:data:`RESPONSE_ROOTS`), JSON-ready."""
    import anthropic

    gen = Generator(models=True)
    classes = {root: _import(path) for root, path in RESPONSE_ROOTS.items()}
    for cls in classes.values():
        gen.typeddict(cls)
    names = _def_names(list(gen.defs))
    defs = {names[cls]: dict(d, fields={k: _resolve(n, names) for k, n in d["fields"].items()}) for cls, d in gen.defs.items()}
    roots = {root: {"ref": names[cls]} for root, cls in classes.items()}
    return {"sdk_version": anthropic.__version__, "roots": roots, "defs": _reachable(roots, defs)}


def dumps(doc: Dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def older_file(release: str) -> str:
    """File name (beside ``schema.json``) of an older release's schema."""
    return f"schema-anthropic-{release}.json"


def release_site(release: str) -> Path:
    """A folder holding ``anthropic==release`` and its dependencies, installed once."""
    target = RELEASE_CACHE / f"anthropic-{release}"
    stamp = target / ".complete"
    if not stamp.exists():
        import shutil
        import subprocess

        shutil.rmtree(target, ignore_errors=True)
        # pip's stderr only warns that this folder's anthropic differs from the venv's: kept quiet
        # unless the install fails.
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(target),
             "--cache-dir", str(ROOT / ".cache" / "pip"), f"anthropic=={release}"],
            stderr=subprocess.PIPE, text=True,
        )
        if done.returncode:
            raise RuntimeError(f"pip install anthropic=={release} failed:\n{done.stderr}")
        stamp.touch()
    return target


def build_release(release: str) -> str:
    """``dumps(build())`` for an older SDK release, run where that release shadows the installed one."""
    import subprocess

    site = release_site(release)
    code = "from mockserver.protocol import schema_gen; import sys; sys.stdout.write(schema_gen.dumps(schema_gen.build()))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    text = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, encoding="utf-8", env=env, cwd=ROOT
    ).stdout
    doc = json.loads(text)
    if doc["sdk_version"] != release:
        raise RuntimeError(f"expected anthropic {release} from {site}, imported {doc['sdk_version']}")
    doc.pop("older", None)  # only the newest schema lists the older ones
    return dumps(doc)


def main(argv: List[str] | None = None) -> int:
    outputs = [(OUTPUT, dumps(build())), (RESPONSE_OUTPUT, dumps(build_responses()))]
    for releases in OLDER_RELEASES.values():
        outputs.extend((OUTPUT.parent / older_file(r), build_release(r)) for r in releases)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    for path, text in outputs:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

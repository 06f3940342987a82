"""YAML in and out: the C loader/dumper when PyYAML has libyaml, plus the tags other recorders write.

Foreign cassettes carry tags that ``yaml.safe_load`` rejects: Ruby's local ``!binary`` (plain
base64), aiohttp's ``!!python/object/apply:multidict._multidict.istr [Name]`` header keys, and
Ruby object tags. They get constructors here, never regular expressions over YAML text.
"""

from __future__ import annotations

import base64
from typing import Any

import yaml

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class CassetteLoader(_BaseLoader):  # type: ignore[misc]  # the C loader when PyYAML has one
    """Safe loading plus the foreign tags seen in real cassettes (nothing executes)."""


def _ruby_binary(loader: Any, node: yaml.Node) -> bytes:
    return base64.b64decode("".join(loader.construct_scalar(node).split()))


def _python_apply(loader: Any, suffix: str, node: yaml.Node) -> Any:
    """``multidict.istr`` (a case-insensitive str) and friends: keep the single string argument."""
    if isinstance(node, yaml.SequenceNode):
        args = loader.construct_sequence(node, deep=True)
        if len(args) == 1 and isinstance(args[0], (str, bytes)):
            return args[0]
    raise yaml.constructor.ConstructorError(None, None, f"unsupported tag python/object/apply:{suffix}", node.start_mark)


def _generic(loader: Any, suffix: str, node: yaml.Node) -> Any:
    """Ruby object tags (``!ruby/object:…``, ``!ruby/string``…): the plain value underneath."""
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


CassetteLoader.add_constructor("!binary", _ruby_binary)
CassetteLoader.add_multi_constructor("tag:yaml.org,2002:python/object/apply:", _python_apply)
CassetteLoader.add_multi_constructor("!ruby/", _generic)
CassetteLoader.add_multi_constructor("tag:yaml.org,2002:ruby/", _generic)


def load(text: str | bytes) -> Any:
    return yaml.load(text, Loader=CassetteLoader)  # noqa: S506 - a safe loader with data-only constructors


class CassetteDumper(_BaseDumper):  # type: ignore[misc]  # the C dumper when PyYAML has one
    """Block style, wire key order, multi-line strings as literal blocks, long lines unfolded."""


def _str(dumper: Any, value: str) -> yaml.Node:
    style = "|" if "\n" in value and not value.endswith((" ", "\t")) else None
    node: yaml.Node = dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)
    return node


CassetteDumper.add_representer(str, _str)


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=CassetteDumper, sort_keys=False, allow_unicode=True, width=100_000, default_flow_style=False)


def dump_flow(data: Any) -> str:
    """``data`` as one flow collection (``{…}``): cut short anywhere before its closing bracket it
    is no longer YAML, which is what makes an appended record's interrupted write detectable."""
    return yaml.dump(data, Dumper=CassetteDumper, sort_keys=False, allow_unicode=True, width=100_000, default_flow_style=True)

"""Typed reads of a parsed YAML/JSON tree that know where they are, for precise load errors."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from mockserver.scenarios.errors import ScenarioError

MISSING: Any = object()


@dataclass
class Where:
    """The file and the rule being read (the rule is filled in once its name is known)."""

    source: str
    rule: str | None = None


class Node:
    """A value and its path inside a rule (``sequence[1].error.status``)."""

    __slots__ = ("value", "path", "where")

    def __init__(self, value: Any, path: str, where: Where) -> None:
        self.value = value
        self.path = path
        self.where = where

    def error(self, problem: str) -> ScenarioError:
        return ScenarioError(problem, source=self.where.source, rule=self.where.rule, field=self.path or None)

    def child(self, key: str | int) -> "Node":
        value = self.value[key] if isinstance(self.value, (dict, list)) else MISSING
        path = f"{self.path}[{key}]" if isinstance(key, int) else (f"{self.path}.{key}" if self.path else str(key))
        return Node(value, path, self.where)

    # -- shapes ----------------------------------------------------------------------------------
    def mapping(self, allowed: Iterable[str] | None = None, *, required: Iterable[str] = ()) -> dict[str, "Node"]:
        if not isinstance(self.value, dict):
            raise self.error(f"must be a mapping, not {_kind(self.value)}")
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
            raise self.error(f"must be a list, not {_kind(self.value)}")
        for i in range(len(self.value)):
            yield self.child(i)

    def list_of_strings(self) -> list[str]:
        """A string or a list of strings, as a list."""
        if isinstance(self.value, str):
            return [self.value]
        return [item.string() for item in self.items()]

    # -- scalars ---------------------------------------------------------------------------------
    def string(self, *, nonempty: bool = False) -> str:
        if not isinstance(self.value, str):
            raise self.error(f"must be a string, not {_kind(self.value)}")
        if nonempty and not self.value:
            raise self.error("must not be empty")
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"must be true or false, not {_kind(self.value)}")
        return self.value

    def integer(self, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"must be an integer{_range(minimum, maximum)}, not {_kind(value)}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.error(f"must be an integer{_range(minimum, maximum)}, not {value}")
        return value

    def number(self, *, minimum: float | None = None, maximum: float | None = None) -> float:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(f"must be a number{_range(minimum, maximum)}, not {_kind(value)}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.error(f"must be a number{_range(minimum, maximum)}, not {value}")
        return float(value)

    def choice(self, allowed: Iterable[str]) -> str:
        options = list(allowed)
        if self.value not in options:
            raise self.error(f"must be one of {', '.join(options)}, not {self.value!r}")
        return str(self.value)


def _range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def _kind(value: Any) -> str:
    if value is MISSING:
        return "nothing"
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )

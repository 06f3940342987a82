"""A value that validates against a JSON Schema: the fake model's tool inputs and structured outputs.

Covers the schema keywords tool definitions use in practice ($ref/$defs, allOf/anyOf/oneOf, enum,
const, typed objects/arrays/strings/numbers with their bounds, common string formats). A
``pattern`` is honoured when one of a few candidate strings matches it (tested with RE2, which
takes linear time whatever the pattern); otherwise the plain value is used (documented limitation).

The work is bounded whatever the schema asks for (it comes from the request, so from anyone):
at most :data:`MAX_ITEMS` items in an array, :data:`MAX_STRING` characters in a string,
:data:`MAX_DEPTH` levels, and :data:`MAX_VALUES` values and :data:`MAX_CHARS` characters of
strings in all. A schema whose smallest valid value does not fit gets a value cut to fit, and
:attr:`SchemaValue.cut` says why (structured output refuses such a schema; docs/protocol.md).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import re2

WORDS = (
    "alpha", "amber", "basil", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo",
    "juniper", "kestrel", "lumen", "meadow", "nimbus", "orchid", "pebble", "quartz", "river",
    "sierra", "tundra", "umber", "violet", "willow", "yarrow", "zephyr",
)
FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
MAX_DEPTH = 8
MAX_ITEMS = 100
"""Items in one generated array (``minItems`` above it cannot be met)."""
MAX_STRING = 4096
"""Characters in one generated string (``minLength`` above it cannot be met)."""
MAX_VALUES = 10_000
"""Values (objects, arrays, scalars) in one generated instance."""
MAX_CHARS = 100_000
"""Characters of all the strings in one generated instance."""
INT64 = (-(2**63), 2**63 - 1)
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # an invalid pattern is the request's business, not the server log's


@dataclass
class SchemaValue:
    value: Any
    cut: str | None = None
    """Why the value may not validate (a limit above was reached), or ``None`` when it is whole."""


class SchemaInstance:
    def __init__(self, root: dict[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.values_left = MAX_VALUES
        self.chars_left = MAX_CHARS
        self.cut: str | None = None

    def _cut(self, reason: str) -> None:
        if self.cut is None:
            self.cut = reason

    @property
    def exhausted(self) -> bool:
        return self.values_left <= 0 or self.chars_left <= 0

    def _too_large(self) -> None:
        self._cut(f"the schema's smallest valid value is too large to generate (over {MAX_VALUES} values or {MAX_CHARS} characters)")

    def resolve(self, schema: Any) -> Any:
        seen = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
            ref = schema["$ref"]
            target: Any = self.root
            if ref.startswith("#"):
                for part in ref.lstrip("#/").split("/"):
                    if not part:
                        continue
                    part = part.replace("~1", "/").replace("~0", "~")
                    target = target.get(part) if isinstance(target, dict) else None
            else:
                target = {}
            merged = dict(target) if isinstance(target, dict) else {}
            merged.update({k: v for k, v in schema.items() if k != "$ref"})
            schema = merged
            seen += 1
        return schema

    def value(self, schema: Any, depth: int = 0, key: str = "") -> Any:
        if self.exhausted:
            self._too_large()
            return None
        self.values_left -= 1
        schema = self.resolve(schema)
        if not isinstance(schema, dict) or depth > MAX_DEPTH:
            return None if depth > MAX_DEPTH else self._word()
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.rng.choice(schema["enum"])
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                part = self.resolve(part)
                if isinstance(part, dict):
                    for k, v in part.items():
                        if k == "properties" and isinstance(v, dict):
                            merged.setdefault("properties", {}).update(v)
                        elif k == "required" and isinstance(v, list):
                            merged.setdefault("required", []).extend(v)
                        else:
                            merged.setdefault(k, v)
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return self.value({**merged, **rest}, depth + 1, key)
        for union in ("anyOf", "oneOf"):
            options = schema.get(union)
            if isinstance(options, list) and options:
                non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
                return self.value((non_null or options)[0], depth + 1, key)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        return getattr(self, f"_{kind}", self._string)(schema, depth, key)

    def _word(self) -> str:
        return self.rng.choice(WORDS)

    def _null(self, schema: dict[str, Any], depth: int, key: str) -> None:
        return None

    def _boolean(self, schema: dict[str, Any], depth: int, key: str) -> bool:
        return self.rng.random() < 0.5

    def _string(self, schema: dict[str, Any], depth: int, key: str) -> str:
        fmt = schema.get("format")
        text = FORMATS.get(fmt) if isinstance(fmt, str) else None
        if text is None:
            text = f"{key[:80].replace('_', ' ')} {self._word()}".strip() if key else self._word()
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            text = self._matching(pattern, text)
        low = _count(schema.get("minLength"), 0)
        high = _count(schema.get("maxLength"), None)
        if low > MAX_STRING:
            self._cut(f"For 'string' type, 'minLength' values above {MAX_STRING} are not supported")
            low = MAX_STRING
        if len(text) < low:
            text += "x" * (low - len(text))
        if high is not None and len(text) > high:
            text = text[: max(high, low)]
        if len(text) > self.chars_left:
            text = text[: max(self.chars_left, 0)]
            self._too_large()
        self.chars_left -= len(text)
        return text

    def _matching(self, pattern: str, fallback: str) -> str:
        try:
            compiled = re2.compile(pattern, _RE2_OPTIONS)
        except re2.error:
            return fallback
        for candidate in (fallback, fallback.replace(" ", "_"), self._word(), "a", "A1", "abc123", "1", "2026-01-01", "user@example.com"):
            if compiled.search(candidate):
                return candidate
        return fallback

    def _number(self, schema: dict[str, Any], depth: int, key: str) -> float | int:
        return self._numeric(schema, integer=False)

    def _integer(self, schema: dict[str, Any], depth: int, key: str) -> int:
        return int(self._numeric(schema, integer=True))

    def _bounded_number(self, schema: dict[str, Any], *, integer: bool) -> float | int:
        def bound(name: str) -> float | None:
            v = schema.get(name)
            return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

        nudge = 1 if integer else 1e-6
        low, above = bound("minimum"), bound("exclusiveMinimum")
        if above is not None:
            low = above + nudge
        high, below = bound("maximum"), bound("exclusiveMaximum")
        if below is not None:
            high = below - nudge
        low = low if low is not None else (high - 100 if high is not None else 1)
        high = high if high is not None else low + 100
        step = bound("multipleOf")
        if step and step > 0:
            value = math.ceil(low / step) * step
            value = value if value <= high else low
            return int(value) if integer else value
        if integer:
            lo, hi = math.ceil(low), math.floor(high)
            return self.rng.randint(lo, hi) if lo <= hi else lo
        return min(max(round(self.rng.uniform(low, high), 2), low), high)

    def _numeric(self, schema: dict[str, Any], *, integer: bool) -> float | int:
        try:
            value = self._bounded_number(schema, integer=integer)
        except (ArithmeticError, ValueError):  # bounds too large for a float (10**400), a zero step
            value = 0
            self._cut("For 'number' type, bounds this large are not supported")
        if isinstance(value, float) and not math.isfinite(value):
            value = 0.0
            self._cut("For 'number' type, bounds this large are not supported")
        if isinstance(value, int) and not INT64[0] <= value <= INT64[1]:  # JSON encoding stops at 64 bits
            value = min(max(value, INT64[0]), INT64[1])
            self._cut("For 'integer' type, values beyond the 64-bit range are not supported")
        return value

    def _array(self, schema: dict[str, Any], depth: int, key: str) -> list[Any]:
        prefix: list[Any] = schema["prefixItems"] if isinstance(schema.get("prefixItems"), list) else []
        items = schema.get("items", {})
        low = _count(schema.get("minItems"), 1)
        if low > MAX_ITEMS:
            # The API's own words for a structured-output schema with such a minItems.
            self._cut("For 'array' type, 'minItems' values other than 0 or 1 are not supported")
            low = MAX_ITEMS
        high = _count(schema.get("maxItems"), max(low, 2))
        count = min(max(low, min(high, self.rng.randint(max(low, 1), max(low, 2)), len(prefix))), MAX_ITEMS)
        out: list[Any] = []
        while len(out) < count:
            if self.exhausted:
                if len(out) < low:
                    self._too_large()
                break
            at = len(out)
            out.append(self.value(prefix[at] if at < len(prefix) else items if isinstance(items, dict) else {}, depth + 1, key))
        if schema.get("uniqueItems"):
            unique: list[Any] = []
            for v in out:
                if v not in unique:
                    unique.append(v)
            out = unique
        return out

    def _object(self, schema: dict[str, Any], depth: int, key: str) -> dict[str, Any]:
        properties: dict[str, Any] = schema["properties"] if isinstance(schema.get("properties"), dict) else {}
        required = [r for r in schema.get("required", []) if isinstance(r, str)] if isinstance(schema.get("required"), list) else []
        out: dict[str, Any] = {}
        wanted = set(required)
        for name, sub in properties.items():
            if self.exhausted:
                break  # a required one left out is reported below
            if name in wanted or (depth < 2 and self.rng.random() < 0.5):
                out[name] = self.value(sub, depth + 1, name)
        for name in required:
            if name not in out:
                if self.exhausted:
                    self._too_large()
                    return out
                out[name] = self.value({}, depth + 1, name)
        low = _count(schema.get("minProperties"), 0)
        extra = schema.get("additionalProperties")
        i = 0
        while len(out) < low and extra is not False:
            if self.exhausted:
                self._too_large()
                break
            out[f"extra_{i}"] = self.value(extra if isinstance(extra, dict) else {}, depth + 1, "")
            i += 1
        return out


def _count(value: Any, default: Any) -> Any:
    """A schema's ``minItems``-like count: a non-negative int (``bool`` is not one), else ``default``."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def generate(schema: Any, rng: random.Random) -> SchemaValue:
    """A value for ``schema`` (a JSON Schema dict) drawn from ``rng``, within the limits above,
    and why it may not validate when a limit cut it."""
    root = schema if isinstance(schema, dict) else {}
    maker = SchemaInstance(root, rng)
    value = maker.value(root)
    return SchemaValue(value, maker.cut)


def instance(schema: Any, rng: random.Random) -> Any:
    """A value valid against ``schema`` (a JSON Schema dict), drawn from ``rng`` (cut to the limits
    above when the schema asks for more)."""
    return generate(schema, rng).value

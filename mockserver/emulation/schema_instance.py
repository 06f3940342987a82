"""A value that validates against a JSON Schema: the fake model's tool inputs and structured outputs.

Covers the schema keywords tool definitions use in practice ($ref/$defs, allOf/anyOf/oneOf, enum,
const, typed objects/arrays/strings/numbers with their bounds, common string formats). A
``pattern`` is honoured when one of a few candidate strings matches it; otherwise the plain
value is used (documented limitation).
"""

from __future__ import annotations

import math
import random
import re
from typing import Any

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


class SchemaInstance:
    def __init__(self, root: dict[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

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
            text = f"{key.replace('_', ' ')} {self._word()}".strip() if key else self._word()
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            text = self._matching(pattern, text)
        low = schema.get("minLength") if isinstance(schema.get("minLength"), int) else 0
        high = schema.get("maxLength") if isinstance(schema.get("maxLength"), int) else None
        while len(text) < low:
            text += "x"
        if high is not None and len(text) > high:
            text = text[: max(high, low)]
        return text

    def _matching(self, pattern: str, fallback: str) -> str:
        try:
            compiled = re.compile(pattern)
        except re.error:
            return fallback
        for candidate in (fallback, fallback.replace(" ", "_"), self._word(), "a", "A1", "abc123", "1", "2026-01-01", "user@example.com"):
            if compiled.search(candidate):
                return candidate
        return fallback

    def _number(self, schema: dict[str, Any], depth: int, key: str) -> float | int:
        return self._numeric(schema, integer=False)

    def _integer(self, schema: dict[str, Any], depth: int, key: str) -> int:
        return int(self._numeric(schema, integer=True))

    def _numeric(self, schema: dict[str, Any], *, integer: bool) -> float | int:
        def bound(name: str) -> float | None:
            v = schema.get(name)
            return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

        nudge = 1 if integer else 1e-6
        low = bound("minimum")
        if bound("exclusiveMinimum") is not None:
            low = bound("exclusiveMinimum") + nudge  # type: ignore[operator]
        high = bound("maximum")
        if bound("exclusiveMaximum") is not None:
            high = bound("exclusiveMaximum") - nudge  # type: ignore[operator]
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

    def _array(self, schema: dict[str, Any], depth: int, key: str) -> list[Any]:
        prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else []
        items = schema.get("items", {})
        low = schema.get("minItems") if isinstance(schema.get("minItems"), int) else 1
        high = schema.get("maxItems") if isinstance(schema.get("maxItems"), int) else max(low, 2)
        count = max(low, min(high, self.rng.randint(max(low, 1), max(low, 2)), len(prefix)))
        out = [self.value(s, depth + 1, key) for s in prefix[:count]]
        while len(out) < count:
            out.append(self.value(items if isinstance(items, dict) else {}, depth + 1, key))
        if schema.get("uniqueItems"):
            unique: list[Any] = []
            for v in out:
                if v not in unique:
                    unique.append(v)
            out = unique
        return out

    def _object(self, schema: dict[str, Any], depth: int, key: str) -> dict[str, Any]:
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = [r for r in schema.get("required", []) if isinstance(r, str)] if isinstance(schema.get("required"), list) else []
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            if name in required or (depth < 2 and self.rng.random() < 0.5):
                out[name] = self.value(sub, depth + 1, name)
        for name in required:
            if name not in out:
                out[name] = self.value({}, depth + 1, name)
        low = schema.get("minProperties") if isinstance(schema.get("minProperties"), int) else 0
        extra = schema.get("additionalProperties")
        i = 0
        while len(out) < low and extra is not False:
            out[f"extra_{i}"] = self.value(extra if isinstance(extra, dict) else {}, depth + 1, "")
            i += 1
        return out


def instance(schema: Any, rng: random.Random) -> Any:
    """A value valid against ``schema`` (a JSON Schema dict), drawn from ``rng``."""
    root = schema if isinstance(schema, dict) else {}
    return SchemaInstance(root, rng).value(root)

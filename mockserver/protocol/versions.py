"""The ``anthropic-version`` values the API knows (docs/protocol.md)."""

LATEST_VERSION = "2026-10-21"
LEGACY_VERSION = "2023-06-01"
KNOWN_VERSIONS = frozenset({LEGACY_VERSION, LATEST_VERSION})

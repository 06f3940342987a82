"""The request journal: what each client asked and what it was answered (docs/scenarios.md)."""

from mockserver.journal.journal import Journal, JournalEntry, parse_sse

__all__ = ["Journal", "JournalEntry", "parse_sse"]

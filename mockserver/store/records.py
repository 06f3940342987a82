"""The records the store keeps for features (plain data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

ARCHIVE_AFTER = 29 * 86_400.0  # batch results are downloadable for 29 days after creation
RESULT_KINDS = ("succeeded", "errored", "canceled", "expired")


@dataclass(slots=True)
class BatchRow:
    """One batch as stored: times are epoch seconds; counts are of finished requests."""

    seq: int
    id: str
    beta: bool
    api_version: str | None
    anthropic_beta: str | None
    request_id: str
    created_at: float
    expires_at: float
    ended_at: float | None
    cancel_initiated_at: float | None
    status: str  # in_progress | canceling | ended
    total: int
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0
    namespace: str = "default"

    @property
    def finished(self) -> int:
        return self.succeeded + self.errored + self.canceled + self.expired

    @property
    def ended(self) -> bool:
        return self.status == "ended"

    def archived(self, now: float) -> bool:
        return self.ended and now >= self.created_at + ARCHIVE_AFTER


@dataclass(slots=True)
class FileRow:
    """One stored file (Files API) without its content: times are epoch seconds; ``facts`` is
    what its bytes told when it was stored (JSON, mockserver/protocol/media.py ``FileFacts``)."""

    seq: int
    id: str
    filename: str
    mime_type: str
    size_bytes: int
    created_at: float
    expires_at: float | None
    downloadable: bool
    sha256: str
    facts: bytes = b"{}"

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

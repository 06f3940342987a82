"""The wire objects of Message Batches: the ``message_batch`` object and the JSONL result lines.

Shapes and key order are the real API's (docs/reference/anthropic-api.md §8, recordings in
tests/data/realworld/crmne__ruby_llm/batch_*.yml): timestamps with microseconds and ``+00:00``,
``results_url`` only once the batch has ended, and request counts other than ``processing`` at 0
until the batch ends (the SDK's docstrings: "This is zero until processing of the entire Message
Batch has ended"). Pure functions, no I/O.
"""

from __future__ import annotations

from typing import Any

import orjson

from mockserver.clock import rfc3339
from mockserver.protocol.errors import ApiError, error_body
from mockserver.store.records import ARCHIVE_AFTER, BatchRow

DAY = 86_400.0
EXPIRES_AFTER = 1 * DAY  # unprocessed requests expire 24 h after creation
RETRY_AFTER = "10"  # on a retrieve of a batch still processing, as real polling responses carry it
RESULTS_CONTENT_TYPE = "application/x-jsonl"
# Real errored rows carry this undocumented object inside the inner error (the SDK's error
# objects allow extra fields, so strict validation accepts it).
ERROR_DETAILS = {"error_visibility": "user_facing"}


def new_row(*, batch_id: str, now: float, total: int, beta: bool = False, api_version: str | None = None,
            anthropic_beta: str | None = None, request_id: str = "", namespace: str = "default") -> BatchRow:
    """A batch as created at ``now``: in progress, nothing finished, expiring ``EXPIRES_AFTER`` later."""
    return BatchRow(
        seq=0, id=batch_id, beta=beta, api_version=api_version, anthropic_beta=anthropic_beta,
        request_id=request_id, created_at=now, expires_at=now + EXPIRES_AFTER, ended_at=None,
        cancel_initiated_at=None, status="in_progress", total=total, namespace=namespace,
    )


def results_url(base_url: str, batch_id: str) -> str:
    return f"{base_url}/v1/messages/batches/{batch_id}/results"


def render_batch(row: BatchRow, *, now: float, base_url: str, live_counts: bool = False) -> dict[str, Any]:
    """The ``message_batch`` object, keys in the real API's order."""
    if row.ended or live_counts:
        counts = {
            "processing": row.total - row.finished,
            "succeeded": row.succeeded,
            "errored": row.errored,
            "canceled": row.canceled,
            "expired": row.expired,
        }
    else:
        counts = {"processing": row.total, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    return {
        "id": row.id,
        "type": "message_batch",
        "processing_status": row.status,
        "request_counts": counts,
        "ended_at": _time(row.ended_at),
        "created_at": rfc3339(row.created_at, micro=True),
        "expires_at": rfc3339(row.expires_at, micro=True),
        "archived_at": _time(row.created_at + ARCHIVE_AFTER) if row.archived(now) else None,
        "cancel_initiated_at": _time(row.cancel_initiated_at),
        "results_url": results_url(base_url, row.id) if row.ended else None,
    }


def synthesized_batch(batch_id: str, *, now: float, base_url: str, status: str = "ended") -> dict[str, Any]:
    """A schema-valid batch for an id this server never issued (lenient contract mode only)."""
    row = new_row(batch_id=batch_id, now=now, total=0)
    row.status = status
    row.ended_at = now if status == "ended" else None
    row.cancel_initiated_at = now if status != "in_progress" else None
    return render_batch(row, now=now, base_url=base_url)


def deleted_batch(batch_id: str) -> dict[str, Any]:
    return {"id": batch_id, "type": "message_batch_deleted"}


def _time(ts: float | None) -> str | None:
    return None if ts is None else rfc3339(ts, micro=True)


# -- result lines (one JSONL line each, without the newline) --------------------------------------


def succeeded_line(custom_id: str, message: dict[str, Any]) -> bytes:
    """A succeeded row: the full Message, billed at the batch tier (``usage.service_tier``)."""
    usage = message.get("usage")
    if isinstance(usage, dict) and "service_tier" in usage:
        message = dict(message, usage=dict(usage, service_tier="batch"))
    return orjson.dumps({"custom_id": custom_id, "result": {"type": "succeeded", "message": message}})


def errored_line(custom_id: str, error: ApiError | dict[str, Any]) -> bytes:
    """An errored row carrying the error body the item would have got as a single request.

    ``request_id`` is null, as in real rows for requests that failed before execution."""
    inner = error.error_object() if isinstance(error, ApiError) else dict(error)
    if "details" not in inner:
        inner = {"details": ERROR_DETAILS, **inner}
    body = error_body(inner, None)
    body["request_id"] = None
    return orjson.dumps({"custom_id": custom_id, "result": {"type": "errored", "error": body}})


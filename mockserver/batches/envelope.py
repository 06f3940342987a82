"""The batch envelope: what ``POST /v1/messages/batches`` checks before it accepts a batch.

The real API validates only the envelope when a batch is created (``requests`` 1..100,000
items, each with a unique ``custom_id`` matching ``^[a-zA-Z0-9_-]{1,64}$`` and an object of
``params``); what is *inside* ``params`` is checked later, per item, and a bad item becomes an
``errored`` result rather than a 400. Messages are pydantic v2's, as the API words them
(docs/reference/anthropic-api.md §8; the exact wordings come from live captures an earlier
session noted outside this repository, so they are unconfirmed here; the >100,000 wording is
pydantic's).
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mockserver.protocol.errors import ApiError, invalid_request

MAX_REQUESTS = 100_000
CUSTOM_ID_PATTERN = "^[a-zA-Z0-9_-]{1,64}$"
_CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # fullmatch: "$" would let a trailing newline through
_ITEM_KEYS = ("custom_id", "params")


@dataclass(frozen=True, slots=True)
class BatchItem:
    custom_id: str
    params: dict[str, Any]


def check_envelope(body: Any, *, max_requests: int = MAX_REQUESTS) -> list[BatchItem]:
    """The batch's items, or the first envelope problem as the API's 400 (only one is reported)."""
    if not isinstance(body, dict):
        raise invalid_request("Input should be a valid dictionary")
    if "requests" not in body:
        raise invalid_request("requests: Field required")
    requests = body["requests"]
    if not isinstance(requests, list):
        raise invalid_request("requests: Input should be a valid list")
    if len(requests) > max_requests:
        raise invalid_request(f"requests: List should have at most {max_requests} items after validation, not {len(requests)}")
    items = [_check_item(i, raw) for i, raw in enumerate(requests)]
    if not items:
        raise invalid_request("requests: List should have at least 1 item after validation, not 0")
    for key in body:
        if key != "requests":
            raise invalid_request(f"{key}: Extra inputs are not permitted")
    seen: set[str] = set()
    for item in items:
        if item.custom_id in seen:
            raise invalid_request(
                f"requests: custom_id's must be unique within a batch. Duplicate custom_id found: {item.custom_id}"
            )
        seen.add(item.custom_id)
    return items


def _check_item(index: int, raw: Any) -> BatchItem:
    where = f"requests.{index}"
    if not isinstance(raw, dict):
        raise invalid_request(f"{where}: Input should be a valid dictionary")
    custom_id = raw.get("custom_id")
    if "custom_id" not in raw:
        raise _error(where, "custom_id", "Field required")
    if type(custom_id) is not str:
        raise _error(where, "custom_id", "Input should be a valid string")
    if not custom_id:
        raise _error(where, "custom_id", "String should have at least 1 character")
    if len(custom_id) > 64:
        raise _error(where, "custom_id", "String should have at most 64 characters")
    if not _CUSTOM_ID.fullmatch(custom_id):
        raise _error(where, "custom_id", f"String should match pattern '{CUSTOM_ID_PATTERN}'")
    if "params" not in raw:
        raise _error(where, "params", "Field required")
    params = raw["params"]
    if not isinstance(params, dict):
        raise _error(where, "params", "Input should be a valid dictionary")
    for key in raw:
        if key not in _ITEM_KEYS:
            raise _error(where, key, "Extra inputs are not permitted")
    return BatchItem(custom_id, params)


def _error(where: str, key: str, message: str) -> ApiError:
    return invalid_request(f"{where}.{key}: {message}")

"""Cursor pagination shared by ``GET /v1/models`` and ``GET /v1/messages/batches``.

Items are newest first; ``after_id`` asks for the page right after that item, ``before_id`` for
the page right before it. The page says ``has_more`` in the direction of travel, and its
``first_id``/``last_id`` are the cursors the SDK's auto-pager sends next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TypeVar

from mockserver.protocol.errors import ApiError, invalid_request
from mockserver.protocol.numbers import decimal

T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class PageQuery:
    limit: int = DEFAULT_LIMIT
    before_id: str | None = None
    after_id: str | None = None


def parse_page_query(query: Mapping[str, str], *, lenient: bool = False) -> PageQuery:
    raw = query.get("limit")
    limit = DEFAULT_LIMIT
    if raw is not None:
        read = decimal(raw, signed=True)  # -1 is out of range, not unreadable
        if read is not None:
            limit = read
        elif not lenient:
            raise invalid_request("limit: Input should be a valid integer, unable to parse string as an integer")
        if lenient:
            limit = min(max(limit, 1), MAX_LIMIT)
        elif limit < 1:
            raise invalid_request("limit: Input should be greater than or equal to 1")
        elif limit > MAX_LIMIT:
            raise invalid_request(f"limit: Input should be less than or equal to {MAX_LIMIT}")
    before, after = query.get("before_id") or None, query.get("after_id") or None
    if before and after:
        if not lenient:
            raise invalid_request("Only one of before_id and after_id may be specified.")
        before = None
    return PageQuery(limit, before, after)


def bad_cursor(name: str) -> ApiError:
    """An ``after_id``/``before_id`` naming nothing (the Admin API's documented wording; unconfirmed here)."""
    return invalid_request(f"Invalid pagination cursor for '{name}'")


def paginate(
    items: Sequence[T],
    page: PageQuery,
    id_of: Callable[[T], str],
    render: Callable[[T], Any],
    *,
    lenient: bool = False,
) -> dict[str, Any]:
    ids = [id_of(item) for item in items]

    def index_of(cursor: str, name: str) -> int | None:
        try:
            return ids.index(cursor)
        except ValueError:
            if lenient:
                return None
            raise bad_cursor(name) from None

    if page.after_id is not None:
        at = index_of(page.after_id, "after_id")
        start = 0 if at is None else at + 1
        chosen = items[start : start + page.limit]
        has_more = start + page.limit < len(items)
    elif page.before_id is not None:
        at = index_of(page.before_id, "before_id")
        end = len(items) if at is None else at
        start = max(0, end - page.limit)
        chosen = items[start:end]
        has_more = start > 0
    else:
        chosen = items[: page.limit]
        has_more = len(items) > page.limit
    return page_body(chosen, has_more, id_of, render)


def page_body(items: Sequence[T], has_more: bool, id_of: Callable[[T], str], render: Callable[[T], Any]) -> dict[str, Any]:
    """A page as sent: the rendered items, ``has_more``, and the ``first_id``/``last_id`` cursors."""
    return {
        "data": [render(item) for item in items],
        "has_more": has_more,
        "first_id": id_of(items[0]) if items else None,
        "last_id": id_of(items[-1]) if items else None,
    }

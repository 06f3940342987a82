"""The six Message Batches endpoints, as handlers of the default responder.

Errors are the real API's where they are known (/work/research/errors.md §8):
unknown batch -> 404 ``Message Batch <id> not found.``; results before the batch ends -> 404
``Message Batch <id> has no available results.``; delete while processing -> 400 ``In progress
batches cannot be deleted. Consider canceling the batch instead.``. Unconfirmed, chosen here:
cancel of an ended batch -> 400 (:data:`CANCEL_ENDED`), results of an archived batch -> the same
404 as before it ended. In lenient (contract) mode unknown ids get synthesized, schema-valid
answers and cancel/delete/results work in any state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

import orjson

from mockserver.pipeline.exchange import ApiRequest, BytesReply, JsonReply, Reply
from mockserver.protocol.errors import ApiError, invalid_request, not_found
from mockserver.protocol.pagination import bad_cursor, page_body, parse_page_query
from mockserver.render.delivery import base_headers
from mockserver.batches.envelope import check_envelope
from mockserver.batches.objects import (
    RESULTS_CONTENT_TYPE, RETRY_AFTER, BatchRow, deleted_batch, new_row, reachable_base_url, render_batch, synthesized_batch,
)
from mockserver.batches.store import BatchStore

if TYPE_CHECKING:
    from mockserver.pipeline.root import ServerState

DELETE_IN_PROGRESS = "In progress batches cannot be deleted. Consider canceling the batch instead."
CANCEL_ENDED = "Message Batch {id} has already ended and cannot be canceled."  # unconfirmed wording


def _base_url(api: ApiRequest, state: "ServerState") -> str:
    return reachable_base_url(state.base_url, api.headers.get("host"))


def _renderer(api: ApiRequest, state: "ServerState") -> Callable[[BatchRow], dict[str, Any]]:
    """Renders the batches of one request: one clock reading and one base URL for all of them."""
    now, base_url, live_counts = state.clock.now(), _base_url(api, state), state.batches.live_counts
    return lambda row: render_batch(row, now=now, base_url=base_url, live_counts=live_counts)


def _render(row: BatchRow, api: ApiRequest, state: "ServerState") -> dict[str, Any]:
    return _renderer(api, state)(row)


def _find(api: ApiRequest, state: "ServerState") -> BatchRow | None:
    """The addressed batch; ``None`` only in lenient mode (otherwise the real 404)."""
    batch_id = api.path_params["batch_id"]
    state.batches.nudge()  # any look at a batch lets the processor catch up with the clock
    store = state.batches.store
    row = store.get(batch_id) if store is not None else None
    if row is None and not state.config.lenient:
        raise not_found(f"Message Batch {batch_id} not found.")
    return row


async def create_batch(api: ApiRequest, state: "ServerState") -> Reply:
    items = check_envelope(api.body)
    service = state.batches
    store = service.writable_store()
    batch_id = state.ids.batch()
    while store.has_id(batch_id):  # a seeded server restarted on its own data dir repeats ids
        batch_id = state.ids.batch()
    row = new_row(
        batch_id=batch_id, beta=api.beta, api_version=api.api_version, anthropic_beta=api.headers.get("anthropic-beta"),
        request_id=api.request_id, now=state.clock.now(), total=len(items),
    )
    store.create(row, ((item.custom_id, orjson.dumps(item.params)) for item in items))
    service.processor.add(row)
    return JsonReply(body=_render(row, api, state))


async def retrieve_batch(api: ApiRequest, state: "ServerState") -> Reply:
    row = _find(api, state)
    if row is None:
        return JsonReply(body=synthesized_batch(api.path_params["batch_id"], now=state.clock.now(), base_url=_base_url(api, state)))
    headers = {} if row.ended else {"retry-after": RETRY_AFTER}
    return JsonReply(body=_render(row, api, state), headers=headers)


async def list_batches(api: ApiRequest, state: "ServerState") -> Reply:
    lenient = state.config.lenient
    page = parse_page_query(api.query, lenient=lenient)
    store = state.batches.store
    rows: list[BatchRow] = []
    has_more = False
    if store is None:
        if (page.after_id or page.before_id) and not lenient:
            raise _bad_cursor(page.after_id is not None)
    else:
        found = store.page(limit=page.limit, after_id=page.after_id, before_id=page.before_id)
        if found is None:
            if not lenient:
                raise _bad_cursor(page.after_id is not None)
            found = store.page(limit=page.limit, after_id=None, before_id=None)
            assert found is not None
        rows, has_more = found
    return JsonReply(body=page_body(rows, has_more, _batch_id, _renderer(api, state)))


def _batch_id(row: BatchRow) -> str:
    return row.id


def _bad_cursor(after: bool) -> ApiError:
    return bad_cursor("after_id" if after else "before_id")


async def cancel_batch(api: ApiRequest, state: "ServerState") -> Reply:
    row = _find(api, state)
    now = state.clock.now()
    if row is None:
        return JsonReply(body=synthesized_batch(api.path_params["batch_id"], now=now, base_url=_base_url(api, state), status="canceling"))
    if row.status == "in_progress":
        store = state.batches.store
        assert store is not None
        store.set_canceling(row.seq, now)
        state.batches.processor.canceling(row.seq, now)
        row.status, row.cancel_initiated_at = "canceling", now
    elif row.ended and not state.config.lenient:
        raise invalid_request(CANCEL_ENDED.format(id=row.id))
    return JsonReply(body=_render(row, api, state))


async def delete_batch(api: ApiRequest, state: "ServerState") -> Reply:
    row = _find(api, state)
    if row is None:
        return JsonReply(body=deleted_batch(api.path_params["batch_id"]))
    if not row.ended and not state.config.lenient:
        raise invalid_request(DELETE_IN_PROGRESS)
    store = state.batches.store
    assert store is not None
    state.batches.processor.forget(row.seq)
    store.delete(row.seq)
    return JsonReply(body=deleted_batch(row.id))


async def batch_results(api: ApiRequest, state: "ServerState") -> Reply:
    row = _find(api, state)
    batch_id = api.path_params["batch_id"]
    lenient = state.config.lenient
    if row is not None and not lenient and (not row.ended or row.archived(state.clock.now())):
        raise not_found(f"Message Batch {batch_id} has no available results.")
    headers = base_headers(state, api.request_id, 200, None)
    headers["content-disposition"] = f"attachment; filename*=utf-8''{batch_id}_results.jsonl"
    store = state.batches.store
    body = _stream(store, row.seq) if row is not None and store is not None else b""
    return BytesReply(status=200, body=body, content_type=RESULTS_CONTENT_TYPE, headers=headers)


async def _stream(store: BatchStore, seq: int) -> AsyncIterator[bytes]:
    """The JSONL file, read from the store a page at a time (never a whole batch in memory)."""
    for lines in store.iter_results(seq):
        yield b"\n".join(lines) + b"\n"


HANDLERS = {
    "batches.create": create_batch,
    "batches.retrieve": retrieve_batch,
    "batches.list": list_batches,
    "batches.cancel": cancel_batch,
    "batches.delete": delete_batch,
    "batches.results": batch_results,
}

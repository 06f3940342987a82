"""The six Message Batches endpoints, as handlers of the emulated API (mockserver/emulation/).

Errors are the real API's where they are known (live captures noted outside this repository,
so unconfirmed here; docs/reference/anthropic-api.md §8):
unknown batch -> 404 ``Message Batch <id> not found.``; results before the batch ends -> 404
``Message Batch <id> has no available results.``; delete while processing -> 400 ``In progress
batches cannot be deleted. Consider canceling the batch instead.``. Unconfirmed, chosen here:
cancel of an ended batch -> 400 (:data:`CANCEL_ENDED`), results of an archived batch -> the same
404 as before it ended. In lenient (contract) mode unknown ids get synthesized, schema-valid
answers and cancel/delete/results work in any state.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable

import orjson

from mockserver.batches.envelope import check_envelope
from mockserver.batches.objects import (
    RESULTS_CONTENT_TYPE, RETRY_AFTER, deleted_batch, new_row, render_batch, synthesized_batch,
)
from mockserver.batches.service import BatchService
from mockserver.ids import IdGenerator
from mockserver.pipeline.exchange import ApiRequest, BytesReply, JsonReply, Reply
from mockserver.protocol import endpoints
from mockserver.protocol.errors import ApiError, invalid_request, not_found
from mockserver.protocol.pagination import bad_cursor, page_body, parse_page_query
from mockserver.protocol.urls import reachable_base_url
from mockserver.store.base import BatchRecords
from mockserver.store.records import BatchRow

DELETE_IN_PROGRESS = "In progress batches cannot be deleted. Consider canceling the batch instead."
CANCEL_ENDED = "Message Batch {id} has already ended and cannot be canceled."  # unconfirmed wording
PAGE = 500  # result rows read at a time
JOURNALED_RESULTS = 64 * 1024
"""Bytes of a results download the journal keeps (the rest is sent, not kept)."""


class BatchEndpoints:
    def __init__(self, service: BatchService, ids: IdGenerator, *, lenient: bool, base_url: Callable[[], str]) -> None:
        self.service = service
        self.clock = service.clock
        self.ids = ids
        self.lenient = lenient
        self.base_url = base_url

    def handlers(self) -> dict[str, Callable[[ApiRequest], Any]]:
        return {
            endpoints.BATCHES_CREATE: self.create,
            endpoints.BATCHES_RETRIEVE: self.retrieve,
            endpoints.BATCHES_LIST: self.list,
            endpoints.BATCHES_CANCEL: self.cancel,
            endpoints.BATCHES_DELETE: self.delete,
            endpoints.BATCHES_RESULTS: self.results,
        }

    def _reachable(self, request: ApiRequest) -> str:
        return reachable_base_url(self.base_url(), request.headers.get("host"))

    def _renderer(self, request: ApiRequest) -> Callable[[BatchRow], dict[str, Any]]:
        """Renders the batches of one request: one clock reading and one base URL for all of them."""
        now, base_url, live_counts = self.clock.now(), self._reachable(request), self.service.live_counts
        return lambda row: render_batch(row, now=now, base_url=base_url, live_counts=live_counts)

    async def _find(self, request: ApiRequest) -> BatchRow | None:
        """The addressed batch; ``None`` only in lenient mode (otherwise the real 404)."""
        batch_id = request.path_params["batch_id"]
        self.service.nudge()  # any look at a batch lets the processor catch up with the clock
        records = self.service.records()
        row = await records.get(batch_id) if records is not None else None
        if row is not None and row.namespace != request.namespace:
            row = None  # another namespace's batch does not exist here
        if row is None and not self.lenient:
            raise not_found(f"Message Batch {batch_id} not found.")
        return row

    def _records(self) -> BatchRecords:
        records = self.service.records()
        assert records is not None  # a batch was found in them
        return records

    async def create(self, request: ApiRequest) -> Reply:
        items = check_envelope(request.body)
        records = self.service.writable()
        batch_id = self.ids.batch()
        while await records.has_id(batch_id):  # a seeded server restarted on its own data dir repeats ids
            batch_id = self.ids.batch()
        row = new_row(
            batch_id=batch_id, beta=request.beta, api_version=request.api_version,
            anthropic_beta=request.headers.get("anthropic-beta"), request_id=request.request_id, now=self.clock.now(),
            total=len(items), namespace=request.namespace,
        )
        # One item's JSON at a time, as the store takes it: orjson gives each its own 4 KiB buffer,
        # so a list of them all would hold 40 MiB for 10,000 small items.
        await records.create(row, ((item.custom_id, orjson.dumps(item.params)) for item in items))
        self.service.processor.add(row)
        return JsonReply(body=self._renderer(request)(row))

    async def retrieve(self, request: ApiRequest) -> Reply:
        row = await self._find(request)
        if row is None:
            return JsonReply(body=synthesized_batch(request.path_params["batch_id"], now=self.clock.now(), base_url=self._reachable(request)))
        headers = {} if row.ended else {"retry-after": RETRY_AFTER}
        return JsonReply(body=self._renderer(request)(row), headers=headers)

    async def list(self, request: ApiRequest) -> Reply:
        page = parse_page_query(request.query, lenient=self.lenient)
        records = self.service.records()
        rows: list[BatchRow] = []
        has_more = False
        if records is None:
            if (page.after_id or page.before_id) and not self.lenient:
                raise _bad_cursor(page.after_id is not None)
        else:
            found = await records.page(limit=page.limit, after_id=page.after_id, before_id=page.before_id, namespace=request.namespace)
            if found is None:
                if not self.lenient:
                    raise _bad_cursor(page.after_id is not None)
                found = await records.page(limit=page.limit, after_id=None, before_id=None, namespace=request.namespace)
                assert found is not None
            rows, has_more = found
        return JsonReply(body=page_body(rows, has_more, _batch_id, self._renderer(request)))

    async def cancel(self, request: ApiRequest) -> Reply:
        row = await self._find(request)
        now = self.clock.now()
        if row is None:
            body = synthesized_batch(request.path_params["batch_id"], now=now, base_url=self._reachable(request), status="canceling")
            return JsonReply(body=body)
        if row.status == "in_progress":
            await self._records().set_canceling(row.seq, now)
            self.service.processor.canceling(row.seq, now)
            row.status, row.cancel_initiated_at = "canceling", now
        elif row.ended and not self.lenient:
            raise invalid_request(CANCEL_ENDED.format(id=row.id))
        return JsonReply(body=self._renderer(request)(row))

    async def delete(self, request: ApiRequest) -> Reply:
        row = await self._find(request)
        if row is None:
            return JsonReply(body=deleted_batch(request.path_params["batch_id"]))
        if not row.ended and not self.lenient:
            raise invalid_request(DELETE_IN_PROGRESS)
        self.service.processor.forget(row.seq)
        await self._records().delete(row.seq)
        return JsonReply(body=deleted_batch(row.id))

    async def results(self, request: ApiRequest) -> Reply:
        row = await self._find(request)
        batch_id = request.path_params["batch_id"]
        if row is not None and not self.lenient and (not row.ended or row.archived(self.clock.now())):
            raise not_found(f"Message Batch {batch_id} has no available results.")
        headers = {"content-disposition": f"attachment; filename*=utf-8''{batch_id}_results.jsonl"}
        records = self.service.records()
        body: bytes | AsyncIterator[bytes] = _lines(records, row.seq) if row is not None and records is not None else b""
        return BytesReply(status=200, body=body, content_type=RESULTS_CONTENT_TYPE, headers=headers, api_headers=True,
                          journal_bytes=JOURNALED_RESULTS)


def _batch_id(row: BatchRow) -> str:
    return row.id


def _bad_cursor(after: bool) -> ApiError:
    return bad_cursor("after_id" if after else "before_id")


async def _lines(records: BatchRecords, seq: int) -> AsyncIterator[bytes]:
    """The JSONL file, read from the store a page at a time (never a whole batch in memory)."""
    after = -1
    while True:
        rows = await records.result_page(seq, after, PAGE)
        if not rows:
            return
        yield b"\n".join(line for _, line in rows) + b"\n"
        after = rows[-1][0]

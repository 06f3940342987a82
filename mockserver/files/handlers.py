"""The five Files endpoints, as handlers of the emulated API (mockserver/emulation/).

``POST /v1/files`` (multipart, a ``file`` part, optional ``expires_in_seconds``), ``GET /v1/files``
(newest first; ``limit``, ``after_id``/``before_id`` as the 2026-05 OpenAPI spec has them, the
``page`` cursor and ``ids`` filter of SDK 1.17/2.12), ``GET /v1/files/{id}``, ``GET
/v1/files/{id}/content`` (only files a tool made: uploads are not downloadable) and ``DELETE
/v1/files/{id}``. Unknown ids get the API's 404 ``File not found: <id>``; in lenient (contract)
mode they get synthesized, schema-valid answers. docs/files.md has the evidence for each detail.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, AsyncIterator, Callable

from mockserver.files.service import FileService
from mockserver.pipeline.exchange import ApiRequest, BytesReply, JsonReply, Reply
from mockserver.pipeline.parse import too_large
from mockserver.protocol import endpoints
from mockserver.protocol.errors import invalid_request
from mockserver.protocol.numbers import decimal
from mockserver.protocol.files import (
    MAX_EXPIRES_IN, MIN_EXPIRES_IN, declared_type, deleted_file, file_expired, file_not_found, not_downloadable,
    render_file, synthesized_file,
)
from mockserver.protocol.pagination import bad_cursor, parse_page_query
from mockserver.store.base import FileRecords
from mockserver.store.records import FileRow

MAX_IDS = 100
PAGE_PREFIX = "page_"
JOURNALED_DOWNLOAD = 64 * 1024
"""Bytes of a download the journal keeps (the rest is sent, not kept)."""


def render(row: FileRow) -> dict[str, Any]:
    return render_file(
        file_id=row.id, size_bytes=row.size_bytes, created_at=row.created_at, filename=row.filename,
        mime_type=row.mime_type, downloadable=row.downloadable, expires_at=row.expires_at,
    )


def page_token(file_id: str) -> str:
    """The ``next_page`` cursor after ``file_id``: ``page_`` and an opaque rest, as SDK 1.17/2.12
    document it."""
    return PAGE_PREFIX + base64.urlsafe_b64encode(file_id.encode()).decode().rstrip("=")


def page_cursor(token: str) -> str | None:
    """The file id a ``page`` cursor continues after; ``None`` if it is not one of ours."""
    if not token.startswith(PAGE_PREFIX):
        return None
    rest = token[len(PAGE_PREFIX):]
    try:
        return base64.urlsafe_b64decode(rest + "=" * (-len(rest) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


class FileEndpoints:
    def __init__(self, service: FileService, *, lenient: bool) -> None:
        self.service = service
        self.clock = service.clock
        self.lenient = lenient

    def handlers(self) -> dict[str, Callable[[ApiRequest], Any]]:
        return {
            endpoints.FILES_CREATE: self.create,
            endpoints.FILES_LIST: self.list,
            endpoints.FILES_RETRIEVE: self.retrieve,
            endpoints.FILES_DELETE: self.delete,
            endpoints.FILES_DOWNLOAD: self.download,
        }

    async def _find(self, request: ApiRequest) -> FileRow | None:
        """The addressed file; ``None`` only in lenient mode (otherwise the real 404)."""
        file_id = request.path_params["file_id"]
        records = self.service.records()
        row = await records.get(request.namespace, file_id) if records is not None else None
        if row is None and not self.lenient:
            raise file_not_found(file_id)
        return row

    # -- the endpoints -----------------------------------------------------------------------------
    async def create(self, request: ApiRequest) -> Reply:
        form = request.upload
        part = form.file() if form is not None else None
        if part is None:  # a scripted or derived request, or a form without its file
            raise invalid_request("file: Field required")
        if part.size > endpoints.FILE_LIMIT:  # within the body's limit, which leaves room for the form
            raise too_large()
        expires_in = self._expires_in(form.field("expires_in_seconds") if form is not None else None)
        row = await self.service.add(
            request.namespace, part.chunks, filename=part.filename, declared_type=declared_type(part.content_type),
            expires_in=expires_in, sha256=part.sha256, lenient=self.lenient,
        )
        return JsonReply(body=render(row))

    def _expires_in(self, raw: str | None) -> int | None:
        """``expires_in_seconds``: an integer from 3600 to 7776000 (SDK 2.12); the messages are in
        the API's pydantic style (unconfirmed)."""
        if raw is None or raw == "":
            return None
        value = decimal(raw, signed=True)  # -1 is out of range, not unreadable
        if value is None:
            if self.lenient:
                return None
            raise invalid_request("expires_in_seconds: Input should be a valid integer, unable to parse string as an integer")
        if self.lenient:
            return min(max(value, MIN_EXPIRES_IN), MAX_EXPIRES_IN)
        if value < MIN_EXPIRES_IN:
            raise invalid_request(f"expires_in_seconds: Input should be greater than or equal to {MIN_EXPIRES_IN}")
        if value > MAX_EXPIRES_IN:
            raise invalid_request(f"expires_in_seconds: Input should be less than or equal to {MAX_EXPIRES_IN}")
        return value

    async def list(self, request: ApiRequest) -> Reply:
        query = request.query
        page = parse_page_query(query, lenient=self.lenient)
        ids = [*query.getall("ids[]", []), *query.getall("ids", [])]
        token = query.get("page") or None
        namespace = request.namespace
        records = self.service.records()
        if ids:
            ids = list(dict.fromkeys(ids))
            if not self.lenient:
                if token is not None or "limit" in query:
                    raise invalid_request("ids cannot be combined with page or limit.")  # unconfirmed wording
                if len(ids) > MAX_IDS:
                    raise invalid_request(f"ids: List should have at most {MAX_IDS} items after validation, not {len(ids)}")
            listed = await records.get_many(namespace, ids) if records is not None else []
            rows = sorted(listed, key=lambda r: r.seq, reverse=True)
            return JsonReply(body=_page(rows, False))
        after_id, before_id = page.after_id, page.before_id
        if token is not None:
            after_id, before_id = page_cursor(token), None
            if after_id is None and not self.lenient:
                raise bad_cursor("page")
        if "scope_id" in query or records is None:  # uploads belong to no scope (a session's files are not emulated)
            if (after_id or before_id) and records is None and not self.lenient:
                raise bad_cursor("after_id" if after_id else "before_id")
            return JsonReply(body=_page([], False))
        found = await records.page(namespace, limit=page.limit, after_id=after_id, before_id=before_id)
        if found is None:
            if not self.lenient:
                raise bad_cursor("page" if token is not None else "after_id" if after_id else "before_id")
            found = await records.page(namespace, limit=page.limit)
            assert found is not None
        rows, has_more = found
        return JsonReply(body=_page(rows, has_more, forward=before_id is None))

    async def retrieve(self, request: ApiRequest) -> Reply:
        row = await self._find(request)
        if row is None:
            return JsonReply(body=synthesized_file(request.path_params["file_id"], self.clock.now()))
        return JsonReply(body=render(row))

    async def delete(self, request: ApiRequest) -> Reply:
        file_id = request.path_params["file_id"]
        records = self.service.records()
        deleted = await records.delete(request.namespace, file_id) if records is not None else False
        if not deleted and not self.lenient:
            raise file_not_found(file_id)
        return JsonReply(body=deleted_file(file_id))

    async def download(self, request: ApiRequest) -> Reply:
        row = await self._find(request)
        if row is None:
            return BytesReply(status=200, body=b"", content_type="application/octet-stream", api_headers=True)
        if row.expired(self.clock.now()) and not self.lenient:
            raise file_expired(row.id)
        if not row.downloadable and not self.lenient:
            raise not_downloadable(row.id)
        records = self.service.records()
        assert records is not None
        return BytesReply(
            status=200, body=_content(records, request.namespace, row.id), content_type=row.mime_type, api_headers=True,
            length=row.size_bytes, journal_bytes=JOURNALED_DOWNLOAD,
        )


def _page(rows: list[FileRow], has_more: bool, *, forward: bool = True) -> dict[str, Any]:
    """A page with both cursor styles: ``first_id``/``last_id``/``has_more`` (the 2026-05 OpenAPI
    spec; ``has_more`` in the direction of travel) and ``next_page`` (SDK 1.17/2.12: the older
    files after this page; null on the last page, and on a page read backwards with ``before_id``)."""
    return {
        "data": [render(row) for row in rows],
        "has_more": has_more,
        "first_id": rows[0].id if rows else None,
        "last_id": rows[-1].id if rows else None,
        "next_page": page_token(rows[-1].id) if has_more and rows and forward else None,
    }


async def _content(records: FileRecords, namespace: str, file_id: str) -> AsyncIterator[bytes]:
    async for chunk in records.content(namespace, file_id):
        yield chunk


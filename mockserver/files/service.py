"""The files of one server: their records in the store, storing new ones, and resolving the ids a
Messages request names.

The records open when the server starts if the data dir already has some (a restarted server
keeps its files) or on the first upload (a server that never sees one writes no file). A file's
bytes are read twice, never held whole: once for what they tell (media type, image size, PDF
pages, text tokens: mockserver/protocol/files.py), once into the store, chunk by chunk.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import AsyncIterator, Callable, Iterable, Sequence

from mockserver.clock import Clock
from mockserver.ids import IdGenerator
from mockserver.protocol.files import FileReader, clean_filename
from mockserver.protocol.media import FileFacts
from mockserver.store.base import FileRecords, Store
from mockserver.store.records import FileRow

Chunks = Callable[[], Iterable[bytes]]
"""Gives the content from its start, chunk by chunk, each time it is called."""


class FileService:
    def __init__(self, store: Store, clock: Clock, ids: IdGenerator) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids

    async def start(self) -> None:
        self.store.file_records(create=False)  # opened now if the data dir has files: kept

    def records(self) -> FileRecords | None:
        """The records if they exist (reads of a data dir that never saw a file need no file)."""
        return self.store.file_records(create=False)

    def writable(self) -> FileRecords:
        records = self.store.file_records(create=True)
        assert records is not None
        return records

    @property
    def in_use(self) -> bool:
        return self.records() is not None

    async def add(
        self,
        namespace: str,
        content: Chunks,
        *,
        filename: str | None,
        declared_type: str | None,
        downloadable: bool = False,
        expires_in: int | None = None,
        sha256: str | None = None,
        lenient: bool = False,
    ) -> FileRow:
        """Store a file: ``content`` is read once for its facts and once into the store. Raises
        the API's 400 for a filename it refuses. Uploads are not downloadable; files a tool made
        (``downloadable``) are."""
        reader = FileReader(declared_type, filename)
        digest = hashlib.sha256() if sha256 is None else None
        for chunk in content():
            reader.feed(chunk)
            if digest is not None:
                digest.update(chunk)
        records = self.writable()
        file_id = self.ids.new("file")
        while await records.has_id(file_id):  # a seeded server restarted on its own data dir repeats ids
            file_id = self.ids.new("file")
        facts = reader.finish(file_id, downloadable=downloadable)
        now = self.clock.now()
        row = FileRow(
            seq=0, id=file_id, filename=clean_filename(filename, facts.mime_type, lenient=lenient), mime_type=facts.mime_type,
            size_bytes=facts.size_bytes, created_at=now, expires_at=now + expires_in if expires_in is not None else None,
            downloadable=downloadable, sha256=sha256 if sha256 is not None else digest.hexdigest() if digest else "",
            facts=facts.to_json(),
        )
        return await records.create(namespace, row, _paced(content))

    async def add_generated(self, namespace: str, content: bytes, *, filename: str, mime_type: str | None = None) -> FileRow:
        """A file a tool made (code execution output, say): downloadable, as the API's own are."""
        return await self.add(namespace, lambda: [content], filename=filename, declared_type=mime_type, downloadable=True)

    async def lookup(self, namespace: str, file_ids: Sequence[str]) -> dict[str, FileFacts]:
        """The stored files among ``file_ids``, as validation and token counting see them."""
        records = self.records()
        if records is None or not file_ids:
            return {}
        now = self.clock.now()
        return {
            row.id: FileFacts.of(
                file_id=row.id, mime_type=row.mime_type, size_bytes=row.size_bytes, downloadable=row.downloadable,
                facts=row.facts, expired=row.expired(now),
            )
            for row in await records.get_many(namespace, list(file_ids))
        }

    async def reset(self, namespace: str | None = None) -> None:
        """Forget the files of ``namespace`` (every namespace: ``None``)."""
        records = self.records()
        if records is not None:
            await records.clear(namespace)


async def _paced(content: Chunks) -> AsyncIterator[bytes]:
    """The content as an async stream, letting the loop run between chunks."""
    for chunk in content():
        yield chunk
        await asyncio.sleep(0)

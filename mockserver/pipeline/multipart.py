"""``multipart/form-data`` bodies (``POST /v1/files``), parsed as they arrive.

:class:`MultipartParser` is fed the body chunk by chunk and never holds more than a chunk plus a
boundary's length of it: a file part goes through a SHA-256 and, when kept, into a spool (its
first megabyte in memory, the rest in a temporary file); small fields are kept as text, up to
:data:`FIELD_LIMIT`. The result, a :class:`Form`, says what was uploaded — each part's filename,
content type, size and hash — without the bytes: that summary is what the journal shows, what
scenario rules match (``body.file.filename``) and what cassettes record and match uploads by (not
the boundary, which every client picks at random).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from typing import IO, Any, AsyncIterator, Iterator

FIELD_LIMIT = 64 * 1024
"""Bytes a form field that is not a file may have."""
HEADER_LIMIT = 16 * 1024
"""Bytes the headers of one part may have."""
MAX_PARTS = 100
SPOOL_MEMORY = 1 << 20
"""A kept file's first bytes stay in memory; the rest goes to a temporary file."""
READ_CHUNK = 1 << 20
FILE_FIELD = "file"
"""The part the Files API reads the upload from (kept as a file even without a filename)."""


class FormError(ValueError):
    """The body is not well-formed ``multipart/form-data`` (the message says where it went wrong)."""


@dataclass
class FilePart:
    """A part holding a file: what it was called, its declared type, its size and SHA-256, and
    (when kept) its bytes in a spool, rewound."""

    name: str
    filename: str | None
    content_type: str | None
    size: int = 0
    sha256: str = ""
    spool: IO[bytes] | None = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.filename is not None:
            out["filename"] = self.filename
        if self.content_type is not None:
            out["content_type"] = self.content_type
        out["size"] = self.size
        out["sha256"] = self.sha256
        return out

    def chunks(self, size: int = READ_CHUNK) -> Iterator[bytes]:
        """The kept bytes, from the start, ``size`` at a time."""
        if self.spool is None:
            return
        self.spool.seek(0)
        while chunk := self.spool.read(size):
            yield chunk


@dataclass
class Form:
    """A parsed form: its parts by name (the first of each name), in the order they came."""

    parts: dict[str, "str | FilePart"] = field(default_factory=dict)
    raw: IO[bytes] | None = None
    """The body exactly as it arrived, spooled (kept only to forward it: recording)."""
    raw_size: int = 0
    error: str | None = None
    """Why the body is not a well-formed form (only when read with ``keep_raw``, which keeps
    reading; otherwise :class:`FormError` is raised)."""

    def file(self, name: str = FILE_FIELD) -> FilePart | None:
        part = self.parts.get(name)
        return part if isinstance(part, FilePart) else None

    def field(self, name: str) -> str | None:
        part = self.parts.get(name)
        return part if isinstance(part, str) else None

    def summary(self) -> dict[str, Any]:
        """``{name: text, …, file: {filename, content_type, size, sha256}}`` in part order."""
        return {name: part.summary() if isinstance(part, FilePart) else part for name, part in self.parts.items()}

    def raw_chunks(self, size: int = READ_CHUNK) -> Iterator[bytes]:
        if self.raw is None:
            return
        self.raw.seek(0)
        while chunk := self.raw.read(size):
            yield chunk

    def close(self) -> None:
        for part in self.parts.values():
            if isinstance(part, FilePart) and part.spool is not None:
                part.spool.close()
        if self.raw is not None:
            self.raw.close()


# -- headers ---------------------------------------------------------------------------------


def boundary_of(content_type: str | None) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type; ``None`` if it is not one."""
    if not content_type:
        return None
    kind, params = parse_header(content_type)
    boundary = params.get("boundary")
    if kind != "multipart/form-data" or not boundary or len(boundary) > 200:
        return None
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        return None


_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def parse_header(value: str) -> tuple[str, dict[str, str]]:
    """``form-data; name="file"; filename*=utf-8''a%20b.pdf`` -> the value and its parameters
    (quoted strings unescaped; an RFC 5987 ``name*`` decoded and preferred over ``name``)."""
    head, _, rest = value.partition(";")
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    for match in _PARAM.finditer(";" + rest):
        key, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        if key.endswith("*"):
            charset, _, encoded = raw.partition("'")
            _, _, encoded = encoded.partition("'")
            try:
                extended[key[:-1]] = urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                continue
        else:
            params.setdefault(key, raw)
    params.update(extended)
    return head.strip().lower(), params


# -- the parser --------------------------------------------------------------------------------


class _Sink:
    """Where a part's body goes."""

    def __init__(self, part: "FilePart | None", keep: bool) -> None:
        self.part = part
        self.hash = hashlib.sha256() if part is not None else None
        self.text = bytearray() if part is None else None
        if part is not None and keep:
            part.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)

    def write(self, data: bytes, name: str) -> None:
        if self.part is not None:
            assert self.hash is not None
            self.hash.update(data)
            self.part.size += len(data)
            if self.part.spool is not None:
                self.part.spool.write(data)
        elif self.text is not None:
            if len(self.text) + len(data) > FIELD_LIMIT:
                raise FormError(f"form field {name!r} is larger than {FIELD_LIMIT} bytes")
            self.text += data


class MultipartParser:
    """A push parser: :meth:`feed` the body as it arrives, then :meth:`finish` for the form."""

    def __init__(self, boundary: bytes, *, keep_files: bool = True) -> None:
        self.delimiter = b"\r\n--" + boundary
        self.keep_files = keep_files
        self.form = Form()
        self._buffer = bytearray(b"\r\n")  # the first delimiter has no line break before it
        self._state = "preamble"
        self._sink: _Sink | None = None
        self._name = ""
        self._count = 0

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while self._step():
            pass

    def finish(self) -> Form:
        if self._state != "end":
            raise FormError("the body ended before the closing boundary")
        return self.form

    def _step(self) -> bool:
        """Advance by one part of the grammar if the buffer holds enough; whether it did."""
        buf = self._buffer
        if self._state == "preamble":
            at = buf.find(self.delimiter)
            if at < 0:
                del buf[: max(0, len(buf) - len(self.delimiter))]
                return False
            del buf[: at + len(self.delimiter)]
            self._state = "delimiter"
            return True
        if self._state == "delimiter":
            if len(buf) < 2:
                return False
            if buf[:2] == b"--":
                self._state = "end"
                buf.clear()
                return False
            line = buf.find(b"\r\n")
            if line < 0:
                if len(buf) > 256:
                    raise FormError("no line break after a boundary")
                return False
            if buf[:line].strip(b" \t"):
                raise FormError("unexpected bytes after a boundary")
            del buf[: line + 2]
            self._state = "headers"
            return True
        if self._state == "headers":
            # the blank line is looked for only where headers within the limit end, so the limit
            # holds however the bytes came: one chunk or many
            end = 0 if buf[:2] == b"\r\n" else buf.find(b"\r\n\r\n", 0, HEADER_LIMIT + 4)
            if end < 0:
                if len(buf) >= HEADER_LIMIT + 4:
                    raise FormError(f"the headers of a part are larger than {HEADER_LIMIT} bytes")
                return False
            headers = bytes(buf[:end])
            del buf[: end + (2 if end == 0 else 4)]
            self._begin(headers)
            self._state = "body"
            return True
        if self._state == "body":
            at = buf.find(self.delimiter)
            if at < 0:
                keep = len(self.delimiter) - 1
                if len(buf) > keep:
                    self._write(bytes(buf[: len(buf) - keep]))
                    del buf[: len(buf) - keep]
                return False
            self._write(bytes(buf[:at]))
            del buf[: at + len(self.delimiter)]
            self._end()
            self._state = "delimiter"
            return True
        buf.clear()  # the epilogue
        return False

    def _begin(self, raw: bytes) -> None:
        self._count += 1
        if self._count > MAX_PARTS:
            raise FormError(f"more than {MAX_PARTS} parts")
        disposition, content_type = None, None
        for line in raw.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if not sep:
                continue
            name = name.strip().lower()
            if name == "content-disposition":
                disposition = value.strip()
            elif name == "content-type":
                content_type = value.strip()
        if disposition is None:
            raise FormError("a part has no Content-Disposition")
        kind, params = parse_header(disposition)
        if kind != "form-data" or "name" not in params:
            raise FormError("a part's Content-Disposition is not form-data with a name")
        self._name = params["name"]
        if self._name in self.form.parts:  # a repeated name: only the first counts
            self._sink = _Sink(None, keep=False)
            self._sink.text = None
            return
        filename = params.get("filename")
        if filename is not None or self._name == FILE_FIELD:
            part = FilePart(self._name, filename, content_type)
            self.form.parts[self._name] = part
            self._sink = _Sink(part, keep=self.keep_files)
        else:
            self._sink = _Sink(None, keep=False)

    def _write(self, data: bytes) -> None:
        if data and self._sink is not None:
            self._sink.write(data, self._name)

    def _end(self) -> None:
        sink, self._sink = self._sink, None
        if sink is None:
            return
        if sink.part is not None:
            assert sink.hash is not None
            sink.part.sha256 = sink.hash.hexdigest()
            if sink.part.spool is not None:
                sink.part.spool.seek(0)
        elif sink.text is not None:
            try:
                self.form.parts[self._name] = sink.text.decode("utf-8")
            except UnicodeDecodeError:
                raise FormError(f"form field {self._name!r} is not UTF-8 text") from None


async def read_form(
    chunks: AsyncIterator[bytes], boundary: bytes, *, keep_files: bool = True, keep_raw: bool = False
) -> Form:
    """Parse a body as it arrives. ``keep_files``: spool file parts (else only hash them).
    ``keep_raw``: also spool the body exactly as it came, and on a malformed form keep reading
    and say why in ``form.error`` instead of raising :class:`FormError`. On any other error every
    spool is closed."""
    parser = MultipartParser(boundary, keep_files=keep_files)
    raw = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY) if keep_raw else None
    size = 0
    error: FormError | None = None
    try:
        async for chunk in chunks:
            size += len(chunk)
            if raw is not None:
                raw.write(chunk)
            if error is None:
                try:
                    parser.feed(chunk)
                except FormError as exc:
                    if raw is None:
                        raise
                    error = exc
        if error is None:
            try:
                form = parser.finish()
            except FormError as exc:
                if raw is None:
                    raise
                error = exc
    except BaseException:
        parser.form.close()
        if raw is not None:
            raw.close()
        raise
    if error is not None:
        parser.form.close()
        form = Form(error=str(error))
    form.raw, form.raw_size = raw, size
    return form


def summarize(body: bytes, content_type: str | None) -> dict[str, Any] | None:
    """The summary of a whole multipart body held in memory (a recording's), or ``None`` when it
    is not well-formed ``multipart/form-data``."""
    boundary = boundary_of(content_type)
    if boundary is None:
        return None
    parser = MultipartParser(boundary, keep_files=False)
    try:
        parser.feed(body)
        return parser.finish().summary()
    except FormError:
        return None

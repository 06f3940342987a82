"""The streaming multipart/form-data parser (uploads): parts, summaries, chunk boundaries anywhere,
spooling, limits and the malformed bodies it refuses; and the parser in front of it (413 while
streaming, the content-type check)."""

from __future__ import annotations

import hashlib
from typing import AsyncIterator

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from mockserver.pipeline import multipart
from mockserver.pipeline.multipart import FIELD_LIMIT, HEADER_LIMIT, MAX_PARTS, FormError, MultipartParser, boundary_of, parse_header, read_form, summarize
from mockserver.pipeline.parse import EMPTY_QUERY, Incoming, Parser
from mockserver.protocol.endpoints import Endpoint, EndpointTable
from mockserver.protocol.errors import ApiError

BOUNDARY = "df3d78f71d73200a4ffa6be24d69555b"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def body(*parts: tuple[str, bytes], boundary: str = BOUNDARY, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    """A multipart body of ``(headers, content)`` parts, as httpx writes one."""
    out = preamble
    for headers, content in parts:
        out += f"--{boundary}\r\n{headers}\r\n\r\n".encode() + content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode() + epilogue


def file_part(content: bytes, filename: str | None = "report.pdf", content_type: str | None = "application/pdf") -> tuple[str, bytes]:
    disposition = 'Content-Disposition: form-data; name="file"' + (f'; filename="{filename}"' if filename is not None else "")
    return disposition + (f"\r\nContent-Type: {content_type}" if content_type else ""), content


def field(name: str, value: str) -> tuple[str, bytes]:
    return f'Content-Disposition: form-data; name="{name}"', value.encode()


SDK_UPLOAD = body(field("expires_in_seconds", "3600"), file_part(b"Example data", None, "application/octet-stream"))


def parse(raw: bytes, step: int | None = None, keep_files: bool = True) -> multipart.Form:
    parser = MultipartParser(BOUNDARY.encode(), keep_files=keep_files)
    for start in range(0, len(raw), step or len(raw) or 1):
        parser.feed(raw[start : start + (step or len(raw))])
    return parser.finish()


def test_an_sdk_upload_parses_into_fields_and_a_spooled_file() -> None:
    form = parse(SDK_UPLOAD)
    assert form.field("expires_in_seconds") == "3600"
    part = form.file()
    assert part is not None and part.filename is None and part.content_type == "application/octet-stream"
    assert b"".join(part.chunks()) == b"Example data" and part.size == 12
    assert form.summary() == {
        "expires_in_seconds": "3600",
        "file": {"content_type": "application/octet-stream", "size": 12, "sha256": hashlib.sha256(b"Example data").hexdigest()},
    }
    form.close()


@pytest.mark.parametrize("step", [1, 2, 3, 7, 31, 32, 33, 34, 35, 36, 64, 1000])
def test_any_chunking_gives_the_same_form(step: int) -> None:
    content = b"--" + BOUNDARY.encode()[:-1] + b"\r\n--" + BOUNDARY.encode()[:20] + b"\r\n\r\n" + bytes(range(256)) * 3
    raw = body(file_part(content), field("expires_in_seconds", "7200"), preamble=b"ignored\r\n", epilogue=b"\r\nignored too")
    whole, pieces = parse(raw), parse(raw, step)
    assert pieces.summary() == whole.summary()
    part = pieces.file()
    assert part is not None and b"".join(part.chunks()) == content
    assert whole.summary()["file"]["sha256"] == hashlib.sha256(content).hexdigest()


def test_file_parts_spill_to_disk_and_may_be_hashed_only() -> None:
    big = b"x" * (multipart.SPOOL_MEMORY + 10)
    form = parse(body(file_part(big)), step=65536)
    part = form.file()
    assert part is not None and part.spool is not None and part.spool._rolled  # type: ignore[attr-defined]
    assert sum(len(c) for c in part.chunks(4096)) == len(big)
    hashed = parse(body(file_part(big)), keep_files=False).file()
    assert hashed is not None and hashed.spool is None and hashed.size == len(big) and list(hashed.chunks()) == []


def test_filenames_in_every_spelling() -> None:
    assert parse_header('form-data; name="file"; filename="a \\"b\\".pdf"') == ("form-data", {"name": "file", "filename": 'a "b".pdf'})
    assert parse_header("form-data; name=file; filename*=UTF-8''d%C3%A9%20ja.pdf; filename=\"fallback.pdf\"")[1]["filename"] == "dé ja.pdf"
    raw = body(("Content-Disposition: form-data; name=\"file\"; filename=\"d\u00e9 ja.pdf\"", b"%PDF-1.4"))
    assert parse(raw).summary()["file"]["filename"] == "dé ja.pdf"  # raw UTF-8, as httpx sends it


def test_a_part_with_a_filename_is_a_file_and_repeats_are_ignored() -> None:
    raw = body(
        ('Content-Disposition: form-data; name="attachment"; filename="a.txt"', b"first"),
        field("note", "one"), field("note", "two"),
        file_part(b"kept"), file_part(b"ignored"),
    )
    form = parse(raw)
    assert set(form.parts) == {"attachment", "note", "file"}
    assert form.field("note") == "one" and form.summary()["file"]["size"] == 4
    assert form.summary()["attachment"]["filename"] == "a.txt"


def test_ruby_multipart_part_headers_are_accepted() -> None:
    raw = body(('Content-Disposition: form-data; name="file"; filename="sample.pdf"\r\nContent-Length: 8\r\n'
                "Content-Type: application/pdf\r\nContent-Transfer-Encoding: binary", b"%PDF-1.3"),
               boundary="-----------RubyMultipartPost-e059d9ae1025")
    assert summarize(raw, "multipart/form-data; boundary=-----------RubyMultipartPost-e059d9ae1025") == {
        "file": {"filename": "sample.pdf", "content_type": "application/pdf", "size": 8, "sha256": hashlib.sha256(b"%PDF-1.3").hexdigest()}
    }


@pytest.mark.parametrize(
    "raw,why",
    [
        (body(file_part(b"x"))[:-8], "the body ended before the closing boundary"),
        (b"", "the body ended before the closing boundary"),
        (f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode(), "no Content-Disposition"),
        (f"--{BOUNDARY}\r\nContent-Disposition: attachment\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode(), "not form-data with a name"),
        (body(field("big", "x" * (FIELD_LIMIT + 1))), "larger than"),
        (body(*[field(f"f{i}", "v") for i in range(MAX_PARTS + 1)]), f"more than {MAX_PARTS} parts"),
        (body(("Content-Disposition: form-data; name=\"x\"", b"\xff\xfe")), "not UTF-8 text"),
        (f"--{BOUNDARY}junk\r\n".encode() + body(field("a", "b")), "unexpected bytes after a boundary"),
    ],
)
def test_malformed_bodies_are_refused_with_the_reason(raw: bytes, why: str) -> None:
    with pytest.raises(FormError, match=why):
        parse(raw, step=7)
    assert summarize(raw, CONTENT_TYPE) is None


def padded_headers(size: int) -> str:
    """A file part's headers of exactly ``size`` bytes (a long extra header fills them)."""
    disposition = 'Content-Disposition: form-data; name="file"; filename="a.txt"\r\nX-Pad: '
    return disposition + "p" * (size - len(disposition))


@pytest.mark.parametrize("step", [None, 1, 7, 1000, HEADER_LIMIT, HEADER_LIMIT + 3, HEADER_LIMIT + 4])
def test_a_parts_headers_are_held_to_the_limit_however_they_are_chunked(step: int | None) -> None:
    """Headers that came within one chunk were parsed whatever their size; in several chunks the
    limit cut in a few bytes short of it (the terminator's first bytes counted)."""
    assert len(padded_headers(HEADER_LIMIT)) == HEADER_LIMIT
    at_limit = parse(body((padded_headers(HEADER_LIMIT), b"hi")), step)
    assert at_limit.summary()["file"]["size"] == 2
    at_limit.close()
    for size in (HEADER_LIMIT + 1, HEADER_LIMIT + 4, 4 * HEADER_LIMIT):
        with pytest.raises(FormError, match=f"the headers of a part are larger than {HEADER_LIMIT} bytes"):
            parse(body((padded_headers(size), b"hi")), step)


def test_boundaries_come_only_from_multipart_form_data() -> None:
    assert boundary_of(CONTENT_TYPE) == BOUNDARY.encode()
    assert boundary_of('multipart/form-data; boundary="quoted=="') == b"quoted=="
    assert boundary_of("application/json") is None and boundary_of("multipart/form-data") is None and boundary_of(None) is None


async def _chunks(raw: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


async def test_read_form_keeps_the_raw_body_and_reports_a_bad_form_instead_of_raising() -> None:
    form = await read_form(_chunks(SDK_UPLOAD, 5), BOUNDARY.encode(), keep_files=False, keep_raw=True)
    assert form.error is None and b"".join(form.raw_chunks(7)) == SDK_UPLOAD and form.raw_size == len(SDK_UPLOAD)
    broken = SDK_UPLOAD[:-10]
    bad = await read_form(_chunks(broken, 5), BOUNDARY.encode(), keep_raw=True)
    assert bad.error == "the body ended before the closing boundary" and bad.parts == {}
    assert b"".join(bad.raw_chunks()) == broken
    with pytest.raises(FormError):
        await read_form(_chunks(broken, 5), BOUNDARY.encode())


# -- the parser in front of it --------------------------------------------------------------------

UPLOAD = Endpoint("files.create", "POST", "/v1/files", 256, multipart=True)


def incoming(raw: bytes, content_type: str | None = CONTENT_TYPE) -> Incoming:
    headers = CIMultiDict({"x-api-key": "k", "anthropic-version": "2023-06-01"})
    if content_type is not None:
        headers["content-type"] = content_type

    async def read(limit: int) -> bytes:
        raise AssertionError("an upload is never read whole")

    async def chunks(limit: int) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in _chunks(raw, 10):
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "Request exceeds the maximum size", type="request_too_large")
            yield chunk

    return Incoming("POST", "/v1/files", "/v1/files", EMPTY_QUERY, CIMultiDictProxy(headers), read, True, chunks=chunks)


async def test_the_parser_streams_uploads_within_the_endpoints_limit() -> None:
    parser = Parser(EndpointTable((UPLOAD,)), strict=True)
    small = body(file_part(b"tiny", "a.txt", "text/plain"), boundary="b")
    request = await parser.parse(incoming(small, "multipart/form-data; boundary=b"), "req_1", 0.0)
    assert request.upload is not None and request.body == request.upload.summary()
    assert request.raw_body.startswith(b'{"file":{"filename":"a.txt"')  # the journal's view: no bytes
    request.upload.close()
    with pytest.raises(ApiError) as refused:
        await parser.parse(incoming(body(file_part(b"x" * 300), boundary="b"), "multipart/form-data; boundary=b"), "req_2", 0.0)
    assert refused.value.status == 413


@pytest.mark.parametrize(
    "content_type,message",
    [
        ("application/json", 'Unsupported Content-Type "application/json": the request body must be sent as multipart/form-data.'),
        (None, 'Unsupported Content-Type "application/octet-stream": the request body must be sent as multipart/form-data.'),
        ("multipart/form-data", "The request body is not valid multipart/form-data: no boundary in its Content-Type."),
        ("multipart/form-data; boundary=zz", "The request body is not valid multipart/form-data: the body ended before the closing boundary."),
    ],
)
async def test_what_is_not_a_form_is_a_400(content_type: str | None, message: str) -> None:
    parser = Parser(EndpointTable((UPLOAD,)), strict=True)
    with pytest.raises(ApiError) as refused:
        await parser.parse(incoming(b"{}", content_type), "req_1", 0.0)
    assert (refused.value.status, refused.value.message) == (400, message)


async def test_the_open_parser_spools_uploads_as_they_came() -> None:
    parser = Parser(EndpointTable((UPLOAD,)), strict=False)
    raw = body(file_part(b"abc", "a.txt", "text/plain"), boundary="b")
    request = await parser.parse(incoming(raw, "multipart/form-data; boundary=b"), "req_1", 0.0)
    assert request.upload is not None and b"".join(request.upload.raw_chunks()) == raw
    assert request.body == {"file": {"filename": "a.txt", "content_type": "text/plain", "size": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}}
    request.upload.close()
    garbage = await parser.parse(incoming(b"not a form", "multipart/form-data; boundary=b"), "req_2", 0.0)
    assert garbage.upload is None and garbage.raw_body == b"not a form"  # kept as bytes, forwarded as bytes


# -- properties -------------------------------------------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
# content that leans towards the boundary's own bytes, CRLFs and dashes
CONTENT = st.lists(st.sampled_from([b"\r\n", b"--", BOUNDARY.encode()[:5], BOUNDARY.encode(), b"x", b"\r", b"\n", b"-"]) | st.binary(max_size=8),
                   max_size=30).map(b"".join).filter(
    # ... but never the delimiter itself, which no client's content holds (RFC 2046 5.1.1: the
    # client picks a boundary its content lacks); the headers' CRLF can start it
    lambda content: b"\r\n--" + BOUNDARY.encode() not in b"\r\n" + content)


@settings(max_examples=150, deadline=None)
@given(content=CONTENT, fields=st.dictionaries(NAMES.filter(lambda n: n != "file"), st.text(max_size=20).filter(lambda t: "\r" not in t)),
       step=st.integers(1, 80), keep=st.booleans())
def test_any_form_parses_back_in_any_chunking(content: bytes, fields: dict[str, str], step: int, keep: bool) -> None:
    raw = body(*[field(k, v) for k, v in fields.items()], file_part(content, "f.bin", "application/octet-stream"))
    form = parse(raw, step, keep_files=keep)
    assert {k: form.field(k) for k in fields} == fields
    part = form.file()
    assert part is not None and part.size == len(content) and part.sha256 == hashlib.sha256(content).hexdigest()
    assert (b"".join(part.chunks()) == content) if keep else part.spool is None
    form.close()


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=300) | st.lists(st.sampled_from([b"--" + BOUNDARY.encode(), b"\r\n", b"--", b"Content-Disposition: form-data; name=\"file\"",
                                                                 b"\r\n\r\n", b"x"]), max_size=20).map(b"".join), step=st.integers(1, 50))
def test_any_bytes_parse_or_are_refused_with_a_reason(raw: bytes, step: int) -> None:
    try:
        parse(raw, step).close()
    except FormError as error:
        assert str(error)

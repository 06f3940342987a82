"""The Files API end to end through the official SDK over a real socket (strict response
validation): upload, list (both cursor styles), retrieve, download, delete, the real errors,
file_id sources in Messages counted from the file's bytes, container uploads, expiry, bounded
memory, durability across a restart, the recorded uploads, and scenarios, faults, the journal and
cassettes on these endpoints."""

from __future__ import annotations

import base64
import hashlib
import http.client
import socket
import struct
import tracemalloc
import zlib
from pathlib import Path
from typing import Any, Callable

import anthropic
import orjson
import pytest

from mockserver.cassettes import importers
from mockserver.cassettes.model import header
from mockserver.clock import ManualClock
from mockserver.harness.testing import DEFAULT_TEST_KEY, MockServer
from mockserver.pipeline.multipart import HEADER_LIMIT
from mockserver.protocol import endpoints
from mockserver.protocol.endpoints import FILE_LIMIT
from mockserver.protocol.tokens import PDF_PAGE_OVERHEAD, PDF_PAGE_TOKENS, image_tokens
from mockserver.store.files import CHUNK, DB_NAME
from tests.cassette_support import Proxy
from tests.conftest import HAIKU

REALWORLD = Path(__file__).resolve().parents[1] / "data" / "realworld"
PDF = (b"%PDF-1.4\n1 0 obj <</Type /Page>> endobj\n2 0 obj <</Type /Page>> endobj\n3 0 obj <</Length 44>>\nstream\n"
       b"BT /F1 12 Tf (Quarterly revenue grew.) Tj ET\nendstream\n%%EOF")


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)) + chunk(b"IEND", b"")


def ask(*blocks: dict[str, Any], text: str = "Summarize this.") -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": text}]}]


def by_file(kind: str, file_id: str) -> dict[str, Any]:
    return {"type": kind, "source": {"type": "file", "file_id": file_id}}


def raw(server: MockServer, method: str, target: str, body: bytes | None = None, **headers: str) -> tuple[int, dict[str, str], bytes]:
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, target, body=body, headers={"x-api-key": DEFAULT_TEST_KEY, "anthropic-version": "2023-06-01", **headers})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


# -- the endpoints ----------------------------------------------------------------------------------


def test_upload_list_retrieve_delete(anthropic_client: anthropic.Anthropic) -> None:
    client = anthropic_client
    pdf = client.beta.files.upload(file=("report.pdf", PDF, "application/pdf"), betas=["files-api-2025-04-14"])
    assert (pdf.type, pdf.filename, pdf.mime_type, pdf.size_bytes, pdf.downloadable, pdf.expires_at) == (
        "file", "report.pdf", "application/pdf", len(PDF), False, None)
    assert pdf.id.startswith("file_011C") and len(pdf.id) == 29  # as file_011CXPoRmVQC8wQiCnmgu2M7, recorded
    plain = client.files.upload(file=b"Example data")  # the GA client: no beta header, no filename
    assert (plain.filename, plain.mime_type, plain.size_bytes) == ("unnamed.txt", "text/plain", 12)
    assert [f.id for f in client.beta.files.list()] == [plain.id, pdf.id]  # newest first
    assert client.files.retrieve_metadata(pdf.id).model_dump() == {**pdf.model_dump(exclude={"scope"})}
    deleted = client.beta.files.delete(pdf.id)
    assert (deleted.id, deleted.type) == (pdf.id, "file_deleted")
    for call in (client.beta.files.retrieve_metadata, client.beta.files.delete, client.beta.files.download):
        with pytest.raises(anthropic.NotFoundError) as missing:
            call(pdf.id)
        assert missing.value.body["error"] == {"type": "not_found_error", "message": f"File not found: {pdf.id}"}
    assert [f.id for f in client.files.list()] == [plain.id]


async def test_the_async_client(async_anthropic_client: anthropic.AsyncAnthropic) -> None:
    client = async_anthropic_client
    made = [await client.beta.files.upload(file=(f"n{i}.txt", f"note {i}".encode(), "text/plain")) for i in range(5)]
    listed = [f.id async for f in client.beta.files.list(limit=2)]  # three pages through next_page
    assert listed == [f.id for f in reversed(made)]
    assert (await client.beta.files.retrieve_metadata(made[0].id)).filename == "n0.txt"
    assert (await client.files.delete(made[0].id)).type == "file_deleted"
    with pytest.raises(anthropic.NotFoundError):
        await client.files.retrieve_metadata(made[0].id)


def test_pages_carry_both_cursor_styles(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    ids = [anthropic_client.beta.files.upload(file=(f"f{i}.txt", b"x", "text/plain")).id for i in range(5)][::-1]
    first = anthropic_client.beta.files.list(limit=2)
    assert [f.id for f in first.data] == ids[:2] and first.next_page and first.next_page.startswith("page_")
    assert [f.id for f in anthropic_client.files.list(limit=2, page=first.next_page).data] == ids[2:4]
    assert [f.id for f in anthropic_client.files.list(limit=2)] == ids  # the SDK's auto-pager

    def page(query: str) -> dict[str, Any]:
        status, _, body = raw(mockserver, "GET", f"/v1/files?{query}")
        assert status == 200, body
        return dict(orjson.loads(body))

    top = page("limit=2")  # the OpenAPI spec's cursors: first_id, last_id, has_more; after_id/before_id
    assert (top["first_id"], top["last_id"], top["has_more"]) == (ids[0], ids[1], True)
    after = page(f"limit=2&after_id={top['last_id']}")
    assert [f["id"] for f in after["data"]] == ids[2:4] and after["has_more"]
    end = page(f"limit=2&after_id={ids[3]}")
    assert [f["id"] for f in end["data"]] == ids[4:] and not end["has_more"] and end["next_page"] is None
    before = page(f"limit=2&before_id={ids[4]}")
    assert [f["id"] for f in before["data"]] == ids[2:4] and before["has_more"]
    chosen = anthropic_client.beta.files.list(ids=[ids[3], "file_nope", ids[1]])
    assert [f.id for f in chosen.data] == [ids[1], ids[3]] and chosen.next_page is None
    for query, message in [
        ("after_id=file_nope", "Invalid pagination cursor for 'after_id'"),
        ("page=nonsense", "Invalid pagination cursor for 'page'"),
        ("limit=0", "limit: Input should be greater than or equal to 1"),
        ("limit=1001", "limit: Input should be less than or equal to 1000"),
        ("limit=1_0", "limit: Input should be a valid integer, unable to parse string as an integer"),
        ("limit=%2B2", "limit: Input should be a valid integer, unable to parse string as an integer"),
        ("limit=-2", "limit: Input should be greater than or equal to 1"),
        (f"ids[]={ids[0]}&limit=3", "ids cannot be combined with page or limit."),
        ("&".join(f"ids[]=file_{i}" for i in range(101)), "ids: List should have at most 100 items after validation, not 101"),
    ]:
        status, _, body = raw(mockserver, "GET", f"/v1/files?{query}")
        assert (status, orjson.loads(body)["error"]["message"]) == (400, message)


def test_upload_refusals(mockserver: MockServer) -> None:
    boundary = "b0undary"

    def form(*parts: bytes) -> bytes:
        return b"".join(f"--{boundary}\r\n".encode() + p + b"\r\n" for p in parts) + f"--{boundary}--\r\n".encode()

    def upload(body: bytes, content_type: str = f"multipart/form-data; boundary={boundary}") -> tuple[int, str]:
        status, headers, answer = raw(mockserver, "POST", "/v1/files", body, **{"content-type": content_type})
        assert "anthropic-ratelimit-requests-limit" not in headers  # as the recorded upload answers
        return status, orjson.loads(answer)["error"]["message"] if status != 200 else ""

    note = b'Content-Disposition: form-data; name="note"\r\n\r\nhello'
    assert upload(form(note)) == (400, "file: Field required")
    assert upload(b"{}", "application/json")[1].startswith('Unsupported Content-Type "application/json"')
    bad_name = b'Content-Disposition: form-data; name="file"; filename="a|b.txt"\r\nContent-Type: text/plain\r\n\r\nhi'
    assert upload(form(bad_name))[1].startswith("Invalid filename")
    file = b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhi'
    short = b'Content-Disposition: form-data; name="expires_in_seconds"\r\n\r\n60'
    assert upload(form(file, short)) == (400, "expires_in_seconds: Input should be greater than or equal to 3600")
    unparsable = "expires_in_seconds: Input should be a valid integer, unable to parse string as an integer"
    for spelled in (b"3_600", b" 3600", b"+3600", b"\xd9\xa3\xd9\xa6\xd9\xa0\xd9\xa0"):  # int() read each as 3600
        field = b'Content-Disposition: form-data; name="expires_in_seconds"\r\n\r\n' + spelled
        assert upload(form(file, field)) == (400, unparsable)
    assert upload(form(file)) == (200, "")


def test_a_parts_headers_past_the_limit_are_a_400_even_in_one_chunk(mockserver: MockServer) -> None:
    """Headers that arrived within one chunk of the body were parsed whatever their size."""
    pad = b"X-Pad: " + b"p" * HEADER_LIMIT
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n' + pad
            + b"\r\n\r\nhello\r\n--b--\r\n")
    status, _, answer = raw(mockserver, "POST", "/v1/files", body, **{"content-type": "multipart/form-data; boundary=b"})
    assert (status, orjson.loads(answer)["error"]) == (400, {
        "type": "invalid_request_error",
        "message": f"The request body is not valid multipart/form-data: the headers of a part are larger than {HEADER_LIMIT} bytes."})


def test_a_parts_content_type_that_is_no_media_type_is_not_stored(make_server: Callable[..., MockServer]) -> None:
    """A control character in a part's Content-Type was stored as the file's mime_type and, sent
    back as the download's Content-Type, made it a 500 with a traceback (lenient mode downloads
    uploads)."""
    server = make_server(lenient=True)
    for declared in (b"text/plain\x00", b"text/plain\nX-Injected: 1", b"text/plain\rx", b"\xff\xfe"):
        body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: ' + declared
                + b"\r\n\r\nhello\r\n--b--\r\n")
        status, _, answer = raw(server, "POST", "/v1/files", body, **{"content-type": "multipart/form-data; boundary=b"})
        assert status == 200 and orjson.loads(answer)["mime_type"] == "text/plain"  # decided from the bytes
        status, headers, content = raw(server, "GET", f"/v1/files/{orjson.loads(answer)['id']}/content")
        assert (status, headers["content-type"], content) == (200, "text/plain", b"hello")


def test_a_file_past_the_limit_is_a_413_even_within_the_bodys_room(mockserver: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endpoints, "FILE_LIMIT", 10)  # the body's limit leaves 1 MB for the form around the file
    with pytest.raises(anthropic.APIStatusError) as refused:
        mockserver.client(max_retries=0).beta.files.upload(file=("a.txt", b"x" * 11, "text/plain"))
    assert refused.value.status_code == 413 and refused.value.body["error"]["type"] == "request_too_large"


def test_an_upload_past_500_mb_is_refused_before_it_is_read(mockserver: MockServer) -> None:
    host, port = mockserver.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST /v1/files HTTP/1.1\r\nHost: x\r\nx-api-key: k\r\nanthropic-version: 2023-06-01\r\n"
            f"content-type: multipart/form-data; boundary=b\r\ncontent-length: {FILE_LIMIT + 2 * 1024 * 1024}\r\n\r\n".encode()
        )
        answer = b""
        while b'"request_too_large"' not in answer and (chunk := sock.recv(65536)):  # headers and body may come apart
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b'"type":"request_too_large"' in answer


# -- file_id sources in Messages ------------------------------------------------------------------------


def test_messages_count_a_files_pages_and_dimensions(anthropic_client: anthropic.Anthropic) -> None:
    client = anthropic_client
    pdf = client.beta.files.upload(file=("report.pdf", PDF, "application/pdf"))
    image = client.beta.files.upload(file=("chart.png", png(1280, 960), "image/png"))
    base = client.messages.count_tokens(model=HAIKU, messages=ask()).input_tokens

    def count(*blocks: dict[str, Any]) -> int:
        counted = client.beta.messages.count_tokens(model=HAIKU, messages=ask(*blocks)).input_tokens
        created = client.beta.messages.create(model=HAIKU, max_tokens=20, messages=ask(*blocks)).usage.input_tokens
        assert counted == created
        return counted - base

    text = client.messages.count_tokens(model=HAIKU, messages=ask(text="Quarterly revenue grew. Summarize this.")).input_tokens - base
    assert count(by_file("document", pdf.id)) == 2 * (PDF_PAGE_TOKENS + PDF_PAGE_OVERHEAD) + text
    assert count(by_file("image", image.id)) == image_tokens(1280, 960) == 1534
    assert count(by_file("image", image.id), by_file("document", pdf.id)) == 1534 + 2 * (PDF_PAGE_TOKENS + PDF_PAGE_OVERHEAD) + text
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.beta.messages.create(model=HAIKU, max_tokens=20, messages=ask(by_file("document", "file_011CNha8iCJcU1wXNR6q4V8w")))
    assert missing.value.body["error"]["message"] == "File not found: file_011CNha8iCJcU1wXNR6q4V8w"
    with pytest.raises(anthropic.BadRequestError) as wrong:
        client.beta.messages.create(model=HAIKU, max_tokens=20, messages=ask(by_file("document", image.id)))
    assert "which a document block cannot take" in wrong.value.body["error"]["message"]
    client.beta.files.delete(pdf.id)
    with pytest.raises(anthropic.NotFoundError):  # a deleted file is gone for Messages too (the memo knows)
        client.beta.messages.count_tokens(model=HAIKU, messages=ask(by_file("document", pdf.id)))


def test_a_pdf_string_with_a_backspace_or_form_feed_escape_is_read(anthropic_client: anthropic.Anthropic) -> None:
    """``\\b`` and ``\\f`` in a PDF's literal string made the text extraction raise: a 500 with a
    traceback for the upload, and for a Messages or count_tokens call sending the PDF as base64."""
    client = anthropic_client
    pdf = PDF.replace(b"(Quarterly revenue grew.)", b"(Quarterly\\b revenue\\f grew.)")
    base64_pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                                 "data": base64.b64encode(pdf).decode()}}
    uploaded = client.beta.files.upload(file=("escapes.pdf", pdf, "application/pdf"))
    counted = client.messages.count_tokens(model=HAIKU, messages=ask(base64_pdf)).input_tokens
    assert client.messages.create(model=HAIKU, max_tokens=20, messages=ask(base64_pdf)).usage.input_tokens == counted
    assert client.beta.messages.count_tokens(model=HAIKU, messages=ask(by_file("document", uploaded.id))).input_tokens == counted


def test_a_batch_item_resolves_its_files(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    image = anthropic_client.beta.files.upload(file=("chart.png", png(200, 200), "image/png"))
    params = {"model": HAIKU, "max_tokens": 20}
    batch = anthropic_client.messages.batches.create(requests=[
        {"custom_id": "ok", "params": {**params, "messages": ask(by_file("image", image.id))}},
        {"custom_id": "gone", "params": {**params, "messages": ask(by_file("image", "file_gone"))}},
    ])
    while (batch := anthropic_client.messages.batches.retrieve(batch.id)).processing_status != "ended":
        pass
    results = {r.custom_id: r.result for r in anthropic_client.messages.batches.results(batch.id)}
    assert results["ok"].type == "succeeded" and results["gone"].type == "errored"
    assert results["gone"].error.error.message == "File not found: file_gone"


CODE_EXECUTION = {"type": "code_execution_20250825", "name": "code_execution"}
CONTAINER_BETAS = ["code-execution-2025-08-25", "files-api-2025-04-14"]  # code execution (as test_server_tools.py) and Files


def test_a_container_upload_names_an_uploaded_file(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    client = anthropic_client
    data = client.beta.files.upload(file=("sales.csv", b"region,revenue\nnorth,10\nsouth,32\n", "text/csv"))
    message = client.beta.messages.create(
        model=HAIKU, max_tokens=500, betas=CONTAINER_BETAS, tools=[CODE_EXECUTION],
        messages=ask({"type": "container_upload", "file_id": data.id}, text="Run this with code_execution: `head sales.csv`"),
    )
    assert message.content[0].type == "server_tool_use" and message.content[0].name.endswith("code_execution")
    assert message.container is not None and message.container.id.startswith("container_011C")
    sent = mockserver.journal.last()
    assert sent.status == 200 and sent.header("anthropic-beta") == ",".join(CONTAINER_BETAS)
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.beta.messages.create(
            model=HAIKU, max_tokens=500, betas=CONTAINER_BETAS, tools=[CODE_EXECUTION],
            messages=ask({"type": "container_upload", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}),
        )
    assert missing.value.status_code == 404
    assert missing.value.body["error"] == {"type": "not_found_error", "message": "File not found: file_011CNha8iCJcU1wXNR6q4V8w"}


async def test_a_container_upload_names_an_uploaded_file_async(async_anthropic_client: anthropic.AsyncAnthropic) -> None:
    client = async_anthropic_client
    data = await client.beta.files.upload(file=("sales.csv", b"region,revenue\nnorth,10\nsouth,32\n", "text/csv"))
    params: dict[str, Any] = {"model": HAIKU, "max_tokens": 500, "betas": CONTAINER_BETAS, "tools": [CODE_EXECUTION]}
    block = {"type": "container_upload", "file_id": data.id}
    asked = ask(block, text="Run this with code_execution: `head sales.csv`")
    message = await client.beta.messages.create(**params, messages=asked)
    assert message.content[0].type == "server_tool_use" and message.container is not None
    async with client.beta.messages.stream(**params, messages=asked) as stream:
        streamed = await stream.get_final_message()
    assert [b.type for b in streamed.content] == [b.type for b in message.content]
    await client.beta.files.delete(data.id)
    with pytest.raises(anthropic.NotFoundError) as missing:  # a deleted file is as unknown as one never uploaded
        await client.beta.messages.create(**params, messages=ask(block))
    assert missing.value.body["error"]["message"] == f"File not found: {data.id}"


# -- downloads and expiry -------------------------------------------------------------------------------


def test_only_files_a_tool_made_download(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    upload = anthropic_client.beta.files.upload(file=("report.pdf", PDF, "application/pdf"))
    with pytest.raises(anthropic.BadRequestError) as refused:
        anthropic_client.beta.files.download(upload.id)
    assert refused.value.body["error"]["details"] == {"error_code": "file_not_downloadable"}
    assert getattr(refused.value, "error_code", None) == "file_not_downloadable"  # SDK 2.12: FileNotDownloadableError
    content = bytes(range(256)) * 12_000  # 3 MB: three chunks in the store
    made = mockserver._run(mockserver.api.files.add_generated(mockserver.namespace, content, filename="chart.bin"))
    meta = anthropic_client.beta.files.retrieve_metadata(made.id)
    assert meta.downloadable is True and meta.size_bytes == len(content)
    response = anthropic_client.beta.files.with_raw_response.download(made.id)
    assert response.http_response.headers["content-length"] == str(len(content))
    assert response.read() == content
    with anthropic_client.beta.files.with_streaming_response.download(made.id) as streamed:
        assert b"".join(streamed.iter_bytes()) == content
    kept = mockserver.journal.calls(endpoint="files.download")[-1].response_bytes
    assert kept == content[: 64 * 1024]  # the journal keeps a download's first 64 KiB


def test_expiry(clocked_server: MockServer, clock: ManualClock) -> None:
    client = clocked_server.client()
    file = client.beta.files.upload(file=("report.pdf", PDF, "application/pdf"), expires_in_seconds=3600)
    assert file.expires_at is not None and (file.expires_at - file.created_at).total_seconds() == 3600
    client.beta.messages.count_tokens(model=HAIKU, messages=ask(by_file("document", file.id)))
    clock.advance(3600)
    with pytest.raises(anthropic.NotFoundError) as expired:
        client.beta.messages.count_tokens(model=HAIKU, messages=ask(by_file("document", file.id)))
    assert expired.value.body["error"]["details"] == {"error_code": "file_expired"}
    assert client.beta.files.retrieve_metadata(file.id).id == file.id  # its metadata stays


# -- memory, durability -----------------------------------------------------------------------------------


def test_big_files_go_through_in_bounded_memory(mockserver: MockServer, tmp_path: Path) -> None:
    size = 48 * CHUNK
    path = tmp_path / "big.bin"
    with path.open("wb") as out:
        for i in range(48):
            out.write(bytes([i]) * CHUNK)
    client = mockserver.client()
    tracemalloc.start()
    try:
        with path.open("rb") as handle:
            uploaded = client.beta.files.upload(file=("big.bin", handle, "application/octet-stream"))
        made = mockserver._run(mockserver.api.files.add(
            mockserver.namespace, lambda: (bytes([i]) * CHUNK for i in range(48)), filename="out.bin", declared_type=None, downloadable=True))
        digest = hashlib.sha256()
        with client.beta.files.with_streaming_response.download(made.id) as response:
            for piece in response.iter_bytes():
                digest.update(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert uploaded.size_bytes == size and digest.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    assert peak < 16 * CHUNK, f"{peak / CHUNK:.1f} MB at the peak for a {size // CHUNK} MB file each way"


def test_files_outlive_the_server_in_its_data_dir(tmp_path: Path) -> None:
    with MockServer(data_dir=tmp_path) as first:
        pdf = first.client().beta.files.upload(file=("report.pdf", PDF, "application/pdf"))
        made = first._run(first.api.files.add_generated("default", b"a,b\n1,2\n", filename="out.csv"))
    assert (tmp_path / DB_NAME).exists()
    with MockServer(data_dir=tmp_path) as second:
        client = second.client()
        assert [f.id for f in client.beta.files.list()] == [made.id, pdf.id]
        assert client.beta.files.retrieve_metadata(pdf.id).size_bytes == len(PDF)
        assert client.beta.files.download(made.id).read() == b"a,b\n1,2\n"
        counted = client.beta.messages.count_tokens(model=HAIKU, messages=ask(by_file("document", pdf.id))).input_tokens
        assert counted > 2 * PDF_PAGE_TOKENS
    quiet = tmp_path / "quiet"
    with MockServer(data_dir=quiet) as untouched:
        untouched.client().messages.create(model=HAIKU, max_tokens=10, messages=ask())
    assert not (quiet / DB_NAME).exists()  # a server that never saw a file writes none


# -- the recorded uploads ---------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the recorded call's model is deprecated
def test_the_recorded_uploads_get_the_recorded_answers(make_server: Callable[..., MockServer]) -> None:
    server = make_server(any_model=True)  # the recorded Messages call names a model retired since
    client = server.client()
    for name in ("crewAIInc__crewAI/llms/TestAnthropicFileUploadIntegration.test_describe_image_with_file_id.yaml",
                 "crmne__ruby_llm/uploadedfile_live_uploads_anthropic_uploads_a_pdf_through_the_files_api.yml"):
        items = importers.load_any(REALWORLD / name).interactions
        upload = items[0]
        status, _, answer = raw(server, "POST", upload.request.target(), upload.request.body,
                                **{"content-type": header(upload.request.headers, "content-type") or "", "anthropic-beta": "files-api-2025-04-14"})
        recorded, got = orjson.loads(upload.response.body), orjson.loads(answer)
        assert status == 200 and list(got) == list(recorded)  # the same keys in the same order
        assert {k: got[k] for k in ("type", "size_bytes", "filename", "mime_type", "downloadable")} == {
            k: recorded[k] for k in ("type", "size_bytes", "filename", "mime_type", "downloadable")}
        if len(items) > 1:  # then the recorded Messages call, naming the file by its new id
            body = items[1].request.json
            body["messages"][0]["content"][1]["source"]["file_id"] = got["id"]
            message = client.beta.messages.create(**body, betas=["files-api-2025-04-14"])
            real = orjson.loads(items[1].response.body)["usage"]["input_tokens"]
            assert abs(message.usage.input_tokens - real) / real < 0.1, (message.usage.input_tokens, real)  # the 640x480 PNG counted


# -- scenarios, faults, the journal, cassettes ------------------------------------------------------------


def test_scenarios_faults_and_the_journal_see_uploads(mockserver: MockServer, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.error(529, match={"endpoint": "files.create", "body": {"file.filename": "flaky.pdf"}}, times=1)
    client = anthropic_client.with_options(max_retries=0)
    with pytest.raises(anthropic.InternalServerError):
        client.beta.files.upload(file=("flaky.pdf", PDF, "application/pdf"))
    stored = client.beta.files.upload(file=("flaky.pdf", PDF, "application/pdf"))
    entries = mockserver.journal.calls(endpoint="files.create")
    assert [e.status for e in entries] == [529, 200]
    assert entries[1].body == {"file": {"filename": "flaky.pdf", "content_type": "application/pdf", "size": len(PDF),
                                        "sha256": hashlib.sha256(PDF).hexdigest()}}
    assert len(entries[1].request_bytes) < 200  # the summary, never the bytes
    mockserver.fault(reset=True, match={"endpoint": "files.list"}, times=1)
    with pytest.raises(anthropic.APIConnectionError):
        client.beta.files.list()
    assert [f.id for f in client.beta.files.list()] == [stored.id]
    mockserver.set_rate_limits(requests_per_minute=1, files_requests_per_minute=2)  # one bucket for the Files endpoints
    try:
        client.beta.files.retrieve_metadata(stored.id)
        client.beta.files.list()
        with pytest.raises(anthropic.RateLimitError) as limited:
            client.beta.files.download(stored.id)
        assert limited.value.response.headers["retry-after"] in ("29", "30")  # a minute for two
        assert "of 2 requests per minute" in limited.value.body["error"]["message"]
        assert "anthropic-ratelimit-requests-limit" not in limited.value.response.headers
        client.messages.create(model=HAIKU, max_tokens=5, messages=ask())  # the Messages bucket is another one
    finally:
        mockserver.set_rate_limits(None)  # the session's server outlives this test


def test_cassettes_record_and_replay_uploads_by_their_content(make_server: Callable[..., MockServer], tmp_path: Path) -> None:
    upstream = make_server(seed=3)
    path = tmp_path / "files.yaml"
    recorder = Proxy(path, record_mode="all", upstream=upstream.url)
    try:
        recorded = recorder.client().beta.files.upload(file=("report.pdf", PDF, "application/pdf"))
        assert upstream.client().beta.files.retrieve_metadata(recorded.id).size_bytes == len(PDF)  # the bytes went upstream whole
    finally:
        recorder.stop()
    text = path.read_text()
    assert "form:" in text and hashlib.sha256(PDF).hexdigest() in text and "base64" not in text and "boundary=" in text
    replayer = Proxy(path, record_mode="none")
    try:
        again = replayer.client().beta.files.upload(file=("report.pdf", PDF, "application/pdf"))  # a new boundary
        assert again.id == recorded.id
        with pytest.raises(anthropic.NotFoundError) as miss:
            replayer.client(max_retries=0).beta.files.upload(file=("report.pdf", PDF + b"\n", "application/pdf"))
        assert "body file.sha256 differs from character 0: recorded" in miss.value.body["error"]["message"]
    finally:
        replayer.stop()

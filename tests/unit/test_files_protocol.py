"""Files on the wire without I/O: what an upload's bytes tell (read in any chunking), filenames and
media types, the file object, the ids a body names, and file_id sources validated and counted as
the same bytes sent as base64 would be."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest

from mockserver.protocol import files as wire
from mockserver.protocol import tokens
from mockserver.protocol.catalog import ModelCatalog
from mockserver.protocol.errors import ApiError
from mockserver.protocol.files import FileReader, clean_filename, media_type, referenced_file_ids, render_file
from mockserver.protocol.media import FileFacts, pdf_page_count, pdf_text
from mockserver.protocol.schema import default_schema
from mockserver.protocol.tokens import count_request, count_text
from mockserver.protocol.validate import Rules
from mockserver.protocol.versions import LATEST_VERSION

RULES = Rules(default_schema(), ModelCatalog.load())
PDF = (b"%PDF-1.4\n1 0 obj <</Type /Pages /Count 3>>\n2 0 obj <</Type /Page>> endobj\n3 0 obj <</Type/Page>> endobj\n"
       b"4 0 obj <</Type /Page>> endobj\n5 0 obj <</Length 60>>\nstream\n"
       b"BT /F1 12 Tf (Hello \\(PDF\\) world.) Tj ET BT [(Sec) -20 (ond.)] TJ ET\nendstream\n%%EOF")
TEXT = "Ruby was created in 1993. It is a language! Is it fun?\n" * 40


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)) + chunk(b"IEND", b"")


def read(data: bytes, step: int, declared: str | None = None, filename: str | None = None) -> FileFacts:
    reader = FileReader(declared, filename)
    for start in range(0, len(data), step):
        reader.feed(data[start : start + step])
    return reader.finish("file_1")


@pytest.mark.parametrize("step", [1, 5, 17, 64, 1 << 20])
def test_a_pdf_is_counted_however_it_arrives(step: int) -> None:
    facts = read(PDF, step)
    assert facts.mime_type == "application/pdf" and facts.size_bytes == len(PDF)
    assert facts.pdf_pages == pdf_page_count(PDF) == 3
    assert facts.text_tokens == count_text(pdf_text(PDF)) and facts.text_sentences == 2


def test_a_large_pdf_is_counted_by_its_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "PDF_TEXT_BYTES", 64)
    facts = read(PDF, 7)
    assert facts.pdf_pages == 3 and facts.text_tokens == 0


@pytest.mark.parametrize("step", [1, 3, 100, 1 << 20])
def test_plain_text_is_counted_as_a_text_document_would_be(step: int) -> None:
    facts = read(TEXT.encode(), step, "text/plain")
    assert facts.text_tokens == count_text(TEXT) and facts.text_sentences == tokens.sentence_count(TEXT)


def test_images_are_sized_from_their_first_bytes() -> None:
    facts = read(png(640, 480) + b"\x00" * 5000, 10)
    assert (facts.mime_type, facts.image_size) == ("image/png", (640, 480))
    assert read(b"not an image", 4, "image/png").image_size is None  # declared an image, is not one


def test_the_stored_media_type() -> None:
    assert media_type("image/png", None, b"%PDF-1.4") == "image/png"  # what the part said, as recorded uploads store it
    assert media_type(None, "x.bin", b"%PDF-1.7 ...") == "application/pdf"
    assert media_type(None, None, png(1, 1)) == "image/png"
    assert media_type(None, "data.csv", b"a,b\n1,2\n") == "text/csv"
    assert media_type(None, None, "plain text, ü".encode()) == "text/plain"
    assert media_type(None, None, b"\x00\x01\x02") == "application/octet-stream"
    assert wire.declared_type("Application/PDF; charset=binary") == "application/pdf"
    assert wire.declared_type("application/octet-stream") is None and wire.declared_type("") is None
    for no_media_type in ("text/plain\x00", "text/plain\nx-injected: 1", "\ufffd/x", "text", "a b/c"):
        assert wire.declared_type(no_media_type) is None  # decided from the bytes instead


def test_filenames() -> None:
    assert clean_filename("/home/me/report.pdf", "application/pdf") == "report.pdf"
    assert clean_filename("C:\\Users\\me\\scan.png", "image/png") == "scan.png"
    assert clean_filename(None, "application/pdf") == "unnamed.pdf"
    assert clean_filename("", "text/plain") == "unnamed.txt"
    assert clean_filename(None, "application/octet-stream") == "unnamed"
    for bad in ("a<b.txt", 'quote".txt', "tab\there", "x" * 256):
        with pytest.raises(ApiError) as refused:
            clean_filename(bad, "text/plain")
        assert refused.value.status == 400 and refused.value.message.startswith("Invalid filename")
    assert clean_filename("a<b.txt", "text/plain", lenient=True) == "a<b.txt"


def test_the_file_object_has_the_recorded_shape() -> None:
    body = render_file(file_id="file_011CXPoRmVQC8wQiCnmgu2M7", size_bytes=27749, created_at=1769148098.323, filename="x",
                       mime_type="image/png", downloadable=False)
    # crewAI's recorded upload, byte for byte apart from the values
    assert list(body) == ["type", "id", "size_bytes", "created_at", "filename", "mime_type", "downloadable"]
    assert body["created_at"] == "2026-01-23T06:01:38.323000Z"
    assert render_file(file_id="f", size_bytes=0, created_at=0, filename="x", mime_type="a/b", downloadable=True,
                       expires_at=3600.5)["expires_at"] == "1970-01-01T01:00:00.500000Z"


def test_the_ids_a_body_names() -> None:
    def source(kind: str, file_id: str) -> dict[str, Any]:
        return {"type": kind, "source": {"type": "file", "file_id": file_id}}

    body = {"messages": [
        {"role": "user", "content": [source("image", "file_a"), source("document", "file_b"), {"type": "text", "text": "file_id"}]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "container_upload", "file_id": "file_c"}, source("image", "file_a"),
                                     {"type": "tool_result", "tool_use_id": "t", "content": [source("document", "file_d")]}]},
    ]}
    assert referenced_file_ids(body) == ["file_a", "file_b", "file_c", "file_d"]
    assert referenced_file_ids({"messages": "nope"}) == [] and referenced_file_ids(None) == []


# -- validation and counting -------------------------------------------------------------------------

FILES = {
    "file_pdf": read(PDF, 1 << 20),
    "file_png": read(png(640, 480), 1 << 20),
    "file_txt": read(TEXT.encode(), 1 << 20, "text/plain"),
    "file_csv": read(b"a,b\n1,2\n", 1 << 20, "text/csv"),
}
FILES = {k: FileFacts(**{**{f: getattr(v, f) for f in v.__dataclass_fields__}, "id": k}) for k, v in FILES.items()}


def ask(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": [*blocks, {"type": "text", "text": "Hi"}]}]}


def by_file(kind: str, file_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "source": {"type": "file", "file_id": file_id}, **extra}


def test_a_file_is_counted_as_its_bytes_sent_as_base64_would_be() -> None:
    as_base64 = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(PDF).decode()}}
    assert count_request(ask(by_file("document", "file_pdf")), FILES).total == count_request(ask(as_base64)).total
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(png(640, 480)).decode()}}
    assert count_request(ask(by_file("image", "file_png")), FILES).total == count_request(ask(image)).total
    text = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": TEXT}}
    cited = {"citations": {"enabled": True}}
    assert count_request(ask(by_file("document", "file_txt", **cited)), FILES).total == count_request(ask({**text, **cited})).total
    # an id nobody resolved is sized as a URL's would be
    assert tokens.block_tokens(by_file("image", "file_zzz"), FILES) == tokens.REMOTE_IMAGE_TOKENS


def refusal(request: dict[str, Any], files: Any = FILES) -> tuple[int, str, Any] | None:
    try:
        RULES.messages(request, version=LATEST_VERSION, beta=True, files=files)
    except ApiError as error:
        return error.status, error.message, error.details
    return None


def test_file_sources_resolve_or_get_the_real_errors() -> None:
    assert refusal(ask(by_file("document", "file_pdf"), by_file("image", "file_png"), by_file("document", "file_txt"))) is None
    assert refusal(ask(by_file("image", "file_nope"))) == (404, "File not found: file_nope", None)
    assert refusal(ask({"type": "container_upload", "file_id": "file_gone"})) == (404, "File not found: file_gone", None)
    assert refusal(ask({"type": "container_upload", "file_id": "file_csv"})) is None  # any type goes to a container
    wrong = refusal(ask(by_file("image", "file_pdf")))
    assert wrong is not None and wrong[0] == 400 and wrong[1] == (
        "messages.0.content.0.image.source.file: file file_pdf has type application/pdf, which an image block cannot take.")
    wrong = refusal(ask(by_file("document", "file_csv")))
    assert wrong is not None and wrong[0] == 400 and "which a document block cannot take" in wrong[1]
    expired = {**FILES, "file_old": FileFacts("file_old", "application/pdf", 10, pdf_pages=1, expired=True)}
    assert refusal(ask(by_file("document", "file_old")), expired) == (404, "File file_old has expired.", {"error_code": "file_expired"})
    many = {**FILES, "file_big": FileFacts("file_big", "application/pdf", 10, pdf_pages=101)}
    assert refusal(ask(by_file("document", "file_big")), many) == (400, "A maximum of 100 PDF pages may be provided.", None)
    assert refusal(ask(by_file("image", "file_nope")), None) is None  # not resolved: not checked (a direct caller)
    lenient = Rules(default_schema(), ModelCatalog.load(), lenient=True)
    lenient.messages(ask(by_file("image", "file_nope")), version=LATEST_VERSION, beta=True, files=FILES)


def test_facts_round_trip_through_what_a_store_keeps() -> None:
    for facts in FILES.values():
        assert FileFacts.of(file_id=facts.id, mime_type=facts.mime_type, size_bytes=facts.size_bytes,
                            downloadable=facts.downloadable, facts=facts.to_json()) == facts

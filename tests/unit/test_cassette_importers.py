"""Other recorders' formats and their quirks (docs/reference/real-traffic.md §6)."""

from __future__ import annotations

import base64
import gzip
import json
import tracemalloc
import zlib
from pathlib import Path
from typing import Callable

import orjson
import pytest

from mockserver.cassettes import importers
from mockserver.cassettes.format import CassetteError
from mockserver.protocol.endpoints import MAX_BODY

SSE = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def test_vcrpy_gzip_binary_body_is_inflated_and_its_encoding_dropped() -> None:
    packed = base64.encodebytes(gzip.compress(SSE)).decode()
    text = (
        "interactions:\n- request:\n    body: '{\"a\":1}'\n    headers:\n      ? !!python/object/apply:multidict._multidict.istr\n"
        "      - Accept\n      : - application/json\n    method: POST\n    uri: https://api.anthropic.com/v1/messages?beta=true\n"
        "  response:\n    body:\n      string: !!binary |\n" + "".join(f"        {line}\n" for line in packed.splitlines())
        + "    headers:\n      Content-Encoding: [gzip]\n      Content-Type: [text/event-stream; charset=utf-8]\n"
        "      Transfer-Encoding: [chunked]\n    status: {code: 200, message: OK}\nversion: 1\n"
    )
    loaded = importers.parse(text.encode())
    (item,) = loaded.interactions
    assert loaded.kind == "vcrpy"
    assert item.request.query == [("beta", "true")] and item.request.headers == [("Accept", "application/json")]
    assert item.response.body == SSE
    assert [k for k, _ in item.response.headers] == ["Content-Type"]


def test_pydantic_ai_parsed_body_becomes_compact_json() -> None:
    text = ("interactions:\n- request:\n    method: POST\n    uri: https://api.anthropic.com/v1/messages\n    parsed_body: {b: 1, a: [x]}\n"
            "  response:\n    status: {code: 200, message: OK}\n    headers: {content-type: [application/json]}\n    parsed_body: {z: null}\nversion: 1\n")
    (item,) = importers.parse(text.encode()).interactions
    assert item.request.body == b'{"b":1,"a":["x"]}' and item.response.body == b'{"z":null}'


def test_ruby_vcr_binary_and_encoding_string_bodies() -> None:
    text = (
        "---\nhttp_interactions:\n- request:\n    method: post\n    uri: https://api.anthropic.com/v1/messages\n"
        "    body:\n      encoding: UTF-8\n      string: '{\"a\":1}'\n    headers:\n      X-Api-Key: ['<ANTHROPIC_API_KEY>']\n"
        "  response:\n    status: {code: 200, message: OK}\n    headers:\n      Content-Type: [text/event-stream]\n"
        f"    body:\n      encoding: ASCII-8BIT\n      string: !binary |-\n        {base64.b64encode(SSE).decode()}\n"
        "  recorded_at: Wed, 19 Aug 2026 14:34:27 GMT\nrecorded_with: VCR 6.4.0\n"
    )
    loaded = importers.parse(text.encode())
    (item,) = loaded.interactions
    assert loaded.kind == "ruby-vcr" and item.request.method == "POST"
    assert item.response.body == SSE and item.recorded_at == "Wed, 19 Aug 2026 14:34:27 GMT"


def test_har_entries_and_base64_content() -> None:
    har = {"log": {"version": "1.2", "entries": [
        {"request": {"method": "POST", "url": "https://api.anthropic.com/v1/messages", "headers": [{"name": ":authority", "value": "x"}],
                     "postData": {"mimeType": "application/json", "text": "{}"}},
         "response": {"status": 200, "statusText": "OK", "headers": [{"name": "content-encoding", "value": "gzip"},
                                                                      {"name": "content-type", "value": "application/json"}],
                      "content": {"mimeType": "application/json", "encoding": "base64", "text": base64.b64encode(b'{"ok":true}').decode()}}},
        {"request": {"method": "GET", "url": "https://api.anthropic.com/v1/models"}, "response": {"status": 0}},
    ]}}
    loaded = importers.parse(json.dumps(har).encode())
    (item,) = loaded.interactions  # the aborted entry (status 0) is skipped
    assert loaded.kind == "har" and item.request.headers == [] and item.response.body == b'{"ok":true}'
    assert [k for k, _ in item.response.headers] == ["content-type"]


def test_ddapm_json_drops_a_stale_content_encoding() -> None:
    data = {"request": {"method": "POST", "url": "https://api.anthropic.com/v1/messages", "headers": {}, "body": "{}"},
            "response": {"status": {"code": 200, "message": "OK"}, "headers": {"Content-Encoding": "gzip"}, "body": '{"a":1}'}}
    loaded = importers.parse(json.dumps(data).encode())
    assert loaded.kind == "ddapm" and loaded.interactions[0].response.headers == []


def test_httprr_records() -> None:
    request = b"POST https://api.anthropic.com/v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nUser-Agent: x\nContent-Length: 2\r\n\r\n{}"
    response = b"HTTP/2.0 200 OK\r\nContent-Length: 7\r\nContent-Type: application/json\r\n\r\n{\"a\":1}"
    raw = b"httprr trace v1\n" + f"{len(request)} {len(response)}\n".encode() + request + response
    loaded = importers.parse(raw)
    (item,) = loaded.interactions
    assert loaded.kind == "httprr" and item.request.body == b"{}" and item.response.body == b'{"a":1}'
    assert item.response.headers == [("Content-Type", "application/json")]


def test_vcrpy_internal_lists_gzipped_as_langchain_keeps_them() -> None:
    doc = {"requests": [{"method": "GET", "uri": "https://api.anthropic.com/v1/models", "body": None, "headers": {}}],
           "responses": [{"status": {"code": 200, "message": "OK"}, "headers": {"content-type": ["application/json"]},
                          "body": {"string": '{"data":[]}'}}]}
    import yaml

    loaded = importers.parse(gzip.compress(yaml.safe_dump(doc).encode()))
    assert loaded.kind == "vcrpy" and orjson.loads(loaded.interactions[0].response.body) == {"data": []}


def test_non_anthropic_hosts_keep_their_origin() -> None:
    text = ("interactions:\n- request: {method: HEAD, uri: 'https://static.example.net/a.jpg', body: null, headers: {}}\n"
            "  response: {status: {code: 200, message: OK}, headers: {Content-Length: ['12345']}, body: {string: ''}}\nversion: 1\n")
    (item,) = importers.parse(text.encode()).interactions
    assert item.request.origin == "https://static.example.net"
    assert item.response.headers == [("Content-Length", "12345")]  # kept: a HEAD answer describes the resource


def test_a_damaged_file_is_a_cassette_error_naming_the_file_and_the_place() -> None:
    """A gzip file cut short was an ``EOFError`` traceback, a broken httprr trace a bare
    ``subsection not found``; a malformed vcrpy/VCR/HAR item did not say which it was."""
    import pytest

    from mockserver.cassettes.format import CassetteError

    cases = {
        gzip.compress(b"interactions: []\n")[:12]: "x.yaml: a gzip file that does not decompress",
        b"httprr trace v1\n12 3": "x.yaml: httprr record 0 \\(at byte 16\\): malformed",
        b"httprr trace v1\n5 99999\nGET / HTTP/1.1": "x.yaml: httprr record 0 \\(at byte 16\\): malformed: the lengths 5 99999 run past",
        b"interactions:\n- request: {uri: /}\n  response: {status: {code: 200}}\n- request: {uri: /}\n  response: {status: {code: abc}}\n":
            "x.yaml: interactions\\[1\\]: malformed: ValueError",
        b"interactions: 5\n": "x.yaml: interactions must be a list, not int",
        b"http_interactions:\n- request: {uri: /, headers: oops}\n  response: {}\n": "x.yaml: http_interactions\\[0\\]: malformed",
        b'{"log": {"entries": [{"request": {"url": "/"}, "response": {"status": "x"}}]}}': "x.yaml: log.entries\\[0\\]: malformed",
    }
    for raw, message in cases.items():
        with pytest.raises(CassetteError, match=message):
            importers.parse(raw, "x.yaml")


# -- inflating within a bound ----------------------------------------------------------------------


def _bomb(size: int, wbits: int = 31) -> bytes:
    """``size`` zero bytes compressed (gzip by default), built a piece at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    piece = bytes(1 << 20)
    out = [packer.compress(piece[: min(len(piece), size - at)]) for at in range(0, size, len(piece))]
    return b"".join(out) + packer.flush()


def _vcrpy(*bodies: bytes, encoding: str = "gzip") -> bytes:
    """A vcrpy cassette whose responses carry these bodies as ``!!binary``."""
    text = "interactions:\n"
    for body in bodies:
        packed = "".join(f"        {line}\n" for line in base64.encodebytes(body).decode().splitlines())
        text += ("- request: {method: GET, uri: 'https://api.anthropic.com/v1/models', body: null, headers: {}}\n"
                 f"  response:\n    status: {{code: 200, message: OK}}\n    headers: {{Content-Encoding: [{encoding}]}}\n"
                 f"    body:\n      string: !!binary |\n{packed}")
    return (text + "version: 1\n").encode()


def _peak(call: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        call()
    except CassetteError:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


LIMIT = 1 << 20  # a small limit stands for the real one (INFLATE_LIMIT) in these tests


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importers, "INFLATE_LIMIT", LIMIT, raising=False)


def test_the_limit_leaves_room_for_the_largest_body_the_server_reads() -> None:
    assert importers.INFLATE_LIMIT >= 2 * MAX_BODY


def test_a_gzipped_cassette_that_inflates_past_the_limit_is_refused_naming_the_file(small_limit: None, tmp_path: Path) -> None:
    """A gzipped file was inflated whole, with no limit: a few kilobytes could ask for gigabytes."""
    path = tmp_path / "bomb.yaml.gz"
    path.write_bytes(_bomb(64 * LIMIT))
    message = f"{path}: a gzip file that inflates past {LIMIT} bytes \\(the most one cassette may inflate to\\)"
    with pytest.raises(CassetteError, match=message):
        importers.load_any(path)
    assert _peak(lambda: importers.load_any(path)) < 4 * LIMIT  # inflated a piece at a time, not 64 MiB first
    doc = b"interactions: []\nversion: 1\n"
    padded = doc + b"#" * (LIMIT - len(doc))  # exactly the limit: read
    assert importers.parse(gzip.compress(padded), "x.yaml").interactions == []
    with pytest.raises(CassetteError, match="x.yaml: a gzip file that inflates past"):
        importers.parse(gzip.compress(padded + b"#"), "x.yaml")


def test_a_binary_gzip_body_that_inflates_past_the_limit_is_refused_naming_the_file_and_the_place(small_limit: None) -> None:
    """A vcrpy ``!!binary`` gzip body was inflated whole, with no limit."""
    raw = _vcrpy(b"ok", _bomb(64 * LIMIT))
    message = (f"x.yaml: interactions\\[1\\]: the response body inflates past {LIMIT} bytes, with the file's other "
               "compressed bodies \\(the most one cassette may inflate to\\)")
    with pytest.raises(CassetteError, match=message):
        importers.parse(raw, "x.yaml")
    assert _peak(lambda: importers.parse(raw, "x.yaml")) < 4 * LIMIT
    with pytest.raises(CassetteError, match="x.yaml: interactions\\[0\\]: the response body inflates past"):
        importers.parse(_vcrpy(_bomb(2 * LIMIT, zlib.MAX_WBITS), encoding="deflate"), "x.yaml")


def test_the_limit_is_for_the_whole_file_not_each_body(small_limit: None) -> None:
    """Bodies each within the limit but many of them add up: the limit is the file's."""
    half = gzip.compress(bytes(LIMIT // 2))
    assert [len(i.response.body) for i in importers.parse(_vcrpy(half, half), "x.yaml").interactions] == [LIMIT // 2] * 2
    with pytest.raises(CassetteError, match="x.yaml: interactions\\[2\\]: the response body inflates past"):
        importers.parse(_vcrpy(half, half, gzip.compress(b"x")), "x.yaml")
    file = gzip.compress(_vcrpy(half) + b"#" * (LIMIT // 2))  # the file's own inflating counts too
    with pytest.raises(CassetteError, match="x.yaml: interactions\\[0\\]: the response body inflates past"):
        importers.parse(file, "x.yaml")


def test_gzip_files_inflate_as_gzip_decompress_does() -> None:
    """Every member, zero padding after them; damaged or cut short: an error (a body stays as recorded)."""
    doc = b"interactions: []\nversion: 1\n"
    assert importers.parse(gzip.compress(doc[:10]) + gzip.compress(doc[10:]) + bytes(5), "x.yaml").interactions == []
    for damaged in (gzip.compress(doc)[:-3], gzip.compress(doc) + b"junk", gzip.compress(doc)[:-8] + b"\0" * 8):
        with pytest.raises(CassetteError, match="x.yaml: a gzip file that does not decompress"):
            importers.parse(damaged, "x.yaml")
    (item,) = importers.parse(_vcrpy(gzip.compress(b"hello")[:-4]), "x.yaml").interactions
    assert item.response.body == gzip.compress(b"hello")[:-4]

"""Other recorders' formats and their quirks (docs/reference/real-traffic.md §6)."""

from __future__ import annotations

import base64
import gzip
import json

import orjson

from mockserver.cassettes import importers

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

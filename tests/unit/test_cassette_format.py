"""The cassette format: readable YAML whose rendering gives back the recorded bytes exactly."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.cassettes import format as fmt
from mockserver.cassettes import importers, yamlio
from mockserver.cassettes.model import Frame, Interaction, RecordedRequest, RecordedResponse, split_sse

REALWORLD = Path(__file__).resolve().parents[1] / "data" / "realworld"
FILES = sorted(p for p in REALWORLD.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".har", ".json", ".httprr"))

text = st.text(st.characters(blacklist_categories=("Cs",)))
json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",)), max_size=8), inner, max_size=4), max_leaves=20)
SSE = [("content-type", "text/event-stream; charset=utf-8")]


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_any_json_value_survives_yaml_exactly(value: object) -> None:
    raw = orjson.dumps(value)
    response = RecordedResponse(200, [("content-type", "application/json")], raw)
    back = fmt.loads(fmt.dumps([Interaction(RecordedRequest("POST", "/v1/messages", body=raw), response)]))[0]
    assert back.response.body == raw
    assert back.request.json == orjson.loads(raw)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",)), max_size=6), json_values, min_size=1, max_size=4), st.integers(0, 15),
       st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), min_size=1, max_size=20), st.floats(0, 100))
def test_sse_events_render_back_to_their_bytes(data: dict[str, object], pad: int, name: str, at: float) -> None:
    compact = orjson.dumps(data)
    payload = compact[:-1] + b" " * pad + b"}"
    raw = b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"
    item = fmt.encode_event(raw, at)
    assert item is not None and fmt.render_event(yamlio.load(yamlio.dump([item]))[0]) == raw


def test_events_are_readable_mappings_with_padding_and_timing() -> None:
    frames = [
        Frame(b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0             }\n\n', 0.25),
        Frame(b'event: ping\ndata: {"type": "ping"}\n\n', 0.5),
    ]
    items = fmt.encode_response_body(RecordedResponse(200, SSE, b"".join(f.raw for f in frames), frames=frames))["events"]
    assert items == [
        {"event": "content_block_stop", "data": {"type": "content_block_stop", "index": 0}, "pad": 13, "at": 0.25},
        {"event": "ping", "data": {"type": "ping"}, "at": 0.5},
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b'event: x\ndata: {"a": 1}\n\n',  # spacing the compact rule cannot reproduce -> raw
        b"data: [DONE]\n\n",  # not JSON, no event line
        b": keep-alive comment\n\n",  # not an event at all -> frame
        b'event: ping\ndata: {"type":"ping"}\n\n',  # a compact ping (the API spaces it)
        b'event: x\r\ndata: {}\r\n\r\n',  # CRLF framing
    ],
)
def test_odd_events_keep_their_exact_text(raw: bytes) -> None:
    body = raw + b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    response = RecordedResponse(200, SSE, body)
    back = fmt.loads(fmt.dumps([Interaction(RecordedRequest("POST", "/v1/messages"), response)]))[0].response
    assert back.body == body


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"custom_id":"a","result":{"type":"succeeded"}}\n{"custom_id":"b","result":{"type":"errored"}}\n', "jsonl"),
        (b'{"a": 1}', "text"),
        (b"plain text", "text"),
        (b"\xff\x00binary", "base64"),
        (b'{"a":1}', "body"),
    ],
)
def test_other_bodies_are_stored_so_they_come_back_exactly(raw: bytes, key: str) -> None:
    response = RecordedResponse(200, [("content-type", "application/x-jsonl")], raw)
    assert key in fmt.encode_response_body(response)
    back = fmt.loads(fmt.dumps([Interaction(RecordedRequest("GET", "/x"), response)]))[0].response
    assert back.body == raw


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_realworld_cassette_converts_saves_loads_and_replays_byte_for_byte(path: Path, tmp_path: Path) -> None:
    original = importers.load_any(path).interactions
    out = tmp_path / "converted.yaml"
    fmt.save(out, original)
    back = fmt.load(out)
    assert len(back) == len(original)
    for a, b in zip(original, back):
        assert (b.response.status, b.response.headers, b.response.body) == (a.response.status, a.response.headers, a.response.body)
        assert [f.raw for f in b.response.chunks()] == [f.raw for f in a.response.chunks()]
        assert (b.request.method, b.request.path, b.request.query) == (a.request.method, a.request.path, a.request.query)
        assert b.request.json == a.request.json and (a.request.json is not None or b.request.body == a.request.body)
    if any(i.response.is_stream for i in original):
        assert "events:" in out.read_text()


def test_split_sse_pieces_join_back() -> None:
    body = b"event: a\ndata: 1\n\nevent: b\r\ndata: 2\r\n\r\ntrailing"
    assert b"".join(split_sse(body)) == body and len(split_sse(body)) == 3


def test_write_is_atomic_and_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    fmt.write_atomic(path, "first\n")
    assert path.read_text() == "first\n" and os.listdir(tmp_path) == ["c.yaml"]

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        fmt.write_atomic(path, "second\n")
    assert path.read_text() == "first\n" and os.listdir(tmp_path) == ["c.yaml"]  # no temporary left behind


def test_bad_documents_are_reported_with_their_place() -> None:
    with pytest.raises(fmt.CassetteError, match="interactions\\[0\\]: response needs an integer status"):
        fmt.loads("format: mockserver-cassette\nversion: 1\ninteractions:\n- request: {method: GET, path: /}\n  response: {}\n")
    with pytest.raises(fmt.CassetteError, match="unsupported version 9"):
        fmt.loads("format: mockserver-cassette\nversion: 9\n")

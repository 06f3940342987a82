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
from mockserver.cassettes.model import Frame, Interaction, RecordedRequest, RecordedResponse
from mockserver.protocol.sse import split as split_sse

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


@pytest.mark.parametrize("levels", [201, 254, 255, 1000])
def test_json_nested_past_what_can_be_written_back_is_kept_as_text(levels: int) -> None:
    """orjson reads 1,024 levels but writes 254: a body, answer or event deeper than the
    server's limit (200) is kept as text, and comes back byte for byte."""
    deep = b"[" * levels + b"1" + b"]" * levels
    stream = b"event: x\ndata: " + deep + b"\n\n"
    interaction = Interaction(
        RecordedRequest("POST", "/v1/messages", headers=[("content-type", "application/json")], body=deep),
        RecordedResponse(200, [("content-type", "text/event-stream")], stream, frames=[Frame(stream)]),
    )
    assert interaction.request.json is None  # matched by its bytes
    assert "text" in fmt.encode_request_body(deep)
    assert "text" in fmt.encode_response_body(RecordedResponse(200, [("content-type", "application/json")], deep))
    assert fmt.encode_event(stream, None) == {"event": "x", "raw": deep.decode()}
    [back] = fmt.loads(fmt.dumps([interaction]))
    assert (back.request.body, back.response.body) == (deep, stream)
    [appended] = fmt.loads(fmt.HEADER_COMMENT + "format: mockserver-cassette\nversion: 1\ninteractions:\n" + fmt.dump_appended(interaction))
    assert appended.request.body == deep


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
        if a.request.upload() is not None:  # an upload keeps its form's summary, not its bytes (docs/cassettes.md)
            assert b.request.upload() == a.request.upload() and b.request.body == b""
            continue
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



BAD_FIELDS = [  # (request, response) as YAML flow mappings, and what the error must say
    ("{method: GET, path: /}", "{status: 200, reason: 5}", r"\.response\.reason must be one line of text"),
    ("{method: GET, path: /}", "{status: 200, reason: \"OK\\r\\nX-Injected: 1\"}", r"\.response\.reason must be one line"),
    ("{method: GET, path: /}", "{status: 200, headers: {x-a: \"a\\r\\nX-Injected: 1\"}}", r"\.response\.headers\.x-a holds a line break"),
    ("{method: GET, path: /}", "{status: 200, headers: {x-a: {b: 1}}}", r"\.response\.headers\.x-a must be text"),
    ("{method: GET, path: /, query: {q: [[1]]}}", "{status: 200}", r"\.request\.query\.q must be text"),
    ("{method: GET, path: /}", "{status: 1}", r"\.response\.status: 1 is not an HTTP status"),
    ("{method: GET, path: /}", "{status: true}", r": response needs an integer status"),
    ("{method: GET, path: /}", "{status: 200, latency: soon}", r"\.response\.latency must be a number of seconds"),
    ("{method: GET, path: /}", "{status: 200, latency: .inf}", r"\.response\.latency must be a number of seconds"),
    ("{method: GET, path: /}", "{status: 200, events: 5}", r"\.response\.events must be a list"),
    ("{method: GET, path: /}", "{status: 200, events: [{data: {a: 1}, at: x}]}", r"\.response\.events\[0\]: at must be a number"),
    ("{method: GET, path: /}", "{status: 200, events: [{data: {a: 1}, pad: x}]}", r"\.response\.events\[0\]: pad must be a whole number"),
    ("{method: GET, path: /}", "{status: 200, events: [{data: [1], pad: 2}]}", r"\.response\.events\[0\]: pad needs data that is a mapping"),
    ("{method: GET, path: /}", "{status: 200, events: [{data: !!binary aGk=}]}", r"\.response\.events\[0\]: data is not JSON"),
    ("{method: GET, path: /}", "{status: 200, jsonl: 5}", r"\.response\.jsonl must be a list"),
    ("{method: GET, path: /}", "{status: 200, jsonl: [1, !!set {a}]}", r"\.response\.jsonl\[1\] is not JSON"),
    ("{method: GET, path: /}", "{status: 200, base64: '!!'}", r"\.response\.base64 is not base64"),
    ("{method: GET, path: /}", "{status: 200, text: [1]}", r"\.response\.text must be text"),
    ("{method: GET, path: /, body: {n: 123456789012345678901234567890}}", "{status: 200}", r"\.request\.body is not JSON"),
    ("{method: GET, path: /, origin: 5}", "{status: 200}", r"\.request\.origin must be a URL"),
    ("{method: POST, path: /v1/files, form: {file: !!binary aGk=}}", "{status: 200}", r"\.request\.form: it is not JSON"),
]


@pytest.mark.parametrize(("request_", "response", "message"), BAD_FIELDS)
def test_a_wrong_type_in_any_field_is_an_error_naming_the_file_and_the_field(request_: str, response: str, message: str) -> None:
    """Such files gave ``malformed cassette: TypeError(...)`` naming no field, or loaded and then
    made every replay of the interaction a 500 with a traceback (a reason or header that is not one
    line of text, a status no HTTP client reads) or hang (``latency: .inf`` in realtime replay)."""
    text = f"format: mockserver-cassette\nversion: 1\ninteractions:\n- request: {request_}\n  response: {response}\n"
    with pytest.raises(fmt.CassetteError, match="^c.yaml: interactions\\[0\\]" + ".*" + message):
        importers.parse(text.encode(), "c.yaml")

# -- appending, and what a kill or a full disk leaves ---------------------------------------------
def _interaction(n: int, stream: bool = False) -> Interaction:
    if stream:
        frames = [Frame(b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"part %d\\nwith: colons, {braces} and \xc3\xa9"}}\n\n' % i, 0.01 * i)
                  for i in range(40)]
        response = RecordedResponse(200, [("content-type", "text/event-stream")], b"".join(f.raw for f in frames), frames=frames)
    else:
        response = RecordedResponse(200, [("content-type", "application/json")], orjson.dumps({"n": n, "x": 1e-05, "t": "a\nb  "}))
    return Interaction(RecordedRequest("POST", "/v1/messages", body=orjson.dumps({"n": n})), response, "2026-01-01T00:00:00+00:00")


def test_appended_items_read_back_as_written_and_compaction_restores_block_style(tmp_path: Path) -> None:
    from mockserver.cassettes.cassette import Cassette

    path = tmp_path / "c.yaml"
    calls: list[str] = []

    class Counting(fmt.Writer):
        def replace(self, path: Path, text: str) -> None:
            calls.append("replace")
            super().replace(path, text)

        def append(self, path: Path, text: str) -> None:
            calls.append("append")
            super().append(path, text)

    cassette = Cassette(path=path, writer=Counting())
    items = [_interaction(n, stream=n % 2 == 0) for n in range(6)]
    for n, item in enumerate(items, 1):
        cassette.append(item)
        assert [i.response.body for i in fmt.load(path)] == [i.response.body for i in items[:n]]  # whole after every append
    assert calls == ["replace"] + ["append"] * 5  # one whole write, then one item at a time
    assert path.read_text().count("\n- {") == 5
    cassette.compact()
    assert "\n- {" not in path.read_text() and path.read_text() == fmt.dumps(fmt.load(path))
    assert [i.response.body for i in fmt.load(path)] == [i.response.body for i in items]


@pytest.mark.parametrize("content", ["Summarize the text below.\n\n", "\n", "a\n\n\n"])
def test_items_appended_after_a_text_ending_in_blank_lines_still_load(tmp_path: Path, content: str) -> None:
    """libyaml ends a document whose last block scalar keeps trailing newlines (``|+``) with
    ``...``; an item appended after that marker made the file unreadable (or, with one item,
    silently dropped it as "cut short")."""
    from mockserver.cassettes.cassette import Cassette

    path = tmp_path / "c.yaml"
    cassette = Cassette(path=path)
    bodies = [orjson.dumps({"messages": [{"role": "user", "content": content}]}), b'{"n":1}', b'{"n":2}']
    for body in bodies:
        cassette.append(Interaction(RecordedRequest("POST", "/v1/messages", body=body),
                                    RecordedResponse(200, [("content-type", "application/json")], b'{"ok":1}')))
    assert [i.request.body for i in fmt.load(path)] == bodies


STEP = 13  # every byte passes too (checked with 1; slower)


def test_an_append_cut_short_at_any_byte_loses_only_that_item(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "c.yaml"
    fmt.save(path, [_interaction(0)])
    whole = path.read_bytes()
    item = fmt.dump_appended(_interaction(1, stream=True)).encode()
    for cut in range(0, len(item) - 1, STEP):  # a SIGKILL during a write of several pages stops it short
        path.write_bytes(whole + item[:cut])
        loaded = fmt.load(path)
        assert [i.request.body for i in loaded] == [b'{"n":0}'], cut
    path.write_bytes(whole + item[:-1])  # all but the final newline: whole
    assert len(fmt.load(path)) == 2
    assert "cut short by an interrupted write" in caplog.text


def test_a_full_disk_fails_the_write_and_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    import errno

    from mockserver.cassettes.cassette import Cassette

    class FullDisk(fmt.Writer):
        full = False

        def append(self, path: Path, text: str) -> None:
            if self.full:  # (append_text's own clean-up of a partial write: the test below)
                raise OSError(errno.ENOSPC, "No space left on device")
            super().append(path, text)

    path = tmp_path / "c.yaml"
    writer = FullDisk()
    cassette = Cassette(path=path, writer=writer)
    cassette.append(_interaction(0))
    cassette.append(_interaction(1))
    writer.full = True
    with pytest.raises(fmt.CassetteWriteError, match="No space left on device"):
        cassette.append(_interaction(2))
    assert cassette.failed == 1 and cassette.recorded == 2 and "No space left" in str(cassette.error)
    assert len(fmt.load(path)) == 2 and len(cassette) == 2  # the failed one is neither on disk nor kept
    writer.full = False
    cassette.append(_interaction(3))  # room again: recording goes on
    assert [i.request.body for i in fmt.load(path)] == [b'{"n":0}', b'{"n":1}', b'{"n":3}']


def test_append_text_cuts_a_partial_write_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    path = tmp_path / "f"
    path.write_text("kept\n")
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        if len(data) > 4:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        fmt.append_text(path, "- {a partial item that must not stay}\n")
    assert path.read_text() == "kept\n"


def test_a_folder_that_cannot_be_written_is_found_before_recording(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(fmt.CassetteWriteError, match="cannot record to"):
        fmt.check_writable(blocker / "cassettes" / "c.yaml")
    fmt.check_writable(tmp_path / "new" / "deeper" / "c.yaml")  # missing folders are made when written
    assert not (tmp_path / "new").exists()

"""The byte-level pieces of fault delivery: corrupting one SSE event, cutting replayed SSE bytes
(``protocol.sse.split``, shared with cassettes)."""

from __future__ import annotations

import json

import pytest

from mockserver.faults.spec import Faults
from mockserver.protocol.sse import split as split_sse
from mockserver.faults.transforms import corrupt

EVENT = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n'


def test_bad_json_cuts_the_data_line() -> None:
    broken = corrupt(EVENT, "bad_json")
    assert broken.startswith(b"event: content_block_delta\ndata: {") and broken.endswith(b"\n\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.split(b"data: ", 1)[1])


def test_missing_event_line() -> None:
    assert corrupt(EVENT, "missing_event_line") == EVENT.split(b"\n", 1)[1]


def test_bad_utf8_inside_a_string() -> None:
    broken = corrupt(EVENT, "bad_utf8")
    with pytest.raises(UnicodeDecodeError):
        broken.decode("utf-8")
    assert broken.replace(b"\xff\xfe", b"") == EVENT


def test_corrupting_bytes_that_are_not_an_event() -> None:
    assert corrupt(b"raw bytes", "missing_event_line") == b"raw bytes"
    assert corrupt(b"raw bytes", "bad_json") == b"raw "


def test_split_sse_keeps_every_byte() -> None:
    raw = EVENT * 3 + b"event: ping\ndata: {}"
    parts = split_sse(raw)
    assert b"".join(parts) == raw and len(parts) == 4


def test_split_sse_counts_crlf_events_too() -> None:
    """Replayed bytes with CRLF line ends are cut into events as well, so event faults count them."""
    raw = EVENT.replace(b"\n", b"\r\n") * 2
    parts = split_sse(raw)
    assert b"".join(parts) == raw and len(parts) == 2


def test_describe_lists_what_is_configured() -> None:
    faults = Faults(latency=0.5, drop_after_bytes=10, malformed="bad_json", malformed_at=2, error_probability=0.1)
    assert faults.describe() == ["latency=0.5s", "drop_after_bytes=10", "malformed=bad_json@2", "error_probability=0.1"]
    assert Faults().describe() == [] and not Faults().stream_only and Faults(stream_error_after=1).stream_only
    assert faults.to_json() == {"latency": 0.5, "drop_after_bytes": 10, "malformed": "bad_json", "malformed_at": 2, "error_probability": 0.1}

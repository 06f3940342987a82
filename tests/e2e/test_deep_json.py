"""JSON nested deeper than the server can write back: orjson reads 1,024 levels but writes only
254, and the server re-encodes what it was sent (a reply's seed, a batch item, the journal). Such a
body used to be a 500 with a traceback on Messages (plain and streamed) and batch create; it is a
400 now, and the journal still renders (docs/protocol.md, "Body")."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import anthropic
import orjson
import pytest
import yaml

from mockserver.cassettes import format as fmt
from mockserver.harness.testing import MockServer
from mockserver.journal.journal import TEXT_LIMIT, JournalEntry
from mockserver.pipeline.parse import MAX_JSON_DEPTH, too_deep
from tests.cassette_support import Proxy
from tests.conftest import HAIKU

HEADERS = {"x-api-key": "sk-ant-mock-test-key", "anthropic-version": "2023-06-01", "content-type": "application/json"}
TOO_DEEP = f"The request body is nested too deeply: JSON arrays and objects may nest at most {MAX_JSON_DEPTH} levels."


DEEP = "@deep@"  # stands for the nested part until the body is written as text


def nested(levels: int) -> str:
    """JSON text of ``levels`` levels of arrays and objects, alternating (``[{"a": [...]}]``)."""
    opening = "".join('{"a":' if level % 2 else "[" for level in range(levels))
    return opening + '"leaf"' + "".join("}" if level % 2 else "]" for level in reversed(range(levels)))


def schema(levels: int) -> str:
    """JSON text of an array schema nesting ``levels`` levels (each ``items`` one more object)."""
    return '{"type":"array","items":' * (levels - 1) + '{"type":"string"}' + "}" * (levels - 1)


def with_schema(levels: int, **extra: Any) -> tuple[dict[str, Any], str]:
    """A body with a tool whose ``input_schema.properties.a`` nests to ``levels`` in all."""
    return {
        "model": HAIKU, "max_tokens": 50, "messages": [{"role": "user", "content": "x"}],
        "tools": [{"name": "t", "description": "d", "input_schema": {"type": "object", "properties": {"a": DEEP}}}], **extra,
    }, schema(levels - 5)


def with_tool_use(levels: int, **extra: Any) -> tuple[dict[str, Any], str]:
    """A body whose assistant turn's ``tool_use.input.a`` nests to ``levels`` in all."""
    return {
        "model": HAIKU, "max_tokens": 50, **extra,
        "tools": [{"name": "t", "description": "d", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "t", "input": {"a": DEEP}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "ok"}]},
        ],
    }, nested(levels - 6)


def text(built: tuple[Any, str]) -> bytes:
    template, deep = built
    return json.dumps(template).replace(json.dumps(DEEP), deep).encode()


def depth(raw: bytes) -> int:
    """How deep JSON text nests (its strings hold no brackets here)."""
    level = deepest = 0
    for byte in raw.decode():
        if byte in "[{":
            level += 1
            deepest = max(deepest, level)
        elif byte in "]}":
            level -= 1
    return deepest


def post(url: str, path: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url + path, data=body, headers=HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def journal(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url + "/_mock/journal", timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def refused(status: int, raw: bytes) -> bool:
    if status != 400:
        return False
    error = json.loads(raw)["error"]
    return bool(error["type"] == "invalid_request_error" and error["message"] == TOO_DEEP)


@pytest.mark.parametrize("levels", [256, 600, 1015])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("build", [with_schema, with_tool_use], ids=["input_schema", "tool_use.input"])
def test_deep_messages_bodies_are_a_400_and_the_journal_still_renders(
    mockserver: MockServer, build: Any, stream: bool, levels: int
) -> None:
    body = text(build(levels, stream=True) if stream else build(levels))
    assert depth(body) == levels and orjson.loads(body)  # orjson reads it
    status, raw = post(mockserver.url, "/v1/messages", body)
    assert refused(status, raw), (status, raw[:300])
    status, raw = journal(mockserver.url)
    assert status == 200 and json.loads(raw)["data"][-1]["status"] == 400


def test_a_batch_item_nested_too_deep_is_a_400(mockserver: MockServer) -> None:
    params, deep = with_tool_use(400 - 3)  # {"requests": [{"params": ...}]}
    batch = {"requests": [
        {"custom_id": "ok", "params": {"model": HAIKU, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}},
        {"custom_id": "deep", "params": params},
    ]}
    body = text((batch, deep))
    assert depth(body) == 400
    status, raw = post(mockserver.url, "/v1/messages/batches", body)
    assert refused(status, raw), (status, raw[:300])
    status, raw = journal(mockserver.url)
    assert status == 200


def test_bodies_up_to_the_limit_are_answered(mockserver: MockServer) -> None:
    for build in (with_schema, with_tool_use):
        for stream in (False, True):
            body = text(build(MAX_JSON_DEPTH, stream=stream))
            assert depth(body) == MAX_JSON_DEPTH
            status, raw = post(mockserver.url, "/v1/messages", body)
            assert status == 200, raw[:300]
    status, raw = journal(mockserver.url)
    assert status == 200


def test_the_depth_check_counts_exactly() -> None:
    """Pins the encoder trick too_deep relies on (orjson refusing more than 254 levels): an
    orjson that changed it would move the limit, and this would say so."""
    assert not too_deep(orjson.loads(nested(MAX_JSON_DEPTH)))
    assert too_deep(orjson.loads(nested(MAX_JSON_DEPTH + 1)))
    assert not too_deep({"a": [1, {"b": "c"}] * 1000})


def _row(request: bytes, response: bytes, *, streamed: bool = False) -> list[Any]:
    """A journal row (an entry's arguments after its number)."""
    return ["req_deep", "POST", "/v1/messages", {}, {"content-type": "application/json"}, request, "messages.create",
            1_767_225_600.0, 200, "cassette", response, streamed]


def _entry(request: bytes, response: bytes, *, streamed: bool = False) -> JournalEntry:
    return JournalEntry(0, *_row(request, response, streamed=streamed))


def test_an_entry_orjson_cannot_write_back_renders_as_text() -> None:
    """An open parser (a cassette) keeps a body as sent: orjson reads it, cannot write it back."""
    deep = nested(1000).encode()
    entry = _entry(deep, deep)
    data = json.loads(entry.render())
    assert data["body"] == deep.decode() and data["response"] == deep.decode()
    streamed = _entry(deep, b"event: x\ndata: " + deep + b"\n\n", streamed=True)
    data = json.loads(streamed.render())
    assert data["body"] == deep.decode() and data["events"].startswith("event: x\ndata: [")
    long = b"[" * 300 + b"1" + b"]" * 300 + b" " * (TEXT_LIMIT * 2)
    shown = json.loads(_entry(long, b"").render())["body"]
    assert len(shown) < TEXT_LIMIT + 100 and shown.endswith(f"… ({TEXT_LIMIT + 601} more bytes)")
    shallow = json.loads(_entry(b'{"a":[1]}', b'{"b":2}').render())  # the usual case: JSON as JSON
    assert shallow["body"] == {"a": [1]} and shallow["response"] == {"b": 2}


def test_the_admin_journal_renders_an_entry_nested_past_the_encoder(mockserver: MockServer) -> None:
    deep = nested(1000).encode()
    mockserver._run(mockserver.api.journal.append(_row(deep, deep), mockserver.namespace))
    status, raw = post(mockserver.url, "/v1/messages", text(with_tool_use(10)))
    assert status == 200
    status, raw = journal(mockserver.url)
    assert status == 200, raw[:300]
    first, second = json.loads(raw)["data"]
    assert first["body"] == deep.decode() and second["body"]["model"] == HAIKU


@pytest.mark.parametrize("levels", [230, 300, 900])
def test_a_recorder_keeps_a_body_nested_too_deeply_as_text_and_replays_it(
    tmp_path: Path, make_server: Callable[..., MockServer], levels: int
) -> None:
    """A cassette's open door takes any body: one nested past what the server can write back
    used to be a 500 with a traceback, and left a cassette that would no longer load. It is
    recorded as text (matched by its bytes), and the upstream's answer replays."""
    upstream = make_server(seed=3)
    path = tmp_path / "deep.yaml"
    deep = orjson.loads(nested(levels))
    params: dict[str, Any] = {"model": HAIKU, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "extra_body": {"deep": deep}}
    recorder = Proxy(path, record_mode="all", upstream=upstream.url)
    try:
        with pytest.raises(anthropic.BadRequestError) as recorded:
            recorder.client(max_retries=0).messages.create(**params)
    finally:
        recorder.stop()
    assert recorded.value.status_code == 400 and TOO_DEEP in str(recorded.value)
    [item] = yaml.safe_load(path.read_text())["interactions"]
    assert '"deep":[{"a":[' in item["request"]["text"] and "body" not in item["request"]
    assert len(fmt.load(path)) == 1  # the file loads again

    replayer = Proxy(path, record_mode="none")
    try:
        async def replay() -> anthropic.BadRequestError:
            with pytest.raises(anthropic.BadRequestError) as replayed:
                await replayer.async_client(max_retries=0).messages.create(**params)
            return replayed.value

        error = asyncio.run(replay())
    finally:
        replayer.stop()
    assert error.body == recorded.value.body and error.response.content == recorded.value.response.content

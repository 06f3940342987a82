"""Record against a local upstream (another mockserver), then replay offline: bodies, SSE events,
errors, record modes, matching, ordering, concurrency, pacing and pass-through streaming."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import anthropic
import httpx2
import aiohttp
import orjson
import pytest
from aiohttp import web

from mockserver.cassettes import format as fmt
from mockserver.cassettes.install import CassetteOptions
from mockserver.cassettes.model import Frame, Interaction, RecordedRequest, RecordedResponse
from mockserver.journal import parse_sse
from mockserver.harness.testing import MockServer
from tests.cassette_support import HAIKU, AppThread, Proxy, hello


@pytest.fixture
def upstream(make_server: Callable[..., MockServer]) -> MockServer:
    return make_server(seed=11)


def _calls(client: anthropic.Anthropic) -> dict[str, Any]:
    """A spread of endpoints and outcomes; returns the raw bytes each answered."""
    out: dict[str, Any] = {}
    out["json"] = client.messages.with_raw_response.create(**hello()).http_response.content
    with client.messages.with_streaming_response.create(**hello("Stream me", stream=True)) as response:
        out["stream"] = response.read()
    out["count"] = client.messages.with_raw_response.count_tokens(model=HAIKU, messages=hello()["messages"]).http_response.content
    out["models"] = client.models.with_raw_response.list(limit=3).http_response.content
    out["model"] = client.models.with_raw_response.retrieve(HAIKU).http_response.content
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(**{**hello(), "model": "claude-nonexistent-9"})
    out["404"] = missing.value.response.content
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(**{**hello(), "max_tokens": -1})
    out["400"] = bad.value.response.content
    return out


def test_record_then_replay_gives_back_the_same_bytes_and_events(tmp_path: Path, upstream: MockServer, proxies: Callable[..., Proxy]) -> None:
    path = tmp_path / "cassette.yaml"
    recorder = proxies(path, record_mode="all", upstream=upstream.url)
    with recorder.client(max_retries=0) as client:
        recorded = _calls(client)
    recorder.stop()
    assert [i.response.status for i in fmt.load(path)] == [200, 200, 200, 200, 200, 404, 400]

    replayer = proxies(path, record_mode="none")
    with replayer.client(max_retries=0) as client:
        replayed = _calls(client)
    for key in recorded:
        assert replayed[key] == recorded[key], key  # JSON bodies byte for byte, errors included
    events = parse_sse(replayed["stream"])
    assert [e["event"] for e in events] == [e["event"] for e in parse_sse(recorded["stream"])]
    assert events[0]["event"] == "message_start" and events[-1]["event"] == "message_stop"
    assert all(e.origin == "cassette" for e in replayer.server.journal)


async def test_async_streams_record_and_replay_event_for_event(tmp_path: Path, upstream: MockServer, proxies: Callable[..., Proxy]) -> None:
    path = tmp_path / "async.yaml"
    recorder = proxies(path, record_mode="all", upstream=upstream.url)
    client = recorder.async_client()
    async with client.messages.stream(**hello("Tell me a story", max_tokens=120)) as stream:
        live = [event.to_dict() async for event in stream]
        live_final = (await stream.get_final_message()).to_dict()
    await client.close()
    recorder.stop()
    stored = fmt.load(path)[0].response
    assert stored.frames is not None and all(f.at is not None for f in stored.frames)

    replayer = proxies(path)
    client = replayer.async_client()
    async with client.messages.stream(**hello("Tell me a story", max_tokens=120)) as stream:
        again = [event.to_dict() async for event in stream]
        final = (await stream.get_final_message()).to_dict()
    await client.close()
    assert again == live and final == live_final


def test_the_request_log_shows_the_tokens_of_recorded_and_replayed_calls(
    tmp_path: Path, upstream: MockServer, proxies: Callable[..., Proxy], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mockserver.access")
    path = tmp_path / "tokens.yaml"

    def run(proxy: Proxy) -> list[tuple[int | None, int | None]]:
        with proxy.client(max_retries=0) as client:
            plain = client.messages.create(**hello())
            with client.messages.stream(**hello("Stream me", max_tokens=60)) as stream:
                streamed = stream.get_final_message()
        return [(plain.usage.input_tokens, plain.usage.output_tokens), (streamed.usage.input_tokens, streamed.usage.output_tokens)]

    answered = run(proxies(path, record_mode="all", upstream=upstream.url, server={"log_requests": True}))
    replayer = proxies(path, record_mode="none", server={"log_requests": True})
    assert run(replayer) == answered
    lines = [r.getMessage() for r in caplog.records if r.name == "mockserver.access"]
    expected = [f"in={i} out={o} " for i, o in answered]
    recorded, replayed = lines[:2], lines[2:]
    assert len(lines) == 4 and all(line.endswith("(upstream)") for line in recorded), lines
    assert all(line.endswith("(from the cassette)") for line in replayed), lines
    for line, tokens in zip(recorded + replayed, expected * 2):
        assert tokens in line, (tokens, line)
    journaled = [(e.input_tokens, e.output_tokens) for e in replayer.server.journal]
    assert journaled == answered and replayer.server.journal.last().streamed  # type: ignore[union-attr]


def test_the_cassette_is_readable_yaml_with_bodies_as_mappings(tmp_path: Path, upstream: MockServer, proxies: Callable[..., Proxy]) -> None:
    path = tmp_path / "readable.yaml"
    recorder = proxies(path, record_mode="all", upstream=upstream.url)
    with recorder.client() as client:
        client.messages.create(**hello())
        with client.messages.stream(**hello("Hi")) as stream:
            stream.until_done()
    recorder.stop()
    from mockserver.cassettes import yamlio

    document = yamlio.load(path.read_text())
    assert document["format"] == "mockserver-cassette" and document["version"] == 1
    first, second = document["interactions"]
    assert first["request"]["body"]["messages"] == [{"role": "user", "content": "Hello, Claude"}]
    assert first["request"]["headers"]["anthropic-version"]
    assert first["response"]["body"]["type"] == "message"
    events = second["response"]["events"]
    assert events[0]["event"] == "message_start" and events[0]["data"]["type"] == "message_start"
    assert all(isinstance(e["at"], float) for e in events)
    assert any(e.get("pad") for e in events)  # the upstream's padding, recorded to be replayed


def test_errors_and_unauthenticated_calls_are_recorded_too(tmp_path: Path, upstream: MockServer, proxies: Callable[..., Proxy]) -> None:
    path = tmp_path / "errors.yaml"
    recorder = proxies(path, record_mode="all", upstream=upstream.url)
    status, _ = _post(recorder.url + "/v1/messages", orjson.dumps(hello()), {"anthropic-version": "2023-06-01"})
    assert status == 401  # the upstream's answer: the recorder checks nothing itself
    recorder.stop()
    (item,) = fmt.load(path)
    assert item.response.status == 401 and orjson.loads(item.response.body)["error"]["type"] == "authentication_error"


def test_modes(tmp_path: Path, upstream: MockServer, proxies: Callable[..., Proxy]) -> None:
    path = tmp_path / "modes.yaml"
    # once, no file yet: records everything
    once = proxies(path, record_mode="once", upstream=upstream.url)
    with once.client() as client:
        first = client.messages.create(**hello("one"))
    once.stop()
    assert len(fmt.load(path)) == 1
    # once, file exists: replay only, a new request is refused
    again = proxies(path, record_mode="once", upstream=upstream.url)
    with again.client(max_retries=0) as client:
        assert client.messages.create(**hello("one")).id == first.id
        with pytest.raises(anthropic.NotFoundError):
            client.messages.create(**hello("two"))
    again.stop()
    assert len(fmt.load(path)) == 1
    # new_episodes: replays what matches, records the rest
    episodes = proxies(path, record_mode="new_episodes", upstream=upstream.url)
    with episodes.client() as client:
        assert client.messages.create(**hello("one")).id == first.id
        second = client.messages.create(**hello("two"))
    episodes.stop()
    assert [i.request.json["messages"][0]["content"] for i in fmt.load(path)] == ["one", "two"]
    # all: never replays, appends
    everything = proxies(path, record_mode="all", upstream=upstream.url)
    with everything.client() as client:
        assert client.messages.create(**hello("one")).id != first.id
    everything.stop()
    assert len(fmt.load(path)) == 3
    # rewrite: starts from nothing
    rewrite = proxies(path, record_mode="rewrite", upstream=upstream.url)
    with rewrite.client() as client:
        client.messages.create(**hello("two"))
    rewrite.stop()
    assert len(fmt.load(path)) == 1
    # none: never touches the upstream or the file
    before = path.read_bytes()
    none = proxies(path, record_mode="none", upstream=upstream.url)
    with none.client(max_retries=0) as client:
        assert client.messages.create(**hello("two")).id != second.id  # recorded by rewrite, replayed
        with pytest.raises(anthropic.NotFoundError):
            client.messages.create(**hello("one"))
    none.stop()
    assert path.read_bytes() == before


def test_unmatched_request_names_the_closest_recording_in_the_error_and_the_log(
    tmp_path: Path, upstream: MockServer, proxies: Callable[..., Proxy], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "closest.yaml"
    recorder = proxies(path, record_mode="all", upstream=upstream.url)
    with recorder.client() as client:
        client.messages.create(**hello("What is the capital of France?"))
        client.models.list()
    recorder.stop()
    replayer = proxies(path)
    caplog.set_level(logging.WARNING, logger="mockserver.cassette")
    with replayer.client(max_retries=0) as client:
        with pytest.raises(anthropic.NotFoundError) as caught:
            client.messages.create(**hello("What is the capital of Spain?"))
    message = caught.value.body["error"]["message"]  # type: ignore[index]
    assert "closest is #0 POST /v1/messages model=claude-haiku-4-5" in message
    assert "messages.0.content" in message and "France" in message and "Spain" in message
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(replayer.server.journal) == 1  # not retried
    assert any("closest is #0" in r.getMessage() for r in caplog.records)


def test_identical_requests_replay_in_recorded_order(tmp_path: Path, upstream: MockServer, proxies: Callable[..., Proxy]) -> None:
    path = tmp_path / "order.yaml"
    recorder = proxies(path, record_mode="all", upstream=upstream.url)
    with recorder.client() as client:
        ids = [client.messages.create(**hello()).id for _ in range(3)]
    recorder.stop()
    assert len(set(ids)) == 3
    replayer = proxies(path)
    with replayer.client(max_retries=0) as client:
        assert [client.messages.create(**hello()).id for _ in range(3)] == ids
        with pytest.raises(anthropic.NotFoundError, match="already played.*--allow-repeats.*POST /_mock/reset"):
            client.messages.create(**hello())
        assert httpx2.post(replayer.url + "/_mock/reset", timeout=10).status_code == 200
        # a second client run, after the reset, replays the same answers again
        assert [client.messages.create(**hello()).id for _ in range(3)] == ids
    repeats = proxies(path, allow_repeats=True)
    with repeats.client() as client:
        assert [client.messages.create(**hello()).id for _ in range(4)] == [*ids, ids[-1]]


def test_matching_is_on_canonical_json_and_configurable(tmp_path: Path, upstream: MockServer, proxies: Callable[..., Proxy]) -> None:
    path = tmp_path / "match.yaml"
    recorder = proxies(path, record_mode="all", upstream=upstream.url)
    with recorder.client() as client:
        recorded = client.messages.create(**hello(metadata={"user_id": "alice"}))
    recorder.stop()
    # key order and whitespace never matter
    body = orjson.loads(orjson.dumps(hello(metadata={"user_id": "alice"})))
    shuffled = b'{ "metadata": {"user_id": "alice"},\n "messages": ' + orjson.dumps(body["messages"]) + b', "max_tokens": 60, "model": "claude-haiku-4-5"}'
    replayer = proxies(path)
    status, answer = _post(replayer.url + "/v1/messages", shuffled, {"content-type": "application/json"})
    assert status == 200 and orjson.loads(answer)["id"] == recorded.id
    # ignore a field
    ignoring = proxies(path, ignore_fields=("metadata.user_id",))
    with ignoring.client() as client:
        assert client.messages.create(**hello(metadata={"user_id": "bob"})).id == recorded.id
    # compare only chosen fields
    chosen = proxies(path, match_fields=("model",))
    with chosen.client() as client:
        assert client.messages.create(**hello("something else entirely")).id == recorded.id
    # a custom Python matcher on top
    seen: list[tuple[str, str]] = []

    def same_model(request: RecordedRequest, recorded_request: RecordedRequest) -> bool:
        seen.append((request.json["model"], recorded_request.json["model"]))
        return request.json["model"] == recorded_request.json["model"]

    custom = proxies(path, match_on=("method", "path"), custom_matcher=same_model)
    with custom.client(max_retries=0) as client:
        assert client.messages.create(**hello("anything")).id == recorded.id
        with pytest.raises(anthropic.NotFoundError, match="custom matcher"):
            client.messages.create(**hello("anything", model="claude-opus-4-6"))
    assert seen


def _stream_cassette(path: Path, offsets: list[float]) -> None:
    frames = [
        Frame(b'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-haiku-4-5-20251001","id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}\n\n', offsets[0]),
        Frame(b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}   }\n\n', offsets[1]),
        Frame(b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n', offsets[2]),
        Frame(b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n', offsets[3]),
        Frame(b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}\n\n', offsets[4]),
        Frame(b'event: message_stop\ndata: {"type":"message_stop"}\n\n', offsets[5]),
    ]
    response = RecordedResponse(200, [("content-type", "text/event-stream; charset=utf-8")], b"".join(f.raw for f in frames), frames=frames)
    request = RecordedRequest("POST", "/v1/messages", [], [], orjson.dumps(hello(stream=True)))
    fmt.save(path, [Interaction(request, response)])


def test_realtime_replay_follows_the_recorded_timing_scaled_by_speed(tmp_path: Path, proxies: Callable[..., Proxy]) -> None:
    path = tmp_path / "paced.yaml"
    _stream_cassette(path, [0.0, 0.1, 0.2, 0.3, 0.5, 0.6])
    paced = proxies(path, realtime=True, speed=2.0)
    started = time.monotonic()
    with paced.client() as client:
        text = "".join(e.delta.text for e in client.messages.create(**hello(stream=True)) if e.type == "content_block_delta")
    assert text == "Hi"
    assert time.monotonic() - started >= 0.25  # 0.6 s of recording at twice the speed


async def test_recording_passes_a_stream_through_as_it_arrives(tmp_path: Path, proxies: Callable[..., Proxy]) -> None:
    """The upstream holds its second event until the client has seen the first: a buffering
    proxy would deadlock here (and the upstream's wait would time out)."""
    client_saw_first = threading.Event()

    async def slow_stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        await response.write(b'event: ping\ndata: {"type": "ping"}\n\n')
        released = await asyncio.get_running_loop().run_in_executor(None, client_saw_first.wait, 10)
        await response.write(b'event: done\ndata: {"released":%s}\n\n' % (b"true" if released else b"false"))
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/messages", slow_stream)
    with AppThread(app) as origin:
        recorder = proxies(tmp_path / "stream.yaml", record_mode="all", upstream=origin.url)
        async with aiohttp.ClientSession() as session:
            async with session.post(recorder.url + "/v1/messages", json=hello(stream=True)) as response:
                first = await response.content.readuntil(b"\n\n")
                assert first.startswith(b"event: ping")
                client_saw_first.set()
                rest = await response.content.read()
        assert b'"released":true' in rest
        (item,) = recorder.saved()
        assert [f.raw[:11] for f in item.response.frames or []] == [b"event: ping", b"event: done"]


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def test_concurrent_recording_keeps_every_interaction(tmp_path: Path, upstream: MockServer, proxies: Callable[..., Proxy]) -> None:
    path = tmp_path / "concurrent.yaml"
    recorder = proxies(path, record_mode="all", upstream=upstream.url)
    client = recorder.async_client()
    prompts = [f"question {i}" for i in range(24)]

    async def one(prompt: str) -> Any:
        if prompt.endswith(("3", "7")):
            async with client.messages.stream(**hello(prompt)) as stream:
                return (await stream.get_final_message()).to_dict()
        return (await client.messages.create(**hello(prompt))).to_dict()

    live = await asyncio.gather(*(one(p) for p in prompts))
    await client.close()
    recorder.stop()
    saved = fmt.load(path)
    assert sorted(i.request.json["messages"][0]["content"] for i in saved) == sorted(prompts)

    replayer = proxies(path)
    client = replayer.async_client()
    replayed = await asyncio.gather(*(one(p) for p in prompts))
    await client.close()
    assert replayed == live


def test_batches_record_and_replay_with_results_url_pointing_back(tmp_path: Path, upstream: MockServer, proxies: Callable[..., Proxy]) -> None:
    path = tmp_path / "batches.yaml"
    recorder = proxies(path, record_mode="all", upstream=upstream.url)
    requests = [{"custom_id": f"q{i}", "params": hello(f"batch item {i}")} for i in range(2)]

    def run(client: anthropic.Anthropic) -> list[Any]:
        batch = client.messages.batches.create(requests=requests)
        polled = [batch.to_dict()]
        other = client.messages.batches.create(requests=requests[:1])
        try:  # canceling or already ended: whichever the upstream said is what replay says
            polled.append(client.messages.batches.cancel(other.id).to_dict())
        except anthropic.BadRequestError as ended:
            polled.append(ended.body)
        while batch.processing_status != "ended":
            time.sleep(0.02)
            batch = client.messages.batches.retrieve(batch.id)
            polled.append(batch.to_dict())
        assert batch.results_url and batch.results_url.startswith(client.base_url.__str__().rstrip("/"))
        results = [r.to_dict() for r in client.messages.batches.results(batch.id)]
        listed = client.messages.batches.list(limit=5).to_dict()
        deleted = client.messages.batches.delete(batch.id).to_dict()
        return [polled, results, listed, deleted]

    with recorder.client() as client:
        live = run(client)
    recorder.stop()
    stored = fmt.load(path)
    assert {i.request.path.rsplit("/", 1)[-1] for i in stored} >= {"batches", "results", "cancel"}
    # the cassette keeps what the upstream said; only delivery points results_url at the proxy
    assert any(upstream.url.encode() in i.response.body for i in stored if b"results_url" in i.response.body)

    replayer = proxies(path)
    with replayer.client() as client:
        again = run(client)
    replay_url, record_url = replayer.url, recorder.url
    assert orjson.loads(orjson.dumps(again).replace(replay_url.encode(), record_url.encode())) == orjson.loads(orjson.dumps(live))


def test_results_url_behind_a_wildcard_host_names_the_address_the_client_used(tmp_path: Path, upstream: MockServer) -> None:
    """A recorder or replayer listening on 0.0.0.0 points ``results_url`` where the client reached
    it (its Host header), as the batch handlers do, not at the unreachable wildcard address."""
    path = tmp_path / "wildcard.yaml"

    def run(**options: Any) -> None:
        server = MockServer(host="0.0.0.0")
        installed = server.api.put_cassette(CassetteOptions([path], **options))
        server.start()
        try:
            base = "http://127.0.0.1:" + server.url.rsplit(":", 1)[1]
            with anthropic.Anthropic(base_url=base, api_key="sk-ant-test", max_retries=0) as client:
                batch = client.messages.batches.create(requests=[{"custom_id": "q", "params": hello("wildcard")}])
                while batch.processing_status != "ended":
                    time.sleep(0.02)
                    batch = client.messages.batches.retrieve(batch.id)
                assert batch.results_url == f"{base}/v1/messages/batches/{batch.id}/results"
                assert [r.custom_id for r in client.messages.batches.results(batch.id)] == ["q"]
            server._thread.call(installed.flush())
        finally:
            server.stop()

    run(record_mode="all", upstream=upstream.url)  # the upstream responder
    assert fmt.load(path)
    run(record_mode="none")  # the replay responder


def test_header_bytes_that_are_not_utf8_are_recorded_as_replacement_characters(tmp_path: Path, proxies: Callable[..., Proxy]) -> None:
    """A request header or an upstream header or reason phrase with bytes that are not UTF-8 (the
    HTTP parser keeps them as lone surrogates) made the recorder a 500 with a traceback, as the
    cassette could not be written; they are recorded as U+FFFD, and the interaction replays."""
    import socketserver

    answer = (b'HTTP/1.1 200 Ok\xe9\r\ncontent-type: application/json\r\nx-odd: caf\xe9 \xff\r\n'
              b'content-length: 8\r\nconnection: close\r\n\r\n{"ok":1}')

    class Raw(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            self.rfile.read(len(orjson.dumps(hello())))
            self.wfile.write(answer)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Raw) as origin:
        threading.Thread(target=origin.serve_forever, daemon=True).start()
        path = tmp_path / "bytes.yaml"
        recorder = proxies(path, record_mode="all", upstream=f"http://127.0.0.1:{origin.server_address[1]}")
        headers = {"content-type": "application/json", "x-note": "\xff\xfe ok"}  # sent as latin-1: raw bytes
        assert _post(recorder.url + "/v1/messages", orjson.dumps(hello()), headers) == (200, b'{"ok":1}')
        recorder.stop()
        origin.shutdown()
    (item,) = fmt.load(path)
    assert ("X-Note", "\ufffd\ufffd ok") in item.request.headers
    assert ("x-odd", "caf\ufffd \ufffd") in item.response.headers and item.response.reason == "Ok\ufffd"
    replayer = proxies(path)
    assert _post(replayer.url + "/v1/messages", orjson.dumps(hello()), headers) == (200, b'{"ok":1}')

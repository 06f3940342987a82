"""Every vcrpy, Ruby VCR and HAR file in tests/data/realworld (plus the ddapm JSON and httprr bonus
formats) replays exactly what was recorded, and the Messages ones replay through the official SDK."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest

from mockserver.cassettes import importers
from mockserver.cassettes.install import CassetteOptions
from mockserver.harness.testing import MockServer

REALWORLD = Path(__file__).resolve().parents[1] / "data" / "realworld"
FILES = sorted(p for p in REALWORLD.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".har", ".json", ".httprr"))
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # recordings of models since deprecated


def test_the_realworld_copies_are_all_here() -> None:
    assert len(FILES) == 70  # tests/data/realworld/SOURCES.md lists them (71 files with SOURCES.md)


def _id(path: Path) -> str:
    return str(path.relative_to(REALWORLD))


def _serve(*paths: Path, **options: Any) -> MockServer:
    server = MockServer()
    server.api.put_cassette(CassetteOptions(list(paths), **options))
    return server.start()


def test_the_corpus_has_every_required_format() -> None:
    kinds = {importers.load_any(p).kind for p in FILES}
    assert {"vcrpy", "ruby-vcr", "har", "ddapm", "httprr"} <= kinds


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_each_recorded_request_gets_back_exactly_what_was_recorded(path: Path) -> None:
    items = importers.load_any(path).interactions
    assert items
    server = _serve(path, rewrite_urls=False)
    host, port = server.url.removeprefix("http://").split(":")
    try:
        for item in items:
            request, recorded = item.request, item.response
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request(request.method, request.target(), body=request.body or None, headers=dict(request.headers))
            response = conn.getresponse()
            body = response.read()
            conn.close()
            assert response.status == recorded.status
            assert body == (b"" if request.method == "HEAD" else recorded.body)
            for name, value in recorded.headers:
                assert value in response.headers.get_all(name, []), (name, value)
            assert response.headers.get("content-encoding") is None  # bodies go out decoded
    finally:
        server.stop()


def _sdk_call(client: anthropic.Anthropic, item: Any) -> Any:
    """The recorded call made again through the SDK's Messages API: the same body (fields this SDK
    does not know go in ``extra_body``) and query (older SDKs sent ``?beta=true``)."""
    body = dict(item.request.json)
    query = dict(item.request.query)
    api = client.beta.messages if query.get("beta") == "true" else client.messages
    extra = {"extra_query": query or None}
    if item.request.path.endswith("/count_tokens"):
        return api.count_tokens(model=body.pop("model"), messages=body.pop("messages"), extra_body=body, **extra)
    kwargs = {"model": body.pop("model"), "max_tokens": body.pop("max_tokens"), "messages": body.pop("messages")}
    if "stream" in body:
        kwargs["stream"] = body.pop("stream")
    kwargs.update(extra_body=body, **extra)
    if kwargs.get("stream") is True:
        with api.create(**kwargs) as events:
            return [e.to_dict() for e in events]
    return api.create(**kwargs)


MESSAGES_FILES = [
    p for p in FILES
    if any(i.request.path in ("/v1/messages", "/v1/messages/count_tokens") for i in importers.load_any(p).interactions)
]


@pytest.mark.parametrize("path", MESSAGES_FILES, ids=_id)
def test_messages_recordings_replay_through_the_official_sdk(path: Path) -> None:
    items = [i for i in importers.load_any(path).interactions if i.request.path.startswith("/v1/messages") and i.request.json]
    server = _serve(path)
    try:
        with anthropic.Anthropic(base_url=server.url, api_key="sk-ant-mock-key", max_retries=0, timeout=60) as client:
            for item in items:
                recorded = item.response
                if recorded.status >= 400:
                    with pytest.raises(anthropic.APIStatusError) as caught:
                        _sdk_call(client, item)
                    assert caught.value.status_code == recorded.status
                    assert caught.value.response.content == recorded.body
                    continue
                got = _sdk_call(client, item)
                if item.request.json.get("stream") is True:
                    expected = [orjson.loads(line[6:]) for line in recorded.body.split(b"\n") if line.startswith(b"data: ")]
                    # the SDK saw every recorded event, in order, with the recorded data (it skips pings)
                    assert got == [e for e in expected if e.get("type") != "ping"]
                else:
                    assert got.to_dict() == orjson.loads(recorded.body)
        assert server.journal.entries(origin="cassette")
    finally:
        server.stop()

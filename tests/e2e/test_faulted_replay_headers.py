"""Replayed bytes (BytesReply) keep their recorded headers through the faulted path exactly as
through the plain one: a repeated ``Set-Cookie``, a recorded ``Request-Id`` in any case, and a
``Content-type`` that says the body is an event stream (so stream faults apply to it)."""

from __future__ import annotations

from typing import Any, Callable

import httpx2
from multidict import CIMultiDict

from mockserver.pipeline.exchange import ApiRequest, BytesReply, Reply
from mockserver.faults.spec import Faults
from mockserver.harness.testing import DEFAULT_TEST_KEY, MockServer
from tests.conftest import HAIKU

PING = b'event: ping\ndata: {"type": "ping"}\n\n'
BODY = PING * 3


class Canned:
    name = "canned"

    def __init__(self, faults: Faults | None) -> None:
        self.faults = faults

    async def __call__(self, api: ApiRequest, next: object) -> Reply:
        headers = CIMultiDict(
            [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Request-Id", "req_011CrecordedRequestId0"), ("Content-type", "text/event-stream")]
        )
        return BytesReply(status=200, body=BODY, headers=headers, faults=self.faults)  # type: ignore[arg-type]


def _post(make_server: Callable[..., MockServer], faults: Faults | None) -> tuple[httpx2.Response, MockServer]:
    server = make_server()
    server.api.use(Canned(faults))
    body: dict[str, Any] = {"model": HAIKU, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"x-api-key": DEFAULT_TEST_KEY, "anthropic-version": "2023-06-01"}
    with httpx2.Client(base_url=server.url, timeout=10) as client:
        return client.post("/v1/messages", json=body, headers=headers), server


def _recorded(response: httpx2.Response) -> tuple[list[str], list[str], list[str]]:
    return (
        response.headers.get_list("set-cookie"),
        response.headers.get_list("request-id"),
        response.headers.get_list("content-type"),
    )


def test_faulted_replay_keeps_recorded_headers_as_the_plain_path_does(make_server: Callable[..., MockServer]) -> None:
    plain, _ = _post(make_server, None)
    faulted, _ = _post(make_server, Faults(latency=0.01))
    expected = (["a=1", "b=2"], ["req_011CrecordedRequestId0"], ["text/event-stream"])
    assert _recorded(plain) == expected
    assert _recorded(faulted) == expected
    assert plain.content == faulted.content == BODY


def test_a_content_type_in_any_case_makes_replayed_bytes_a_stream_for_faults(make_server: Callable[..., MockServer]) -> None:
    response, server = _post(make_server, Faults(stream_error_after=1))
    assert response.content.startswith(PING) and b"event: error" in response.content
    assert response.content.count(PING) == 1
    notes = server.journal.last_request().faults
    assert "stream faults skipped: not a stream" not in notes and "event: error after 1 events" in notes


def test_stream_faults_on_bytes_that_are_not_a_stream_are_noted_once(make_server: Callable[..., MockServer]) -> None:
    """Noted once, before what the byte faults did, whichever way the body is written."""

    class Json:
        name = "json"

        def __init__(self, faults: Faults) -> None:
            self.faults = faults

        async def __call__(self, api: ApiRequest, next: object) -> Reply:
            return BytesReply(status=200, body=b'{"type":"message"}', content_type="application/json", faults=self.faults)

    whole_faults, cut_faults = Faults(stream_error_after=1), Faults(stream_error_after=1, drop_after_bytes=5)
    whole = make_server()
    whole.api.use(Json(whole_faults))
    cut = make_server()
    cut.api.use(Json(cut_faults))
    headers = {"x-api-key": DEFAULT_TEST_KEY, "anthropic-version": "2023-06-01"}
    body = {"model": HAIKU, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    with httpx2.Client(base_url=whole.url, timeout=10) as client:
        assert client.post("/v1/messages", json=body, headers=headers).content == b'{"type":"message"}'
    with httpx2.Client(base_url=cut.url, timeout=10) as client:
        try:
            client.post("/v1/messages", json=body, headers=headers)
        except httpx2.HTTPError:
            pass
    assert whole.journal.last_request().faults == [*whole_faults.describe(), "stream faults skipped: not a stream"]
    assert cut.journal.last_request().faults == [*cut_faults.describe(), "stream faults skipped: not a stream", "dropped after 5 bytes"]

"""The in-process transport: the official SDK through the same pipeline, with no socket."""

from __future__ import annotations

from typing import Iterator

import anthropic
import httpx2
import pytest

from mockserver.harness.testing import DEFAULT_TEST_KEY, MockServer, transport
from tests.conftest import HAIKU, USER_HI

ASK = {"model": HAIKU, "max_tokens": 30, "messages": USER_HI}


@pytest.fixture
def offline() -> Iterator[MockServer]:
    with MockServer(listen=False, seed=3) as server:
        yield server


def client_for(server: MockServer, **options: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=DEFAULT_TEST_KEY, http_client=httpx2.Client(transport=server.transport()),
                               _strict_response_validation=True, **options)  # type: ignore[arg-type]


def async_client_for(server: MockServer, **options: object) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=DEFAULT_TEST_KEY, http_client=httpx2.AsyncClient(transport=server.transport()),
                                    _strict_response_validation=True, **options)  # type: ignore[arg-type]


def test_no_socket_is_opened(offline: MockServer) -> None:
    assert offline.url == ""
    with client_for(offline) as client:
        assert client.messages.create(**ASK).type == "message"


def test_plain_and_streamed_answers_agree_and_are_journaled(offline: MockServer) -> None:
    with client_for(offline) as client:
        plain = client.messages.create(**ASK)
        with client.messages.stream(**ASK) as stream:
            streamed = stream.get_final_message()
    assert [(b.type, getattr(b, "text", None)) for b in streamed.content] == [(b.type, getattr(b, "text", None)) for b in plain.content]
    assert streamed.usage.output_tokens == plain.usage.output_tokens
    calls = offline.journal.assert_called(2)
    assert calls[1].streamed and [e["event"] for e in calls[1].events][0] == "message_start"


async def test_async_clients_and_scenarios(offline: MockServer) -> None:
    offline.sequence([529, "ok"])
    client = async_client_for(offline, max_retries=2)
    try:
        answer = await client.messages.create(**ASK)
        assert answer.content[0].text == "ok"  # type: ignore[union-attr]
        async with client.messages.stream(**ASK) as stream:
            assert (await stream.get_final_message()).content[0].text == "ok"  # type: ignore[union-attr]
    finally:
        await client.close()
    assert offline.journal.header_values("x-stainless-retry-count") == ["0", "1", "0"]


def test_errors_keep_their_status_headers_and_body(offline: MockServer) -> None:
    offline.error(429, retry_after=0)
    with client_for(offline, max_retries=0) as client, pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(**ASK)
    assert limited.value.response.headers["retry-after"] == "0" and limited.value.request_id


def test_a_drop_mid_stream_is_a_broken_connection(offline: MockServer) -> None:
    offline.fault(drop={"after_events": 2})
    with client_for(offline, max_retries=0) as client, pytest.raises(httpx2.RemoteProtocolError):
        with client.messages.stream(**ASK) as stream:
            stream.get_final_message()


def test_a_reset_is_a_connection_error(offline: MockServer) -> None:
    offline.fault(reset=True)
    with client_for(offline, max_retries=0) as client, pytest.raises(anthropic.APIConnectionError):
        client.messages.create(**ASK)


def test_the_transport_of_a_listening_server_shares_its_journal() -> None:
    with MockServer() as server:
        with client_for(server) as offline_client, server.client() as socket_client:
            offline_client.messages.create(**ASK)
            socket_client.messages.create(**ASK)
        assert len(server.journal.calls()) == 2


def test_a_standalone_transport() -> None:
    with anthropic.Anthropic(api_key="k", http_client=httpx2.Client(transport=transport(seed=1))) as client:
        assert client.models.list().data


def test_plain_httpx_as_the_0x_sdk_line_uses_it(offline: MockServer) -> None:
    import httpx

    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    with httpx.Client(transport=offline.transport(), base_url="http://mockserver") as client:  # type: ignore[arg-type]
        answer = client.post("/v1/messages", json={**ASK, "stream": True}, headers=headers)
        assert isinstance(answer, httpx.Response) and answer.status_code == 200
        assert answer.text.startswith("event: message_start")


async def test_plain_httpx_async(offline: MockServer) -> None:
    import httpx

    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(transport=offline.transport(), base_url="http://mockserver") as client:  # type: ignore[arg-type]
        answer = await client.get("/v1/models", headers=headers)
        assert answer.status_code == 200 and answer.json()["data"]


def test_the_public_facade_names_it() -> None:
    """``from mockserver import transport``: a server of its own, for the SDK's own client class
    (httpx2 on this SDK line, httpx on 0.x), as the README shows."""
    import mockserver

    assert "transport" in mockserver.__all__ and mockserver.transport is transport
    http_client = anthropic.DefaultHttpxClient(transport=mockserver.transport(seed=3))
    with anthropic.Anthropic(api_key=DEFAULT_TEST_KEY, base_url="http://mockserver", http_client=http_client) as client:
        assert client.messages.create(**ASK).type == "message"

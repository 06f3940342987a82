"""Message Batches through the official SDK, sync and async: every endpoint, the objects and
status codes the real API has, and the errors (docs/reference/anthropic-api.md §8)."""

from __future__ import annotations

import http.client
import json
from datetime import timedelta

import anthropic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.batches.envelope import MAX_REQUESTS
from tests.batch_support import (
    BATCH_KEYS,
    COUNT_KEYS,
    await_ended,
    item,
    raw_results,
    strict_line,
    wait_ended,
)


# -- create, poll, results, delete --------------------------------------------------------------


def test_create_poll_results_delete(anthropic_client: anthropic.Anthropic, mockserver) -> None:
    batches = anthropic_client.messages.batches
    raw = batches.with_raw_response.create(requests=[item("first", "What is 2 + 2?"), item("second", "Name a colour.")])
    created = json.loads(raw.http_response.content)
    assert list(created) == BATCH_KEYS and list(created["request_counts"]) == COUNT_KEYS
    assert created["id"].startswith("msgbatch_01") and len(created["id"]) == 33
    assert created["processing_status"] == "in_progress" and created["type"] == "message_batch"
    assert created["request_counts"] == {"processing": 2, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    assert created["ended_at"] is None and created["results_url"] is None and created["archived_at"] is None
    assert created["created_at"].endswith("+00:00") and len(created["created_at"]) == len("2026-08-19T14:47:10.487960+00:00")
    batch = raw.parse()
    assert batch.expires_at - batch.created_at == timedelta(hours=24)

    ended = wait_ended(anthropic_client, batch.id)
    assert ended.request_counts.succeeded == 2 and ended.request_counts.processing == 0
    assert ended.ended_at is not None and ended.ended_at >= ended.created_at
    # results_url points at this server: the SDK fetches it verbatim
    assert ended.results_url == f"{mockserver.url}/v1/messages/batches/{batch.id}/results"

    results = {r.custom_id: r for r in batches.results(batch.id)}
    assert set(results) == {"first", "second"}
    message = results["first"].result.message  # type: ignore[union-attr]
    assert results["first"].result.type == "succeeded" and message.usage.service_tier == "batch"
    assert 'You said: "What is 2 + 2?"' in message.content[0].text  # type: ignore[union-attr]

    deleted = batches.delete(batch.id)
    assert deleted.id == batch.id and deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError) as exc:
        batches.retrieve(batch.id)
    assert exc.value.body["error"]["message"] == f"Message Batch {batch.id} not found."  # type: ignore[index]


async def test_async_create_poll_results_cancel_delete(async_anthropic_client: anthropic.AsyncAnthropic, mockserver) -> None:
    batches = async_anthropic_client.messages.batches
    batch = await batches.create(requests=[item("a"), item("b", model="claude-nope-1")])
    ended = await await_ended(async_anthropic_client, batch.id)
    assert (ended.request_counts.succeeded, ended.request_counts.errored) == (1, 1)
    results = {r.custom_id: r.result async for r in await batches.results(batch.id)}
    assert results["a"].type == "succeeded"
    assert results["b"].type == "errored" and results["b"].error.error.message == "model: claude-nope-1"  # type: ignore[union-attr]
    with pytest.raises(anthropic.BadRequestError):
        await batches.cancel(batch.id)  # already ended
    assert (await batches.delete(batch.id)).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        await batches.delete(batch.id)


def test_beta_variant(anthropic_client: anthropic.Anthropic, mockserver) -> None:
    beta = anthropic_client.beta.messages.batches
    batch = beta.create(requests=[item("b1")], betas=["message-batches-2024-09-24"])
    # SDK 2.12 marks beta calls only with the anthropic-beta header (when betas= is given)
    assert mockserver.journal.last().header("anthropic-beta") == "message-batches-2024-09-24"
    ended = wait_ended(anthropic_client, batch.id, beta=True)
    assert ended.request_counts.succeeded == 1
    (line,) = list(beta.results(batch.id))
    assert line.custom_id == "b1" and line.result.type == "succeeded"
    assert [b.id for b in beta.list()] == [batch.id]
    assert beta.delete(batch.id).type == "message_batch_deleted"


async def test_async_beta_variant(async_anthropic_client: anthropic.AsyncAnthropic) -> None:
    beta = async_anthropic_client.beta.messages.batches
    batch = await beta.create(requests=[item("x", max_tokens=0)])  # max_tokens 0: refused in batches
    await await_ended(async_anthropic_client, batch.id)
    lines = [r async for r in await beta.results(batch.id)]
    assert lines[0].result.type == "errored"
    assert lines[0].result.error.error.message == "max_tokens: must be greater than or equal to 1"  # type: ignore[union-attr]
    assert [b.id async for b in beta.list()] == [batch.id]


# -- results file -------------------------------------------------------------------------------


def test_the_journal_keeps_the_first_64_kib_of_a_results_download(anthropic_client: anthropic.Anthropic, mockserver) -> None:
    batch = anthropic_client.messages.batches.create(requests=[item(f"item-{i}", f"Question {i}") for i in range(200)])
    wait_ended(anthropic_client, batch.id)
    _, body = raw_results(anthropic_client, batch.id)
    assert len(body) > 64 * 1024 and body.count(b"\n") == 200
    kept = mockserver.journal.calls(endpoint="batches.results")[-1].response_bytes
    assert kept == body[: 64 * 1024]  # the rest was sent, not kept



def test_results_are_the_real_jsonl(anthropic_client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as single:  # what the same params get as one request
        anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=[])
    requests = [item(f"ok-{i}", f"Question {i}") for i in range(3)] + [item("bad", messages=[])]
    batch = anthropic_client.messages.batches.create(requests=requests)
    wait_ended(anthropic_client, batch.id)
    response, body = raw_results(anthropic_client, batch.id)
    assert response.headers["content-type"] == "application/x-jsonl"
    assert response.headers["content-disposition"] == f"attachment; filename*=utf-8''{batch.id}_results.jsonl"
    assert response.headers["transfer-encoding"] == "chunked"  # streamed from storage
    assert response.headers["request-id"].startswith("req_")
    assert body.endswith(b"\n") and b"\n\n" not in body  # a blank line would break the SDK's decoder
    lines = body.split(b"\n")[:-1]
    assert len(lines) == 4
    parsed = [strict_line(line) for line in lines]
    assert {p.custom_id for p in parsed} == {"ok-0", "ok-1", "ok-2", "bad"}
    first = json.loads(lines[0])
    assert list(first) == ["custom_id", "result"] and list(first["result"]) == ["type", "message"]
    assert list(first["result"]["message"])[:3] == ["model", "id", "type"]  # as real result rows
    bad = json.loads(next(line for line in lines if b'"bad"' in line))
    assert bad["result"] == {
        "type": "errored",
        "error": {
            "type": "error",
            "error": {
                "details": {"error_visibility": "user_facing"},
                "type": "invalid_request_error",
                "message": single.value.body["error"]["message"],  # type: ignore[index]
            },
            "request_id": None,
        },
    }


def test_item_params_are_validated_when_processed_not_at_create(anthropic_client: anthropic.Anthropic) -> None:
    requests = [
        item("no-model", model=None),
        item("stream", stream=True),
        item("zero", max_tokens=0),
        item("retired", model="claude-2.0"),
        item("too-many-tokens", max_tokens=10_000_000),
        {"custom_id": "missing", "params": {"model": "claude-haiku-4-5", "max_tokens": 5}},
        item("fine"),
    ]
    requests[0]["params"].pop("model")
    batch = anthropic_client.messages.batches.create(requests=requests)  # accepted whole: 200
    assert batch.request_counts.processing == 7
    wait_ended(anthropic_client, batch.id)
    errors = {}
    for line in anthropic_client.messages.batches.results(batch.id):
        if line.result.type == "errored":
            errors[line.custom_id] = (line.result.error.error.type, line.result.error.error.message)
    assert errors == {
        "no-model": ("invalid_request_error", "model: Field required"),
        "stream": ("invalid_request_error", '"stream=True" is not supported in the Message Batches API'),
        "zero": ("invalid_request_error", "max_tokens: must be greater than or equal to 1"),
        "retired": ("not_found_error", "model: claude-2.0"),
        "too-many-tokens": (
            "invalid_request_error",
            "max_tokens: 10000000 > 64000, which is the maximum allowed number of output tokens for claude-haiku-4-5-20251001",
        ),
        "missing": ("invalid_request_error", "messages: Field required"),
    }


# -- list ---------------------------------------------------------------------------------------


def test_list_paginates_newest_first(anthropic_client: anthropic.Anthropic) -> None:
    ids = [anthropic_client.messages.batches.create(requests=[item(f"n{i}")]).id for i in range(5)]
    newest_first = ids[::-1]
    assert [b.id for b in anthropic_client.messages.batches.list(limit=2)] == newest_first  # the auto-pager walks all
    page = anthropic_client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == newest_first[:2] and page.has_more
    assert (page.first_id, page.last_id) == (newest_first[0], newest_first[1])
    after = anthropic_client.messages.batches.list(limit=2, after_id=newest_first[1])
    assert [b.id for b in after.data] == newest_first[2:4] and after.has_more
    last = anthropic_client.messages.batches.list(limit=2, after_id=newest_first[3])
    assert [b.id for b in last.data] == newest_first[4:] and not last.has_more
    before = anthropic_client.messages.batches.list(limit=2, before_id=newest_first[3])
    assert [b.id for b in before.data] == newest_first[1:3] and before.has_more
    with pytest.raises(anthropic.BadRequestError, match="limit: Input should be less than or equal to 1000"):
        anthropic_client.messages.batches.list(limit=1001)
    with pytest.raises(anthropic.BadRequestError, match="Invalid pagination cursor"):
        anthropic_client.messages.batches.list(after_id="msgbatch_01nope")


async def test_async_list_across_pages(async_anthropic_client: anthropic.AsyncAnthropic) -> None:
    ids = [(await async_anthropic_client.messages.batches.create(requests=[item(f"n{i}")])).id for i in range(3)]
    listed = [b.id async for b in async_anthropic_client.messages.batches.list(limit=1)]
    assert listed == ids[::-1]


def test_list_of_a_fresh_server_is_empty(anthropic_client: anthropic.Anthropic) -> None:
    page = anthropic_client.messages.batches.list()
    assert page.data == [] and not page.has_more and page.first_id is None


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["retrieve", "cancel", "delete"])
def test_unknown_batch_is_404(anthropic_client: anthropic.Anthropic, call: str) -> None:
    with pytest.raises(anthropic.NotFoundError) as exc:
        getattr(anthropic_client.messages.batches, call)("msgbatch_01XcrrYn2cEKa3ymqynvo9xd")
    assert exc.value.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "Message Batch msgbatch_01XcrrYn2cEKa3ymqynvo9xd not found."},
        "request_id": exc.value.request_id,
    }
    assert exc.value.response.headers["x-should-retry"] == "false"


def test_results_of_unknown_batch_is_404(anthropic_client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError, match="Message Batch msgbatch_01nope not found."):
        anthropic_client.get("/v1/messages/batches/msgbatch_01nope/results", cast_to=object)


def test_in_progress_errors(make_server) -> None:
    from mockserver.clock import ManualClock

    server = make_server(clock=ManualClock(), batch_pace=1)  # nothing finishes until the clock moves
    client = server.client()
    batch = client.messages.batches.create(requests=[item("a"), item("b")])
    raw = client.messages.batches.with_raw_response.retrieve(batch.id)
    assert raw.headers["retry-after"] == "10"  # polling a batch still processing, as real responses
    assert raw.parse().processing_status == "in_progress"
    with pytest.raises(anthropic.NotFoundError) as exc:  # results too early
        client.get(f"/v1/messages/batches/{batch.id}/results", cast_to=object)
    assert exc.value.body["error"]["message"] == f"Message Batch {batch.id} has no available results."  # type: ignore[index]
    with pytest.raises(anthropic.AnthropicError, match="No `results_url`"):  # the SDK refuses by itself
        client.messages.batches.results(batch.id)
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.batches.delete(batch.id)
    assert bad.value.body["error"] == {  # type: ignore[index]
        "type": "invalid_request_error",
        "message": "In progress batches cannot be deleted. Consider canceling the batch instead.",
    }


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([], "requests: List should have at least 1 item after validation, not 0"),
        ([item("dup"), item("ok"), item("dup")], "requests: custom_id's must be unique within a batch. Duplicate custom_id found: dup"),
        ([{"params": item("x")["params"]}], "requests.0.custom_id: Field required"),
        ([item("ok"), item("a" * 65)], "requests.1.custom_id: String should have at most 64 characters"),
        ([item("has space")], "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"),
        ([item("")], "requests.0.custom_id: String should have at least 1 character"),
        ([{"custom_id": "x"}], "requests.0.params: Field required"),
        ([{"custom_id": "x", "params": "hi"}], "requests.0.params: Input should be a valid dictionary"),
        ([{"custom_id": "x", "params": {}, "extra": 1}], "requests.0.extra: Extra inputs are not permitted"),
    ],
)
def test_malformed_batches_are_rejected_whole(anthropic_client: anthropic.Anthropic, requests: list, message: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as exc:
        anthropic_client.messages.batches.create(requests=requests)
    assert exc.value.body["error"] == {"type": "invalid_request_error", "message": message}  # type: ignore[index]
    assert list(anthropic_client.messages.batches.list()) == []  # nothing was stored


async def test_async_malformed_batch(async_anthropic_client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="Duplicate custom_id found: a"):
        await async_anthropic_client.messages.batches.create(requests=[item("a"), item("a")])


def test_too_many_requests_is_400(anthropic_client: anthropic.Anthropic) -> None:
    tiny = {"model": "m", "max_tokens": 1, "messages": []}
    requests = [{"custom_id": f"r{i}", "params": tiny} for i in range(MAX_REQUESTS + 1)]
    with pytest.raises(anthropic.BadRequestError) as exc:
        anthropic_client.messages.batches.create(requests=requests)
    assert exc.value.body["error"]["message"] == (  # type: ignore[index]
        f"requests: List should have at most 100000 items after validation, not {MAX_REQUESTS + 1}"
    )


def test_too_large_is_413(mockserver) -> None:
    host, port = mockserver.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/v1/messages/batches")
    for name, value in {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json",
                        "content-length": str(256 * 1024 * 1024 + 1)}.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(b'{"requests": [')  # refused on the declared size, before the body arrives
    response = conn.getresponse()
    assert response.status == 413
    assert json.loads(response.read()) == {"error": {"type": "request_too_large", "message": "Request exceeds the maximum size"}}
    conn.close()


# -- lenient (contract) mode ----------------------------------------------------------------------


def test_lenient_mode_answers_any_id_in_any_state(make_server) -> None:
    from mockserver.clock import ManualClock

    client = make_server(lenient=True, clock=ManualClock(), batch_pace=1).client()
    batches = client.messages.batches
    assert batches.retrieve("message_batch_id").id == "message_batch_id"
    assert batches.cancel("message_batch_id").processing_status == "canceling"
    assert batches.delete("message_batch_id").type == "message_batch_deleted"
    assert list(batches.results("message_batch_id")) == []
    assert batches.list(after_id="after_id", before_id="before_id", limit=0).data == []
    in_progress = batches.create(requests=[item("a", model="claude-opus-5-5")])
    assert batches.delete(in_progress.id).type == "message_batch_deleted"  # deletable while processing


# -- fuzz ---------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
PARAMS = st.fixed_dictionaries(
    {},
    optional={"model": st.sampled_from(["claude-haiku-4-5", "nope"]) | JSON, "max_tokens": st.integers(-2, 70_000) | JSON,
              "messages": st.just([{"role": "user", "content": "Hi"}]) | JSON, "stream": st.booleans(), "system": JSON},
)
REQUEST = st.fixed_dictionaries({"custom_id": st.from_regex(r"[a-z0-9_-]{1,8}", fullmatch=True) | JSON, "params": PARAMS | JSON})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(requests=st.lists(REQUEST, max_size=5) | JSON)
def test_any_batch_body_is_answered_and_any_accepted_item_ends_in_a_valid_row(mockserver, requests: object) -> None:
    client = mockserver.client(max_retries=0)
    try:
        batch = client.post("/v1/messages/batches", body={"requests": requests}, cast_to=anthropic.types.messages.MessageBatch)
    except anthropic.BadRequestError as error:  # a malformed envelope: the whole batch is refused
        assert error.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
        return
    ended = wait_ended(client, batch.id)
    assert ended.request_counts.succeeded + ended.request_counts.errored == len(requests)  # type: ignore[arg-type]
    _, body = raw_results(client, batch.id)
    lines = body.split(b"\n")[:-1]
    assert len(lines) == len(requests) and b"\n\n" not in body  # type: ignore[arg-type]
    for line in lines:
        strict_line(line)

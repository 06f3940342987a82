"""The lifecycle of a batch on an injectable clock: pace, request counts, cancel, expiry, archive;
and every item answered by the same responder pipeline as a single message."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import anthropic
import pytest

from mockserver.clock import ManualClock
from mockserver.pipeline.exchange import ApiRequest, ErrorReply, JsonReply, MessageReply, Next, Reply
from mockserver.protocol.errors import ApiError
from mockserver.protocol.message import build_message, build_usage, text_block
from tests.batch_support import item, wait_ended, wait_for

HOUR = 3600.0
DAY = 24 * HOUR


def manual(make_server, **options):  # noqa: ANN001, ANN201
    clock = ManualClock()
    server = make_server(clock=clock, **options)
    return server, clock, server.client()


def test_counts_appear_when_the_batch_ends_as_on_the_real_api(make_server) -> None:
    server, clock, client = manual(make_server, batch_pace=1)  # one item per second of clock time
    batch = client.messages.batches.create(requests=[item(f"r{i}") for i in range(5)])
    clock.advance(3)  # three items finish ...
    server.api.batches.nudge()
    for _ in range(5):  # ... but the real API keeps the other counts at 0 until the batch ends
        polled = client.messages.batches.retrieve(batch.id)
        assert polled.processing_status == "in_progress"
        assert polled.request_counts.model_dump() == {"processing": 5, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    clock.advance(2)
    ended = wait_ended(client, batch.id)
    assert ended.request_counts.succeeded == 5 and ended.request_counts.processing == 0
    # ended_at is when the last item finished on the clock: created + 5 s at one item per second
    assert ended.ended_at - ended.created_at == timedelta(seconds=5)
    assert ended.results_url is not None and ended.archived_at is None


def test_live_counts_move_as_items_finish(make_server) -> None:
    server, clock, client = manual(make_server, batch_pace=2, batch_live_counts=True)
    batch = client.messages.batches.create(requests=[item(f"r{i}") for i in range(6)] + [item("bad", model="nope")])
    seen = []
    for step in range(1, 5):
        clock.advance(1)  # two more items per second
        server.api.batches.nudge()
        counts = wait_for(client, batch.id, lambda b: b.request_counts.processing <= max(7 - 2 * step, 0)).request_counts
        seen.append((counts.processing, counts.succeeded, counts.errored))
    assert seen == [(5, 2, 0), (3, 4, 0), (1, 6, 0), (0, 6, 1)]
    assert client.messages.batches.retrieve(batch.id).processing_status == "ended"


def test_cancel_goes_through_canceling_and_unprocessed_items_end_canceled(make_server) -> None:
    server, clock, client = manual(make_server, batch_pace=1, batch_live_counts=True)
    batch = client.messages.batches.create(requests=[item(f"r{i}") for i in range(5)])
    clock.advance(2)
    server.api.batches.nudge()
    wait_for(client, batch.id, lambda b: b.request_counts.succeeded == 2)
    clock.advance(0.5)
    canceled = client.messages.batches.cancel(batch.id)
    assert canceled.processing_status == "canceling"
    assert canceled.cancel_initiated_at == canceled.created_at + timedelta(seconds=2.5)
    assert canceled.ended_at is None and canceled.results_url is None
    ended = wait_ended(client, batch.id)
    assert ended.request_counts.model_dump() == {"processing": 0, "succeeded": 2, "errored": 0, "canceled": 3, "expired": 0}
    assert ended.cancel_initiated_at == canceled.cancel_initiated_at and ended.ended_at is not None
    results = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
    assert results == {"r0": "succeeded", "r1": "succeeded", "r2": "canceled", "r3": "canceled", "r4": "canceled"}
    again = client.messages.batches.cancel  # an ended batch cannot be canceled (unconfirmed wording)
    with pytest.raises(anthropic.BadRequestError, match="has already ended"):
        again(batch.id)


def test_unprocessed_items_expire_after_24_hours(make_server) -> None:
    # 0.0001 items/s: the first finishes 10,000 s after creation, 8 before the 24 h window closes
    server, clock, client = manual(make_server, batch_pace=0.0001)
    batch = client.messages.batches.create(requests=[item(f"r{i}") for i in range(12)])
    assert batch.expires_at - batch.created_at == timedelta(hours=24)
    clock.advance(25 * HOUR)
    ended = wait_ended(client, batch.id)
    assert ended.request_counts.model_dump() == {"processing": 0, "succeeded": 8, "errored": 0, "canceled": 0, "expired": 4}
    assert ended.ended_at == ended.expires_at
    kinds = [r.result.type for r in client.messages.batches.results(batch.id)]
    assert kinds == ["succeeded"] * 8 + ["expired"] * 4


def test_results_are_archived_29_days_after_creation(make_server) -> None:
    server, clock, client = manual(make_server)
    batch = client.messages.batches.create(requests=[item("a")])
    wait_ended(client, batch.id)
    assert len(list(client.messages.batches.results(batch.id))) == 1
    clock.advance(29 * DAY - 1)
    assert client.messages.batches.retrieve(batch.id).archived_at is None
    clock.advance(1)
    archived = client.messages.batches.retrieve(batch.id)
    assert archived.archived_at == archived.created_at + timedelta(days=29)
    with pytest.raises(anthropic.NotFoundError, match="has no available results"):  # unconfirmed status
        list(client.messages.batches.results(batch.id))
    assert client.messages.batches.delete(batch.id).type == "message_batch_deleted"


async def test_async_cancel_on_a_manual_clock(make_server) -> None:
    clock = ManualClock()
    server = make_server(clock=clock, batch_pace=1)
    client = server.async_client()
    try:
        batch = await client.messages.batches.create(requests=[item("a"), item("b")])
        assert (await client.messages.batches.cancel(batch.id)).processing_status == "canceling"
        for _ in range(500):
            polled = await client.messages.batches.retrieve(batch.id)
            if polled.processing_status == "ended":
                break
            await asyncio.sleep(0.02)
        assert polled.request_counts.canceled == 2
        assert [r.result.type async for r in await client.messages.batches.results(batch.id)] == ["canceled", "canceled"]
    finally:
        await client.close()


# -- every item through the responder pipeline --------------------------------------------------


class Scripted:
    """A stand-in for a scenario rule: decides per batch item, by custom_id."""

    name = "scripted"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    async def __call__(self, api: ApiRequest, next: Next) -> Reply:
        self.seen.append((api.endpoint, api.custom_id))
        if api.custom_id == "overloaded":
            return ErrorReply(error=ApiError(529, "Overloaded", type="overloaded_error"))
        if api.custom_id == "scripted":
            usage = build_usage(input_tokens=3, output_tokens=2)
            return MessageReply(message=build_message(id="msg_011CscriptedMessage000000", model="claude-haiku-4-5-20251001",
                                                      content=[text_block("scripted!")], stop_reason="end_turn", usage=usage))
        if api.custom_id == "replayed-error":
            return JsonReply(status=429, body={"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
        if api.custom_id == "raises":
            raise ApiError(400, "prompt is too long: 300000 tokens > 200000 maximum")
        return await next(api)


def test_each_item_goes_through_the_responder_pipeline(mockserver, anthropic_client: anthropic.Anthropic) -> None:
    scripted = Scripted()
    mockserver.api.use(scripted)
    try:
        names = ["plain", "overloaded", "scripted", "replayed-error", "raises"]
        batch = anthropic_client.messages.batches.create(requests=[item(n) for n in names])
        wait_ended(anthropic_client, batch.id)
    finally:
        mockserver.api.discard(scripted)
    assert ("messages.create", "plain") in scripted.seen
    results = {r.custom_id: r.result for r in anthropic_client.messages.batches.results(batch.id)}
    assert results["plain"].type == "succeeded"  # the default responder answered
    assert results["overloaded"].error.error.type == "overloaded_error"  # type: ignore[union-attr]
    assert results["scripted"].message.content[0].text == "scripted!"  # type: ignore[union-attr]
    assert results["scripted"].message.usage.service_tier == "batch"  # type: ignore[union-attr]
    assert results["replayed-error"].error.error.message == "slow down"  # type: ignore[union-attr]
    assert results["raises"].error.error.message.startswith("prompt is too long")  # type: ignore[union-attr]
    ended = anthropic_client.messages.batches.retrieve(batch.id)
    assert (ended.request_counts.succeeded, ended.request_counts.errored) == (2, 3)


def test_scenario_rules_decide_per_item(mockserver, anthropic_client: anthropic.Anthropic) -> None:
    mockserver.error(529, match={"custom_id": "flaky"})
    mockserver.reply("Scripted answer.", match={"custom_id": "scripted"})
    mockserver.reply("Every other item.", match={"text": "other"})
    batch = anthropic_client.messages.batches.create(
        requests=[item("flaky"), item("scripted"), item("plain", "other things"), item("default", "Hello")]
    )
    wait_ended(anthropic_client, batch.id)
    results = {r.custom_id: r.result for r in anthropic_client.messages.batches.results(batch.id)}
    assert results["flaky"].type == "errored" and results["flaky"].error.error.type == "overloaded_error"  # type: ignore[union-attr]
    assert results["scripted"].message.content[0].text == "Scripted answer."  # type: ignore[union-attr]
    assert results["scripted"].message.usage.service_tier == "batch"  # type: ignore[union-attr]
    assert results["plain"].message.content[0].text == "Every other item."  # type: ignore[union-attr]
    assert results["default"].message.content[0].text.startswith('You said: "Hello"')  # type: ignore[union-attr]

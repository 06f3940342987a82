"""The batch envelope (what create checks) and the wire objects, as pure functions."""

from __future__ import annotations

import json
import re

import pytest
from anthropic._models import validate_type
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from hypothesis import given
from hypothesis import strategies as st

from mockserver.batches.envelope import check_envelope
from mockserver.batches.objects import (
    ARCHIVE_AFTER,
    EXPIRES_AFTER,
    BatchRow,
    errored_line,
    render_batch,
    succeeded_line,
    synthesized_batch,
)
from mockserver.protocol.errors import ApiError

REAL_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}\Z")
PARAMS = {"model": "m", "max_tokens": 1, "messages": []}


def first_error(body: object) -> str:
    with pytest.raises(ApiError) as exc:
        check_envelope(body)
    assert exc.value.status == 400 and exc.value.type == "invalid_request_error"
    return exc.value.message


@given(st.text(max_size=70))
def test_custom_ids_follow_the_real_pattern(custom_id: str) -> None:
    body = {"requests": [{"custom_id": custom_id, "params": PARAMS}]}
    if REAL_PATTERN.match(custom_id):
        assert check_envelope(body)[0].custom_id == custom_id
    else:
        assert first_error(body).startswith("requests.0.custom_id: String should")


@given(st.lists(st.from_regex(r"[a-c]{1,2}", fullmatch=True), min_size=1, max_size=8))
def test_duplicates_name_the_first_repeated_id(ids: list[str]) -> None:
    body = {"requests": [{"custom_id": i, "params": {}} for i in ids]}
    seen: set[str] = set()
    duplicate = next((i for i in ids if i in seen or seen.add(i)), None)  # type: ignore[func-returns-value]
    if duplicate is None:
        assert [item.custom_id for item in check_envelope(body)] == ids
    else:
        assert first_error(body) == f"requests: custom_id's must be unique within a batch. Duplicate custom_id found: {duplicate}"


def test_params_are_not_validated_at_create() -> None:
    body = {"requests": [{"custom_id": "a", "params": {"anything": [1, 2], "stream": True}}]}
    assert check_envelope(body)[0].params == {"anything": [1, 2], "stream": True}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "Input should be a valid dictionary"),
        ({}, "requests: Field required"),
        ({"requests": {}}, "requests: Input should be a valid list"),
        ({"requests": [], "x": 1}, "requests: List should have at least 1 item after validation, not 0"),
        ({"requests": [{"custom_id": "a", "params": {}}], "x": 1}, "x: Extra inputs are not permitted"),
        ({"requests": [3]}, "requests.0: Input should be a valid dictionary"),
        ({"requests": [{"custom_id": 3, "params": {}}]}, "requests.0.custom_id: Input should be a valid string"),
        ({"requests": [{}]}, "requests.0.custom_id: Field required"),  # the first of two problems
        ({"requests": [{"custom_id": "a\n", "params": {}}]}, "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"),
    ],
)
def test_envelope_errors(body: object, message: str) -> None:
    assert first_error(body) == message


def test_request_limit() -> None:
    assert first_error({"requests": [{}] * 4}) == "requests.0.custom_id: Field required"
    with pytest.raises(ApiError, match="at most 3 items after validation, not 4"):
        check_envelope({"requests": [{}] * 4}, max_requests=3)


# -- objects ------------------------------------------------------------------------------------


def row(**overrides: object) -> BatchRow:
    base = dict(seq=1, id="msgbatch_01Kk2gPdvEq73ifNWGPfvmyd", beta=False, api_version="2023-06-01", anthropic_beta=None,
                request_id="req_1", created_at=1_767_225_600.5, expires_at=1_767_225_600.5 + EXPIRES_AFTER, ended_at=None,
                cancel_initiated_at=None, status="in_progress", total=4, succeeded=1, errored=1)
    base.update(overrides)
    return BatchRow(**base)  # type: ignore[arg-type]


def test_batch_object_matches_recorded_shape() -> None:
    rendered = render_batch(row(), now=1_767_225_601.0, base_url="http://x")
    recorded = json.loads(
        '{"id":"msgbatch_01Kk2gPdvEq73ifNWGPfvmyd","type":"message_batch","processing_status":"in_progress",'
        '"request_counts":{"processing":4,"succeeded":0,"errored":0,"canceled":0,"expired":0},"ended_at":null,'
        '"created_at":"2026-01-01T00:00:00.500000+00:00","expires_at":"2026-01-02T00:00:00.500000+00:00",'
        '"archived_at":null,"cancel_initiated_at":null,"results_url":null}'
    )
    assert json.dumps(rendered) == json.dumps(recorded)  # same keys, same order, same values
    validate_type(type_=MessageBatch, value=rendered)


def test_counts_and_urls_once_ended_and_archived() -> None:
    ended = row(status="ended", ended_at=1_767_225_700.0, canceled=2)
    rendered = render_batch(ended, now=ended.created_at + ARCHIVE_AFTER, base_url="http://127.0.0.1:9")
    assert rendered["request_counts"] == {"processing": 0, "succeeded": 1, "errored": 1, "canceled": 2, "expired": 0}
    assert rendered["results_url"] == f"http://127.0.0.1:9/v1/messages/batches/{ended.id}/results"
    assert rendered["archived_at"] == "2026-01-30T00:00:00.500000+00:00"
    live = render_batch(row(), now=0, base_url="", live_counts=True)
    assert live["request_counts"]["processing"] == 2 and live["request_counts"]["succeeded"] == 1
    validate_type(type_=MessageBatch, value=synthesized_batch("message_batch_id", now=0, base_url="http://x"))


def test_result_lines_validate_against_the_sdk() -> None:
    message = {"model": "m", "id": "msg_1", "type": "message", "role": "assistant", "content": [], "stop_reason": "end_turn",
               "stop_sequence": None, "stop_details": None,
               "usage": {"input_tokens": 1, "output_tokens": 1, "service_tier": "standard"}}
    lines = [
        succeeded_line("a", message),
        errored_line("b", ApiError(404, "model: x", type="not_found_error")),
        errored_line("c", {"type": "overloaded_error", "message": "Overloaded"}),
    ]
    parsed = [validate_type(type_=MessageBatchIndividualResponse, value=json.loads(line)) for line in lines]
    assert parsed[0].result.message.usage.service_tier == "batch"  # type: ignore[union-attr]
    assert message["usage"]["service_tier"] == "standard"  # not mutated
    assert json.loads(lines[1])["result"]["error"] == {
        "type": "error",
        "error": {"details": {"error_visibility": "user_facing"}, "type": "not_found_error", "message": "model: x"},
        "request_id": None,
    }


def test_results_url_points_where_the_client_can_reach_this_server() -> None:
    from types import SimpleNamespace

    from multidict import CIMultiDict, CIMultiDictProxy

    from mockserver.batches.handlers import BatchEndpoints

    request = SimpleNamespace(headers=CIMultiDictProxy(CIMultiDict({"host": "mock.internal:8787"})))

    def reachable(base_url: str) -> str:
        endpoints = BatchEndpoints(SimpleNamespace(clock=None), None, lenient=False, base_url=lambda: base_url)  # type: ignore[arg-type]
        return endpoints._reachable(request)  # type: ignore[arg-type]

    assert reachable("http://127.0.0.1:8787") == "http://127.0.0.1:8787"
    assert reachable("http://0.0.0.0:8787") == "http://mock.internal:8787"
    assert reachable("http://[::]:8787") == "http://mock.internal:8787"
    assert reachable("") == "http://mock.internal:8787"


def test_reachable_base_url_is_the_rule_for_every_results_url() -> None:
    """Shared by the batch handlers and the record/replay responders' results_url rewrite."""
    from mockserver.protocol.urls import reachable_base_url

    assert reachable_base_url("http://127.0.0.1:8787", "mock.internal:8787") == "http://127.0.0.1:8787"
    assert reachable_base_url("http://0.0.0.0:8787", "[::1]:8787") == "http://[::1]:8787"
    assert reachable_base_url("http://[::]:8787", None) == "http://[::]:8787"
    assert reachable_base_url("", "mock.internal:8787") == "http://mock.internal:8787"
    assert reachable_base_url("", None) == ""

"""The platform pieces that need no server: the EventStream encoder (AWS's published vectors and
botocore's own decoder), model id mapping, routing, and the Bedrock wire's faults."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from botocore.eventstream import EventStreamBuffer

from mockserver.pipeline.exchange import ErrorReply
from mockserver.protocol import eventstream
from mockserver.protocol.endpoints import EndpointTable
from mockserver.faults.spec import Faults
from mockserver.protocol.errors import DEFAULT_MESSAGES, ApiError
from mockserver.protocol.platforms import (
    BEDROCK_THROTTLED, bedrock_error_message, bedrock_exception, bedrock_model, bedrock_stream_exception, platform_error_type, tag_ids, vertex_error_message, vertex_google_error,
    vertex_model, vertex_quota_message,
)
from mockserver.pipeline.platform import named_model
from mockserver.render.wire import WIRES
from mockserver.scenarios.actions import ErrorAction


# -- EventStream -------------------------------------------------------------------------------
def test_aws_published_vectors() -> None:
    # aws-c-event-stream / the AWS SDKs' shared test suite: "empty_message" and "payload_no_headers"
    assert base64.b64encode(eventstream.message([], b"")) == b"AAAAEAAAAAAFwkjrfZjI/w=="
    assert base64.b64encode(eventstream.message([], b"{'foo':'bar'}")) == b"AAAAHQAAAAD9Uoxaeydmb28nOidiYXInfcNlOTY="


def test_botocore_decodes_what_we_encode() -> None:
    data = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"h\xc3\xa9"}}'
    wire = eventstream.chunk(data) + eventstream.exception("throttlingException", "Too many requests")
    buffer = EventStreamBuffer()
    for at in range(0, len(wire), 7):  # delivered in pieces, as a socket would
        buffer.add_data(wire[at : at + 7])
    chunk, error = list(buffer)
    assert chunk.headers == {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    assert base64.b64decode(json.loads(chunk.payload)["bytes"]) == data
    assert error.to_response_dict()["status_code"] == 400
    assert error.headers[":exception-type"] == "throttlingException" and json.loads(error.payload) == {"message": "Too many requests"}


def test_split_and_decode_round_trip() -> None:
    parts = [eventstream.chunk(b'{"type":"ping"}'), eventstream.chunk(b"{}"), eventstream.exception("x", "y")]
    body = b"".join(parts)
    assert eventstream.split(body) == parts
    assert eventstream.split(body + parts[0][:5]) == [*parts, parts[0][:5]]  # a partial tail stays a piece
    decoded = eventstream.decode(parts[0])
    assert decoded is not None and decoded.chunk_data == b'{"type":"ping"}'
    broken = parts[0][:-1] + bytes([parts[0][-1] ^ 1])
    assert eventstream.decode(broken) is None  # a bad message CRC


# -- model ids ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("model_id", "model"), [
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"),
    ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5-20251001"),
    ("apac.anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet-20240620"),
    ("anthropic.claude-3-sonnet-20240229-v1:0:28k", "claude-3-sonnet-20240229"),
    ("anthropic.claude-opus-4-6-v1", "claude-opus-4-6"),
    ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1-20250805"),
    ("arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku-20240307"),
    ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3", None),
    ("meta.llama3-70b-instruct-v1:0", None),
])
def test_bedrock_model_ids(model_id: str, model: str | None) -> None:
    assert bedrock_model(model_id) == model


def test_vertex_model_ids() -> None:
    assert vertex_model("claude-sonnet-4-5@20250929") == "claude-sonnet-4-5-20250929"
    assert vertex_model("claude-opus-4-6") == vertex_model("claude-opus-4-6@default") == "claude-opus-4-6"


def test_ids_are_tagged() -> None:
    message = {"id": "msg_01abc", "content": [{"type": "tool_use", "id": "toolu_01x"}, {"type": "text", "text": "t"}]}
    tagged = tag_ids(message, "bedrock")
    assert tagged["id"] == "msg_bdrk_01abc" and tagged["content"][0]["id"] == "toolu_bdrk_01x"
    assert tag_ids(tagged, "bedrock") == tagged and message["id"] == "msg_01abc"


def test_bedrock_exceptions() -> None:
    assert bedrock_exception(ApiError(400, "x")) == ("ValidationException", 400)
    assert bedrock_exception(ApiError(429, "x")) == ("ThrottlingException", 429)
    assert bedrock_exception(ApiError(529, "x")) == ("ServiceUnavailableException", 503)
    assert bedrock_exception(ApiError(424, "x", type="ModelErrorException")) == ("ModelErrorException", 424)
    assert bedrock_stream_exception(ApiError(200, "x", type="overloaded_error")) == "serviceUnavailableException"
    assert bedrock_stream_exception(ApiError(200, "x", type="ModelStreamErrorException")) == "modelStreamErrorException"
    assert bedrock_stream_exception(ApiError(200, "x", type="permission_error")) == "modelStreamErrorException"



@pytest.mark.parametrize(("status", "name"), [
    (400, "ValidationException"), (403, "AccessDeniedException"), (404, "ResourceNotFoundException"), (408, "ModelTimeoutException"),
    (424, "ModelErrorException"), (429, "ThrottlingException"), (500, "InternalServerException"), (503, "ServiceUnavailableException"),
])
def test_an_error_type_bedrock_has_no_exception_for_follows_its_status(status: int, name: str) -> None:
    """A type neither the API's nor Bedrock's (a custom one, a Google status) is the exception of
    its status in botocore's table, with that status (a 429 was a ValidationException 400)."""
    assert bedrock_exception(ApiError(status, "x", type="my_custom_error")) == (name, status)


def test_an_error_type_of_a_status_bedrock_has_no_exception_for_answers_as_the_status_would() -> None:
    """Google's statuses by their codes; a status botocore's table lacks as ``error: <status>`` answers."""
    assert bedrock_exception(ApiError(429, "x", type="RESOURCE_EXHAUSTED")) == ("ThrottlingException", 429)
    assert bedrock_exception(ApiError(404, "x", type="NOT_FOUND")) == ("ResourceNotFoundException", 404)
    assert bedrock_exception(ApiError(403, "x", type="PERMISSION_DENIED")) == ("AccessDeniedException", 403)
    for status in (401, 409, 502, 504, 529):
        assert bedrock_exception(ApiError(status, "x", type="my_custom_error")) == bedrock_exception(ApiError(status, "x"))
    assert bedrock_exception(ApiError(529, "x", type="my_custom_error")) == ("ServiceUnavailableException", 503)
    assert bedrock_exception(ApiError(401, "x", type="my_custom_error")) == ("UnrecognizedClientException", 403)
    # the API's own types keep their exception, whatever the status
    assert bedrock_exception(ApiError(429, "x", type="invalid_request_error")) == ("ValidationException", 400)
    assert bedrock_stream_exception(ApiError(200, "x", type="my_custom_error")) == "validationException"


def test_an_error_type_vertex_does_not_know_follows_its_status() -> None:
    """Vertex answers auth, permission, lookup and quota errors in Google's shape; a type neither
    the API's nor Google's (a Bedrock exception, a custom one) of such a status too: a 429 passed
    through in the API's shape, where ``error: 429`` is RESOURCE_EXHAUSTED."""
    for error_type in ("ThrottlingException", "quota_exceeded"):
        assert vertex_google_error(ApiError(429, "x", type=error_type)) == (
            429, {"error": {"code": 429, "message": "x", "status": "RESOURCE_EXHAUSTED"}})
    assert vertex_google_error(ApiError(403, "x", type="AccessDeniedException")) == (
        403, {"error": {"code": 403, "message": "x", "status": "PERMISSION_DENIED"}})
    assert vertex_google_error(ApiError(404, "x", type="missing")) == (404, {"error": {"code": 404, "message": "x", "status": "NOT_FOUND"}})
    assert vertex_google_error(ApiError(401, "x", type="who_are_you")) == (
        401, {"error": {"code": 401, "message": "x", "status": "UNAUTHENTICATED"}})
    for status in (400, 413, 500, 529):  # what the model raises passes through, as error: <status> does
        assert vertex_google_error(ApiError(status, "x", type="my_custom_error")) is None
    assert vertex_google_error(ApiError(429, "x", type="invalid_request_error")) is None  # the API's types keep their way


def test_a_platform_error_name_stands_for_the_type_its_door_answers_under_it() -> None:
    assert [platform_error_type(n) for n in ("ThrottlingException", "throttlingException", "RESOURCE_EXHAUSTED", "ValidationException",
                                             "ServiceUnavailableException", "NOT_FOUND", "UNAUTHENTICATED")] == [
        "rate_limit_error", "rate_limit_error", "rate_limit_error", "invalid_request_error", "overloaded_error", "not_found_error",
        "authentication_error"]
    # names no door answers an API type under, and names no platform's
    assert [platform_error_type(n) for n in ("ModelErrorException", "ModelNotReadyException", "INTERNAL", "rate_limit_error", "custom")] == [
        None, None, None, None, None]


def test_a_scripted_platform_error_without_a_message_gets_its_types_message() -> None:
    """A platform name scripted with no message says what its Anthropic type says (it said
    "Error"); on Vertex a quota error gets Vertex's quota wording, as rate_limit_error does."""
    throttled = asyncio.run(ErrorAction(429, type="ThrottlingException").run(None, None, None))  # type: ignore[arg-type]
    assert isinstance(throttled, ErrorReply) and throttled.error.message == DEFAULT_MESSAGES["rate_limit_error"]
    assert Faults(error_status=429, error_type="RESOURCE_EXHAUSTED").injected_error().message == DEFAULT_MESSAGES["rate_limit_error"]
    assert Faults(error_status=404, error_type="NOT_FOUND").injected_error().message == "Not found"
    assert ApiError(424, None, type="ModelErrorException").message == "Error"  # no type answers as it: no message to borrow
    assert ApiError(429, "Slow down.", type="ThrottlingException").message == "Slow down."
    for error in (throttled.error, ApiError(429, None, type="RESOURCE_EXHAUSTED", default=DEFAULT_MESSAGES["rate_limit_error"])):
        status, body, _ = WIRES["vertex"].error_body(error, "req_011", None, "claude-haiku-4-5@20251001")
        assert status == 429 and json.loads(body)["error"]["message"] == vertex_quota_message("claude-haiku-4-5@20251001")
    status, body, _ = WIRES["vertex"].error_body(ApiError(429, "Slow down.", type="RESOURCE_EXHAUSTED"), "req_011", None, None)
    assert json.loads(body)["error"]["message"] == "Slow down."  # a message given stays


def vertex_quota(base_model: str) -> str:
    return ("Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: "
            f"{base_model}. Please submit a quota increase request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai.")


@pytest.mark.parametrize(("model", "base_model"), [
    ("claude-sonnet-4-5@20250929", "anthropic-claude-sonnet-4-5"),
    ("claude-3-5-sonnet@20240620", "anthropic-claude-3-5-sonnet"),  # aider#1912
    ("claude-3-5-sonnet-v2@20241022", "anthropic-claude-3-5-sonnet-v2"),  # cline#651
    ("claude-opus-4-6", "anthropic-claude-opus-4-6"),
    ("claude-haiku-4-5@default", "anthropic-claude-haiku-4-5"),
    (None, "anthropic-claude"),
])
def test_vertex_quota_names_the_base_model_of_the_model_the_call_named(model: str | None, base_model: str) -> None:
    """Vertex's base model is ``anthropic-`` and the model as the Vertex call names it, without its
    ``@version``."""
    assert vertex_quota_message(model) == vertex_quota(base_model)


def test_a_platform_call_names_its_model_in_its_own_spelling() -> None:
    """What the quota wording is given: the path's model, or on Vertex's count-tokens the body's;
    never the Anthropic id the door maps it onto."""
    assert named_model({"project": "p", "region": "r", "model": "claude-haiku-4-5@20251001"}, {"max_tokens": 1}) == "claude-haiku-4-5@20251001"
    assert named_model({"project": "p", "region": "r"}, {"model": "claude-haiku-4-5@20251001"}) == "claude-haiku-4-5@20251001"
    assert named_model({"model_id": "anthropic.claude-haiku-4-5-20251001-v1:0"}, {}) == "anthropic.claude-haiku-4-5-20251001-v1:0"
    assert named_model({}, {"model": 5}) is None and named_model({}, ["not", "a", "body"]) is None


def test_bedrock_throttling_given_no_message_says_bedrocks_words() -> None:
    """A ThrottlingException nobody gave a message (``error: 429``, ``rate_limit_error``, the rate
    limiter's refusal, worded by the server) says Bedrock's ``Too many requests, please wait
    before trying again.``, not the API's sentence; a message given stays; other exceptions keep
    the server's default. The wire (body and mid-stream exception) says what the function does."""
    refused = ApiError(429, type="rate_limit_error", default="This request would exceed the rate limit for your organization …")
    for error in (ApiError(429), ApiError(429, type="rate_limit_error"), ApiError(429, type="ThrottlingException", default="x"),
                  ApiError(429, type="RESOURCE_EXHAUSTED", default="x"), ApiError(429, type="quota_exceeded"), refused):
        name, status = bedrock_exception(error)
        assert (name, status) == ("ThrottlingException", 429)
        assert bedrock_error_message(error, name) == bedrock_error_message(error, bedrock_stream_exception(error)) == BEDROCK_THROTTLED
        assert WIRES["bedrock"].error_body(error, "req_011", None, None)[1] == b'{"message":"Too many requests, please wait before trying again."}'
    for error in (ApiError(429, "Slow down."), ApiError(429, "Slow down.", type="ThrottlingException")):
        assert bedrock_error_message(error, "ThrottlingException") == "Slow down."
    assert bedrock_error_message(ApiError(404, type="not_found_error"), "ResourceNotFoundException") == "Not found"
    assert bedrock_error_message(ApiError(529, type="overloaded_error"), "ServiceUnavailableException") == "Overloaded"
    frame = eventstream.decode(WIRES["bedrock"].error_event(ApiError(200, type="throttlingException", default="x"), "req_011"))
    assert frame is not None and frame.headers[":exception-type"] == "throttlingException"
    assert json.loads(frame.payload) == {"message": BEDROCK_THROTTLED}


def test_a_vertex_quota_error_keeps_a_message_given() -> None:
    """The quota wording is what a quota error says when nobody gave it a message (``error: 429``,
    ``rate_limit_error``, ``RESOURCE_EXHAUSTED``, the rate limiter's refusal, worded by the server);
    a message the user gave stays: it was overwritten for ``rate_limit_error`` and ``error: 429``."""
    model, quota = "claude-haiku-4-5@20251001", vertex_quota("anthropic-claude-haiku-4-5")
    refused = ApiError(429, type="rate_limit_error", default="This request would exceed the rate limit for your organization …")
    assert refused.message.startswith("This request would exceed the rate limit") and not refused.message_given
    for error in (ApiError(429), ApiError(429, type="rate_limit_error"), ApiError(429, type="RESOURCE_EXHAUSTED", default="x"),
                  ApiError(429, type="ThrottlingException", default="x"), refused):
        assert vertex_error_message(error, model) == quota
        assert vertex_google_error(error, model) == (429, {"error": {"code": 429, "message": quota, "status": "RESOURCE_EXHAUSTED"}})
    for error in (ApiError(429, "Slow down."), ApiError(429, "Slow down.", type="rate_limit_error"),
                  ApiError(429, "Slow down.", type="RESOURCE_EXHAUSTED"), ApiError(429, "Slow down.", type="ThrottlingException"),
                  ApiError(429, "Slow down.", type="quota_exceeded")):
        assert vertex_error_message(error, model) == "Slow down."
        assert vertex_google_error(error, model) == (429, {"error": {"code": 429, "message": "Slow down.", "status": "RESOURCE_EXHAUSTED"}})
    assert vertex_error_message(ApiError(404, type="NOT_FOUND", default="Not found"), model) == "Not found"  # not a quota error
    assert vertex_error_message(ApiError(429, type="quota_exceeded"), model) == quota  # a custom 429 given no message
    for message in ("Slow down.", None):  # the wire says what the function does, wrapped in a list on streamRawPredict
        error = ApiError(429, message, type="rate_limit_error")
        stream = EndpointTable().match("POST", f"/v1/projects/p/locations/r/publishers/anthropic/models/{model}:streamRawPredict")
        assert stream is not None
        status, body, _ = WIRES["vertex"].error_body(error, "req_011", stream.endpoint, model)
        assert status == 429 and json.loads(body) == [vertex_google_error(error, model)[1]]  # type: ignore[index]

# -- routing -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "name", "params"), [
    ("POST", "/model/anthropic.claude-v2:1/invoke", "bedrock.invoke", {"model_id": "anthropic.claude-v2:1"}),
    ("POST", "/model/arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.x-v1:0/invoke-with-response-stream",
     "bedrock.invoke_stream", {"model_id": "arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.x-v1:0"}),
    ("POST", "/model/anthropic.x-v1:0/count-tokens", "bedrock.count_tokens", {"model_id": "anthropic.x-v1:0"}),
    ("POST", "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-x@1:rawPredict", "vertex.raw_predict",
     {"project": "p", "region": "us-east5", "model": "claude-x@1"}),
    ("POST", "/v1/projects/p/locations/global/publishers/anthropic/models/claude-x@1:streamRawPredict", "vertex.stream_raw_predict",
     {"project": "p", "region": "global", "model": "claude-x@1"}),
    ("POST", "/v1/projects/p/locations/global/publishers/anthropic/models/count-tokens:rawPredict", "vertex.count_tokens",
     {"project": "p", "region": "global"}),
    ("POST", "/anthropic/v1/messages", "messages.create", {}),
    ("GET", "/anthropic/v1/models/claude-x", "models.retrieve", {"model_id": "claude-x"}),
    ("POST", "/v1/projects/p/locations/global/workspaces/w/invoke/v1/messages/count_tokens", "messages.count_tokens", {}),
    ("POST", "/v1/complete", "completions.create", {}),
])
def test_routes(method: str, path: str, name: str, params: dict[str, str]) -> None:
    match = EndpointTable().match(method, path)
    assert match is not None and match.endpoint.name == name and dict(match.params) == params


def test_unknown_routes() -> None:
    table = EndpointTable()
    assert table.match("POST", "/anthropic/model/x/invoke") is None  # a prefix leads only to first-party paths
    assert table.match("POST", "/model//invoke") is None
    assert table.match("POST", "/v1/projects/p/locations/r/publishers/anthropic/models/x:predict") is None
    assert table.match("GET", "/model/x/invoke") is None and table.allowed("/model/x/invoke", "GET")
    assert not table.allowed("/model/x/invoke", "POST")  # routed for POST: not a 405
    assert not table.allowed("/v1/messages/", "POST") and not table.allowed("//v1/messages", "GET")
    assert table.allowed("/v1/messages", "GET") and table.allowed("/v1/models", "DELETE")


# -- the Bedrock wire's faults -----------------------------------------------------------------
def test_bedrock_corruption_stays_a_valid_message() -> None:
    wire = WIRES["bedrock"]
    frame = wire.event("content_block_delta", b'{"type":"content_block_delta","delta":{"text":"hello"}}')
    for kind in ("bad_json", "bad_utf8"):
        broken = eventstream.decode(wire.corrupt(frame, kind))
        assert broken is not None and broken.chunk_data is not None and broken.chunk_data != eventstream.decode(frame).chunk_data  # type: ignore[union-attr]
    nameless = eventstream.decode(wire.corrupt(frame, "missing_event_line"))
    assert nameless is not None and ":event-type" not in nameless.headers
    error = eventstream.decode(wire.error_event(ApiError(200, "Overloaded", type="overloaded_error"), "req_1"))
    assert error is not None and error.headers[":message-type"] == "exception"

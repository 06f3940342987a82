"""count_tokens, Models and the status -> SDK exception mapping, through the official SDK."""

from __future__ import annotations

import base64

import anthropic
import pytest

from mockserver.pipeline.exchange import ErrorReply
from mockserver.protocol.errors import ApiError
from mockserver.protocol.tokens import PDF_PAGE_OVERHEAD, PDF_PAGE_TOKENS
from tests.conftest import HAIKU, USER_HI
from tests.e2e.test_errors import PNG_1X1

PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj <</Type /Page>> endobj\n2 0 obj <</Type /Page>> endobj\n%%EOF").decode()


def test_count_tokens_matches_message_usage(anthropic_client: anthropic.Anthropic) -> None:
    params = dict(model=HAIKU, system="Be brief.", messages=[{"role": "user", "content": "How many tokens is this?"}])
    counted = anthropic_client.messages.count_tokens(**params)
    message = anthropic_client.messages.create(max_tokens=100, **params)
    assert counted.input_tokens == message.usage.input_tokens > 0


def test_count_tokens_counts_every_part(anthropic_client: anthropic.Anthropic) -> None:
    def count(**params) -> int:
        return anthropic_client.messages.count_tokens(model=HAIKU, **params).input_tokens

    base = count(messages=USER_HI)
    assert count(system="You are a helpful assistant.", messages=USER_HI) > base
    tools = [{"name": "lookup", "description": "Look something up", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    assert count(tools=tools, messages=USER_HI) > base + 300  # the tool-use system prompt
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1}}
    assert count(messages=[{"role": "user", "content": [image, {"type": "text", "text": "Hello, Claude"}]}]) == base + 1
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}}
    assert count(messages=[{"role": "user", "content": [pdf, {"type": "text", "text": "Hello, Claude"}]}]) == base + 2 * (PDF_PAGE_TOKENS + PDF_PAGE_OVERHEAD)


async def test_async_count_tokens(async_anthropic_client: anthropic.AsyncAnthropic) -> None:
    counted = await async_anthropic_client.messages.count_tokens(model=HAIKU, messages=USER_HI)
    assert counted.input_tokens > 0


def test_models_list_paginates_like_the_api(anthropic_client: anthropic.Anthropic, mockserver) -> None:
    everything = list(anthropic_client.models.list(limit=3))  # the SDK's auto-pager walks every page
    listed = [m.id for m in everything]
    expected = [e.id for e in mockserver.api.catalog.list()]
    assert listed == expected and len(listed) > 3
    assert all(m.lifecycle in ("active", "deprecated") for m in everything)

    page = anthropic_client.models.list(limit=2)
    assert page.has_more and page.first_id == listed[0] and page.last_id == listed[1]
    after = anthropic_client.models.list(limit=2, after_id=listed[1])
    assert [m.id for m in after.data] == listed[2:4]
    before = anthropic_client.models.list(limit=2, before_id=listed[3])
    assert [m.id for m in before.data] == listed[1:3] and before.has_more


def test_models_retired_only_when_asked(anthropic_client: anthropic.Anthropic) -> None:
    retired = list(anthropic_client.models.list(lifecycle=["retired"]))
    assert retired and all(m.lifecycle == "retired" for m in retired)
    assert "claude-3-haiku-20240307" in [m.id for m in retired]
    mixed = {m.lifecycle for m in anthropic_client.models.list(lifecycle=["retired", "active"], limit=1000)}
    assert mixed == {"retired", "active"}


def test_model_retrieve_by_alias(anthropic_client: anthropic.Anthropic) -> None:
    model = anthropic_client.models.retrieve("claude-haiku-4-5")
    assert model.id == "claude-haiku-4-5-20251001" and model.max_tokens == 64000 and model.type == "model"
    with pytest.raises(anthropic.NotFoundError):
        anthropic_client.models.retrieve("claude-does-not-exist")


async def test_async_models(async_anthropic_client: anthropic.AsyncAnthropic) -> None:
    ids = [m.id async for m in async_anthropic_client.models.list(limit=5)]
    assert len(ids) == len(set(ids)) > 5


class StatusFromHeader:
    """A stage answering the error status named in a test header: exercises the pipeline."""

    name = "test-errors"

    async def __call__(self, request, next):
        status = request.headers.get("x-test-status")
        if status is None:
            return await next(request)
        return ErrorReply(error=ApiError(int(status), f"scripted {status}"), headers={"x-should-retry": "false"}, origin=self.name)


STATUS_EXCEPTIONS = [
    (400, anthropic.BadRequestError, "invalid_request_error"),
    (401, anthropic.AuthenticationError, "authentication_error"),
    (402, anthropic.PaymentRequiredError, "billing_error"),
    (403, anthropic.PermissionDeniedError, "permission_error"),
    (404, anthropic.NotFoundError, "not_found_error"),
    (408, anthropic.RequestTimeoutError, "timeout_error"),
    (409, anthropic.ConflictError, "conflict_error"),
    (413, anthropic.ContentTooLargeError, "request_too_large"),
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"),
    (502, anthropic.InternalServerError, "api_error"),
    (503, anthropic.ServiceUnavailableError, "api_error"),
    (504, anthropic.GatewayTimeoutError, "timeout_error"),
    (529, anthropic.OverloadedError, "overloaded_error"),
]


@pytest.mark.parametrize(("status", "exception", "error_type"), STATUS_EXCEPTIONS, ids=[str(s[0]) for s in STATUS_EXCEPTIONS])
def test_each_status_maps_to_the_sdk_exception(make_server, status, exception, error_type) -> None:
    server = make_server()
    server.api.use(StatusFromHeader())
    client = server.client(max_retries=0)
    with pytest.raises(exception) as raised:
        client.messages.create(model=HAIKU, max_tokens=10, messages=USER_HI, extra_headers={"x-test-status": str(status)})
    error = raised.value
    assert error.status_code == status
    assert error.body["error"]["type"] == error_type
    assert error.request_id and error.request_id == error.body["request_id"]


@pytest.mark.parametrize(("status", "exception", "error_type"), STATUS_EXCEPTIONS[::4], ids=[str(s[0]) for s in STATUS_EXCEPTIONS[::4]])
async def test_each_status_maps_to_the_sdk_exception_async(make_server, status, exception, error_type) -> None:
    server = make_server()
    server.api.use(StatusFromHeader())
    client = server.async_client(max_retries=0)
    with pytest.raises(exception):
        await client.messages.create(model=HAIKU, max_tokens=10, messages=USER_HI, extra_headers={"x-test-status": str(status)})
    await client.close()


def test_validation_errors_raise_through_the_sdk(anthropic_client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: 999999 > 64000"):
        # an explicit timeout lifts the SDK's own "streaming is required" check
        anthropic_client.messages.create(model=HAIKU, max_tokens=999_999, messages=USER_HI, timeout=30)
    with pytest.raises(anthropic.NotFoundError, match="model: claude-nope"):
        anthropic_client.messages.create(model="claude-nope", max_tokens=10, messages=USER_HI)
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=anthropic_client.base_url, api_key="", auth_token=None, max_retries=0).with_options(
            default_headers={"Authorization": anthropic.Omit()}
        ).messages.create(model=HAIKU, max_tokens=10, messages=USER_HI)


def test_any_model_flag(make_server) -> None:
    client = make_server(any_model=True).client()
    message = client.messages.create(model="my-fine-tuned-model", max_tokens=50, messages=USER_HI)
    assert message.model == "my-fine-tuned-model"

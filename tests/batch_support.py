"""Helpers shared by the Message Batches tests."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anthropic
from anthropic._models import validate_type
from anthropic.types.beta.messages import BetaMessageBatchIndividualResponse
from anthropic.types.messages import MessageBatchIndividualResponse

from tests.conftest import HAIKU

BATCH_KEYS = [
    "id", "type", "processing_status", "request_counts", "ended_at", "created_at", "expires_at", "archived_at",
    "cancel_initiated_at", "results_url",
]
COUNT_KEYS = ["processing", "succeeded", "errored", "canceled", "expired"]


def item(custom_id: str, content: str = "Hello, Claude", **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": HAIKU, "max_tokens": 64, "messages": [{"role": "user", "content": content}]}
    body.update(params)
    return {"custom_id": custom_id, "params": body}


def wait_ended(client: anthropic.Anthropic, batch_id: str, timeout: float = 15.0, *, beta: bool = False) -> Any:
    """Poll like a user would, until the batch has ended."""
    batches = client.beta.messages.batches if beta else client.messages.batches
    deadline = time.monotonic() + timeout
    while True:
        batch = batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        assert time.monotonic() < deadline, f"batch still {batch.processing_status}: {batch.request_counts}"
        time.sleep(0.02)


async def await_ended(client: anthropic.AsyncAnthropic, batch_id: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        batch = await client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        assert time.monotonic() < deadline, f"batch still {batch.processing_status}"
        await asyncio.sleep(0.02)


def wait_for(client: anthropic.Anthropic, batch_id: str, predicate: Any, timeout: float = 15.0) -> Any:
    """Poll until ``predicate(batch)`` holds (retrieve nudges the processor)."""
    deadline = time.monotonic() + timeout
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if predicate(batch):
            return batch
        assert time.monotonic() < deadline, f"condition never held: {batch}"
        time.sleep(0.02)


def raw_results(client: anthropic.Anthropic, batch_id: str) -> tuple[Any, bytes]:
    """The results response and its bytes exactly as sent."""
    with client.messages.batches.with_streaming_response.results(batch_id) as response:
        body = b"".join(response.iter_bytes())
        return response, body


def strict_line(line: bytes, *, beta: bool = False) -> Any:
    """One JSONL line, validated against the SDK's result type (the decoder itself does not validate)."""
    kind = BetaMessageBatchIndividualResponse if beta else MessageBatchIndividualResponse
    return validate_type(type_=kind, value=json.loads(line))  # type: ignore[arg-type]

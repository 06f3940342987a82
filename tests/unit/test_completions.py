"""Text Completions' checks (mockserver/emulation/completions.py), called directly: every field
typed by SDK 0.49's CompletionCreateParams, in the legacy API's pydantic-v1 words."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.emulation.completions import Completions
from mockserver.emulation.synth import Synthesizer
from mockserver.ids import IdGenerator
from mockserver.protocol.catalog import ModelCatalog
from mockserver.protocol.errors import ApiError

CATALOG = ModelCatalog.load()
PROMPT = "\n\nHuman: Hello world\n\nAssistant:"


def completions(*, lenient: bool = False) -> Completions:
    return Completions(CATALOG, Synthesizer(seed=1), IdGenerator(1), lenient=lenient, any_model=True)


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-2.1", "prompt": PROMPT, "max_tokens_to_sample": 20, **fields}


def refusal(checker: Completions, request: Any) -> str | None:
    try:
        checker.check(request)
    except ApiError as error:
        assert (error.status, error.type) == (400, "invalid_request_error")
        return error.message
    return None


# What SDK 0.49's completions.create sends, every optional field set, and the edges of each type.
VALID = [
    body(),
    body(stream=True),
    body(stream=False, metadata={"user_id": "13803d75-b4b5-4c3e-b2a2-6f21399b021b"}, stop_sequences=["string"],
         temperature=1, top_k=5, top_p=0.7),
    body(metadata={"user_id": None}, temperature=0.0, top_p=1.0, stop_sequences=[], max_tokens_to_sample=20.0),
]


@pytest.mark.parametrize("request_body", VALID)
def test_what_the_sdk_sends_passes(request_body: dict[str, Any]) -> None:
    assert refusal(completions(), request_body) is None


TYPE_ERRORS = [
    (body(temperature="hot"), "temperature: value is not a valid float"),
    (body(temperature=True), "temperature: value is not a valid float"),
    (body(top_p=[0.5]), "top_p: value is not a valid float"),
    (body(top_k="5"), "top_k: value is not a valid integer"),
    (body(top_k=2.5), "top_k: value is not a valid integer"),
    (body(stream="yes"), "stream: value could not be parsed to a boolean"),
    (body(stream=1), "stream: value could not be parsed to a boolean"),
    (body(metadata="user"), "metadata: value is not a valid dict"),
    (body(metadata={"user_id": 7}), "metadata.user_id: str type expected"),
    (body(metadata={"user": "x"}), "metadata.user: extra fields not permitted"),
    (body(stop_sequences="\n\nHuman:"), "stop_sequences: value is not a valid list"),
    (body(stop_sequences=["ok", 2]), "stop_sequences.1: str type expected"),
    (body(max_tokens_to_sample="20"), "max_tokens_to_sample: value is not a valid integer"),
    (body(model=2), "model: str type expected"),
    (body(prompt=None), "prompt: str type expected"),
    (body(messages=[]), "messages: extra fields not permitted"),
    ({"prompt": "test"}, "max_tokens_to_sample: field required"),  # trufflehog's detector expects this one
    ([body()], "body: value is not a valid dict"),
]


@pytest.mark.parametrize(("request_body", "message"), TYPE_ERRORS)
def test_every_field_is_typed(request_body: Any, message: str) -> None:
    assert refusal(completions(), request_body) == message


@pytest.mark.parametrize(("request_body", "message"), TYPE_ERRORS)
def test_lenient_still_checks_types(request_body: Any, message: str) -> None:
    # As Messages: --lenient relaxes the rules, never the schema.
    assert refusal(completions(lenient=True), request_body) == message


RANGE_ERRORS = [
    (body(temperature=1.5), "temperature: range: 0..1"),
    (body(temperature=-0.1), "temperature: range: 0..1"),
    (body(top_p=2), "top_p: range: 0..1"),
    (body(top_p=-1), "top_p: range: 0..1"),
    (body(top_k=-5), "top_k: ensure this value is greater than or equal to 0"),
    (body(max_tokens_to_sample=0), "max_tokens_to_sample: ensure this value is greater than or equal to 1"),
    (body(max_tokens_to_sample=-3), "max_tokens_to_sample: ensure this value is greater than or equal to 1"),
]


@pytest.mark.parametrize(("request_body", "message"), RANGE_ERRORS)
def test_numbers_are_in_range(request_body: dict[str, Any], message: str) -> None:
    assert refusal(completions(), request_body) == message


@pytest.mark.parametrize(("request_body", "message"), RANGE_ERRORS)
def test_lenient_relaxes_the_ranges(request_body: dict[str, Any], message: str) -> None:
    # As Messages: --lenient skips the rules beyond the schema (and the prompt's turns).
    assert refusal(completions(lenient=True), request_body) is None


def test_the_range_edges_pass() -> None:
    assert refusal(completions(), body(temperature=0, top_p=1, top_k=0, max_tokens_to_sample=1)) is None
    assert refusal(completions(), body(temperature=1.0, top_p=0.0, top_k=500)) is None

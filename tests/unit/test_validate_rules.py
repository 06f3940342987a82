"""The request rules beyond the schema (mockserver/protocol/validate.py), called directly."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.protocol.versions import LATEST_VERSION, LEGACY_VERSION
from mockserver.protocol.catalog import ModelCatalog
from mockserver.protocol.errors import ApiError
from mockserver.protocol.schema import default_schema
from mockserver.protocol.validate import Rules

CATALOG = ModelCatalog.load()
RULES = Rules(default_schema(), CATALOG)
ANY_MODEL = Rules(default_schema(), CATALOG, any_model=True)
HAIKU = "claude-haiku-4-5"
TOOLS = [{"name": "get_weather", "input_schema": {"type": "object"}}]


def body(messages: list[dict[str, Any]], model: str = HAIKU, **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 200, "messages": messages, "tools": TOOLS, **extra}


def refusal(rules: Rules, request: dict[str, Any], version: str = LATEST_VERSION) -> str | None:
    try:
        rules.messages(request, version=version, beta=False)
    except ApiError as error:
        return error.message
    return None


def use(tool_id: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": "get_weather", "input": {"location": "Paris"}}


def result(tool_id: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": "sunny"}


# -- text blocks --------------------------------------------------------------------------------


@pytest.mark.parametrize("blank", [" ", "\n\n", "\t"])
def test_a_blank_text_block_beside_tool_use_is_accepted(blank: str) -> None:
    # simonw__llm-anthropic/test_anthropic/test_tools.yaml (2026-04): [" ", tool_use, tool_use] got a 200
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": [{"type": "text", "text": blank}, use("toolu_a"), use("toolu_b")]},
        {"role": "user", "content": [result("toolu_a"), result("toolu_b")]},
    ]
    assert refusal(RULES, body(messages)) is None


def test_a_blank_text_block_beside_real_text_is_accepted() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "  "}]}]
    assert refusal(RULES, body(messages)) is None


@pytest.mark.parametrize("role_content", [
    [{"role": "user", "content": "  "}],
    [{"role": "user", "content": [{"type": "text", "text": " "}, {"type": "text", "text": "\n"}]}],
    [{"role": "user", "content": "a"}, {"role": "assistant", "content": [{"type": "text", "text": " "}]}, {"role": "user", "content": "b"}],
])
def test_a_message_of_blank_text_only_is_refused(role_content: list[dict[str, Any]]) -> None:
    assert refusal(RULES, body(role_content)) == "messages: text content blocks must contain non-whitespace text"


def test_an_empty_text_block_is_refused_even_beside_tool_use() -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "text", "text": ""}, use("toolu_a")]},
        {"role": "user", "content": [result("toolu_a")]},
    ]
    assert refusal(RULES, body(messages)) == "messages: text content blocks must be non-empty"


def test_an_empty_assistant_turn_is_accepted_but_an_empty_user_turn_is_not() -> None:
    middle = [{"role": "user", "content": "a"}, {"role": "assistant", "content": []}, {"role": "user", "content": "b"}]
    assert refusal(RULES, body(middle)) is None
    assert refusal(RULES, body([{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}, {"role": "user", "content": "b"}])) is None
    assert refusal(RULES, body([{"role": "user", "content": []}])) == (
        "messages.0: all messages must have non-empty content except for the optional final assistant message"
    )


# -- tool pairing -------------------------------------------------------------------------------

MISMATCHED = [
    {"role": "user", "content": "What is the weather in San Francisco, CA?"},
    {"role": "assistant", "content": [{"type": "text", "text": "<thinking>…</thinking>"}, use("toolu_01UiyhG7tywQKaqdgxyqa8z9")]},
    {"role": "user", "content": [result("toolu_01DYJo37oETVsCdLTTcCWcdq")]},
]


def test_current_models_check_tool_pairing() -> None:
    assert refusal(RULES, body(MISMATCHED)) == (
        "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_01UiyhG7tywQKaqdgxyqa8z9. "
        "Each `tool_use` block must have a corresponding `tool_result` block in the next message."
    )


def test_models_from_before_the_pairing_check_and_stand_ins_are_not_checked() -> None:
    # DataDog__dd-trace-py/anthropic_completion_tools_call_with_tool_result_stream.yaml (2024-06) got a 200
    assert refusal(ANY_MODEL, body(MISMATCHED, model="claude-3-opus-20240229", stream=True), LEGACY_VERSION) is None
    assert refusal(ANY_MODEL, body(MISMATCHED, model="some-future-model")) is None
    # the retired model itself is still a 404 on a default server
    with pytest.raises(ApiError) as info:
        RULES.messages(body(MISMATCHED, model="claude-3-opus-20240229"), version=LEGACY_VERSION, beta=False)
    assert info.value.status == 404


def test_pairing_applies_from_sonnet_3_7_on() -> None:
    sonnet_37 = CATALOG.resolve("claude-3-7-sonnet-20250219")
    assert sonnet_37 is not None and sonnet_37.created_at.date().isoformat() == "2025-02-24"
    lenient_models = Rules(default_schema(), CATALOG, any_model=True)
    # retired, so --any-model runs it as a stand-in: unchecked; a current model of that age or later is
    assert refusal(lenient_models, body(MISMATCHED, model="claude-3-7-sonnet-20250219")) is None
    assert refusal(RULES, body(MISMATCHED, model="claude-sonnet-4-5")) is not None


# -- effort -------------------------------------------------------------------------------------


def test_an_effort_level_the_model_lacks_lists_the_ones_it_has() -> None:
    # pydantic__pydantic-ai/test_anthropic/test_anthropic_explicit_effort_xhigh_unsupported_model_errors.yaml
    request = {"model": "claude-opus-4-6", "max_tokens": 4096, "messages": [{"role": "user", "content": "What is 2+2?"}],
               "output_config": {"effort": "xhigh"}}
    assert refusal(RULES, request) == "This model does not support effort level 'xhigh'. Supported levels: high, low, max, medium."
    assert refusal(RULES, dict(request, output_config={"effort": "max"})) is None


def test_a_model_without_effort_says_so() -> None:
    entry = next(e for e in CATALOG.entries if e.lifecycle != "retired" and not e.supports("effort"))
    request = {"model": entry.id, "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], "output_config": {"effort": "low"}}
    assert refusal(RULES, request) == "This model does not support the effort parameter."  # wording unconfirmed

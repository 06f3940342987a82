"""Scripted replies are checked against ``response-schema.json`` (generated from the SDK's
``Message``/``BetaMessage`` models), not the SDK itself: the schema is current, it accepts and
refuses what pydantic does, and loading a scenario imports neither the SDK nor pydantic."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import pydantic
import pytest
from anthropic._models import validate_type
from anthropic.types import Message
from anthropic.types.beta import BetaMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver import fuzz
from mockserver.protocol.schema import RESPONSE_PATH, response_schema

SETTINGS = settings(max_examples=150, deadline=None, database=None)


def sdk_accepts(message: Any) -> bool:
    for model in (Message, BetaMessage):
        try:
            validate_type(type_=model, value=message)
            return True
        except pydantic.ValidationError:
            pass
    return False


def schema_accepts(message: Any) -> bool:
    schema = response_schema()
    return not schema.check("message", message) or not schema.check("beta_message", message)


def test_committed_response_schema_matches_installed_sdk() -> None:
    code = "from mockserver.protocol import schema_gen; import sys; sys.stdout.write(schema_gen.dumps(schema_gen.build_responses()))"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, encoding="utf-8").stdout
    assert RESPONSE_PATH.read_text(encoding="utf-8") == fresh, "response-schema.json is stale: run `make schema`"


@SETTINGS
@given(fuzz.messages(max_blocks=4))
def test_valid_messages_pass_both(message: dict[str, Any]) -> None:
    assert sdk_accepts(message) and schema_accepts(message)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, prefix + (key,)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(_paths(item, prefix + (i,)))
    return out


# Values of other JSON kinds. No numeric strings, no 0/1, no True for a number: pydantic's lax
# mode reads "5" as an int, 1 as True and True as 1, which no real response holds (the schema is
# strict there, on purpose).
REPLACEMENTS = st.sampled_from([None, "zz-not-a-tag", 7.5, 12345, True, [], {}, [{"type": "nope"}], {"type": "nope"}])


@SETTINGS
@given(fuzz.messages(max_blocks=3), st.data())
def test_a_broken_message_is_refused_by_both_or_neither(message: dict[str, Any], data: st.DataObject) -> None:
    paths = [p for p in _paths(message) if p]
    path = data.draw(st.sampled_from(paths))
    broken = copy.deepcopy(message)
    parent = broken
    for part in path[:-1]:
        parent = parent[part]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        original = parent[path[-1]]
        replacement = data.draw(REPLACEMENTS)
        if replacement is True and type(original) in (int, float):  # pydantic's lax mode: True is 1
            replacement = "true?"
        parent[path[-1]] = replacement
    assert schema_accepts(broken) == sdk_accepts(broken), (path, broken)


@pytest.mark.parametrize(
    ("change", "accepted"),
    [
        (lambda m: m.update(container={"id": "c", "expires_at": "2026-11-22T03:10:04Z"}), True),
        (lambda m: m.update(container={"id": "c", "expires_at": 1700000000}), True),
        (lambda m: m.update(container={"id": "c", "expires_at": "next tuesday"}), False),
        (lambda m: m.update(surprise="extra fields are allowed, as in the SDK's models"), True),
        (lambda m: m["content"].append({"type": "text"}), False),
        (lambda m: m["content"].append({"type": "container_upload", "file_id": "file_1"}), True),
        (lambda m: m["usage"].pop("output_tokens"), False),
    ],
)
def test_datetimes_extras_and_required_fields(change: Any, accepted: bool) -> None:
    message = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    change(message)
    assert sdk_accepts(message) == accepted
    assert schema_accepts(message) == accepted


def test_loading_a_scenario_imports_neither_the_sdk_nor_pydantic() -> None:
    code = (
        "import sys\n"
        "from mockserver.scenarios import parse_text\n"
        "parse_text('- reply: {content: [hi, {tool_use: {name: f}}, {thinking: hm}]}', source='s.yaml')\n"
        "try:\n"
        "    parse_text('- reply: {content: [{text: hi, citations: [{type: char_location}]}]}', source='s.yaml')\n"
        "except Exception as e:\n"
        "    print(e)\n"
        "assert 'anthropic' not in sys.modules and 'pydantic' not in sys.modules, sorted(sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "reply.content[0]: not a valid reply for the SDK's Message type: Field required (at citations.0.cited_text)" in done.stdout

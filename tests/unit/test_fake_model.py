"""The fake model in isolation: schema-valid tool inputs, the max_tokens and stop_sequences cuts,
tool choice, thinking signatures, determinism."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.protocol.errors import ApiError
from mockserver.protocol.tokens import count_text
from mockserver.emulation.schema_instance import MAX_CHARS, MAX_ITEMS, MAX_STRING, MAX_VALUES, generate, instance
from mockserver.emulation.fake_model import FakeModel
from mockserver.emulation.server_tools import CALL_TYPES, needs_issuing, runs_code, server_usage
from mockserver.emulation.synth import Synthesizer
from mockserver.protocol.message import RESULT_BLOCK_TYPES, fed_back_tokens

SCALARS = st.sampled_from(
    [
        {"type": "string"},
        {"type": "string", "minLength": 12, "maxLength": 20},
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": "^[a-z]+$"},
        {"type": "integer", "minimum": -5, "maximum": 5},
        {"type": "integer", "exclusiveMinimum": 0, "multipleOf": 7},
        {"type": "number", "minimum": 0.5, "maximum": 0.75},
        {"type": "boolean"},
        {"type": "null"},
        {"enum": ["a", "b", 3]},
        {"const": "fixed"},
        {"type": ["string", "null"]},
    ]
)
SCHEMAS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.builds(lambda items, low: {"type": "array", "items": items, "minItems": low}, inner, st.integers(0, 3)),
        st.builds(
            lambda props, closed: {
                "type": "object",
                "properties": props,
                "required": sorted(props)[: len(props) // 2 + 1] if props else [],
                "additionalProperties": not closed,
            },
            st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), inner, max_size=4),
            st.booleans(),
        ),
        st.builds(lambda options: {"anyOf": options}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda a, b: {"allOf": [a, b]}, st.just({"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}), st.just({"type": "object"})),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(schema=SCHEMAS, seed=st.integers(0, 2**32))
def test_generated_values_validate_against_their_schema(schema: dict[str, Any], seed: int) -> None:
    jsonschema.validate(instance(schema, random.Random(seed)), schema)


HOSTILE_LEAVES = st.sampled_from([
    {"type": "string", "minLength": 10**12}, {"type": "string", "minLength": 3000}, {"type": "number", "minimum": -1e308, "maximum": 1e308},
    {"type": "object", "minProperties": 10**9}, {"type": "object", "required": [f"r{i}" for i in range(3000)]}, {"type": "string"},
])
NESTED = st.recursive(
    HOSTILE_LEAVES,
    lambda inner: st.builds(lambda items, low: {"type": "array", "items": items, "minItems": low}, inner, st.integers(0, 10**12))
    | st.builds(lambda props: {"type": "object", "properties": props, "required": sorted(props)},
                st.dictionaries(st.sampled_from(["a", "b", "c" * 200]), inner, max_size=3)),
    max_leaves=6,
)
HOSTILE = NESTED | st.builds(lambda a: {"$defs": {"d": a}, "type": "array", "minItems": 90, "items": {"$ref": "#/$defs/d"}}, NESTED)


def _size(value: Any) -> tuple[int, int]:
    """(values, characters of strings) in a JSON value, counted without recursion."""
    values = chars = 0
    stack = [value]
    while stack:
        item = stack.pop()
        values += 1
        if isinstance(item, str):
            chars += len(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return values, chars


@settings(max_examples=60, deadline=None)
@given(schema=HOSTILE, seed=st.integers(0, 2**32))
def test_generation_is_bounded_whatever_the_schema_asks(schema: dict[str, Any], seed: int) -> None:
    made = generate(schema, random.Random(seed))
    values, chars = _size(made.value)
    assert values <= MAX_VALUES + 1 and chars <= MAX_CHARS
    json.dumps(made.value, allow_nan=False)  # finite numbers only
    if made.cut is None:  # whole: then it validates
        jsonschema.validate(made.value, schema)


def test_a_cut_value_says_why() -> None:
    rng = random.Random(1)
    items = generate({"type": "array", "minItems": 100_000_000, "items": {"type": "string"}}, rng)
    assert len(items.value) == MAX_ITEMS and "'minItems' values other than 0 or 1" in str(items.cut)
    text = generate({"type": "string", "minLength": 10**8}, rng)
    assert len(text.value) == MAX_STRING and f"'minLength' values above {MAX_STRING}" in str(text.cut)
    nested = generate({"type": "array", "minItems": 100, "items": {"type": "array", "minItems": 100, "items": {"type": "integer"}}}, rng)
    assert "too large" in str(nested.cut)
    # Values the generator cannot honour are still finite, and a pattern costs linear time.
    assert generate({"type": "integer", "minimum": 10**400, "multipleOf": 0.5}, rng).value == 0
    assert generate({"type": "string", "pattern": "^(a+)+$", "minLength": 30}, rng).value.startswith("a")
    fits = generate({"type": "array", "minItems": MAX_ITEMS, "items": {"type": "string", "minLength": MAX_STRING // 100}}, rng)
    assert fits.cut is None and len(fits.value) == MAX_ITEMS


def test_structured_output_past_the_limits_is_refused_and_a_tool_input_is_cut() -> None:
    synth = Synthesizer()
    huge = {"type": "object", "properties": {"a": {"type": "array", "minItems": 10**8}}, "required": ["a"]}
    with pytest.raises(ApiError) as refused:
        synth.generate(body(output_config={"format": {"type": "json_schema", "schema": huge}}))
    assert refused.value.status == 400 and refused.value.message.startswith("output_config.format.schema: For 'array' type")
    # Refused whatever the reply is (here a forced tool call, which does not use the format).
    with pytest.raises(ApiError):
        synth.generate(body(output_config={"format": {"type": "json_schema", "schema": huge}}, tools=TOOLS,
                            tool_choice={"type": "tool", "name": "weather"}))
    tool = [{"name": "t", "input_schema": huge}]
    out = synth.generate(body(max_tokens=5000, tools=tool, tool_choice={"type": "tool", "name": "t"}))
    assert len(out.content[0]["input"]["a"]) == MAX_ITEMS


def test_refs_and_defs() -> None:
    schema = {"type": "object", "properties": {"node": {"$ref": "#/$defs/Node"}}, "required": ["node"],
              "$defs": {"Node": {"type": "object", "properties": {"name": {"type": "string"}, "child": {"$ref": "#/$defs/Node"}}, "required": ["name"]}}}
    for seed in range(20):
        jsonschema.validate(instance(schema, random.Random(seed)), schema)


def body(text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 400, "messages": [{"role": "user", "content": text}], **extra}


def test_same_seed_and_body_same_answer_stream_flag_ignored() -> None:
    a = Synthesizer(seed=1).generate(body())
    b = Synthesizer(seed=1).generate(body(stream=True))
    c = Synthesizer(seed=2).generate(body())
    assert a == b and a.content != c.content


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=60),
    turn=st.sampled_from(["user", "prefill", "tool_result"]),
    max_tokens=st.integers(min_value=1, max_value=120),
    seed=st.integers(min_value=0, max_value=50),
)
def test_output_tokens_are_the_reply_text_counted(text: str, turn: str, max_tokens: int, seed: int) -> None:
    """The reply's tokens are known without splitting it (head and filler counted apart): they
    must be what counting the whole text gives, whatever the text, the turn and the cut."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": text or "x"}]
    if turn == "prefill":
        messages.append({"role": "assistant", "content": text or "y"})
    elif turn == "tool_result":
        messages = [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": text}]},
        ]
    out = Synthesizer(seed=seed).generate({"model": "m", "max_tokens": max_tokens, "messages": messages})
    (block,) = out.content
    assert set(block) == {"type", "text"}  # the count it carried is not part of the reply
    assert out.output_tokens == max(1, count_text(block["text"]))
    assert out.stop_reason in ("end_turn", "max_tokens") and out.output_tokens <= max_tokens
    if out.stop_reason == "max_tokens":
        assert out.output_tokens == max_tokens


@pytest.mark.parametrize("limit", [1, 2, 7, 13])
def test_max_tokens_cuts_exactly(limit: int) -> None:
    out = Synthesizer(seed=3).generate(body(max_tokens=limit))
    assert out.stop_reason == "max_tokens" and out.output_tokens == limit == count_text(out.content[0]["text"])


def test_earliest_stop_sequence_wins() -> None:
    out = Synthesizer().generate(body("alpha STOP beta HALT", stop_sequences=["HALT", "STOP"]))
    assert (out.stop_reason, out.stop_sequence) == ("stop_sequence", "STOP")
    assert out.content[0]["text"] == 'You said: "alpha '


TOOLS = [{"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}},
         {"name": "weather", "input_schema": {"type": "object"}}]


def test_tool_choice_rules() -> None:
    synth = Synthesizer()
    forced = synth.generate(body(tools=TOOLS, tool_choice={"type": "tool", "name": "weather"}))
    assert [b["type"] for b in forced.content] == ["tool_use"] and forced.content[0]["name"] == "weather" and forced.stop_reason == "tool_use"
    assert synth.generate(body("use weather please", tools=TOOLS, tool_choice={"type": "any"})).content[0]["name"] == "weather"
    assert synth.generate(body("anything", tools=TOOLS, tool_choice={"type": "any"})).content[0]["name"] == "lookup"
    auto = synth.generate(body("please lookup this", tools=TOOLS))
    assert [b["type"] for b in auto.content] == ["text", "tool_use"] and auto.content[1]["id"] == ""  # ids are issued per reply
    assert list(auto.content[1]) == ["type", "id", "name", "input", "caller"]  # the 2026 recordings' key order
    assert auto.content[1]["caller"] == {"type": "direct"} and forced.content[0]["caller"] == {"type": "direct"}
    assert synth.generate(body("no tool named here", tools=TOOLS)).stop_reason == "end_turn"
    assert synth.generate(body("lookup", tools=TOOLS, tool_choice={"type": "none"})).stop_reason == "end_turn"
    answered = body(tools=TOOLS)
    answered["messages"] = [
        {"role": "user", "content": "lookup x"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "x"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}]},
    ]
    out = synth.generate(answered)
    assert out.stop_reason == "end_turn" and out.content[0]["text"].startswith("The tool returned: 42")


def test_thinking_is_signed_and_budgeted() -> None:
    synth = Synthesizer(seed=9)
    out = synth.generate(body(max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024}))
    thinking = out.content[0]
    assert thinking["type"] == "thinking" and out.thinking_tokens == count_text(thinking["thinking"]) <= 1024
    assert synth.signature_matches(thinking["thinking"], thinking["signature"]) is True
    assert synth.signature_matches(thinking["thinking"] + "!", thinking["signature"]) is False
    assert Synthesizer(seed=10).signature_matches(thinking["thinking"], thinking["signature"]) is False
    assert synth.signature_matches("x", "EqoBCkgIBxABGAIiQL") is None  # someone else's: not checkable
    omitted = synth.generate(body(max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024, "display": "omitted"}))
    assert omitted.content[0]["thinking"] == "" and omitted.thinking_tokens and omitted.content[0]["signature"]
    # what the client sends back ("") is what is signed; the length still follows the hidden text
    assert synth.signature_matches("", omitted.content[0]["signature"]) is True
    assert len(omitted.content[0]["signature"]) > 300  # not the 232 characters of a signature over ""


# simonw test_opus_46_adaptive_thinking.yaml: a 284-character signature for 40 characters of thinking
REAL_SIGNATURE = ("EtABCkYICxgCKkCVRmhlD4SUFC1JfxwvjOHbkC3C", 284)


@pytest.mark.parametrize("thinking", ["", "x" * 40, "Let me think this through. " * 16, "y" * 1500])
def test_signatures_look_like_the_apis(thinking: str) -> None:
    """Base64 of the same protobuf envelope as the API's, as long as a real one for that much
    thinking (about 173 bytes plus the thinking's UTF-8 length), and verifiable here."""
    synth = Synthesizer(seed=4)
    signature = synth.sign(thinking)
    raw = base64.b64decode(signature, validate=True)
    assert signature.startswith("E") and raw[0] == 0x12 and raw.endswith(b"\x18\x01")
    assert 170 <= len(raw) - len(thinking.encode()) <= 176
    assert synth.signature_matches(thinking, signature) is True and synth.sign(thinking) == signature
    if len(thinking) == 40:  # the real opus-4-6 signature for 40 characters of thinking: same length and head
        assert (signature[:15], len(signature)) == (REAL_SIGNATURE[0][:15], REAL_SIGNATURE[1])


def test_recorded_signatures_are_not_checkable_here() -> None:
    import orjson

    from mockserver.cassettes import importers

    realworld = Path(__file__).resolve().parents[1] / "data" / "realworld"
    synth = Synthesizer()
    seen = []
    for path in sorted(realworld.rglob("*.y*ml")):
        for item in importers.load_any(path).interactions:
            for line in item.response.body.split(b"\n"):
                if b'"signature_delta"' in line:
                    seen.append(orjson.loads(line[6:])["delta"]["signature"])
    assert len(seen) >= 6 and {len(s) for s in seen} >= {248, 284, 2304}
    assert all(synth.signature_matches("anything", s) is None for s in seen)


def test_prefill_and_structured_output() -> None:
    synth = Synthesizer()
    prefilled = body()
    prefilled["messages"].append({"role": "assistant", "content": "Sure:"})
    assert synth.generate(prefilled).content[0]["text"].startswith(" ")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": False}
    out = synth.generate(body(output_config={"format": {"type": "json_schema", "schema": schema}}))
    jsonschema.validate(json.loads(out.content[0]["text"]), schema)


def test_count_tokens_memo_is_keyed_by_bytes_and_the_files_they_name() -> None:
    """The memo answers a repeated body from its bytes, but the same bytes naming a file count
    what that file holds now (a file uploaded under the id later counts differently)."""
    from mockserver.clock import ManualClock
    from mockserver.emulation.fake_model import FakeModel
    from mockserver.protocol.catalog import ModelCatalog
    from mockserver.protocol.media import FileFacts
    from mockserver.protocol.schema import RequestSchema
    from mockserver.protocol.validate import Rules

    model = FakeModel(Rules(RequestSchema.load(), ModelCatalog.load()), Synthesizer(seed=1), clock=ManualClock())
    doc = {"type": "document", "source": {"type": "file", "file_id": "file_1"}}
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": [doc, {"type": "text", "text": "sum up"}]}]}
    raw = json.dumps(body).encode()

    def count(text_tokens: int) -> int:
        files = {"file_1": FileFacts("file_1", "text/plain", 10 * text_tokens, text_tokens=text_tokens, text_sentences=1)}
        return model.count_tokens(body, version="2023-06-01", beta=True, raw=raw, files=files)

    small, large = count(10), count(1000)
    assert large - small == 990 and count(10) == small and count(1000) == large
    plain = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi there"}]}
    once = model.count_tokens(plain, version="2023-06-01", beta=False, raw=json.dumps(plain).encode())
    assert model.count_tokens(plain, version="2023-06-01", beta=False, raw=json.dumps(plain).encode()) == once
    with pytest.raises(ApiError):  # an invalid body is refused every time, never memoised
        model.count_tokens({"model": "claude-sonnet-4-5"}, version="2023-06-01", beta=False, raw=b"{}")
    with pytest.raises(ApiError):
        model.count_tokens({"model": "claude-sonnet-4-5"}, version="2023-06-01", beta=False, raw=b"{}")


def test_memo_keeps_an_answer_from_its_second_sighting_and_only_the_latest() -> None:
    """A key seen once keeps nothing (a stream of distinct prompts evicts no answers); seen again,
    its answer is kept, least recently used first out."""
    from mockserver.emulation.fake_model import Memo

    memo: Memo[int] = Memo(2)
    memo.put(("a",), 1)
    assert memo.get(("a",)) is None
    memo.put(("a",), 1)
    assert memo.get(("a",)) == 1
    for key in ("b", "c"):
        memo.put((key,), 2)
        memo.put((key,), 2)
    assert memo.get(("a",)) is None and memo.get(("b",)) == 2 and memo.get(("c",)) == 2
    for n in range(10):  # distinct keys, each once: the kept answers stay
        memo.put((f"once-{n}",), 0)
    assert memo.get(("b",)) == 2 and memo.get(("c",)) == 2


def test_memo_keeps_answers_within_its_byte_budget() -> None:
    """The kept answers' costs (their request bytes) stay within ``max_bytes``, least recently used
    out first; one answer costing more than a quarter of it is never kept."""
    from mockserver.emulation.fake_model import Memo

    memo: Memo[str] = Memo(100, max_bytes=1000)
    for n in range(6):  # 6 x 200 bytes: the oldest go until 1000 fit
        memo.put((n,), f"answer {n}", 200)
        memo.put((n,), f"answer {n}", 200)
    assert [memo.get((n,)) for n in range(6)] == [None, "answer 1", "answer 2", "answer 3", "answer 4", "answer 5"]
    memo.put(("big",), "too big", 251)
    memo.put(("big",), "too big", 251)
    assert memo.get(("big",)) is None and memo.get((5,)) == "answer 5"
    memo.put((1,), "again", 200)  # kept again under its key: counted once
    memo.put((1,), "again", 200)
    memo.put(("small",), "fits", 200)
    memo.put(("small",), "fits", 200)
    assert memo.get(("small",)) == "fits" and memo.get((1,)) == "again" and memo.get((2,)) is None


def test_the_fake_models_memos_hold_large_bodies_within_their_budget() -> None:
    """Many large prompts, each sent twice: the drafts kept are bounded by bytes, not only by count."""
    from mockserver.clock import ManualClock
    from mockserver.emulation.fake_model import MEMO_BYTES, FakeModel
    from mockserver.protocol.catalog import ModelCatalog
    from mockserver.protocol.schema import RequestSchema
    from mockserver.protocol.validate import Rules

    model = FakeModel(Rules(RequestSchema.load(), ModelCatalog.load()), Synthesizer(seed=1), clock=ManualClock())
    text = "x" * (MEMO_BYTES // 16)
    for n in range(40):
        body = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": f"{n} {text}"}]}
        raw = json.dumps(body).encode()
        for _ in range(2):
            model.draft(body, version="2023-06-01", beta=False, raw=raw)
    kept = model._drafts._items
    assert 0 < len(kept) <= 16 and sum(cost for _, cost in kept.values()) <= MEMO_BYTES


@pytest.mark.parametrize("kind", ["text", "thinking", "redacted_thinking"])
def test_blocks_that_need_no_ids_need_none_of_the_other_tool_bookkeeping(kind: str) -> None:
    """FakeModel.draft asks fed_back_tokens, runs_code and server_usage only when needs_issuing
    says a block is a tool call or result: for any other block each must give its empty answer."""
    content = [{"type": kind, "text": "Hello there.", "thinking": "Let me see.", "signature": "c2ln", "data": "ZGF0YQ=="}]
    assert needs_issuing(content) is False
    assert fed_back_tokens(content) == 0
    assert runs_code(content) is False
    assert server_usage(content) is None


@pytest.mark.parametrize("kind", sorted({"tool_use", *CALL_TYPES, *RESULT_BLOCK_TYPES}))
def test_every_block_the_other_tool_bookkeeping_reads_needs_issuing(kind: str) -> None:
    assert needs_issuing([{"type": kind}]) is True


def test_a_reply_that_calls_a_tool_still_gets_its_ids() -> None:
    from mockserver.protocol.catalog import ModelCatalog
    from mockserver.protocol.schema import default_schema
    from mockserver.protocol.validate import Rules

    synth = Synthesizer(1)
    model = FakeModel(Rules(default_schema(), ModelCatalog.load(None), False, False, synth.signature_matches), synth)
    tool = {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {}}}
    body = {"model": "claude-haiku-4-5", "max_tokens": 256, "tools": [tool], "tool_choice": {"type": "any"},
            "messages": [{"role": "user", "content": "Weather?"}]}
    draft = model.draft(body, version="2023-06-01", beta=False)
    assert draft.needs_ids and [b["type"] for b in draft.content] == ["tool_use"]
    plain = model.draft({**body, "tools": [], "tool_choice": {"type": "auto"}}, version="2023-06-01", beta=False)
    assert not plain.needs_ids and [b["type"] for b in plain.content] == ["text"]

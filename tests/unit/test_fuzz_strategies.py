"""The fuzz strategies draw what they promise, in the scenario file format, and print as YAML
that loads back to the same scenario."""

from __future__ import annotations

import email.utils
import time

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import find as _find
from hypothesis import strategies as st

from mockserver import fuzz
from mockserver.faults.spec import MALFORMED_KINDS
from mockserver.scenarios import parse_document
from mockserver.scenarios.format import parse_faults
from mockserver.documents import Node
from mockserver.scenarios.errors import where as scenario_where

FAST = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SEARCH = settings(max_examples=2000, deadline=None, database=None, phases=[Phase.generate])  # the first hit, unshrunk
SHRINK = settings(max_examples=2000, deadline=None, database=None)


def find(strategy, condition, settings=SEARCH):  # noqa: ANN001, ANN201 - hypothesis.find, fast by default
    """Some example meeting ``condition``: proves the strategy reaches it."""
    return _find(strategy, condition, settings=settings)


@FAST
@given(fuzz.scenarios(faults=fuzz.faults()))
def test_every_scenario_loads_and_round_trips_through_yaml(scenario: dict) -> None:
    # The loader checks every reply against the SDK's Message type (as strict validation will).
    document = parse_document(fuzz.as_rules(scenario), source="<fuzz>")
    assert len(document.rules) == 1
    assert yaml.safe_load(fuzz.to_yaml(scenario)) == {"rules": fuzz.as_rules(scenario)}


@pytest.mark.parametrize("status", fuzz.STATUSES)
def test_errors_cover_every_status_with_real_bodies(status: int) -> None:
    found = find(fuzz.errors(), lambda e: e["error"]["status"] == status and "message" in e["error"])
    if status in fuzz.REAL_MESSAGES:
        assert found["error"]["message"] in fuzz.REAL_MESSAGES[status]


def test_retry_after_forms_and_should_retry_variants() -> None:
    step = fuzz.errors([429], retry_after=fuzz.retry_after(max_seconds=30))
    assert find(step, lambda e: set(e["error"]) == {"status"})  # no header at all
    assert find(step, lambda e: e["error"].get("retry_after", 0) > 0)["error"]["retry_after"] <= 30
    assert find(step, lambda e: e["error"].get("retry_after_ms", 0) > 0)["error"]["retry_after_ms"] <= 30_000
    dated = find(step, lambda e: "headers" in e["error"] and email.utils.parsedate_to_datetime(e["error"]["headers"]["retry-after"]).timestamp() > time.time() + 5)
    assert email.utils.parsedate_to_datetime(dated["error"]["headers"]["retry-after"]).timestamp() <= time.time() + 31
    assert find(step, lambda e: e["error"].get("should_retry") is True)
    assert find(step, lambda e: e["error"].get("should_retry") is False)


@FAST
@given(fuzz.retry_after())
def test_fast_retry_after_never_asks_for_more_than_fifty_milliseconds(fields: dict) -> None:
    assert fields.get("retry_after", 0) == 0 and fields.get("retry_after_ms", 0) <= 50
    if "headers" in fields:
        assert email.utils.parsedate_to_datetime(fields["headers"]["retry-after"]).timestamp() <= time.time()


@pytest.mark.parametrize("kind", fuzz.FAULT_KINDS)
def test_faults_cover_every_kind_and_load(kind: str) -> None:
    faults = find(fuzz.faults(), lambda f: bool(f.get(kind)))
    loaded = parse_faults(Node(faults, "", scenario_where("<fuzz>")))
    assert loaded.describe(), faults


def test_faults_draw_each_parameter() -> None:
    drawn = fuzz.faults(["drop", "malformed", "stream_error", "random_error"])
    assert find(drawn, lambda f: isinstance(f.get("drop"), dict) and f["drop"]["after_bytes"] > 0)
    for kind in MALFORMED_KINDS:
        assert find(drawn, lambda f, k=kind: isinstance(f.get("malformed"), dict) and f["malformed"]["kind"] == k and f["malformed"]["at"] > 1)
    assert find(drawn, lambda f: isinstance(f.get("stream_error"), dict) and "type" in f["stream_error"] and "message" in f["stream_error"])
    assert find(drawn, lambda f: isinstance(f.get("random_error"), dict) and "headers" in f["random_error"])


@FAST
@given(fuzz.faults(max_size=3, max_delay=0.02))
def test_fault_pauses_stay_under_max_delay(faults: dict) -> None:
    assert faults.get("latency", 0) <= 0.02 and faults.get("ttft", 0) <= 0.02
    if "slow_body" in faults:
        assert faults["slow_body"]["interval"] <= 0.02 / 100


def test_texts_reach_the_awkward_corners() -> None:
    text = fuzz.texts(long_size=5000)
    assert find(text, lambda t: t == "") == ""
    assert len(find(text, lambda t: len(t) >= 5000, SHRINK)) == 5000
    assert find(text, lambda t: any(ord(c) > 0xFFFF for c in t))  # astral plane
    assert find(text, lambda t: "\u0301" in t)  # a combining mark
    assert find(text, lambda t: "\x00" in t)


def test_replies_reach_many_blocks_nested_inputs_and_thinking() -> None:
    replies = fuzz.replies()
    assert find(replies, lambda r: len(r["reply"]["content"]) > 50)
    assert find(replies, lambda r: any(isinstance(b, dict) and "redacted_thinking" in b for b in r["reply"]["content"]))
    assert find(replies, lambda r: any(isinstance(b, dict) and "thinking" in b for b in r["reply"]["content"]))

    def depth(value: object) -> int:
        if isinstance(value, dict):
            return 1 + max(map(depth, value.values()), default=0)
        if isinstance(value, list):
            return 1 + max(map(depth, value), default=0)
        return 0

    assert find(replies, lambda r: any(isinstance(b, dict) and "tool_use" in b and depth(b["tool_use"]["input"]) > 20 for b in r["reply"]["content"]))


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # the ping-heavy stream found is long, on purpose
def test_streams_reach_ping_heavy_and_byte_split_bodies() -> None:
    stream = fuzz.streams()
    heavy = find(stream, lambda s: sum(e["data"]["type"] == "ping" for e in s["stream"]["events"]) >= 20)
    assert heavy["stream"]["events"][0]["data"]["type"] == "message_start"
    assert heavy["stream"]["events"][-1]["data"]["type"] == "message_stop"
    split = find(stream, lambda s: "faults" in s)
    assert split["faults"]["slow_body"]["interval"] == 0 and split["faults"]["slow_body"]["chunk_bytes"] <= 7


def test_a_text_delta_can_split_a_letter_from_its_combining_mark() -> None:
    message = {
        "model": fuzz.strategies.MODEL, "id": "msg_011CAAAAAAAAAAAAAAAAAAAA", "type": "message", "role": "assistant",
        "content": [{"type": "text", "text": "e\u0301!"}], "stop_reason": "end_turn", "stop_sequence": None,
        "stop_details": None, "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    stream = find(fuzz.stream_of(message), lambda s: any(e["data"].get("delta", {}).get("text") == "e" for e in s["stream"]["events"]))
    texts = [e["data"]["delta"]["text"] for e in stream["stream"]["events"] if e["data"]["type"] == "content_block_delta"]
    assert "".join(texts) == "e\u0301!"


def test_scenarios_shrink_to_a_single_step_and_sequences_stay_sequences() -> None:
    assert find(fuzz.scenarios(fuzz.errors()), lambda s: "error" in s, SHRINK) == {"error": {"status": 400}}
    sequence = find(fuzz.scenarios(fuzz.errors(), max_steps=3), lambda s: "sequence" in s, SHRINK)
    assert sequence == {"sequence": [{"error": {"status": 400}}, {"error": {"status": 400}}]}
    matched = find(fuzz.scenarios(fuzz.replies(), match={"stream": True}), lambda s: True, SHRINK)
    assert matched["match"] == {"stream": True}


def test_to_yaml_escapes_what_yaml_would_read_as_a_line_break() -> None:
    scenario = {"reply": "next\x85line \u2028 🧪"}
    assert yaml.safe_load(fuzz.to_yaml(scenario)) == {"rules": [scenario]}
    assert fuzz.to_yaml({"reply": "héllo 🧪"}) == "rules:\n- {reply: héllo 🧪}\n"


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ({"error": 529}, [{"error": 529}]),
        ([{"reply": "a"}, {"reply": "b"}], [{"reply": "a"}, {"reply": "b"}]),
        ({"rules": [{"reply": "a"}], "rate_limits": None}, {"rules": [{"reply": "a"}], "rate_limits": None}),
    ],
)
def test_as_rules_accepts_the_forms_of_a_scenario_file(scenario: object, expected: object) -> None:
    assert fuzz.as_rules(scenario) == expected


def test_as_rules_refuses_what_is_not_a_scenario() -> None:
    with pytest.raises(ValueError, match="not a scenario rule"):
        fuzz.as_rules({"status": 529})
    with pytest.raises(TypeError):
        fuzz.as_rules("error: 529")


def test_unknown_fault_kinds_and_forms_are_refused() -> None:
    with pytest.raises(ValueError, match="kinds must be some of"):
        fuzz.faults(["explode"])
    with pytest.raises(ValueError, match="forms must be some of"):
        fuzz.retry_after(forms=["minutes"])


def test_strategies_compose_with_plain_hypothesis() -> None:
    both = st.tuples(fuzz.errors([529]), fuzz.replies())
    error, reply = find(both, lambda t: True, SHRINK)
    assert error == {"error": {"status": 529}} and reply == {"reply": {"content": []}}


def test_the_package_lists_exactly_the_strategies_module_names_and_loads_them_lazily() -> None:
    import subprocess
    import sys

    from mockserver.fuzz import strategies
    from mockserver.scenarios.format import ACTIONS, FAULT_FIELDS

    assert all(getattr(fuzz, name) is getattr(strategies, name) for name in strategies.__all__)
    assert set(fuzz.__all__) - set(strategies.__all__) == {"Installation", "as_rules", "installed", "to_yaml"}
    assert fuzz.FAULT_KINDS == FAULT_FIELDS and fuzz.install.RULE_KEYS == set(ACTIONS)
    check = "import sys, mockserver.fuzz, mockserver.chaos.stage; assert 'hypothesis' not in sys.modules"
    subprocess.run([sys.executable, "-c", check], check=True)

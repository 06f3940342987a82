"""The scenario format: every example loads, every mistake is named precisely, the Python builders
write what a file would, and the pure pieces (paths, conditions, sequences) behave."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import re2
from hypothesis import given
from hypothesis import strategies as st

from mockserver.faults.spec import Faults
from mockserver.scenarios import ScenarioError, error, fault, load_file, parse_document, parse_text, reply, rule, stream
from mockserver.scenarios.actions import ErrorAction, PassAction, ReplyAction, Sequence
from mockserver.scenarios.matchers import MISSING, parse_path, resolve_path, text_condition
from mockserver.documents import Node
from mockserver.scenarios.errors import where as scenario_where

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_file_loads(path: Path) -> None:
    document = load_file(path)
    assert document.rules or document.rate_limits is not None
    assert all(rule.source == str(path) for rule in document.rules)


def load(text: str) -> Any:
    return parse_text(text, source="s.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- {reply: hi, colour: red}", 's.yaml: rules[0]: colour: unknown field (expected one of: '),
        ("- {name: x, reply: hi, error: 529}", 's.yaml: rules[0] ("x"): a rule needs exactly one action: reply, sequence, error, stream, json, fault, passthrough (found reply, error)'),
        ("- {match: {text: hi}}", "s.yaml: rules[0]: a rule needs exactly one action"),
        ("- {error: {status: 700}}", "s.yaml: rules[0]: error.status: must be an integer from 400 to 599, not 700"),
        ("- {error: teapot_error}", "s.yaml: rules[0]: error: unknown error type 'teapot_error'"),
        ("- {match: {regex: '(unclosed'}, reply: x}", "s.yaml: rules[0]: match.regex: invalid regular expression"),
        ("- {match: {txt: hi}, reply: x}", "s.yaml: rules[0]: match.txt: unknown field (did you mean 'text'?)"),
        ("- {match: {endpoint: mesages.create}, error: 529}", "s.yaml: rules[0]: match.endpoint: unknown endpoint 'mesages.create'"),
        ("- {match: {endpoint: models.list}, reply: x}", "s.yaml: rules[0]: match.endpoint: a reply answers messages.create or messages.count_tokens only"),
        ("- {match: {body: {'a..b': 1}}, reply: x}", "s.yaml: rules[0]: match.body.a..b: invalid JSON path"),
        ("- {match: {nth: 0}, reply: x}", "s.yaml: rules[0]: match.nth: must be an integer from 1 to 1000000000, not 0"),
        ("- {sequence: []}", "s.yaml: rules[0]: sequence: a sequence needs at least one step"),
        ("- {sequence: [529, {reply: x, error: 529}]}", "s.yaml: rules[0]: sequence[1]: a step needs exactly one of"),
        ("- {sequence: [529], then: again}", "s.yaml: rules[0]: then: must be one of repeat_last, fallthrough, cycle, not 'again'"),
        ("- {reply: x, then: cycle}", "s.yaml: rules[0]: then: 'then' only applies to a sequence"),
        ("- {fault: {malformed: broken}}", "s.yaml: rules[0]: fault.malformed: must be one of bad_json, missing_event_line, unknown_event, bad_utf8"),
        ("- {fault: {drop: {after_events: 1, after_bytes: 2}}}", "s.yaml: rules[0]: fault.drop: give exactly one of after_events, after_bytes"),
        ("- {fault: {random_error: 1.5}}", "s.yaml: rules[0]: fault.random_error: must be a number from 0 to 1, not 1.5"),
        ("- {fault: {latency: -1}}", "s.yaml: rules[0]: fault.latency: must be a number from 0 to 600, not -1"),
        ("- {reply: {content: [{tool_use: {input: {}}}]}}", "s.yaml: rules[0]: reply.content[0].tool_use: 'name' is required"),
        ("- {reply: {content: [{bogus: 1}]}}", "s.yaml: rules[0]: reply.content[0]: a content block needs a 'type', or exactly one of"),
        ("- {reply: {content: [{type: [text], text: hi}]}}", "s.yaml: rules[0]: reply.content[0].type: must be a string, not a list"),
        ("- {reply: {content: [{type: {}, text: hi}]}}", "s.yaml: rules[0]: reply.content[0].type: must be a string, not a mapping"),
        (
            "- {reply: {content: [{text: hi, citations: [{type: char_location, cited_text: hi}]}]}}",
            "s.yaml: rules[0]: reply.content[0]: not a valid reply for the SDK's Message type: Field required (at citations.0.document_index)",
        ),
        (
            "- {reply: {content: [{type: server_tool_use, id: srvtoolu_1, name: not_a_tool, input: {}}]}}",
            "s.yaml: rules[0]: reply.content[0]: not a valid reply for the SDK's Message type",
        ),
        ("- {reply: {stop_reason: 7}}", "s.yaml: rules[0]: reply.stop_reason: must be a string, not an integer"),
        ("- {reply: {usage: {tokens: 3}}}", "s.yaml: rules[0]: reply.usage.tokens: unknown field"),
        ("- {stream: [{event: 5, data: {}}]}", "s.yaml: rules[0]: stream[0].event: must be a string, or null for no event line"),
        ("- {name: a, reply: x}\n- {name: a, reply: y}", 's.yaml: rules[1] ("a"): name: duplicate rule name \'a\''),
        ("rules: [{reply: x}]\nrate_limits: {requests_per_minute: 0}", "s.yaml: rate_limits.requests_per_minute: must be an integer from 1 to 1000000000000, not 0"),
        ("rules: {reply: x}", "s.yaml: rules: must be a list, not a mapping"),
        ("- {reply: x\n- oops", "s.yaml: invalid YAML (line "),
        ("42", "s.yaml: a scenario is a list of rules, or a mapping with 'rules'"),
    ],
)
def test_mistakes_are_named_by_file_rule_and_field(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load(text)
    assert str(caught.value).startswith(message), str(caught.value)


DEEP = "[" * 65 + "]" * 65


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Numbers that would break the server later: too large, infinite, NaN.
        ("- {priority: 9223372036854775808, reply: x}", "s.yaml: rules[0]: priority: must be an integer from -1000000000 to 1000000000"),
        ("- {times: 10000000000, reply: x}", "s.yaml: rules[0]: times: must be an integer from 1 to 1000000000"),
        ("- {match: {nth: [1, 10000000000]}, reply: x}", "s.yaml: rules[0]: match.nth[1]: must be an integer from 1 to 1000000000"),
        ("- {error: {status: 429, retry_after: .inf}}", "s.yaml: rules[0]: error.retry_after: must be a finite number, not inf"),
        ("- {error: {status: 429, retry_after: .nan}}", "s.yaml: rules[0]: error.retry_after: must be a finite number, not nan"),
        ("- {error: {status: 429, retry_after: 601}}", "s.yaml: rules[0]: error.retry_after: must be a number from 0 to 600, not 601"),
        ("- {error: {status: 429, retry_after_ms: 600001}}", "s.yaml: rules[0]: error.retry_after_ms: must be a number from 0 to 600000"),
        ("- {fault: {random_error: .nan}}", "s.yaml: rules[0]: fault.random_error: must be a finite number, not nan"),
        ("- {json: {body: {x: .inf}}}", "s.yaml: rules[0]: json.body.x: must be a finite number, not inf"),
        ("- {json: {body: {x: 100000000000000000000000}}}", "s.yaml: rules[0]: json.body.x: an integer this large cannot be sent as JSON"),
        # Values JSON has no form for: accepted, they made every answer of the rule a 500.
        ("- {json: {body: {x: !!set {a, b}}}}", "s.yaml: rules[0]: json.body.x: a set (YAML's !!set) cannot be sent as JSON: write a list"),
        ("- {error: {status: 400, details: {x: !!binary AAAA}}}", "s.yaml: rules[0]: error.details.x: bytes (!!binary) cannot be sent as JSON here"),
        ("- {stream: [{event: x, data: {a: !!binary AAAA}}]}", "s.yaml: rules[0]: stream[0].data.a: bytes (!!binary) cannot be sent as JSON here"),
        ("- {json: {body: !!pairs [a: !!set {b}]}}", "s.yaml: rules[0]: json.body[0][1]: a set (YAML's !!set) cannot be sent as JSON"),
        ("- {json: {body: !!omap [a: .nan]}}", "s.yaml: rules[0]: json.body[0][1]: must be a finite number, not nan"),
        ("- {json: {body: {}, status: 101}}", "s.yaml: rules[0]: json.status: must be an integer from 200 to 599, not 101"),
        ("- {stream: {status: 100, events: []}}", "s.yaml: rules[0]: stream.status: must be an integer from 200 to 599, not 100"),
        # Unbounded waits.
        ("- {fault: {latency: .inf}}", "s.yaml: rules[0]: fault.latency: must be a finite number, not inf"),
        ("- {fault: {ttft: 601}}", "s.yaml: rules[0]: fault.ttft: must be a number from 0 to 600, not 601"),
        ("- {fault: {slow_body: {interval: 1e9}}}", "s.yaml: rules[0]: fault.slow_body.interval: must be a number from 0 to 600"),
        ("- {fault: {slow_body: {interval: 1, chunk_bytes: 99999999999}}}", "s.yaml: rules[0]: fault.slow_body.chunk_bytes: must be an integer from 1 to 16777216"),
        ("- {fault: {tokens_per_second: 0.000001}}", "s.yaml: rules[0]: fault.tokens_per_second: must be 0 (no pacing) or at least 1"),
        ("- {fault: {drop: 99999999999}}", "s.yaml: rules[0]: fault.drop: must be an integer from 0 to 1000000000"),
        ("- {stream: [{event: x, data: {}, delay: .inf}]}", "s.yaml: rules[0]: stream[0].delay: must be a finite number, not inf"),
        # Headers that would split the response (or get it refused by the HTTP library).
        ('- {error: {status: 429, headers: {x-a: "b\\r\\nSet-Cookie: x"}}}', "s.yaml: rules[0]: error.headers.x-a: a header value must not hold line breaks"),
        ('- {error: {status: 429, headers: {x-a: "b\\u007f"}}}', "s.yaml: rules[0]: error.headers.x-a: a header value must not hold line breaks or other control"),
        ('- {json: {body: {}, headers: {"x a": b}}}', "s.yaml: rules[0]: json.headers.x a: a header name is letters, digits"),
        ('- {fault: {random_error: {probability: 1, headers: {"x-a\\n": b}}}}', "s.yaml: rules[0]: fault.random_error.headers.x-a\n: a header name"),
        ("- {json: {body: {}, headers: {x-a: .nan}}}", "s.yaml: rules[0]: json.headers.x-a: must be a finite number"),
        # Documents that would overflow a recursive step, or not fit in JSON.
        (f"- {{json: {{body: {DEEP}}}}}", "s.yaml: invalid YAML (line 1, column "),
        ("- {json: {body: {1: 2}}}", "s.yaml: rules[0]: json.body: mapping keys must be strings, not an integer (1; quote it)"),
        ("- {json: {body: {on: 2}}}", "s.yaml: rules[0]: json.body: mapping keys must be strings, not a boolean (True; quote it)"),
        ("a: &a [*a]", "s.yaml: rules[0]: a[0][0][0][0][0][0][0]…(56 more levels): nested more than 64 levels deep"),
        # A pattern RE2 cannot run in linear time is refused; a catastrophic one is simply linear.
        ("- {match: {regex: '(a)\\1'}, reply: x}", "s.yaml: rules[0]: match.regex: invalid regular expression: invalid escape sequence: \\1 (regexes run on RE2"),
        ("- {match: {regex: '(?<=a)b'}, reply: x}", "s.yaml: rules[0]: match.regex: invalid regular expression: invalid perl operator: (?<="),
    ],
)
def test_rule_fields_that_would_break_the_server_are_refused_at_load(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load(text)
    assert str(caught.value).startswith(message), str(caught.value)


def test_deep_documents_from_json_and_python_are_refused_too() -> None:
    deep: Any = "x"
    for _ in range(500):  # deep enough that copy.deepcopy would overflow the stack
        deep = [deep]
    with pytest.raises(ScenarioError, match="nested more than 64 levels deep") as caught:
        parse_document({"name": "a", "json": {"body": deep}}, source="<admin>")
    assert caught.value.rule == 'rules[0] ("a")' and caught.value.field.startswith("json.body[0][0]")
    at_the_limit: Any = {}
    for _ in range(64 - 3):  # the rule, json and body are three levels
        at_the_limit = {"a": at_the_limit}
    assert parse_document({"name": "a", "json": {"body": at_the_limit}}, source="<admin>").rules


def test_strings_json_cannot_carry_are_refused() -> None:
    with pytest.raises(ScenarioError, match="lone surrogate") as caught:
        parse_document([{"name": "a", "reply": {"text": "hi \ud800"}}], source="<admin>")
    assert (caught.value.rule, caught.value.field) == ('rules[0] ("a")', "reply.text")
    with pytest.raises(ScenarioError, match="a key holds a lone surrogate"):
        parse_document({"name": "a", "json": {"body": {"\udfff": 1}}}, source="<admin>")


def test_a_yaml_alias_that_stands_for_billions_of_values_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(ScenarioError, match="more than 1000000 values"):
        load("\n".join(lines))


def test_load_yaml_text_bounds_depth_and_refuses_aliases_when_asked() -> None:
    import yaml

    from mockserver.documents import MAX_DEPTH, YamlLimitError, load_yaml_text

    assert load_yaml_text("a: [1, {b: 2}]", allow_aliases=False) == {"a": [1, {"b": 2}]}
    assert load_yaml_text("a: &x [1]\nb: *x", allow_aliases=True) == {"a": [1], "b": [1]}
    with pytest.raises(YamlLimitError, match="aliases") as alias:
        load_yaml_text("a: &x [1]\nb: *x", allow_aliases=False)
    assert isinstance(alias.value, yaml.YAMLError) and alias.value.problem_mark.line == 1
    fits = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    load_yaml_text(fits, allow_aliases=False)
    for depth in (MAX_DEPTH + 1, 700):  # 681 levels used to be a RecursionError (a 500)
        with pytest.raises(YamlLimitError, match=f"nested more than {MAX_DEPTH} levels deep"):
            load_yaml_text("a:\n  b: " + "[" * depth + "]" * depth, allow_aliases=False)
    with pytest.raises(yaml.YAMLError):  # libyaml's own limit may speak first
        load_yaml_text("[" * 100_000 + "]" * 100_000, allow_aliases=False)
    with pytest.raises(yaml.YAMLError):
        load_yaml_text("a: [", allow_aliases=False)


def test_regexes_run_in_linear_time() -> None:
    import time

    condition = text_condition(node({"regex": "^(a+)+$"}), "contains")
    started = time.monotonic()
    assert not condition.test("a" * 100_000 + "!")  # Python's re: seconds at 26 characters, forever here
    assert time.monotonic() - started < 5  # generous: RE2 takes about a millisecond
    assert condition.test("aaaa")
    assert text_condition(node({"regex": "x.y"}), "contains").test("\ud800x-y")  # a lone surrogate in the request


@given(st.text("ab^$.*+?|()[]\\", max_size=8), st.text("abAB\n", max_size=12))
def test_a_regex_matches_where_re2_finds_it(pattern: str, text: str) -> None:
    """Regex asks RE2 whether the pattern matches anywhere (a one-pattern Set): the same answer as
    the compiled pattern's search, for every pattern RE2 takes."""
    quiet = re2.Options()
    quiet.log_errors = False
    try:
        compiled = re2.compile(pattern, quiet)
    except re2.error:
        return
    assert text_condition(node({"regex": pattern}), "contains").test(text) is (compiled.search(text) is not None)


def test_error_fields_are_kept_apart() -> None:
    with pytest.raises(ScenarioError) as caught:
        load("- {name: late, sequence: [529, {error: {status: 9}}]}")
    assert (caught.value.source, caught.value.rule, caught.value.field) == ("s.yaml", 'rules[0] ("late")', "sequence[1].error.status")


def test_a_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_file(tmp_path / "absent.yaml")


def test_python_builders_write_the_file_format() -> None:
    built = rule(
        {"sequence": [error(529, retry_after_ms=10), reply("ok", usage={"output_tokens": 3}), fault(latency=0.1)]},
        match={"text": "hi"}, name="r", then="cycle",
    )
    written = load("""
- name: r
  match: {text: hi}
  then: cycle
  sequence:
    - error: {status: 529, retry_after_ms: 10}
    - reply: {text: ok, usage: {output_tokens: 3}}
    - fault: {latency: 0.1}
""").rules[0]
    from_python = parse_document(built, source="<python>").rules[0]
    assert from_python.spec == written.spec
    assert from_python.action == written.action
    assert stream([("ping", {"type": "ping"})])["stream"]["events"] == [{"event": "ping", "data": {"type": "ping"}}]


def test_builders_leave_out_unset_options_and_copy_mappings() -> None:
    from mockserver.scenarios import json_body

    headers = {"x-a": "1"}
    built = error(429, headers=headers, should_retry=False, retry_after=0, details={}, faults={"latency": 0.1})
    assert list(built) == ["error", "faults"] and built["error"]["headers"] is not headers
    assert list(built["error"].items()) == [("status", 429), ("headers", {"x-a": "1"}), ("retry_after", 0), ("should_retry", False)]
    assert reply("hi", usage={}, stop_details=None, faults={}) == {"reply": {"text": "hi"}}
    assert json_body({}, headers={}) == {"json": {"body": {}}}  # an empty body is still a body
    assert stream([], status=500) == {"stream": {"events": [], "status": 500}}


def test_shorthands_expand_to_wire_blocks() -> None:
    action = load("""
- reply:
    content:
      - Hello
      - thinking: hmm
      - redacted_thinking: opaque
      - tool_use: {name: f, input: {a: 1}}
      - server_tool_use: {name: web_search, input: {query: q}}
      - web_search_tool_result: {results: [{url: "https://e.com", title: E}]}
""").rules[0].action
    assert isinstance(action, ReplyAction)
    kinds = [b["type"] for b in action.content]
    assert kinds == ["text", "thinking", "redacted_thinking", "tool_use", "server_tool_use", "web_search_tool_result"]
    assert action.default_stop_reason() == "tool_use"
    result = action.content[-1]["content"][0]
    assert result["type"] == "web_search_result" and result["encrypted_content"] and result["page_age"] is None


def test_error_shorthands_and_headers() -> None:
    rules = load("""
- {name: a, error: 529}
- {name: b, error: rate_limit_error}
- {name: c, error: {status: 503, retry_after: 2, retry_after_ms: 1.5, should_retry: true, headers: {x-n: 1}}}
""").rules
    a, b, c = (r.action for r in rules)
    assert isinstance(a, ErrorAction) and (a.status, a.type) == (529, "overloaded_error")
    assert isinstance(b, ErrorAction) and (b.status, b.type) == (429, "rate_limit_error")
    assert isinstance(c, ErrorAction) and c.headers == {"x-n": "1", "retry-after": "2", "retry-after-ms": "1.5", "x-should-retry": "true"}


def test_fault_spec_to_faults() -> None:
    action = load("""
- fault:
    latency: 0.5
    ttft: 0.1
    tokens_per_second: 20
    drop: 3
    malformed: {kind: bad_utf8, at: 4}
    stream_error: {after: 2, type: api_error, message: boom}
    slow_body: {interval: 0.2}
    random_error: {probability: 0.25, status: 500}
""").rules[0].action
    assert isinstance(action, PassAction)
    assert action.faults == Faults(
        latency=0.5, ttft=0.1, tokens_per_second=20, drop_after_events=3, malformed="bad_utf8", malformed_at=4,
        stream_error_after=2, stream_error_type="api_error", stream_error_message="boom", slow_body_chunk=16,
        slow_body_interval=0.2, error_probability=0.25, error_status=500, error_type="api_error",
    )


def test_sequence_modes() -> None:
    steps = [ErrorAction(529), ErrorAction(500)]
    for then, expected in [
        ("repeat_last", [529, 500, 500, 500]),
        ("cycle", [529, 500, 529, 500]),
        ("fallthrough", [529, 500, None, None]),
    ]:
        sequence = Sequence(list(steps), then)
        taken = [sequence.step(n) for n in range(1, 5)]
        assert [getattr(a, "status", None) for a in taken] == expected
        assert sequence.step(1) is steps[0]


def test_faults_merge_field_by_field() -> None:
    base = Faults(latency=1.0, drop_after_events=2)
    merged = base.merged(Faults(latency=0.5, reset=True))
    assert (merged.latency, merged.drop_after_events, merged.reset) == (0.5, 2, True)
    assert base.merged(None) is base and base.merged(Faults()) is base


# -- pure pieces ---------------------------------------------------------------------------------
def node(value: Any) -> Node:
    return Node(value, "f", scenario_where("s.yaml"))


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("metadata.user_id", ("metadata", "user_id")),
        ("$.metadata.user_id", ("metadata", "user_id")),
        ("messages[0].role", ("messages", 0, "role")),
        ("messages.-1.content", ("messages", -1, "content")),
        ("$.tools[2]", ("tools", 2)),
    ],
)
def test_parse_path(path: str, parts: tuple[Any, ...]) -> None:
    assert parse_path(node(path), path) == parts


def test_resolve_path_misses_cleanly() -> None:
    body = {"messages": [{"role": "user"}], "n": None}
    assert resolve_path(body, ("messages", -1, "role")) == "user"
    assert resolve_path(body, ("n",)) is None
    assert resolve_path(body, ("messages", 5)) is MISSING
    assert resolve_path(body, ("n", "x")) is MISSING
    assert resolve_path("text", ("a",)) is MISSING


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def value_and_path(draw: st.DrawFn) -> tuple[Any, tuple[Any, ...], Any]:
    root = draw(JSON)
    value, parts = root, []
    while isinstance(value, (dict, list)) and value and draw(st.booleans()):
        if isinstance(value, dict):
            key = draw(st.sampled_from(sorted(value)))
            parts.append(key)
            value = value[key]
        else:
            index = draw(st.integers(-len(value), len(value) - 1))
            parts.append(index)
            value = value[index]
    return root, tuple(parts), value


@given(value_and_path())
def test_resolve_path_finds_what_the_path_names(case: tuple[Any, tuple[Any, ...], Any]) -> None:
    root, parts, expected = case
    if parts:
        text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
        assert parse_path(node(text), text) == parts
        assert resolve_path(root, parts) == expected


def test_text_conditions() -> None:
    assert text_condition(node("ell"), "contains").test("hello")
    assert not text_condition(node("ell"), "equals").test("hello")
    assert text_condition(node({"regex": "^h.*o$"}), "contains").test("hello")
    assert text_condition(node({"equals": "hello"}), "contains").test("hello")
    assert text_condition(node(None), "equals").test(None) and not text_condition(node(None), "equals").test("x")
    assert text_condition(node({"present": True}), "equals").test("")
    assert text_condition(node(3), "equals").test("3")  # header values written as YAML numbers
    with pytest.raises(ScenarioError, match="give exactly one of"):
        text_condition(node({"contains": "a", "regex": "b"}), "contains")


# -- the book: evaluation order, replacing, reset ------------------------------------------------
def test_book_order_replacement_and_reset(tmp_path: Path) -> None:
    from mockserver.scenarios import ScenarioBook

    path = tmp_path / "base.yaml"
    path.write_text("- {name: catch-all, reply: base}\n- {name: second, reply: two}\n")
    book = ScenarioBook()
    book.load_files([path])
    book.add([{"name": "specific", "match": {"text": "x"}, "reply": "new"}])
    book.add([{"name": "urgent", "priority": 5, "reply": "first"}])
    assert [r.name for r in book.rules] == ["urgent", "specific", "catch-all", "second"]
    book.add({"name": "catch-all", "reply": "replaced"})  # same name: replaces the file's rule
    assert [r.name for r in book.rules] == ["urgent", "catch-all", "specific", "second"]
    book.rules[-1].hits = 3
    book.reset()
    assert [r.name for r in book.rules] == ["catch-all", "second"]  # the file's rules, as loaded
    assert book.rules[0].spec["reply"] == "base" and book.rules[1].hits == 0
    assert book.add("- {reply: a}\n- {reply: b}")[1].name == "python[1]"


def test_raw_stream_events_keep_text_and_bytes_verbatim() -> None:
    action = load("""
- stream:
    - {event: message_start, data: "{not json"}
    - {event: null, data: {type: ping}}
    - {data: {type: content_block_stop, index: 0}, delay: 0.25}
    - {event: bad, data: !!binary "/w=="}
""").rules[0].action
    events = [(e.event, e.data, e.delay) for e in action.events]
    assert events == [
        ("message_start", "{not json", 0.0),
        (None, {"type": "ping"}, 0.0),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}, 0.25),
        ("bad", b"\xff", 0.0),
    ]
    in_a_step = load("- {sequence: {steps: [{stream: {events: [{event: bad, data: !!binary /w==}]}}]}}").rules[0].action
    assert in_a_step.steps[0].events[0].data == b"\xff"
    assert parse_document([{"stream": [{"event": "bad", "data": b"\xff"}]}], source="<python>").rules[0].action.events[0].data == b"\xff"


def test_an_unquoted_date_in_a_tool_input_loads_and_counts_as_its_text() -> None:
    from mockserver.protocol.tokens import count_json

    rule = load("- {reply: {content: [{tool_use: {name: f, input: {since: 2025-01-01}}}]}}").rules[0]  # a TypeError before
    assert isinstance(rule.action, ReplyAction)
    assert count_json({"since": rule.action.content[0]["input"]["since"]}) == count_json({"since": "2025-01-01"})


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("- {name: d, match: {body: {metadata: {user_id: 2026-01-01}}}, reply: x}", "match.body.metadata.user_id"),
        ("- {name: d, match: {body: {metadata.user_id: 2026-01-01}}, reply: x}", "match.body.metadata.user_id"),
        ("- {name: d, match: {body: {metadata.user_id: 2026-01-01 10:00:00}}, reply: x}", "match.body.metadata.user_id"),
        ("- {name: d, match: {body: {messages: [{role: user, content: 2026-01-01}]}}, reply: x}", "match.body.messages[0].content"),
        ("- {name: d, match: {headers: {x-day: 2026-01-01}}, reply: x}", "match.headers.x-day"),
        ("- {name: d, match: {text: {equals: 2026-01-01}}, reply: x}", "match.text.equals"),
        ("- {name: d, match: {custom_id: 2026-01-01}, error: 529}", "match.custom_id"),
    ],
)
def test_an_unquoted_date_in_a_match_is_refused_at_load(text: str, field: str) -> None:
    """A match compares with the request's JSON, which holds a string: a YAML date never equals
    it (and ``2026-01-01 10:00:00`` would not even write back as what was typed)."""
    with pytest.raises(ScenarioError) as caught:
        load(text)
    assert (caught.value.source, caught.value.rule, caught.value.field) == ("s.yaml", 'rules[0] ("d")', field)
    assert "unquoted date" in caught.value.problem and "quote it" in caught.value.problem, caught.value.problem


def test_a_date_from_python_in_a_match_body_is_refused_and_a_quoted_one_matches() -> None:
    import datetime

    with pytest.raises(ScenarioError, match=r"match\.body\.metadata\.user_id: .*unquoted date"):
        parse_document({"name": "d", "match": {"body": {"metadata.user_id": datetime.date(2026, 1, 1)}}, "reply": "x"}, source="<python>")
    with pytest.raises(ScenarioError, match=r"match\.body\.a\.b: .*a tuple"):
        parse_document({"name": "t", "match": {"body": {"a": {"b": (1, 2)}}}, "reply": "x"}, source="<python>")
    (check,) = load("- {match: {body: {metadata: {user_id: '2026-01-01'}}}, reply: x}").rules[0].match.checks

    class View:
        class api:
            body = {"metadata": {"user_id": "2026-01-01"}}

    assert check(View())


def test_a_platform_error_name_takes_the_platform_status() -> None:
    """Bedrock's exceptions (botocore's statuses) and Google's canonical statuses, as docs/protocol.md
    says a rule may name them: no ``status`` needed; a given one still wins."""
    rules = load("""
- {name: a, error: {type: ThrottlingException}}
- {name: b, error: ModelTimeoutException}
- {name: c, error: {type: RESOURCE_EXHAUSTED}}
- {name: d, error: UNAVAILABLE}
- {name: e, error: {type: ThrottlingException, status: 400}}
""").rules
    assert [(r.action.status, r.action.type) for r in rules if isinstance(r.action, ErrorAction)] == [
        (429, "ThrottlingException"), (408, "ModelTimeoutException"), (429, "RESOURCE_EXHAUSTED"), (503, "UNAVAILABLE"),
        (400, "ThrottlingException")]
    with pytest.raises(ScenarioError, match=r"error\.type: unknown error type 'ThrottlingExceptionz': give 'status' too"):
        load("- {error: {type: ThrottlingExceptionz}}")


def test_a_random_error_type_gives_its_status_as_an_error_type_does() -> None:
    """``random_error`` derives its status from its type the way ``error`` does (the API's types,
    a platform's own names); it answered every type with 529. A status given stays; a custom
    type without one keeps the 529 the format documents."""
    faults = [r.action.faults for r in load("""
- {fault: {random_error: {probability: 1, type: rate_limit_error}}}
- {fault: {random_error: {probability: 1, type: ThrottlingException}}}
- {fault: {random_error: {probability: 1, type: RESOURCE_EXHAUSTED}}}
- {fault: {random_error: {probability: 1, type: not_found_error}}}
- {fault: {random_error: {probability: 1, type: rate_limit_error, status: 503}}}
- {fault: {random_error: {probability: 1, type: my_custom_error}}}
- {fault: {random_error: {probability: 1, status: 429}}}
""").rules]
    assert [(f.error_status, f.error_type) for f in faults] == [
        (429, "rate_limit_error"), (429, "ThrottlingException"), (429, "RESOURCE_EXHAUSTED"), (404, "not_found_error"),
        (503, "rate_limit_error"), (529, "my_custom_error"), (429, "rate_limit_error")]
    assert [f.injected_error().status for f in faults] == [429, 429, 429, 404, 503, 529, 429]


def test_a_steps_fault_written_with_its_default_value_takes_over_its_rules() -> None:
    # A step's random_error of status 529 (the default) over its rule's 500: merging kept only
    # what differs from the defaults, so the rule's 500 won.
    rule_ = parse_text(source="s.yaml", text="""
- faults: {random_error: {probability: 1, status: 500}, latency: 2}
  sequence:
    - {reply: hi, faults: {random_error: {probability: 1, status: 529}, latency: 0}}
""").rules[0]
    step = rule_.action.step(1)  # type: ignore[union-attr]
    assert rule_.faults is not None and step is not None and step.faults is not None
    merged = rule_.faults.merged(step.faults)
    assert (merged.error_status, merged.error_type, merged.latency) == (529, "overloaded_error", 0.0)
    # A field the step did not write is still the rule's.
    kept = rule_.faults.merged(parse_text("- {reply: hi, faults: {reset: true}}", source="s.yaml").rules[0].faults)
    assert (kept.error_status, kept.latency, kept.reset) == (500, 2, True)


YAML11_IN_A_MATCH = [
    ("- {name: d, match: {body: {metadata: {user_id: 10:00:00}}}, reply: x}", "match.body.metadata.user_id", "10:00:00"),
    ("- {name: d, match: {body: {metadata.user_id: 0777}}, reply: x}", "match.body.metadata.user_id", "0777"),
    ("- {name: d, match: {body: {answer: yes}}, reply: x}", "match.body.answer", "yes"),
    ("- {name: d, match: {body: {messages: [{role: user, content: 1_000}]}}, reply: x}", "match.body.messages[0].content", "1_000"),
    ("- {name: d, match: {body: {t: 1:30.5}}, reply: x}", "match.body.t", "1:30.5"),
    ("- {name: d, match: {body: {flags: [On, 0b11]}}, reply: x}", "match.body.flags[0]", "On"),
    ("- {name: d, match: {headers: {x-flag: OFF}}, reply: x}", "match.headers.x-flag", "OFF"),
    ("- {name: d, match: {headers: {x-n: {contains: 0b11}}}, reply: x}", "match.headers.x-n.contains", "0b11"),
    ("- {name: d, match: {text: {equals: 10:30}}, reply: x}", "match.text.equals", "10:30"),
    ("- {name: d, match: {text: No}, reply: x}", "match.text", "No"),
    ("- {name: d, match: {system: 1_0}, reply: x}", "match.system", "1_0"),
    ("- {name: d, match: {regex: 12:00}, reply: x}", "match.regex", "12:00"),
    ("- {name: d, match: {custom_id: 007}, error: 529}", "match.custom_id", "007"),
    ("- {name: d, match: {model: on}, reply: x}", "match.model", "on"),
]


@pytest.mark.parametrize(("text", "field", "written"), YAML11_IN_A_MATCH)
def test_a_yaml11_only_scalar_in_a_match_is_refused_at_load(text: str, field: str, written: str) -> None:
    """``10:00:00`` is YAML 1.1's 36000, ``yes`` its true, ``0777`` its 511: the request's text
    never equals them, and the rule would silently never fire (as an unquoted date would not)."""
    with pytest.raises(ScenarioError) as caught:
        load(text)
    assert (caught.value.source, caught.value.rule, caught.value.field) == ("s.yaml", 'rules[0] ("d")', field)
    problem = caught.value.problem
    assert problem.startswith(f"{written}, unquoted, is YAML 1.1's ") and "quote it" in problem, problem


@given(st.from_regex(r"[1-9][0-9]?(:[0-5][0-9]){1,2}", fullmatch=True))
def test_an_unquoted_time_of_day_in_a_match_body_is_refused_and_a_quoted_one_matches(clock: str) -> None:
    with pytest.raises(ScenarioError, match=rf"^s\.yaml: rules\[0\]: match\.body\.metadata\.user_id: {clock}, unquoted, .*sexagesimal"):
        load(f"- {{match: {{body: {{metadata: {{user_id: {clock}}}}}}}, reply: x}}")
    (check,) = load(f"- {{match: {{body: {{metadata: {{user_id: '{clock}'}}}}}}, reply: x}}").rules[0].match.checks

    class View:
        class api:
            body = {"metadata": {"user_id": clock}}

    assert check(View())


@pytest.mark.parametrize(
    ("text", "field", "written"),
    [
        ("- {name: r, reply: {content: [{tool_use: {name: f, input: {answer: yes}}}]}}", "reply.content[0].tool_use.input.answer", "yes"),
        ("- {name: r, reply: {content: [{type: tool_use, id: toolu_1, name: f, input: {at: '1', n: 0777}}]}}", "reply.content[0].input.n", "0777"),
        ("- {name: r, reply: {text: yes}}", "reply.text", "yes"),
        ("- {name: r, reply: on}", "reply", "on"),
        ("- {name: r, match: {endpoint: models.list}, json: {body: {at: 10:00:00}}}", "json.body.at", "10:00:00"),
        ("- {name: r, error: {status: 429, headers: {x-n: 0777}}}", "error.headers.x-n", "0777"),
        ("- {name: r, error: {status: 400, details: {n: 0b1}}}", "error.details.n", "0b1"),
        ("- {name: r, stream: [{data: {n: 1_000}}]}", "stream[0].data.n", "1_000"),
        ("- {name: r, sequence: [{reply: {content: [{tool_use: {name: f, input: {a: off}}}]}}]}", "sequence[0].reply.content[0].tool_use.input.a", "off"),
        ("rules: [{name: r, passthrough: yes}]", "passthrough", "yes"),
    ],
)
def test_a_yaml11_only_scalar_in_what_a_rule_sends_is_refused_at_load(text: str, field: str, written: str) -> None:
    """A reply, a JSON body, a header, an event: what the client gets would not be what was
    written (``answer: yes`` sent as ``true``, ``10:00:00`` as ``36000``), so it is refused too."""
    with pytest.raises(ScenarioError) as caught:
        load(text)
    assert (caught.value.rule, caught.value.field) == ('rules[0] ("r")', field)
    assert caught.value.problem.startswith(f"{written}, unquoted, is YAML 1.1's ") and "quote it" in caught.value.problem, caught.value.problem


def test_fields_that_take_only_a_boolean_or_a_number_keep_yaml11_readings() -> None:
    """``stream: yes`` and ``times: 1_000`` mean what they say; nothing there could be text."""
    (first, second) = load(
        "- {match: {stream: yes, beta: off, tools: on, tool_result: no, nth: [1_0], headers: {x-a: {present: on}}}, times: 1_000,"
        " faults: {latency: 1:30, reset: no}, reply: x}\n"
        "- {error: {status: 429, should_retry: yes, retry_after: 1:00}, priority: -0b1}\n"
    ).rules
    assert first.times == 1000 and first.match.nth == frozenset({10}) and first.faults.latency == 90
    assert second.action.headers == {"retry-after": "60", "x-should-retry": "true"} and second.priority == -1


def test_plain_true_false_null_and_ordinary_numbers_in_a_match_load_as_before() -> None:
    checks = load("- {match: {body: {a: true, b: False, c: null, d: 10, e: -1.5, f: +12, g: 0, h: 0x1F, i: '0777', j: 'yes'}}, reply: x}").rules[0].match.checks

    class View:
        class api:
            body = {"a": True, "b": False, "c": None, "d": 10, "e": -1.5, "f": 12, "g": 0, "h": 31, "i": "0777", "j": "yes"}

    assert len(checks) == 10 and all(check(View()) for check in checks)


def test_the_first_yaml11_only_scalar_of_a_rule_is_named_and_rate_limits_keep_yaml11_readings() -> None:
    with pytest.raises(ScenarioError, match=r"rules\[1\] \(\"b\"\): reply\.content\[0\]\.tool_use\.input\.a: on, unquoted"):
        load("- {name: a, reply: x}\n- {name: b, reply: {content: [{tool_use: {name: f, input: {a: on, b: 0777}}}]}}")
    document = load("rate_limits: {requests_per_minute: 1_000, input_tokens_per_minute: 40_000}\nrules: [{reply: x, times: 0b11}]")
    assert document.rate_limits is not None and document.rules[0].times == 3

"""Request-body validation against the schema generated from the installed SDK's TypedDicts."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any, Dict, Iterable, List, Optional, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typing_extensions import Annotated, Literal, NotRequired, Required, TypedDict

from mockserver.protocol import schema_gen
from mockserver.protocol.errors import ApiError
from mockserver.protocol.schema import DEFAULT_PATH, RequestSchema, default_schema


@pytest.fixture(scope="module")
def schema() -> RequestSchema:
    return default_schema()


def first_error(schema: RequestSchema, root: str, body: object, **kw: Any) -> str:
    with pytest.raises(ApiError) as info:
        schema.validate(root, body, **kw)
    err = info.value
    assert (err.status, err.type) == (400, "invalid_request_error")
    return err.message


# ---------------------------------------------------------------------------------------------
# Realistic bodies.

MODEL = "claude-sonnet-4-5"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "cache_control": {"type": "ephemeral", "ttl": "1h"},
}


def simple() -> Dict[str, Any]:
    return {"model": MODEL, "max_tokens": 1024, "messages": [{"role": "user", "content": "Hello, Claude"}]}


def conversation(turns: int = 10) -> Dict[str, Any]:
    """A tool-using conversation: thinking, tool_use, tool_result with nested content, images."""
    messages: List[Dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]}]
    for i in range(turns):
        messages.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should call the tool.", "signature": "c2ln"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": f"toolu_{i:02d}", "name": "get_weather", "input": {"city": "Paris"}},
        ]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{i:02d}", "is_error": False, "content": [
                {"type": "text", "text": "18C, cloudy", "cache_control": None},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            ]},
            {"type": "text", "text": "And tomorrow?"},
        ]})
    return {
        "model": MODEL,
        "max_tokens": 4096,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        "tools": [WEATHER_TOOL, {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "metadata": {"user_id": "user-123"},
        "stop_sequences": ["\n\nHuman:"],
        "stream": True,
        "messages": messages,
    }


def documents() -> Dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 512.0,  # an integral float is an integer
        "messages": [
            {"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
                 "title": "Report", "citations": {"enabled": True}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain"}},
                {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
                {"type": "search_result", "source": "https://example.com", "title": "Example",
                 "content": [{"type": "text", "text": "snippet"}]},
                {"type": "text", "text": "Summarise these."},
            ]},
            {"role": "assistant", "content": "Sure"},
        ],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "tools": [dict(WEATHER_TOOL, type="custom")],
        "service_tier": "auto",
        "temperature": 0.5,  # allowed below via allow_extra
    }


def beta_body() -> Dict[str, Any]:
    body = simple()
    body["mcp_servers"] = [{"type": "url", "url": "https://mcp.example.com/sse", "name": "example",
                            "authorization_token": None}]
    body["thinking"] = {"type": "adaptive"}
    return body


def test_valid_bodies_pass(schema: RequestSchema) -> None:
    schema.validate("messages", simple())
    schema.validate("messages", conversation())
    schema.validate("messages", documents(), allow_extra=frozenset({"temperature"}))
    schema.validate("beta_messages", conversation())
    schema.validate("beta_messages", beta_body())
    count = simple()
    del count["max_tokens"]
    schema.validate("count_tokens", count)
    schema.validate("beta_count_tokens", dict(count, mcp_servers=beta_body()["mcp_servers"]))
    non_streaming = conversation()
    del non_streaming["stream"]
    batch = {"requests": [{"custom_id": "a", "params": simple()}, {"custom_id": "b", "params": non_streaming}]}
    schema.validate("batch_create", batch)
    schema.validate("beta_batch_create", batch)


def test_beta_only_fields_only_on_beta(schema: RequestSchema) -> None:
    assert first_error(schema, "messages", beta_body()) == "mcp_servers: Extra inputs are not permitted"


def test_header_fields_are_not_body_fields(schema: RequestSchema) -> None:
    assert "betas" in schema.header_fields["beta_messages"]
    count = simple()
    del count["max_tokens"]
    for root in schema.roots:
        for key in schema.header_fields[root]:
            body = {"requests": []} if "batch" in root else count if "count" in root else simple()
            assert first_error(schema, root, dict(body, **{key: "x"})) == f"{key}: Extra inputs are not permitted"
    nested = {"requests": [{"custom_id": "a", "params": dict(simple(), workspace_id="w")}]}
    assert first_error(schema, "batch_create", nested) == "requests.0.params.workspace_id: Extra inputs are not permitted"


# ---------------------------------------------------------------------------------------------
# Messages and their locs.


def with_(path: str, value: Any, body: Optional[Dict[str, Any]] = None, *, delete: bool = False) -> Dict[str, Any]:
    """``simple()`` (or ``body``) with the dotted ``path`` set to ``value`` (or deleted)."""
    body = copy.deepcopy(body if body is not None else simple())
    parts: List[Any] = [int(p) if p.isdigit() else p for p in path.split(".")]
    target: Any = body
    for part in parts[:-1]:
        target = target[part]
    if delete:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return body


TEXT_BLOCK = [{"type": "text", "text": "hi"}]

CASES = [
    (with_("max_tokens", None, delete=True), "max_tokens: Field required"),
    (with_("foo", 1), "foo: Extra inputs are not permitted"),
    (with_("model", 3), "model: Input should be a valid string"),
    (with_("model", None), "model: Input should be a valid string"),
    (with_("max_tokens", "5"), "max_tokens: Input should be a valid integer"),
    (with_("max_tokens", True), "max_tokens: Input should be a valid integer"),
    (with_("max_tokens", 5.5), "max_tokens: Input should be a valid integer, got a number with a fractional part"),
    (with_("stream", "yes"), "stream: Input should be a valid boolean"),
    (with_("stream", 1), "stream: Input should be a valid boolean"),
    (with_("stop_sequences", "END"), "stop_sequences: Input should be a valid list"),
    (with_("stop_sequences", ["a", 2]), "stop_sequences.1: Input should be a valid string"),
    (with_("metadata", []), "metadata: Input should be a valid dictionary"),
    (with_("messages", {}), "messages: Input should be a valid list"),
    (with_("messages.0.role", "robot"), "messages.0.role: Input should be 'user', 'assistant' or 'system'"),
    (with_("messages.0.role", None, delete=True), "messages.0.role: Field required"),
    (with_("service_tier", "fast"), "service_tier: Input should be 'auto' or 'standard_only'"),
    (with_("thinking", {"type": "enabled"}), "thinking.enabled.budget_tokens: Field required"),
    (with_("thinking", {"type": "enabled", "budget_tokens": "many"}), "thinking.enabled.budget_tokens: Input should be a valid integer"),
    (with_("thinking", {"type": "sometimes"}),
     "thinking: Input tag 'sometimes' found using 'type' does not match any of the expected tags: "
     "'adaptive', 'between_tools', 'disabled', 'enabled'"),
    (with_("thinking", {"budget_tokens": 2000}), "thinking: Unable to extract tag using discriminator 'type'"),
    (with_("thinking", "on"), "thinking: Input should be a valid dictionary"),
    (with_("messages.0.content", [{"type": "text"}]), "messages.0.content.0.text.text: Field required"),
    (with_("messages.0.content", [{"type": "text", "text": "a", "bold": True}]),
     "messages.0.content.0.text.bold: Extra inputs are not permitted"),
    (with_("messages.0.content", [{"type": "image", "source": {"type": "base64", "media_type": "image/png"}}]),
     "messages.0.content.0.image.source.base64.data: Field required"),
    (with_("messages.0.content", [{"type": "image", "source": {"type": "base64", "media_type": "image/tiff", "data": PNG}}]),
     "messages.0.content.0.image.source.base64.media_type: "
     "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"),
    (with_("messages.0.content", [{"text": "no type"}]), "messages.0.content.0: Unable to extract tag using discriminator 'type'"),
    (with_("messages.0.content", 42), "messages.0.content: Input should be a valid list"),
    (with_("messages.0.content", {"type": "text", "text": "hi"}), "messages.0.content: Input should be a valid list"),
    (with_("messages.0.content", None), "messages.0.content: Input should be a valid list"),
    (with_("system", 7), "system: Input should be a valid list"),
    (with_("system", [{"type": "text", "text": 7}]), "system.0.text: Input should be a valid string"),
    (with_("system", [{"type": "image"}]), "system.0.text: Field required"),
    (with_("system", [{"type": "image", "text": "hi"}]), "system.0.type: Input should be 'text'"),
    (with_("messages.0.content", [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text"}]}]),
     "messages.0.content.0.tool_result.content.0.text.text: Field required"),
    (with_("tools", [{"name": "t"}]), "tools.0.custom.input_schema: Field required"),
    (with_("tools", [{"name": "t", "input_schema": {}, "type": None}]), None),
    (with_("tools", [{"name": "t", "input_schema": []}]), "tools.0.custom.input_schema: Input should be a valid dictionary"),
    (with_("tools", [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2.5}]),
     "tools.0.web_search_20250305.max_uses: Input should be a valid integer, got a number with a fractional part"),
    (with_("tool_choice", {"type": "tool"}), "tool_choice.tool.name: Field required"),
    (with_("temperature", 0.5), "temperature: Extra inputs are not permitted"),
]


@pytest.mark.parametrize("body, expected", CASES, ids=[str(e) for _, e in CASES])
def test_first_error_message(schema: RequestSchema, body: Dict[str, Any], expected: Optional[str]) -> None:
    if expected is None:
        schema.validate("messages", body)
    else:
        assert first_error(schema, "messages", body) == expected


def test_top_level_not_an_object(schema: RequestSchema) -> None:
    for body in ([], "x", None, 3):
        assert first_error(schema, "messages", body) == "Input should be a valid dictionary"
    assert schema.errors("messages", []) == [("", "Input should be a valid dictionary")]


def test_errors_follow_the_api_field_order_then_extras(schema: RequestSchema) -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text"}]}], "zzz": 1, "model": 5}
    assert schema.errors("messages", body) == [
        ("model", "Input should be a valid string"),
        ("messages.0.content.0.text.text", "Field required"),
        ("max_tokens", "Field required"),
        ("zzz", "Extra inputs are not permitted"),
    ]


def test_floats_accept_ints_but_not_bools_or_strings(schema: RequestSchema) -> None:
    base = {"requests": [{"custom_id": "a", "params": simple()}]}
    schema.validate("beta_messages", beta_body())
    # thinking budget is an int; integral floats pass, bools and strings never do
    assert not schema.errors("messages", with_("thinking", {"type": "enabled", "budget_tokens": 2048.0}))
    assert schema.errors("messages", with_("thinking", {"type": "enabled", "budget_tokens": False})) == [
        ("thinking.enabled.budget_tokens", "Input should be a valid integer")]
    batch = with_("requests.0.params.stream", True, base)
    assert first_error(schema, "batch_create", batch) == "requests.0.params.stream: Input should be False"


def test_allow_extra_is_top_level_only(schema: RequestSchema) -> None:
    allow = frozenset({"temperature", "top_k"})
    schema.validate("messages", dict(simple(), temperature=1.0, top_k=5), allow_extra=allow)
    nested = with_("metadata", {"user_id": "u", "temperature": 1})
    assert first_error(schema, "messages", nested, allow_extra=allow) == "metadata.temperature: Extra inputs are not permitted"
    assert first_error(schema, "messages", dict(simple(), top_p=1), allow_extra=allow) == "top_p: Extra inputs are not permitted"


def test_interpreter_on_a_handwritten_schema() -> None:
    """Node kinds the SDK doesn't exercise today: same-kind union members, open objects, cycles."""
    doc = {
        "roots": {"r": {"ref": "Node"}},
        "defs": {
            "Node": {"fields": {
                "n": {"union": ["int", "float", {"enum": [True]}]},
                "child": {"nullable": {"ref": "Node"}},
                "kids": {"map": {"ref": "Node"}},
                "loose": {"ref": "Open"},
            }, "required": []},
            "Open": {"fields": {"a": "str"}, "required": ["a"], "open": True},
        },
    }
    schema = RequestSchema(doc)
    assert schema.errors("r", {"n": 1.5, "child": {"n": 2, "child": None}, "kids": {"k": {"n": True}}}) == []
    assert schema.errors("r", {"n": False}) == [("n", "Input should be True")]
    assert schema.errors("r", {"n": "1"}) == [("n", "Input does not match the expected shape.")]
    assert schema.errors("r", {"child": {"child": {"x": 1}}}) == [("child.child.x", "Extra inputs are not permitted")]
    assert schema.errors("r", {"kids": {"k": {"kids": {"j": []}}}}) == [("kids.k.kids.j", "Input should be a valid dictionary")]
    assert schema.errors("r", {"loose": {"a": "x", "anything": [1]}}) == []
    assert schema.errors("r", {"loose": {}}) == [("loose.a", "Field required")]


# ---------------------------------------------------------------------------------------------
# The committed schema, the generator, and the runtime's independence from the SDK.


def test_committed_schema_matches_installed_sdk() -> None:
    # A fresh interpreter: typing caches equal-but-reordered Literal unions, so what other tests
    # imported first could change the order of enum values generated in this process.
    code = "from mockserver.protocol import schema_gen; import sys; sys.stdout.write(schema_gen.dumps(schema_gen.build()))"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, encoding="utf-8").stdout
    committed = DEFAULT_PATH.read_text(encoding="utf-8")
    assert committed == fresh, "schema.json is stale: run `.venv/bin/python -m mockserver.protocol.schema_gen`"


@pytest.mark.parametrize("release", [r for releases in schema_gen.OLDER_RELEASES.values() for r in releases])
def test_committed_older_schemas_match_their_sdk_release(release: str) -> None:
    # Installs that release into .cache/schema-sdks on first use (a few seconds, then cached).
    committed = (DEFAULT_PATH.parent / schema_gen.older_file(release)).read_text(encoding="utf-8")
    assert committed == schema_gen.build_release(release), "an older schema is stale: run `make schema`"


def test_the_newest_schema_lists_the_older_ones_by_api_version(schema: RequestSchema) -> None:
    older = schema.older("2023-06-01")
    assert [s.sdk_version for s in older] == ["1.17.0", "0.49.0"]
    assert schema.older("2026-10-21") == [] and schema.older(None) == []
    assert schema.older("2023-06-01")[0] is older[0]  # loaded once


COMPLETION = {"model": "claude-2.1", "prompt": "\n\nHuman: Hi\n\nAssistant:", "max_tokens_to_sample": 20}


def test_text_completions_are_typed_by_the_sdk_line_that_still_has_them(schema: RequestSchema) -> None:
    # SDK 2.12 and 1.17 dropped completions.create: its params come from 0.49's TypedDicts.
    assert "completions" not in schema.roots and "completions" not in schema.older("2023-06-01")[0].roots
    older = schema.defining("completions")
    assert older.sdk_version == "0.49.0" and older is schema.older("2023-06-01")[1] and schema.defining("messages") is schema
    everything = dict(COMPLETION, metadata={"user_id": "u-1"}, stop_sequences=["\n\nObservation:"],
                      temperature=0.5, top_k=5, top_p=0.7, stream=False)
    older.validate("completions", everything)
    assert older.errors("completions", {"prompt": "test"}) == [  # the fields' order: max_tokens_to_sample first
        ("max_tokens_to_sample", "Field required"), ("model", "Field required")]
    assert older.errors("completions", dict(COMPLETION, temperature="hot", top_k=1.5, stream="yes", metadata={"user": 1}, n=2)) == [
        ("metadata.user", "Extra inputs are not permitted"),
        ("stream", "Input should be a valid boolean"),
        ("temperature", "Input should be a valid number"),
        ("top_k", "Input should be a valid integer, got a number with a fractional part"),
        ("n", "Extra inputs are not permitted"),
    ]
    with pytest.raises(KeyError):
        schema.defining("no_such_root")


def _clear_at_body() -> Dict[str, Any]:
    """What SDK 1.17 sends for ``clear_at`` (one ``BetaMessageParam`` for every role then)."""
    return {"model": MODEL, "max_tokens": 8,
            "messages": [{"role": "user", "content": "Hello", "clear_at": "next_user_message"}]}


def test_an_older_sdk_lines_body_passes_for_the_api_version_it_sends(schema: RequestSchema) -> None:
    # SDK 2.12's types only allow clear_at on role "system" messages; 1.17's allowed it on any.
    schema.validate_for("2023-06-01", "beta_messages", _clear_at_body())
    schema.validate_for("2023-06-01", "beta_count_tokens", {k: v for k, v in _clear_at_body().items() if k != "max_tokens"})
    with pytest.raises(ApiError) as info:
        schema.validate_for("2026-10-21", "beta_messages", _clear_at_body())
    assert info.value.message == "messages.0.clear_at: Extra inputs are not permitted"
    # Not a field of the non-beta params in any line.
    with pytest.raises(ApiError):
        schema.validate_for("2023-06-01", "messages", _clear_at_body())


def test_a_body_no_line_accepts_gets_the_newest_lines_error(schema: RequestSchema) -> None:
    body = dict(_clear_at_body(), max_tokens="8")  # no line takes a string here
    with pytest.raises(ApiError) as info:
        schema.validate_for("2023-06-01", "beta_messages", body)
    # the newest line's first error, in the API's field order (messages before max_tokens)
    assert info.value.message == "messages.0.clear_at: Extra inputs are not permitted"


def test_runtime_does_not_import_the_sdk() -> None:
    # Importing anthropic.types costs ~1 s of start-up; the server must not (start-up time itself
    # is measured by the benchmark, not asserted here).
    code = (
        "import sys\n"
        "from mockserver.protocol.schema import RequestSchema\n"
        "s = RequestSchema.load()\n"
        "s.validate('messages', {'model': 'm', 'max_tokens': 1, 'messages': [{'role': 'user', 'content': 'hi'}]})\n"
        "assert 'anthropic' not in sys.modules and 'pydantic' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


class PropertyInfo:
    """Stand-in for the SDK's ``PropertyInfo(alias=...)`` annotation (unused by SDK 2.12)."""

    def __init__(self, alias: str) -> None:
        self.alias = alias


class _Cat(TypedDict, total=False):
    type: Required[Literal["cat"]]
    lives: Required[int]
    py_name: Annotated[str, PropertyInfo(alias="wireName")]


class _Dog(TypedDict):
    type: Literal["dog"]
    good: NotRequired[bool]


class _Custom(TypedDict, total=False):
    type: Optional[Literal["custom"]]
    name: Required[str]


class _Owner(TypedDict, total=False):
    pets: Required[Iterable[Union[_Cat, _Dog]]]
    tools: List[Union[_Custom, _Dog]]
    tags: Dict[str, object]
    note: Union[str, Literal["a", "b"], None]


def test_generator_on_synthetic_typeddicts() -> None:
    gen = schema_gen.Generator()
    gen.typeddict(_Owner)
    owner, cat, dog = gen.defs[_Owner], gen.defs[_Cat], gen.defs[_Dog]
    assert owner["required"] == ["pets"]
    assert owner["fields"]["pets"] == {"list": {"tagged": "type", "cases": [["cat", _Cat], ["dog", _Dog]]}}
    assert owner["fields"]["tools"]["list"]["default"] == ["custom", _Custom]
    assert owner["fields"]["tags"] == "any_map"
    assert owner["fields"]["note"] == {"nullable": "str"}
    assert set(cat["fields"]) == {"type", "lives", "wireName"} and cat["required"] == ["type", "lives"]
    assert dog["required"] == ["type"]


def test_generator_reads_header_params_from_sdk_source() -> None:
    split = schema_gen._method_body_split("anthropic.resources.beta.messages.messages", "Messages", "create")
    assert {"betas", "workspace_id"} <= split.header_params and "betas" not in split.body_keys
    assert "messages" in split.body_keys


# ---------------------------------------------------------------------------------------------
# Properties: any JSON value in, a list of errors (or one ApiError) out.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
KEYS = ["model", "max_tokens", "messages", "system", "tools", "tool_choice", "thinking", "stream", "metadata",
        "role", "content", "type", "text", "source", "data", "name", "input_schema", "requests", "params", "custom_id"]
TAGS = ["text", "image", "tool_use", "tool_result", "enabled", "base64", "url", "auto", "custom", "user", "assistant"]
shaped = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(TAGS) | st.text(max_size=4),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(KEYS), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root=st.sampled_from(sorted(json.loads(DEFAULT_PATH.read_text())["roots"])), body=json_values | shaped)
def test_any_json_gives_errors_or_api_error(root: str, body: Any) -> None:
    schema = default_schema()
    errors = schema.errors(root, body)
    assert isinstance(errors, list)
    assert all(isinstance(loc, str) and isinstance(msg, str) for loc, msg in errors)
    try:
        schema.validate(root, body)
    except ApiError as err:
        assert errors and err.status == 400
    else:
        assert errors == []


# ---------------------------------------------------------------------------------------------
# Cross-check with pydantic over the SDK TypedDicts: what we reject, pydantic rejects too.


def _drain(value: Any) -> None:
    """Iterate pydantic's lazy ``Iterable`` validators so nested items are actually checked."""
    if isinstance(value, dict):
        for item in value.values():
            _drain(item)
    elif not isinstance(value, (str, bytes)) and hasattr(value, "__iter__"):
        for item in value:
            _drain(item)


PYDANTIC_REJECTS = [
    with_("max_tokens", None, delete=True),
    with_("max_tokens", 5.5),
    with_("model", 3),
    with_("stop_sequences", ["a", 2]),
    with_("service_tier", "fast"),
    with_("thinking", {"type": "enabled"}),
    with_("thinking", {"type": "sometimes"}),
    with_("messages.0.role", "robot"),
    with_("messages.0.content", 42),
    with_("messages.0.content", [{"type": "text"}]),
    with_("messages.0.content", [{"type": "image", "source": {"type": "base64", "media_type": "image/png"}}]),
    with_("tools", [{"name": "t"}]),
    with_("tool_choice", {"type": "tool"}),
]


def test_pydantic_also_rejects(schema: RequestSchema) -> None:
    pydantic = pytest.importorskip("pydantic")
    from anthropic.types.message_create_params import MessageCreateParamsBase

    adapter = pydantic.TypeAdapter(MessageCreateParamsBase)
    _drain(adapter.validate_python(simple()))
    for body in PYDANTIC_REJECTS:
        assert schema.errors("messages", body), body
        with pytest.raises(pydantic.ValidationError):
            _drain(adapter.validate_python(body))

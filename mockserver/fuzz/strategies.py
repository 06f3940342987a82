"""Hypothesis strategies that write scenarios: API errors, faults, unusual replies and streams.

Every value drawn is a mapping in the scenario file format (docs/scenarios.md) — what the
builders in :mod:`mockserver.scenarios` return and what a fixtures file holds — so it is
answered by the scenario responder and delivered through the fault layer exactly like a
hand-written rule, and a shrunk failing example is a scenario you can paste into a YAML file
(:func:`mockserver.fuzz.to_yaml`; :func:`mockserver.fuzz.installed` prints it for you).

    from hypothesis import given
    from mockserver import fuzz

    @given(fuzz.scenarios())
    def test_my_client_survives(mockserver_session, scenario):
        with fuzz.installed(mockserver_session, scenario):
            ...   # call your code; assert what must hold whatever the API did

Defaults keep examples fast (delays of at most ``max_delay`` = 50 ms, ``retry-after`` values a
compliant client waits at most ``max_seconds`` for); every knob is a keyword argument.
"""

from __future__ import annotations

import base64
import json
import math
import time
from typing import Any, Iterable, Mapping, Sequence

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from mockserver.faults.spec import FAULT_FIELDS, MALFORMED_KINDS
from mockserver.protocol.errors import DEFAULT_MESSAGES, error_type_for_status
from mockserver.protocol.headers import http_date, sdk_retries
from mockserver.protocol.message import build_message, build_usage
from mockserver.fuzz.names import STRATEGIES

# -- errors ----------------------------------------------------------------------------------------
STATUSES: tuple[int, ...] = (400, 401, 402, 403, 404, 408, 409, 413, 429, 500, 502, 503, 504, 529)
"""Every status the API (or the edge in front of it) answers Messages calls with."""
RETRYABLE_STATUSES: tuple[int, ...] = tuple(s for s in STATUSES if sdk_retries(s))
"""The statuses the official SDKs retry when no ``x-should-retry`` says otherwise."""

# Messages seen in real traffic (docs/reference/real-traffic.md §5, anthropic-api.md §6.4),
# beside the default one of each type (mockserver.protocol.errors.DEFAULT_MESSAGES).
REAL_MESSAGES: dict[int, tuple[str, ...]] = {
    400: (
        "messages.0: Input does not match the expected shape.",
        "prompt is too long: 3333404 tokens > 200000 maximum",
        "max_tokens: Field required",
        "This model does not support effort level 'xhigh'. Supported levels: high, low, max, medium.",
    ),
    401: ("invalid x-api-key", "x-api-key header is required"),
    402: ("Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",),
    403: ("Your API key does not have permission to use the specified resource.",),
    404: ("model: this-model-does-not-exist-12345", "Not Found"),
    413: ("Request exceeds the maximum allowed number of bytes.",),
    429: (
        "This request would exceed the rate limit for your organization (b320df16-c763-4455-b901-3f7d54e9a012) of "
        "40,000 input tokens per minute. For details, refer to: https://docs.anthropic.com/en/api/rate-limits. You "
        "can see the response headers for current usage. Please reduce the prompt length or the maximum tokens "
        "requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to "
        "discuss your options for a rate limit increase.",
        "Rate limited",
        "This request would exceed your account's rate limit. Please try again later.",
    ),
    500: ("Internal server error",),
    529: ("Overloaded",),
}
ERROR_CODES: dict[int, tuple[str, ...]] = {
    400: ("tool_name_conflict",),
    403: ("organization_on_hold", "enforced_spend_limit_reached"),
}
RETRY_AFTER_FORMS = ("absent", "seconds", "milliseconds", "http_date")


def retry_after(*, max_seconds: float = 0.05, forms: Iterable[str] = RETRY_AFTER_FORMS) -> SearchStrategy[dict[str, Any]]:
    """The ``Retry-After`` variants, as fields of a scenario ``error``: absent, whole seconds
    (``retry_after``), milliseconds (``retry_after_ms``), or an HTTP date (``headers``).

    ``max_seconds`` bounds what a client honouring the header waits. Whole seconds are the only
    form the real API sends, so below one second that form is ``retry-after: 0`` (which the SDK
    treats as "no advice": exponential backoff from 0.5 s), and dates are at most the current
    second (already due). Raise it (``max_seconds=30``) for realistic values when your client's
    sleep is injectable, or pick ``forms=["milliseconds"]`` to keep SDK retries fast.
    """
    forms = tuple(forms)
    unknown = set(forms) - set(RETRY_AFTER_FORMS)
    if unknown or not forms:
        raise ValueError(f"forms must be some of {RETRY_AFTER_FORMS}, not {sorted(unknown) or 'nothing'}")
    whole = int(max(0.0, max_seconds))
    options: list[SearchStrategy[dict[str, Any]]] = []
    if "absent" in forms:
        options.append(st.just({}))
    if "seconds" in forms:
        options.append(st.integers(0, whole).map(lambda s: {"retry_after": s}))
    if "milliseconds" in forms:
        options.append(st.integers(0, int(max_seconds * 1000)).map(lambda ms: {"retry_after_ms": ms}))
    if "http_date" in forms:
        # Drawn as an offset from now, so the date means the same thing whenever it is replayed;
        # a date in the past means "retry now".
        options.append(st.integers(-5, whole).map(lambda s: {"headers": {"retry-after": http_date(math.floor(time.time()) + s)}}))
    return st.one_of(options)


def should_retry() -> SearchStrategy[dict[str, Any]]:
    """``x-should-retry`` absent, ``true`` or ``false`` (the SDK obeys it over the status)."""
    return st.sampled_from([{}, {"should_retry": True}, {"should_retry": False}])


def errors(
    statuses: Iterable[int] = STATUSES,
    *,
    retry_after: SearchStrategy[dict[str, Any]] | None = None,
    should_retry: SearchStrategy[dict[str, Any]] | None = None,
) -> SearchStrategy[dict[str, Any]]:
    """A scenario step ``{"error": {...}}``: a status, one of its real messages (or the default),
    sometimes ``details.error_code``, and the header variants of ``retry_after()`` and
    ``should_retry()``. Shrinks towards the first status and no extras."""
    statuses = tuple(statuses)
    headers_after = retry_after if retry_after is not None else _retry_after()
    headers_retry = should_retry if should_retry is not None else _should_retry()

    @st.composite
    def error(draw: st.DrawFn) -> dict[str, Any]:
        # Every choice is drawn whatever the status, so the shrinker can lower the status and
        # keep the rest of the example as it was.
        status = draw(st.sampled_from(statuses))
        spec: dict[str, Any] = {"status": status}
        message_index = draw(st.none() | st.integers(0, 9))
        if message_index is not None:
            messages = REAL_MESSAGES.get(status) or (DEFAULT_MESSAGES[error_type_for_status(status)],)
            spec["message"] = messages[message_index % len(messages)]
        code_index = draw(st.none() | st.integers(0, 9))
        codes = ERROR_CODES.get(status)
        if codes and code_index is not None:
            spec["details"] = {"error_code": codes[code_index % len(codes)]}
        spec.update(draw(headers_after))
        spec.update(draw(headers_retry))
        return {"error": spec}

    return error()


_retry_after, _should_retry = retry_after, should_retry


# -- faults ----------------------------------------------------------------------------------------
FAULT_KINDS = FAULT_FIELDS
STREAM_ERROR_TYPES = ("overloaded_error", "api_error", "rate_limit_error", "invalid_request_error")


def faults(
    kinds: Iterable[str] = FAULT_KINDS, *, max_delay: float = 0.05, min_size: int = 1, max_size: int = 1
) -> SearchStrategy[dict[str, Any]]:
    """A ``faults`` mapping of ``min_size``–``max_size`` of the scenario layer's faults, each with
    its parameters: latency, time to first token, token pacing, reset, drop (after events or
    bytes), malformed SSE (each kind, at any event), ``event: error`` mid-stream, slow body and
    random errors. ``max_delay`` bounds every pause, so a faulty example stays fast."""
    kinds = tuple(kinds)
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown or not kinds:
        raise ValueError(f"kinds must be some of {FAULT_KINDS}, not {sorted(unknown) or 'nothing'}")
    delay = st.integers(1, max(1, int(max_delay * 1000))).map(lambda ms: ms / 1000)  # whole milliseconds, never 0 (no fault)
    one: dict[str, SearchStrategy[Any]] = {
        "latency": delay,
        "ttft": delay,
        # fast enough that a few hundred tokens take at most about max_delay
        "tokens_per_second": st.integers(max(1, int(400 / max(max_delay, 1e-3))), 100_000),
        "reset": st.just(True),
        "drop": st.integers(0, 12) | st.fixed_dictionaries({"after_bytes": st.integers(0, 600)}),
        "malformed": st.sampled_from(MALFORMED_KINDS)
        | st.fixed_dictionaries({"kind": st.sampled_from(MALFORMED_KINDS), "at": st.integers(0, 10)}),
        "stream_error": st.integers(0, 12)
        | st.fixed_dictionaries(
            {"after": st.integers(0, 12)},
            optional={"type": st.sampled_from(STREAM_ERROR_TYPES), "message": st.sampled_from(["Overloaded", "Internal server error", ""])},
        ),
        "slow_body": st.fixed_dictionaries(
            {"chunk_bytes": st.integers(1, 64), "interval": st.integers(0, int(max_delay * 100)).map(lambda cs: cs / 100_000)}
        ),
        "random_error": st.sampled_from([1.0, 0.5])
        | st.fixed_dictionaries(
            {"probability": st.sampled_from([1.0, 0.5]), "status": st.sampled_from(RETRYABLE_STATUSES)},
            optional={"headers": st.sampled_from([{"retry-after-ms": "5"}, {"x-should-retry": "false"}])},
        ),
    }

    @st.composite
    def pick(draw: st.DrawFn) -> dict[str, Any]:
        chosen = draw(st.lists(st.sampled_from(kinds), min_size=min_size, max_size=max_size, unique=True))
        return {kind: draw(one[kind]) for kind in sorted(chosen, key=FAULT_KINDS.index)}

    return pick()


def fault_steps(kinds: Iterable[str] = FAULT_KINDS, **options: Any) -> SearchStrategy[dict[str, Any]]:
    """A step ``{"fault": {...}}``: the ordinary answer (the fake model's), delivered with faults."""
    return faults(kinds, **options).map(lambda f: {"fault": f})


def byte_splits(max_chunk: int = 7) -> SearchStrategy[dict[str, Any]]:
    """Faults that write a body ``1..max_chunk`` bytes at a time with no pause, so network reads
    end inside multi-byte UTF-8 characters, SSE lines and JSON tokens."""
    return st.integers(1, max_chunk).map(lambda n: {"slow_body": {"chunk_bytes": n, "interval": 0}})


# -- text and JSON ---------------------------------------------------------------------------------
AWKWARD_PIECES: tuple[str, ...] = (
    " ", "\n", "\r\n", "\t", "\u2028", "\u2029", "\x00", "\ufeff", "\u200b", "\u202e", "\u00ad", "\x7f",
    "e\u0301", "🧪", "👩\u200d👩\u200d👧\u200d👦", "🇫🇷", "🏳\ufe0f\u200d🌈", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𓀀", "𠜎",
    "مرحبا", "שלום", "日本語", "\\", '"', "'", "\\u0000", "</s>", "${x}", "{{x}}",
    "\n\nevent: error\ndata: {\"type\": \"error\"}\n\n", "data: [DONE]", ":\n",
)
"""Strings that break naive code: astral plane, combining marks, ZWJ sequences, RTL, NUL, BOM,
line separators, quotes and backslashes, and text that looks like SSE framing."""
LONG_UNITS = ("a", "🧪", "e\u0301", "word ", "日本", "\n")
_CHARS = st.characters(codec="utf-8")


def texts(*, max_size: int = 60, long_size: int = 20_000) -> SearchStrategy[str]:
    """Text for a reply: empty, awkward pieces joined, arbitrary Unicode (never lone surrogates:
    they cannot be encoded), or very long (up to ``long_size`` code points)."""
    pieces = st.lists(st.sampled_from(AWKWARD_PIECES) | st.text(_CHARS, min_size=1, max_size=8), min_size=1, max_size=10).map("".join)
    long = st.tuples(st.sampled_from(LONG_UNITS), st.integers(1, long_size)).map(lambda t: (t[0] * t[1])[:long_size])
    return st.one_of(st.just(""), pieces, st.text(_CHARS, max_size=max_size), long)


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # what JSON encoders (orjson) can write
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts(max_size=20, long_size=2000)
)


def tool_inputs(*, max_leaves: int = 12, max_depth: int = 40) -> SearchStrategy[dict[str, Any]]:
    """A ``tool_use`` input: an object of any JSON, or one nested ``max_depth`` levels deep."""
    keys = st.sampled_from(["location", "query", "", "🧪", "a b", "__proto__"]) | st.text(_CHARS, max_size=10)
    values = st.recursive(
        JSON_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=max_leaves
    )
    deep = st.tuples(st.integers(1, max_depth), st.booleans(), JSON_LEAVES).map(lambda t: {"nested": _nest(*t)})
    return st.one_of(st.dictionaries(keys, values, max_size=5), deep)


def _nest(depth: int, lists: bool, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value] if lists else {"a": value}
    return value


# -- replies ---------------------------------------------------------------------------------------
BLOCK_KINDS = ("text", "tool_use", "thinking", "redacted_thinking")
TOOL_NAMES = ("get_weather", "search", "t", "x" * 64)
STOP_REASONS = ("end_turn", "max_tokens", "stop_sequence", "pause_turn", "refusal")
_REDACTED = st.binary(min_size=1, max_size=48).map(lambda b: base64.b64encode(b).decode())


def blocks(
    kinds: Iterable[str] = BLOCK_KINDS, *, text: SearchStrategy[str] | None = None, inputs: SearchStrategy[dict[str, Any]] | None = None
) -> SearchStrategy[Any]:
    """One content block in the scenario shorthand: text (a string), ``{tool_use: {name, input}}``,
    ``{thinking: "…"}`` (signed by the server) or ``{redacted_thinking: "…"}``."""
    text = text if text is not None else texts()
    inputs = inputs if inputs is not None else tool_inputs()
    make: dict[str, SearchStrategy[Any]] = {
        "text": text,
        "tool_use": st.fixed_dictionaries({"name": st.sampled_from(TOOL_NAMES), "input": inputs}).map(lambda b: {"tool_use": b}),
        "thinking": text.map(lambda t: {"thinking": t}),
        "redacted_thinking": _REDACTED.map(lambda d: {"redacted_thinking": d}),
    }
    return st.one_of([make[k] for k in kinds])


def replies(
    *,
    content: SearchStrategy[list[Any]] | None = None,
    max_blocks: int = 6,
    many_blocks: int = 60,
    stop_reasons: Sequence[str] = STOP_REASONS,
) -> SearchStrategy[dict[str, Any]]:
    """A step ``{"reply": {...}}``: a valid Message with unusual content — none, empty or very
    long text, astral-plane Unicode, up to ``many_blocks`` blocks, nested tool inputs, thinking
    and redacted thinking — and sometimes an explicit stop reason. Streamed calls get it as the
    server's own SSE plan. Shrinks towards ``{"reply": {"content": []}}``."""
    if content is None:
        many = st.integers(max_blocks + 1, max(max_blocks + 1, many_blocks)).map(lambda n: [f"Block {i}." for i in range(n)])
        content = st.lists(blocks(), max_size=max_blocks) | many

    @st.composite
    def reply(draw: st.DrawFn) -> dict[str, Any]:
        spec: dict[str, Any] = {"content": draw(content)}
        stop = draw(st.none() | st.sampled_from(tuple(stop_reasons)))
        if stop is not None:
            spec["stop_reason"] = stop
            if stop == "stop_sequence":
                spec["stop_sequence"] = draw(st.sampled_from(["\n\nHuman:", "END", "🧪", " "]))
        return {"reply": spec}

    return reply()


# -- raw streams -----------------------------------------------------------------------------------
MODEL = "claude-haiku-4-5-20251001"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _fake_id(prefix: str, n: int) -> str:
    return f"{prefix}_011C" + "".join(_B58[(n * 7 + i * 13) % len(_B58)] for i in range(20))


def wire_blocks(kinds: Iterable[str] = BLOCK_KINDS, *, text: SearchStrategy[str] | None = None) -> SearchStrategy[dict[str, Any]]:
    """One content block in wire shape (ids and signatures included), for raw streams."""
    text = text if text is not None else texts()
    make: dict[str, SearchStrategy[dict[str, Any]]] = {
        "text": text.map(lambda t: {"type": "text", "text": t}),
        "tool_use": st.builds(
            lambda name, data, n: {"type": "tool_use", "id": _fake_id("toolu", n), "name": name, "input": data},
            st.sampled_from(TOOL_NAMES), tool_inputs(), st.integers(0, 999),
        ),
        "thinking": st.builds(lambda t, sig: {"type": "thinking", "thinking": t, "signature": sig}, text, _REDACTED),
        "redacted_thinking": _REDACTED.map(lambda d: {"type": "redacted_thinking", "data": d}),
    }
    return st.one_of([make[k] for k in kinds])


def messages(*, max_blocks: int = 5, kinds: Iterable[str] = BLOCK_KINDS) -> SearchStrategy[dict[str, Any]]:
    """A complete Message (wire shape) that ``anthropic.types.Message`` accepts strictly."""

    @st.composite
    def message(draw: st.DrawFn) -> dict[str, Any]:
        content = draw(st.lists(wire_blocks(kinds), max_size=max_blocks))
        stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else draw(st.sampled_from(("end_turn", "max_tokens", "stop_sequence")))
        usage = build_usage(input_tokens=draw(st.integers(1, 5000)), output_tokens=draw(st.integers(1, 5000)))
        return build_message(
            id=_fake_id("msg", draw(st.integers(0, 999))),
            model=MODEL,
            content=content,
            stop_reason=stop,
            stop_sequence="END" if stop == "stop_sequence" else None,
            usage=usage,
        )

    return message()


def _draw_cuts(draw: st.DrawFn, length: int) -> list[int]:
    """Where to split a text of ``length`` code points into deltas: anywhere (between a letter
    and its combining mark, inside a ZWJ sequence), at every code point, or not at all."""
    if length <= 1:
        return []
    if length <= 400 and draw(st.booleans()):
        return list(range(1, length))
    return sorted(set(draw(st.lists(st.integers(1, length - 1), max_size=min(length - 1, 12)))))


def _split(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def _start_block(block: dict[str, Any]) -> dict[str, Any]:
    kind = block["type"]
    if kind == "text":
        return {"type": "text", "text": ""}
    if kind == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    if kind == "tool_use":
        return {**block, "input": {}}
    return dict(block)


def stream_of(message: Mapping[str, Any], *, max_pings: int = 40) -> SearchStrategy[dict[str, Any]]:
    """A step ``{"stream": {"events": [...]}}`` whose events accumulate to exactly ``message``,
    with deltas split at awkward places, pings anywhere (up to ``max_pings``: ping-heavy
    streams) and sometimes a byte-level split of the whole body (:func:`byte_splits`)."""

    @st.composite
    def stream(draw: st.DrawFn) -> dict[str, Any]:
        return _draw_stream(draw, message, max_pings)

    return stream()


def streams(*, max_pings: int = 40, **options: Any) -> SearchStrategy[dict[str, Any]]:
    """A raw SSE step for a valid but unusual Message (see :func:`messages` and :func:`stream_of`)."""
    drawn_messages = messages(**options)

    @st.composite
    def stream(draw: st.DrawFn) -> dict[str, Any]:
        return _draw_stream(draw, draw(drawn_messages), max_pings)

    return stream()


def _draw_stream(draw: st.DrawFn, message: Mapping[str, Any], max_pings: int) -> dict[str, Any]:
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None, "stop_details": None}
    start["usage"] = {k: v for k, v in usage.items() if k not in ("output_tokens_details", "server_tool_use")}
    start["usage"]["output_tokens"] = 1
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message["content"]):
        events.append({"type": "content_block_start", "index": index, "content_block": _start_block(block)})
        kind = block["type"]
        if kind in ("text", "thinking"):
            body = block[kind]
            for piece in _split(body, _draw_cuts(draw, len(body))):
                delta = {"type": "text_delta", "text": piece} if kind == "text" else {"type": "thinking_delta", "thinking": piece}
                events.append({"type": "content_block_delta", "index": index, "delta": delta})
            if kind == "thinking":
                events.append({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": block["signature"]}})
        elif kind == "tool_use":
            raw = json.dumps(block["input"], ensure_ascii=False)
            for piece in ["", *_split(raw, _draw_cuts(draw, len(raw)))]:
                events.append({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}})
        events.append({"type": "content_block_stop", "index": index})
    final_usage = {k: usage[k] for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens") if k in usage}
    stop: dict[str, Any] = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"], "stop_details": None}
    events.append({"type": "message_delta", "delta": stop, "usage": final_usage})
    events.append({"type": "message_stop"})
    where = st.integers(1, len(events) - 1)
    heavy = draw(st.integers(0, 3)) == 3  # a quarter of the streams are ping-heavy
    pings = draw(st.lists(where, min_size=max_pings // 2, max_size=max_pings) if heavy else st.lists(where, max_size=3))
    for at in sorted(pings, reverse=True):
        events.insert(at, {"type": "ping"})
    spec: dict[str, Any] = {"stream": {"events": [{"data": e} for e in events]}}
    if draw(st.integers(0, 3)) == 3:  # a quarter arrive a few bytes per network write
        spec["faults"] = {"slow_body": {"chunk_bytes": draw(st.integers(1, 7)), "interval": 0}}
    return spec


# -- sequences and whole scenarios ------------------------------------------------------------------
def steps(*, max_delay: float = 0.05) -> SearchStrategy[dict[str, Any]]:
    """Any one step: an error, a reply, a raw stream, or the ordinary answer with faults."""
    return st.one_of(errors(), replies(), fault_steps(max_delay=max_delay), streams())


def sequences(step: SearchStrategy[dict[str, Any]] | None = None, *, min_size: int = 1, max_size: int = 4) -> SearchStrategy[dict[str, Any]]:
    """``{"sequence": [...]}``: one step per matching request, the last repeated (e.g. "529,
    then a stream dropped after 3 events, then a reply")."""
    return st.lists(step if step is not None else steps(), min_size=min_size, max_size=max_size).map(lambda s: {"sequence": s})


def scenarios(
    step: SearchStrategy[dict[str, Any]] | None = None,
    *,
    match: Mapping[str, Any] | None = None,
    max_steps: int = 4,
    faults: SearchStrategy[dict[str, Any]] | None = None,
) -> SearchStrategy[dict[str, Any]]:
    """One scenario rule: a single step answering every matching call, or a sequence of steps;
    with ``faults``, sometimes faults on every answer of the rule. ``match`` restricts it
    (default: every ``messages.create`` call)."""
    step = step if step is not None else steps()
    # One list of steps, written as a plain step when it has one (a one-step sequence repeats
    # it, which is what a plain step does), so shrinking the list shrinks to a single step.
    rule = st.lists(step, min_size=1, max_size=max_steps).map(lambda s: s[0] if len(s) == 1 else {"sequence": s})
    if faults is not None:
        rule = st.tuples(rule, st.none() | faults).map(lambda t: {**t[0], "faults": t[1]} if t[1] else t[0])
    if match:
        rule = rule.map(lambda r: {"match": dict(match), **r})
    return rule


def with_faults(step: SearchStrategy[dict[str, Any]], faults_: SearchStrategy[dict[str, Any]] | None = None) -> SearchStrategy[dict[str, Any]]:
    """``step`` with a ``faults`` mapping added (e.g. a reply whose stream is dropped)."""
    chosen = faults_ if faults_ is not None else faults()
    return st.tuples(step, chosen).map(lambda t: {**t[0], "faults": {**t[0].get("faults", {}), **t[1]}})


__all__ = list(STRATEGIES)  # listed in mockserver.fuzz, which loads them from here on first use

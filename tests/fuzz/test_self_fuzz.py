"""Self-fuzzing: whatever a client sends over a real socket — valid, nearly valid or garbage —
the server answers in the API's shape, never with a 5xx it was not told to inject, never
crashes or logs an internal error, and its memory stays steady.

A bounded run is part of ``make test``; ``make fuzz-long`` runs the same tests with twenty times
the examples and requests (``MOCKSERVER_FUZZ_SCALE``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver import fuzz
from mockserver.harness.testing import MockServer
from tests.fuzz import requests as rq
from tests.fuzz.wire import API_HEADERS, Answer, address, assert_anthropic_error, exchange, request

SCALE = max(1, int(os.environ.get("MOCKSERVER_FUZZ_SCALE", "1")))


def budget(examples: int) -> settings:
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


class ErrorLog(logging.Handler):
    """Every ERROR the server logs (an internal error, a traceback) is a finding."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def errors_logged() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    loggers = [logging.getLogger(name) for name in ("mockserver", "aiohttp")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture(scope="module")
def server(errors_logged: ErrorLog) -> Iterator[MockServer]:
    with MockServer() as s:
        yield s


def healthy(server: MockServer, errors_logged: ErrorLog, answer: Answer | None = None) -> None:
    """The invariants after each example."""
    if answer is not None and answer.status is not None:
        assert_anthropic_error(answer)
    for entry in server.journal.newest(5):  # also what nobody was left to read (a client that hung up)
        assert entry.status < 500 or entry.origin not in ("server", "default", "none"), entry
    # (lone surrogates escaped: a report xdist cannot encode would crash the worker, not fail the test)
    assert not errors_logged.records, [ascii(r.getMessage()) for r in errors_logged.records]
    assert server._thread._thread.is_alive()


@budget(150)
@given(
    method=rq.METHODS, path=rq.PATHS, credentials=rq.CREDENTIALS, version=rq.VERSIONS, content_type=rq.CONTENT_TYPES,
    beta=rq.BETAS, extra=rq.EXTRA, body=rq.BODIES, data=st.data(),
)
def test_any_request_gets_an_answer_in_the_api_shape(
    server: MockServer, errors_logged: ErrorLog, method: str, path: str, credentials: list, version: list, content_type: list,
    beta: list, extra: list, body: bytes, data: st.DataObject,
) -> None:
    framing, raw_body, length = data.draw(rq.framed(body), label="framing")
    headers = [*credentials, *version, *content_type, *beta, *extra, *framing]
    answer = exchange(server.url, request(method, path, headers=headers, body=raw_body, content_length=length), method=method, timeout=10)
    assert answer.status is not None, "no answer to a complete request"
    healthy(server, errors_logged, answer)


@budget(100)
@given(garbage=rq.GARBAGE)
def test_protocol_garbage_gets_a_json_400_or_a_closed_connection(server: MockServer, errors_logged: ErrorLog, garbage: bytes) -> None:
    try:
        answer = exchange(server.url, garbage if garbage.endswith(b"\r\n\r\n") else garbage + b"\r\n\r\n", timeout=2)
    except (socket.timeout, TimeoutError):
        answer = None  # the parser is waiting for the rest of something that looked like a request
    healthy(server, errors_logged, answer)
    follow_up = exchange(server.url, request("GET", "/v1/models", headers=API_HEADERS))
    assert follow_up.status == 200


@budget(30)
@given(
    path=st.sampled_from(["/v1/messages", "/v1/messages/count_tokens", "/v1/messages/batches"]),
    body=rq.BODIES.filter(lambda b: len(b) > 1), chunked=st.booleans(), cut=st.floats(0, 0.99),
)
def test_a_body_cut_short_is_journaled_as_a_client_error(
    server: MockServer, errors_logged: ErrorLog, path: str, body: bytes, chunked: bool, cut: float
) -> None:
    sent = body[: int(len(body) * cut)]
    if chunked:  # a chunk announced longer than what arrives
        raw = request("POST", path, headers=[*API_HEADERS, ("transfer-encoding", "chunked")]) + b"%x\r\n" % len(body) + sent
    else:  # fewer bytes than the Content-Length promised
        raw = request("POST", path, headers=API_HEADERS, body=sent, content_length=len(body))
    server.journal.clear()
    exchange(server.url, raw, close_after_send=True)
    (entry,) = server.journal.wait_for_calls(1, endpoint=None)
    assert entry.status == 400 and entry.error.startswith("The request body is incomplete or malformed"), (entry.status, entry.error)
    healthy(server, errors_logged)


@budget(40)
@given(scenario=fuzz.scenarios(faults=fuzz.faults(max_delay=0.01)), body=rq.VALID.map(rq._dumps) | rq.NEAR_VALID.map(rq._dumps))
def test_scripted_faults_and_bad_requests_together_only_give_the_5xx_they_script(
    server: MockServer, errors_logged: ErrorLog, scenario: dict[str, Any], body: bytes
) -> None:
    with fuzz.installed(server, scenario) as run:
        answer = exchange(server.url, request("POST", "/v1/messages", headers=API_HEADERS, body=body), method="POST", timeout=10)
        entries = run.journal.wait_for_calls(1)
    if answer.status is not None and answer.status >= 500:
        assert entries[-1].origin == "fuzz", entries  # a rule injected it
    if answer.complete and answer.status is not None and answer.status >= 400 and answer.headers.get("content-type", "").startswith("application/json"):
        assert_anthropic_error(answer, allow_5xx=True)
    healthy(server, errors_logged)


ADMIN_PATHS = st.sampled_from(["/_mock", "/_mock/", "/_mock/rules", "/_mock/rules/fuzz", "/_mock/reset", "/_mock/journal",
                               "/_mock/ratelimits", "/_mock/chaos/report", "/_mock/nope"])
ADMIN_BODIES = rq.BODIES | st.sampled_from([b"- reply: hi", b"rules: [", b"{error: 700}", b"!!python/object:os.system ls", b"a: &a [*a]",
                                            b'{"requests_per_minute": -1}', b'{"match": {"txt": 1}, "reply": "x"}', b'{"\\ud800": 1}'])


@budget(60)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), path=ADMIN_PATHS,
    query=st.sampled_from(["", "?since=-1", "?limit=abc", "?since=1e9999", "?format=markdown", "?endpoint=%00"]),
    content_type=st.sampled_from(["application/json", "application/yaml", "text/plain", ""]), body=ADMIN_BODIES,
)
def test_the_admin_api_survives_garbage(
    server: MockServer, errors_logged: ErrorLog, method: str, path: str, query: str, content_type: str, body: bytes
) -> None:
    headers = [("content-type", content_type)] if content_type else []
    answer = exchange(server.url, request(method, path + query, headers=headers, body=body, content_length=len(body)), method=method)
    assert answer.status is not None
    healthy(server, errors_logged, answer)
    server.reset()  # whatever the garbage configured (rate limits, rules) goes


def test_a_lone_surrogate_in_an_admin_yaml_body_is_a_400(server: MockServer, errors_logged: ErrorLog) -> None:
    """Found by the long run: the loader's message quoted the key, which JSON cannot carry (a 500).
    Now the document check refuses it before the key is read, and its message escapes the key too."""
    answer = exchange(server.url, request("POST", "/_mock/rules", headers=[("content-type", "application/yaml")], body=b'{"\\ud800": 1}'), method="POST")
    message = answer.json["error"]["message"]
    # (libyaml, which load_yaml_text uses, refuses the escape itself: either 400 will do)
    assert answer.status == 400 and ("a key holds a lone surrogate (like \\ud800)" in message or "invalid Unicode character escape" in message)
    healthy(server, errors_logged, answer)


# -- hostile input: what an attacker or an unlucky operator sends --------------------------------------
HUGE = st.sampled_from([10**8, 10**12, 2**63, 2**64 - 1]) | st.integers(101, 10**9)
HOSTILE_LEAF = st.one_of(
    st.builds(lambda n: {"type": "string", "minLength": n}, HUGE),
    st.builds(lambda n: {"type": "object", "minProperties": n}, HUGE),
    st.builds(lambda n: {"type": "integer", "minimum": n, "multipleOf": 0.5}, st.sampled_from([10**400, -(10**400), 2**70])),
    st.just({"type": "string", "pattern": "^(a+)+$", "minLength": 40}),
    st.just({"type": "string"}),
)
HOSTILE_SCHEMA = st.recursive(
    HOSTILE_LEAF,
    lambda inner: st.builds(lambda items, n: {"type": "array", "items": items, "minItems": n}, inner, HUGE | st.integers(0, 100))
    | st.builds(lambda props: {"type": "object", "properties": props, "required": sorted(props)},
                st.dictionaries(st.sampled_from(["a", "b" * 300]), inner, min_size=1, max_size=3))
    | st.builds(lambda a: {"$defs": {"d": a}, "type": "array", "minItems": 100, "items": {"$ref": "#/$defs/d"}}, inner),
    max_leaves=6,
)


@budget(40)
@given(schema=HOSTILE_SCHEMA, where=st.sampled_from(["output_config", "tool", "batch"]), stream=st.booleans())
def test_schemas_asking_for_huge_values_cost_bounded_work(
    server: MockServer, errors_logged: ErrorLog, schema: dict[str, Any], where: str, stream: bool
) -> None:
    """A 211-byte schema with minItems: 100000000 froze main for minutes (RSS 1.1 GB)."""
    body: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 64_000, "messages": [{"role": "user", "content": "x"}]}
    if where == "output_config":
        body["output_config"] = {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"v": schema}, "required": ["v"]}}}
    else:
        body["tools"] = [{"name": "t", "input_schema": {"type": "object", "properties": {"v": schema}, "required": ["v"]}}]
        body["tool_choice"] = {"type": "tool", "name": "t"}
    if where == "batch":
        raw = json.dumps({"requests": [{"custom_id": "a", "params": body}]}).encode()
        answer = exchange(server.url, request("POST", "/v1/messages/batches", headers=API_HEADERS, body=raw), method="POST", timeout=30)
    else:
        body["stream"] = stream
        answer = exchange(server.url, request("POST", "/v1/messages", headers=API_HEADERS, body=json.dumps(body).encode()), method="POST", timeout=30)
        if answer.status == 200 and not stream:
            assert len(answer.body) < 1_000_000
    assert answer.status in (200, 400), (answer.status, answer.body[:300])
    healthy(server, errors_logged, answer)


def _nested_schema(levels: int) -> bytes:
    """A valid schema ``levels`` JSON levels deep: arrays of arrays … of strings."""
    return b'{"type":"array","items":' * (levels - 1) + b'{"type":"string"}' + b"}" * (levels - 1)


def _nested_value(levels: int, lists: bool) -> bytes:
    return (b"[" * levels + b"1" + b"]" * levels) if lists else (b'{"a":' * (levels - 1) + b'{"a":1' + b"}" * levels)


@budget(30)
@given(levels=st.integers(256, 1_015), lists=st.booleans(), where=st.sampled_from(["input_schema", "tool_use.input"]),
       send=st.sampled_from(["plain", "stream", "batch"]))
def test_json_nested_past_what_the_server_can_write_back_is_a_400_and_the_journal_renders(
    server: MockServer, errors_logged: ErrorLog, levels: int, lists: bool, where: str, send: str
) -> None:
    """orjson reads 1,024 levels and writes 254: such a body was a 500 with a traceback (the
    reply's seed, batch create), and once journaled every GET /_mock/journal was a 500 too."""
    body: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "x"}]}
    if where == "input_schema":
        body["tools"] = [{"name": "t", "input_schema": {"type": "object", "properties": {"v": "@deep@"}}}]
        deep = _nested_schema(levels)
    else:
        body["tools"] = [{"name": "t", "input_schema": {"type": "object"}}]
        body["messages"] += [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "t", "input": {"v": "@deep@"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "ok"}]},
        ]
        deep = _nested_value(levels, lists)
    path = "/v1/messages"
    if send == "batch":
        path, body = "/v1/messages/batches", {"requests": [{"custom_id": "a", "params": body}]}
    elif send == "stream":
        body["stream"] = True
    raw = json.dumps(body).encode().replace(b'"@deep@"', deep)
    answer = exchange(server.url, request("POST", path, headers=API_HEADERS, body=raw), method="POST", timeout=30)
    assert answer.status == 400, (answer.status, answer.body[:300])
    assert "nested too deeply" in answer.json["error"]["message"], answer.body[:300]
    healthy(server, errors_logged, answer)
    listed = exchange(server.url, request("GET", "/_mock/journal?limit=3"), timeout=30)
    assert listed.status == 200, listed.body[:300]


def _admin(server: MockServer, body: bytes, content_type: str = "application/json") -> Answer:
    return exchange(server.url, request("POST", "/_mock/rules", headers=[("content-type", content_type)], body=body), method="POST")


NON_FINITE = st.sampled_from([".inf", "-.inf", ".nan", ".NaN", "1.0e+400"])  # (YAML 1.1 reads 1e400 as text)
BAD_HEADER = st.sampled_from(['"a\\r\\nx-injected: 1"', '"a\\nb"', '"a\\rb"', '"\\u0000"', '"\\u007f"'])
PAST_LIMIT = st.sampled_from([10**10, 2**63, 2**64 - 1, 10**30]) | st.integers(10**9 + 1, 10**15)
"""Past every rule limit (priority, times and nth stop at a billion, waits at 600 s)."""
HOSTILE_RULES = st.one_of(
    NON_FINITE.map(lambda v: f"{{name: f, error: {{status: 429, retry_after: {v}}}}}"),
    NON_FINITE.map(lambda v: f"{{name: f, faults: {{latency: {v}}}, reply: hi}}"),
    NON_FINITE.map(lambda v: f"{{name: f, stream: [{{event: ping, data: {{type: ping}}, delay: {v}}}]}}"),
    NON_FINITE.map(lambda v: f"{{name: f, fault: {{random_error: {v}}}}}"),
    NON_FINITE.map(lambda v: f"{{name: f, json: {{body: {{x: {v}}}}}}}"),
    st.sampled_from(["ttft", "latency"]).flatmap(lambda k: PAST_LIMIT.map(lambda n: f"{{name: f, faults: {{{k}: {n}}}, reply: hi}}")),
    PAST_LIMIT.map(lambda n: f"{{name: f, priority: {n}, reply: hi}}"),
    PAST_LIMIT.map(lambda n: f"{{name: f, priority: -{n}, reply: hi}}"),
    PAST_LIMIT.map(lambda n: f"{{name: f, times: {n}, reply: hi}}"),
    PAST_LIMIT.map(lambda n: f"{{name: f, match: {{nth: {n}}}, reply: hi}}"),
    st.integers(0, 199).map(lambda n: f"{{name: f, json: {{body: {{}}, status: {n}}}}}"),
    BAD_HEADER.map(lambda v: f"{{name: f, error: {{status: 429, headers: {{x-a: {v}}}}}}}"),
    BAD_HEADER.map(lambda v: f"{{name: f, json: {{body: {{}}, headers: {{x-a: {v}}}}}}}"),
    BAD_HEADER.map(lambda v: f"{{name: f, fault: {{random_error: {{probability: 1, headers: {{x-a: {v}}}}}}}}}"),
    st.sampled_from(['"x a"', '"x:a"', '"x\\r\\n"', '""']).map(lambda k: f"{{name: f, json: {{body: {{}}, headers: {{{k}: b}}}}}}"),
    st.sampled_from(["(a)\\1", "(?<=a)b", "(?=a)", "a{1001}", "("]).map(lambda p: f"{{name: f, match: {{regex: '{p}'}}, reply: hi}}"),
)


@budget(60)
@given(rule=HOSTILE_RULES, as_json=st.booleans())
def test_rules_that_would_break_the_server_are_refused_naming_the_field(
    server: MockServer, errors_logged: ErrorLog, rule: str, as_json: bool
) -> None:
    import yaml

    if as_json:  # the same rule as JSON, where JSON can hold it (no inf/nan)
        try:
            body = json.dumps(yaml.safe_load(rule), allow_nan=False).encode()
        except ValueError:
            body, as_json = rule.encode(), False
    else:
        body = rule.encode()
    answer = _admin(server, body, "application/json" if as_json else "application/yaml")
    assert answer.status == 400, (rule, answer.status, answer.body[:300])
    assert "rules[0]" in answer.json["error"]["message"] or "json.body" in answer.json["error"]["message"], answer.body
    healthy(server, errors_logged, answer)
    server.reset()


@budget(30)
@given(depth=st.integers(65, 1_020), lists=st.booleans(), where=st.sampled_from(["body", "reply", "top"]))
def test_deeply_nested_admin_json_is_a_400(server: MockServer, errors_logged: ErrorLog, depth: int, lists: bool, where: str) -> None:
    """orjson reads JSON 1,024 levels deep; the loader's own recursion (copy.deepcopy) did not."""
    deep = (b"[" * depth + b"1" + b"]" * depth) if lists else (b'{"a":' * depth + b"1" + b"}" * depth)
    body = {"body": b'{"name":"d","json":{"body":%s}}', "reply": b'{"name":"d","reply":{"content":[{"tool_use":{"name":"f","input":{"x":%s}}}]}}',
            "top": b"%s"}[where] % deep
    answer = _admin(server, body)
    assert answer.status == 400, (answer.status, answer.body[:300])
    assert "levels deep" in answer.json["error"]["message"] or "not valid JSON" in answer.json["error"]["message"], answer.body[:300]
    healthy(server, errors_logged, answer)


@budget(30)
@given(depth=st.integers(65, 20_000), lists=st.booleans())
def test_deeply_nested_scenario_yaml_is_a_clear_error_naming_the_file(tmp_path_factory: pytest.TempPathFactory, depth: int, lists: bool) -> None:
    from mockserver.scenarios import ScenarioError, load_file
    from mockserver.documents import YamlLimitError, load_yaml_text

    deep = ("[" * depth + "1" + "]" * depth) if lists else ("{a: " * depth + "1" + "}" * depth)
    path = tmp_path_factory.mktemp("deep") / "deep.yaml"
    path.write_text(f"- name: d\n  json: {{body: {deep}}}\n")
    with pytest.raises(ScenarioError) as caught:
        load_file(path)
    assert str(caught.value).startswith(f"{path}: invalid YAML (line 2, column ")
    assert "nested more than 64 levels deep" in str(caught.value) or "maximum nesting depth" in str(caught.value)
    import yaml

    with pytest.raises(yaml.YAMLError):  # what admin's YAML should go through (a 400 there)
        load_yaml_text(deep, allow_aliases=False)
    if depth < 1000:  # libyaml's own limit speaks past that, also as a YAMLError
        with pytest.raises(YamlLimitError):
            load_yaml_text(deep, allow_aliases=False)


def test_deeply_nested_admin_yaml_is_a_400(server: MockServer, errors_logged: ErrorLog) -> None:
    try:
        answer = _admin(server, b"[" * 700 + b"]" * 700, "application/yaml")
    finally:
        errors_logged.records.clear()  # (the 500's log must not fail the tests after this one)
    assert answer.status == 400, (answer.status, answer.body[:300])


@budget(20)
@given(size=st.integers(20, 50_000), where=st.sampled_from(["regex", "text", "system", "headers"]))
def test_a_catastrophic_rule_regex_does_not_block_the_server(server: MockServer, errors_logged: ErrorLog, size: int, where: str) -> None:
    """^(a+)+$ blocked main's whole server for 4.9 s at 26 characters."""
    condition = {"regex": "^(a+)+$"}
    match = {"regex": "^(a+)+$"} if where == "regex" else {"headers": {"x-probe": condition}} if where == "headers" else {where: condition}
    server.add_rules([{"name": "evil", "match": match, "reply": "matched"}])
    text = "a" * size + "!"
    body: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": text}]}
    if where == "system":
        body["system"] = text
    headers = [*API_HEADERS, ("x-probe", text[-8000:])]
    answer = exchange(server.url, request("POST", "/v1/messages", headers=headers, body=json.dumps(body).encode()), method="POST", timeout=30)
    assert answer.status == 200 and "matched" not in answer.body.decode(), answer.body[:300]
    healthy(server, errors_logged, answer)
    server.reset()


# -- memory --------------------------------------------------------------------------------------------
class Subprocess:
    """``mockserver serve`` in its own process, so its memory is its own."""

    def __init__(self, *options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--quiet", "--data-dir", ":memory:", *options],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert self.process.stdout is not None
        self.output: list[str] = []
        while not (line := self.process.stdout.readline()).startswith("export ANTHROPIC_BASE_URL="):
            assert line, "".join(self.output)
            self.output.append(line)
        self.url = line.strip().split("=", 1)[1]
        # Keep reading what it prints, or a full pipe would stop the server mid-run.
        self.reader = threading.Thread(target=lambda: self.output.extend(self.process.stdout or ()), daemon=True)
        self.reader.start()

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=20)
        self.reader.join(timeout=5)
        return "".join(self.output)


def traffic(url: str, i: int) -> None:
    """One of eight kinds of calls: good and bad, streamed, malformed, cut short."""
    kind = i % 8
    prompt = f"Tell me about the number {i}. " * (1 + i % 7)
    if kind == 0:
        body = {"model": "claude-haiku-4-5", "max_tokens": 60, "messages": [{"role": "user", "content": prompt}]}
    elif kind == 1:
        body = {"model": "claude-haiku-4-5", "max_tokens": 60, "stream": True, "messages": [{"role": "user", "content": prompt}]}
    elif kind == 2:
        body = {"model": "claude-haiku-4-5", "max_tokens": -i, "messages": []}
    elif kind == 3:
        exchange(url, request("POST", "/v1/messages", headers=API_HEADERS, body=b"[" * 300 + b"]" * 300), method="POST")
        return
    elif kind == 4:
        exchange(url, b"GARBAGE %d\r\n\r\n" % i)
        return
    elif kind == 5:
        exchange(url, request("POST", "/v1/messages", headers=API_HEADERS, body=b'{"model":', content_length=500), close_after_send=True)
        return
    elif kind == 6:
        exchange(url, request("GET", f"/v1/models/nope-{i}", headers=API_HEADERS))
        return
    else:
        exchange(url, request("GET", "/v1/models", headers=[("x-big", "a" * 70_000)]))
        return
    answer = exchange(url, request("POST", "/v1/messages", headers=API_HEADERS, body=json.dumps(body).encode()), method="POST")
    assert answer.status is not None and answer.status < 500


def test_memory_stays_steady_under_a_long_mixed_run() -> None:
    # A small journal, so what is measured is the server, not the history it is asked to keep.
    server = Subprocess("--journal-limit", "50", "--seed", "3")
    try:
        warm_up = 1600  # past the fake model's memo (1024 prompts) and every lazily built table
        for i in range(warm_up):
            traffic(server.url, i)
        before = server.rss_mb()
        started = time.monotonic()
        for i in range(warm_up, warm_up + 3000 * SCALE):
            traffic(server.url, i)
        after = server.rss_mb()
        assert server.process.poll() is None, "the server died"
    finally:
        output = server.stop()
    assert after - before < 6, f"RSS grew from {before:.1f} MB to {after:.1f} MB over {3000 * SCALE} more calls ({time.monotonic() - started:.1f} s)"
    assert "Traceback" not in output and "internal error" not in output, output[-2000:]


def test_wire_helper_sees_a_closed_connection() -> None:
    """The raw-socket helper reports 'no answer' rather than hanging or raising."""
    listener = socket.create_server(("127.0.0.1", 0))
    host, port = listener.getsockname()
    try:
        listener.settimeout(5)

        def accept_and_close() -> None:
            conn, _ = listener.accept()
            conn.recv(100)
            conn.close()

        thread = threading.Thread(target=accept_and_close)
        thread.start()
        assert exchange(f"http://{host}:{port}", b"GET / HTTP/1.1\r\n\r\n").status is None
        thread.join()
    finally:
        listener.close()
    assert address("http://[::1]:8787") == ("::1", 8787)

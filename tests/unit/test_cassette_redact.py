"""Secrets never reach disk: redaction before writing, and ``check`` finding what slipped through."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.cassettes import format as fmt
from mockserver.cassettes.model import Frame, Interaction, RecordedRequest, RecordedResponse
from mockserver.cassettes.redact import REDACTED, Redactor, is_placeholder, scan_interactions

KEY = "sk-ant-api03-Zx9_Yw8-Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe"


def leaky() -> Interaction:
    frames = [Frame(b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"' + KEY.encode() + b'"}  }\n\n', 0.1)]
    return Interaction(
        RecordedRequest("POST", "/v1/messages", [("key", KEY)],
                        [("x-api-key", "real-looking-key-value"), ("Authorization", f"Bearer {KEY}"), ("Cookie", "session=abc"),
                         ("x-custom-token", "tok-123"), ("anthropic-version", "2023-06-01")],
                        orjson.dumps({"messages": [{"role": "user", "content": f"my key is {KEY}"}]})),
        RecordedResponse(200, [("Set-Cookie", "_cfuvid=xyz; HttpOnly"), ("anthropic-organization-id", "0b4c1c9e-3a53-4f5e-9b0e-0a1b2c3d4e5f"),
                               ("content-type", "text/event-stream")], b"".join(f.raw for f in frames), frames=frames),
    )


def test_redaction_removes_every_trace_of_key_material() -> None:
    clean = Redactor.with_headers(["x-custom-token"]).interaction(leaky())
    text = fmt.dumps([clean])
    for secret in (KEY, "sk-ant-", "real-looking-key-value", "session=abc", "_cfuvid", "tok-123"):
        assert secret not in text
    assert "anthropic-organization-id: 0b4c1c9e" in text  # an identifier, not a secret: kept
    assert fmt.loads(text)[0].response.frames[0].at == 0.1  # type: ignore[index]
    assert scan_interactions([clean], "x", Redactor.with_headers(["x-custom-token"])) == []


def test_check_reports_each_leak_with_its_place() -> None:
    found = {f.where for f in scan_interactions([leaky()], "c.yaml")}
    assert {
        "interactions[0].request.headers.x-api-key", "interactions[0].request.headers.Authorization",
        "interactions[0].request.headers.Cookie", "interactions[0].response.headers.Set-Cookie",
        "interactions[0].request.query.key", "interactions[0].request.body", "interactions[0].response.body",
    } <= found


def test_placeholders_other_recorders_write_are_not_secrets() -> None:
    for value in ("<ANTHROPIC_API_KEY>", "[REDACTED]", "<filtered>", "X-API-KEY-XXX", "", REDACTED):
        assert is_placeholder(value), value
    for value in ("test-api-key", "invalid_token", KEY, f"<{KEY}>"):
        assert not is_placeholder(value), value


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=40),
       st.text(max_size=20), st.text(max_size=20))
def test_any_key_anywhere_in_a_body_is_gone(tail: str, before: str, after: str) -> None:
    secret = "sk-ant-" + tail
    body = orjson.dumps({"note": before + secret + after})
    interaction = Interaction(RecordedRequest("POST", "/v1/messages", body=body), RecordedResponse(200, [], body))
    clean = Redactor().interaction(interaction)
    assert b"sk-ant-" not in clean.request.body and b"sk-ant-" not in clean.response.body


# -- the shared detector: split, escaped, echoed -------------------------------------------------
def _delta(index: int, text: str, kind: str = "text_delta", key: str = "text") -> bytes:
    data = {"type": "content_block_delta", "index": index, "delta": {"type": kind, key: text}}
    return b"event: content_block_delta\ndata: " + orjson.dumps(data) + b"\n\n"


def _stream(pieces: list[bytes], request_headers: list[tuple[str, str]] | None = None) -> Interaction:
    frames = [Frame(b'event: message_start\ndata: {"type":"message_start"}\n\n', 0.0)]
    frames += [Frame(raw, 0.01 * i) for i, raw in enumerate(pieces, 1)]
    frames.append(Frame(b'event: message_stop\ndata: {"type":"message_stop"}\n\n', 1.0))
    return Interaction(
        RecordedRequest("POST", "/v1/messages", headers=request_headers or [], body=b'{"stream":true}'),
        RecordedResponse(200, [("content-type", "text/event-stream")], b"".join(f.raw for f in frames), frames=frames),
    )


def _texts(interaction: Interaction) -> str:
    """Everything the cassette file will hold for it, and its stream's reassembled text."""
    text = fmt.dumps([interaction])
    deltas = []
    for frame in interaction.response.frames or []:
        if b"content_block_delta" in frame.raw:
            deltas.append(orjson.loads(frame.raw.split(b"data: ", 1)[1])["delta"].get("text", ""))
    return text + "\n" + "".join(deltas)


@settings(max_examples=200, deadline=None)
@given(
    tail=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=20, max_size=60),
    cuts=st.lists(st.integers(0, 200), max_size=8), before=st.text(alphabet="abc .,!", max_size=10),
    after=st.sampled_from(["", " and more.", ".", "!"]),
)
def test_a_key_split_across_deltas_at_any_points_is_found_and_cut_from_every_delta(tail: str, cuts: list[int], before: str, after: str) -> None:
    key = "sk-ant-" + tail
    text = f"Your key is {before}{key}{after}"
    points = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in zip(points, points[1:]) if b > a]
    leaky = _stream([_delta(0, p) for p in pieces])
    findings = scan_interactions([leaky], "c.yaml")
    assert findings and all("Anthropic key" in f.what for f in findings)
    assert all(key[:12] not in str(f) for f in findings)  # a finding never shows the key, nor its start
    clean = Redactor().interaction(leaky)
    everything = _texts(clean)
    assert key not in everything and "sk-ant-" not in everything and tail[:12] not in everything
    reassembled = "".join(orjson.loads(f.raw.split(b"data: ", 1)[1])["delta"]["text"] for f in clean.response.frames if b"_delta" in f.raw)  # type: ignore[union-attr]
    assert reassembled == f"Your key is {before}{REDACTED}{after}"
    assert [f.at for f in clean.response.frames] == [f.at for f in leaky.response.frames]  # type: ignore[union-attr]
    assert scan_interactions([clean], "c.yaml") == []  # check finds nothing redaction left


def test_keys_split_in_tool_input_json_and_json_escaped_are_found() -> None:
    key = "sk-ant-api03-" + "Q" * 30
    escaped = key.replace("-", "\\u002d")
    pieces = ['{"token": "', escaped[:9], escaped[9:25], escaped[25:], '"}']
    leaky = _stream([_delta(1, p, "input_json_delta", "partial_json") for p in pieces])
    clean = Redactor().interaction(leaky)
    joined = "".join(orjson.loads(f.raw.split(b"data: ", 1)[1])["delta"]["partial_json"] for f in clean.response.frames if b"_delta" in f.raw)  # type: ignore[union-attr]
    assert joined == '{"token": "[REDACTED]"}' and orjson.loads(joined) == {"token": REDACTED}
    body = Interaction(RecordedRequest("POST", "/v1/messages"), RecordedResponse(200, [("content-type", "application/json")],
                       ('{"text": "key ' + escaped + ' end", "also": "sk-ant\\u002dapi03\\u002dx1y2z3"}').encode()))
    [scrubbed] = [Redactor().interaction(body)]
    assert orjson.loads(scrubbed.response.body) == {"text": f"key {REDACTED} end", "also": REDACTED}
    assert len(scan_interactions([body], "c.yaml")) == 1 and "2 " not in scan_interactions([body], "c.yaml")[0].what[:2]


def test_credentials_the_request_carried_are_found_wherever_the_upstream_echoes_them() -> None:
    import base64

    token = "opaque-Tok3n-7f9c2e1d"  # no sk-ant- shape: only known because the request sent it
    cookie = "sess-0a9b8c7d6e5f"
    request_headers = [("authorization", f"Bearer {token}"), ("cookie", f"theme=dark; session={cookie}")]
    echoed = Interaction(
        RecordedRequest("GET", "/v1/models", headers=request_headers),
        RecordedResponse(200, [("content-type", "application/json"), ("x-echo", f"you sent {cookie}")], orjson.dumps(
            {"auth": f"Bearer {token}", "b64": base64.b64encode(token.encode()).decode(), "plain": token, "cookie": cookie})),
    )
    clean = Redactor().interaction(echoed)
    text = fmt.dumps([clean])
    for trace in (token, cookie, base64.b64encode(token.encode()).decode().rstrip("="), "Tok3n"):
        assert trace not in text, trace
    assert "theme" not in text  # the whole cookie header goes
    found = {f.where for f in scan_interactions([echoed], "c.yaml")}
    assert {"interactions[0].request.headers.authorization", "interactions[0].request.headers.cookie",
            "interactions[0].response.headers.x-echo", "interactions[0].response.body"} == found


def test_bearer_tokens_in_text_are_found_without_being_known() -> None:
    from mockserver.cassettes.redact import Detector

    detector = Detector()
    assert detector.redact("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc123")[0] == f"Authorization: Bearer {REDACTED}"
    assert detector.redact("use a Bearer authentication scheme")[1] == []  # prose, not a token


def test_check_and_redaction_agree_on_every_leak() -> None:
    """``cassette check`` reports exactly the places redaction changes."""
    items = [leaky(), _stream([_delta(0, "key: sk-"), _delta(0, "ant-api03-abcdefgh"), _delta(0, "ijk done")])]
    findings = scan_interactions(items, "c.yaml")
    redactor = Redactor()
    known: set[str] = set()
    for item in items:
        known |= redactor.known_values(item)
    changed = set()
    for index, item in enumerate(items):
        clean = redactor.interaction(item, known=known)
        for side in ("request", "response"):
            before, after = getattr(item, side), getattr(clean, side)
            for (name, value), (_, kept) in zip(before.headers, after.headers):
                if value != kept:
                    changed.add(f"interactions[{index}].{side}.headers.{name}")
            if before.body != after.body:
                changed.add(f"interactions[{index}].{side}.body")
        for (name, value), (_, kept) in zip(item.request.query, clean.request.query):
            if value != kept:
                changed.add(f"interactions[{index}].request.query.{name}")
    assert {f.where for f in findings} == changed


def test_a_replay_miss_never_quotes_a_secret() -> None:
    from mockserver.cassettes.cassette import Cassette
    from mockserver.cassettes.matchers import Matcher

    key = "sk-ant-api03-" + "S3cr3t" * 6
    token = "opaque-Tok3n-7f9c2e1d"
    recorded = Interaction(RecordedRequest("POST", "/v1/messages", [("q", "x")], [("x-api-key", "[REDACTED]")],
                                           orjson.dumps({"messages": [{"role": "user", "content": "hello"}]})), RecordedResponse(200))
    cassette = Cassette([recorded], matcher=Matcher(on=("method", "path", "query", "body", "header:x-api-key")))
    sent = RecordedRequest("POST", "/v1/messages", [("q", key)], [("x-api-key", token)],
                           orjson.dumps({"messages": [{"role": "user", "content": f"my key {key} and {token}"}]}))
    message = cassette.explain_miss(sent)
    assert "closest is #0" in message and "messages" in message
    for trace in (key[:8], "S3cr3t", token[:6], "Tok3n"):
        assert trace not in message, (trace, message)


def test_a_key_in_a_query_name_a_header_name_or_the_reason_is_gone_and_reported() -> None:
    """``?sk-ant-…`` (the key pasted as the whole query), a header named by a key, a reason phrase
    holding one: each reached the file as it was, and ``check`` said nothing of it."""
    item = Interaction(RecordedRequest("GET", "/v1/models", [(KEY, "")], [(KEY, "1")]),
                       RecordedResponse(401, [(f"x-{KEY}", "1")], b"", reason=f"Unauthorized {KEY}"))
    clean = Redactor().interaction(item)
    text = fmt.dumps([clean])
    assert "sk-ant-" not in text and "Zx9_Yw8" not in text
    assert clean.request.query == [(REDACTED, "")] and clean.request.headers == [(REDACTED, "1")]
    assert clean.response.reason == f"Unauthorized {REDACTED}"
    found = [str(f) for f in scan_interactions([item], "c.yaml")]
    assert found == ["c.yaml: interactions[0].request.headers[0] name: Anthropic key (47 characters)",
                     "c.yaml: interactions[0].request.query[0] name: Anthropic key (47 characters)",
                     "c.yaml: interactions[0].response.headers[0] name: Anthropic key (47 characters)",
                     "c.yaml: interactions[0].response.reason: Anthropic key (47 characters)"], found
    assert not any("Zx9" in f for f in found)

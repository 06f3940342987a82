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

"""The journal never shows a secret (issue 11): credential headers were redacted, but a key or an
opaque bearer token in a request body, or echoed in an answer, showed in clear through
``GET /_mock/journal`` and the Python journal. The detector cassette redaction uses now runs over
what an entry shows, at read time; the bytes kept are the wire's."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

from mockserver.harness.testing import MockServer
from mockserver.journal.journal import JournalEntry, access_line
from tests.conftest import HAIKU

KEY = "sk-ant-api03-" + "Zq7xR2mK9pL4vN8wT1yB6cD3fG5hJ0sA" * 3  # shaped like a real key
OPAQUE = "opaquetokenwithoutanydigitsQWERTYzx"  # a bearer token only known from the request itself
ESCAPED_KEY = KEY.replace("-", "\\u002d")  # JSON-escaped: decoded, it is the key


def _post(url: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(
        url + "/v1/messages", data=body, headers={"anthropic-version": "2023-06-01", "content-type": "application/json", **headers},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
        return dict(json.loads(raw)) if not raw.startswith(b"event:") else {"stream": raw}


def _journal(url: str) -> bytes:
    with urllib.request.urlopen(url + "/_mock/journal", timeout=30) as response:
        return bytes(response.read())


def _body(text: str, **extra: Any) -> bytes:
    return json.dumps({"model": HAIKU, "max_tokens": 20, "messages": [{"role": "user", "content": text}], **extra}).encode()


def _shown(raw: str) -> None:
    for secret in (KEY, OPAQUE, KEY[:30], OPAQUE[:20], base64.b64encode(KEY.encode()).decode()[:30]):
        assert secret not in raw, f"{secret[:12]}… shown"


def test_keys_and_tokens_in_bodies_never_show_in_the_journal(mockserver: MockServer) -> None:
    # answers echoing them (as an upstream may; here rules), plain and streamed
    mockserver.reply(f"Your key is {KEY}, base64 {base64.b64encode(KEY.encode()).decode()}.", match={"text": "key"})
    mockserver.reply(f"Your token is {OPAQUE}.", match={"text": "token"})
    url = mockserver.url
    answered = _post(url, {"x-api-key": KEY}, _body(f"echo: my key is {KEY}"))
    assert KEY in answered["content"][0]["text"]  # the client itself sees what it was sent
    _post(url, {"authorization": f"Bearer {OPAQUE}"}, _body(f"echo: my token is {OPAQUE}"))
    _post(url, {"authorization": f"Bearer {OPAQUE}"}, _body("echo the token", stream=True))
    escaped = _body("placeholder").replace(b"placeholder", f"the {ESCAPED_KEY}".encode())  # JSON-escaped
    _post(url, {"x-api-key": KEY}, escaped)

    rendered = _journal(url).decode()
    _shown(rendered)
    _shown(rendered.replace("\\u002d", "-"))
    data = json.loads(rendered)["data"]
    assert len(data) == 4
    first, second, streamed, fourth = data
    assert first["body"]["messages"][0]["content"] == "echo: my key is [REDACTED]"
    assert first["response"]["content"][0]["text"] == "Your key is [REDACTED], base64 [REDACTED]."
    assert second["body"]["messages"][0]["content"] == "echo: my token is [REDACTED]"
    text = "".join(e["data"]["delta"]["text"] for e in streamed["events"] if e["event"] == "content_block_delta")
    assert text == "Your token is [REDACTED]."  # found in the deltas joined, wherever the stream split it
    assert fourth["body"]["messages"][0]["content"] == "the [REDACTED]"
    assert first["headers"]["x-api-key"] == "[REDACTED]" and second["headers"]["authorization"] == "[REDACTED]"

    # the Python journal: the same entries, the same redaction; the wire's bytes are kept
    entries = mockserver.journal.calls()
    _shown(json.dumps([e.to_json() for e in entries]))
    _shown(b"".join(e.render() for e in entries).decode())
    _shown(json.dumps([[e.body, e.response, e.events, e.messages] for e in entries]))
    assert entries[0].messages == [{"role": "user", "content": "echo: my key is [REDACTED]"}]
    assert KEY.encode() in entries[0].request_bytes and KEY.encode() in entries[0].response_bytes


def test_an_entry_too_deep_to_render_as_json_is_redacted_as_text() -> None:
    deep = b'{"k":"' + KEY.encode() + b'","d":' + b"[" * 300 + b"]" * 300 + b"}"
    entry = JournalEntry(
        0, "req_1", "POST", "/v1/messages", {}, {"x-api-key": KEY}, deep, "messages.create", 0.0, status=200,
        response_bytes=deep,
    )
    rendered = entry.render().decode()
    _shown(rendered)
    assert json.loads(rendered)["body"].startswith('{"k":"[REDACTED]","d":[[[')


def test_path_query_other_headers_and_the_error_are_redacted_too() -> None:
    entry = JournalEntry(
        0, "req_1", "GET", f"/v1/files/{KEY}", {"after_id": KEY}, {"authorization": f"Bearer {OPAQUE}", "x-note": OPAQUE},
        b"", "unknown", 0.0, status=404, error=f"no file {KEY}",
        response_bytes=json.dumps({"type": "error", "error": {"type": "not_found_error", "message": f"no file {KEY}"}}).encode(),
    )
    _shown(entry.render().decode())
    data = entry.to_json()
    assert data["path"] == "/v1/files/[REDACTED]" and data["query"] == {"after_id": "[REDACTED]"}
    assert data["headers"] == {"authorization": "[REDACTED]", "x-note": "[REDACTED]"}
    _shown(access_line(entry))


def test_a_short_or_placeholder_credential_is_not_searched_for(mockserver: MockServer) -> None:
    """Credentials under 8 characters (or placeholders) would match everywhere: not searched for."""
    _post(mockserver.url, {"x-api-key": "test"}, _body("a test of the test"))
    entry = mockserver.journal.last_request()
    assert entry.messages == [{"role": "user", "content": "a test of the test"}]

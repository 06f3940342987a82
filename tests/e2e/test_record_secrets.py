"""A real ``mockserver record`` in front of an upstream that echoes the client's credentials back
(streamed a few tokens per delta, so the key is split across events; JSON-escaped; base64) leaves
no trace of them in the cassette, in any encoding, and ``cassette check`` agrees."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

import anthropic

from mockserver.cassettes import format as fmt
from mockserver.harness.cli import main
from mockserver.harness.testing import MockServer

KEY = "sk-ant-api03-Ech0edK3y_9f8e7d6c5b4a3-ZyXwVuTsRqPoNm"
TOKEN = "opaqueTok3n-4b9d2c7e1f0a8b6c"  # no known shape: found because the client sent it
COOKIE = "sid-77f1e2d3c4b5a697"


def _traces(secret: str) -> list[str]:
    raw = secret.encode()
    forms = {secret, json.dumps(secret)[1:-1], secret.replace("-", "\\u002d"), secret.replace("-", "\\u002D")}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        forms.add(encoded.decode().rstrip("="))
    forms.add(secret[len(secret) // 2 :])  # its second half alone
    return sorted(forms)


def _record(cassette: Path, upstream: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "record", "--cassette", str(cassette), "--upstream", upstream, "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    for line in proc.stdout:  # type: ignore[union-attr]
        if line.startswith("export ANTHROPIC_BASE_URL="):
            return proc, line.strip().split("=", 1)[1]
    proc.kill()
    raise AssertionError("the recorder printed no export line")


def test_echoed_credentials_leave_no_trace_in_any_encoding(tmp_path: Path, make_server: Callable[..., MockServer]) -> None:
    upstream = make_server(seed=7)
    escaped = KEY.replace("-", "\\u002d")
    split = ['{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"' + piece + '"}}'
             for piece in ("Your key is sk-", "ant", "-api03-Ech0edK3y_9f8e", "7d6c5b4a3-ZyXwVuTsRqPoNm", " (escaped: ", escaped[:17], escaped[17:], ")")]
    upstream.add_rules([
        # The ordinary fake model streams this a few tokens per delta: the key is split across events.
        {"name": "echo", "match": {"text": "echo"}, "reply": f"You sent {KEY} with {TOKEN} and {COOKIE}, all in clear."},
        {"name": "raw", "match": {"text": "raw"}, "stream": {"events": [
            {"data": {"type": "message_start", "message": {"id": "msg_011CX", "type": "message", "role": "assistant", "content": [],
                                                            "model": "claude-haiku-4-5", "stop_reason": None, "stop_sequence": None,
                                                            "usage": {"input_tokens": 1, "output_tokens": 1}}}},
            {"data": {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}},
            *({"event": "content_block_delta", "data": piece} for piece in split),
            {"data": {"type": "content_block_stop", "index": 0}},
            {"data": {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 9}}},
            {"data": {"type": "message_stop"}},
        ]}},
        {"name": "b64", "match": {"endpoint": "models.list"}, "json": {"body": {
            "data": [], "has_more": False, "first_id": None, "last_id": None,
            "echo": {"key_b64": base64.b64encode(KEY.encode()).decode(), "token_b64": base64.urlsafe_b64encode(TOKEN.encode()).decode(),
                     "escaped": escaped}}}},
    ])
    cassette = tmp_path / "secrets.yaml"
    proc, url = _record(cassette, upstream.url)
    try:
        # A client with a bearer token first (the SDK then sends no x-api-key): the key echoed in
        # this answer is found by its shape (base64 of it too), the token because a request sent it.
        with anthropic.Anthropic(base_url=url, auth_token=TOKEN, api_key=None) as client:
            client.models.list()
        with anthropic.Anthropic(base_url=url, api_key=KEY, default_headers={"cookie": f"sid={COOKIE}"}) as client:
            for prompt in ("echo it", "raw it"):
                with client.messages.stream(model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]) as stream:
                    seen = stream.get_final_text()
                assert "sk-ant-" in seen  # the client did get its key back: it is the file that must not hold it
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    data = cassette.read_bytes()
    text = data.decode()
    for secret in (KEY, TOKEN, COOKIE):
        for trace in _traces(secret):
            assert trace not in text, (secret, trace)
    assert "sk-ant-" not in text and "[REDACTED]" in text
    interactions = fmt.load(cassette)
    assert len(interactions) == 3
    streamed = []
    for item in interactions:  # nor in the bytes the file decodes to, nor in a stream's text joined again
        text = "".join(json.loads(f.raw.split(b"data: ", 1)[1]).get("delta", {}).get("text", "")
                       for f in item.response.chunks() if b"text_delta" in f.raw)
        streamed.append(text)
        for secret in (KEY, TOKEN, COOKIE):
            for trace in _traces(secret):
                assert trace.encode() not in item.request.body and trace.encode() not in item.response.body, (secret, trace)
                assert trace not in text, (secret, trace)
    assert streamed[1].startswith("You sent [REDACTED] with [REDACTED] and [REDACTED]")
    assert streamed[2] == "Your key is [REDACTED] (escaped: [REDACTED])"
    assert main(["cassette", "check", str(cassette)]) == 0

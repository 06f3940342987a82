"""Hypothesis strategies for what a client can send the server: valid, nearly valid and invalid
bodies, wrong and odd headers, framings, random methods and targets, protocol garbage.

Used by the self-fuzz (tests/fuzz/test_self_fuzz.py); requests are bytes (see ``wire.request``)
so nothing an HTTP library would refuse to send is out of reach.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

from hypothesis import strategies as st

# -- bodies -----------------------------------------------------------------------------------------
ODD_TEXT = st.text(max_size=20) | st.sampled_from(["", "🧪𝔘\u0301", "\x00", "\ufeff", "\u202e", "a" * 3000]) | st.characters(categories=["Cs"]).map(str)
"""Text including lone surrogates (``json.dumps`` writes them as ``\\ud800`` escapes)."""
HUGE_NUMBERS = st.sampled_from([2**64, -(2**63) - 1, 10**400, 1e308, -1e308, 5e-324]) | st.integers(-(2**200), 2**200)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | HUGE_NUMBERS | ODD_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ODD_TEXT, children, max_size=5),
    max_leaves=25,
)
FIELDS = ["model", "max_tokens", "messages", "system", "tools", "tool_choice", "thinking", "stream", "stop_sequences",
          "metadata", "temperature", "top_p", "top_k", "output_config", "cache_control", "service_tier"]


def nest(depth: int, leaf: Any, lists: bool) -> Any:
    for _ in range(depth):
        leaf = [leaf] if lists else {"a": leaf}
    return leaf


DEEP = st.builds(nest, st.integers(1, 600), JSON, st.booleans())
"""Values nested up to 600 levels (past orjson's 255 the whole body must be a clean 400)."""
DEEP_BODY = st.tuples(st.integers(200, 12_000), st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")])).map(lambda t: t[1][0] * t[0] + b"1" + t[1][1] * t[0])
"""Whole bodies nested up to 12,000 levels, written as bytes (no encoder would go that deep)."""
BLOCK = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking", "bogus"])},
    optional={"text": JSON, "source": JSON, "id": JSON, "name": JSON, "input": JSON | DEEP, "content": JSON, "tool_use_id": JSON,
              "thinking": JSON, "signature": JSON, "cache_control": JSON, "citations": JSON},
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "bot"]), "content": ODD_TEXT | st.lists(BLOCK, max_size=3) | DEEP}
)
NEAR_VALID = st.fixed_dictionaries(
    {"model": st.sampled_from(["claude-haiku-4-5", "claude-opus-4-7", "claude-sonnet-4-5", "nope"]) | JSON,
     "max_tokens": st.integers(-5, 200_000) | HUGE_NUMBERS | JSON,
     "messages": st.lists(MESSAGE, max_size=4) | JSON},
    optional={name: JSON | DEEP for name in FIELDS[3:]} | {"stream": st.booleans(), "thinking": st.fixed_dictionaries(
        {"type": st.sampled_from(["enabled", "adaptive", "disabled", "nope"])}, optional={"budget_tokens": st.integers(-10, 5000) | HUGE_NUMBERS})},
)
VALID = st.fixed_dictionaries(
    {"model": st.sampled_from(["claude-haiku-4-5", "claude-sonnet-4-5"]), "max_tokens": st.integers(1, 300),
     "messages": st.tuples(ODD_TEXT.filter(str.strip)).map(lambda t: [{"role": "user", "content": t[0]}])},
    optional={"stream": st.booleans(), "system": ODD_TEXT, "metadata": st.just({"user_id": "fuzz"})},
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


BODIES = st.one_of(
    VALID.map(_dumps),
    NEAR_VALID.map(_dumps),
    JSON.map(_dumps),
    DEEP.map(_dumps),
    DEEP_BODY,
    st.binary(max_size=300),
    st.sampled_from([b"", b"{", b"null", b"NaN", b'{"model": Infinity}', b"\xef\xbb\xbf{}", '{"a": "\ud800"}'.encode("utf-8", "surrogatepass")]),
    st.text(max_size=200).map(lambda t: t.encode("utf-16")),
)

# -- headers ----------------------------------------------------------------------------------------
Header = tuple[str | bytes, str | bytes]
CREDENTIALS = st.sampled_from([
    [("x-api-key", "sk-ant-fuzz")], [("x-api-key", "sk-ant-fuzz")], [], [("x-api-key", "")], [("authorization", "Bearer sk-ant-fuzz")],
    [("authorization", "Bearer ")], [("authorization", "Basic YTpi")], [("x-api-key", "a"), ("x-api-key", "b")],
    [("x-api-key", "k" * 8000)], [("x-api-key", "ключ")], [(b"x-api-key", b"\xff\xfe")],
])
VERSIONS = st.sampled_from([
    [("anthropic-version", "2023-06-01")], [("anthropic-version", "2026-10-21")], [("anthropic-version", "2023-06-01")], [],
    [("anthropic-version", "")], [("anthropic-version", "1999-01-01")], [("anthropic-version", "2023-06-01, 2026-10-21")],
    [("anthropic-version", "2023-06-01"), ("anthropic-version", "2026-10-21")],
])
CONTENT_TYPES = st.sampled_from([
    [("content-type", "application/json")], [("content-type", "application/json")], [("content-type", "application/json; charset=utf-8")],
    [], [("content-type", "text/plain")], [("content-type", "application/x-www-form-urlencoded")],
    [("content-type", "multipart/form-data; boundary=x")], [("content-type", "application/vnd.api+json")], [("content-type", "")],
    [("content-type", "application/json; charset=latin-1")], [("content-type", "application/json"), ("content-type", "text/html")],
    [("content-type", ";;;=")],
])
BETAS = st.sampled_from([[], [], [("anthropic-beta", "prompt-caching-2024-07-31")], [("anthropic-beta", ",, ,garbage")],
                         [("anthropic-beta", "x" * 4000)], [("anthropic-beta", "files-api-2025-04-14,context-1m-2025-08-07")]])
TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_0123456789!#$%&'*+.^`|~", min_size=1, max_size=30)
EXTRA = st.lists(
    st.tuples(TOKEN, st.text(max_size=60).map(lambda v: v.replace("\r", "").replace("\n", "")))
    | st.tuples(st.sampled_from(["x-stainless-retry-count", "x-stainless-timeout", "idempotency-key", "accept-encoding", "connection",
                                 "expect", "upgrade", "x-should-retry", "retry-after", "cookie", "accept"]),
                st.sampled_from(["0", "-1", "1e9", "abc", "100-continue", "close", "keep-alive", "gzip, br", "h2c", "websocket", ""]))
    | st.tuples(st.binary(min_size=1, max_size=8), st.binary(max_size=20)),  # names and values that are not even text
    max_size=5,
)


@st.composite
def framed(draw: st.DrawFn, body: bytes) -> tuple[list[Header], bytes, int | None]:
    """The body as sent: as it is, chunked, or compressed (headers, bytes, Content-Length)."""
    how = draw(st.sampled_from(["plain", "plain", "chunked", "gzip", "deflate", "bad-gzip"]))
    if how == "chunked":
        sizes = draw(st.lists(st.integers(1, 64), max_size=6))
        chunks, at = [], 0
        for size in sizes:
            chunks.append(body[at : at + size])
            at += size
        chunks.append(body[at:])
        raw = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"
        return [("transfer-encoding", "chunked")], raw, None
    if how == "gzip":
        return [("content-encoding", "gzip")], gzip.compress(body), len(gzip.compress(body))
    if how == "deflate":
        return [("content-encoding", "deflate")], zlib.compress(body), len(zlib.compress(body))
    if how == "bad-gzip":
        return [("content-encoding", "gzip")], b"\x1f\x8b" + body, len(body) + 2
    return [], body, len(body) if body else draw(st.sampled_from([None, 0]))


# -- request lines ----------------------------------------------------------------------------------
KNOWN_PATHS = ["/v1/messages", "/v1/messages/count_tokens", "/v1/models", "/v1/models/claude-haiku-4-5", "/v1/messages/batches",
               "/v1/messages/batches/msgbatch_011CAAAAAAAAAAAAAAAAAAAA", "/v1/messages/batches/msgbatch_x/results",
               "/v1/messages/batches/msgbatch_x/cancel", "/v1/complete", "/v1/nope", "/", "/v1/messages?beta=true",
               "/v1/files", "/v1/files?beta=true", "/v1/files/file_011CAAAAAAAAAAAAAAAAAAAA", "/v1/files/file_x/content"]
SEGMENT = st.text(alphabet="abcvxyz019_-.~%!$&'()*+,;=:@", max_size=12)
PATHS = st.sampled_from(KNOWN_PATHS) | st.lists(SEGMENT, min_size=1, max_size=6).map(lambda s: "/" + "/".join(s)) | st.sampled_from(KNOWN_PATHS).flatmap(
    lambda p: st.text(alphabet="?&=%ab1[]#/", max_size=20).map(lambda q: p + q)
)
METHODS = st.sampled_from(["GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"]) | st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10
)
GARBAGE = st.one_of(
    st.binary(min_size=1, max_size=400),
    st.tuples(st.binary(max_size=20), st.sampled_from([b" ", b"  ", b"\t"]), st.binary(max_size=40), st.sampled_from([b" HTTP/1.1", b" HTTP/9.9", b"", b" http/1.1"])).map(
        lambda t: b"".join(t) + b"\r\nHost: x\r\n\r\n"
    ),
    st.sampled_from([
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"GET / HTTP/1.1\n\n", b"\r\n\r\n\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nx: " + b"a" * 70_000 + b"\r\n\r\n",
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", b"POST /v1/messages HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    ]),
)

"""Unit tests of the wire-format code: token pieces, SSE framing and event plans, ids, media
sniffing, pagination and response headers."""

from __future__ import annotations

import base64

import random
import re
import struct
import time
import zlib

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from anthropic._models import construct_type
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.ids import BASE58, IdGenerator
from mockserver.protocol.headers import (
    RATELIMIT_PREFIX, Bucket, StaticHeaders, http_date, ratelimit_headers, says_no_retry, sdk_retries, unsafe_in_header,
)
from mockserver.protocol.media import image_size, pdf_page_count, sniff_image_type
from mockserver.protocol.message import build_message, build_usage
from mockserver.protocol.pagination import PageQuery, paginate, parse_page_query
from mockserver.protocol.numbers import decimal
from mockserver.protocol.errors import ApiError
from mockserver.protocol.sse import PING_DATA, frame, message_events, pad
from mockserver.protocol import tokens
from mockserver.protocol.media import pdf_text
from mockserver.protocol.tokens import count_request, count_text, image_tokens, profile_for, split_pieces


# -- tokens -------------------------------------------------------------------------------------
@settings(max_examples=300)
@given(st.text())
def test_pieces_are_lossless_and_counted_once(text: str) -> None:
    pieces = split_pieces(text)
    assert "".join(pieces) == text
    assert count_text(text) == len(pieces)
    assert all(pieces)


def test_pieces_look_like_bpe_tokens() -> None:
    assert split_pieces('Hello, world! 125 supercalifragilistic_x {"a": 1}') == [
        "Hello", ",", " world", "!", " 1", "2", "5", " supercal", "ifragili", "stic", "_", "x", ' {"', "a", '":', " 1", "}",
    ]


def test_request_count_adds_fixed_costs_and_reports_cache_breakpoints() -> None:
    body = {
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello there", "cache_control": {"type": "ephemeral"}}]}],
    }
    counted = count_request(body)
    # 1 request + 3 ("Be", " brief", ".") + 3 turn marker + 2 ("Hello", " there") + 3 opened assistant turn
    assert counted.total == 1 + 3 + 3 + 2 + 3
    assert [(b.prefix_tokens, b.ttl, b.location) for b in counted.breakpoints] == [(4, "1h", "system.0"), (9, "5m", "messages.0.content.0")]
    prefill = {"messages": [*body["messages"], {"role": "assistant", "content": "Hi"}]}
    assert count_request(prefill).total == 1 + 3 + 2 + 3 + 1  # a final assistant turn is continued, not opened


def test_model_ids_and_aliases_map_to_their_family() -> None:
    families = {
        "claude-3-opus-latest": "claude-3-opus", "claude-3-haiku-20240307": "claude-3-haiku",
        "claude-3-5-haiku-latest": "claude-3-haiku", "claude-3-5-sonnet-20240620": "claude-3-5-sonnet-june",
        "claude-3-5-sonnet-20241022": "claude-3-5-sonnet", "claude-3-7-sonnet-20250219": "claude-3-5-sonnet",
        "claude-sonnet-4-20250514": "claude-4", "claude-sonnet-4-0": "claude-4", "claude-opus-4-1-20250805": "claude-4",
        "claude-haiku-4-5": "claude-4-5", "claude-sonnet-4-5-20250929": "claude-4-5", "claude-opus-4-6": "claude-4-5",
        "claude-opus-5": "claude-4-5", "something-else": "claude-4-5",
    }
    assert {model: profile_for(model).family for model in families} == families


def _user(text: str = "What is the weather in Paris?", **extra: object) -> dict:
    return {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": text}], **extra}


def test_tools_add_the_family_tool_prompt_by_tool_choice() -> None:
    tool = {"name": "get_weather", "description": "Weather of a city", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
    bare = count_request(_user()).total
    offered = count_request(_user(tools=[tool])).total - bare
    forced = count_request(_user(tools=[tool], tool_choice={"type": "any"})).total - bare
    definition = count_text('<function>{"description": "Weather of a city", "name": "get_weather", "parameters": '
                            '{"type": "object", "properties": {"city": {"type": "string"}}}}</function>')
    profile = profile_for("claude-haiku-4-5")
    assert offered == profile.tool_prompt + definition and forced == profile.tool_prompt_forced + definition
    older = count_request({**_user(tools=[tool]), "model": "claude-3-haiku-20240307"}).total - bare
    assert older == profile_for("claude-3-haiku-20240307").tool_prompt + definition
    search = count_request(_user(tools=[{"type": "web_search_20250305", "name": "web_search"}])).total - bare
    assert search == profile.tool_prompt + tokens.SERVER_TOOL_TOKENS["web_search"]


def test_thinking_and_structured_output_add_their_instructions() -> None:
    bare = count_request(_user()).total
    assert count_request(_user(thinking={"type": "enabled", "budget_tokens": 2048})).total == bare + tokens.THINKING_ENABLED
    assert count_request(_user(thinking={"type": "adaptive"})).total == bare + tokens.THINKING_ADAPTIVE
    assert count_request(_user(thinking={"type": "disabled"})).total == bare
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    shaped = count_request(_user(output_config={"format": {"type": "json_schema", "schema": schema}})).total
    assert shaped == bare + tokens.OUTPUT_FORMAT_OVERHEAD + count_text('{"type": "object", "properties": {"name": {"type": "string"}}}')
    assert count_request(_user(output_format={"type": "json_schema", "schema": schema})).total == shaped  # the beta spelling


def test_tool_turns_and_citations_are_counted() -> None:
    call = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"}
    assert tokens.block_tokens(call) == tokens.TOOL_USE_OVERHEAD + count_text("get_weather") + count_text("city") + count_text("Paris")
    assert tokens.block_tokens(result) == tokens.TOOL_RESULT_OVERHEAD + count_text("Sunny")
    text = "Ruby was created in 1993. It is a language! Is it fun?"
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}}
    plain = count_request({"messages": [{"role": "user", "content": [document]}]}).total
    cited = count_request({"messages": [{"role": "user", "content": [{**document, "citations": {"enabled": True}}]}]}).total
    assert tokens.sentence_count(text) == 3
    assert cited - plain == tokens.CITATIONS_OVERHEAD + 3 * tokens.CITATION_CHUNK


def test_images_without_bytes_and_pdfs_are_sized() -> None:
    by_url = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}}
    assert tokens.block_tokens(by_url) == tokens.REMOTE_IMAGE_TOKENS
    pdf = (b"%PDF-1.4\n1 0 obj <</Type /Page>> endobj\n2 0 obj <</Length 60>>\nstream\n"
           b"BT /F1 12 Tf (Hello \\(PDF\\) world.) Tj ET BT [(Sec) -20 (ond.)] TJ ET\nendstream\n")
    assert pdf_text(pdf) == "Hello (PDF) world.\nSecond."
    escapes = b"%PDF-1.4\nstream\nBT (a\\bb\\fc\\td\\101) Tj ET\nendstream\n"
    assert pdf_text(escapes) == "abc\tdA"  # backspace and form feed dropped (they raised)
    block = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(pdf).decode()}}
    assert tokens.block_tokens(block) == tokens.PDF_PAGE_TOKENS + tokens.PDF_PAGE_OVERHEAD + count_text("Hello (PDF) world.\nSecond.")


def test_pdf_text_takes_linear_time_whatever_the_bytes() -> None:
    """A "(" or "[" without its end (or a "stream" without "endstream") made every later one read
    the rest again: 30 KB of "(" took 15 seconds, in the loop every other client waits on."""
    streams = (b"(" * 30_000, b"[" * 30_000, b"[" + b"(" * 30_000 + b"] TJ", b"(" + b"\\(" * 15_000, b"[(" * 15_000)
    for pdf in [b"%PDF-1.4\nstream\nBT " + hostile + b"\nendstream\n" for hostile in streams] + [b"%PDF-1.4\n" + b"stream\n" * 30_000]:
        started = time.monotonic()
        assert pdf_text(pdf) == ""
        assert time.monotonic() - started < 1  # generous: each takes milliseconds


def test_every_prompt_part_is_a_unit_so_cache_prefixes_add_up() -> None:
    body = _user(tools=[{"name": "t", "input_schema": {}}], thinking={"type": "enabled", "budget_tokens": 2048},
                 system="Be brief.", cache_control={"type": "ephemeral"})
    counted = count_request(body)
    units = list(tokens.cacheable_units(body))
    assert counted.total == tokens.REQUEST_OVERHEAD + sum(n for n, _, _ in units)
    assert [location for _, _, location in units] == ["tools", "tools.0", "system", "thinking", "messages.0", "messages.0.content", "assistant"]
    # automatic caching marks the last block: the prefix stops before the opened assistant turn
    assert counted.breakpoints[-1].prefix_tokens == counted.total - tokens.ASSISTANT_PROMPT


def test_image_tokens_follow_the_documented_scaling() -> None:
    assert image_tokens(200, 200) == 54  # ceil(40000 / 750)
    assert image_tokens(1092, 1092) == image_tokens(4000, 4000)  # both capped near 1.15 megapixels
    assert image_tokens(0, 10) == 1600


# -- media ----------------------------------------------------------------------------------------
def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)) + chunk(b"IEND", b"")


def test_images_are_sniffed_and_sized() -> None:
    assert sniff_image_type(_png(3, 7)) == "image/png" and image_size(_png(3, 7)) == (3, 7)
    gif = b"GIF89a" + struct.pack("<HH", 20, 10) + b"\x00" * 8
    assert sniff_image_type(gif) == "image/gif" and image_size(gif) == (20, 10)
    jpeg = b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9 + b"\xff\xc0" + struct.pack(">HBHH", 11, 8, 480, 640) + b"\x00" * 4
    assert sniff_image_type(jpeg) == "image/jpeg" and image_size(jpeg) == (640, 480)
    webp = b"RIFF" + b"\x00" * 4 + b"WEBPVP8X" + b"\x00" * 8 + (99).to_bytes(3, "little") + (49).to_bytes(3, "little")
    assert sniff_image_type(webp) == "image/webp" and image_size(webp) == (100, 50)
    assert sniff_image_type(b"not an image") is None and image_size(b"") is None


def test_pdf_pages() -> None:
    pdf = b"%PDF-1.7\n1 0 obj <</Type /Pages /Count 2>>\n2 0 obj <</Type /Page>>\n3 0 obj <</Type/Page>>\n"
    assert pdf_page_count(pdf) == 2
    assert pdf_page_count(b"%PDF-1.4\n") == 1
    assert pdf_page_count(b"plain text") is None


# -- ids ----------------------------------------------------------------------------------------
def test_ids_have_the_real_formats_and_repeat_with_a_seed() -> None:
    ids = IdGenerator(seed=5)
    made = {"msg": ids.message(), "req": ids.request(), "toolu": ids.tool_use(), "msgbatch": ids.batch()}
    assert re.fullmatch(rf"msg_011C[{BASE58}]{{20}}", made["msg"]) and len(made["msg"]) == 28
    assert re.fullmatch(rf"req_011C[{BASE58}]{{20}}", made["req"])
    assert re.fullmatch(rf"toolu_01[{BASE58}]{{22}}", made["toolu"]) and len(made["toolu"]) == 30
    assert re.fullmatch(rf"msgbatch_01[{BASE58}]{{22}}", made["msgbatch"]) and len(made["msgbatch"]) == 33
    again = IdGenerator(seed=5)
    assert [again.message(), again.request()] == [made["msg"], made["req"]]
    assert IdGenerator().message() != IdGenerator().message()


# -- SSE ------------------------------------------------------------------------------------------
def test_framing_and_padding() -> None:
    assert frame("ping", PING_DATA) == b'event: ping\ndata: {"type": "ping"}\n\n'
    assert frame(None, b"{}") == b"data: {}\n\n"
    rng = random.Random(0)
    padded = [pad(b'{"a":1}', rng) for _ in range(200)]
    assert all(re.fullmatch(rb'\{"a":1 {0,15}\}', p) for p in padded)
    assert 0.8 < sum(p != b'{"a":1}' for p in padded) / 200 < 1.0
    assert pad(b'{"a":1}', None) == b'{"a":1}'


def _message(content: list[dict]) -> dict:
    usage = build_usage(input_tokens=12, output_tokens=40, thinking_tokens=10)
    return build_message(id="msg_011CAAAAAAAAAAAAAAAAAAAA", model="claude-haiku-4-5-20251001", content=content,
                         stop_reason="tool_use", usage=usage)


CONTENT = [
    {"type": "thinking", "thinking": "Let me think about the weather in Paris.", "signature": "c2lnbmF0dXJl"},
    {"type": "text", "text": "I'll check the weather.", "citations": [{"type": "char_location", "cited_text": "x", "document_index": 0,
                                                                      "document_title": None, "start_char_index": 0, "end_char_index": 1}]},
    {"type": "tool_use", "id": "toolu_01AAAAAAAAAAAAAAAAAAAAAA", "name": "get_weather", "input": {"city": "Paris", "days": [1, 2, 3], "unit": "c"}},
    {"type": "redacted_thinking", "data": "opaque"},
]


@pytest.mark.parametrize("seed", range(5))
def test_event_plan_accumulates_back_to_the_message(seed: int) -> None:
    message = _message(CONTENT)
    events = message_events(message, random.Random(seed))
    names = [e.name for e in events]
    assert names[0] == "message_start" and names[1] == "content_block_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("ping") == 1 and names.index("ping") in (2, 3, 4)  # within the first block
    assert all(n == "content_block_delta" for n in names[2 : names.index("ping")])
    assert sum(1 for e in events if e.data.get("delta", {}).get("type") == "signature_delta") == 1
    json_parts = [e.data["delta"]["partial_json"] for e in events if e.data.get("delta", {}).get("type") == "input_json_delta"]
    assert json_parts[0] == "" and len(json_parts) >= 3 and "".join(json_parts) == orjson.dumps(CONTENT[2]["input"]).decode()
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in events:
        if event.name == "ping":
            continue
        parsed = construct_type(type_=RawMessageStreamEvent, value=orjson.loads(event.encode(random.Random(seed)).split(b"data: ", 1)[1]))
        snapshot = accumulate_event(event=parsed, current_snapshot=snapshot, json_bufs=buffers)
    assert snapshot is not None
    assert Message.model_validate(message).model_dump() == Message.model_validate(snapshot.model_dump()).model_dump()


def test_the_ping_comes_where_the_real_api_puts_it() -> None:
    """Right after the first content_block_start in most streams (32 of 37 recorded), else after
    that block's first one or two deltas; drawn per message, so a seed repeats it."""
    message = _message([{"type": "text", "text": "one two three four five six seven eight nine ten " * 3}])
    after = [[e.name for e in message_events(message, random.Random(seed))].index("ping") - 2 for seed in range(600)]
    assert set(after) == {0, 1, 2}
    assert 0.80 < after.count(0) / len(after) < 0.93
    assert after.count(2) > after.count(1) > 0
    first = [(e.name, e.data) for e in message_events(message, random.Random(7))]
    assert first == [(e.name, e.data) for e in message_events(message, random.Random(7))]
    # a first block with no deltas (redacted thinking) pings right after its start
    opaque = _message([{"type": "redacted_thinking", "data": "opaque"}])
    for seed in range(40):
        names = [e.name for e in message_events(opaque, random.Random(seed))]
        assert names[:4] == ["message_start", "content_block_start", "ping", "content_block_stop"]


def test_an_empty_message_still_pings() -> None:
    events = message_events(_message([]), random.Random(1))
    assert [e.name for e in events] == ["message_start", "ping", "message_delta", "message_stop"]


# -- pagination --------------------------------------------------------------------------------
ITEMS = [f"id{i}" for i in range(10)]


def _page(**query: str) -> dict:
    return paginate(ITEMS, parse_page_query(query), lambda x: x, lambda x: x)


def test_pages_in_both_directions() -> None:
    assert _page(limit="3") == {"data": ["id0", "id1", "id2"], "has_more": True, "first_id": "id0", "last_id": "id2"}
    assert _page(limit="3", after_id="id7")["data"] == ["id8", "id9"] and not _page(limit="3", after_id="id7")["has_more"]
    assert _page(limit="3", before_id="id5") == {"data": ["id2", "id3", "id4"], "has_more": True, "first_id": "id2", "last_id": "id4"}
    assert _page(limit="3", before_id="id2")["has_more"] is False
    assert _page(after_id="id9") == {"data": [], "has_more": False, "first_id": None, "last_id": None}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "0"}, "limit: Input should be greater than or equal to 1"),
        ({"limit": "1001"}, "limit: Input should be less than or equal to 1000"),
        ({"limit": "x"}, "limit: Input should be a valid integer, unable to parse string as an integer"),
        ({"before_id": "a", "after_id": "b"}, "Only one of before_id and after_id may be specified."),
    ],
)
def test_bad_page_queries(query: dict, message: str) -> None:
    with pytest.raises(ApiError, match=re.escape(message)):
        parse_page_query(query)


NOT_DIGITS = ["1_0", " 7", "7 ", "+5", "\t5", "5\n", "\u0663", "\u00b2", "\uff15", "0x10", "1e3", "1.0", "", "-", "--1", "- 1"]


@pytest.mark.parametrize("raw", NOT_DIGITS)
def test_a_page_limit_is_plain_decimal_digits(raw: str) -> None:
    """int() took underscores, spaces, a plus sign and any script's digits: ``limit=1_0`` was 10."""
    with pytest.raises(ApiError, match="limit: Input should be a valid integer, unable to parse string as an integer"):
        parse_page_query({"limit": raw})
    assert parse_page_query({"limit": raw}, lenient=True).limit == 20  # as any other unreadable limit


def test_a_negative_page_limit_is_out_of_range_not_unreadable() -> None:
    with pytest.raises(ApiError, match="limit: Input should be greater than or equal to 1"):
        parse_page_query({"limit": "-3"})
    assert parse_page_query({"limit": "-3"}, lenient=True).limit == 1
    assert parse_page_query({"limit": "007"}).limit == 7


def test_decimal_reads_only_ascii_digits() -> None:
    for raw in NOT_DIGITS:
        assert decimal(raw) is None and decimal(raw, signed=True) is None
    assert decimal("0") == 0 and decimal("00120") == 120 and decimal("-4") is None and decimal("-4", signed=True) == -4
    assert decimal("9" * 40) == int("9" * 40) and decimal("1" * 5000) is None  # past int()'s digit limit: unreadable


def test_lenient_pages_forgive() -> None:
    assert parse_page_query({"limit": "5000", "before_id": "a", "after_id": "b"}, lenient=True) == PageQuery(1000, None, "b")
    assert paginate(ITEMS, PageQuery(2, None, "unknown"), str, str, lenient=True)["data"] == ["id0", "id1"]
    with pytest.raises(ApiError, match="Invalid pagination cursor"):
        paginate(ITEMS, PageQuery(2, None, "unknown"), str, str)


# -- headers ------------------------------------------------------------------------------------
def test_ratelimit_headers_in_the_real_format() -> None:
    headers = ratelimit_headers(Bucket(50, 49, 1_767_225_600), Bucket(40_000, 31_500, 1_767_225_630), Bucket(8_000, 7_999, 1_767_225_610))
    assert len(headers) == 12 and all(k.startswith(RATELIMIT_PREFIX) for k in headers)
    assert headers["anthropic-ratelimit-requests-remaining"] == "49"
    assert headers["anthropic-ratelimit-input-tokens-remaining"] == "31000"  # rounded down to thousands
    assert headers["anthropic-ratelimit-tokens-limit"] == "48000"  # input + output
    assert headers["anthropic-ratelimit-tokens-reset"] == "2026-01-01T00:00:30Z"


def test_static_headers_by_status() -> None:
    static = StaticHeaders("org-uuid", edge=True)
    limits = {"anthropic-ratelimit-requests-limit": "1"}
    ok = static.for_status(200, limits)
    assert ok["anthropic-ratelimit-requests-limit"] == "1" and ok["server"] == "cloudflare" and "x-should-retry" not in ok
    ok["request-id"] = "req_x"  # copies: the cached set never changes
    assert "request-id" not in static.for_status(200, limits)
    assert static.for_status(400)["x-should-retry"] == "false" and "anthropic-ratelimit-requests-limit" not in static.for_status(400)
    assert "x-should-retry" not in static.for_status(429) and "x-should-retry" not in static.for_status(529)
    assert "server" not in StaticHeaders("org", edge=False).for_status(500)
    assert "anthropic-ratelimit-requests-limit" not in static.for_status(200)  # only where limits are given
    assert static.for_status(403)["anthropic-organization-id"] == "org-uuid"
    unauthenticated = static.for_status(401)  # no key, no organisation: real 401s carry no id
    assert "anthropic-organization-id" not in unauthenticated and unauthenticated["x-should-retry"] == "false"


def test_static_success_headers_serialized_once_match_the_multidict() -> None:
    static = StaticHeaders("org-uuid", edge=True)
    limits = {"anthropic-ratelimit-requests-limit": "1", "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:00Z"}
    lines, constant, rest = static.success_serialized(limits)
    everything = static.for_status(200, limits)
    assert list(rest.items()) == [("server", "cloudflare")]  # aiohttp adds its own unless it sees ours
    assert lines.decode() == "".join(f"{k}: {v}\r\n" for k, v in everything.items() if k != "server")
    assert [*constant.items(), *rest.items()] == list(everything.items())
    rest["request-id"] = "req_x"  # a copy
    assert "request-id" not in static.success_serialized(limits)[2]
    assert list(StaticHeaders("org", edge=False).success_serialized(limits)[2].items()) == []
    plain, _, _ = static.success_serialized(None)
    assert b"anthropic-ratelimit" not in plain and b"anthropic-organization-id: org-uuid" in plain


@pytest.mark.parametrize("bad", ["org\r\nx-injected: 1", "org\x00", "org\x7f"])
def test_an_organization_id_that_cannot_be_a_header_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="organization id"):
        StaticHeaders(bad, edge=True)


def test_unsafe_in_header_is_every_control_character_but_tab() -> None:
    unsafe = {chr(c) for c in range(0x110000) if unsafe_in_header(chr(c))}
    assert unsafe == {chr(c) for c in (*range(0x20), 0x7F)} - {"\t"}
    assert not unsafe_in_header("org-uuid \t é 🧪") and unsafe_in_header("org\r\nx-injected: 1")


def test_the_sdk_retry_rule_and_the_x_should_retry_header_agree() -> None:
    static = StaticHeaders("org", edge=False)
    assert [s for s in range(400, 600) if sdk_retries(s)] == [408, 409, 429, *range(500, 600)]
    for status in range(400, 600):
        assert says_no_retry(status) == (status < 500 and not sdk_retries(status))
        assert static.for_status(status).get("x-should-retry") == ("false" if says_no_retry(status) else None)


def test_http_date_is_the_imf_fixdate_form() -> None:
    assert http_date(1792567680) == "Wed, 21 Oct 2026 07:28:00 GMT"


def test_the_access_line_says_what_happened() -> None:
    from mockserver.journal.journal import JournalEntry, access_line

    def entry(**fields: object) -> JournalEntry:
        base: dict[str, object] = dict(
            seq=1, request_id="req_1", method="POST", path="/v1/messages", query={}, raw_headers={}, request_bytes=b"",
            endpoint="messages.create", received_at=1_767_225_600.25, status=200, origin="default", duration_ms=12.34,
            model="claude-haiku-4-5",
        )
        base.update(fields)
        return JournalEntry(**base)  # type: ignore[arg-type]

    ok = access_line(entry(input_tokens=12, output_tokens=40, streamed=True))
    assert ok == "00:00:00.250 POST /v1/messages 200 claude-haiku-4-5 in=12 out=40 12.3ms stream"
    limited = access_line(entry(status=429, origin="ratelimit", error="This request would exceed the rate limit",
                                response_bytes=b'{"type":"error","error":{"type":"rate_limit_error","message":"x"}}'))
    assert limited.endswith("429 claude-haiku-4-5 12.3ms rate_limit_error: This request would exceed the rate limit (rate limit)")
    dropped = access_line(entry(streamed=True, faults=["drop_after_events=3", "dropped after 3 events"], origin="flaky"))
    assert dropped.endswith("stream [drop_after_events=3; dropped after 3 events] (rule flaky)")
    reset = access_line(entry(status=0, faults=["reset", "connection reset before headers"], origin="chaos"))
    assert " reset claude-haiku-4-5 " in reset and reset.endswith("(chaos)")
    proxied = access_line(entry(status=400, origin="upstream", response_bytes=b'{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}'))
    assert proxied.endswith("400 claude-haiku-4-5 12.3ms invalid_request_error: max_tokens: Field required (upstream)")

    # bytes as recorded: the tokens are the answer's usage, read when the line is made
    body = b'{"type":"message","content":[],"usage":{"input_tokens":14,"output_tokens":52}}'
    recorded = entry(origin="upstream", response_bytes=body, usage_in_body=True)
    assert recorded.usage_in_body and recorded._input_tokens is None  # nothing parsed until asked
    assert access_line(recorded).endswith("200 claude-haiku-4-5 in=14 out=52 12.3ms (upstream)")
    stream = (
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":14,"output_tokens":1}}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"usage"}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{},"usage":{"output_tokens":30}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{},"usage":{"input_tokens":20,"output_tokens":52}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    replayed = access_line(entry(origin="cassette", response_bytes=stream, streamed=True, usage_in_body=True))
    assert replayed.endswith("200 claude-haiku-4-5 in=20 out=52 12.3ms stream (from the cassette)")
    cut = access_line(entry(origin="cassette", response_bytes=stream.split(b"event: message_delta")[0], streamed=True, usage_in_body=True))
    assert "in=14 out=1 " in cut
    for other in (b'{"type":"model","id":"claude-haiku-4-5"}', b"not json", b""):
        assert " in=" not in access_line(entry(origin="upstream", response_bytes=other, usage_in_body=True))
    refused = entry(status=429, origin="upstream", response_bytes=b'{"usage":{"input_tokens":1,"output_tokens":2}}', usage_in_body=True)
    assert (refused.input_tokens, refused.output_tokens) == (None, None)  # an error has no usage
    again = JournalEntry.from_bytes(entry(origin="upstream", response_bytes=body, usage_in_body=True).to_bytes())
    assert (again.input_tokens, again.output_tokens) == (14, 52)  # an entry kept in Redis reads them too
    made = entry(input_tokens=3, output_tokens=4)
    assert JournalEntry.from_bytes(made.to_bytes()).tokens == (3, 4) and made.to_json()["output_tokens"] == 4


def test_the_docs_show_the_endpoint_table_as_it_is() -> None:
    from pathlib import Path

    from mockserver.protocol.endpoints import markdown_table

    text = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    shown = text.split("<!-- endpoints:start -->\n", 1)[1].split("\n<!-- endpoints:end -->", 1)[0]
    assert shown == markdown_table(), "docs/protocol.md: paste the output of `python -m mockserver.protocol.endpoints`"

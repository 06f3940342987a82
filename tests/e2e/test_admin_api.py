"""The admin API under /_mock/: add, list and delete rules, read the journal, reset, rate limits;
loopback only unless a token is configured."""

from __future__ import annotations

import socket
from typing import Any, Iterator
from unittest import mock

import anthropic
import httpx2
import pytest

from mockserver.http.admin import check_access, is_loopback
from mockserver.harness.testing import MockServer
from tests.conftest import HAIKU, USER_HI
from tests.fuzz.wire import exchange, request


@pytest.fixture
def admin(mockserver: MockServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=mockserver.url, timeout=10) as client:
        yield client


def test_add_list_and_delete_rules_over_http(mockserver: MockServer, admin: httpx2.Client, anthropic_client: anthropic.Anthropic) -> None:
    created = admin.post("/_mock/rules", json={"name": "greeting", "match": {"text": "hi"}, "reply": {"text": "Hello from admin"}})
    assert created.status_code == 201 and created.json()["data"][0]["name"] == "greeting"
    assert anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=[{"role": "user", "content": "hi"}]).content[0].text == "Hello from admin"
    listed = admin.get("/_mock/rules").json()["data"]
    assert [(r["name"], r["hits"], r["source"]) for r in listed] == [("greeting", 1, "<admin>")]
    assert admin.get("/_mock/rules/greeting").json()["spec"]["reply"] == {"text": "Hello from admin"}
    assert admin.delete("/_mock/rules/greeting").json() == {"deleted": 1}
    missing = admin.delete("/_mock/rules/greeting")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert admin.get("/_mock/rules").json()["data"] == []


def test_rules_as_yaml_and_clearing_them(admin: httpx2.Client, anthropic_client: anthropic.Anthropic) -> None:
    body = "- {match: {text: one}, reply: first}\n- {match: {text: two}, error: 529}\n"
    created = admin.post("/_mock/rules", content=body, headers={"content-type": "application/yaml"})
    assert [r["name"] for r in created.json()["data"]] == ["admin[0]", "admin[1]"]
    with pytest.raises(anthropic.OverloadedError):
        anthropic_client.with_options(max_retries=0).messages.create(model=HAIKU, max_tokens=5, messages=[{"role": "user", "content": "two"}])
    assert admin.delete("/_mock/rules").json() == {"deleted": 2}


def test_yaml_aliases_are_refused_billion_laughs_included(admin: httpx2.Client) -> None:
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    body = "\n".join(levels) + "\nrules:\n- {match: {text: boom}, json: {body: *a8}}\n"
    refused = admin.post("/_mock/rules", content=body, headers={"content-type": "application/yaml"})
    assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
    assert "aliases (*name) are not accepted here" in refused.json()["error"]["message"]
    assert admin.get("/_mock/rules").json()["data"] == []
    plain = admin.post("/_mock/rules", content="- {match: {text: fine}, reply: 'no &anchors in strings matter'}\n",
                       headers={"content-type": "application/yaml"})
    assert plain.status_code == 201


def test_a_rule_with_a_mistake_is_refused_naming_rule_and_field(admin: httpx2.Client) -> None:
    bad = admin.post("/_mock/rules", json={"rules": [{"name": "ok", "reply": "fine"}, {"name": "broken", "error": {"status": 700}}]})
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == '<admin>: rules[1] ("broken"): error.status: must be an integer from 400 to 599, not 700'
    assert admin.get("/_mock/rules").json()["data"] == []  # nothing of the document was added


def test_a_content_block_whose_type_is_not_a_string_is_a_400(admin: httpx2.Client) -> None:
    for kind in ([], {}, ["text"]):  # the reply builder dispatches on it: an unhashable one was a 500
        bad = admin.post("/_mock/rules", json={"name": "odd", "reply": {"content": [{"type": kind, "text": "hi"}]}})
        assert bad.status_code == 400, bad.text
        assert bad.json()["error"]["message"].startswith('<admin>: rules[0] ("odd"): reply.content[0].type: must be a string')
    assert admin.get("/_mock/rules").json()["data"] == []


def test_yaml_values_json_cannot_carry_are_a_400_not_a_500_on_every_answer(admin: httpx2.Client, anthropic_client: anthropic.Anthropic) -> None:
    yaml = {"content-type": "application/yaml"}
    for body in ("{match: {endpoint: models.list}, json: {body: {ids: !!set {a, b}}}}",
                 "{error: {status: 400, details: {blob: !!binary AAAA}}}"):
        refused = admin.post("/_mock/rules", content=body, headers=yaml)
        assert refused.status_code == 400 and "cannot be sent as JSON" in refused.json()["error"]["message"], refused.text
    assert admin.get("/_mock/rules").json()["data"] == []
    anthropic_client.models.list()  # answered as before: no rule was added
    raw = admin.post("/_mock/rules", content="{match: {stream: true}, stream: [{event: bad, data: !!binary /w==}]}", headers=yaml)
    assert raw.status_code == 201  # a raw stream event's data may still be bytes


def test_an_unquoted_yaml_date_in_a_tool_input_is_sent_as_text(admin: httpx2.Client, anthropic_client: anthropic.Anthropic) -> None:
    rule = ("{reply: {content: [{server_tool_use: {name: web_search, input: {query: news, since: 2025-01-01}}},"
            " {web_search_tool_result: {results: [{url: 'https://example.com', title: t}]}}, {tool_use: {name: f, input: {at: 2025-01-01}}}]}}")
    added = admin.post("/_mock/rules", content=rule, headers={"content-type": "application/yaml"})
    assert added.status_code == 201, added.text  # counting its tokens was a TypeError: a 500
    message = anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=USER_HI)
    assert message.content[0].input == {"query": "news", "since": "2025-01-01"} and message.content[2].input == {"at": "2025-01-01"}
    with anthropic_client.messages.stream(model=HAIKU, max_tokens=50, messages=USER_HI) as stream:
        streamed = stream.get_final_message()
    assert [block.input for block in streamed.content if block.type != "web_search_tool_result"] == [
        {"query": "news", "since": "2025-01-01"}, {"at": "2025-01-01"}]


def test_a_yaml11_only_scalar_in_a_yaml_rule_is_a_400_naming_it(admin: httpx2.Client) -> None:
    refused = admin.post("/_mock/rules", content="{name: a, match: {body: {answer: yes}}, reply: x}", headers={"content-type": "application/yaml"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["message"] == (
        '<admin>: rules[0] ("a"): match.body.answer: yes, unquoted, is YAML 1.1\'s boolean true, not the text \'yes\': '
        "quote it for the text, or write true for the boolean")
    assert admin.get("/_mock/rules").json()["data"] == []
    added = admin.post("/_mock/rules", content="{name: a, match: {body: {answer: 'yes'}, stream: yes}, reply: x}", headers={"content-type": "application/yaml"})
    assert added.status_code == 201, added.text


def test_journal_over_http(mockserver: MockServer, admin: httpx2.Client, anthropic_client: anthropic.Anthropic) -> None:
    anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=USER_HI)
    anthropic_client.messages.count_tokens(model=HAIKU, messages=USER_HI)
    entries = admin.get("/_mock/journal").json()["data"]
    assert [e["endpoint"] for e in entries] == ["messages.create", "messages.count_tokens"]  # admin calls are not journaled
    first = entries[0]
    assert first["body"]["messages"] == USER_HI and first["headers"]["authorization"] == "[REDACTED]"
    assert first["origin"] == "default" and first["response"]["type"] == "message"
    assert admin.get("/_mock/journal", params={"since": first["seq"]}).json()["data"][0]["endpoint"] == "messages.count_tokens"
    assert len(admin.get("/_mock/journal", params={"limit": 1, "endpoint": "messages.create"}).json()["data"]) == 1
    assert admin.delete("/_mock/journal").status_code == 200 and len(mockserver.journal) == 0


@pytest.mark.parametrize("query", ["since=1_000", "since=%207", "since=%2B5", "limit=+1", "limit=1_0", "since=-1", "limit=-1", "since=%D9%A3", "since="])
def test_journal_since_and_limit_are_plain_digits(admin: httpx2.Client, anthropic_client: anthropic.Anthropic, query: str) -> None:
    """int() read ``since=1_000`` as 1000, `` 7`` as 7 and ``+5`` as 5."""
    anthropic_client.messages.count_tokens(model=HAIKU, messages=USER_HI)
    answer = admin.get(f"/_mock/journal?{query}")
    assert answer.status_code == 400
    assert answer.json()["error"] == {"type": "invalid_request_error", "message": "admin API: since and limit must be whole numbers (digits 0-9)"}
    assert len(admin.get("/_mock/journal?since=0&limit=1").json()["data"]) == 1


def test_reset_over_http(mockserver: MockServer, admin: httpx2.Client) -> None:
    mockserver.reply("x")
    mockserver.set_rate_limits(requests_per_minute=1)
    assert admin.post("/_mock/reset").json() == {"reset": True}
    assert mockserver.rules == [] and not mockserver.api.limiter.enabled


def test_rate_limits_over_http(admin: httpx2.Client, anthropic_client: anthropic.Anthropic) -> None:
    on = admin.put("/_mock/ratelimits", json={"requests_per_minute": 1, "models": {HAIKU: {"input_tokens_per_minute": 5000}}})
    assert on.status_code == 200 and on.json()["enabled"] is True
    assert on.json()["models"][HAIKU]["input_tokens_per_minute"] == 5000
    client = anthropic_client.with_options(max_retries=0)
    client.messages.create(model=HAIKU, max_tokens=5, messages=USER_HI)
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model=HAIKU, max_tokens=5, messages=USER_HI)
    bad = admin.put("/_mock/ratelimits", json={"requests_per_minute": 0})
    assert bad.status_code == 400 and "<admin>: ratelimits.requests_per_minute: must be an integer from 1 to 1000000000000, not 0" in bad.json()["error"]["message"]
    assert admin.delete("/_mock/ratelimits").json() == {"enabled": False}
    client.messages.create(model=HAIKU, max_tokens=5, messages=USER_HI)


def test_unknown_admin_path_is_an_api_shaped_404(admin: httpx2.Client) -> None:
    response = admin.get("/_mock/nope")
    assert response.status_code == 404 and response.json()["type"] == "error"
    assert admin.get("/_mock").json()["rules"] == 0


def test_admin_token_is_required_when_configured(make_server) -> None:
    server = make_server(admin_token="s3cret")
    with httpx2.Client(base_url=server.url) as admin:
        refused = admin.get("/_mock/rules")
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
        assert admin.get("/_mock/rules", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert admin.get("/_mock/rules", headers={"authorization": "Bearer s3cret"}).status_code == 200
        assert admin.get("/_mock/rules", headers={"x-admin-token": "s3cret"}).status_code == 200


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.254.254.254", 1))  # no packet is sent: this only picks a route
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_non_loopback_clients_are_refused_without_a_token(make_server) -> None:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback interface on this machine")
    open_server = make_server(host="0.0.0.0")
    port = open_server.url.rsplit(":", 1)[1]
    with httpx2.Client(base_url=f"http://{address}:{port}") as remote:
        refused = remote.get("/_mock/rules")
        assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    with httpx2.Client(base_url=open_server.url) as local:
        assert local.get("/_mock/rules").status_code == 200
    guarded = make_server(host="0.0.0.0", admin_token="s3cret")
    port = guarded.url.rsplit(":", 1)[1]
    with httpx2.Client(base_url=f"http://{address}:{port}") as remote:
        assert remote.get("/_mock/rules", headers={"x-admin-token": "s3cret"}).status_code == 200


@pytest.mark.parametrize(
    ("peer", "token", "headers", "allowed"),
    [
        (("127.0.0.1", 5000), None, {}, True),
        (("::1", 5000, 0, 0), None, {}, True),
        (("::ffff:127.0.0.1", 5000, 0, 0), None, {}, True),
        (("192.168.1.9", 5000), None, {}, False),
        (("192.168.1.9", 5000), "t", {"x-admin-token": "t"}, True),
        (("127.0.0.1", 5000), "t", {}, False),  # with a token, even loopback must send it
        (None, None, {}, False),
        (("127.0.0.1", 5000), None, {"Host": "localhost:8787"}, True),
        (("127.0.0.1", 5000), None, {"Host": "[::1]:8787", "Origin": "http://127.0.0.1:3000"}, True),
        (("127.0.0.1", 5000), None, {"Host": "app.localhost"}, True),
        (("127.0.0.1", 5000), None, {"Host": "evil.example:8787"}, False),  # DNS rebinding
        (("127.0.0.1", 5000), None, {"Host": "localhost:8787", "Origin": "https://evil.example"}, False),  # cross-site
        (("127.0.0.1", 5000), None, {"Origin": "null"}, False),  # a sandboxed page or a file
        (("192.168.1.9", 5000), "t", {"Host": "evil.example", "Origin": "https://evil.example", "x-admin-token": "t"}, True),
        (("127.0.0.1", 5000), "t", {"x-admin-token": "t\udcff"}, False),  # a non-UTF-8 byte: just a wrong token
    ],
)
def test_check_access(peer: Any, token: str | None, headers: dict[str, str], allowed: bool) -> None:
    http = mock.Mock()
    http.headers = headers
    http.transport.get_extra_info.return_value = peer
    assert (check_access(http, token) is None) is allowed


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.5") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("10.0.0.1") and not is_loopback("example.com") and not is_loopback(None)


def test_rate_limits_past_64_bits_are_a_400(mockserver) -> None:
    with httpx2.Client(base_url=mockserver.url, timeout=10) as admin:
        answer = admin.put("/_mock/ratelimits", content=f"requests_per_minute: {2**70}", headers={"content-type": "application/yaml"})
    assert answer.status_code == 400
    assert "requests_per_minute: an integer this large cannot be sent as JSON" in answer.json()["error"]["message"]


def test_a_cross_site_form_or_text_post_cannot_add_rules(mockserver) -> None:
    """What a web page may send anywhere without asking first: text/plain or a form. Refused, and
    nothing goes live; with Origin it is refused even as JSON."""
    rule = '{"reply": "injected"}'
    with httpx2.Client(base_url=mockserver.url, timeout=10) as admin:
        plain = admin.post("/_mock/rules", content=rule, headers={"content-type": "text/plain"})
        form = admin.post("/_mock/rules", content=rule, headers={"content-type": "application/x-www-form-urlencoded"})
        browser = admin.post("/_mock/rules", content=rule, headers={"content-type": "application/json", "origin": "https://evil.example"})
    assert plain.status_code == form.status_code == 415 and plain.json()["error"]["type"] == "invalid_request_error"
    assert browser.status_code == 403 and browser.json()["error"]["type"] == "permission_error"
    assert mockserver.rules == []


def test_a_non_utf8_token_byte_is_a_401(make_server) -> None:
    server = make_server(admin_token="s3cret")
    answer = exchange(server.url, request("GET", "/_mock/rules", headers=[(b"x-admin-token", b"s3cr\xffet")]))
    assert answer.status == 401 and answer.json["error"]["type"] == "authentication_error"


def test_the_token_comes_from_a_file_or_the_environment(tmp_path, monkeypatch) -> None:
    from mockserver.harness.cli import _admin_token
    from argparse import Namespace

    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    assert _admin_token(Namespace(admin_token_file=token_file, admin_token=None)) == "from-file"
    monkeypatch.setenv("MOCKSERVER_ADMIN_TOKEN", "from-env")
    assert _admin_token(Namespace(admin_token_file=None, admin_token=None)) == "from-env"
    assert _admin_token(Namespace(admin_token_file=None, admin_token="given")) == "given"
    (tmp_path / "empty").write_text("")
    with pytest.raises(SystemExit, match="is empty"):
        _admin_token(Namespace(admin_token_file=tmp_path / "empty", admin_token=None))


def test_the_journal_is_bounded_by_bytes_too(make_server) -> None:
    """Large exchanges push the oldest out long before the entry limit: the journal holds at
    most its byte budget (bodies and a fixed cost per entry)."""
    server = make_server(journal_limit=1000, journal_bytes=300_000)
    big = "x" * 100_000
    with server.client() as client:
        for _ in range(6):
            client.messages.count_tokens(model=HAIKU, messages=[{"role": "user", "content": big}])
    entries = server.journal.entries()
    assert 0 < len(entries) < 6
    assert sum(e.size for e in entries) <= 300_000
    assert [e.seq for e in entries] == list(range(7 - len(entries), 7))  # the newest kept, in order


def test_a_non_utf8_header_byte_never_breaks_the_journal(mockserver) -> None:
    raw = request("GET", "/v1/models", headers=[("x-api-key", "k"), ("anthropic-version", "2023-06-01"), (b"x-odd", b"caf\xe9")])
    assert exchange(mockserver.url, raw).status == 200
    with httpx2.Client(base_url=mockserver.url, timeout=10) as admin:
        journal = admin.get("/_mock/journal")
    assert journal.status_code == 200
    assert journal.json()["data"][-1]["headers"]["x-odd"] == "caf\ufffd"

"""Matching (canonical JSON, ignore/choose fields, custom), play order and miss explanations."""

from __future__ import annotations

import orjson
import pytest

from mockserver.cassettes.cassette import Cassette
from mockserver.cassettes.matchers import Matcher, json_differences
from mockserver.cassettes.model import Interaction, RecordedRequest, RecordedResponse


def req(body: object, path: str = "/v1/messages", method: str = "POST", query: list[tuple[str, str]] | None = None,
        headers: list[tuple[str, str]] | None = None) -> RecordedRequest:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return RecordedRequest(method, path, query or [], headers or [], raw)


def item(body: object, answer: str, **kwargs: object) -> Interaction:
    return Interaction(req(body, **kwargs), RecordedResponse(200, [], answer.encode()))  # type: ignore[arg-type]


BODY = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}], "metadata": {"user_id": "u1"}}


def test_key_order_and_spacing_do_not_matter() -> None:
    spaced = b'{"messages": [{"content": "Hi", "role": "user"}], "metadata": {"user_id": "u1"}, "max_tokens": 5, "model": "m"}'
    assert Matcher().matches(req(spaced), req(BODY))
    assert not Matcher().matches(req({**BODY, "max_tokens": 6}), req(BODY))


def test_method_path_and_query_count_by_default() -> None:
    matcher = Matcher()
    assert not matcher.matches(req(BODY, query=[("beta", "true")]), req(BODY))
    assert not matcher.matches(req(BODY, path="/v1/messages/count_tokens"), req(BODY))
    assert Matcher(on=("method", "path", "body")).matches(req(BODY, query=[("beta", "true")]), req(BODY))


def test_ignore_and_choose_fields() -> None:
    other_user = {**BODY, "metadata": {"user_id": "u2"}}
    assert Matcher(ignore=("metadata.user_id",)).matches(req(other_user), req(BODY))
    assert Matcher(ignore=("messages.*.content",)).matches(req({**BODY, "messages": [{"role": "user", "content": "Yo"}]}), req(BODY))
    assert Matcher(fields=("model", "max_tokens")).matches(req({**other_user, "messages": []}), req(BODY))
    assert not Matcher(fields=("model", "max_tokens")).matches(req({**BODY, "model": "n"}), req(BODY))


def test_header_criterion_and_custom_matcher() -> None:
    a = req(BODY, headers=[("anthropic-beta", "x")])
    assert not Matcher(on=("method", "path", "header:anthropic-beta")).matches(req(BODY), a)
    only_model = Matcher(on=(), custom=lambda r, rec: r.json["model"] == rec.json["model"])
    assert only_model.matches(req({"model": "m"}), req(BODY))
    assert not only_model.matches(req({"model": "z"}), req(BODY))


def test_identical_requests_play_in_recorded_order_then_fail_or_repeat() -> None:
    recorded = [item(BODY, "first"), item({"other": 1}, "x"), item(BODY, "second")]
    strict = Cassette(recorded)
    assert [strict.play(req(BODY)).response.body for _ in range(2)] == [b"first", b"second"]  # type: ignore[union-attr]
    assert strict.play(req(BODY)) is None
    assert "already played" in strict.explain_miss(req(BODY))
    repeating = Cassette(recorded, allow_repeats=True)
    assert [repeating.play(req(BODY)).response.body for _ in range(3)] == [b"first", b"second", b"second"]  # type: ignore[union-attr]


def test_a_miss_names_the_closest_recording_and_how_it_differs() -> None:
    cassette = Cassette([item({"model": "other", "messages": []}, "a", path="/v1/messages/count_tokens"), item(BODY, "b")])
    message = cassette.explain_miss(req({**BODY, "max_tokens": 9, "messages": [{"role": "user", "content": "Ho"}]}))
    assert "closest is #1 POST /v1/messages model=m" in message
    assert "body max_tokens: recorded 5, sent 9" in message
    assert "body messages.0.content: recorded \"Hi\", sent \"Ho\"" in message
    assert "the cassette is empty" in Cassette([]).explain_miss(req(BODY))


def test_json_differences_reports_missing_and_extra_fields() -> None:
    assert json_differences({"a": 1, "b": 2}, {"a": 1, "c": 3}) == ["body b: recorded 2, not sent", "body c: not recorded, sent 3"]


def test_unknown_criterion_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown match criterion"):
        Matcher(on=("method", "colour"))


def test_a_custom_matcher_is_named_module_colon_function() -> None:
    from mockserver.cassettes.matchers import load_custom

    assert load_custom("os.path:isabs") is __import__("os").path.isabs
    with pytest.raises(ValueError, match="module:function"):
        load_custom("os.path")

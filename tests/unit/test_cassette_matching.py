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
    assert "--allow-repeats" in strict.explain_miss(req(BODY)) and "POST /_mock/reset" in strict.explain_miss(req(BODY))
    strict.rewind()  # a new client run
    assert [strict.play(req(BODY)).response.body for _ in range(2)] == [b"first", b"second"]  # type: ignore[union-attr]
    repeating = Cassette(recorded, allow_repeats=True)
    assert [repeating.play(req(BODY)).response.body for _ in range(3)] == [b"first", b"second", b"second"]  # type: ignore[union-attr]


def test_a_miss_names_the_closest_recording_and_how_it_differs() -> None:
    cassette = Cassette([item({"model": "other", "messages": []}, "a", path="/v1/messages/count_tokens"), item(BODY, "b")])
    message = cassette.explain_miss(req({**BODY, "max_tokens": 9, "messages": [{"role": "user", "content": "Ho"}]}))
    assert "closest is #1 POST /v1/messages model=m" in message
    assert "body max_tokens: recorded 5, sent 9" in message
    assert 'body messages.0.content differs from character 1: recorded "Hi", sent "Ho"' in message
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


def turn(role: str, text: str) -> dict[str, str]:
    return {"role": role, "content": text}


def test_the_closest_recording_of_a_conversation_shares_its_turns() -> None:
    """A multi-turn request is closest to the recording with the same earlier turns, not to the
    first turn's recording (both differ in one field)."""
    first = {**BODY, "messages": [turn("user", "Plan a trip")]}
    third = {**BODY, "messages": [turn("user", "Plan a trip"), turn("assistant", "Where to?"), turn("user", "Lisbon")]}
    cassette = Cassette([item(first, "a"), item(third, "c")])
    sent = {**BODY, "messages": [turn("user", "Plan a trip"), turn("assistant", "Where to?"), turn("user", "Porto")]}
    message = cassette.explain_miss(req(sent))
    assert "closest is #1" in message
    assert 'body messages.2.content differs from character 0: recorded "Lisbon", sent "Porto"' in message


def test_the_same_model_counts_before_the_body() -> None:
    cassette = Cassette([item({**BODY, "model": "other", "max_tokens": 7}, "a"), item({**BODY, "metadata": {"user_id": "x"}, "max_tokens": 7}, "b")])
    assert "closest is #1" in cassette.explain_miss(req({**BODY, "max_tokens": 6}))


def test_long_strings_are_shown_around_where_they_differ() -> None:
    common = "You are a meticulous assistant. " * 4
    recorded = {**BODY, "system": common + "Answer in French, always."}
    sent = {**BODY, "system": common + "Answer in German, always."}
    message = Cassette([item(recorded, "a")]).explain_miss(req(sent))
    at = len(common) + len("Answer in ")
    assert f"body system differs from character {at}:" in message
    quoted = message.split(f"from character {at}: ", 1)[1]
    assert "French, always." in quoted and "German, always." in quoted  # not two identical cut-off prefixes
    recorded_part, sent_part = quoted.split(", sent ", 1)
    assert recorded_part != sent_part.split(";")[0]


def test_strings_that_differ_only_in_length() -> None:
    assert json_differences({"s": "abc"}, {"s": "abcdef"}) == ['body s differs from character 3: recorded "abc", sent "abcdef"']


def test_a_chosen_field_indexes_lists_by_ascii_digits_only() -> None:
    # "²" passed str.isdigit() and int() then raised: a ValueError out of replay.
    body = {**BODY, "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
    assert Matcher(fields=("messages.1.content",)).body_value(req(body)) == {"messages.1.content": "Yo"}
    assert Matcher(fields=("messages.².content",)).body_value(req(body)) == {}

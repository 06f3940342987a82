"""``fuzz.installed``: one shared server, a clean slate per example, nothing left behind — and a
``@given`` test on the plugin's session server runs without health-check trouble."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver import fuzz
from mockserver.harness.testing import MockServer

REQUEST: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}


def test_each_example_starts_clean_and_leaves_nothing(mockserver_session: MockServer) -> None:
    mockserver_session.reply("from an earlier test", name="leftover")
    with mockserver_session.client(max_retries=0) as client:
        client.messages.create(**REQUEST)
        with fuzz.installed(mockserver_session, {"sequence": [{"error": 529}, {"reply": "second"}]}) as run:
            assert [r.name for r in mockserver_session.rules] == ["fuzz"]  # reset: the leftover rule is gone
            assert run.calls() == []  # and the journal is empty
            with pytest.raises(anthropic.OverloadedError):
                client.messages.create(**REQUEST)
            assert client.messages.create(**REQUEST).content[0].text == "second"
            assert [c.status for c in run.calls()] == [529, 200] and run.rules[0].hits == 2
        assert mockserver_session.rules == []
        # a new example gets a fresh sequence
        with fuzz.installed(mockserver_session, {"sequence": [{"error": 529}, {"reply": "second"}]}):
            with pytest.raises(anthropic.OverloadedError):
                client.messages.create(**REQUEST)


def test_rules_are_removed_even_when_the_example_fails(mockserver_session: MockServer) -> None:
    with pytest.raises(RuntimeError), fuzz.installed(mockserver_session, [{"reply": "a"}, {"reply": "b", "match": {"stream": True}}]):
        assert [r.name for r in mockserver_session.rules] == ["fuzz", "fuzz-2"]
        raise RuntimeError("the code under test broke")
    assert mockserver_session.rules == []


def test_reset_false_keeps_other_rules_behind_the_scenario(mockserver_session: MockServer) -> None:
    mockserver_session.reset()
    mockserver_session.reply("base", name="base", match={"text": "base"})
    with mockserver_session.client(max_retries=0) as client:
        with fuzz.installed(mockserver_session, {"reply": "fuzzed", "match": {"text": "fuzz"}}, reset=False) as run:
            assert [r.name for r in mockserver_session.rules] == ["fuzz", "base"]
            ask = lambda text: client.messages.create(**{**REQUEST, "messages": [{"role": "user", "content": text}]}).content[0].text  # noqa: E731
            assert (ask("fuzz"), ask("base")) == ("fuzzed", "base")
            assert len(run.calls()) == 2
    assert [r.name for r in mockserver_session.rules] == ["base"]
    mockserver_session.reset()


def test_random_errors_decide_the_same_way_when_an_example_is_replayed(mockserver_session: MockServer) -> None:
    scenario = {"fault": {"random_error": {"probability": 0.5, "status": 529}}}

    def outcomes() -> list[int]:
        with mockserver_session.client(max_retries=0) as client, fuzz.installed(mockserver_session, scenario) as run:
            for _ in range(12):
                try:
                    client.messages.create(**REQUEST)
                except anthropic.APIStatusError:
                    pass
            return [c.status for c in run.calls()]

    first = outcomes()
    assert first == outcomes() and set(first) == {200, 529}


def test_the_yaml_of_the_failing_example_is_in_the_report(mockserver_session: MockServer) -> None:
    @settings(max_examples=5, database=None, derandomize=True, deadline=None)
    @given(st.just({"reply": {"content": ["🧪 e\u0301"]}}))
    def fails(scenario: dict[str, Any]) -> None:
        with fuzz.installed(mockserver_session, scenario):
            raise AssertionError("boom")

    with pytest.raises(AssertionError) as failure:
        fails()
    notes = "\n".join(failure.value.__notes__)
    assert "scenario of this example (paste into a fixtures file):\nrules:\n- reply:\n    content: [🧪 e\u0301]\n" in notes


@pytest.fixture(scope="module")
def client(mockserver_session: MockServer) -> Any:
    with mockserver_session.client(max_retries=0) as c:
        yield c


@settings(max_examples=25, deadline=None)
@given(scenario=fuzz.scenarios(fuzz.errors() | fuzz.replies(), max_steps=2))
def test_given_with_the_session_server_needs_no_health_check_suppression(mockserver_session: MockServer, client: Any, scenario: dict[str, Any]) -> None:
    with fuzz.installed(mockserver_session, scenario) as run:
        try:
            client.messages.create(**REQUEST)
        except anthropic.APIStatusError:
            pass
        assert len(run.calls()) == 1  # only this example's call: the journal was emptied at entry

"""The worked example of docs/fuzzing.md: fuzzing finds a client wrapper's bug, Hypothesis
shrinks the scenario to the smallest one that breaks it, and the corrected wrapper passes.

Two wrappers people really write: a retry loop around ``messages.create`` (it parses
``retry-after`` as a number, but the header may be an HTTP date) and a streaming ``ask()`` that
concatenates text deltas (it assumes every delta has ``.text``). Both run against one server
shared by every example (``mockserver_session``: no health-check trouble), each example
installing its scenario with ``fuzz.installed``.
"""

from __future__ import annotations

import email.utils
import time
from datetime import datetime, timezone
from typing import Any, Callable

import anthropic
import pytest
from hypothesis import find, given, settings

from mockserver import fuzz
from mockserver.harness.testing import MockServer

REQUEST: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "Hello"}]}
# Deterministic, no example database; one bug reported (the smallest), not one per traceback.
DETERMINISTIC = settings(database=None, derandomize=True, deadline=None, max_examples=300, report_multiple_bugs=False)

# What the API may answer: any error (every status, retry-after as seconds, milliseconds or an
# HTTP date up to 30 s — the wrapper's sleep is injected, so nothing really waits) or a valid but
# unusual reply — alone, or in a sequence ("529, 429, then a reply").
RETRY_SCENARIOS = fuzz.scenarios(fuzz.errors(retry_after=fuzz.retry_after(max_seconds=30)) | fuzz.replies())


# -- the retry wrapper: buggy, then corrected --------------------------------------------------------
def create_with_retries_buggy(client: anthropic.Anthropic, *, sleep: Callable[[float], None] = time.sleep, attempts: int = 3, **params: Any) -> Any:
    """messages.create, retrying rate limits and overloads (the SDK's own retries are off)."""
    for attempt in range(1, attempts + 1):
        try:
            return client.messages.create(**params)
        except anthropic.APIStatusError as error:
            if error.status_code not in (429, 500, 529) or attempt == attempts:
                raise
            delay = error.response.headers.get("retry-after")
            sleep(float(delay) if delay else 2**attempt)  # BUG: retry-after may be an HTTP date
    raise AssertionError("unreachable")


RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def retry_delay(headers: Any, attempt: int) -> float:
    """Seconds to wait: ``retry-after-ms``, else ``retry-after`` as seconds or an HTTP date,
    else exponential backoff."""
    try:
        return max(0.0, float(headers["retry-after-ms"]) / 1000)
    except (KeyError, ValueError):
        pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                pass
            else:
                return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    return min(8.0, 0.5 * 2**attempt)


def create_with_retries(client: anthropic.Anthropic, *, sleep: Callable[[float], None] = time.sleep, attempts: int = 3, **params: Any) -> Any:
    """The corrected wrapper: every retry-after form, and ``x-should-retry`` obeyed."""
    for attempt in range(1, attempts + 1):
        try:
            return client.messages.create(**params)
        except anthropic.APIStatusError as error:
            advice = error.response.headers.get("x-should-retry")
            retryable = advice == "true" or (advice != "false" and error.status_code in RETRYABLE)
            if not retryable or attempt == attempts:
                raise
            sleep(retry_delay(error.response.headers, attempt))
    raise AssertionError("unreachable")


def survives(wrapper: Callable[..., Any], server: MockServer, client: anthropic.Anthropic, scenario: dict[str, Any]) -> None:
    """The property: whatever the API does, the wrapper returns a Message or raises one of the
    SDK's errors (nothing else escapes), within its three attempts, never sleeping a negative time."""
    slept: list[float] = []
    with fuzz.installed(server, scenario) as run:
        try:
            message = wrapper(client, sleep=slept.append, **REQUEST)
        except anthropic.APIError:
            pass
        else:
            assert message.type == "message"
        assert len(run.calls()) <= 3
        assert all(s >= 0 for s in slept)


def breaks(wrapper: Callable[..., Any], server: MockServer, client: anthropic.Anthropic) -> Callable[[dict[str, Any]], bool]:
    def predicate(scenario: dict[str, Any]) -> bool:
        try:
            survives(wrapper, server, client, scenario)
        except Exception:  # noqa: BLE001 - any escape is what we are looking for
            return True
        return False

    return predicate


@pytest.fixture(scope="module")
def fuzz_client(mockserver_session: MockServer) -> Any:
    """The SDK with its own retries off: the wrapper under test does the retrying."""
    with mockserver_session.client(max_retries=0) as client:
        yield client


def test_fuzzing_finds_the_retry_bug_and_shrinks_it_to_one_error(mockserver_session: MockServer, fuzz_client: Any) -> None:
    minimal = find(RETRY_SCENARIOS, breaks(create_with_retries_buggy, mockserver_session, fuzz_client), settings=DETERMINISTIC)
    # The smallest scenario that breaks it: one 429 whose retry-after is an HTTP date — nothing else.
    assert set(minimal) == {"error"}
    assert set(minimal["error"]) == {"status", "headers"}
    assert minimal["error"]["status"] == 429  # the first status the wrapper retries
    (header, value), = minimal["error"]["headers"].items()
    assert header == "retry-after" and email.utils.parsedate_to_datetime(value) is not None
    assert fuzz.to_yaml(minimal).startswith("rules:\n- error:\n    status: 429\n    headers: {retry-after: ")


def test_a_given_test_reports_the_minimal_scenario_as_yaml(mockserver_session: MockServer, fuzz_client: Any) -> None:
    """What a user sees: the @given test fails with ValueError, and the minimal example's
    scenario is printed as a fixtures file under it."""

    @DETERMINISTIC
    @given(scenario=RETRY_SCENARIOS)
    def test_wrapper_survives_the_api(scenario: dict[str, Any]) -> None:
        survives(create_with_retries_buggy, mockserver_session, fuzz_client, scenario)

    with pytest.raises(ValueError, match="could not convert string to float") as failure:
        test_wrapper_survives_the_api()
    notes = "\n".join(getattr(failure.value, "__notes__", []))
    assert "scenario of this example (paste into a fixtures file):\nrules:\n- error:\n    status: 429\n" in notes
    assert "retry-after: " in notes and " GMT" in notes


@settings(DETERMINISTIC, max_examples=150)
@given(scenario=fuzz.scenarios(fuzz.errors(retry_after=fuzz.retry_after(max_seconds=30)) | fuzz.replies() | fuzz.fault_steps()))
def test_the_corrected_retry_wrapper_survives_every_scenario(mockserver_session: MockServer, fuzz_client: Any, scenario: dict[str, Any]) -> None:
    survives(create_with_retries, mockserver_session, fuzz_client, scenario)


def test_the_corrected_wrapper_waits_as_long_as_each_retry_after_form_asks(mockserver_session: MockServer, fuzz_client: Any) -> None:
    due = time.time() + 20
    steps = [
        {"error": {"status": 429, "retry_after": 7}},
        {"error": {"status": 529, "retry_after_ms": 250}},
        {"error": {"status": 503, "headers": {"retry-after": fuzz.http_date(due)}}},
        {"reply": "Finally."},
    ]
    slept: list[float] = []
    with fuzz.installed(mockserver_session, {"sequence": steps}) as run:
        message = create_with_retries(fuzz_client, sleep=slept.append, attempts=4, **REQUEST)
    assert message.content[0].text == "Finally." and len(run.calls()) == 4
    assert slept[0] == 7 and slept[1] == 0.25 and 17 <= slept[2] <= 20


def test_the_corrected_wrapper_obeys_x_should_retry_false(mockserver_session: MockServer, fuzz_client: Any) -> None:
    with fuzz.installed(mockserver_session, {"error": {"status": 529, "should_retry": False}}) as run:
        with pytest.raises(anthropic.InternalServerError):
            create_with_retries(fuzz_client, sleep=lambda s: None, **REQUEST)
    assert len(run.calls()) == 1


# -- the streaming wrapper: buggy, then corrected ----------------------------------------------------
def ask_buggy(client: anthropic.Anthropic, prompt: str) -> str:
    """Stream a reply and return its text."""
    text = ""
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": prompt}]) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                text += event.delta.text  # BUG: thinking and tool-input deltas have no .text
    return text


def ask(client: anthropic.Anthropic, prompt: str) -> str:
    text = ""
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": prompt}]) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                text += event.delta.text
    return text


def ask_matches_the_reply(answer: Callable[[anthropic.Anthropic, str], str], server: MockServer, client: anthropic.Anthropic, scenario: dict[str, Any]) -> None:
    with fuzz.installed(server, scenario):
        text = answer(client, "Hello")
        expected = client.messages.create(**REQUEST)  # the same scenario, not streamed
    assert text == "".join(b.text for b in expected.content if b.type == "text")


def test_fuzzing_finds_the_stream_bug_and_shrinks_it_to_one_thinking_block(mockserver_session: MockServer, fuzz_client: Any) -> None:
    def predicate(scenario: dict[str, Any]) -> bool:
        try:
            ask_matches_the_reply(ask_buggy, mockserver_session, fuzz_client, scenario)
        except AttributeError:
            return True
        return False

    minimal = find(fuzz.replies(), predicate, settings=DETERMINISTIC)
    assert minimal == {"reply": {"content": [{"thinking": ""}]}}


@settings(DETERMINISTIC, max_examples=40)
@given(scenario=fuzz.replies())
def test_the_corrected_ask_returns_exactly_the_text(mockserver_session: MockServer, fuzz_client: Any, scenario: dict[str, Any]) -> None:
    ask_matches_the_reply(ask, mockserver_session, fuzz_client, scenario)

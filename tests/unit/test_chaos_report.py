"""Chaos mode's judgement of a client, from recorded calls (mockserver/fuzz/chaos_report.py)."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.chaos.stage import ChaosConfig, parse_weights
from mockserver.chaos.report import Attempt, build_report, chains, render_markdown

SDK = "Anthropic/Python 2.12.0"


class Calls:
    """A client's calls on a timeline: ``calls.add(at=1.0, injected=...)``."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []

    def add(
        self, at: float, *, client: str = SDK, key: str = "k1", retry: int | None = 0, status: int = 200, kind: str | None = None,
        retry_after: float | None = None, should_retry: str | None = None, stream: bool = False, duration: float = 0.01,
        notes: tuple[str, ...] = (),
    ) -> Attempt:
        attempt = Attempt(
            seq=len(self.attempts) + 1, request_id=f"req_{len(self.attempts) + 1}", client=client, method="POST", path="/v1/messages",
            key=key, retry_count=retry, stream=stream, at=1_767_225_600 + at, t0=at, injected=kind and f"{kind}", kind=kind,
            retry_after=retry_after, should_retry=should_retry, status=status, duration=duration, notes=notes,
        )
        self.attempts.append(attempt)
        return attempt

    def report(self, *, now: float = 1000.0, final: bool = True, window: float = 10.0) -> dict[str, Any]:
        return build_report(self.attempts, now=now, final=final, window=window, meta={"seed": 1, "rate": 0.5})

    def client(self, name: str = SDK, **options: Any) -> dict[str, Any]:
        return next(c for c in self.report(**options)["clients"] if c["client"] == name)


def test_a_retry_that_waits_as_asked_and_recovers_passes() -> None:
    calls = Calls()
    calls.add(0.0, status=529, kind="529", retry_after=0.3)
    calls.add(0.32, retry=1)
    verdict = calls.client()
    assert verdict["verdict"] == "pass" and verdict["reasons"] == []
    assert verdict["chains"]["recovered"] == 1 and verdict["chains"]["retried"] == 1
    assert verdict["retry_after"] == {"advised": 1, "honoured": 1, "ignored": 0}
    assert verdict["waits_ms"] == {"min": 310.0, "median": 310.0, "max": 310.0}


def test_waiting_less_than_retry_after_fails() -> None:
    calls = Calls()
    calls.add(0.0, status=429, kind="429", retry_after=2.0)
    calls.add(0.5, retry=1)
    verdict = calls.client()
    assert verdict["verdict"] == "fail"
    assert verdict["violations"] == ["waited 490 ms after 429 (req_1), which asked for 2000 ms"]


def test_retrying_after_x_should_retry_false_fails() -> None:
    calls = Calls()
    calls.add(0.0, status=529, kind="529", should_retry="false")
    calls.add(1.0, retry=1)
    assert calls.client()["violations"] == ["retried 529 (req_1) although x-should-retry: false"]


def test_retrying_a_client_error_the_server_answered_fails() -> None:
    calls = Calls()
    calls.add(0.0, status=400, retry=None, client="curl/8.5.0")  # not injected: a real validation error
    calls.add(0.6, status=400, retry=None, client="curl/8.5.0")
    verdict = calls.client("curl/8.5.0")
    assert verdict["verdict"] == "fail" and verdict["injected"] == 0  # chaos never touched it, yet it misbehaved
    assert verdict["violations"] == ["retried 400 (req_1) although status 400 is not retryable"]


def test_never_retrying_anything_warns() -> None:
    calls = Calls()
    calls.add(0.0, status=529, kind="529", key="a")
    calls.add(5.0, kind="reset", status=0, key="b", notes=("connection reset before headers",))
    verdict = calls.client()
    assert verdict["verdict"] == "warn"
    assert verdict["warnings"] == ["never retried: gave up on all 2 retryable failure(s) at the first attempt"]
    assert verdict["chains"]["gave_up"] == 2


def test_retrying_at_once_without_advice_warns() -> None:
    calls = Calls()
    calls.add(0.0, status=503, kind="503", retry=None)
    calls.add(0.02, status=503, kind="503", retry=None)
    calls.add(0.04, retry=None)
    verdict = calls.client()
    assert verdict["verdict"] == "warn"
    assert verdict["warnings"] == ["retried 2 time(s) within 100 ms without being told to (no backoff)"]


def test_a_new_call_after_a_dropped_stream_is_a_reconnection() -> None:
    calls = Calls()
    calls.add(0.0, kind="drop", stream=True, notes=("dropped after 3 events",))
    calls.add(0.8, stream=True)  # the SDK never retries a stream: the app called again (retry count 0)
    verdict = calls.client()
    assert verdict["chains"]["reconnected"] == 1 and verdict["chains"]["recovered"] == 1
    assert verdict["verdict"] == "pass"


def test_latency_that_the_client_sat_out_is_not_a_failure() -> None:
    calls = Calls()
    calls.add(0.0, kind="latency", duration=0.8)
    verdict = calls.client()
    assert verdict["chains"]["with_failures"] == 0 and verdict["verdict"] == "pass"


def test_chains_split_on_success_window_and_body() -> None:
    calls = Calls()
    calls.add(0.0)  # ok
    calls.add(1.0)  # the same call again after a success: a new chain
    calls.add(2.0, status=500, kind="500", retry=None)
    calls.add(20.0, retry=None)  # identical, but outside the 10 s window: a new chain
    calls.add(21.0, key="other", retry=None)
    calls.add(22.0, status=500, kind="500", retry=2)
    calls.add(40.0, retry=3)  # an SDK retry count continues the chain whatever the gap
    assert [len(c.attempts) for c in chains(calls.attempts, window=10.0)] == [1, 1, 1, 1, 1, 2]


def test_an_open_chain_is_pending_until_the_window_passes() -> None:
    calls = Calls()
    calls.add(0.0, status=529, kind="529")
    assert calls.client(final=False, now=5.0)["chains"]["pending"] == 1
    assert calls.client(final=False, now=11.0)["chains"]["gave_up"] == 1
    assert calls.client(final=True, now=5.0)["chains"]["gave_up"] == 1


def test_stopping_on_a_non_retryable_error_is_right() -> None:
    calls = Calls()
    calls.add(0.0, status=400, kind="400", should_retry="false")
    verdict = calls.client()
    assert verdict["chains"]["stopped"] == 1 and verdict["verdict"] == "pass"


def test_clients_are_judged_apart_and_the_markdown_shows_them() -> None:
    calls = Calls()
    calls.add(0.0, status=429, kind="429", retry_after=1.0)
    calls.add(1.1, retry=1)
    calls.add(0.5, status=529, kind="529", client="curl/8.5.0", retry=None)
    report = calls.report()
    assert [c["client"] for c in report["clients"]] == [SDK, "curl/8.5.0"]
    assert report["injected"] == 2 and report["injected_by_kind"] == {"429": 1, "529": 1}
    text = render_markdown(report)
    assert f"| {SDK} | **PASS** | 2 | 1 | 1 | 1 | 0 | 0 | 1090 / 1090 / 1090 | 1/1 |" in text
    assert "## curl/8.5.0: WARN" in text
    assert "- POST /v1/messages from curl/8.5.0: 529 — **gave up**" in text
    assert "429 → wait 1090 ms → ok — **recovered**" in text


def test_chain_details_in_the_json() -> None:
    calls = Calls()
    calls.add(0.0, status=429, kind="429", retry_after=0.25)
    calls.add(0.3, retry=1)
    (chain,) = calls.report()["chains"]
    assert chain["result"] == "recovered" and chain["request"] == "POST /v1/messages"
    first, second = chain["attempts"]
    assert first["outcome"] == "429" and first["retry_after_ms"] == 250
    assert second == {
        "request_id": "req_2", "retry_count": 1, "at": "2026-01-01T00:00:00.300+00:00", "injected": None, "status": 200,
        "outcome": "ok", "waited_ms": 290.0, "honoured_retry_after": True,
    }


def test_parse_weights() -> None:
    assert parse_weights("429=3, 529=2,500") == {"429": 3.0, "529": 2.0, "500": 1.0}
    assert parse_weights("none") == {} and parse_weights("") == {}
    with pytest.raises(ValueError, match="not a number"):
        parse_weights("429=lots")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate": 1.5}, "between 0 and 1"),
        ({"errors": {"abc": 1}}, "HTTP status"),
        ({"errors": {"200": 1}}, "HTTP status"),
        ({"faults": {"explode": 1}}, "expected one of"),
        ({"errors": {}, "faults": {}}, "at least one"),
        ({"errors": {"529": -1}}, ">= 0"),
        ({"window": 0}, "window"),
    ],
)
def test_chaos_config_refuses_nonsense(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChaosConfig(seed=1, **options)


def test_a_client_chaos_never_touched_is_untested() -> None:
    calls = Calls()
    calls.add(0.0)
    assert calls.client()["verdict"] == "untested"


@pytest.mark.parametrize("status", ["²", "٤٢٩", "+429", "4_29"])
def test_a_chaos_error_status_is_ascii_digits(status: str) -> None:
    with pytest.raises(ValueError, match="give an HTTP status from 400 to 599"):
        ChaosConfig(seed=1, errors={status: 1.0})

"""The token estimate against the real recorded traffic (bench/token_accuracy.py, `make token-accuracy`):
the same computation, so the accuracy docs/token-estimator.md reports cannot silently regress."""

from __future__ import annotations

import pytest

from bench.token_accuracy import TARGET_MEDIAN, TARGET_P90, load_cases, summarize

# Held-out p90 as measured when the estimator was fitted: above the 15% target (docs/token-estimator.md
# names the cases: an image by file id, whose size the request does not carry, and prompts of 15-17
# tokens on Claude 3 models). It guards against regression until the target is met.
HELD_OUT_P90_NOW = 0.18


@pytest.fixture(scope="module")
def corpus():
    cases, excluded = load_cases()
    return cases, excluded


def test_every_recorded_request_with_real_input_tokens_is_scored(corpus) -> None:
    cases, excluded = corpus
    assert len(cases) >= 60
    assert len(excluded) <= 2 and all(e.reason for e in excluded)
    assert {c.held_out for c in cases} == {True, False}
    assert len([c for c in cases if c.held_out]) >= len(cases) // 4


@pytest.mark.parametrize("part", ["fit", "all"])
def test_the_estimate_meets_the_targets(corpus, part: str) -> None:
    cases, _ = corpus
    summary = summarize([c for c in cases if part == "all" or not c.held_out])
    assert summary.median <= TARGET_MEDIAN and summary.p90 <= TARGET_P90, summary


def test_held_out_cases_median_meets_the_target(corpus) -> None:
    cases, _ = corpus
    summary = summarize([c for c in cases if c.held_out])
    assert summary.median <= TARGET_MEDIAN, summary
    assert summary.p90 <= HELD_OUT_P90_NOW, summary


@pytest.mark.xfail(strict=True, reason="held-out p90 is 17.6%: see docs/token-estimator.md, 'What is left'")
def test_held_out_cases_p90_meets_the_target(corpus) -> None:
    cases, _ = corpus
    assert summarize([c for c in cases if c.held_out]).p90 <= TARGET_P90


def test_the_estimate_is_not_biased(corpus) -> None:
    cases, _ = corpus
    summary = summarize(cases)
    assert abs(summary.estimate_total - summary.real_total) <= 0.05 * summary.real_total, summary

"""The token estimate against the real recorded traffic (bench/token_accuracy.py, `make token-accuracy`):
the same computation, so the accuracy docs/token-estimator.md reports cannot silently regress."""

from __future__ import annotations

import pytest

from bench.token_accuracy import TARGET_MEDIAN, TARGET_P90, load_cases, summarize


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


@pytest.mark.parametrize("part", ["fit", "held-out", "all"])
def test_the_estimate_meets_the_targets(corpus, part: str) -> None:
    cases, _ = corpus
    summary = summarize([c for c in cases if part == "all" or c.held_out == (part == "held-out")])
    assert summary.median <= TARGET_MEDIAN and summary.p90 <= TARGET_P90, summary


def test_a_file_uploaded_earlier_in_a_recording_is_counted_from_its_bytes(corpus) -> None:
    """The crewAI image by file_id: its 640x480 PNG was uploaded in the same recording, and is
    counted from the upload (436 real image tokens), not as a URL image of unknown size (274)."""
    cases, _ = corpus
    [case] = [c for c in cases if "test_describe_image_with_file_id" in c.path]
    assert "image:file" in case.features
    assert abs(case.error) <= 0.10, case


def test_the_estimate_is_not_biased(corpus) -> None:
    cases, _ = corpus
    summary = summarize(cases)
    assert abs(summary.estimate_total - summary.real_total) <= 0.05 * summary.real_total, summary

"""Fuzzing client error handling: Hypothesis strategies, per-example installation, chaos mode.

    from hypothesis import given, settings
    from mockserver import fuzz

    @settings(deadline=None)
    @given(scenario=fuzz.scenarios())
    def test_survives_anything(mockserver_session, scenario):
        with fuzz.installed(mockserver_session, scenario):
            ...

- :mod:`.strategies` — scenario rules drawn by Hypothesis (errors, faults, unusual replies and
  streams, sequences), in the scenario file format (needs ``hypothesis``: ``pip install
  claude-mockserver[fuzz]``).
- :mod:`.install` — ``installed(server, scenario)``, ``to_yaml(scenario)``.
- :mod:`.chaos` — ``mockserver serve --chaos SEED``: seeded faults for any client, and a report
  of how it behaved. Needs nothing beyond the server.

Names are loaded on first use, so the chaos mode never imports Hypothesis. Guide: docs/fuzzing.md.
"""

from __future__ import annotations

from typing import Any

from mockserver.fuzz.install import Installation, as_rules, installed, to_yaml

# The public names of .strategies (its __all__ is this list): here, so that listing them needs no Hypothesis.
_STRATEGIES = (
    "AWKWARD_PIECES", "BLOCK_KINDS", "FAULT_KINDS", "REAL_MESSAGES", "RETRYABLE_STATUSES", "RETRY_AFTER_FORMS", "STATUSES",
    "blocks", "byte_splits", "errors", "fault_steps", "faults", "http_date", "messages", "replies", "retry_after",
    "scenarios", "sequences", "should_retry", "steps", "stream_of", "streams", "texts", "tool_inputs", "wire_blocks",
    "with_faults",
)


def __getattr__(name: str) -> Any:
    if name in _STRATEGIES:
        from mockserver.fuzz import strategies

        return getattr(strategies, name)
    raise AttributeError(f"module 'mockserver.fuzz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_STRATEGIES])


__all__ = ["Installation", "as_rules", "installed", "to_yaml", *_STRATEGIES]

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
from mockserver.fuzz.names import STRATEGIES as _STRATEGIES


def __getattr__(name: str) -> Any:
    if name in _STRATEGIES:
        from mockserver.fuzz import strategies

        return getattr(strategies, name)
    raise AttributeError(f"module 'mockserver.fuzz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_STRATEGIES])


__all__ = ["Installation", "as_rules", "installed", "to_yaml", *_STRATEGIES]

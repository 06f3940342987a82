"""The one error a scenario can raise while loading: it names the file, the rule and the field."""

from __future__ import annotations


class ScenarioError(ValueError):
    """A mistake in a scenario, e.g. ``fixtures/x.yaml: rules[2] ("flaky"): sequence[1].error.status:
    must be an integer from 400 to 599``."""

    def __init__(self, problem: str, *, source: str | None = None, rule: str | None = None, field: str | None = None) -> None:
        self.problem = problem
        self.source = source
        self.rule = rule
        self.field = field
        where = [part for part in (source, rule, field) if part]
        super().__init__(f"{': '.join(where)}: {problem}" if where else problem)

"""The one error a scenario can raise while loading: it names the file, the rule and the field."""

from __future__ import annotations

from mockserver.documents import DocumentError, Where


class ScenarioError(DocumentError):
    """A mistake in a scenario, e.g. ``fixtures/x.yaml: rules[2] ("flaky"): sequence[1].error.status:
    must be an integer from 400 to 599``."""

    def __init__(
        self, problem: str, *, source: str | None = None, context: str | None = None, field: str | None = None, rule: str | None = None
    ) -> None:
        super().__init__(problem, source=source, context=context or rule, field=field)

    @property
    def rule(self) -> str | None:
        return self.context


def where(source: str, rule: str | None = None) -> Where:
    """Where a scenario document is read: its mistakes are :class:`ScenarioError` s."""
    return Where(source, rule, ScenarioError)

"""Install one example's scenario on a running server, for the length of a ``with`` block.

Hypothesis runs a test body many times per test, so the server must be shared across examples
(a session fixture such as ``mockserver_session``, or a module-level ``MockServer``) and each
example must leave nothing behind. ``installed`` gives each example a clean slate: the server
reset, fresh rules (sequence positions and ``nth`` counters start over), a re-seeded fault
generator (so ``random_error`` decides the same way when Hypothesis replays an example), and
removes the rules on the way out. Inside a Hypothesis test it also records the scenario as YAML,
which Hypothesis prints under the minimal failing example — ready to paste into a fixtures file.

Nothing here needs Hypothesis; ``installed`` works in any test.
"""

from __future__ import annotations

import hashlib
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import yaml

from mockserver.scenarios.format import ACTIONS

if TYPE_CHECKING:
    from mockserver.journal import Journal, JournalEntry
    from mockserver.scenarios.format import Rule
    from mockserver.harness.testing import MockServer

RULE_KEYS = frozenset(ACTIONS)


def as_rules(scenario: Any) -> list[dict[str, Any]] | dict[str, Any]:
    """A rule mapping, a step mapping, a list of rules, or a ``{rules: …}`` document — the
    forms a scenario file and :mod:`mockserver.fuzz.strategies` use — as something the
    server's loader takes (the document itself, or a list of rules)."""
    if isinstance(scenario, Mapping):
        if "rules" in scenario or "rate_limits" in scenario:
            return {**scenario, "rules": [dict(rule) for rule in scenario.get("rules") or []]}
        if RULE_KEYS & scenario.keys():
            return [dict(scenario)]
        raise ValueError(f"not a scenario rule or document: keys {sorted(scenario)} (expected one of {sorted(RULE_KEYS)}, or 'rules')")
    if isinstance(scenario, (list, tuple)):
        return [dict(rule) for rule in scenario]
    raise TypeError(f"a scenario is a mapping or a list of rules, not {type(scenario).__name__}")


def to_yaml(scenario: Any) -> str:
    """The scenario as a scenario file (``rules: [...]``): readable, and loadable as it is."""
    rules = as_rules(scenario)
    document = rules if isinstance(rules, dict) else {"rules": rules}
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)
    if yaml.safe_load(text) != document:
        # Some characters (NEL U+0085, …) are line breaks to YAML when written raw: escape them all.
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=False, default_flow_style=None, width=100)
    return text


@dataclass
class Installation:
    """What ``installed`` yields: the rules as loaded, and the server's journal (empty at entry)."""

    server: "MockServer"
    rules: list["Rule"]
    scenario: Any = field(repr=False)

    @property
    def journal(self) -> "Journal":
        return self.server.journal

    def calls(self, endpoint: str | None = "messages.create") -> list["JournalEntry"]:
        """The calls of this example (the journal was emptied when it began)."""
        return self.journal.calls(endpoint)

    @property
    def yaml(self) -> str:
        return to_yaml(self.scenario)


@contextmanager
def installed(server: "MockServer", scenario: Any, *, reset: bool = True) -> Iterator[Installation]:
    """Answer with ``scenario`` inside the block: ``with fuzz.installed(server, scenario) as run:``.

    With ``reset`` (the default) the server first goes back to how it started — journal,
    run-time rules, prompt cache, rate limits — as the ``mockserver`` fixture does before each
    test, so no example sees what an earlier one (or an earlier test) left; ``reset=False``
    keeps other rules and only empties the journal. Rules without a name get ``fuzz``,
    ``fuzz-2`` …; they go in front of the server's other rules and are removed on exit,
    whatever happens in the block.
    """
    if reset:
        server.reset()
    else:
        server.journal.clear()
    document = as_rules(scenario)
    rules_in = document["rules"] if isinstance(document, dict) else document
    taken = {rule.name for rule in server.rules}
    for rule in rules_in or []:
        if "name" not in rule:
            rule["name"] = _free_name(taken)
        taken.add(rule["name"])
    _note(scenario)
    _reseed(server, scenario)
    rules = server.add_rules(document)
    try:
        yield Installation(server, rules, scenario)
    finally:
        for rule in rules:
            server.remove_rule(rule.name)


def _free_name(taken: set[str]) -> str:
    name, n = "fuzz", 1
    while name in taken:
        n += 1
        name = f"fuzz-{n}"
    return name


def _reseed(server: "MockServer", scenario: Any) -> None:
    """The fault generator (``random_error``) seeded from the scenario, so an example that
    Hypothesis replays while shrinking behaves exactly as it did the first time."""
    digest = hashlib.sha256(repr(scenario).encode("utf-8", "surrogatepass")).hexdigest()
    server.api.renderer.rng = random.Random(digest)


def _note(scenario: Any) -> None:
    """Inside a Hypothesis test, report the scenario as YAML with the failing example."""
    try:
        from hypothesis import note
        from hypothesis.control import currently_in_test_context
    except ImportError:  # pragma: no cover - installed() works without Hypothesis
        return
    if currently_in_test_context():
        note("scenario of this example (paste into a fixtures file):\n" + to_yaml(scenario))

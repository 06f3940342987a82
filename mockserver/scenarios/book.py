"""The rules a server holds: from files (reloaded when they change) and added at run time.

Order of evaluation: higher ``priority`` first; then newer additions before older ones (a rule a
test adds shadows a file's catch-all); within one file or one call, top to bottom. The first
rule whose ``match`` accepts a request answers it.

All changes happen on the server's event loop (the admin API runs there; the Python API hops
onto it with ``ServerThread.call``), and ``rules`` is replaced, never mutated, so a request
being matched always sees one consistent list. Each rule gets its ``key`` (where the scenario
stage counts its matches in the store) from its group and load: the same in every process that
loads the same files, and new for a rule added, replaced or reloaded.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from mockserver.scenarios.errors import ScenarioError
from mockserver.scenarios.format import Document, Rule, load_file, parse_document, parse_text

if TYPE_CHECKING:
    from mockserver.ratelimit.limiter import RateLimiter

log = logging.getLogger("mockserver.scenarios")


@dataclass
class _Group:
    seq: int
    source: str
    rules: list[Rule]
    path: Path | None = None
    stamp: tuple[float, int] | None = None
    loaded: list[Rule] | None = None  # a file's rules as loaded (``reset`` brings back removed ones)
    loads: int = 0

    def keyed(self, rules: list[Rule]) -> list[Rule]:
        self.loads += 1
        for position, rule in enumerate(rules):
            rule.key = f"{self.seq}.{self.loads}.{position}"
        return rules


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime, st.st_size)


class ScenarioBook:
    def __init__(self, ratelimits: "RateLimiter | None" = None) -> None:
        self.rules: list[Rule] = []
        self._groups: list[_Group] = []
        self._seq = itertools.count(1)
        self._names = itertools.count()
        self.ratelimits = ratelimits
        # The rate limits the server started with (config), replaced by a file's ``rate_limits``;
        # what ``reset`` goes back to.
        self.base_rate_limits = ratelimits.config if ratelimits is not None else None

    # -- files -------------------------------------------------------------------------------------
    @property
    def files(self) -> list[Path]:
        return [g.path for g in self._groups if g.path is not None]

    def load_files(self, paths: Iterable[str | Path]) -> None:
        """Load every file or none (the first mistake raises :class:`ScenarioError`)."""
        loaded = []
        for path in map(Path, paths):
            stamp = _stamp(path)
            loaded.append((path, stamp, load_file(path)))
        for path, stamp, document in loaded:
            self._install_file(path, stamp, document)
        self._rebuild()

    def reload_changed(self) -> list[Path]:
        """Reload the files whose modification time or size changed; a file with a mistake is
        logged and its last good rules kept. Returns the files reloaded."""
        reloaded = []
        for group in [g for g in self._groups if g.path is not None]:
            assert group.path is not None
            stamp = _stamp(group.path)
            if stamp is None or stamp == group.stamp:
                continue
            try:
                document = load_file(group.path)
            except ScenarioError as exc:
                group.stamp = stamp  # report a broken file once, not every poll
                log.error("scenario reload failed, keeping the previous rules: %s", exc)
                continue
            self._install_file(group.path, stamp, document)
            reloaded.append(group.path)
            log.info("scenario reloaded: %s (%d rules)", group.path, len(document.rules))
        if reloaded:
            self._rebuild()
        return reloaded

    def _install_file(self, path: Path, stamp: tuple[float, int] | None, document: Document) -> None:
        for group in self._groups:
            if group.path == path:
                group.rules, group.stamp, group.loaded = list(group.keyed(document.rules)), stamp, document.rules
                break
        else:
            group = _Group(next(self._seq), str(path), [], path, stamp, document.rules)
            group.rules = list(group.keyed(document.rules))
            self._groups.append(group)
        self._apply_limits(document, from_file=True)

    def _apply_limits(self, document: Document, *, from_file: bool = False) -> None:
        if document.rate_limits_given and self.ratelimits is not None:
            self.ratelimits.configure(document.rate_limits)
            if from_file:
                self.base_rate_limits = document.rate_limits

    # -- run-time additions -----------------------------------------------------------------------
    def add(self, data: Any, *, source: str = "<python>", label: str = "python") -> list[Rule]:
        """Add rules from a parsed document (a rule, a list of rules, or ``{rules, rate_limits}``),
        or from YAML text. A rule named like an existing one replaces it."""
        start = next(self._names)
        if isinstance(data, str):
            document = parse_text(data, source=source, label=label, first_index=start)
        else:
            document = parse_document(data, source=source, label=label, first_index=start)
        for _ in range(max(0, len(document.rules) - 1)):
            next(self._names)
        return self.add_document(document, source=source)

    def add_document(self, document: Document, *, source: str) -> list[Rule]:
        """Add already parsed rules (and rate limits) as one group, newest first."""
        names = {rule.name for rule in document.rules}
        for group in self._groups:
            group.rules = [r for r in group.rules if r.name not in names]
        group = _Group(next(self._seq), source, [])
        group.rules = group.keyed(document.rules)
        self._groups.append(group)
        self._apply_limits(document)
        self._rebuild()
        return document.rules

    def remove(self, name: str) -> bool:
        found = False
        for group in self._groups:
            kept = [r for r in group.rules if r.name != name]
            found = found or len(kept) != len(group.rules)
            group.rules = kept
        self._rebuild()
        return found

    def clear(self) -> None:
        """Drop the rules added at run time; file rules start over (their counts in the store
        are the scenario stage's to forget)."""
        self._groups = [g for g in self._groups if g.path is not None]
        self._names = itertools.count()  # default names (python[0], admin[0]) start over
        for group in self._groups:
            group.rules = list(group.loaded or ())
            for rule in group.rules:
                rule.reset()
        self._rebuild()

    def reset(self) -> None:
        """Back to how the server started: file rules only, fresh, and the starting rate limits."""
        self.clear()
        if self.ratelimits is not None:
            self.ratelimits.configure(self.base_rate_limits)

    def get(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    # -- evaluation order --------------------------------------------------------------------------
    def _rebuild(self) -> None:
        ordered = []
        for group in self._groups:
            for position, rule in enumerate(group.rules):
                ordered.append((-rule.priority, -group.seq, position, rule))
        ordered.sort(key=lambda item: item[:3])
        self.rules = [item[3] for item in ordered]

    def to_json(self) -> list[dict[str, Any]]:
        return [rule.to_json() for rule in self.rules]

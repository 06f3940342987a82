"""The rules a server holds: from files (reloaded when they change) and added at run time, per
namespace.

Order of evaluation: higher ``priority`` first; then rules added at run time before the files'
rules, newer additions before older ones (a rule a test adds shadows a file's catch-all);
within one file or one call, top to bottom. The first rule whose ``match`` accepts a request
answers it.

Namespaces (``x-mock-namespace``): the files' rules belong to every namespace, each with its own
counts; rules added at run time, rules removed, and rate limits set at run time belong to the
namespace that changed them (:class:`Overlay`). An overlay is plain data (:meth:`export`), so a
server whose store is shared (mockserver/scenarios/shared.py) can hand it to every process,
which :meth:`install` s it: the same rules, under the same keys, everywhere.

All changes happen on the server's event loop (the admin API runs there; the Python API hops
onto it), and the lists :meth:`rules_for` returns are replaced, never mutated, so a request
being matched always sees one consistent list. Each rule has a ``key`` (where the scenario stage
counts its matches in the store, under the namespace): the same in every process that loads the
same files or installs the same overlay, and new for a rule added or replaced, or a file changed.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from mockserver.ratelimit.limiter import RateLimitConfig
from mockserver.scenarios.errors import ScenarioError
from mockserver.scenarios.format import Document, Rule, parse_document, parse_text, read_file

if TYPE_CHECKING:
    from mockserver.documents import Yaml11Scalar
    from mockserver.ratelimit.limiter import RateLimiter

log = logging.getLogger("mockserver.scenarios")
DEFAULT_NAMESPACE = "default"
MAX_CACHED = 10_000  # namespaces whose evaluation order is kept ready


@dataclass
class _Group:
    """The rules of one file."""

    seq: int
    source: str
    rules: list[Rule]
    path: Path | None = None
    stamp: tuple[float, int] | None = None

    def keyed(self, rules: list[Rule], text: str) -> list[Rule]:
        """Keys from the file's place and content: every process that loads the same text counts
        under the same keys, and a changed file's rules count afresh."""
        digest = hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
        for position, rule in enumerate(rules):
            rule.key = f"{self.seq}.{digest}.{position}"
        return rules


@dataclass
class Added:
    """The rules of one run-time addition in a namespace, and what they were parsed from."""

    seq: int
    source: str
    label: str
    first_index: int
    document: Any  # the mapping/list, or YAML text, as given
    rules: list[Rule] = field(default_factory=list)
    removed: set[str] = field(default_factory=set)

    def live(self) -> list[Rule]:
        return [r for r in self.rules if r.name not in self.removed] if self.removed else self.rules


@dataclass
class Overlay:
    """One namespace's run-time changes to the rules and the rate limits."""

    groups: list[Added] = field(default_factory=list)
    hidden: set[str] = field(default_factory=set)  # file rules removed or replaced here
    names: int = 0  # the next default name's index (python[0], admin[0] …)
    next_seq: int = 1
    epoch: int = 0  # bumped by clear: the files' rules start over
    limits_set: bool = False  # rate limits set here (``limits``; None: emulation off)
    limits: RateLimitConfig | None = None
    limits_gen: int = 0
    version: int = 0  # the shared store's version of this overlay (shared.py)

    def export(self) -> dict[str, Any]:
        return {
            "groups": [
                {"seq": g.seq, "source": g.source, "label": g.label, "first": g.first_index, "document": g.document,
                 "removed": sorted(g.removed)}
                for g in self.groups
            ],
            "hidden": sorted(self.hidden),
            "names": self.names,
            "next_seq": self.next_seq,
            "epoch": self.epoch,
            "limits": (self.limits.to_json() if self.limits is not None else None) if self.limits_set else "unset",
            "limits_gen": self.limits_gen,
        }


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime, st.st_size)


def _load(path: Path) -> tuple[str, Document]:
    text = read_file(path)
    return text, parse_text(text, source=str(path), label=path.name)


def _parse(document: Any, *, source: str, label: str, first_index: int, yaml11: dict[tuple[Any, ...], Yaml11Scalar] | None = None) -> Document:
    if isinstance(document, str):
        return parse_text(document, source=source, label=label, first_index=first_index)
    return parse_document(document, source=source, label=label, first_index=first_index, yaml11=yaml11)


class ScenarioBook:
    def __init__(self, ratelimits: "RateLimiter | None" = None) -> None:
        self._groups: list[_Group] = []
        self._seq = itertools.count(1)
        self._overlays: dict[str, Overlay] = {}
        self._copies: dict[str, dict[str, Rule]] = {}  # per namespace: its counting copies of the files' rules
        self._cache: dict[str, list[Rule]] = {}
        self.any = False  # any rule at all, in any namespace (the stage's one check)
        self.generation = 0  # counts the changes: an answer kept under one set of rules is not given under another
        self.ratelimits = ratelimits

    # -- files -------------------------------------------------------------------------------------
    @property
    def files(self) -> list[Path]:
        return [g.path for g in self._groups if g.path is not None]

    def load_files(self, paths: Iterable[str | Path]) -> None:
        """Load every file or none (the first mistake raises :class:`ScenarioError`)."""
        loaded = []
        for path in map(Path, paths):
            stamp = _stamp(path)
            loaded.append((path, stamp, *_load(path)))
        for path, stamp, text, document in loaded:
            self._install_file(path, stamp, text, document)
        self._changed(None)

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
                text, document = _load(group.path)
            except ScenarioError as exc:
                group.stamp = stamp  # report a broken file once, not every poll
                log.error("scenario reload failed, keeping the previous rules: %s", exc)
                continue
            self._install_file(group.path, stamp, text, document)
            reloaded.append(group.path)
            log.info("scenario reloaded: %s (%d rules)", group.path, len(document.rules))
        if reloaded:
            self._changed(None)
        return reloaded

    def _install_file(self, path: Path, stamp: tuple[float, int] | None, text: str, document: Document) -> None:
        for group in self._groups:
            if group.path == path:
                group.rules, group.stamp = list(group.keyed(document.rules, text)), stamp
                break
        else:
            group = _Group(next(self._seq), str(path), [], path, stamp)
            group.rules = list(group.keyed(document.rules, text))
            self._groups.append(group)
        if document.rate_limits_given and self.ratelimits is not None:
            self.ratelimits.configure(document.rate_limits)  # the limits every namespace starts with

    # -- run-time changes, per namespace -----------------------------------------------------------
    def _overlay(self, namespace: str) -> Overlay:
        overlay = self._overlays.get(namespace)
        if overlay is None:
            overlay = self._overlays[namespace] = Overlay()
        return overlay

    def add(
        self, data: Any, *, source: str = "<python>", label: str = "python", namespace: str = DEFAULT_NAMESPACE,
        first_index: int | None = None, yaml11: dict[tuple[Any, ...], Yaml11Scalar] | None = None,
    ) -> list[Rule]:
        """Add rules from a parsed document (a rule, a list of rules, or ``{rules, rate_limits}``),
        or from YAML text, as one group, newest first. A rule named like an existing one replaces
        it. Default names count per namespace unless ``first_index`` is given. ``yaml11``: a
        document parsed from YAML, its YAML-1.1-only scalars (``load_yaml_text``), refused where
        text is meant as a file's are."""
        overlay = self._overlays.get(namespace) or Overlay()
        start = overlay.names if first_index is None else first_index
        document = _parse(data, source=source, label=label, first_index=start, yaml11=yaml11)  # a mistake changes nothing
        overlay = self._overlay(namespace)
        if first_index is None:
            overlay.names += max(1, len(document.rules))
        names = {rule.name for rule in document.rules}
        for group in overlay.groups:
            group.removed |= names & {r.name for r in group.rules}
        overlay.hidden |= names & {r.name for g in self._groups for r in g.rules}
        added = Added(overlay.next_seq, source, label, start, data)
        overlay.next_seq += 1
        added.rules = self._keyed(added, document.rules)
        overlay.groups.append(added)
        if document.rate_limits_given:
            self._set_limits(overlay, namespace, document.rate_limits)
        self._changed(namespace)
        return document.rules

    @staticmethod
    def _keyed(added: Added, rules: list[Rule]) -> list[Rule]:
        for position, rule in enumerate(rules):
            rule.key = f"r{added.seq}.{position}"
        return rules

    def remove(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> bool:
        found = any(r.name == name for r in self.rules_for(namespace))
        if found:
            overlay = self._overlay(namespace)
            for group in overlay.groups:
                if any(r.name == name for r in group.rules):
                    group.removed.add(name)
            if any(r.name == name for g in self._groups for r in g.rules):
                overlay.hidden.add(name)
            self._changed(namespace)
        return found

    def clear(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        """Drop the rules added at run time; file rules start over (their counts in the store
        are the scenario stage's to forget). Rate limits set here stay."""
        overlay = self._overlay(namespace)
        overlay.groups, overlay.hidden, overlay.names, overlay.epoch = [], set(), 0, overlay.epoch + 1
        self._copies.pop(namespace, None)
        self._changed(namespace)

    def reset(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        """Back to how the server started, in this namespace: file rules only, fresh, and the
        starting rate limits."""
        self._overlays.pop(namespace, None)
        self._copies.pop(namespace, None)
        if self.ratelimits is not None:
            self.ratelimits.drop_override(namespace)
        self._changed(namespace)

    def set_limits(self, config: RateLimitConfig | None, namespace: str = DEFAULT_NAMESPACE) -> None:
        """Rate limits for this namespace (``None``: emulation off here), buckets full."""
        self._set_limits(self._overlay(namespace), namespace, config)
        self._changed(namespace)

    def _set_limits(self, overlay: Overlay, namespace: str, config: RateLimitConfig | None) -> None:
        overlay.limits_set, overlay.limits = True, config
        overlay.limits_gen += 1
        if self.ratelimits is not None:
            self.ratelimits.override(namespace, config, overlay.limits_gen)

    # -- sharing overlays between processes (shared.py) --------------------------------------------
    def export(self, namespace: str) -> dict[str, Any] | None:
        overlay = self._overlays.get(namespace)
        return overlay.export() if overlay is not None else None

    def version(self, namespace: str) -> int:
        overlay = self._overlays.get(namespace)
        return overlay.version if overlay is not None else 0

    def set_version(self, namespace: str, version: int) -> None:
        self._overlay(namespace).version = version

    def install(self, namespace: str, data: dict[str, Any] | None, version: int) -> None:
        """Take another process's overlay of ``namespace`` (``None``: it was reset). Groups
        already parsed here are kept (with their counting mirrors); new ones are parsed."""
        old = self._overlays.get(namespace)
        if data is None:
            self.reset(namespace)
            return
        known = {g.seq: g for g in old.groups} if old is not None else {}
        overlay = Overlay(
            hidden=set(data["hidden"]), names=data["names"], next_seq=data["next_seq"], epoch=data["epoch"],
            limits_gen=data["limits_gen"], version=version,
        )
        for spec in data["groups"]:
            group = known.get(spec["seq"])
            if group is None or group.document != spec["document"]:
                group = Added(spec["seq"], spec["source"], spec["label"], spec["first"], spec["document"])
                parsed = _parse(spec["document"], source=spec["source"], label=spec["label"], first_index=spec["first"])
                group.rules = self._keyed(group, parsed.rules)
            group.removed = set(spec["removed"])
            overlay.groups.append(group)
        if data["limits"] != "unset":
            overlay.limits_set = True
            overlay.limits = RateLimitConfig.parse(data["limits"]) if data["limits"] is not None else None
        if old is None or old.epoch != overlay.epoch:
            self._copies.pop(namespace, None)
        self._overlays[namespace] = overlay
        if self.ratelimits is not None:
            if overlay.limits_set:
                self.ratelimits.override(namespace, overlay.limits, overlay.limits_gen)
            else:
                self.ratelimits.drop_override(namespace)
        self._changed(namespace)

    def namespaces(self) -> list[str]:
        """The namespaces with run-time changes."""
        return list(self._overlays)

    def holds(self, namespace: str) -> bool:
        """Whether the namespace has run-time changes (rules added or removed, limits set): state
        a user set up, which the store must not forget to make room for other namespaces."""
        return namespace in self._overlays

    def forget(self, namespace: str) -> None:
        """The store forgot the namespace (its counts among them): so do its counting copies of
        the files' rules and its evaluation order, made again with counts at zero if it returns."""
        if namespace not in self._overlays:
            self._copies.pop(namespace, None)
            self._cache.pop(namespace, None)

    # -- evaluation order --------------------------------------------------------------------------
    @property
    def rules(self) -> list[Rule]:
        """The rules of the default namespace, in evaluation order."""
        return self.rules_for(DEFAULT_NAMESPACE)

    def rules_for(self, namespace: str) -> list[Rule]:
        rules = self._cache.get(namespace)
        if rules is None:
            rules = self._build(namespace)
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[namespace] = rules
        return rules

    def _build(self, namespace: str) -> list[Rule]:
        overlay = self._overlays.get(namespace)
        copies = self._copies.get(namespace)
        if copies is None:
            copies = self._copies[namespace] = {}
        hidden = overlay.hidden if overlay is not None else ()
        ordered: list[tuple[int, int, int, int, Rule]] = []
        for group in self._groups:
            for position, rule in enumerate(group.rules):
                if rule.name in hidden:
                    continue
                mine = copies.get(rule.key)
                if mine is None:
                    mine = copies[rule.key] = copy.copy(rule)
                    mine.reset()
                ordered.append((-rule.priority, 1, -group.seq, position, mine))
        if overlay is not None:
            for added in overlay.groups:
                for position, rule in enumerate(added.live()):
                    ordered.append((-rule.priority, 0, -added.seq, position, rule))
        ordered.sort(key=lambda item: item[:4])
        return [item[4] for item in ordered]

    def _changed(self, namespace: str | None) -> None:
        """Forget the evaluation order of ``namespace`` (``None``: of all, the files changed)."""
        self.generation += 1
        if namespace is None:
            self._cache.clear()
            self._copies.clear()
        else:
            self._cache.pop(namespace, None)
        self.any = any(g.rules for g in self._groups) or any(o.groups for o in self._overlays.values())

    def get(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> Rule | None:
        return next((r for r in self.rules_for(namespace) if r.name == name), None)

    def to_json(self, namespace: str = DEFAULT_NAMESPACE) -> list[dict[str, Any]]:
        return [rule.to_json() for rule in self.rules_for(namespace)]

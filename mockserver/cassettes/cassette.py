"""A cassette in use: its interactions, how often each was played, and a single writer that saves
every new recording atomically as soon as it completes.

Saving happens after each interaction (not at exit), so a recorder killed at any instant leaves a
whole, parsable file holding everything completed before. Concurrent requests append on the
server's event loop; one writer task saves the latest snapshot, coalescing bursts, in a worker
thread so a large cassette never stalls the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Iterable

from mockserver.cassettes import format as fmt
from mockserver.cassettes.importers import load_any
from mockserver.cassettes.matchers import Matcher, closest
from mockserver.cassettes.model import Interaction, RecordedRequest
from mockserver.cassettes.redact import Redactor, known_in, mask

log = logging.getLogger("mockserver.record")


class Cassette:
    def __init__(
        self,
        interactions: Iterable[Interaction] = (),
        *,
        path: Path | None = None,
        matcher: Matcher | None = None,
        redactor: Redactor | None = None,
        allow_repeats: bool = False,
        kind: str = "mockserver",
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.matcher = matcher or Matcher()
        self.redactor = redactor or Redactor()
        self.allow_repeats = allow_repeats
        self.kind = kind
        self.interactions: list[Interaction] = []
        self.plays: list[int] = []
        self._keys: list[tuple[object, ...]] = []
        self.recorded = 0
        for item in interactions:
            self._add(item)
        self._known: set[str] = set()
        self._dirty = False
        self._writer: asyncio.Task[None] | None = None
        self._write_lock = threading.Lock()

    @classmethod
    def load(cls, paths: Iterable[Path | str], **options: object) -> "Cassette":
        """Every interaction of every file (any supported format), in order; missing files are empty."""
        paths = [Path(p) for p in paths]
        interactions: list[Interaction] = []
        kinds = set()
        for path in paths:
            if path.exists():
                loaded = load_any(path)
                kinds.add(loaded.kind)
                interactions.extend(loaded.interactions)
        kind = kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "mockserver")
        return cls(interactions, path=paths[0] if paths else None, kind=kind, **options)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.interactions)

    def _add(self, interaction: Interaction) -> None:
        self.interactions.append(interaction)
        self.plays.append(0)
        self._keys.append(self.matcher.key(interaction.request))

    # -- replay ------------------------------------------------------------------------------
    def matching(self, request: RecordedRequest) -> list[int]:
        key = self.matcher.key(request)
        return [
            i for i, k in enumerate(self._keys)
            if k == key and (self.matcher.custom is None or self.matcher.custom(request, self.interactions[i].request))
        ]

    def play(self, request: RecordedRequest) -> Interaction | None:
        """The first matching interaction not played yet (identical requests replay in recorded order)."""
        found = self.matching(request)
        for i in found:
            if self.plays[i] == 0:
                self.plays[i] += 1
                return self.interactions[i]
        if found and self.allow_repeats:
            self.plays[found[-1]] += 1
            return self.interactions[found[-1]]
        return None

    def explain_miss(self, request: RecordedRequest) -> str:
        """One sentence for the error body and the log: the closest recording and how it differs.
        It quotes the request, so every secret in it is masked whole (not even a prefix shows)."""
        return mask(self._explain_miss(request), known_in([request], self.redactor))

    def _explain_miss(self, request: RecordedRequest) -> str:
        where = f"cassette {self.path}" if self.path else "the cassette"
        found = self.matching(request)
        if found:
            return (
                f"all {len(found)} recorded interaction(s) matching {request.describe()} in {where} were already played "
                "(identical requests replay once each, in recorded order; allow repeats to replay the last again)"
            )
        base = f"no recorded interaction in {where} matches {request.describe()}"
        if not self.interactions:
            if self.path is not None and not self.path.exists():
                return base + f" (there is no cassette file at {self.path}: record it with record mode once)"
            return base + " (the cassette is empty)"
        best = closest(self.matcher, request, enumerate(self.interactions))
        assert best is not None
        index, item = best
        diffs = self.matcher.differences(request, item.request)
        return f"{base}; closest is #{index} {item.request.describe()}: " + "; ".join(diffs or ["differs"])

    # -- recording ---------------------------------------------------------------------------
    def append(self, interaction: Interaction) -> Interaction:
        """Redact (always, before anything can be written), keep, and schedule a save. The
        credentials every request so far carried are searched for (kept in memory only): an
        upstream may echo a key in a later answer than the one it came with."""
        self._known |= self.redactor.known_values(interaction)
        clean = self.redactor.interaction(interaction, known=self._known)
        self._add(clean)
        self.plays[-1] = 1  # recorded in this session: not replayed again in it (as vcrpy)
        self.recorded += 1
        if self.path is not None:
            self._dirty = True
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.save()
            else:
                if self._writer is None or self._writer.done():
                    self._writer = loop.create_task(self._write_loop())
        return clean

    async def _write_loop(self) -> None:
        while self._dirty:
            self._dirty = False
            snapshot = list(self.interactions)
            try:
                await asyncio.to_thread(self._write, snapshot)
            except Exception:  # a full disk must not kill the recorder: say so, keep the old file
                log.exception("mockserver record: could not save %s", self.path)

    def _write(self, snapshot: list[Interaction]) -> None:
        assert self.path is not None
        with self._write_lock:
            fmt.save(self.path, snapshot)

    def save(self) -> None:
        """Write now, from any thread (the writer lock keeps writes one at a time)."""
        if self.path is not None:
            self._dirty = False
            self._write(list(self.interactions))

    async def flush(self) -> None:
        """Wait until every recording so far is on disk."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

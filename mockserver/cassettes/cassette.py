"""A cassette in use: its interactions, how often each was played, and how new recordings
reach the disk.

Each recording is written before its response is finished: the recorder awaits :meth:`record`
(redact, then append one item to the file and fsync it, in a worker thread) before it sends the
last of the body, so a client that has seen a response complete can count on it being in the
file — a SIGKILL a moment later loses nothing it saw. The first write of a session rewrites the
file whole (atomically, in the readable block style); later ones append one item each, which
costs the same at 10 or 10,000 interactions. :meth:`flush`, when the recorder stops, rewrites
the file in block style again. A write that fails (a full disk) raises
:class:`~mockserver.cassettes.format.CassetteWriteError` to the recorder, which tells the client,
and is counted in :attr:`Cassette.failed`, so the recorder can exit non-zero and never claim the
interaction was saved.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Iterable

from mockserver.cassettes import format as fmt
from mockserver.cassettes.format import CassetteWriteError
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
        writer: fmt.Writer | None = None,
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
        self.writer = writer or fmt.Writer()
        self._write_lock = threading.Lock()
        self._on_disk: list[Interaction] = list(self.interactions)
        """What the file holds once this session has written it (in file order)."""
        self._written = False  # the session's first write rewrites the file whole
        self._appended = 0  # items appended since the file was last written whole
        self._damaged = False
        self.failed = 0
        """Recordings that could not be written (their clients were told)."""
        self.error: str | None = None
        """Why the first of them failed."""

    @classmethod
    def load(cls, paths: Iterable[Path | str], **options: object) -> "Cassette":
        """Every interaction of every file (any supported format), in order; missing files are empty."""
        files = [Path(p) for p in paths]
        interactions: list[Interaction] = []
        kinds = set()
        for path in files:
            if path.exists():
                loaded = load_any(path)
                kinds.add(loaded.kind)
                interactions.extend(loaded.interactions)
        kind = kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "mockserver")
        return cls(interactions, path=files[0] if files else None, kind=kind, **options)  # type: ignore[arg-type]  # the options are __init__'s

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
                "(identical requests replay once each, in recorded order: replay with --allow-repeats, or "
                "allow_repeats=True, to answer with the last one again; POST /_mock/reset starts the cassette over)"
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

    def rewind(self) -> None:
        """Every interaction may be played again (a new client run: ``POST /_mock/reset``)."""
        self.plays = [0] * len(self.interactions)

    # -- recording ---------------------------------------------------------------------------
    def _redact(self, interaction: Interaction) -> Interaction:
        """Without its secrets; the credentials every request so far carried are searched for too
        (kept in memory only): an upstream may echo a key in a later answer than its own."""
        self._known |= self.redactor.known_values(interaction)
        return self.redactor.interaction(interaction, known=self._known)

    def _persist(self, clean: Interaction) -> None:
        """Put one redacted interaction in the file (any thread; one write at a time)."""
        if self.path is None:
            return
        with self._write_lock:
            try:
                if self._damaged:
                    raise CassetteWriteError(f"not writing to {self.path}: an earlier write may have left a partial item in it")
                if not self._written:
                    self.writer.replace(self.path, fmt.dumps([*self._on_disk, clean]))
                    self._written = True
                else:
                    self.writer.append(self.path, fmt.dump_appended(clean))
                    self._appended += 1
            except OSError as exc:
                self.failed += 1
                if isinstance(exc, CassetteWriteError) and exc.damaged:
                    self._damaged = True
                reason = str(exc) if isinstance(exc, CassetteWriteError) else f"cannot write {self.path}: {exc.strerror or exc}"
                if self.error is None:
                    self.error = reason
                log.error("mockserver record: could not save an interaction: %s", reason)
                raise CassetteWriteError(reason, damaged=self._damaged) from exc
            self._on_disk.append(clean)

    def _remember(self, clean: Interaction) -> None:
        self._add(clean)
        self.plays[-1] = 1  # recorded in this session: not replayed again in it (as vcrpy)
        self.recorded += 1

    def append(self, interaction: Interaction) -> Interaction:
        """Redact (always, before anything can be written), write, keep — from any thread, with
        no event loop needed. Raises :class:`CassetteWriteError` when the write fails."""
        clean = self._redact(interaction)
        self._persist(clean)
        self._remember(clean)
        return clean

    async def record(self, interaction: Interaction) -> Interaction:
        """:meth:`append` for the server's loop: redaction and the write run in a worker thread;
        this returns once the interaction is in the file (or raises)."""
        clean = await asyncio.to_thread(self._redact_and_persist, interaction)
        self._remember(clean)
        return clean

    def _redact_and_persist(self, interaction: Interaction) -> Interaction:
        clean = self._redact(interaction)
        self._persist(clean)
        return clean

    def save(self) -> None:
        """Rewrite the file whole, now, from any thread (block style; every interaction held)."""
        if self.path is None:
            return
        with self._write_lock:
            snapshot = list(self.interactions)
            self.writer.replace(self.path, fmt.dumps(snapshot))
            self._on_disk, self._written, self._appended, self._damaged = snapshot, True, 0, False

    def compact(self) -> None:
        """Rewrite the file in block style if items were appended to it (what it holds is kept:
        a failure here is logged, and the appended file stays as it is, whole)."""
        if self.path is None:
            return
        with self._write_lock:
            if not self._appended or self._damaged:
                return
            try:
                self.writer.replace(self.path, fmt.dumps(self._on_disk))
            except OSError as exc:
                log.warning("mockserver record: %s holds every interaction, but could not be rewritten in block style: %s",
                            self.path, exc.strerror or exc)
                return
            self._appended = 0

    async def flush(self) -> None:
        """Everything recorded is already in the file; tidy it into block style (off the loop)."""
        if self._appended:
            await asyncio.to_thread(self.compact)

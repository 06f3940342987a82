"""Open a cassette for a server: the record mode decides what its stage does.

    none          replay only; a request with no recording gets an error       [replay]
    once          ``none`` if the cassette file exists, else ``all``
    new_episodes  replay what matches, record the rest                         [replay, record]
    all           record every request, replay nothing; the file keeps what    [record]
                  it had and gains the new interactions (as vcrpy)
    rewrite       ``all`` starting from an empty cassette (pytest-recording's)  [record]

The meanings are vcrpy's (and Ruby VCR's): a request recorded in this session is not replayed
in it. The composition root (mockserver/root.py) puts the stage in the chain; with a cassette,
every path and method reaches it unchecked — the recording (or the upstream) is the truth.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from mockserver.cassettes import format as fmt
from mockserver.cassettes.cassette import Cassette
from mockserver.cassettes.format import CassetteError
from mockserver.cassettes.matchers import DEFAULT_MATCH_ON, CustomMatcher, Matcher
from mockserver.cassettes.record import DEFAULT_UPSTREAM, Recorder
from mockserver.cassettes.redact import Redactor
from mockserver.cassettes.replay import Replayer
from mockserver.cassettes.stage import CassetteStage
from mockserver.clock import Clock

UPSTREAM_ENV = "MOCKSERVER_RECORD_UPSTREAM"


class RecordMode(str, enum.Enum):
    NONE = "none"
    ONCE = "once"
    NEW_EPISODES = "new_episodes"
    ALL = "all"
    REWRITE = "rewrite"


RECORD_MODES = tuple(m.value for m in RecordMode)


@dataclass
class CassetteOptions:
    """Everything ``record``, ``replay`` and the pytest fixture configure. ``paths[0]`` is where
    recordings are written; further paths are only replayed from."""

    paths: Sequence[Path | str]
    record_mode: str = RecordMode.NONE.value
    upstream: str | None = None
    match_on: tuple[str, ...] = DEFAULT_MATCH_ON
    ignore_fields: tuple[str, ...] = ()
    match_fields: tuple[str, ...] = ()
    custom_matcher: CustomMatcher | None = None
    redact_headers: tuple[str, ...] = ()
    allow_repeats: bool = False
    realtime: bool = False
    speed: float = 1.0
    rewrite_urls: bool = True
    extra: dict[str, object] = field(default_factory=dict)

    def effective_mode(self) -> RecordMode:
        mode = RecordMode(self.record_mode)
        if mode is RecordMode.ONCE:
            return RecordMode.NONE if self.paths and Path(self.paths[0]).exists() else RecordMode.ALL
        return mode

    def upstream_url(self) -> str:
        return self.upstream or os.environ.get(UPSTREAM_ENV) or DEFAULT_UPSTREAM


@dataclass
class Installed:
    """A cassette opened for a server: its stage, and what the CLI banner and tests show."""

    cassette: Cassette
    mode: RecordMode
    upstream: str | None
    stage: CassetteStage

    async def flush(self) -> None:
        await self.cassette.flush()

    def failed_line(self) -> str | None:
        """The sentence that reports the cassette's failed writes (``None``: there were none)."""
        cassette = self.cassette
        if not cassette.failed:
            return None
        return (f"FAILED to write {cassette.failed} of {cassette.recorded + cassette.failed} new interaction(s) "
                f"to {cassette.path}: {cassette.error}")

    def unrecorded_line(self) -> str | None:
        """The sentence that reports the exchanges answered while recording that are not in the
        cassette (over the size limit, cut short, …: ``stage.recorder.unrecorded`` says why);
        ``None``: there were none."""
        recorder = self.stage.recorder
        if recorder is None or not recorder.not_recorded:
            return None
        return (f"INCOMPLETE: {recorder.not_recorded} exchange(s) answered while recording are NOT in {self.cassette.path}, "
                f"so replaying them will miss: {recorder.describe_unrecorded()}")

    async def close(self) -> None:
        """Every recording on disk, upstream connections closed."""
        await self.stage.close()
        await self.cassette.flush()


def open_cassette(options: CassetteOptions, mode: RecordMode) -> Cassette:
    matcher = Matcher(on=tuple(options.match_on), ignore=tuple(options.ignore_fields), fields=tuple(options.match_fields),
                      custom=options.custom_matcher)
    redactor = Redactor.with_headers(options.redact_headers)
    paths = [Path(p) for p in options.paths]
    if mode is RecordMode.REWRITE:
        return Cassette(path=paths[0], matcher=matcher, redactor=redactor, allow_repeats=options.allow_repeats)
    cassette = Cassette.load(paths, matcher=matcher, redactor=redactor, allow_repeats=options.allow_repeats)
    if mode is not RecordMode.NONE and paths and paths[0].exists() and cassette.kind not in ("mockserver",):
        raise CassetteError(
            f"{paths[0]} is a {cassette.kind} cassette: recording writes mockserver cassettes only; "
            f"convert it first (mockserver cassette convert {paths[0]} -o NEW.yaml) or record to a new file"
        )
    return cassette


def install(options: CassetteOptions, *, clock: Clock, base_url: Callable[[], str]) -> Installed:
    """Open the cassette and build its stage (the root puts it in the chain)."""
    if not options.paths:
        raise CassetteError("a cassette path is needed")
    mode = options.effective_mode()
    cassette = open_cassette(options, mode)
    if mode is not RecordMode.NONE:
        fmt.check_writable(Path(options.paths[0]))  # a read-only folder fails now, not at the first answer
        fmt.remove_stale_temporaries(Path(options.paths[0]))
    replayer = None
    if mode in (RecordMode.NONE, RecordMode.NEW_EPISODES):
        replayer = Replayer(
            cassette, base_url, fallthrough=mode is RecordMode.NEW_EPISODES, realtime=options.realtime, speed=options.speed,
            rewrite_urls=options.rewrite_urls,
        )
    upstream = recorder = None
    if mode is not RecordMode.NONE:
        upstream = options.upstream_url()
        recorder = Recorder(clock, base_url, upstream, capture=cassette.record)
    return Installed(cassette, mode, upstream, CassetteStage(replayer, recorder))

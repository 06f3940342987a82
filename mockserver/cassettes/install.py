"""Put a cassette on a server: the record mode decides which responders go in front.

    none          replay only; a request with no recording gets an error       [Replay]
    once          ``none`` if the cassette file exists, else ``all``
    new_episodes  replay what matches, record the rest                         [Replay, Upstream]
    all           record every request, replay nothing; the file keeps what    [Upstream]
                  it had and gains the new interactions (as vcrpy)
    rewrite       ``all`` starting from an empty cassette (pytest-recording's)  [Upstream]

The meanings are vcrpy's (and Ruby VCR's): a request recorded in this session is not replayed
in it. Installing sets ``state.passthrough``, so every path and method reaches these responders
unchecked — the recording (or the upstream) is the truth.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from mockserver.cassettes.replay import ReplayResponder
from mockserver.cassettes.record import DEFAULT_UPSTREAM, UpstreamResponder
from mockserver.cassettes import format as fmt
from mockserver.cassettes.cassette import Cassette
from mockserver.cassettes.format import CassetteError
from mockserver.cassettes.matchers import DEFAULT_MATCH_ON, CustomMatcher, Matcher
from mockserver.cassettes.redact import Redactor

if TYPE_CHECKING:
    from mockserver.pipeline.root import ServerState

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
    """What was put on the server, for the CLI banner and for tests."""

    cassette: Cassette
    mode: RecordMode
    upstream: str | None

    async def flush(self) -> None:
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


def install(state: "ServerState", options: CassetteOptions) -> Installed:
    """Put the cassette responders in front of the default one (before the server starts serving)."""
    if not options.paths:
        raise CassetteError("a cassette path is needed")
    mode = options.effective_mode()
    cassette = open_cassette(options, mode)
    if mode is not RecordMode.NONE:
        fmt.check_writable(Path(options.paths[0]))  # a read-only folder fails now, not at the first answer
        fmt.remove_stale_temporaries(Path(options.paths[0]))
    responders: list[object] = []
    if mode in (RecordMode.NONE, RecordMode.NEW_EPISODES):
        responders.append(
            ReplayResponder(
                cassette, fallthrough=mode is RecordMode.NEW_EPISODES, realtime=options.realtime, speed=options.speed,
                rewrite_urls=options.rewrite_urls,
            )
        )
    upstream = None
    if mode is not RecordMode.NONE:
        upstream = options.upstream_url()
        responders.append(UpstreamResponder(upstream, capture=cassette.record))
    # After scripted scenarios (they answer first), before the default fake model.
    at = next((i for i, r in enumerate(state.responders) if getattr(r, "name", "") == "default"), len(state.responders))
    state.responders[at:at] = responders  # type: ignore[assignment]
    state.passthrough = True
    return Installed(cassette, mode, upstream)


async def uninstall(state: "ServerState", installed: Installed) -> None:
    """Take the cassette's responders off (the pytest fixture reuses one server for every test),
    after every recording is on disk and upstream connections are closed."""
    ours = [r for r in state.responders if getattr(r, "cassette", None) is installed.cassette or
            (isinstance(r, UpstreamResponder) and r.capture == installed.cassette.record)]
    for responder in ours:
        state.responders.remove(responder)
        close = getattr(responder, "aclose", None)
        if close is not None:
            await close()
    await installed.flush()
    state.passthrough = any(isinstance(r, (ReplayResponder, UpstreamResponder)) for r in state.responders)

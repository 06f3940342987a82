"""The pytest side of cassettes: where each test's cassette lives and a server that serves it.

Each test gets ``<test dir>/cassettes/<module>/<Class.>test_name.yaml`` (pytest-recording's
convention, same character clean-up), ``--record-mode`` (default ``none``: replay only, so CI never
reaches the network) and ``--record-upstream`` (default ``$MOCKSERVER_RECORD_UPSTREAM``, else the
real API). One server per session is re-pointed at each test's cassette.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mockserver.journal import Journal
from mockserver.harness.testing import DEFAULT_TEST_KEY, MockServer
from mockserver.cassettes.cassette import Cassette
from mockserver.cassettes.install import RECORD_MODES, CassetteOptions, Installed

MARKER = "claude_cassette"
_UNSAFE = re.compile(r"""[<>?%*:|"'/\\]""")
MARKER_HELP = (
    f"{MARKER}(path=None, *, record_mode=None, match_on=None, ignore_fields=(), match_fields=(), matcher=None, "
    "allow_repeats=False, upstream=None, redact_headers=()): serve this test's cassette "
    "(default cassettes/<module>/<test>.yaml beside the test file) and point ANTHROPIC_BASE_URL at it"
)


def add_options(group: Any) -> None:
    try:
        group.addoption("--record-mode", default="none", choices=RECORD_MODES,
                        help="cassette record mode for claude_cassette tests (default: none = replay only)")
    except ValueError:  # pytest-recording registered the same option: its value means the same
        pass
    group.addoption("--record-upstream", default=None, metavar="URL",
                    help="API that cassettes record from (default: $MOCKSERVER_RECORD_UPSTREAM or https://api.anthropic.com)")


def default_path(request: pytest.FixtureRequest) -> Path:
    node = request.node
    name = str(node.name) if request.cls is None else f"{request.cls.__name__}.{node.name}"
    module = str(request.module.__name__).rsplit(".", 1)[-1]
    folder = Path(str(node.path)).parent
    return folder / "cassettes" / module / f"{_UNSAFE.sub('-', name)}.yaml"


@dataclass
class CassetteHandle:
    """What a test gets: the server URL serving its cassette, clients, and the cassette itself."""

    server: MockServer
    installed: Installed
    path: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def mode(self) -> str:
        return self.installed.mode.value

    @property
    def cassette(self) -> Cassette:
        return self.installed.cassette

    @property
    def journal(self) -> Journal:
        return self.server.journal

    def _key(self) -> str:
        return os.environ.get("ANTHROPIC_API_KEY") or DEFAULT_TEST_KEY

    def client(self, **kwargs: Any) -> Any:
        kwargs.setdefault("api_key", self._key())
        return self.server.client(**kwargs)

    def async_client(self, **kwargs: Any) -> Any:
        kwargs.setdefault("api_key", self._key())
        return self.server.async_client(**kwargs)


def options_for(request: pytest.FixtureRequest) -> CassetteOptions:
    marker = request.node.get_closest_marker(MARKER)
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    path = marker.args[0] if marker is not None and marker.args else kwargs.pop("path", None)
    kwargs.pop("path", None)
    path = default_path(request) if path is None else (Path(request.node.path).parent / path)
    config = request.config
    matcher = kwargs.pop("matcher", None)
    return CassetteOptions(
        paths=[path],
        record_mode=kwargs.pop("record_mode", None) or config.getoption("--record-mode"),
        upstream=kwargs.pop("upstream", None) or config.getoption("--record-upstream"),
        match_on=tuple(kwargs.pop("match_on", None) or CassetteOptions.match_on),
        ignore_fields=tuple(kwargs.pop("ignore_fields", ())),
        match_fields=tuple(kwargs.pop("match_fields", ())),
        custom_matcher=matcher,
        allow_repeats=bool(kwargs.pop("allow_repeats", False)),
        redact_headers=tuple(kwargs.pop("redact_headers", ())),
        extra=kwargs,
    )


def start(server: MockServer, request: pytest.FixtureRequest) -> CassetteHandle:
    options = options_for(request)
    if options.extra:
        raise pytest.UsageError(f"{MARKER}: unknown argument(s) {', '.join(options.extra)}")
    server.reset()

    installed = server._on_loop(server.api.put_cassette, options)
    return CassetteHandle(server, installed, Path(options.paths[0]))


def stop(handle: CassetteHandle) -> None:
    """Back to no cassette, every recording on disk; a test whose recording has holes (a write
    that failed, an answer not recorded) errors here, naming them: replaying it would miss."""
    handle.server._run(handle.server.api.take_cassette())
    installed = handle.installed
    problems = [line for line in (installed.failed_line(), installed.unrecorded_line()) if line is not None]
    if problems:
        pytest.fail("mockserver: this test's recording is incomplete: " + "; ".join(problems), pytrace=False)

"""Cassettes: recorded API traffic in a readable YAML format, other recorders' files, matching and
redaction. Replay and recording themselves are responders (mockserver/responders/cassette.py and
upstream.py); :func:`install` puts them on a server. Format and usage: docs/cassettes.md.
"""

from mockserver.cassettes.cassette import Cassette
from mockserver.cassettes.format import CassetteError
from mockserver.cassettes.importers import load_any
from mockserver.cassettes.install import RECORD_MODES, CassetteOptions, RecordMode, install
from mockserver.cassettes.matchers import Matcher
from mockserver.cassettes.model import Interaction, RecordedRequest, RecordedResponse
from mockserver.cassettes.redact import Redactor

__all__ = [
    "Cassette", "CassetteError", "CassetteOptions", "Interaction", "Matcher", "RECORD_MODES", "RecordMode",
    "RecordedRequest", "RecordedResponse", "Redactor", "install", "load_any",
]

"""Cassettes: recorded API traffic in a readable YAML format, other recorders' files, matching and
redaction. Replay and recording themselves are responders (mockserver/responders/cassette.py and
upstream.py); :func:`install` puts them on a server. Format and usage: docs/cassettes.md.
"""

from .cassette import Cassette
from .format import CassetteError
from .importers import load_any
from .install import RECORD_MODES, CassetteOptions, RecordMode, install
from .matchers import Matcher
from .model import Interaction, RecordedRequest, RecordedResponse
from .redact import Redactor

__all__ = [
    "Cassette", "CassetteError", "CassetteOptions", "Interaction", "Matcher", "RECORD_MODES", "RecordMode",
    "RecordedRequest", "RecordedResponse", "Redactor", "install", "load_any",
]

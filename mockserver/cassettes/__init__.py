"""Cassettes: recorded API traffic in a readable YAML format, other recorders' files, matching and
redaction. Replay and recording are a stage of the chain (:mod:`.stage`, with :mod:`.replay` and
:mod:`.record`); :func:`install` puts them on a server. Format and usage: docs/cassettes.md.

The names below load on first use, as the ``mockserver`` facade's do: importing one module of
this package (``format``, say) does not import the recorder and its upstream client, and the
package's own modules can import each other without a cycle through this one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Cassette": "mockserver.cassettes.cassette",
    "CassetteError": "mockserver.cassettes.format",
    "load_any": "mockserver.cassettes.importers",
    "RECORD_MODES": "mockserver.cassettes.install",
    "CassetteOptions": "mockserver.cassettes.install",
    "RecordMode": "mockserver.cassettes.install",
    "install": "mockserver.cassettes.install",
    "Matcher": "mockserver.cassettes.matchers",
    "Interaction": "mockserver.cassettes.model",
    "RecordedRequest": "mockserver.cassettes.model",
    "RecordedResponse": "mockserver.cassettes.model",
    "Redactor": "mockserver.cassettes.redact",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports on demand
    from mockserver.cassettes.cassette import Cassette as Cassette
    from mockserver.cassettes.format import CassetteError as CassetteError
    from mockserver.cassettes.importers import load_any as load_any
    from mockserver.cassettes.install import (
        RECORD_MODES as RECORD_MODES, CassetteOptions as CassetteOptions, RecordMode as RecordMode, install as install,
    )
    from mockserver.cassettes.matchers import Matcher as Matcher
    from mockserver.cassettes.model import (
        Interaction as Interaction, RecordedRequest as RecordedRequest, RecordedResponse as RecordedResponse,
    )
    from mockserver.cassettes.redact import Redactor as Redactor


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mockserver.cassettes' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

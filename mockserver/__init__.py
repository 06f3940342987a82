"""mockserver: an offline stand-in for the Anthropic Claude API.

    from mockserver import MockServer, error, reply

    with MockServer() as server:                      # a free port, state in memory
        server.sequence([error(529), reply("Recovered.")])
        client = server.client()                      # the project's anthropic SDK

    # no socket at all: the same server as an httpx transport for the SDK's http_client
    http_client = anthropic.DefaultHttpxClient(transport=mockserver.transport())

The names below load on first use, so ``import mockserver`` imports nothing else (the server,
aiohttp and the scenario loader come with the first name that needs them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it
_EXPORTS = {
    "MockServer": "mockserver.harness.testing",
    "Config": "mockserver.config",
    "ConnectionLimits": "mockserver.config",
    "ManualClock": "mockserver.clock",
    "SystemClock": "mockserver.clock",
    "Journal": "mockserver.journal",
    "ScenarioError": "mockserver.scenarios.errors",
    "ChaosConfig": "mockserver.chaos.stage",
    "RateLimitConfig": "mockserver.ratelimit.limiter",
    "reply": "mockserver.scenarios.build",
    "error": "mockserver.scenarios.build",
    "sequence": "mockserver.scenarios.build",
    "stream": "mockserver.scenarios.build",
    "fault": "mockserver.scenarios.build",
    "json_body": "mockserver.scenarios.build",
    "passthrough": "mockserver.scenarios.build",
    "rule": "mockserver.scenarios.build",
    "transport": "mockserver.harness.testing",
}

__all__ = [*_EXPORTS, "__version__"]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports on demand
    from mockserver.chaos.stage import ChaosConfig as ChaosConfig
    from mockserver.clock import ManualClock as ManualClock, SystemClock as SystemClock
    from mockserver.config import Config as Config, ConnectionLimits as ConnectionLimits
    from mockserver.harness.testing import MockServer as MockServer, transport as transport
    from mockserver.journal import Journal as Journal
    from mockserver.ratelimit.limiter import RateLimitConfig as RateLimitConfig
    from mockserver.scenarios.build import (
        error as error, fault as fault, json_body as json_body, passthrough as passthrough,
        reply as reply, rule as rule, sequence as sequence, stream as stream,
    )
    from mockserver.scenarios.errors import ScenarioError as ScenarioError


def __getattr__(name: str) -> Any:
    if name == "fuzz":  # ``mockserver.fuzz`` without importing it first (it needs hypothesis)
        return importlib.import_module("mockserver.fuzz")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mockserver' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

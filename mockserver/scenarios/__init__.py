"""Scripted scenarios: rules that make the fake API answer exactly what a test needs.

A rule is a ``match`` (endpoint, model, prompt text, tools, headers, body paths, the n-th call …)
and an action (a reply built from blocks, a sequence, an error, a raw SSE stream, a JSON body,
or a fault on the ordinary answer). Rules come from YAML files (``mockserver serve --scenario``),
the admin API (``/_mock/rules``) or Python (``MockServer.reply`` …), all parsed by one loader.
The format is documented in docs/scenarios.md.
"""

from __future__ import annotations

from mockserver.scenarios.book import ScenarioBook
from mockserver.scenarios.build import error, fault, json_body, passthrough, reply, rule, sequence, stream
from mockserver.scenarios.errors import ScenarioError
from mockserver.scenarios.format import Document, Rule, load_file, parse_document, parse_text
from mockserver.scenarios.stage import ScenarioStage

__all__ = [
    "Document",
    "Rule",
    "ScenarioBook",
    "ScenarioError",
    "ScenarioStage",
    "error",
    "fault",
    "json_body",
    "load_file",
    "parse_document",
    "parse_text",
    "passthrough",
    "reply",
    "rule",
    "sequence",
    "stream",
]

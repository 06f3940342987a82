"""Keep secrets off disk: redact credential headers and Anthropic keys before anything is written,
and find any that slipped into a cassette (``mockserver cassette check``).

Redacted by default: ``x-api-key``, ``authorization``, ``proxy-authorization``, ``cookie`` and
``set-cookie`` (configurable), and anything shaped like an Anthropic key (``sk-ant-…``) in any
header, query value or body. ``anthropic-organization-id`` is kept: it identifies the organisation
in every real response but grants nothing (see docs/cassettes.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Iterable

from mockserver.cassettes.model import Frame, Headers, Interaction

DEFAULT_REDACTED_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie"})
REDACTED = "[REDACTED]"
KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]+")
KEY_PATTERN_BYTES = re.compile(rb"sk-ant-[A-Za-z0-9_\-]+")
# Values other recorders put in place of a secret: <ANTHROPIC_API_KEY>, [REDACTED], <filtered>, X-API-KEY-XXX …
_PLACEHOLDER = re.compile(r"^\s*$|^<[^<>]*>$|^\[[^\[\]]*\]$|redacted|filtered|xxx|\*\*\*|placeholder", re.IGNORECASE)


def is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.search(value)) and not KEY_PATTERN.search(value)


@dataclass(frozen=True)
class Redactor:
    """What to scrub. ``headers`` are lowercase names whose values are replaced whole."""

    headers: frozenset[str] = DEFAULT_REDACTED_HEADERS

    @classmethod
    def with_headers(cls, extra: Iterable[str] = (), *, replace_defaults: bool = False) -> "Redactor":
        names = {h.lower() for h in extra}
        return cls(frozenset(names if replace_defaults else DEFAULT_REDACTED_HEADERS | names))

    def text(self, value: str) -> str:
        return KEY_PATTERN.sub(REDACTED, value) if "sk-ant-" in value else value

    def data(self, value: bytes) -> bytes:
        return KEY_PATTERN_BYTES.sub(REDACTED.encode(), value) if b"sk-ant-" in value else value

    def header_list(self, headers: Headers) -> Headers:
        out = []
        for name, value in headers:
            if name.lower() in self.headers and not is_placeholder(value):
                value = REDACTED
            out.append((name, self.text(value)))
        return out

    def interaction(self, interaction: Interaction) -> Interaction:
        req, resp = interaction.request, interaction.response
        request = replace(
            req,
            headers=self.header_list(req.headers),
            query=[(k, self.text(v)) for k, v in req.query],
            body=self.data(req.body),
            path=self.text(req.path),
        )
        frames = None if resp.frames is None else [Frame(self.data(f.raw), f.at) for f in resp.frames]
        body = b"".join(f.raw for f in frames) if frames is not None else self.data(resp.body)
        response = replace(resp, headers=self.header_list(resp.headers), body=body, frames=frames)
        return Interaction(request, response, interaction.recorded_at)


@dataclass(frozen=True)
class Finding:
    source: str
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.source}: {self.where}: {self.what}"


def _mask(secret: str) -> str:
    return secret[:10] + "…" if len(secret) > 10 else secret


def scan_text(text: str, source: str, where: str = "file") -> list[Finding]:
    return [Finding(source, where, f"Anthropic key {_mask(m.group())}") for m in KEY_PATTERN.finditer(text)]


def scan_interactions(interactions: Iterable[Interaction], source: str, redactor: Redactor = Redactor()) -> list[Finding]:
    """Every credential header holding a real-looking value, and every ``sk-ant-`` key anywhere."""
    findings: list[Finding] = []
    for index, item in enumerate(interactions):
        for side, headers in (("request", item.request.headers), ("response", item.response.headers)):
            for name, value in headers:
                where = f"interactions[{index}].{side}.headers.{name}"
                if name.lower() in redactor.headers and not is_placeholder(value):
                    findings.append(Finding(source, where, f"credential header holds {_mask(value)!r}"))
                elif KEY_PATTERN.search(value):
                    findings.extend(scan_text(value, source, where))
        req = item.request
        for name, value in req.query:
            findings.extend(scan_text(value, source, f"interactions[{index}].request.query.{name}"))
        findings.extend(scan_text(req.path, source, f"interactions[{index}].request.path"))
        for side, body in (("request", req.body), ("response", item.response.body)):
            if b"sk-ant-" in body:
                text = body.decode("utf-8", "replace")
                findings.extend(scan_text(text, source, f"interactions[{index}].{side}.body"))
    return findings

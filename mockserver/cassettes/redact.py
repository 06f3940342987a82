"""Keep secrets off disk: redact credentials before anything is written, and find any that slipped
into a cassette (``mockserver cassette check``). One detector does both, so ``check`` reports
exactly what redaction removes; the detector itself (mockserver/protocol/secrets.py) also
masks the journal's bodies and replay-miss messages.

What counts as a secret:

- the value of a credential header — ``x-api-key``, ``authorization``, ``proxy-authorization``,
  ``cookie``, ``set-cookie`` (configurable) — replaced whole, in requests and responses;
- anything shaped like an Anthropic key (``sk-ant-…``) and a bearer token (``Bearer`` followed by
  16 or more token characters, one a digit), in any header (its name too), query name or value,
  path, body or reason phrase;
- the credentials this session's requests carried (the key, the bearer token, each cookie value,
  at least 8 characters), wherever an upstream echoes them: raw, or base64-encoded.

Bodies are searched as they are and as JSON would read them (``\\u002d`` is ``-``), and a stream
is also searched in its reassembled text: the deltas of each content block joined, so a key the
upstream split across events (``" is sk-"``, ``"ant"``, ``"-api"`` …) is found and removed from
every event it spans. ``anthropic-organization-id`` is kept: it identifies the organisation in
every real response but grants nothing (see docs/cassettes.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

import orjson

from mockserver.protocol import sse
from mockserver.protocol.secrets import (  # (re-exported: what redaction was known by before the detector moved)
    DEFAULT_REDACTED_HEADERS as DEFAULT_REDACTED_HEADERS, REDACTED as REDACTED, Detector as Detector, Span,
    detector_for, is_placeholder as is_placeholder, known_credentials, mask as mask, redact_stream_text,
)
from mockserver.cassettes.model import Frame, Headers, Interaction, RecordedRequest, RecordedResponse

# -- findings ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    source: str
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.source}: {self.where}: {self.what}"


def _describe(spans: list[Span], text: str) -> str:
    """What was found, never any part of it: its kind and length."""
    return ", ".join(f"{s.kind} ({len(text[s.start:s.end])} characters)" for s in spans)


# -- the redactor ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Redactor:
    """What to scrub. ``headers`` are lowercase names whose values are replaced whole."""

    headers: frozenset[str] = DEFAULT_REDACTED_HEADERS

    @classmethod
    def with_headers(cls, extra: Iterable[str] = (), *, replace_defaults: bool = False) -> "Redactor":
        names = {h.lower() for h in extra}
        return cls(frozenset(names if replace_defaults else DEFAULT_REDACTED_HEADERS | names))

    def known_values(self, interaction: Interaction) -> set[str]:
        """The credentials an interaction carries (request credential headers, response cookies),
        to be searched for wherever else they appear."""
        return set(known_credentials([*interaction.request.headers, *interaction.response.headers], self.headers))

    def detector(self, known: Iterable[str] = ()) -> Detector:
        return Detector(known)

    def text(self, value: str, known: Iterable[str] = ()) -> str:
        return detector_for(frozenset(known)).redact(value)[0]

    def data(self, value: bytes, known: Iterable[str] = ()) -> bytes:
        return detector_for(frozenset(known)).redact_bytes(value)[0]

    def interactions(self, items: Iterable[Interaction]) -> list[Interaction]:
        """Several interactions without their secrets; the credentials any of them carries are
        searched for in all of them (what ``cassette redact`` and ``convert`` write, and exactly
        what :func:`scan_interactions` reports)."""
        items = list(items)
        known: set[str] = set()
        for item in items:
            known |= self.known_values(item)
        return [self.interaction(item, known=known) for item in items]

    def interaction(self, interaction: Interaction, known: Iterable[str] = ()) -> Interaction:
        """The interaction without its secrets (credentials it carries are searched for too)."""
        return self.scrub(interaction, known=known)[0]

    def scrub(self, interaction: Interaction, *, known: Iterable[str] = (), source: str = "", where: str = "") -> tuple[Interaction, list[Finding]]:
        """The interaction without its secrets, and a finding for each one removed."""
        detector = Detector({*known, *self.known_values(interaction)})
        return _Scrub(self, detector, source, where).interaction(interaction)



@dataclass
class _Scrub:
    redactor: Redactor
    detector: Detector
    source: str
    where: str
    findings: list[Finding] = field(default_factory=list)

    def _found(self, place: str, what: str) -> None:
        self.findings.append(Finding(self.source, f"{self.where}{place}", what))

    def headers(self, headers: Headers, side: str) -> Headers:
        out = []
        for i, (name, value) in enumerate(headers):
            name = self.name(name, f"{side}.headers[{i}]")
            if name.lower() in self.redactor.headers and not is_placeholder(value):
                self._found(f"{side}.headers.{name}", f"credential header holds a value ({len(value)} characters)")
                value = REDACTED
            else:
                clean, spans = self.detector.redact(value)
                if spans:
                    self._found(f"{side}.headers.{name}", _describe(spans, value))
                    value = clean
            out.append((name, value))
        return out

    def name(self, name: str, place: str) -> str:
        """A header or query name without a key in it: the place names its index, not the secret."""
        return self.text(name, f"{place} name")

    def query(self, query: list[tuple[str, str]]) -> list[tuple[str, str]]:
        out = []
        for i, (name, value) in enumerate(query):
            name = self.name(name, f"request.query[{i}]")
            out.append((name, self.text(value, f"request.query.{name}")))
        return out

    def text(self, value: str, place: str) -> str:
        clean, spans = self.detector.redact(value)
        if spans:
            self._found(place, _describe(spans, value))
        return clean

    def body(self, data: bytes, place: str) -> bytes:
        clean, spans = self.detector.redact_bytes(data)
        if spans:
            self._found(place, _describe(spans, data.decode("utf-8", "surrogateescape")))
        return clean

    def interaction(self, interaction: Interaction) -> tuple[Interaction, list[Finding]]:
        req, resp = interaction.request, interaction.response
        request = replace(
            req,
            headers=self.headers(req.headers, "request"),
            query=self.query(req.query),
            body=self.body(req.body, "request.body"),
            path=self.text(req.path, "request.path"),
            form=orjson.loads(self.body(orjson.dumps(req.form), "request.form")) if req.form is not None else None,
        )
        response = self.response(resp)
        return Interaction(request, response, interaction.recorded_at), self.findings

    def response(self, resp: RecordedResponse) -> RecordedResponse:
        headers = self.headers(resp.headers, "response")
        if resp.reason:
            resp = replace(resp, reason=self.text(resp.reason, "response.reason"))
        if not resp.is_stream:
            return replace(resp, headers=headers, body=self.body(resp.body, "response.body"))
        frames = resp.frames if resp.frames is not None else [Frame(raw) for raw in sse.split(resp.body)]
        frames = self.reassembled(frames)
        frames = [Frame(self.body(f.raw, "response.body"), f.at) for f in frames]
        return replace(resp, headers=headers, body=b"".join(f.raw for f in frames), frames=frames)

    def reassembled(self, frames: list[Frame]) -> list[Frame]:
        """Search each content block's deltas joined, and cut what is found out of every event it
        spans (the first keeps ``[REDACTED]`` in its place)."""
        raws, found = redact_stream_text([frame.raw for frame in frames], self.detector)
        for block in found:
            events = block.events
            self._found("response.body", f"{_describe(block.spans, block.text)} in the text of content block {block.index}"
                        + (f", split across events {events[0]}-{events[-1]}" if len(events) > 1 else f", event {events[0]}"))
        return [frame if raw is frame.raw else Frame(raw, frame.at) for raw, frame in zip(raws, frames)]


# -- finding leaks in cassettes ----------------------------------------------------------------

def scan_text(text: str, source: str, where: str = "file") -> list[Finding]:
    """Secrets in a file's text as it is (keys and bearer tokens; a credential header's value is
    only known once the file is read as interactions: :func:`scan_interactions`)."""
    spans = detector_for(frozenset()).spans(text)
    return [Finding(source, where, _describe([s], text)) for s in spans]


def scan_interactions(interactions: Iterable[Interaction], source: str, redactor: Redactor = Redactor()) -> list[Finding]:
    """Exactly what :meth:`Redactor.scrub` would remove from these interactions, with its place.
    Credentials any of them carries are searched for in all of them, as recording does."""
    items = list(interactions)
    known: set[str] = set()
    for item in items:
        known |= redactor.known_values(item)
    findings: list[Finding] = []
    for index, item in enumerate(items):
        findings += redactor.scrub(item, known=known, source=source, where=f"interactions[{index}].")[1]
    return findings


def known_in(requests: Iterable[RecordedRequest], redactor: Redactor = Redactor()) -> set[str]:
    """The credentials some requests carry (for masking a message that quotes them)."""
    return set(known_credentials((pair for request in requests for pair in request.headers), redactor.headers))

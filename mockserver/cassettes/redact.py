"""Keep secrets off disk: redact credentials before anything is written, and find any that slipped
into a cassette (``mockserver cassette check``). One detector does both, so ``check`` reports
exactly what redaction removes.

What counts as a secret:

- the value of a credential header — ``x-api-key``, ``authorization``, ``proxy-authorization``,
  ``cookie``, ``set-cookie`` (configurable) — replaced whole, in requests and responses;
- anything shaped like an Anthropic key (``sk-ant-…``) and a bearer token (``Bearer`` followed by
  16 or more token characters, one a digit), in any header, query value, path or body;
- the credentials this session's requests carried (the key, the bearer token, each cookie value,
  at least 8 characters), wherever an upstream echoes them: raw, or base64-encoded.

Bodies are searched as they are and as JSON would read them (``\\u002d`` is ``-``), and a stream
is also searched in its reassembled text: the deltas of each content block joined, so a key the
upstream split across events (``" is sk-"``, ``"ant"``, ``"-api"`` …) is found and removed from
every event it spans. ``anthropic-organization-id`` is kept: it identifies the organisation in
every real response but grants nothing (see docs/cassettes.md).
"""

from __future__ import annotations

import base64
import bisect
import functools
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, NamedTuple

import orjson

from mockserver.protocol import sse
from mockserver.cassettes.model import Frame, Headers, Interaction, RecordedRequest, RecordedResponse

DEFAULT_REDACTED_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie"})
REDACTED = "[REDACTED]"
KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]+")
MIN_KNOWN = 8
"""Shorter credential values are not searched for elsewhere (``1`` would match everywhere)."""
# Values other recorders put in place of a secret: <ANTHROPIC_API_KEY>, [REDACTED], <filtered>, X-API-KEY-XXX …
_PLACEHOLDER = re.compile(r"^\s*$|^<[^<>]*>$|^\[[^\[\]]*\]$|redacted|filtered|xxx|\*\*\*|placeholder", re.IGNORECASE)
_SHAPES = re.compile(r"(?P<key>sk-ant-[A-Za-z0-9_\-]+)|(?i:\bbearer[ \t]+)(?P<bearer>[A-Za-z0-9\-._~+/]{16,}=*)")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_\-]{12,}={0,2}")
_ESCAPE = re.compile(r"\\+(?:u[0-9a-fA-F]{4}|/)")  # a run of backslashes: escapes escaped again count too
_DELTA_TEXT = {"text_delta": "text", "input_json_delta": "partial_json", "thinking_delta": "thinking"}


def is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.search(value)) and not KEY_PATTERN.search(value)


class Span(NamedTuple):
    start: int
    end: int
    kind: str


# -- the detector ------------------------------------------------------------------------------
class Detector:
    """Finds secrets in text: key and bearer shapes, and the ``known`` credential values (with
    their base64 forms). :meth:`spans` searches the text as written and as JSON would decode it."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for value in known:
            if len(value) >= MIN_KNOWN and not is_placeholder(value):
                raw = value.encode("utf-8", "surrogatepass")
                for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
                    text = encoded.decode("ascii")
                    forms.update({text, text.rstrip("=")})
                forms.add(value)
        self.known = frozenset(forms)
        ordered = sorted(forms, key=len, reverse=True)  # the longest form wins where two overlap
        self._known = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def _find(self, text: str) -> list[Span]:
        found = []
        for match in _SHAPES.finditer(text):
            if match.lastgroup == "key":
                found.append(Span(match.start(), match.end(), "Anthropic key"))
            elif any(c.isdigit() for c in match.group("bearer")):
                found.append(Span(match.start("bearer"), match.end("bearer"), "bearer token"))
        if self._known is not None:
            found.extend(Span(m.start(), m.end(), "credential") for m in self._known.finditer(text))
        if "c2st" in text or "LWFud" in text or "1hbn" in text:  # "sk-ant-" base64-encoded, at each of its 3 alignments
            for match in _BASE64_RUN.finditer(text):
                if b"sk-ant-" in _b64decode(match.group()):
                    found.append(Span(match.start(), match.end(), "Anthropic key, base64-encoded"))
        return found

    def spans(self, text: str) -> list[Span]:
        """Where the secrets are in ``text`` (sorted, overlaps merged), found in the text itself
        and in its JSON-unescaped reading, mapped back to the text's own positions."""
        found = self._find(text)
        if "\\" in text:
            found.extend(_unescaped_spans(text, self._find))
        return _merge(found)

    def redact(self, text: str) -> tuple[str, list[Span]]:
        spans = self.spans(text)
        return _replace(text, spans), spans

    def redact_bytes(self, data: bytes) -> tuple[bytes, list[Span]]:
        """As :meth:`redact` for bytes that need not be UTF-8 (other bytes pass through)."""
        text = data.decode("utf-8", "surrogateescape")
        clean, spans = self.redact(text)
        return (clean.encode("utf-8", "surrogateescape") if spans else data), spans


def _b64decode(run: str) -> bytes:
    """A run of base64 (standard or URL-safe alphabet, padding optional) decoded; b"" if it is not."""
    run = run.rstrip("=")
    run = run[: len(run) - len(run) % 4] if len(run) % 4 == 1 else run + "=" * (-len(run) % 4)
    try:
        return base64.b64decode(run.replace("-", "+").replace("_", "/"))
    except ValueError:
        return b""


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for span in sorted(spans):
        if out and span.start <= out[-1].end:
            last = out[-1]
            out[-1] = Span(last.start, max(last.end, span.end), last.kind)
        else:
            out.append(span)
    return out


def _replace(text: str, spans: list[Span]) -> str:
    if not spans:
        return text
    parts, at = [], 0
    for span in spans:
        parts += [text[at : span.start], REDACTED]
        at = span.end
    parts.append(text[at:])
    return "".join(parts)


def _unescaped_spans(text: str, find: Any) -> list[Span]:
    """Spans found in ``text`` read as the inside of a JSON string (``\\u002d`` → ``-``,
    ``\\/`` → ``/``), in ``text``'s own positions (an escape is found or missed whole)."""
    view: list[str] = []
    anchors_view: list[int] = []  # view position of each escape's character
    anchors_raw: list[tuple[int, int]] = []  # its raw start and end
    at = 0
    size = 0
    for match in _ESCAPE.finditer(text):
        view.append(text[at : match.start()])
        size += match.start() - at
        escape = match.group()
        view.append("/" if escape.endswith("/") else chr(int(escape[-4:], 16)))
        anchors_view.append(size)
        anchors_raw.append((match.start(), match.end()))
        size += 1
        at = match.end()
    if not anchors_view:
        return []
    view.append(text[at:])
    decoded = "".join(view)

    def raw_start(i: int) -> int:
        k = bisect.bisect_right(anchors_view, i) - 1
        if k < 0:
            return i
        if anchors_view[k] == i:
            return anchors_raw[k][0]
        return anchors_raw[k][1] + (i - anchors_view[k] - 1)

    def raw_end(i: int) -> int:  # the end of the view character at i - 1
        k = bisect.bisect_right(anchors_view, i - 1) - 1
        if k >= 0 and anchors_view[k] == i - 1:
            return anchors_raw[k][1]
        return raw_start(i - 1) + 1

    return [Span(raw_start(s.start), raw_end(s.end), s.kind) for s in find(decoded)]


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
        out: set[str] = set()
        for headers in (interaction.request.headers, interaction.response.headers):
            for name, value in headers:
                if name.lower() in self.headers:
                    out |= credential_parts(name, value)
        return {v for v in out if len(v) >= MIN_KNOWN and not is_placeholder(v)}

    def detector(self, known: Iterable[str] = ()) -> Detector:
        return Detector(known)

    def text(self, value: str, known: Iterable[str] = ()) -> str:
        return _detector(frozenset(known)).redact(value)[0]

    def data(self, value: bytes, known: Iterable[str] = ()) -> bytes:
        return _detector(frozenset(known)).redact_bytes(value)[0]

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


def credential_parts(name: str, value: str) -> set[str]:
    """A credential header's secret parts: the whole value, a bearer/basic credential, each
    cookie's value."""
    out = {value.strip()}
    lower = name.lower()
    scheme, _, rest = value.strip().partition(" ")
    if rest and scheme.lower() in ("bearer", "basic", "token"):
        out.add(rest.strip())
    if lower in ("cookie", "set-cookie"):
        pairs = value.split(";") if lower == "cookie" else value.split(";")[:1]
        for pair in pairs:
            _, eq, cookie = pair.partition("=")
            if eq:
                out.add(cookie.strip().strip('"'))
    return {v for v in out if v}


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
        for name, value in headers:
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
            query=[(k, self.text(v, f"request.query.{k}")) for k, v in req.query],
            body=self.body(req.body, "request.body"),
            path=self.text(req.path, "request.path"),
            form=orjson.loads(self.body(orjson.dumps(req.form), "request.form")) if req.form is not None else None,
        )
        response = self.response(resp)
        return Interaction(request, response, interaction.recorded_at), self.findings

    def response(self, resp: RecordedResponse) -> RecordedResponse:
        headers = self.headers(resp.headers, "response")
        if not resp.is_stream:
            return replace(resp, headers=headers, body=self.body(resp.body, "response.body"))
        frames = resp.frames if resp.frames is not None else [Frame(raw) for raw in sse.split(resp.body)]
        frames = self.reassembled(frames)
        frames = [Frame(self.body(f.raw, "response.body"), f.at) for f in frames]
        return replace(resp, headers=headers, body=b"".join(f.raw for f in frames), frames=frames)

    def reassembled(self, frames: list[Frame]) -> list[Frame]:
        """Search each content block's deltas joined, and cut what is found out of every event it
        spans (the first keeps ``[REDACTED]`` in its place)."""
        blocks: dict[Any, list[tuple[int, dict[str, Any], bytes]]] = {}
        for i, frame in enumerate(frames):
            parts = sse.canonical(frame.raw)
            if parts is None:
                continue
            try:
                data = orjson.loads(parts[1])
            except orjson.JSONDecodeError:
                continue
            delta = data.get("delta") if isinstance(data, dict) and data.get("type") == "content_block_delta" else None
            if not isinstance(delta, dict):
                continue
            key = _DELTA_TEXT.get(str(delta.get("type")))
            if key is not None and isinstance(delta.get(key), str):
                head = b"event: " + parts[0].encode() + b"\n" if parts[0] is not None else b""
                blocks.setdefault((data.get("index"), key), []).append((i, data, head))
        out = list(frames)
        for (index, key), pieces in blocks.items():
            texts = [data["delta"][key] for _, data, _ in pieces]
            joined = "".join(texts)
            spans = self.detector.spans(joined)
            if not spans:
                continue
            bounds, at = [], 0
            for text in texts:
                bounds.append((at, at + len(text)))
                at += len(text)
            touched = [n for n, (a, b) in enumerate(bounds) if any(s.start < b and s.end > a for s in spans)]
            events = sorted({pieces[n][0] for n in touched})
            self._found("response.body", f"{_describe(spans, joined)} in the text of content block {index}"
                        + (f", split across events {events[0]}-{events[-1]}" if len(events) > 1 else f", event {events[0]}"))
            for n in touched:
                i, data, head = pieces[n]
                data["delta"][key] = _cut(joined, bounds[n], spans)
                out[i] = Frame(head + b"data: " + orjson.dumps(data) + b"\n\n", frames[i].at)
        return out


def _cut(joined: str, bound: tuple[int, int], spans: list[Span]) -> str:
    """The piece of ``joined`` at ``bound`` without the parts of ``spans`` in it; a span that
    starts in this piece leaves ``[REDACTED]`` where it started."""
    start, end = bound
    parts, at = [], start
    for span in spans:
        if span.end <= start or span.start >= end:
            continue
        parts.append(joined[at : max(span.start, start)])
        if span.start >= start:
            parts.append(REDACTED)
        at = min(span.end, end)
    parts.append(joined[at:end])
    return "".join(parts)


# -- finding leaks in cassettes ----------------------------------------------------------------
def mask(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with every secret the detector sees replaced by ``[REDACTED]`` (for messages that
    quote a request: a replay miss must not show a key, nor a prefix of one)."""
    return _detector(frozenset(known)).redact(text)[0]


@functools.lru_cache(maxsize=32)
def _detector(known: frozenset[str]) -> Detector:
    return Detector(known)


def scan_text(text: str, source: str, where: str = "file") -> list[Finding]:
    """Secrets in a file's text as it is (keys and bearer tokens; a credential header's value is
    only known once the file is read as interactions: :func:`scan_interactions`)."""
    spans = _detector(frozenset()).spans(text)
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
    out: set[str] = set()
    for request in requests:
        for name, value in request.headers:
            if name.lower() in redactor.headers:
                out |= credential_parts(name, value)
    return {v for v in out if len(v) >= MIN_KNOWN and not is_placeholder(v)}

"""Secrets in text: the one detector behind cassette redaction and ``cassette check``
(mockserver/cassettes/redact.py), the journal's rendering and replay-miss messages, so each
removes exactly what the others do.

What counts as a secret: anything shaped like an Anthropic key (``sk-ant-…``) or a bearer token
(``Bearer`` followed by 16 or more token characters, one a digit), and the credentials a request
carried (``known``: the key, the bearer token, each cookie value, at least 8 characters), raw or
base64-encoded. Text is searched as it is and as JSON would read it (``\\u002d`` is ``-``).
"""

from __future__ import annotations

import base64
import bisect
import functools
import re
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple

import orjson

from mockserver.protocol import sse

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



def known_credentials(headers: Iterable[tuple[str, str]], names: Iterable[str] = DEFAULT_REDACTED_HEADERS) -> frozenset[str]:
    """The credentials some headers carry (those of the credential headers ``names``), to be
    searched for wherever else they appear."""
    wanted = frozenset(names)
    out: set[str] = set()
    for name, value in headers:
        if name.lower() in wanted:
            out |= credential_parts(name, value)
    return frozenset(v for v in out if len(v) >= MIN_KNOWN and not is_placeholder(v))


def mask(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with every secret the detector sees replaced by ``[REDACTED]`` (for messages that
    quote a request: a replay miss must not show a key, nor a prefix of one)."""
    return detector_for(frozenset(known)).redact(text)[0]


@functools.lru_cache(maxsize=32)
def detector_for(known: frozenset[str]) -> Detector:
    """The detector for these credentials (kept: building one compiles a regex)."""
    return Detector(known)


# -- streams -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlockFinding:
    """Secrets found in one content block's text, its deltas joined."""

    index: Any
    text: str
    spans: list[Span]
    events: list[int]
    """The frames the secrets span."""


def redact_stream(body: bytes, detector: Detector) -> bytes:
    """An event stream without its secrets: each content block's text searched joined (a key
    split across deltas is found), then each event's bytes."""
    frames, _ = redact_stream_text(sse.split(body), detector)
    return b"".join(detector.redact_bytes(frame)[0] for frame in frames)


def redact_stream_text(frames: list[bytes], detector: Detector) -> tuple[list[bytes], list[BlockFinding]]:
    """Search each content block's deltas joined, and cut what is found out of every event it
    spans (the first keeps ``[REDACTED]`` in its place). Frames left alone are returned as they
    were (the same objects)."""
    blocks: dict[Any, list[tuple[int, dict[str, Any], bytes]]] = {}
    for i, raw in enumerate(frames):
        parts = sse.canonical(raw)
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
    found = []
    for (index, key), pieces in blocks.items():
        texts = [data["delta"][key] for _, data, _ in pieces]
        joined = "".join(texts)
        spans = detector.spans(joined)
        if not spans:
            continue
        bounds, at = [], 0
        for text in texts:
            bounds.append((at, at + len(text)))
            at += len(text)
        touched = [n for n, (a, b) in enumerate(bounds) if any(s.start < b and s.end > a for s in spans)]
        found.append(BlockFinding(index, joined, spans, sorted({pieces[n][0] for n in touched})))
        for n in touched:
            i, data, head = pieces[n]
            data["delta"][key] = _cut(joined, bounds[n], spans)
            out[i] = head + b"data: " + orjson.dumps(data) + b"\n\n"
    return out, found


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

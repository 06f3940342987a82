"""Read other recorders' cassettes into the same in-memory interactions as ours.

Formats (quirks documented in docs/cassettes.md and docs/reference/real-traffic.md §6):
vcrpy YAML/JSON (``interactions``; bodies as strings, ``!!binary`` gzip, pydantic-ai
``parsed_body``; vcrpy's internal ``requests``/``responses`` lists, gzipped or not), Ruby VCR
(``http_interactions``; ``!binary``, ``{encoding, string}``/``base64_string``), HAR 1.2 (Polly.js,
browsers, mitmproxy), ddapm-test-agent JSON and Go httprr traces.

Bodies end up decoded: a gzip/deflate body (recognised by its magic bytes) is inflated and the
``Content-Encoding`` header dropped, as is a stale one on an already-decoded body. Inflating —
a gzipped file, its compressed bodies — goes a piece at a time and stops at :data:`INFLATE_LIMIT`
bytes for the whole file, so a small hostile file cannot inflate to gigabytes. Hop-by-hop and
length headers are dropped too; everything else — placeholders such as ``<REQUEST_ID>`` included —
is kept as recorded.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlsplit

import orjson

from mockserver.cassettes import format as fmt
from mockserver.cassettes.format import CassetteError
from mockserver.cassettes.inflate import Inflater, Kind, TooLarge
from mockserver.cassettes.model import Headers, Interaction, RecordedRequest, RecordedResponse, header, keep_request_header, response_headers
from mockserver.protocol.endpoints import MAX_BODY

ANTHROPIC_ORIGIN = "https://api.anthropic.com"
HTTPRR_MAGIC = b"httprr trace v1\n"
INFLATE_LIMIT = 2 * MAX_BODY
"""Bytes one cassette file may inflate to in all: the file itself when gzipped plus every
compressed body in it (512 MiB). Twice the largest body the server reads whole (a Message Batch's
256 MiB), so even a recording of such a body, as base64 in a gzipped file, fits; past it the file is
refused (docs/cassettes.md)."""
_PIECE = 1 << 20
"""Bytes inflated at a time (zlib builds a piece in blocks, then copies it whole)."""


@dataclass
class Loaded:
    """A cassette file read into interactions, and which format it was in."""

    kind: str
    interactions: list[Interaction]


# -- shared helpers ----------------------------------------------------------------------------


def _to_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (dict, list)):
        return orjson.dumps(value)
    return str(value).encode("utf-8")


class _Budget:
    """What is left of :data:`INFLATE_LIMIT` while one file is read."""

    def __init__(self) -> None:
        self.left = INFLATE_LIMIT


_budget: ContextVar[_Budget | None] = ContextVar("cassette_inflate_budget", default=None)


def _decompress(data: bytes, kind: Kind, budget: _Budget) -> bytes:
    """``data`` inflated a piece at a time by :class:`~mockserver.cassettes.inflate.Inflater`
    (gzip: every member, zero padding after them skipped, as :func:`gzip.decompress` does), drawing
    on ``budget`` only once it has inflated; :class:`TooLarge` past what is left of it,
    ``zlib.error`` or ``EOFError`` when the data is damaged or cut short."""
    inflater = Inflater(kind, _PIECE, limit=budget.left)
    out = b"".join(inflater.feed(data))  # joined once at the end: a growing bytearray would copy as it grew
    inflater.end()
    budget.left -= inflater.produced
    return out


def _inflate(body: bytes, headers: Headers, side: str) -> bytes:
    """Undo a transfer compression the recorder kept (only when the bytes really are compressed)."""
    encoding = (header(headers, "content-encoding") or "").lower()
    attempts: list[Kind] = ["gzip"] if body[:2] == b"\x1f\x8b" else ["zlib", "raw"] if "deflate" in encoding else []
    budget = _budget.get() or _Budget()
    for kind in attempts:
        try:
            return _decompress(body, kind, budget)
        except (zlib.error, EOFError):
            continue
        except TooLarge:
            raise CassetteError(
                f"the {side} body inflates past {INFLATE_LIMIT} bytes, with the file's other compressed bodies "
                "(the most one cassette may inflate to)") from None
    return body


def _request_headers(headers: Headers) -> Headers:
    return [(k, v) for k, v in headers if keep_request_header(k)]


def _split_url(url: str) -> tuple[str, list[tuple[str, str]], str | None]:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else None
    query = parse_qsl(parts.query, keep_blank_values=True)
    return parts.path or "/", query, (None if origin in (None, ANTHROPIC_ORIGIN) else origin)


def _header_lists(data: Any) -> Headers:
    """``{name: [v, …]}`` or ``{name: v}`` (keys may be aiohttp ``istr``, constructed as str)."""
    if not data:
        return []
    if isinstance(data, list):  # HAR-style [{name, value}]
        return [(str(h["name"]), str(h.get("value", ""))) for h in data if isinstance(h, dict) and "name" in h]
    pairs: Headers = []
    for key, value in data.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        for one in value if isinstance(value, list) else [value]:
            pairs.append((name, one.decode() if isinstance(one, bytes) else ("" if one is None else str(one))))
    return pairs


def _interaction(
    method: str, url: str, req_headers: Headers, req_body: bytes,
    status: int, reason: str | None, resp_headers: Headers, resp_body: bytes, recorded_at: str | None = None,
) -> Interaction:
    method = method.upper()
    path, query, origin = _split_url(url)
    request = RecordedRequest(method, path, query, _request_headers(req_headers), _inflate(req_body, req_headers, "request"), origin)
    response = RecordedResponse(
        status=status,
        headers=response_headers(resp_headers, method, status),
        body=_inflate(resp_body, resp_headers, "response"),
        reason=reason or None,
    )
    return Interaction(request, response, recorded_at)


# -- vcrpy -------------------------------------------------------------------------------------


def _vcrpy_body(side: dict[str, Any]) -> bytes:
    if "parsed_body" in side:  # pydantic-ai's serializer: the JSON value, bytes not kept
        return orjson.dumps(side["parsed_body"])
    body = side.get("body")
    if isinstance(body, dict):
        if "base64_string" in body:
            return base64.b64decode(body["base64_string"])
        return _to_bytes(body.get("string"))
    return _to_bytes(body)


def _multipart_body(body: bytes, headers: Headers) -> bytes:
    """A multipart body some recorders' hooks keep base64-encoded as a string (crewAI's vcrpy
    cassettes): decoded when the text is base64 of a body that opens with its boundary."""
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    marker = content_type.partition("boundary=")[2].strip('"; ')
    if not marker or not content_type.lower().startswith("multipart/") or body.startswith(b"--"):
        return body
    try:
        decoded = base64.b64decode(body, validate=True)
    except (ValueError, binascii.Error):
        return body
    return decoded if decoded.startswith(b"--" + marker.encode("latin-1", "replace")) else body


def _vcrpy_one(request: dict[str, Any], response: dict[str, Any]) -> Interaction:
    status = response.get("status") or {}
    code = status.get("code") if isinstance(status, dict) else status
    message = status.get("message") if isinstance(status, dict) else None
    headers = _header_lists(request.get("headers"))
    return _interaction(
        str(request.get("method", "GET")), str(request.get("uri") or request.get("url") or "/"),
        headers, _multipart_body(_vcrpy_body(request), headers),
        int(code or 200), message, _header_lists(response.get("headers")), _vcrpy_body(response),
    )


def _each(items: Any, where: str) -> Iterator[tuple[str, Any]]:
    """The items of a list with their place (``interactions[3]``), for errors that say where."""
    if items is None:
        return
    if not isinstance(items, list):
        raise CassetteError(f"{where} must be a list, not {type(items).__name__}")
    for i, item in enumerate(items):
        yield f"{where}[{i}]", item


@contextmanager
def _at(where: str) -> Iterator[None]:
    """A malformed field of one item reported with the item's place."""
    try:
        yield
    except CassetteError as exc:
        raise CassetteError(f"{where}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CassetteError(f"{where}: malformed: {exc!r}") from None


def from_vcrpy(data: dict[str, Any]) -> list[Interaction]:
    if "interactions" in data:
        pairs = list(_each(data["interactions"], "interactions"))
    else:  # vcrpy's internal form, as langchain stores it (gzipped)
        responses = [resp for _, resp in _each(data.get("responses"), "responses")]
        pairs = [(where, {"request": req, "response": resp})
                 for (where, req), resp in zip(_each(data.get("requests"), "requests"), responses)]
    out = []
    for where, item in pairs:
        with _at(where):
            out.append(_vcrpy_one(item.get("request") or {}, item.get("response") or {}))
    return out


# -- Ruby VCR ----------------------------------------------------------------------------------


def from_ruby_vcr(data: dict[str, Any]) -> list[Interaction]:
    out = []
    for where, item in _each(data.get("http_interactions"), "http_interactions"):
        with _at(where):
            out.append(_ruby_vcr_one(item))
    return out


def _ruby_vcr_one(item: dict[str, Any]) -> Interaction:
    req, resp = item.get("request") or {}, item.get("response") or {}
    status = resp.get("status") or {}
    return _interaction(
        str(req.get("method", "get")), str(req.get("uri", "/")),
        _header_lists(req.get("headers")), _vcrpy_body(req),
        int(status.get("code") or 200), status.get("message"),
        _header_lists(resp.get("headers")), _vcrpy_body(resp),
        str(item["recorded_at"]) if item.get("recorded_at") else None,
    )


# -- HAR 1.2 -----------------------------------------------------------------------------------


def _har_text(holder: dict[str, Any] | None) -> bytes:
    if not holder or holder.get("text") is None:
        return b""
    text = holder["text"]
    if holder.get("encoding") == "base64":
        return base64.b64decode(text)
    return str(text).encode("utf-8")


def from_har(data: dict[str, Any]) -> list[Interaction]:
    out = []
    for where, entry in _each((data.get("log") or {}).get("entries"), "log.entries"):
        with _at(where):
            status = int((entry.get("response") or {}).get("status") or 0)
            if status > 0:  # else aborted or blocked in the browser: nothing was answered
                out.append(_har_one(entry, status))
    return out


def _har_one(entry: dict[str, Any], status: int) -> Interaction:
    req, resp = entry.get("request") or {}, entry.get("response") or {}
    return _interaction(
        str(req.get("method", "GET")), str(req.get("url", "/")),
        _header_lists(req.get("headers")), _har_text(req.get("postData")),
        status, resp.get("statusText"), _header_lists(resp.get("headers")), _har_text(resp.get("content")),
        entry.get("startedDateTime"),
    )


# -- ddapm-test-agent JSON ---------------------------------------------------------------------


def from_ddapm(data: dict[str, Any]) -> list[Interaction]:
    req, resp = data["request"], data["response"]
    status = resp.get("status") or {}
    return [
        _interaction(
            str(req.get("method", "GET")), str(req.get("url", "/")), _header_lists(req.get("headers")), _to_bytes(req.get("body")),
            int(status.get("code") or 200), status.get("message"), _header_lists(resp.get("headers")), _to_bytes(resp.get("body")),
        )
    ]


# -- Go httprr ---------------------------------------------------------------------------------


def _http_message(raw: bytes) -> tuple[str, Headers, bytes]:
    """Start line, headers and body of a raw HTTP/1.x message (lines may end in CRLF or a bare LF)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = raw.partition(b"\n\n")
    lines = [line.rstrip(b"\r").decode("latin-1") for line in head.split(b"\n")]
    headers: Headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers.append((name.strip(), value.strip()))
    return lines[0], headers, body


def from_httprr(raw: bytes) -> list[Interaction]:
    if not raw.startswith(HTTPRR_MAGIC):
        raise CassetteError("not an httprr trace")
    out = []
    pos = len(HTTPRR_MAGIC)
    while pos < len(raw):
        start = pos
        try:
            end = raw.index(b"\n", pos)
            req_len, resp_len = (int(x) for x in raw[pos:end].split())
            pos = end + 1
            if req_len < 0 or resp_len < 0 or pos + req_len + resp_len > len(raw):
                raise ValueError(f"the lengths {req_len} {resp_len} run past the end of the file")
            out.append(_httprr_one(raw[pos : pos + req_len], raw[pos + req_len : pos + req_len + resp_len]))
            pos += req_len + resp_len
        except CassetteError as exc:  # a body that inflates too far is no malformed record
            raise CassetteError(f"httprr record {len(out)} (at byte {start}): {exc}") from None
        except ValueError as exc:
            raise CassetteError(f"httprr record {len(out)} (at byte {start}): malformed: {exc}") from None
    return out


def _httprr_one(req_raw: bytes, resp_raw: bytes) -> Interaction:
    start, req_headers, req_body = _http_message(req_raw)
    method, url = start.split(" ")[:2]
    status_line, resp_headers, resp_body = _http_message(resp_raw)
    _, code, *reason = status_line.split(" ", 2)
    return _interaction(method, url, req_headers, req_body, int(code), reason[0] if reason else None, resp_headers, resp_body)


# -- detection ---------------------------------------------------------------------------------


def parse(raw: bytes, source: str = "cassette") -> Loaded:
    """Recognise the format from the content (not the file name) and read it, inflating no more
    than :data:`INFLATE_LIMIT` bytes in all."""
    budget = _Budget()
    token = _budget.set(budget)
    try:
        return _parse(raw, source, budget)
    finally:
        _budget.reset(token)


def _parse(raw: bytes, source: str, budget: _Budget) -> Loaded:
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = _decompress(raw, "gzip", budget)
        except (EOFError, zlib.error) as exc:
            raise CassetteError(f"{source}: a gzip file that does not decompress: {exc}") from None
        except TooLarge:
            raise CassetteError(f"{source}: a gzip file that inflates past {INFLATE_LIMIT} bytes (the most one cassette may inflate to)") from None
    if raw.startswith(HTTPRR_MAGIC):
        try:
            return Loaded("httprr", from_httprr(raw))
        except CassetteError as exc:
            raise CassetteError(f"{source}: {exc}") from None
    data: Any
    if raw.lstrip()[:1] == b"{":
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
    else:
        data = None
    if data is None:
        try:
            data = fmt.load_yaml(raw, source)  # a recorder's file cut short by a kill reads as saved
        except CassetteError as exc:
            raise CassetteError(f"{source}: neither JSON nor YAML: {str(exc).split(': not valid YAML: ', 1)[-1]}") from None
    if not isinstance(data, dict):
        raise CassetteError(f"{source}: not a cassette (top level is not a mapping)")
    ours = fmt.is_our_format(data)
    try:
        if ours:
            return Loaded("mockserver", fmt.decode_document(data, source))
        if "http_interactions" in data:
            return Loaded("ruby-vcr", from_ruby_vcr(data))
        if isinstance(data.get("log"), dict) and "entries" in data["log"]:
            return Loaded("har", from_har(data))
        if "interactions" in data or ("requests" in data and "responses" in data):
            return Loaded("vcrpy", from_vcrpy(data))
        if isinstance(data.get("request"), dict) and isinstance(data.get("response"), dict):
            return Loaded("ddapm", from_ddapm(data))
    except CassetteError as exc:
        if ours:  # its errors name the file already
            raise
        raise CassetteError(f"{source}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CassetteError(f"{source}: malformed cassette: {exc!r}") from None
    raise CassetteError(f"{source}: unrecognised cassette format (keys: {', '.join(map(str, list(data)[:6]))})")


def load_any(path: Path | str) -> Loaded:
    path = Path(path)
    return parse(path.read_bytes(), str(path))



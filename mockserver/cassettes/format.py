"""The mockserver cassette format (YAML, ``version: 1``): read, write, save atomically, append.

Made to be read and diffed in review: one interaction per list item; JSON bodies as YAML
mappings in wire key order; a stream as its list of SSE events, each with its name, its data as
a mapping, the padding the API put before the final ``}`` and its time offset. Every response
body is stored so that rendering it gives back the recorded bytes exactly — an event whose bytes
the compact-JSON-plus-padding rule cannot reproduce keeps its exact text in ``raw``, and a body
that is neither JSON nor an event stream keeps its ``text`` (or ``base64``). docs/cassettes.md.

A recorder appends each interaction as it completes: one more list item at the end of the file,
written in flow style (``- {request: …, response: …}``) with a single ``write``, so the file is a
whole cassette after every append. An append cut short (SIGKILL during a large write, power
loss) leaves an unclosed ``{``: the reader drops that last item, with a warning, and keeps the
rest. The recorder rewrites the file in the readable block style when it stops (and before its
first append, which also normalises whatever file it found).
"""

from __future__ import annotations

import base64
import errno
import http
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

import orjson

from mockserver.protocol.sse import PING_DATA
from mockserver.cassettes import yamlio
from mockserver.protocol import sse
from mockserver.cassettes.model import Frame, Interaction, RecordedRequest, RecordedResponse
from mockserver.pipeline.parse import writable_json

log = logging.getLogger("mockserver.cassette")
FORMAT_NAME = "mockserver-cassette"
FORMAT_VERSION = 1
HEADER_COMMENT = "# mockserver cassette (format: docs/cassettes.md). One interaction per list item.\n"


class CassetteError(ValueError):
    """A cassette file that cannot be read, with where and why."""


class Flow(dict[str, Any]):
    """A mapping written on one line (``{type: text_delta, text: Hi}``): SSE event data stays one event per item."""


yamlio.CassetteDumper.add_representer(
    Flow, lambda dumper, value: dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=True)
)


def _flow(value: Any) -> Any:
    return Flow(value) if isinstance(value, dict) else value


# -- bodies ------------------------------------------------------------------------------------


def _exact_json(raw: bytes) -> tuple[bool, Any]:
    """``(True, value)`` when compact JSON of ``value`` is exactly ``raw`` (the API's own form)."""
    ok, value = writable_json(raw)
    return ok and orjson.dumps(value) == raw, value


def _pad_of(payload: bytes, compact: bytes) -> int | None:
    """Spaces the API inserted before the final ``}`` (0 for none), or ``None`` if that is not the difference."""
    if payload == compact:
        return 0
    if compact.endswith(b"}") and payload.endswith(b"}") and payload.startswith(compact[:-1]):
        gap = payload[len(compact) - 1 : -1]
        if gap and gap.strip(b" ") == b"":
            return len(gap)
    return None


def encode_event(raw: bytes, at: float | None) -> dict[str, Any] | None:
    """One SSE frame as a readable item, or ``None`` when the bytes are not UTF-8 text."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    item: dict[str, Any] = {}
    parts = sse.canonical(raw)
    if parts is None:
        item["frame"] = text  # comments, id: lines, several data lines, CRLF: kept verbatim
    else:
        name, payload = parts[0], parts[1].decode("utf-8")
        if name is not None:
            item["event"] = name
        ok, data = writable_json(parts[1])
        if not ok:
            item["raw"] = payload
        else:
            encoded = payload.encode()
            pad = _pad_of(encoded, orjson.dumps(data))
            if name == "ping" and data == {"type": "ping"}:
                if encoded == PING_DATA:
                    item["data"] = _flow(data)  # the API writes ping as {"type": "ping"}: rendered that way
                else:
                    item["raw"] = payload
            elif pad is None:
                item["raw"] = payload  # bytes the rule cannot reproduce: kept as sent
            else:
                item["data"] = _flow(data)
                if pad:
                    item["pad"] = pad
    if render_event(item) != raw:  # whatever the rule missed, the exact text is kept
        item = {"frame": text}
    if at is not None:
        item["at"] = round(at, 4)
    return item


def render_event(item: dict[str, Any]) -> bytes:
    """The exact bytes of an event item (inverse of :func:`encode_event`)."""
    if "frame" in item:
        return str(item["frame"]).encode()
    name = item.get("event")
    head = b"" if name is None else b"event: " + str(name).encode() + b"\n"
    if "raw" in item:
        payload = str(item["raw"]).encode()
    elif "data" not in item:
        raise CassetteError("an event needs data, raw or frame")
    elif name == "ping" and item["data"] == {"type": "ping"} and not item.get("pad"):
        payload = PING_DATA
    else:
        payload = _json(item["data"], "data")
        pad = item.get("pad") or 0
        if not isinstance(pad, int) or isinstance(pad, bool) or not 0 <= pad <= _MAX_PAD:
            raise CassetteError(f"pad must be a whole number of spaces, not {pad!r}")
        if pad:
            if not isinstance(item["data"], dict):
                raise CassetteError("pad needs data that is a mapping (the spaces go before its final '}')")
            payload = payload[:-1] + b" " * pad + b"}"
    return head + b"data: " + payload + b"\n\n"


_MAX_PAD = 1 << 20  # the API pads by at most 15; this only keeps a typo from costing gigabytes


def _json(value: Any, what: str) -> bytes:
    """``value`` as compact JSON, or a :class:`CassetteError` saying why it is none (a YAML
    ``!!binary`` or set, an integer past 64 bits, a key that is not text)."""
    try:
        return orjson.dumps(value)
    except TypeError as exc:
        raise CassetteError(f"{what} is not JSON: {exc}") from None


def _seconds(value: Any, what: str) -> float | None:
    """A time in seconds (``latency``, ``at``): absent, or a finite number not below zero."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise CassetteError(f"{what} must be a number of seconds, not {value!r}")
    return float(value)


def _encode_text(raw: bytes) -> dict[str, Any]:
    try:
        return {"text": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode("ascii")}


def encode_response_body(response: RecordedResponse) -> dict[str, Any]:
    raw = response.body
    if not raw:
        return {}
    if response.is_stream:
        frames = response.frames if response.frames is not None else [Frame(r) for r in sse.split(raw)]
        items = [encode_event(f.raw, f.at) for f in frames]
        if all(item is not None for item in items) and b"".join(f.raw for f in frames) == raw:
            return {"events": items}
        return _encode_text(raw)
    exact, value = _exact_json(raw)
    if exact:
        return {"body": value}
    if raw.endswith(b"\n"):
        lines = raw[:-1].split(b"\n")
        values = []
        for line in lines:
            ok, value = _exact_json(line)
            if not ok:
                break
            values.append(value)
        else:
            return {"jsonl": values}
    return _encode_text(raw)


def decode_body(data: dict[str, Any], where: str) -> tuple[bytes, list[Frame] | None]:
    """A stored body as bytes, plus its frames when it is an event stream."""
    if "events" in data:
        frames = []
        for i, item in enumerate(_list(data["events"], f"{where}.events")):
            if not isinstance(item, dict):
                raise CassetteError(f"{where}.events[{i}] must be a mapping")
            try:
                raw = render_event(item)
                at = _seconds(item.get("at"), "at")
            except CassetteError as exc:
                raise CassetteError(f"{where}.events[{i}]: {exc}") from None
            frames.append(Frame(raw, at))
        return b"".join(f.raw for f in frames), frames
    try:
        if "body" in data:  # present means JSON, so ``body: null`` is the JSON null
            return _json(data["body"], "body"), None
        if "jsonl" in data:
            return b"".join(_json(v, f"jsonl[{i}]") + b"\n" for i, v in enumerate(_list(data["jsonl"], "jsonl"))), None
    except CassetteError as exc:
        raise CassetteError(f"{where}.{exc}") from None
    if "text" in data:
        if not isinstance(data["text"], str):
            raise CassetteError(f"{where}.text must be text, not {type(data['text']).__name__}")
        return data["text"].encode("utf-8"), None
    if "base64" in data:
        try:
            return base64.b64decode("".join(str(data["base64"]).split()), validate=True), None
        except ValueError as exc:
            raise CassetteError(f"{where}.base64 is not base64: {exc}") from None
    return b"", None


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CassetteError(f"{what} must be a list, not {type(value).__name__}")
    return value


def encode_request_body(raw: bytes) -> dict[str, Any]:
    """Requests are matched on their JSON value, so a JSON body is always kept as a mapping
    (unless it nests too deeply to write back: then as text, matched by its bytes)."""
    if not raw:
        return {}
    ok, value = writable_json(raw)
    return {"body": value} if ok else _encode_text(raw)


# -- headers and query -------------------------------------------------------------------------


def encode_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        key, value = str(key), str(value)  # multidict's istr is a str subclass YAML cannot represent
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


def decode_pairs(data: Any, where: str) -> list[tuple[str, str]]:
    if data is None:
        return []
    if not isinstance(data, dict):
        raise CassetteError(f"{where} must be a mapping")
    pairs = []
    for key, value in data.items():
        for one in value if isinstance(value, list) else [value]:
            if isinstance(one, (dict, list)):
                raise CassetteError(f"{where}.{key} must be text (or a list of texts), not a {type(one).__name__}")
            text = "" if one is None else _scalar_text(one)
            if _CONTROL.search(str(key)) or _CONTROL.search(text):
                raise CassetteError(f"{where}.{key} holds a line break or NUL, which no HTTP header can carry")
            pairs.append((str(key), text))
    return pairs


_CONTROL = re.compile("[\r\n\x00]")


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- interactions ------------------------------------------------------------------------------


def encode_interaction(interaction: Interaction) -> dict[str, Any]:
    req, resp = interaction.request, interaction.response
    request: dict[str, Any] = {"method": req.method, "path": req.path}
    if req.origin:
        request["origin"] = req.origin
    if req.query:
        request["query"] = encode_pairs(req.query)
    request["headers"] = encode_pairs(req.headers)
    form = req.upload()
    if form is not None:  # an upload: its parts, the file by name, type, size and SHA-256 (docs/cassettes.md)
        request["form"] = form
    else:
        request.update(encode_request_body(req.body))
    response: dict[str, Any] = {"status": resp.status}
    if resp.reason and resp.reason != _phrase(resp.status):
        response["reason"] = resp.reason
    if resp.latency is not None:
        response["latency"] = round(resp.latency, 4)
    response["headers"] = encode_pairs(resp.headers)
    response.update(encode_response_body(resp))
    item: dict[str, Any] = {"request": request, "response": response}
    if interaction.recorded_at:
        item["recorded_at"] = interaction.recorded_at
    return item


def _phrase(status: int) -> str | None:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return None


def decode_interaction(item: Any, where: str) -> Interaction:
    if not isinstance(item, dict) or not isinstance(item.get("request"), dict) or not isinstance(item.get("response"), dict):
        raise CassetteError(f"{where}: needs a request and a response mapping")
    req, resp = item["request"], item["response"]
    method, path = req.get("method"), req.get("path")
    if not isinstance(method, str) or not isinstance(path, str):
        raise CassetteError(f"{where}: request needs method and path")
    if req.get("origin") is not None and not isinstance(req["origin"], str):
        raise CassetteError(f"{where}.request.origin must be a URL like https://example.com")
    request_body, _ = decode_body(req, f"{where}.request")
    request = RecordedRequest(
        method=method.upper(),
        path=path,
        query=decode_pairs(req.get("query"), f"{where}.request.query"),
        headers=decode_pairs(req.get("headers"), f"{where}.request.headers"),
        body=request_body,
        origin=req.get("origin"),
        form=_form(req.get("form"), f"{where}.request.form"),
    )
    status = resp.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        raise CassetteError(f"{where}: response needs an integer status")
    if not 100 <= status <= 599:
        raise CassetteError(f"{where}.response.status: {status} is not an HTTP status (100-599)")
    reason = resp.get("reason")
    if reason is not None and (not isinstance(reason, str) or _CONTROL.search(reason)):
        raise CassetteError(f"{where}.response.reason must be one line of text, not {reason!r}")
    body, frames = decode_body(resp, f"{where}.response")
    try:
        latency = _seconds(resp.get("latency"), "latency")
    except CassetteError as exc:
        raise CassetteError(f"{where}.response.{exc}") from None
    response = RecordedResponse(
        status=status,
        headers=decode_pairs(resp.get("headers"), f"{where}.response.headers"),
        body=body,
        reason=reason,
        frames=frames,
        latency=latency,
    )
    recorded_at = item.get("recorded_at")
    return Interaction(request, response, str(recorded_at) if recorded_at is not None else None)


def _form(data: Any, where: str) -> dict[str, Any] | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise CassetteError(f"{where} must be a mapping of part names to text or file summaries")
    form = {str(k): v for k, v in data.items()}
    try:
        _json(form, "it")  # matched (and redacted) as JSON
    except CassetteError as exc:
        raise CassetteError(f"{where}: {exc}") from None
    return form


def is_our_format(data: Any) -> bool:
    return isinstance(data, dict) and data.get("format") == FORMAT_NAME


def decode_document(data: Any, source: str = "cassette") -> list[Interaction]:
    if not is_our_format(data):
        raise CassetteError(f"{source}: not a {FORMAT_NAME} document")
    version = data.get("version")
    if version != FORMAT_VERSION:
        raise CassetteError(f"{source}: unsupported version {version!r} (this mockserver reads version {FORMAT_VERSION})")
    items = data.get("interactions") or []
    if not isinstance(items, list):
        raise CassetteError(f"{source}: interactions must be a list")
    return [decode_interaction(item, f"{source}: interactions[{i}]") for i, item in enumerate(items)]


def dumps(interactions: Iterable[Interaction]) -> str:
    """The whole document, without the ``...`` end marker libyaml writes after a block scalar
    that keeps its trailing newlines (``|+``): items are appended after it, and past that marker
    they would no longer be part of the document (the next column-0 item ends the scalar anyway)."""
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "interactions": [encode_interaction(i) for i in interactions],
    }
    text = yamlio.dump(document)
    return HEADER_COMMENT + (text[: -len("...\n")] if text.endswith("\n...\n") else text)


def dump_appended(interaction: Interaction) -> str:
    """One interaction as the list item a recorder appends: a single flow mapping."""
    return "- " + yamlio.dump_flow(encode_interaction(interaction))


_LAST_ITEM = re.compile(rb"^-(?: |$)", re.M)  # interactions are the only list items at column 0


def _torn_at(raw: bytes) -> int | None:
    """Where an appended item cut short begins, if the file ends in one: a last item that is
    only ``-``, or a flow item (``- {``) without its closing ``}``. (Block items are written by
    whole-file replacement, never appended, so they are never cut short.)"""
    last = None
    for last in _LAST_ITEM.finditer(raw):
        pass
    if last is None:
        return None
    tail = raw[last.start():].rstrip()
    if tail == b"-" or (tail.startswith(b"- {") and not tail.endswith(b"}")):
        return last.start()
    return None


def load_yaml(text: str | bytes, source: str = "cassette") -> object:
    """Parse a cassette's YAML; when it ends in an appended item cut short by an interrupted
    write, parse it without that item (logged), as the recorder that was stopped left it."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    cut = _torn_at(raw)
    if cut is None:
        try:
            return yamlio.load(raw)
        except Exception as exc:  # yaml.YAMLError and constructor errors
            starts = [m.start() for m in _LAST_ITEM.finditer(raw) if raw.startswith(b"- {", m.start())]
            if not starts:
                raise CassetteError(f"{source}: not valid YAML: {exc}") from None
            cut, error = starts[-1], exc  # e.g. cut just after an inner '}': try without that item
    else:
        error = None
    try:
        data = yamlio.load(raw[:cut])
    except Exception as exc:  # noqa: BLE001 - not (only) a torn tail: report the first problem
        raise CassetteError(f"{source}: not valid YAML: {error or exc}") from None
    log.warning("%s: its last interaction was cut short by an interrupted write (%d bytes at offset %d); ignoring it",
                source, len(raw) - cut, cut)
    return data


def loads(text: str | bytes, source: str = "cassette") -> list[Interaction]:
    return decode_document(load_yaml(text, source), source)


# -- files -------------------------------------------------------------------------------------


def write_atomic(path: Path, text: str) -> None:
    """Write a temporary file beside ``path``, fsync it, then rename over ``path``: a reader (or a
    crash at any instant) sees the old file or the new one, never a half-written one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def remove_stale_temporaries(path: Path) -> None:
    """Temporary files a killed recorder left beside ``path`` (the cassette itself is always whole)."""
    path = Path(path)
    if not path.parent.is_dir():
        return
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            if time.time() - leftover.stat().st_mtime > 60:  # not a live writer's file
                leftover.unlink()
        except OSError:
            pass


def append_text(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` with one ``write`` (looping only if the kernel takes less), then
    fsync. If it fails part way (a full disk), the file is cut back to its old length, so a failed
    append leaves no partial item; :class:`CassetteWriteError` says why."""
    data = text.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                if written <= 0:  # pragma: no cover - a regular file never does this
                    raise OSError(errno.EIO, "short write")
                view = view[written:]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, size)
            except OSError as cut:
                raise CassetteWriteError(f"cannot write {path}: {cut.strerror or cut}; the file may end in a partial item",
                                         damaged=True) from cut
            raise
    finally:
        os.close(fd)


class CassetteWriteError(OSError):
    """A cassette could not be written. ``damaged``: the file may end in a partial item, so no
    more should be appended to it."""

    def __init__(self, message: str, *, damaged: bool = False) -> None:
        super().__init__(message)
        self.damaged = damaged


class Writer:
    """How a cassette reaches the disk: whole files replaced atomically, items appended. Tests
    put in one that fails as a full disk or a read-only directory would."""

    def replace(self, path: Path, text: str) -> None:
        write_atomic(path, text)

    def append(self, path: Path, text: str) -> None:
        append_text(path, text)


def check_writable(path: Path) -> None:
    """Raise :class:`CassetteWriteError` unless a cassette can be written at ``path``: a temporary
    file can be made (and removed) in its folder — or the nearest folder that exists, which is
    where the missing ones would be created — and an existing file can be opened for writing."""
    path = Path(path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
        if path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    except OSError as exc:
        raise CassetteWriteError(f"cannot record to {path}: {exc.strerror or exc}"
                                 + (f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else "")) from exc


def save(path: Path, interactions: Iterable[Interaction]) -> None:
    write_atomic(path, dumps(interactions))


def load(path: Path) -> list[Interaction]:
    path = Path(path)
    return loads(path.read_bytes(), str(path))

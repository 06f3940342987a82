"""How close the token estimate is to the real API: every recorded request in the real-traffic
corpus (tests/data/realworld/) that carries real input tokens, estimated by the server's own
estimator and compared with what the API reported.

    python -m bench.token_accuracy                       # the per-case table and the summaries
    python -m bench.token_accuracy --text-counter legacy # the same with the legacy Claude tokenizer

The real count is ``input_tokens + cache_creation_input_tokens + cache_read_input_tokens`` of
the response (a stream's ``message_start``, a JSON body's ``usage``, or count_tokens'
``input_tokens``). The estimate is ``count_request(body).total``: what count_tokens answers and
what ``usage`` splits for a Message. A deterministic third of the files (by a hash of their path)
is held out: no constant in the estimator was fitted on them (docs/token-estimator.md).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson

from mockserver.cassettes.format import CassetteError
from mockserver.cassettes.importers import load_any
from mockserver.cassettes.model import RecordedRequest, RecordedResponse, header
from mockserver.pipeline.multipart import FormError, MultipartParser, boundary_of
from mockserver.protocol.files import FileReader, declared_type
from mockserver.protocol.media import FileFacts
from mockserver.protocol.sse import split as split_sse
from mockserver.protocol import tokens

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "realworld"
TARGET_MEDIAN = 0.05
TARGET_P90 = 0.15
ENDPOINTS = ("/v1/messages", "/v1/messages/count_tokens")
FILES_UPLOAD = "/v1/files"


@dataclass(frozen=True)
class Case:
    path: str  # relative to the corpus folder, with "/" separators
    index: int  # the interaction's position in its file
    endpoint: str
    model: str
    features: str
    real: int
    estimate: int

    @property
    def held_out(self) -> bool:
        return is_held_out(self.path)

    @property
    def error(self) -> float:
        """Signed relative error of the estimate."""
        return (self.estimate - self.real) / self.real


@dataclass(frozen=True)
class Excluded:
    path: str
    index: int
    reason: str


@dataclass(frozen=True)
class Summary:
    n: int
    median: float  # of the absolute relative errors
    p90: float  # nearest rank: the smallest error that at least 90% of the cases do not exceed
    real_total: int
    estimate_total: int

    @property
    def meets_targets(self) -> bool:
        return self.n > 0 and self.median <= TARGET_MEDIAN and self.p90 <= TARGET_P90


def is_held_out(path: str) -> bool:
    """A third of the files, fixed by a hash of the path: the fit never saw them."""
    return int(hashlib.sha256(path.encode()).hexdigest()[:8], 16) % 3 == 0


def summarize(cases: list[Case]) -> Summary:
    errors = sorted(abs(c.error) for c in cases)
    n = len(errors)
    if not n:
        return Summary(0, math.nan, math.nan, 0, 0)
    median = errors[n // 2] if n % 2 else (errors[n // 2 - 1] + errors[n // 2]) / 2
    p90 = errors[math.ceil(0.9 * n) - 1]
    return Summary(n, median, p90, sum(c.real for c in cases), sum(c.estimate for c in cases))


# -- the real numbers ---------------------------------------------------------------------------------


def _events(body: bytes) -> Iterator[dict[str, Any]]:
    for frame in split_sse(body):
        for line in frame.decode("utf-8", "replace").splitlines():
            if line.startswith("data:"):
                try:
                    event = orjson.loads(line[5:])
                except orjson.JSONDecodeError:
                    continue
                if isinstance(event, dict):
                    yield event


def real_usage(response: RecordedResponse) -> tuple[dict[str, Any] | None, bool]:
    """The usage that counts the request's prompt, and whether it came from a stream.

    A stream's ``message_start`` counts the prompt as sent; its ``message_delta`` may count more
    (server tools feed their results back in), so the start is what is compared."""
    body = response.body
    if response.is_stream or body.lstrip().startswith((b"event:", b"data:")):
        for event in _events(body):
            if event.get("type") == "message_start":
                usage = (event.get("message") or {}).get("usage")
                return (usage if isinstance(usage, dict) else None), True
        return None, True
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, False
    if not isinstance(data, dict):
        return None, False
    if isinstance(data.get("usage"), dict):
        return data["usage"], False
    if set(data) == {"input_tokens"}:  # count_tokens
        return data, False
    return None, False


def total_input(usage: dict[str, Any]) -> int:
    return sum(int(usage.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))


def exclusion(usage: dict[str, Any], streamed: bool) -> str | None:
    """Why this real number cannot be compared with an estimate of the request, if it cannot."""
    server = usage.get("server_tool_use")
    if not streamed and isinstance(server, dict) and any(int(v or 0) > 0 for v in server.values() if isinstance(v, (int, float))):
        return (
            "non-streamed server-tool turn: its usage also counts the tool results the API fed back "
            "to the model (a stream's message_start would count the prompt alone)"
        )
    return None


# -- the corpus ---------------------------------------------------------------------------------------


def features(body: dict[str, Any]) -> str:
    """A short description of what the request holds, for the table."""
    tags: list[str] = []
    tools = body.get("tools") or []
    custom = [t for t in tools if isinstance(t, dict) and t.get("type") in (None, "custom")]
    server = sorted({str(t.get("type")) for t in tools if isinstance(t, dict) and t.get("type") not in (None, "custom")})
    if custom:
        tags.append(f"tools={len(custom)}")
    tags.extend(server)
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        tags.append(f"choice={choice.get('type')}")
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") != "disabled":
        tags.append(f"thinking={thinking.get('type')}")
    if (body.get("output_config") or {}).get("format") or body.get("output_format"):
        tags.append("schema")
    if body.get("system"):
        tags.append("system")
    messages = body.get("messages") or []
    if len(messages) > 1:
        tags.append(f"turns={len(messages)}")
    seen: dict[str, int] = {}
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            if not isinstance(block, dict):
                continue
            kind = str(block.get("type"))
            source = block.get("source")
            if not isinstance(source, dict):
                source = {}
            if kind in ("image", "document"):
                citations = block.get("citations")
                cited = isinstance(citations, dict) and citations.get("enabled")
                kind = f"{kind}:{source.get('type')}" + (":cited" if cited else "")
            if kind != "text":
                seen[kind] = seen.get(kind, 0) + 1
            if isinstance(block.get("cache_control"), dict):
                seen["cache_control"] = seen.get("cache_control", 0) + 1
    tags.extend(k if n == 1 else f"{k}x{n}" for k, n in seen.items())
    return " ".join(tags)


def uploaded_file(request: RecordedRequest, response: RecordedResponse) -> FileFacts | None:
    """What the server would know of a recorded ``POST /v1/files`` upload: its multipart body read
    by the server's own parser and :class:`FileReader`, as the Files endpoint reads an upload, under
    the id the API answered. ``None`` when the recording kept no bytes or the upload failed."""
    if request.origin or request.method != "POST" or request.path != FILES_UPLOAD or response.status != 200:
        return None
    answer = orjson.loads(response.body) if response.body.lstrip().startswith(b"{") else None
    file_id = answer.get("id") if isinstance(answer, dict) else None
    boundary = boundary_of(header(request.headers, "content-type"))
    if not isinstance(file_id, str) or boundary is None:
        return None
    parser = MultipartParser(boundary, keep_files=True)
    try:
        parser.feed(request.body)
        form = parser.finish()
    except FormError:
        return None
    try:
        part = form.file()
        if part is None or not part.size:
            return None
        reader = FileReader(declared_type(part.content_type), part.filename)
        for chunk in part.chunks():
            reader.feed(chunk)
        return reader.finish(file_id)
    finally:
        form.close()


def load_cases(corpus: Path = CORPUS) -> tuple[list[Case], list[Excluded]]:
    """Every Messages and count_tokens request in the corpus that was answered with real input
    tokens, estimated now; and the ones left out, with the reason. A file that a recording
    uploaded earlier (``POST /v1/files``) is known when a later request names it by ``file_id``,
    as it is to a server that took the same upload."""
    cases: list[Case] = []
    excluded: list[Excluded] = []
    for file in sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix != ".md"):
        rel = file.relative_to(corpus).as_posix()
        try:
            interactions = load_any(file).interactions
        except CassetteError:
            continue
        files: dict[str, FileFacts] = {}
        for index, interaction in enumerate(interactions):
            request, response = interaction.request, interaction.response
            if (upload := uploaded_file(request, response)) is not None:
                files[upload.id] = upload
                continue
            if request.origin or request.method != "POST" or request.path not in ENDPOINTS or response.status != 200:
                continue
            body = request.json
            usage, streamed = real_usage(response)
            if not isinstance(body, dict) or usage is None or "input_tokens" not in usage:
                continue
            reason = exclusion(usage, streamed)
            if reason:
                excluded.append(Excluded(rel, index, reason))
                continue
            cases.append(
                Case(rel, index, request.path.removeprefix("/v1/messages").lstrip("/") or "messages",
                     str(body.get("model")), features(body), total_input(usage),
                     tokens.count_request(body, files=files).total)
            )
    return cases, excluded


# -- other text counters --------------------------------------------------------------------------


def legacy_counter() -> Callable[[str], int]:
    """The tokenizer of the Claude 1/2 era: ``anthropic_tokenizer`` (PyPI), or the tokenizer.json
    that the ``anthropic`` SDK bundled up to 0.38 read with ``tokenizers``."""
    if importlib.util.find_spec("anthropic_tokenizer"):
        from anthropic_tokenizer import count_tokens  # type: ignore[import-not-found]

        counter: Callable[[str], int] = count_tokens
        return counter
    spec = importlib.util.find_spec("anthropic")
    bundled = Path(spec.origin).parent / "tokenizer.json" if spec and spec.origin else None
    if bundled and bundled.exists() and importlib.util.find_spec("tokenizers"):
        from tokenizers import Tokenizer  # type: ignore[import-not-found]

        tokenizer = Tokenizer.from_file(str(bundled))
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)
    raise SystemExit(
        "the legacy tokenizer is not installed: `pip install anthropic-tokenizer`, or "
        "`pip install 'anthropic<0.39' tokenizers` (make token-accuracy-legacy does this in .venv-tokenizer)"
    )


@contextmanager
def text_counter(count: Callable[[str], int] | None) -> Iterator[None]:
    """Count text with ``count`` instead of the estimator's own piece splitter, meanwhile."""
    if count is None:
        yield
        return
    saved = tokens.count_text
    tokens.count_text = count  # type: ignore[assignment]  # swapped on purpose: every count in the estimator goes through this module global
    try:
        yield
    finally:
        tokens.count_text = saved


# -- the report ---------------------------------------------------------------------------------------


def _line(label: str, s: Summary) -> str:
    verdict = "meets" if s.meets_targets else "MISSES"
    bias = (s.estimate_total - s.real_total) / s.real_total if s.real_total else math.nan
    return (
        f"{label:9s} n={s.n:3d}  median |error| {s.median:6.1%}  p90 {s.p90:6.1%}  "
        f"estimated {s.estimate_total:,} of {s.real_total:,} real ({bias:+.1%})  {verdict} the targets"
    )


def report(cases: list[Case], excluded: list[Excluded], *, table: bool = True) -> str:
    out: list[str] = []
    if table:
        out.append(f"{'set':4s} {'file (under tests/data/realworld/)':78s} {'#':>2s} {'endpoint':12s} "
                   f"{'model':27s} {'real':>6s} {'est':>6s} {'error':>7s}  features")
        for c in sorted(cases, key=lambda c: (c.held_out, c.path, c.index)):
            name = c.path if len(c.path) <= 78 else c.path[:75] + "..."
            out.append(f"{'held' if c.held_out else 'fit':4s} {name:78s} {c.index:2d} {c.endpoint:12s} "
                       f"{c.model[:27]:27s} {c.real:6d} {c.estimate:6d} {c.error:+7.1%}  {c.features}")
        out.append("")
    for e in excluded:
        out.append(f"excluded: {e.path} #{e.index}: {e.reason}")
    if excluded:
        out.append("")
    out.append(f"targets: median |error| <= {TARGET_MEDIAN:.0%}, p90 <= {TARGET_P90:.0%}")
    out.append(_line("fit", summarize([c for c in cases if not c.held_out])))
    out.append(_line("held-out", summarize([c for c in cases if c.held_out])))
    out.append(_line("all", summarize(cases)))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.token_accuracy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of recorded traffic (default: %(default)s)")
    parser.add_argument("--text-counter", choices=("builtin", "legacy"), default="builtin",
                        help="count text with the estimator's piece splitter (default) or the legacy Claude tokenizer")
    parser.add_argument("--summary", action="store_true", help="only the summaries, no per-case table")
    args = parser.parse_args(argv)
    counter = legacy_counter() if args.text_counter == "legacy" else None
    with text_counter(counter):
        cases, excluded = load_cases(args.corpus)
    print(f"text counter: {args.text_counter}")
    print(report(cases, excluded, table=not args.summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

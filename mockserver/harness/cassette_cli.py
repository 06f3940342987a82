"""``mockserver record``, ``mockserver replay`` and ``mockserver cassette {list,show,diff,redact,check,convert}``.

Kept apart from the main CLI module: it only hands over its parser and how to build a server
config, and gets one ``run`` call back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Callable

from mockserver.config import Config
from mockserver.http.runner import ListenError, listen_advice
from mockserver.scenarios.errors import ScenarioError
from mockserver.store.base import StoreError
from mockserver.cassettes import format as fmt
from mockserver.cassettes.format import CassetteError, CassetteWriteError
from mockserver.cassettes.importers import load_any
from mockserver.cassettes.install import RECORD_MODES, CassetteOptions, Installed, install
from mockserver.cassettes.matchers import DEFAULT_MATCH_ON, Matcher, load_custom
from mockserver.cassettes.model import RecordedRequest
from mockserver.cassettes.redact import Redactor, scan_interactions, scan_text

COMMANDS = ("record", "replay", "cassette")


def _add_matching(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("matching (docs/cassettes.md#matching)")
    group.add_argument("--match-on", default=",".join(DEFAULT_MATCH_ON), metavar="LIST",
                       help="criteria: method,path,query,body,header:NAME (default: %(default)s)")
    group.add_argument("--ignore-field", action="append", default=[], metavar="PATH",
                       help="body field left out when matching, e.g. metadata.user_id or messages.*.content (repeatable)")
    group.add_argument("--match-field", action="append", default=[], metavar="PATH",
                       help="compare only these body fields (repeatable)")
    group.add_argument("--matcher", default=None, metavar="MODULE:FUNC",
                       help="extra Python predicate f(request, recorded) -> bool (both RecordedRequest)")


def _add_cassette_server(parser: argparse.ArgumentParser, *, default_mode: str, record: bool) -> None:
    parser.add_argument("--cassette", action="append", required=True, type=Path, metavar="FILE",
                        help="cassette file" + (" to write (created if missing)" if record else " (repeatable; any supported format)"))
    parser.add_argument("--record-mode", choices=RECORD_MODES, default=default_mode,
                        help="vcrpy's meanings (default: %(default)s)")
    parser.add_argument("--upstream", default=None, metavar="URL",
                        help="where recordings come from (default: $MOCKSERVER_RECORD_UPSTREAM or https://api.anthropic.com)")
    parser.add_argument("--redact-header", action="append", default=[], metavar="NAME",
                        help="also redact this header before writing (repeatable; x-api-key, authorization, cookies always)")
    parser.add_argument("--allow-repeats", action="store_true",
                        help="when every match was played, replay the last one again instead of failing")
    parser.add_argument("--realtime", action="store_true", help="replay streams at their recorded pace")
    parser.add_argument("--speed", type=float, default=1.0, metavar="X", help="with --realtime: X times faster (default 1)")
    parser.add_argument("--no-rewrite-urls", action="store_true",
                        help="leave a batch's results_url as recorded (by default it points back at this server)")
    _add_matching(parser)


def add_commands(commands: Any, add_server_options: Callable[[argparse.ArgumentParser], None]) -> None:
    record = commands.add_parser("record", help="proxy to the real API (or --upstream) and record a cassette")
    _add_cassette_server(record, default_mode="new_episodes", record=True)
    add_server_options(record)
    replay = commands.add_parser("replay", help="answer from cassettes, offline")
    _add_cassette_server(replay, default_mode="none", record=False)
    add_server_options(replay)

    tools = commands.add_parser("cassette", help="inspect, convert, redact and check cassettes")
    sub = tools.add_subparsers(dest="tool", required=True)
    files_help = "cassette files, in any supported format (mockserver, vcrpy, Ruby VCR, HAR, ddapm, httprr)"
    redact_help = "also treat this header as secret (repeatable; x-api-key, authorization and cookies always are)"
    p = sub.add_parser("list", help="one line per interaction")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help=files_help)
    p = sub.add_parser("show", help="one interaction in the mockserver format (or its raw response body)")
    p.add_argument("file", type=Path, metavar="FILE", help="a cassette file (any supported format)")
    p.add_argument("index", type=int, metavar="N", help="which interaction: its number in `cassette list`, from 0")
    p.add_argument("--body", action="store_true", help="print the response body bytes exactly as replayed")
    p = sub.add_parser("diff", help="which recorded interaction a request matches, or how it differs from the closest")
    p.add_argument("file", type=Path, metavar="FILE", help="a cassette file (any supported format)")
    p.add_argument("request", type=Path, metavar="REQUEST", help="JSON file: a request body, or {method, path, query, body}; - for stdin")
    p.add_argument("--method", default=None, help="the request's method, when REQUEST is only a body (default POST)")
    p.add_argument("--path", default=None, help="the request's path and query, when REQUEST is only a body (default /v1/messages)")
    _add_matching(p)
    p = sub.add_parser("redact", help="redact secrets in mockserver cassettes, in place")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="mockserver cassettes (convert other formats: that redacts too)")
    p.add_argument("--redact-header", action="append", default=[], metavar="NAME", help=redact_help)
    p = sub.add_parser("check", help="exit 1 if any cassette (any format) holds a secret")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help=files_help)
    p.add_argument("--redact-header", action="append", default=[], metavar="NAME", help=redact_help)
    p = sub.add_parser("convert", help="vcrpy / Ruby VCR / HAR / ddapm / httprr → a mockserver cassette (redacted)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help=files_help)
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="the mockserver cassette to write")
    p.add_argument("--redact-header", action="append", default=[], metavar="NAME", help=redact_help)


def _options(args: argparse.Namespace) -> CassetteOptions:
    return CassetteOptions(
        paths=args.cassette,
        record_mode=args.record_mode,
        upstream=args.upstream,
        match_on=tuple(c.strip() for c in args.match_on.split(",") if c.strip()),
        ignore_fields=tuple(args.ignore_field),
        match_fields=tuple(args.match_field),
        custom_matcher=load_custom(args.matcher) if args.matcher else None,
        redact_headers=tuple(args.redact_header),
        allow_repeats=args.allow_repeats,
        realtime=args.realtime,
        speed=args.speed,
        rewrite_urls=not args.no_rewrite_urls,
    )


async def _serve(config: Config, options: CassetteOptions) -> int:
    from mockserver.http.runner import serve_until_signalled
    from mockserver.root import Api

    api = Api(config)
    installed = api.put_cassette(options)
    try:
        await serve_until_signalled(api, config.host, config.port, lambda url: _banner(installed, options, url))
    finally:
        await installed.flush()
    return _report(installed)


def _report(installed: Installed) -> int:
    """The last word of a recorder: how many interactions are in the file, and which exchanges
    are not — a write that failed, or an answer not recorded (over the size limit, cut short…).
    Then the exit status is 1: a recording with holes must not pass for a good one."""
    cassette = installed.cassette
    unrecorded, failed = installed.unrecorded_line(), installed.failed_line()
    if failed is not None:
        print(f"mockserver: {failed}; the file holds the other {cassette.recorded} (their clients were told of each failure)",
              file=sys.stderr, flush=True)
    elif cassette.recorded:
        print(f"mockserver: {cassette.recorded} new interaction(s) saved to {cassette.path}", flush=True)
    if unrecorded is not None:
        print(f"mockserver: {unrecorded}", file=sys.stderr, flush=True)
    return 1 if cassette.failed or unrecorded is not None else 0


def _banner(installed: Installed, options: CassetteOptions, url: str) -> None:
    cassette = installed.cassette
    what = ", ".join(str(p) for p in options.paths)
    if installed.upstream:
        print(f"mockserver: recording to {cassette.path} (record mode {installed.mode.value}, upstream {installed.upstream}); "
              f"{len(cassette)} interaction(s) already there; listening on {url}", flush=True)
        print(f"export ANTHROPIC_BASE_URL={url}", flush=True)
        print("# clients keep their own ANTHROPIC_API_KEY: it is forwarded upstream and never written to the cassette", flush=True)
    else:
        print(f"mockserver: replaying {len(cassette)} interaction(s) from {what} (record mode {installed.mode.value}); "
              f"listening on {url}", flush=True)
        print(f"export ANTHROPIC_BASE_URL={url}", flush=True)
        print("export ANTHROPIC_API_KEY=sk-ant-mock-key   # any non-empty key is accepted", flush=True)


def run(args: argparse.Namespace, config_from_args: Callable[[argparse.Namespace], Config]) -> int:
    try:
        if args.command in ("record", "replay"):
            if hasattr(args, "data_dir") and args.data_dir is None:
                args.data_dir = ":memory:"  # batches are answered by the cassette or upstream, never stored here
            if args.command == "record" and len(args.cassette) != 1:
                raise CassetteError("record writes one cassette: give --cassette once")
            options = _options(args)
            config = config_from_args(args)
            try:
                return asyncio.run(_serve(config, options))
            except CassetteWriteError as exc:  # e.g. a read-only folder: found before listening
                print(f"mockserver: {exc}", file=sys.stderr)
                return 1
            except ListenError as exc:
                print(f"mockserver: {listen_advice(config, exc)}", file=sys.stderr)
                return 1
            except StoreError as exc:
                print(f"mockserver: {exc}", file=sys.stderr)
                return 2
            except ScenarioError as exc:  # names the file, the rule and the field
                print(f"mockserver: scenario rejected: {exc}", file=sys.stderr)
                return 2
            except KeyboardInterrupt:
                return 0
        return TOOLS[args.tool](args)
    except (CassetteError, ValueError, ImportError, OSError) as exc:
        print(f"mockserver: {exc}", file=sys.stderr)
        return 1


# -- cassette tools ----------------------------------------------------------------------------


def _summary(index: int, item: Any) -> str:
    resp = item.response
    if resp.is_stream:
        frames = list(resp.chunks())
        shape = f"{len(frames)} events"
    else:
        shape = f"{len(resp.body)} bytes {resp.content_type or '-'}"
    return f"#{index:<3} {item.request.describe()} -> {resp.status} ({shape})"


def _list(args: argparse.Namespace) -> int:
    for path in args.files:
        loaded = load_any(path)
        print(f"{path} ({loaded.kind}, {len(loaded.interactions)} interactions)")
        for i, item in enumerate(loaded.interactions):
            print("  " + _summary(i, item))
    return 0


def _show(args: argparse.Namespace) -> int:
    items = load_any(args.file).interactions
    if not 0 <= args.index < len(items):
        raise CassetteError(f"{args.file} has {len(items)} interactions; no #{args.index}")
    item = items[args.index]
    if args.body:
        sys.stdout.buffer.write(item.response.body)
        sys.stdout.flush()
        return 0
    from mockserver.cassettes import yamlio

    sys.stdout.write(yamlio.dump(fmt.encode_interaction(item)))
    return 0


def _read_request(path: Path, method: str | None, target: str | None) -> RecordedRequest:
    raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    try:
        data = json.loads(raw)
    except ValueError as exc:  # the message alone would not say which file
        raise CassetteError(f"{'stdin' if str(path) == '-' else path}: the request is not JSON: {exc}") from None
    if isinstance(data, dict) and "body" in data and ("path" in data or "method" in data):
        body = data.get("body")
        query = [(str(k), str(v)) for k, v in (data.get("query") or {}).items()]
        method, target = method or data.get("method"), target or data.get("path")
    else:
        body, query = data, []
    path_only, _, qs = (target or "/v1/messages").partition("?")
    if qs:
        query += [(key, value) for key, _, value in (part.partition("=") for part in qs.split("&"))]
    return RecordedRequest((method or "POST").upper(), path_only, query, [], json.dumps(body).encode() if body is not None else b"")


def _diff(args: argparse.Namespace) -> int:
    from mockserver.cassettes.cassette import Cassette

    matcher = Matcher(
        on=tuple(c.strip() for c in args.match_on.split(",") if c.strip()), ignore=tuple(args.ignore_field),
        fields=tuple(args.match_field), custom=load_custom(args.matcher) if args.matcher else None,
    )
    loaded = load_any(args.file)
    cassette = Cassette(loaded.interactions, path=args.file, matcher=matcher)
    request = _read_request(args.request, args.method, args.path)
    found = cassette.matching(request)
    if found:
        print(f"matches #{found[0]}" + (f" (and {len(found) - 1} identical recording(s) after it)" if len(found) > 1 else ""))
        print("  " + _summary(found[0], cassette.interactions[found[0]]))
        return 0
    print(cassette.explain_miss(request))
    return 1


def _redact(args: argparse.Namespace) -> int:
    redactor = Redactor.with_headers(args.redact_header)
    for path in args.files:
        loaded = load_any(path)
        if loaded.kind != "mockserver":
            raise CassetteError(f"{path} is a {loaded.kind} cassette: convert it (mockserver cassette convert) — that redacts too")
        before = path.read_text(encoding="utf-8", errors="replace")
        after = fmt.dumps(redactor.interactions(loaded.interactions))
        if after != fmt.dumps(loaded.interactions) or scan_text(before, str(path)):  # a leak outside them: rewrite too
            fmt.write_atomic(path, after)
            print(f"{path}: redacted")
        else:
            print(f"{path}: nothing to redact")
    return 0


def _check(args: argparse.Namespace) -> int:
    redactor = Redactor.with_headers(args.redact_header)
    found = 0
    advice: list[str] = []
    for path in args.files:
        # What redaction would remove from the interactions, and any key or bearer token the
        # file's text holds elsewhere (a foreign format's fields nobody reads; `redact` drops them).
        loaded = load_any(path)
        findings = scan_interactions(loaded.interactions, str(path), redactor)
        if not findings:
            findings = scan_text(path.read_bytes().decode("utf-8", "replace"), str(path))
        unique = list(dict.fromkeys(str(f) for f in findings))
        for line in unique:
            print(line)
        found += len(unique)
        if unique:  # the fix that fits the file's format
            advice.append(f"mockserver cassette redact {path}" if loaded.kind == "mockserver"
                          else f"mockserver cassette convert {path} -o {path.with_suffix('')}.mockserver.yaml  (a {loaded.kind} "
                               "cassette: converting redacts it; then delete the original)")
    if found:
        print(f"mockserver: {found} secret(s) found; fix with:", file=sys.stderr)
        for line in advice:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"no secrets in {len(args.files)} file(s)")
    return 0


def _convert(args: argparse.Namespace) -> int:
    redactor = Redactor.with_headers(args.redact_header)
    interactions = []
    for path in args.files:
        loaded = load_any(path)
        interactions.extend(loaded.interactions)
        print(f"{path}: {loaded.kind}, {len(loaded.interactions)} interaction(s)")
    interactions = redactor.interactions(interactions)
    fmt.save(args.output, interactions)
    print(f"wrote {args.output} ({len(interactions)} interactions)")
    return 0


TOOLS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": _list, "show": _show, "diff": _diff, "redact": _redact, "check": _check, "convert": _convert,
}

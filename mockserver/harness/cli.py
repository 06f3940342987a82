"""Command line: ``mockserver serve`` (and, as features land, record, replay and cassette tools)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from mockserver.http.runner import ListenError, listen_advice
from mockserver.store.base import StoreError
from mockserver.config import DEFAULT_HOST, DEFAULT_PORT, Config, ConnectionLimits
from mockserver.protocol.headers import unsafe_in_header
from mockserver.root import Api
from mockserver.scenarios.errors import ScenarioError


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to bind (default: loopback only)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="port (0 picks a free one)")
    parser.add_argument("--seed", type=int, default=None, help="seed for ids and generated content")
    parser.add_argument("--models", type=Path, default=None, metavar="FILE", help="model catalog YAML (default: built in)")
    parser.add_argument("--any-model", action="store_true", help="accept model ids that are not in the catalog")
    parser.add_argument("--lenient", action="store_true", help="contract mode: any schema-valid request gets a 2xx")
    parser.add_argument(
        "--api-key", action="append", default=None, metavar="KEY", help="accept only these keys (repeatable; default: any)"
    )
    parser.add_argument(
        "--organization-id", type=_header_value, default=None, help="value of the anthropic-organization-id header"
    )
    parser.add_argument("--no-edge-headers", action="store_true", help="leave out cf-ray, server and other edge headers")
    parser.add_argument("--no-sse-padding", action="store_true", help="do not pad SSE data lines with spaces")
    parser.add_argument("--no-gzip", action="store_true", help="never gzip answers (by default successes are gzipped for clients that accept it)")
    parser.add_argument("--quiet", action="store_true", help="no per-request log lines")
    parser.add_argument(
        "--journal-limit", type=_count, default=1000, metavar="N",
        help="exchanges the journal keeps, per namespace (default 1000); 0 keeps none, for load tests "
        "(reading the journal is then an error)",
    )
    parser.add_argument(
        "--journal-bytes", type=_positive_int, default=64 * 1024 * 1024, metavar="N",
        help="bytes the journal's bodies may hold, per namespace, oldest dropped first (default 64 MiB)",
    )
    parser.add_argument(
        "--namespace-limit", type=_positive_int, default=Config.namespace_limit, metavar="N",
        help="namespaces whose journal and counts are held; past it the least recently used one without rules, "
        f"limits, batches or files is forgotten (default {Config.namespace_limit}; not with --state)",
    )
    parser.add_argument(
        "--namespace-ttl", type=_non_negative, default=Config.namespace_ttl, metavar="SECONDS",
        help="with --state: a namespace's journal and counts expire this long after its last write, unless it has "
        f"rules, limits, batches or files set up (default {Config.namespace_ttl:g}; 0: never)",
    )
    connections = parser.add_argument_group("Connections (docs/protocol.md)")
    connections.add_argument("--header-timeout", type=_positive_float, default=30.0, metavar="SECONDS",
                             help="a request's headers must arrive within this (default 30)")
    connections.add_argument("--body-timeout", type=_positive_float, default=60.0, metavar="SECONDS",
                             help="a request body may pause this long between chunks (default 60)")
    connections.add_argument("--keepalive-timeout", type=_positive_float, default=75.0, metavar="SECONDS",
                             help="an idle keep-alive connection closes after this (default 75)")
    connections.add_argument("--max-connections", type=_positive_int, default=None, metavar="N",
                             help="open connections at most; at the cap the longest-idle one makes room "
                             "(default: the file-descriptor limit less a margin)")


def _add_batch_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Message Batches")
    group.add_argument(
        "--data-dir", default=None, metavar="DIR",
        help="where batches are kept across restarts (default: a per-user data folder; ':memory:' keeps them in memory)",
    )
    group.add_argument(
        "--batch-pace", type=_non_negative, default=0.0, metavar="N",
        help="items each batch finishes per second (default 0: as fast as possible)",
    )
    group.add_argument(
        "--batch-live-counts", action="store_true",
        help="report request_counts as items finish (the real API reports them when the batch ends)",
    )
    group.add_argument(
        "--batch-lease", type=_positive_float, default=10.0, metavar="SECONDS",
        help="with --state: how long a worker's claim on a batch lasts unrenewed before another takes it over (default 10)",
    )


def _header_value(raw: str) -> str:
    if unsafe_in_header(raw):
        raise argparse.ArgumentTypeError(f"control characters cannot go in a header: {raw!r}")
    return raw


def _port(raw: str) -> int:
    """0 to 65535: past that, binding was an OverflowError with a traceback."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {raw!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535 (0 picks a free one): {raw!r}")
    return value


def _non_negative(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0: {raw!r}")
    return value


def _batch_config(args: argparse.Namespace) -> dict[str, object]:
    return {
        "data_dir": args.data_dir, "batch_pace": args.batch_pace, "batch_live_counts": args.batch_live_counts,
        "batch_lease": args.batch_lease,
    }


def _add_scale_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Workers and shared state (docs/deployment.md)")
    group.add_argument(
        "--workers", type=_positive_int, default=1, metavar="N",
        help="serve with N processes on one port (SO_REUSEPORT; default 1)",
    )
    group.add_argument(
        "--state", default=None, metavar="URL",
        help="keep rules, counts, limits, journal, prompt cache and batches in this Redis or Valkey "
        "(redis://HOST:PORT/DB), shared by every worker and replica (needs claude-mockserver[redis])",
    )
    group.add_argument(
        "--fail-open", action="store_true",
        help="while the --state store is unreachable, serve without rate limits and with the last known rules "
        "(default: answer 503 naming the store)",
    )


def _scale_config(args: argparse.Namespace) -> dict[str, object]:
    return {"state": getattr(args, "state", None), "store_fail_open": getattr(args, "fail_open", False)}


def _add_scenario_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Scenarios, admin API and rate limits (docs/scenarios.md)")
    group.add_argument(
        "--scenario", action="extend", nargs="+", default=[], type=Path, metavar="FILE",
        help="scenario YAML files (several allowed; reloaded when they change)",
    )
    group.add_argument(
        "--admin-token-file", type=Path, default=None, metavar="FILE",
        help="require the token in FILE on /_mock/ admin calls and accept them from any address "
        "(default: this machine only; also $MOCKSERVER_ADMIN_TOKEN)",
    )
    group.add_argument(
        "--admin-token", default=None, metavar="TOKEN",
        help="as --admin-token-file, but the token shows in the process list: prefer the file or the variable",
    )
    group.add_argument("--rate-limit-rpm", type=_positive_int, default=None, metavar="N", help="emulate rate limits: requests per minute")
    group.add_argument("--rate-limit-itpm", type=_positive_int, default=None, metavar="N", help="emulate rate limits: input tokens per minute")
    group.add_argument("--rate-limit-otpm", type=_positive_int, default=None, metavar="N", help="emulate rate limits: output tokens per minute")


def _positive_int(raw: str) -> int:
    value = _count(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {raw!r}")
    return value


def _count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {raw!r}")
    return value


ADMIN_TOKEN_ENV = "MOCKSERVER_ADMIN_TOKEN"


def _admin_token(args: argparse.Namespace) -> str | None:
    """From --admin-token-file, --admin-token or $MOCKSERVER_ADMIN_TOKEN, in that order."""
    path: Path | None = getattr(args, "admin_token_file", None)
    if path is not None:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SystemExit(f"mockserver: cannot read the admin token from {path}: {exc}") from None
        if not token:
            raise SystemExit(f"mockserver: the admin token file {path} is empty")
        return token
    given: str | None = getattr(args, "admin_token", None)
    return given or os.environ.get(ADMIN_TOKEN_ENV) or None


def _scenario_config(args: argparse.Namespace) -> dict[str, object]:
    from mockserver.ratelimit.limiter import Limits, RateLimitConfig

    given = {
        name: getattr(args, option, None)
        for name, option in (("requests", "rate_limit_rpm"), ("input_tokens", "rate_limit_itpm"), ("output_tokens", "rate_limit_otpm"))
    }
    limits = {name: value for name, value in given.items() if value is not None}
    if "requests" in limits:
        limits["count_tokens_requests"] = limits["requests"]
    return {
        "scenario_files": tuple(getattr(args, "scenario", None) or ()),
        "admin_token": _admin_token(args),
        "rate_limits": RateLimitConfig(Limits(**limits)) if limits else None,
    }


def _add_chaos_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Chaos mode: how does your client cope? (docs/fuzzing.md)")
    group.add_argument(
        "--chaos", type=int, default=None, metavar="SEED",
        help="answer a share of Messages calls with a seeded random API error or fault, and report how the client behaved",
    )
    group.add_argument("--chaos-rate", type=_share, default=0.3, metavar="R", help="share of calls hit, 0 to 1 (default 0.3)")
    group.add_argument(
        "--chaos-errors", type=_chaos_weights("errors"), default=None, metavar="LIST",
        help='error statuses and weights (default "429=3,529=3,500=1,503=1"; "none" for no errors)',
    )
    group.add_argument(
        "--chaos-faults", type=_chaos_weights("faults"), default=None, metavar="LIST",
        help='fault kinds and weights, of reset, drop, stream_error, malformed, latency, ttft, slow_body '
        '(default "reset,drop,stream_error,latency"; "none" for no faults)',
    )
    group.add_argument(
        "--chaos-max-wait", type=_non_negative, default=2.0, metavar="SECONDS",
        help="the longest retry-after advice or injected latency (default 2)",
    )
    group.add_argument(
        "--chaos-window", type=_positive_float, default=10.0, metavar="SECONDS",
        help="an identical call this soon after a failed one is its retry; later, the client gave up (default 10)",
    )
    group.add_argument(
        "--chaos-report", type=Path, default=None, metavar="FILE",
        help="write the report here when the server stops (JSON, and Markdown beside it; live: GET /_mock/chaos/report)",
    )


def _share(raw: str) -> float:
    value = _non_negative(raw)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {raw!r}")
    return value


def _positive_float(raw: str) -> float:
    value = _non_negative(raw)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {raw!r}")
    return value


def _chaos_weights(kind: str) -> Callable[[str], dict[str, float]]:
    def parse(raw: str) -> dict[str, float]:
        from mockserver.chaos.stage import FAULT_KINDS, parse_weights
        from mockserver.protocol.numbers import decimal

        try:
            weights = parse_weights(raw)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        for name, weight in weights.items():
            if kind == "errors" and not 400 <= (decimal(name) or 0) <= 599:
                raise argparse.ArgumentTypeError(f"{name!r} is not an HTTP error status (400-599)")
            if kind == "faults" and name not in FAULT_KINDS:
                raise argparse.ArgumentTypeError(f"unknown fault {name!r} (expected one of {', '.join(FAULT_KINDS)})")
            if weight < 0:
                raise argparse.ArgumentTypeError(f"the weight of {name} must be >= 0")
        return weights

    return parse


def _chaos_config(args: argparse.Namespace) -> dict[str, object]:
    seed = getattr(args, "chaos", None)
    if seed is None:
        return {}
    from mockserver.chaos.stage import ChaosConfig

    defaults = ChaosConfig(seed)
    try:
        return {"chaos": ChaosConfig(
            seed, rate=args.chaos_rate, max_wait=args.chaos_max_wait, window=args.chaos_window, report=args.chaos_report,
            errors=args.chaos_errors if args.chaos_errors is not None else defaults.errors,
            faults=args.chaos_faults if args.chaos_faults is not None else defaults.faults,
        )}
    except ValueError as exc:
        raise SystemExit(f"mockserver: {exc}") from None


def config_from_args(args: argparse.Namespace) -> Config:
    return Config(
        host=args.host,
        port=args.port,
        seed=args.seed,
        models_file=args.models,
        any_model=args.any_model,
        lenient=args.lenient,
        api_keys=frozenset(args.api_key) if args.api_key else None,
        organization_id=args.organization_id,
        edge_headers=not args.no_edge_headers,
        sse_padding=not args.no_sse_padding,
        gzip=not args.no_gzip,
        log_requests=not args.quiet,
        journal_limit=args.journal_limit,
        journal_bytes=args.journal_bytes,
        namespace_limit=args.namespace_limit,
        namespace_ttl=args.namespace_ttl,
        connections=_connections(args),
        **_batch_config(args),  # type: ignore[arg-type]  # argparse values are Any; Config's __init__ checks nothing more
        **_scenario_config(args),  # type: ignore[arg-type]  # (as above)
        **_chaos_config(args),  # type: ignore[arg-type]  # (as above)
        **_scale_config(args),  # type: ignore[arg-type]  # (as above)
    )


def _connections(args: argparse.Namespace) -> ConnectionLimits:
    try:
        return ConnectionLimits(args.header_timeout, args.body_timeout, args.keepalive_timeout, args.max_connections)
    except ValueError as exc:
        raise SystemExit(f"mockserver: {exc}") from None


def _batch_store_lines(api: Api) -> list[str]:
    from mockserver.store.sqlite import DB_NAME, MEMORY

    if api.store.shared:
        where = getattr(api.store, "description", "the shared store")
        return [f"mockserver: state (rules, counts, limits, journal, prompt cache, batches) shared in {where}"]
    location = getattr(api.store, "location", MEMORY)
    shown = "in memory (lost on exit)" if location == MEMORY else f"in {Path(location) / DB_NAME}"
    return [f"mockserver: Message Batches kept {shown}"]


def _scenario_lines(api: Api) -> list[str]:
    lines = []
    for path in api.book.files:
        count = sum(1 for rule in api.book.rules if rule.source == str(path))
        lines.append(f"mockserver: {count} scenario rule(s) from {path} (reloaded when it changes)")
    if api.limiter.enabled:
        lines.append("mockserver: rate-limit emulation on (GET /_mock/ratelimits)")
    return lines


def _chaos_lines(config: Config) -> list[str]:
    chaos = config.chaos
    if chaos is None:
        return []
    written = f", written to {chaos.report} on exit" if chaos.report is not None else ""
    return [f"mockserver: chaos mode on (seed {chaos.seed}, rate {chaos.rate}): report at GET /_mock/chaos/report{written}"]


def announcement(api: Api, url: str) -> list[str]:
    """What ``serve`` prints once it listens."""
    lines = [f"mockserver: fake Claude API listening on {url}", *_batch_store_lines(api), *_scenario_lines(api), *_chaos_lines(api.config)]
    lines += _venv_hint()
    lines.append(f"export ANTHROPIC_BASE_URL={url}")
    if api.config.api_keys is None:
        lines.append("export ANTHROPIC_API_KEY=sk-ant-mock-key   # any non-empty key is accepted")
    return lines


def _venv_hint() -> list[str]:
    """When this install lives in a virtualenv the shell has not activated (``make run`` runs
    .venv/bin/mockserver), the line that gives another shell its python and ``mockserver``."""
    activate = Path(sys.prefix) / "bin" / "activate"
    if sys.prefix == sys.base_prefix or os.environ.get("VIRTUAL_ENV") == sys.prefix or not activate.exists():
        return []
    try:
        shown = str(activate.relative_to(Path.cwd()))
    except ValueError:
        shown = str(activate)
    return [f". {shown}   # in another shell: python (and the SDK) of this install, and the mockserver command"]


async def _serve(config: Config) -> None:
    from mockserver.http.runner import serve_until_signalled

    api = Api(config)

    def announce(url: str) -> None:
        for line in announcement(api, url):
            print(line, flush=True)

    await serve_until_signalled(api, config.host, config.port, announce)


def explain(exc: BaseException, config: Config) -> tuple[str, int] | None:
    """The message and exit status for a server that could not start; ``None``: not foreseen."""
    from mockserver.protocol.catalog import CatalogError
    from mockserver.store.base import StoreUnavailable

    if isinstance(exc, StoreUnavailable):
        return f"cannot use --state: {exc.message}", 1
    if isinstance(exc, ListenError):
        return listen_advice(config, exc), 1
    if isinstance(exc, StoreError):  # the data dir: held by another server, too new, corrupt, not writable
        return str(exc), 2
    if isinstance(exc, ScenarioError):  # names the file, the rule and the field
        return f"scenario rejected: {exc}", 2
    if isinstance(exc, CatalogError):  # --models: names the file, the entry and the field
        return f"model catalog rejected: {exc}", 2
    if isinstance(exc, ImportError) and config.state and exc.name is not None and exc.name.split(".")[0] == "redis":
        return "--state needs the redis package: pip install 'claude-mockserver[redis]'", 2
    if isinstance(exc, ValueError) and config.state and str(exc).startswith("--state"):
        return str(exc), 2
    return None


def _check_scale(args: argparse.Namespace, config: Config) -> str | None:
    if args.workers > 1:
        from mockserver.harness.workers import can_share_port  # multiprocessing: only for workers

        if not can_share_port():
            return "--workers needs SO_REUSEPORT, which this platform lacks"
    if args.workers > 1 and config.chaos is not None:
        return "--chaos judges clients from one process: use it with one worker"
    if args.workers > 1 and not config.state and args.data_dir not in (None, ":memory:"):
        return "--data-dir keeps one process's batches: with --workers, pass --state redis://HOST:PORT/DB to share them"
    return None


CASSETTE_COMMANDS = ("record", "replay", "cassette")


def _add_cassette_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """record, replay and the cassette tools (mockserver/cassettes/cli.py)."""
    from mockserver.harness.cassette_cli import add_commands

    add_commands(commands, add_all_server_options)


def add_all_server_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that serves takes (serve, record, replay): one set."""
    _add_server_options(parser)
    _add_batch_options(parser)
    _add_scenario_options(parser)
    _add_chaos_options(parser)


def _version() -> str:
    """This installation's version, whatever its distribution is called."""
    from importlib import metadata

    for name in metadata.packages_distributions().get("mockserver", []):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "(not installed)"


class _Version(argparse.Action):
    """``--version``, looked up only when asked: scanning the installed distributions cost every
    start-up a tenth of a second or more (issue 16)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, default: str = argparse.SUPPRESS,
                 help: str = "show the installed version and exit") -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object, option_string: str | None = None) -> None:
        print(f"mockserver {_version()}")
        parser.exit()


def build_parser(*, cassette_commands: bool = True) -> argparse.ArgumentParser:
    """The command line; ``cassette_commands=False`` leaves out record, replay and cassette (their
    options need the cassette modules, which a plain ``serve`` does not load)."""
    parser = argparse.ArgumentParser(prog="mockserver", description="An offline stand-in for the Anthropic Claude API.")
    commands = parser.add_subparsers(dest="command", required=True, help="what to run")
    parser.add_argument("--version", action=_Version)
    serve = commands.add_parser("serve", help="run the fake API")
    add_all_server_options(serve)
    _add_scale_options(serve)
    if cassette_commands:
        _add_cassette_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(cassette_commands=arguments[:1] != ["serve"]).parse_args(arguments)

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if args.command == "serve":
        config = config_from_args(args)
        refusal = _check_scale(args, config)
        if refusal is not None:
            print(f"mockserver: {refusal}", file=sys.stderr)
            return 2
        if args.workers > 1:
            from mockserver.harness.workers import run_workers

            return run_workers(config, args.workers, announcement, explain)
        try:
            asyncio.run(_serve(config))
        except KeyboardInterrupt:
            pass
        except Exception as exc:
            explained = explain(exc, config)
            if explained is None:
                raise
            print(f"mockserver: {explained[0]}", file=sys.stderr)
            return explained[1]
        return 0
    if args.command in CASSETTE_COMMANDS:
        from mockserver.harness.cassette_cli import run

        return run(args, config_from_args)
    raise SystemExit(f"mockserver: unknown command {args.command}")


if __name__ == "__main__":
    raise SystemExit(main())

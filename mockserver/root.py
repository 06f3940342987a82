"""The composition root: one place builds every service from a :class:`~mockserver.config.Config`
and links the chain that answers every request — from the HTTP edge, a batch item, or an
in-process transport alike::

    parse (the front door, or the open door with a cassette)          pipeline/parse.py
      -> chaos          seeded injections (only with --chaos)            chaos/
      -> rate limits    admit or 429; charge the output after            ratelimit/
      -> scenarios      a rule answers, or passes with ``next``          scenarios/
      -> your stages    added with ``Api.use`` (tests, extensions)
      -> cassette       replay, or record through the upstream           cassettes/ (when one is put on)
      -> emulation      validation + fake model, models, batches, files  emulation/, batches/, files/
    -> render once into a plan (faults transform it)                     render/, faults/
    -> a transport delivers it; :meth:`Api.finish` journals the exchange  journal/

Stages receive the services they use, never this object. Putting a cassette on (or taking it
off) relinks the chain, with the open parser while it is on. With a shared store
(``Config.state``) a sync stage goes first: run-time changes made through any process apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mockserver.batches.handlers import BatchEndpoints
from mockserver.batches.service import BatchService
from mockserver.cache.prompt_cache import PromptCache
from mockserver.config import Config
from mockserver.emulation.completions import Completions, either
from mockserver.emulation.fake_model import FakeModel
from mockserver.emulation.replies import ReplyMemo
from mockserver.emulation.stage import Emulation, Messages, Models
from mockserver.emulation.synth import Synthesizer
from mockserver.clock import SystemClock
from mockserver.files.handlers import FileEndpoints
from mockserver.files.service import FileService
from mockserver.ids import IdGenerator
from mockserver.journal.journal import JournalEntry, JournalLog, Row, access_line
from mockserver.faults.transforms import FaultedRenderer
from mockserver.pipeline.exchange import ApiRequest, BytesReply, ErrorReply, MessageReply, Next, Outcome, Reply, Stage, chain
from mockserver.pipeline.parse import Incoming, Parser, check_namespace
from mockserver.protocol.catalog import ModelCatalog
from mockserver.protocol.endpoints import BY_NAME, COMPLETIONS_CREATE, EITHER_API, EndpointTable
from mockserver.protocol.errors import ApiError, internal_error
from mockserver.protocol.headers import StaticHeaders
from mockserver.protocol.schema import default_schema
from mockserver.protocol.validate import Rules
from mockserver.ratelimit.limiter import RateLimitConfig, RateLimiter
from mockserver.ratelimit.stage import RateLimitStage
from mockserver.render.headers import ResponseHeaders
from mockserver.render.plan import Plan, close
from mockserver.render.renderer import Renderer
from mockserver.scenarios.actions import Toolkit
from mockserver.scenarios.book import ScenarioBook
from mockserver.scenarios.format import Rule
from mockserver.scenarios.shared import AdminState, SyncStage
from mockserver.scenarios.stage import ScenarioStage
from mockserver.scenarios.watch import watch
from mockserver.store.base import LogLimits, Store, StoreError, StoreUnavailable
from mockserver.store.local import LocalStore

if TYPE_CHECKING:  # cassettes load when one is put on, not with every server
    from mockserver.cassettes.install import CassetteOptions, Installed
    from mockserver.documents import Yaml11Scalar

log = logging.getLogger("mockserver")
access_log = logging.getLogger("mockserver.access")


@dataclass(slots=True)
class Exchange:
    """One request on its way through: what arrived, what it became, what answers it."""

    incoming: Incoming
    request: ApiRequest | None
    request_id: str
    received_at: float
    started: float
    reply: Reply
    plan: Plan


class Api:
    """The services of one server and the chain they form. One per server; no globals."""

    def __init__(self, config: Config) -> None:
        self.config = config
        clock = self.clock = config.clock
        seed = config.seed
        self.catalog = catalog = ModelCatalog.load(config.models_file)
        self.synth = synth = Synthesizer(seed)
        self.rules = rules = Rules(default_schema(), catalog, config.lenient, config.any_model, synth.signature_matches)
        self.ids = ids = IdGenerator(_worker_seed(seed, config.worker))
        self.organization_id = config.organization_id or IdGenerator(seed).uuid()
        self.base_url = ""  # set once a transport listens (batch results_url points here)
        self.store = store = open_store(config)
        self.journal = JournalLog(store, LogLimits(config.journal_limit, config.journal_bytes))
        self.prompt_cache = prompt_cache = PromptCache(store, clock)
        self.limiter = RateLimiter(store, clock, config=config.rate_limits, resolve=_canonical(catalog))
        self.book = book = ScenarioBook(self.limiter)
        book.load_files(config.scenario_files)  # a mistake raises ScenarioError naming file, rule and field
        # A namespace with rules or limits set at run time is never forgotten to make room for
        # another; one that is forgotten loses the book's counting copies of the files' rules too.
        store.retain(keep=book.holds, forgotten=book.forget)
        self.admin = AdminState(book, store)
        self.files = files = FileService(store, clock, ids)
        self.kit = kit = Toolkit(rules, ids, synth, prompt_cache, clock, files.lookup)
        headers = ResponseHeaders(StaticHeaders(self.organization_id, config.edge_headers), clock, _rng("wire", seed))
        self.renderer = FaultedRenderer(Renderer(headers, seed=seed, sse_padding=config.sse_padding), _rng("faults", seed))
        self.table = EndpointTable()
        self.replies = ReplyMemo(headers, ids)
        self.messages = Messages(FakeModel(rules, synth, clock=clock), prompt_cache, ids, files.lookup)
        self.batches = BatchService(
            store, self._run, clock, pace=config.batch_pace, live_counts=config.batch_live_counts, lease=config.batch_lease
        )
        endpoints = BatchEndpoints(self.batches, ids, lenient=config.lenient, base_url=lambda: self.base_url)
        completions = Completions(catalog, synth, ids, lenient=config.lenient, any_model=config.any_model)
        self.emulation = Emulation({
            **self.messages.handlers(),
            COMPLETIONS_CREATE: completions.create,
            **dict.fromkeys(EITHER_API, either(self.messages.create, completions.create)),
            **Models(catalog, lenient=config.lenient, any_model=config.any_model).handlers(),
            **endpoints.handlers(),
            **FileEndpoints(files, lenient=config.lenient).handlers(),
        })
        self.scenarios = ScenarioStage(book, store, catalog, kit)
        self.chaos = None
        if config.chaos is not None:
            from mockserver.chaos.stage import ChaosStage

            self.chaos = ChaosStage(config.chaos, clock, catalog, kit)
        self.ratelimits = RateLimitStage(self.limiter, catalog, prompt_cache, self.organization_id, fail_open=config.store_fail_open)
        self.sync = SyncStage(self.admin, fail_open=config.store_fail_open) if store.shared else None
        self.cassette: Installed | None = None
        self.extra: list[Stage] = []
        self._default_namespace = "default"
        self._link()
        self._tasks: list[asyncio.Task[None]] = []

    # -- the chain ---------------------------------------------------------------------------------
    def _link(self) -> None:
        """The chain for the current configuration, and the parser in front of it."""
        stages: list[Stage] = []
        if self.sync is not None:
            stages.append(self.sync)
        if self.chaos is not None:
            stages.append(self.chaos)
        stages += [self.ratelimits, self.scenarios, *self.extra]
        if self.cassette is not None:
            stages.append(self.cassette.stage)
        # Only the emulated API's answers repeat: with any other stage linked, every call is parsed.
        self._memo = stages == [self.ratelimits, self.scenarios]
        self.chain: Next = chain(stages, self.emulation)
        strict = self.cassette is None
        self.parser = Parser(
            self.table, strict=strict, api_keys=self.config.api_keys, lenient=self.config.lenient, models=self._lifecycle,
            vertex_names=self._vertex_name,
            default_namespace=self._default_namespace,
        )

    def _lifecycle(self, model: str) -> str | None:
        """A model's lifecycle, for the models platform paths name (any model with --any-model)."""
        if self.config.any_model or self.config.lenient:
            return "active"
        entry = self.catalog.resolve(model)
        return entry.lifecycle if entry is not None else None

    def _vertex_name(self, name: str) -> str | None:
        """The catalog id a Vertex model name stands for where the catalog records it (``vertex_ids``)."""
        entry = self.catalog.resolve_vertex(name)
        return entry.id if entry is not None else None

    @property
    def default_namespace(self) -> str:
        """The namespace of calls (and admin calls) that name none; the pytest plugin gives each
        test its own."""
        return self._default_namespace

    @default_namespace.setter
    def default_namespace(self, namespace: str) -> None:
        self._default_namespace = self.parser.default_namespace = check_namespace(namespace, "namespace")

    async def _run(self, request: ApiRequest) -> Reply:
        """The chain, for callers inside the server (batch items): relinks are seen at once."""
        return await self.chain(request)

    def use(self, stage: Stage) -> None:
        """Add a stage of your own, after the scenarios (as aiohttp's middlewares: see
        docs/architecture.md); ``discard`` takes it out."""
        self.extra.append(stage)
        self._link()

    def discard(self, stage: Stage) -> None:
        self.extra.remove(stage)
        self._link()

    def put_cassette(self, options: CassetteOptions) -> Installed:
        """Serve from a cassette (replay, record or both) until :meth:`take_cassette`."""
        from mockserver.cassettes.install import install

        installed = install(options, clock=self.clock, base_url=lambda: self.base_url)
        self.cassette = installed
        self._link()
        return installed

    async def take_cassette(self) -> None:
        """Back to the emulated API, once every recording is on disk."""
        installed, self.cassette = self.cassette, None
        self._link()
        if installed is not None:
            await installed.close()

    # -- one request -------------------------------------------------------------------------------
    async def handle(self, incoming: Incoming) -> Exchange:
        """Parse, run the chain, render. Never raises: a bug answers as the API's 500 would."""
        started = time.perf_counter()
        received_at = self.clock.now()
        request_id = self.ids.request()
        request: ApiRequest | None = None
        key = None
        # The rate limits stage passes every call on while no limit is set, and the scenarios
        # stage a call no rule's match accepts (the replies it counted are not pure), which the
        # same call under the same rules (the book's generation) would be again.
        if self._memo and not self.limiter.enabled:
            key, found = await self.replies.lookup(incoming, self.parser.default_namespace, request_id, self.book.generation)
            if found is not None:
                return Exchange(incoming, found[0], request_id, received_at, started, found[1], found[2])
        answered: Reply | None = None
        try:
            request = await self.parser.parse(incoming, request_id, received_at)
            reply = answered = await self.chain(request)
            plan, reply = self.renderer.render(request, request_id, reply)
            if key is not None:
                self.replies.remember(key, request, reply, plan)
        except ApiError as error:
            reply = ErrorReply(error=error, origin="server")
            plan = self.renderer.error(request_id, reply, BY_NAME.get(incoming.endpoint), request.named_model if request else None)
        except StoreError as error:  # a full disk, say: the client is told, the log has one line
            log.error("mockserver: %s (answering %s %s)", error, incoming.method, incoming.path)
            reply = ErrorReply(error=ApiError(500, f"mockserver could not store this request: {error}", type="api_error"), origin="server")
            plan = self.renderer.error(request_id, reply, BY_NAME.get(incoming.endpoint), request.named_model if request else None)
        except Exception:  # a bug here must still answer like the API, never with a traceback
            log.exception("internal error answering %s %s", incoming.method, incoming.path)
            reply = ErrorReply(error=internal_error(), origin="server")
            plan = self.renderer.error(request_id, reply, BY_NAME.get(incoming.endpoint))
        if request is not None and request.upload is not None:
            request.upload.close()  # an upload's spools: whatever needed them has read them by now
        if isinstance(answered, BytesReply) and not isinstance(answered.body, bytes) and plan.source is not answered.body:
            await close(answered.body)  # rendering it failed: what its body holds (an upstream connection) goes back now
        return Exchange(incoming, request, request_id, received_at, started, reply, plan)

    def error_plan(self, error: ApiError) -> Plan:
        """An error the transport itself answers (malformed HTTP), rendered like any other."""
        return self.renderer.error(self.ids.request(), ErrorReply(error=error, origin="server"))

    async def finish(self, exchange: Exchange, outcome: Outcome) -> None:
        """Journal the exchange (bytes only: decoding waits until a test reads it), log one
        line, and tell the reply's observers."""
        journaled, logged = self.journal.on, self.config.log_requests
        if journaled or logged:  # else nothing is built: a load test's server (--journal-limit 0 --quiet)
            row, namespace = self._row(exchange, outcome)
            seq = 0
            if journaled:
                try:
                    seq = await self.journal.append(row, namespace)
                except StoreUnavailable:
                    pass  # the answer went out; the store said why it is down (once) in the log
            if logged:
                access_log.info("%s", access_line(JournalEntry(seq, *row)))
        for observer in exchange.reply.observers or ():
            observer(outcome)

    def _row(self, exchange: Exchange, outcome: Outcome) -> tuple[Row, str]:
        """The journal's row for an exchange (its entry's arguments), and the namespace it belongs to."""
        reply = exchange.reply
        request, incoming = exchange.request, exchange.incoming
        if request is not None:
            raw, endpoint, model, namespace = request.raw_body, request.endpoint, request.model, request.namespace
        else:
            raw, endpoint, model, namespace = b"", incoming.endpoint, None, self.parser.namespace_of(incoming)
        usage = reply.message["usage"] if isinstance(reply, MessageReply) else None
        notes = [*reply.faults.describe(), *outcome.notes] if reply.faults is not None else outcome.notes
        row = [  # built for every request: a list, the entry object only when the journal is read
            exchange.request_id, incoming.method, incoming.path, incoming.query, incoming.headers, raw, endpoint,
            exchange.received_at, outcome.status, reply.origin, outcome.raw, outcome.streamed,
            (time.perf_counter() - exchange.started) * 1000,  # duration_ms
            model,
            usage["input_tokens"] if usage else None,
            usage["output_tokens"] if usage else None,
            notes,
            reply.error.message if isinstance(reply, ErrorReply) else None,
            # bytes as recorded (upstream, a cassette): their usage is read when asked for, not here
            isinstance(reply, BytesReply) and not reply.api_headers,  # usage_in_body
        ]
        return row, namespace

    # -- lifetime and resets -----------------------------------------------------------------------
    async def start(self) -> None:
        self.store.check()
        await self.store.open()
        await self.batches.start()
        await self.files.start()
        if self.book.files:
            self._tasks.append(asyncio.create_task(watch(self.book), name="mockserver-scenario-watcher"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.batches.stop()
        await self.take_cassette()
        if self.chaos is not None:
            await self.chaos.close()
        await self.store.close()

    async def reset(self, namespace: str | None = None, *, batches: bool = True, files: bool = True) -> None:
        """One namespace (by default, the default one) as at start: rules (file rules start
        over), rate limits, journal, prompt cache, buckets, batches and files; a cassette rewinds."""
        namespace = self._default_namespace if namespace is None else namespace
        await self.admin.reset(namespace)  # the book forgot its rules, limits and copies of the files' rules
        await self.store.clear(f"{namespace}:")  # every count, bucket, cached prefix and journal entry
        await self.limiter.reset(namespace, buckets=False)
        if batches and self.batches.in_use:
            await self.batches.reset(namespace)
        if files and self.files.in_use:
            await self.files.reset(namespace)
        if self.cassette is not None:
            self.cassette.stage.rewind()

    # -- run-time changes (the admin API and the Python API), per namespace ------------------------
    async def add_rules(
        self, document: Any, *, namespace: str | None = None, source: str = "<python>", label: str = "python",
        first_index: int | None = None, yaml11: dict[tuple[Any, ...], Yaml11Scalar] | None = None,
    ) -> list[Rule]:
        """Add rules written as in a scenario file; :class:`ScenarioError` names a mistake.
        ``yaml11``: the YAML-1.1-only scalars of a document loaded from YAML (load_yaml_text)."""
        return await self.admin.add(
            document, namespace=self._ns(namespace), source=source, label=label, first_index=first_index, yaml11=yaml11
        )

    async def remove_rule(self, name: str, *, namespace: str | None = None) -> bool:
        return await self.admin.remove(name, self._ns(namespace))

    async def clear_rules(self, *, namespace: str | None = None) -> int:
        """Drop the rules added at run time (file rules start over); how many went."""
        namespace = self._ns(namespace)
        deleted = await self.admin.clear(namespace)
        await self.scenarios.forget(namespace)
        return deleted

    async def set_rate_limits(self, config: RateLimitConfig | None, *, namespace: str | None = None) -> None:
        """Rate-limit emulation on with these limits (buckets full), or off (``None``)."""
        await self.admin.set_limits(config, self._ns(namespace))

    async def rules_for(self, namespace: str | None = None) -> list[Rule]:
        """The rules in evaluation order, with what this namespace counted (from the store)."""
        namespace = self._ns(namespace)
        await self.admin.sync()
        rules = self.book.rules_for(namespace)
        if self.store.shared and rules:
            await self.scenarios.recount(rules, namespace)
        return rules

    def _ns(self, namespace: str | None) -> str:
        return self._default_namespace if namespace is None else namespace


def open_store(config: Config) -> Store:
    """The store ``config.state`` names: this process's own (memory and SQLite) by default, or a
    shared Redis/Valkey (``redis://HOST:PORT/DB``), imported only then."""
    if not config.state:
        return LocalStore(config.data_dir, namespaces=config.namespace_limit)
    scheme = config.state.split("://", 1)[0].lower()
    if scheme in ("redis", "rediss", "valkey", "valkeys", "unix"):
        from mockserver.store.redis import RedisStore

        return RedisStore(config.state, server_time=isinstance(config.clock, SystemClock), idle_ttl=config.namespace_ttl)
    raise ValueError(f"--state: {config.state!r} is not a redis:// (or rediss://, valkey://, unix://) URL")


def _worker_seed(seed: int | None, worker: int) -> int | None:
    """Ids of worker ``worker`` (0: the seed itself, so one process repeats a seeded run exactly)."""
    if seed is None or worker == 0:
        return seed
    return seed * 1000 + worker


def _rng(purpose: str, seed: int | None) -> random.Random:
    """Seeded randomness for one purpose (wire details, faults), so a seeded run repeats."""
    return random.Random(f"{purpose}:{seed}") if seed is not None else random.Random()


def _canonical(catalog: ModelCatalog) -> Any:
    def resolve(model: str) -> str:
        entry = catalog.resolve(model)
        return entry.id if entry is not None else model

    return resolve

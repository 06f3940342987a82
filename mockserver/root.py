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
off) relinks the chain, with the open parser while it is on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from mockserver.batches.handlers import BatchEndpoints
from mockserver.batches.service import BatchService
from mockserver.cache.prompt_cache import PromptCache
from mockserver.cassettes.install import CassetteOptions, Installed, install
from mockserver.config import Config
from mockserver.emulation.completions import Completions, either
from mockserver.emulation.fake_model import FakeModel
from mockserver.emulation.stage import Emulation, Messages, Models
from mockserver.emulation.synth import Synthesizer
from mockserver.files.handlers import FileEndpoints
from mockserver.files.service import FileService
from mockserver.ids import IdGenerator
from mockserver.journal.journal import JournalEntry, JournalLog, access_line
from mockserver.faults.transforms import FaultedRenderer
from mockserver.pipeline.exchange import ApiRequest, ErrorReply, MessageReply, Next, Outcome, Reply, Stage, chain
from mockserver.pipeline.parse import Incoming, Parser
from mockserver.protocol.catalog import ModelCatalog
from mockserver.protocol.endpoints import BEDROCK_INVOKE, BEDROCK_INVOKE_STREAM, BY_NAME, COMPLETIONS_CREATE, EndpointTable
from mockserver.protocol.errors import ApiError, internal_error
from mockserver.protocol.headers import StaticHeaders
from mockserver.protocol.schema import default_schema
from mockserver.protocol.validate import Rules
from mockserver.ratelimit.limiter import RateLimiter
from mockserver.ratelimit.stage import RateLimitStage
from mockserver.render.headers import ResponseHeaders
from mockserver.render.plan import Plan
from mockserver.render.renderer import Renderer
from mockserver.scenarios.actions import Toolkit
from mockserver.scenarios.book import ScenarioBook
from mockserver.scenarios.stage import ScenarioStage
from mockserver.scenarios.watch import watch
from mockserver.store.base import LogLimits, StoreError
from mockserver.store.local import LocalStore

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
        self.ids = ids = IdGenerator(seed)
        self.organization_id = config.organization_id or IdGenerator(seed).uuid()
        self.base_url = ""  # set once a transport listens (batch results_url points here)
        self.store = store = LocalStore(config.data_dir)
        self.journal = JournalLog(store, LogLimits(config.journal_limit, config.journal_bytes))
        self.prompt_cache = prompt_cache = PromptCache(store, clock)
        self.limiter = RateLimiter(store, clock, config=config.rate_limits, resolve=_canonical(catalog))
        self.book = book = ScenarioBook(self.limiter)
        book.load_files(config.scenario_files)  # a mistake raises ScenarioError naming file, rule and field
        self.files = files = FileService(store, clock, ids)
        self.kit = kit = Toolkit(rules, ids, synth, prompt_cache, clock, files.lookup)
        headers = ResponseHeaders(StaticHeaders(self.organization_id, config.edge_headers), clock, _rng("wire", seed))
        self.renderer = FaultedRenderer(Renderer(headers, seed=seed, sse_padding=config.sse_padding), _rng("faults", seed))
        self.table = EndpointTable()
        self.messages = Messages(FakeModel(rules, synth, clock=clock), prompt_cache, ids, files.lookup)
        self.batches = BatchService(store, self._run, clock, pace=config.batch_pace, live_counts=config.batch_live_counts)
        endpoints = BatchEndpoints(self.batches, ids, lenient=config.lenient, base_url=lambda: self.base_url)
        completions = Completions(catalog, synth, ids, lenient=config.lenient, any_model=config.any_model)
        self.emulation = Emulation({
            **self.messages.handlers(),
            COMPLETIONS_CREATE: completions.create,
            BEDROCK_INVOKE: either(self.messages.create, completions.create),
            BEDROCK_INVOKE_STREAM: either(self.messages.create, completions.create),
            **Models(catalog, lenient=config.lenient, any_model=config.any_model).handlers(),
            **endpoints.handlers(),
            **FileEndpoints(files, lenient=config.lenient).handlers(),
        })
        self.scenarios = ScenarioStage(book, store, catalog, kit)
        self.chaos = None
        if config.chaos is not None:
            from mockserver.chaos.stage import ChaosStage

            self.chaos = ChaosStage(config.chaos, clock, catalog, kit)
        self.ratelimits = RateLimitStage(self.limiter, catalog, prompt_cache, self.organization_id)
        self.cassette: Installed | None = None
        self.extra: list[Stage] = []
        self._link()
        self._tasks: list[asyncio.Task[None]] = []

    # -- the chain ---------------------------------------------------------------------------------
    def _link(self) -> None:
        """The chain for the current configuration, and the parser in front of it."""
        stages: list[Stage] = []
        if self.chaos is not None:
            stages.append(self.chaos)
        stages += [self.ratelimits, self.scenarios, *self.extra]
        if self.cassette is not None:
            stages.append(self.cassette.stage)
        self.chain: Next = chain(stages, self.emulation)
        strict = self.cassette is None
        self.parser = Parser(
            self.table, strict=strict, api_keys=self.config.api_keys, lenient=self.config.lenient, models=self._lifecycle,
        )

    def _lifecycle(self, model: str) -> str | None:
        """A model's lifecycle, for the models platform paths name (any model with --any-model)."""
        if self.config.any_model or self.config.lenient:
            return "active"
        entry = self.catalog.resolve(model)
        return entry.lifecycle if entry is not None else None

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
        try:
            request = await self.parser.parse(incoming, request_id, received_at)
            reply = await self.chain(request)
            plan, reply = self.renderer.render(request, request_id, reply)
        except ApiError as error:
            reply = ErrorReply(error=error, origin="server")
            plan = self.renderer.error(request_id, reply, BY_NAME.get(incoming.endpoint), request.model if request else None)
        except StoreError as error:  # a full disk, say: the client is told, the log has one line
            log.error("mockserver: %s (answering %s %s)", error, incoming.method, incoming.path)
            reply = ErrorReply(error=ApiError(500, f"mockserver could not store this request: {error}", type="api_error"), origin="server")
            plan = self.renderer.error(request_id, reply, BY_NAME.get(incoming.endpoint), request.model if request else None)
        except Exception:  # a bug here must still answer like the API, never with a traceback
            log.exception("internal error answering %s %s", incoming.method, incoming.path)
            reply = ErrorReply(error=internal_error(), origin="server")
            plan = self.renderer.error(request_id, reply, BY_NAME.get(incoming.endpoint))
        if request is not None and request.upload is not None:
            request.upload.close()  # an upload's spools: whatever needed them has read them by now
        return Exchange(incoming, request, request_id, received_at, started, reply, plan)

    def error_plan(self, error: ApiError) -> Plan:
        """An error the transport itself answers (malformed HTTP), rendered like any other."""
        return self.renderer.error(self.ids.request(), ErrorReply(error=error, origin="server"))

    async def finish(self, exchange: Exchange, outcome: Outcome) -> None:
        """Journal the exchange (bytes only: decoding waits until a test reads it), tell the
        reply's observers, and log one line."""
        reply = exchange.reply
        request, incoming = exchange.request, exchange.incoming
        elapsed = (time.perf_counter() - exchange.started) * 1000
        usage = reply.message["usage"] if isinstance(reply, MessageReply) else None
        model = request.model if request is not None else None
        faults = reply.faults.describe() if reply.faults is not None else []
        entry = JournalEntry(
            0,
            request_id=exchange.request_id,
            method=incoming.method,
            path=incoming.path,
            query=incoming.query,
            raw_headers=incoming.headers,
            request_bytes=request.raw_body if request is not None else b"",
            endpoint=request.endpoint if request is not None else incoming.endpoint,
            received_at=exchange.received_at,
            status=outcome.status,
            origin=reply.origin,
            response_bytes=outcome.raw,
            streamed=outcome.streamed,
            duration_ms=elapsed,
            model=model,
            input_tokens=usage["input_tokens"] if usage else None,
            output_tokens=usage["output_tokens"] if usage else None,
            faults=[*faults, *outcome.notes],
            error=reply.error.message if isinstance(reply, ErrorReply) else None,
        )
        await self.journal.append(entry, request.namespace if request is not None else "default")
        for observer in reply.observers or ():
            observer(outcome)
        if self.config.log_requests:
            access_log.info("%s", access_line(entry))

    # -- lifetime and resets -----------------------------------------------------------------------
    async def start(self) -> None:
        self.store.check()
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

    async def reset(self, namespace: str = "default", *, batches: bool = True, files: bool = True) -> None:
        """Rules (file rules start over), journal, prompt cache, rate limits, batches and the
        namespace's files as at start."""
        self.book.reset()
        await self.scenarios.forget(namespace)
        await self.journal.clear(namespace)
        await self.prompt_cache.clear(namespace)
        await self.limiter.reset(namespace)
        if batches and self.batches.in_use:
            await self.batches.reset()
        if files and self.files.in_use:
            await self.files.reset(namespace)
        if self.cassette is not None:
            self.cassette.stage.rewind()


def _rng(purpose: str, seed: int | None) -> random.Random:
    """Seeded randomness for one purpose (wire details, faults), so a seeded run repeats."""
    return random.Random(f"{purpose}:{seed}") if seed is not None else random.Random()


def _canonical(catalog: ModelCatalog) -> Any:
    def resolve(model: str) -> str:
        entry = catalog.resolve(model)
        return entry.id if entry is not None else model

    return resolve

"""Per-server state: the services every stage of the pipeline shares. One per app, no globals."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mockserver.batches.service import BatchService
from mockserver.config import Config
from mockserver.ids import IdGenerator
from mockserver.journal import Journal
from mockserver.protocol.catalog import ModelCatalog
from mockserver.protocol.headers import StaticHeaders
from mockserver.protocol.schema import RequestSchema, default_schema
from mockserver.protocol.validate import Rules
from mockserver.cache.prompt_cache import PromptCache
from mockserver.ratelimit.limiter import RateLimiter
from mockserver.emulation.fake_model import FakeModel
from mockserver.emulation.synth import Synthesizer
from mockserver.scenarios.book import ScenarioBook

if TYPE_CHECKING:
    from mockserver.pipeline.exchange import Responder
    from mockserver.chaos.stage import ChaosResponder


@dataclass
class ServerState:
    config: Config
    catalog: ModelCatalog
    schema: RequestSchema
    ids: IdGenerator
    synth: Synthesizer
    journal: Journal
    ratelimits: RateLimiter
    rules: Rules
    model: FakeModel
    responders: list["Responder"] = field(default_factory=list)
    # Seeded randomness for wire details (SSE padding, cf-ray) so a seeded run repeats exactly.
    wire_rng: random.Random = field(default_factory=random.Random)
    # Set once the server listens: the base URL clients use (batch results_url points here).
    base_url: str = ""
    # The anthropic-organization-id every response carries (configured, or made up once).
    organization_id: str = ""
    # Prebuilt headers for every response (server/delivery.py); made in __post_init__.
    static_headers: StaticHeaders = field(init=False)
    # Replay/record: every request, on any path, goes to the responders unchecked (the recording
    # or the upstream is the truth). Set by mockserver.cassettes.install.
    passthrough: bool = False
    # Message Batches: their store and background processor (mockserver/batches/); set by from_config.
    batches: BatchService = None  # type: ignore[assignment]
    # Scripted scenarios (mockserver/scenarios/): the rules the scenario responder answers from.
    scenarios: ScenarioBook = field(default_factory=ScenarioBook)
    # Prompt-caching emulation: the prefixes cached so far (mockserver/prompt_cache.py).
    prompt_cache: PromptCache = None  # type: ignore[assignment]
    # Seeded randomness for faults (random errors), so a seeded run repeats exactly.
    fault_rng: random.Random = field(default_factory=random.Random)
    # Chaos mode (mockserver/fuzz/chaos.py): the responder that injects and records; None = off.
    chaos: "ChaosResponder | None" = None

    def __post_init__(self) -> None:
        self.static_headers = StaticHeaders(self.organization_id, self.config.edge_headers)

    @classmethod
    def from_config(cls, config: Config) -> "ServerState":
        catalog = ModelCatalog.load(config.models_file)
        schema = default_schema()
        synth = Synthesizer(config.seed)
        rules = Rules(schema, catalog, config.lenient, config.any_model, synth.signature_matches)
        ratelimits = RateLimiter(config.clock, config=config.rate_limits, resolve=_canonical(catalog))
        scenarios = ScenarioBook(ratelimits)
        scenarios.load_files(config.scenario_files)  # a mistake raises ScenarioError naming file, rule and field
        return cls(
            config=config,
            catalog=catalog,
            schema=schema,
            rules=rules,
            model=FakeModel(rules, synth),
            ids=IdGenerator(config.seed),
            synth=synth,
            journal=Journal(config.journal_limit),
            ratelimits=ratelimits,
            wire_rng=random.Random(f"wire:{config.seed}") if config.seed is not None else random.Random(),
            organization_id=config.organization_id or IdGenerator(config.seed).uuid(),
            batches=BatchService(config),
            prompt_cache=PromptCache(config.clock),
            fault_rng=random.Random(f"faults:{config.seed}") if config.seed is not None else random.Random(),
            scenarios=scenarios,
            chaos=_chaos(config),
        )

    @property
    def clock(self):  # noqa: ANN201 - a Clock
        return self.config.clock


def _chaos(config: Config) -> "ChaosResponder | None":
    if config.chaos is None:
        return None
    from mockserver.chaos.stage import ChaosResponder

    return ChaosResponder(config.chaos)


def _canonical(catalog: ModelCatalog):  # noqa: ANN202 - a model id -> its canonical id
    def resolve(model: str) -> str:
        entry = catalog.resolve(model)
        return entry.id if entry is not None else model

    return resolve

"""Chaos mode: a seeded random error or fault on a share of requests, for clients in any language.

``mockserver serve --chaos SEED`` puts a :class:`ChaosStage` first in the chain. For each
Messages call it draws (from a generator seeded by ``SEED``, so a run repeats) whether to
interfere and how: an API error with its real body and a ``retry-after`` variant, or a fault on
the ordinary answer (reset, dropped stream, ``event: error``, malformed event, latency …). Each
injection is written as a scenario step and run through the scenario layer's own loader and
actions, and delivered by the fault layer, exactly as a scripted rule would be — chaos mode adds
no second path. Every call is recorded, and learns how its delivery went from the reply it
returned (an observer, not a read of the journal); :mod:`.report` groups the records into attempt
chains and judges how the client behaved (retried, gave up, reconnected, how long it waited,
whether it honoured ``retry-after``). The report is live at ``GET /_mock/chaos/report`` and is
written to ``--chaos-report FILE`` when the server stops.

Nothing here imports Hypothesis.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import orjson

from mockserver.chaos.report import Attempt, build_report, render_markdown
from mockserver.faults.spec import MALFORMED_KINDS
from mockserver.pipeline.exchange import ApiRequest, ErrorReply, Next, Reply
from mockserver.protocol.endpoints import COUNT_TOKENS, MESSAGES_CREATE
from mockserver.protocol.headers import http_date, says_no_retry, sdk_retries
from mockserver.protocol.numbers import decimal

if TYPE_CHECKING:
    from mockserver.clock import Clock
    from mockserver.protocol.catalog import ModelCatalog
    from mockserver.pipeline.exchange import Outcome
    from mockserver.scenarios.actions import Toolkit

log = logging.getLogger("mockserver.chaos")

DEFAULT_ERRORS: dict[str, float] = {"429": 3, "529": 3, "500": 1, "503": 1}
DEFAULT_FAULTS: dict[str, float] = {"reset": 1, "drop": 1, "stream_error": 1, "latency": 1}
FAULT_KINDS = ("reset", "drop", "stream_error", "malformed", "latency", "ttft", "slow_body")
STREAM_ONLY = frozenset({"stream_error", "malformed", "ttft"})
DEFAULT_ENDPOINTS = (MESSAGES_CREATE, COUNT_TOKENS)
MAX_ATTEMPTS = 100_000


@dataclass(frozen=True)
class ChaosConfig:
    """What ``--chaos`` and its options configure (``Config.chaos``)."""

    seed: int
    rate: float = 0.3
    """Share of calls that get an error or a fault (0–1)."""
    errors: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_ERRORS))
    """Relative weights of error statuses ("429", "529", "400" …)."""
    faults: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FAULTS))
    """Relative weights of fault kinds (see ``FAULT_KINDS``)."""
    max_wait: float = 2.0
    """Upper bound of ``retry-after`` advice and of injected latency, in seconds."""
    window: float = 10.0
    """An identical request within this many seconds of a failed one is a retry of it; a failed
    call not repeated within it counts as given up."""
    report: Path | None = None
    """Where the report is written when the server stops (JSON; Markdown beside it)."""
    endpoints: tuple[str, ...] = DEFAULT_ENDPOINTS

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"chaos rate must be between 0 and 1, not {self.rate}")
        if self.max_wait < 0 or self.window <= 0:
            raise ValueError("chaos max_wait must be >= 0 and window > 0")
        for key, weight in self.errors.items():
            if not 400 <= (decimal(key) or 0) <= 599:
                raise ValueError(f"chaos error {key!r}: give an HTTP status from 400 to 599")
            if weight < 0:
                raise ValueError(f"chaos weight of {key} must be >= 0")
        for key, weight in self.faults.items():
            if key not in FAULT_KINDS:
                raise ValueError(f"chaos fault {key!r}: expected one of {', '.join(FAULT_KINDS)}")
            if weight < 0:
                raise ValueError(f"chaos weight of {key} must be >= 0")
        if self.rate > 0 and not any(w > 0 for w in (*self.errors.values(), *self.faults.values())):
            raise ValueError("chaos needs at least one error or fault with a weight above 0")


def parse_weights(text: str) -> dict[str, float]:
    """``"429=3,529=2,500"`` -> ``{"429": 3.0, "529": 2.0, "500": 1.0}`` (``""`` or ``none``: nothing)."""
    out: dict[str, float] = {}
    if text.strip().lower() in ("", "none"):
        return out
    for part in text.split(","):
        name, _, weight = part.strip().partition("=")
        if not name:
            raise ValueError(f"empty entry in {text!r}")
        try:
            out[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"weight of {name!r} is not a number: {weight!r}") from None
    return out


class ChaosStage:
    """First in the chain when chaos mode is on; records every call it sees."""

    def __init__(self, config: ChaosConfig, clock: "Clock", catalog: "ModelCatalog", kit: "Toolkit") -> None:
        self.config = config
        self.clock = clock
        self.catalog = catalog
        self.kit = kit
        self.rng = random.Random(f"chaos:{config.seed}")
        self.attempts: deque[Attempt] = deque(maxlen=MAX_ATTEMPTS)
        self.started_at = time.time()
        self._seq = 0
        self._kinds = [(k, w) for k, w in (*config.errors.items(), *config.faults.items()) if w > 0]

    async def __call__(self, request: ApiRequest, next: Next) -> Reply:
        if request.custom_id is not None or request.endpoint not in self.config.endpoints:
            return await next(request)  # batch items and other endpoints are left alone
        attempt = self._record(request)
        if not self._kinds or self.rng.random() >= self.config.rate:
            reply = await next(request)
        else:
            kind = self._pick(request.stream)
            step, attempt.retry_after = self._step(kind, request.stream)
            attempt.injected = _label(kind, step)
            attempt.kind = kind
            reply = await self._run_step(step, request, next)
            if isinstance(reply, ErrorReply):
                status = reply.error.status
                default = "false" if says_no_retry(status) else None  # as the renderer adds it
                attempt.should_retry = reply.error.headers.get("x-should-retry", default)
                attempt.status = status
            reply.origin = "chaos"
        reply.observe(lambda outcome: _resolve(attempt, outcome))
        return reply

    async def _run_step(self, step: dict[str, Any], request: ApiRequest, next: Next) -> Reply:
        """Parse ``step`` with the scenario loader and run it as the scenario stage runs actions."""
        from mockserver.scenarios.format import parse_step
        from mockserver.scenarios.matchers import RequestView
        from mockserver.documents import Node
        from mockserver.scenarios.errors import where
        from mockserver.scenarios.stage import run_action

        action = parse_step(Node(step, "", where("<chaos>")))
        reply = await run_action(action, RequestView(request, self.catalog), self.kit, next)
        assert reply is not None  # an error, or the rest of the chain's answer with faults
        return reply

    def _record(self, request: ApiRequest) -> Attempt:
        self._seq += 1
        retry = request.headers.get("x-stainless-retry-count")
        attempt = Attempt(
            seq=self._seq,
            request_id=request.request_id,
            client=request.headers.get("user-agent") or "unknown client",
            method=request.method,
            path=request.path,
            key=_key(request),
            retry_count=decimal(retry) if retry is not None else None,  # isdigit() took "²", which int() refuses
            stream=request.stream,
            at=self.clock.now(),
            t0=asyncio.get_running_loop().time(),
        )
        self.attempts.append(attempt)
        return attempt

    def _pick(self, stream: bool) -> str:
        kinds = [(k, w) for k, w in self._kinds if stream or k not in STREAM_ONLY] or self._kinds
        names, weights = zip(*kinds)
        chosen: str = self.rng.choices(names, weights)[0]
        return chosen

    def _step(self, kind: str, stream: bool) -> tuple[dict[str, Any], float | None]:
        """The scenario step injected for ``kind``, and how long a client is asked to wait."""
        rng, cap = self.rng, self.config.max_wait
        if kind.isdigit():
            status = int(kind)
            spec: dict[str, Any] = {"status": status}
            wait: float | None = None
            if sdk_retries(status):
                spec_extra, wait = self._retry_after(rng, cap)
                spec.update(spec_extra)
            return {"error": spec}, wait
        if kind == "reset":
            fault: dict[str, Any] = {"reset": True}
        elif kind == "drop":
            fault = {"drop": {"after_events": rng.randint(1, 6)}} if stream else {"drop": {"after_bytes": rng.randint(0, 200)}}
        elif kind == "stream_error":
            fault = {"stream_error": {"after": rng.randint(1, 6), "type": rng.choice(["overloaded_error", "api_error"])}}
        elif kind == "malformed":
            fault = {"malformed": {"kind": rng.choice(MALFORMED_KINDS), "at": rng.randint(3, 6)}}
        elif kind == "latency":
            fault = {"latency": round(rng.uniform(min(0.1, cap), cap), 3)}
        elif kind == "ttft":
            fault = {"ttft": round(rng.uniform(min(0.1, cap), cap), 3)}
        else:  # slow_body
            fault = {"slow_body": {"chunk_bytes": rng.randint(4, 64), "interval": round(rng.uniform(0, min(cap, 1.0) / 50), 4)}}
        return {"fault": fault}, None

    @staticmethod
    def _retry_after(rng: random.Random, cap: float) -> tuple[dict[str, Any], float | None]:
        """One of the ``retry-after`` forms a client must handle, within ``cap`` seconds."""
        forms = ["absent", "milliseconds"]
        if cap >= 1:
            forms.append("seconds")
        if cap >= 2:
            forms.append("http_date")
        form = rng.choice(forms)
        if form == "milliseconds":
            ms = rng.randint(max(1, int(cap * 100)), max(1, int(cap * 1000)))
            return {"retry_after_ms": ms}, ms / 1000
        if form == "seconds":
            seconds = rng.randint(1, int(cap))
            return {"retry_after": seconds}, float(seconds)
        if form == "http_date":
            due = math.ceil(time.time()) + rng.randint(1, int(cap) - 1)
            return {"headers": {"retry-after": http_date(due)}}, max(0.0, due - time.time())
        return {}, None

    # -- the report -------------------------------------------------------------------------------
    def report(self, *, final: bool = False) -> dict[str, Any]:
        now = asyncio.get_running_loop().time() if _loop_running() else time.monotonic()
        return build_report(
            list(self.attempts),
            now=now,
            final=final,
            window=self.config.window,
            meta={
                "seed": self.config.seed,
                "rate": self.config.rate,
                "errors": dict(self.config.errors),
                "faults": dict(self.config.faults),
                "max_wait": self.config.max_wait,
                "window": self.config.window,
                "started_at": self.started_at,
            },
        )

    def write(self, path: Path) -> tuple[Path, Path]:
        """The final report: JSON at ``path``, Markdown beside it (``.md``)."""
        report = self.report(final=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        markdown = path.with_suffix(".md") if path.suffix != ".md" else path.with_suffix(".md.md")
        markdown.write_text(render_markdown(report), encoding="utf-8")
        return path, markdown

    async def close(self) -> None:
        """When the server stops: write the report (if asked to) and log each client's verdict."""
        report = self.report(final=True)
        for client in report["clients"]:
            log.info("chaos verdict for %s: %s (%s)", client["client"], client["verdict"].upper(), "; ".join(client["reasons"]) or "no problems")
        if self.config.report is not None:
            try:
                json_path, md_path = self.write(self.config.report)
            except OSError as exc:  # a path that cannot be written: say so, not a traceback at shutdown
                log.error("cannot write the chaos report to %s: %s", self.config.report, exc.strerror or exc)
                return
            log.info("chaos report written to %s and %s", json_path, md_path)


def _resolve(attempt: Attempt, outcome: "Outcome") -> None:
    attempt.resolve(outcome.status, asyncio.get_running_loop().time() - attempt.t0, outcome.notes)


def _label(kind: str, step: dict[str, Any]) -> str:
    if "error" in step:
        spec = step["error"]
        extra = [f"{k.replace('_', '-')}: {v}" for k, v in spec.items() if k.startswith("retry_after")]
        extra += [f"{k}: {v}" for k, v in spec.get("headers", {}).items()]
        return f"{spec['status']}" + (f" ({', '.join(extra)})" if extra else "")
    fault = step["fault"]
    name, value = next(iter(fault.items()))
    if isinstance(value, dict):
        return f"{name} " + ", ".join(f"{k}={v}" for k, v in value.items())
    return name if value is True else f"{name} {value}"


def _key(api: ApiRequest) -> str:
    """Identical requests share a key: method, path and the JSON body with its keys sorted."""
    try:
        body = orjson.dumps(api.body, option=orjson.OPT_SORT_KEYS) if api.body is not None else api.raw_body
    except (TypeError, orjson.JSONEncodeError):
        body = api.raw_body
    return hashlib.sha256(api.method.encode() + b" " + api.path.encode() + b"\n" + body).hexdigest()[:16]


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True

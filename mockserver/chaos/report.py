"""How a client behaved under chaos: attempt chains, waits, and a verdict per client.

Pure functions over the calls chaos mode recorded (no server, no I/O), so the rules are easy to
read and to test. A *chain* is one logical call and its retries: requests from the same client
(``User-Agent``) with the same method, path and JSON body, where each follows a failed one —
an SDK retry (``x-stainless-retry-count`` above 0) or any identical request within the window
(curl, hand-written loops, an app re-calling after a dropped stream).

Verdicts: ``fail`` when the client retried what it was told not to (``x-should-retry: false``,
or a status no client should retry) or waited less than ``retry-after`` asked; ``warn`` when it
never retried anything retryable, or retried immediately without being told to; ``pass`` when
it met injected failures and did neither; ``untested`` when chaos never touched it (and it did
nothing wrong on its own, such as retrying a real 400).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

from mockserver.protocol.headers import sdk_retries


BROKEN_NOTES = ("client disconnected", "dropped after", "connection reset", "event: error", "malformed event")
STREAM_BREAKS = frozenset({"drop", "stream_error", "malformed"})
IMMEDIATE = 0.1  # seconds: a retry sooner than this, unasked, hammers the API
MAX_CHAINS = 200


@dataclass
class Attempt:
    """One call chaos mode saw, and (once it finished) how it went."""

    seq: int
    request_id: str
    client: str
    method: str
    path: str
    key: str
    retry_count: int | None
    stream: bool
    at: float
    """Server clock time it arrived (for the report)."""
    t0: float
    """Monotonic time it reached the chaos responder (for waits)."""
    injected: str | None = None
    kind: str | None = None
    retry_after: float | None = None
    should_retry: str | None = None
    status: int | None = None
    duration: float | None = None
    notes: tuple[str, ...] = ()

    def resolve(self, status: int, duration: float, notes: tuple[str, ...]) -> None:
        """How the call went, once it was delivered."""
        self.status = status
        self.duration = duration
        self.notes = notes

    @property
    def end(self) -> float:
        """When the answer (or the failure) reached the client, as well as the server knows."""
        return self.t0 + (self.duration or 0.0)

    @property
    def broken(self) -> bool:
        return any(note.startswith(BROKEN_NOTES) for note in self.notes) or self.kind in ("reset", "drop", "stream_error", "malformed")

    @property
    def failed(self) -> bool:
        return self.broken or (self.status is not None and self.status >= 400)

    @property
    def retryable(self) -> bool:
        """Whether a client may retry this failure: the SDKs' rules (docs/reference/anthropic-api.md §6.3)."""
        if self.should_retry is not None:
            return self.should_retry == "true"
        if self.status is not None and self.status >= 400:
            return sdk_retries(self.status)
        return True  # connection-level failures

    @property
    def stream_broke(self) -> bool:
        return self.stream and (self.kind in STREAM_BREAKS or any(n.startswith(("dropped after", "client disconnected")) for n in self.notes))

    @property
    def label(self) -> str:
        if self.injected is not None:
            return self.injected
        if self.status is not None and self.status >= 400:
            return str(self.status)
        return "disconnected" if self.broken else "ok"


@dataclass
class Chain:
    attempts: list[Attempt] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    """waits[i]: seconds between the end of attempt i and the start of attempt i + 1."""

    @property
    def last(self) -> Attempt:
        return self.attempts[-1]

    @property
    def had_failure(self) -> bool:
        return any(a.failed for a in self.attempts)

    def result(self, *, now: float, final: bool, window: float) -> str:
        if not self.last.failed:
            return "recovered" if len(self.attempts) > 1 else "clean"
        if not self.last.retryable:
            return "stopped"
        if final or now - self.last.end > window:
            return "gave_up"
        return "pending"


def chains(attempts: Iterable[Attempt], *, window: float) -> list[Chain]:
    """Group calls into chains of retries (see the module docstring)."""
    out: list[Chain] = []
    open_: dict[tuple[str, str], Chain] = {}
    for attempt in sorted(attempts, key=lambda a: a.seq):
        key = (attempt.client, attempt.key)
        chain = open_.get(key)
        retry = chain is not None and chain.last.failed and (
            (attempt.retry_count or 0) > 0 or attempt.t0 - chain.last.end <= window
        )
        if retry and chain is not None:
            chain.waits.append(max(0.0, attempt.t0 - chain.last.end))
            chain.attempts.append(attempt)
            continue
        chain = Chain([attempt])
        open_[key] = chain
        out.append(chain)
    return out


def _tolerance(advised: float) -> float:
    return 0.05 + 0.05 * advised


def judge(client: str, client_chains: list[Chain], *, now: float, final: bool, window: float) -> dict[str, Any]:
    """One client's numbers, problems and verdict."""
    attempts = [a for c in client_chains for a in c.attempts]
    injected = _injected_by_kind(attempts)
    results: dict[str, int] = {"recovered": 0, "gave_up": 0, "stopped": 0, "pending": 0}
    violations: list[str] = []
    warnings: list[str] = []
    waits: list[float] = []
    advised = honoured = immediate = reconnected = retried_chains = first_try_give_ups = 0
    for chain in client_chains:
        if not chain.had_failure:
            continue
        result = chain.result(now=now, final=final, window=window)
        if result in results:
            results[result] += 1
        if len(chain.attempts) > 1:
            retried_chains += 1
        elif result == "gave_up":
            first_try_give_ups += 1
        for before, after, wait in zip(chain.attempts, chain.attempts[1:], chain.waits):
            waits.append(wait)
            if before.stream_broke:
                reconnected += 1
            if not before.retryable:
                why = "x-should-retry: false" if before.should_retry == "false" else f"status {before.status} is not retryable"
                violations.append(f"retried {before.label} ({before.request_id}) although {why}")
            if before.retry_after is not None and before.retry_after > 0:
                advised += 1
                if wait + _tolerance(before.retry_after) >= before.retry_after:
                    honoured += 1
                else:
                    violations.append(
                        f"waited {wait * 1000:.0f} ms after {before.label} ({before.request_id}), "
                        f"which asked for {before.retry_after * 1000:.0f} ms"
                    )
            elif before.retry_after is None and wait < IMMEDIATE:
                immediate += 1
    if first_try_give_ups and not retried_chains:
        warnings.append(f"never retried: gave up on all {first_try_give_ups} retryable failure(s) at the first attempt")
    if immediate:
        warnings.append(f"retried {immediate} time(s) within {IMMEDIATE * 1000:.0f} ms without being told to (no backoff)")
    verdict = "fail" if violations else "warn" if warnings else "pass" if injected else "untested"
    return {
        "client": client,
        "verdict": verdict,
        "reasons": [*violations, *warnings],
        "requests": len(attempts),
        "injected": sum(injected.values()),
        "injected_by_kind": injected,
        "chains": {
            "with_failures": sum(1 for c in client_chains if c.had_failure),
            "retried": retried_chains,
            **results,
            "reconnected": reconnected,
        },
        "retries": len(waits),
        "waits_ms": _summary(waits),
        "retry_after": {"advised": advised, "honoured": honoured, "ignored": advised - honoured},
        "violations": violations,
        "warnings": warnings,
    }


def _injected_by_kind(attempts: Iterable[Attempt]) -> dict[str, int]:
    """How many calls got each kind of injection, sorted by kind."""
    injected: dict[str, int] = {}
    for a in attempts:
        if a.kind is not None:
            injected[a.kind] = injected.get(a.kind, 0) + 1
    return dict(sorted(injected.items()))


def _summary(waits: list[float]) -> dict[str, float] | None:
    if not waits:
        return None
    ms = [w * 1000 for w in waits]
    return {"min": round(min(ms), 1), "median": round(statistics.median(ms), 1), "max": round(max(ms), 1)}


def build_report(attempts: list[Attempt], *, now: float, final: bool, window: float, meta: dict[str, Any]) -> dict[str, Any]:
    """The whole report: totals, a verdict per client, and the chains that met a failure."""
    all_chains = chains(attempts, window=window)
    by_client: dict[str, list[Chain]] = {}
    for chain in all_chains:
        by_client.setdefault(chain.last.client, []).append(chain)
    injected = _injected_by_kind(attempts)
    failing = [c for c in all_chains if c.had_failure]
    return {
        **meta,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "final": final,
        "requests": len(attempts),
        "injected": sum(injected.values()),
        "injected_by_kind": injected,
        "clients": [judge(name, cs, now=now, final=final, window=window) for name, cs in sorted(by_client.items())],
        "chains": [_chain_json(c, now=now, final=final, window=window) for c in failing[-MAX_CHAINS:]],
    }


def _chain_json(chain: Chain, *, now: float, final: bool, window: float) -> dict[str, Any]:
    first = chain.attempts[0]
    rows = []
    for i, a in enumerate(chain.attempts):
        row: dict[str, Any] = {
            "request_id": a.request_id,
            "retry_count": a.retry_count,
            "at": datetime.fromtimestamp(a.at, timezone.utc).isoformat(timespec="milliseconds"),
            "injected": a.injected,
            "status": a.status,
            "outcome": a.label if a.failed else "ok",
        }
        if a.retry_after is not None:
            row["retry_after_ms"] = round(a.retry_after * 1000)
        if i > 0:
            wait = chain.waits[i - 1]
            row["waited_ms"] = round(wait * 1000, 1)
            before = chain.attempts[i - 1]
            if before.retry_after:
                row["honoured_retry_after"] = wait + _tolerance(before.retry_after) >= before.retry_after
        rows.append(row)
    return {
        "client": first.client,
        "request": f"{first.method} {first.path}" + (" (stream)" if first.stream else ""),
        "result": chain.result(now=now, final=final, window=window),
        "attempts": rows,
    }


# -- Markdown ----------------------------------------------------------------------------------------
def render_markdown(report: dict[str, Any]) -> str:
    """The report for people: totals, a verdict table, each client's reasons, the failing chains."""
    kinds = ", ".join(f"{k}×{n}" for k, n in report["injected_by_kind"].items()) or "none"
    lines = [
        "# mockserver chaos report",
        "",
        f"Seed {report['seed']}, rate {report['rate']}: {report['requests']} calls, {report['injected']} injected ({kinds}).",
        f"Generated {report['generated_at']}{'' if report['final'] else ' (live: chains still open may be retried yet)'}.",
        "",
        "| client | verdict | calls | injected | retried | recovered | gave up | reconnected | waits ms (min/median/max) | retry-after honoured |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for c in report["clients"]:
        w = c["waits_ms"]
        waits = f"{w['min']:.0f} / {w['median']:.0f} / {w['max']:.0f}" if w else "–"
        ra = c["retry_after"]
        honoured = f"{ra['honoured']}/{ra['advised']}" if ra["advised"] else "–"
        ch = c["chains"]
        lines.append(
            f"| {_cell(c['client'])} | **{c['verdict'].upper()}** | {c['requests']} | {c['injected']} | {ch['retried']} | "
            f"{ch['recovered']} | {ch['gave_up']} | {ch['reconnected']} | {waits} | {honoured} |"
        )
    for c in report["clients"]:
        lines += ["", f"## {c['client']}: {c['verdict'].upper()}", ""]
        lines += [f"- {reason}" for reason in c["reasons"]] or ["- no problems found"]
    if report["chains"]:
        lines += ["", "## Calls that met a failure", ""]
        for chain in report["chains"]:
            steps = []
            for row in chain["attempts"]:
                wait = f"wait {row['waited_ms']:.0f} ms → " if "waited_ms" in row else ""
                steps.append(f"{wait}{row['outcome']}")
            lines.append(f"- {chain['request']} from {_cell(chain['client'])}: {' → '.join(steps)} — **{chain['result'].replace('_', ' ')}**")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")

"""The scenario stage: a rule whose ``match`` accepts the request answers it; otherwise ``next``.

With no rules it passes at once (one check), so an unscripted server pays nothing. What
rules count (matches for ``nth``, answers for ``times``, the step of a sequence) is kept in the
store, per namespace, and taken atomically: with a shared store, "fail once, then succeed" fails
once however many processes serve.
"""

from __future__ import annotations

from mockserver.faults.spec import Faults
from mockserver.pipeline.exchange import ApiRequest, ErrorReply, Next, Reply
from mockserver.protocol.catalog import ModelCatalog
from mockserver.protocol.errors import ApiError
from mockserver.scenarios.actions import Action, Sequence, Toolkit
from mockserver.scenarios.book import ScenarioBook
from mockserver.scenarios.format import Rule
from mockserver.scenarios.matchers import RequestView
from mockserver.store.base import Store


async def run_action(action: Action, view: RequestView, kit: Toolkit, next: Next, rule_faults: Faults | None = None) -> Reply | None:
    """Run one action as a rule answers with it: a request that fails validation gets its error
    as the reply (the rule still answered it), and the rule's faults, then the action's, go on
    the reply over any it carries. ``None`` when the action lets the request fall through."""
    try:
        reply = await action.run(view, kit, next)
    except ApiError as error:
        reply = ErrorReply(error=error)
    if reply is None:
        return None
    faults = rule_faults.merged(action.faults) if rule_faults is not None else action.faults
    if faults is not None:
        reply.faults = reply.faults.merged(faults) if reply.faults is not None else faults
    return reply


class ScenarioStage:
    def __init__(self, book: ScenarioBook, store: Store, catalog: ModelCatalog, kit: Toolkit) -> None:
        self.book = book
        self.store = store
        self.catalog = catalog
        self.kit = kit

    @staticmethod
    def prefix(namespace: str) -> str:
        return f"{namespace}:rules:"

    async def forget(self, namespace: str = "default") -> None:
        """Every rule's counts start over, in the store and in the rules (with the book's
        ``clear``; a reset needs nothing of this: the book dropped the namespace's rules)."""
        await self.store.clear(self.prefix(namespace))
        for rule in self.book.rules_for(namespace):
            rule.reset()

    async def recount(self, rules: list[Rule], namespace: str) -> None:
        """Set each rule's ``seen`` and ``hits`` to what every process counted (a shared store)."""
        prefix = self.prefix(namespace)
        counts = await self.store.get_ints([prefix + rule.key + suffix for rule in rules for suffix in (":seen", ":hits")])
        for index, rule in enumerate(rules):
            rule.seen, rule.hits = counts[2 * index], counts[2 * index + 1]

    async def __call__(self, request: ApiRequest, next: Next) -> Reply:
        if not self.book.any:
            return await next(request)
        rules = self.book.rules_for(request.namespace)
        view = RequestView(request, self.catalog)
        prefix = self.prefix(request.namespace)
        accepted = False
        reply: Reply | None = None
        for rule in rules:
            if not rule.match.accepts(view):
                continue
            accepted = True
            reply = await self._answer(rule, view, prefix + rule.key, next)
            if reply is not None:
                reply.origin = rule.name
                break
        if reply is None:
            reply = await next(request)
        if accepted:  # a rule counted it (answered it, or passed it on: nth, times, a used-up sequence),
            reply.pure = False  # so the same call may be answered otherwise next time: never memoised
        return reply

    async def _answer(self, rule: Rule, view: RequestView, key: str, next: Next) -> Reply | None:
        store = self.store
        rule.seen = await store.incr(key + ":seen")
        nth = rule.match.nth
        if nth is not None and rule.seen not in nth:
            return None
        if rule.times is not None:
            hits = await store.take(key + ":hits", rule.times)
            if hits is None:
                return None
        else:
            hits = await store.incr(key + ":hits")
        action: Action | None
        if isinstance(rule.action, Sequence):
            action = rule.action.step(await store.incr(key + ":step"))
        else:
            action = rule.action
        if action is None:  # a sequence that falls through once it is used up
            await store.incr(key + ":hits", -1)
            return None
        rule.hits = hits
        return await run_action(action, view, self.kit, next, rule.faults)

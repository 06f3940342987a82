"""The scenario responder: first in the pipeline, it answers the requests a rule matches.

With no rules it declines at once (one length check), so an unscripted server pays nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mockserver.pipeline.exchange import ApiRequest, ErrorReply, Reply
from mockserver.protocol.errors import ApiError
from mockserver.scenarios.matchers import RequestView

if TYPE_CHECKING:
    from mockserver.pipeline.exchange import Responder
    from mockserver.faults.spec import Faults
    from mockserver.pipeline.root import ServerState
    from mockserver.scenarios.actions import Action


async def run_action(
    action: Action, view: RequestView, state: ServerState, responder: Responder, rule_faults: Faults | None = None
) -> Reply | None:
    """Run one action as a rule answers with it: a request that fails validation gets its error
    as the reply (the rule still answered it), and the rule's faults, then the action's, go on
    the reply over any it carries. ``None`` when the action lets the request fall through."""
    try:
        reply = await action.run(view, state, responder)
    except ApiError as error:
        reply = ErrorReply(error=error)
    if reply is None:
        return None
    faults = rule_faults.merged(action.faults) if rule_faults is not None else action.faults
    if faults is not None:
        reply.faults = reply.faults.merged(faults) if reply.faults is not None else faults
    return reply


class ScenarioResponder:
    name = "scenarios"

    async def respond(self, api: ApiRequest, state: "ServerState") -> Reply | None:
        rules = state.scenarios.rules
        if not rules:
            return None
        view = RequestView(api, state)
        for rule in rules:
            if not rule.match.accepts(view):
                continue
            rule.seen += 1
            nth = rule.match.nth
            if nth is not None and rule.seen not in nth:
                continue
            if rule.times is not None and rule.hits >= rule.times:
                continue
            action = rule.next_action()
            if action is None:  # a sequence that falls through once it is used up
                continue
            rule.hits += 1
            reply = await run_action(action, view, state, self, rule.faults)
            if reply is None:
                continue
            reply.origin = rule.name
            return reply
        return None

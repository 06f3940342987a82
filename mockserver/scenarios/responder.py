"""The scenario responder: first in the pipeline, it answers the requests a rule matches.

With no rules it declines at once (one length check), so an unscripted server pays nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..exchange import ApiRequest, ErrorReply, Reply
from ..protocol.errors import ApiError
from .matchers import RequestView

if TYPE_CHECKING:
    from ..server.state import ServerState


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
            try:
                reply = await action.run(view, state, self)
            except ApiError as error:  # the request failed validation: the rule still answered it
                reply = ErrorReply(error=error)
            if reply is None:
                continue
            faults = rule.faults.merged(action.faults) if rule.faults is not None else action.faults
            if faults is not None:
                reply.faults = reply.faults.merged(faults) if reply.faults is not None else faults
            reply.origin = rule.name
            return reply
        return None

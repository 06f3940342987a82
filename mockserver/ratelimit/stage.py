"""The rate limiter's two questions in the pipeline: may this call go ahead, and what did it use?

Asked only when rate-limit emulation is on (``state.ratelimits.enabled``), for Messages and
count_tokens calls from clients (batch items have limits of their own on the real API).
"""

from __future__ import annotations

from mockserver.pipeline.exchange import ApiRequest, MessageReply, Reply
from mockserver.protocol.errors import ApiError
from mockserver.protocol.tokens import count_request
from mockserver.pipeline.root import ServerState

RATE_LIMITED = frozenset({"messages.create", "messages.count_tokens"})


def applies(api: ApiRequest) -> bool:
    return api.endpoint in RATE_LIMITED and api.custom_id is None


def admit(api: ApiRequest, state: ServerState) -> tuple[ApiError | None, int]:
    """The 429 refusing this call (or ``None``), and the input tokens taken for it: the prompt
    minus what the prompt cache would serve, since cache reads do not count toward ITPM."""
    estimate = 0
    body = api.body
    if api.endpoint == "messages.create" and isinstance(body, dict):
        tokens = count_request(body)
        estimate = tokens.total
        if tokens.breakpoints and api.model is not None:
            entry = state.catalog.resolve(api.model)
            if entry is not None:
                split = state.prompt_cache.peek(entry.id, body, tokens, entry.mock.min_cacheable_tokens)
                estimate = split.input_tokens + split.cache_creation
    return state.ratelimits.admit(api.endpoint, api.model, estimate, state.organization_id), estimate


def settle(api: ApiRequest, state: ServerState, reply: Reply, estimate: int) -> None:
    """Charge the output tokens of the reply, and correct the input estimate to what it reports."""
    if api.endpoint != "messages.create" or not isinstance(reply, MessageReply):
        return
    usage = reply.message.get("usage") or {}
    used_input = int(usage.get("input_tokens") or 0) + int(usage.get("cache_creation_input_tokens") or 0)
    state.ratelimits.settle(api.model, input_adjustment=used_input - estimate, output_tokens=int(usage.get("output_tokens") or 0))

"""The default responder: answers every endpoint with zero configuration.

Messages come from the deterministic fake model (:mod:`.synth`), token counts from the shared
estimator, models from the catalog. Other responders (scenarios, cassettes, upstream) sit in
front of it and take the requests they claim.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable

from mockserver.batches.handlers import HANDLERS as BATCH_HANDLERS
from mockserver.pipeline.exchange import ApiRequest, JsonReply, MessageReply, Reply
from mockserver.protocol.catalog import ModelEntry
from mockserver.protocol.errors import not_found
from mockserver.protocol.pagination import paginate, parse_page_query

if TYPE_CHECKING:
    from mockserver.pipeline.root import ServerState

Handler = Callable[[ApiRequest, "ServerState"], Awaitable[Reply | None]]


def message_for(api: ApiRequest, state: "ServerState") -> dict[str, Any]:
    """Validate a Messages body and write the fake model's answer to it (also used for batch items)."""
    draft = state.model.draft(
        api.body, version=api.api_version, beta=api.beta, raw=api.raw_body, batch_item=api.custom_id is not None
    )
    if draft.tokens.breakpoints:  # prompt caching: the usage depends on what earlier calls cached
        usage = state.prompt_cache.apply(draft.model, draft.body, draft.tokens, draft.template["usage"])
        return state.model.message(draft, state.ids, usage=usage)
    return state.model.message(draft, state.ids)


async def _create_message(api: ApiRequest, state: "ServerState") -> Reply:
    return MessageReply(message=message_for(api, state))


async def _count_tokens(api: ApiRequest, state: "ServerState") -> Reply:
    checked = state.rules.count_tokens(api.body, version=api.api_version, beta=api.beta)
    return JsonReply(body={"input_tokens": checked.tokens.total})


async def _list_models(api: ApiRequest, state: "ServerState") -> Reply:
    lifecycles = api.query.getall("lifecycle[]", None) or api.query.getall("lifecycle", None)
    page = parse_page_query(api.query, lenient=state.config.lenient)
    entries = state.catalog.list(set(lifecycles) if lifecycles else None)
    body = paginate(entries, page, lambda e: e.id, ModelEntry.to_model_info, lenient=state.config.lenient)
    return JsonReply(body=body)


async def _retrieve_model(api: ApiRequest, state: "ServerState") -> Reply:
    model_id = api.path_params["model_id"]
    entry = state.catalog.resolve(model_id)
    if entry is None:
        if not (state.config.lenient or state.config.any_model):
            raise not_found(f"model: {model_id}")
        entry = ModelEntry.for_unknown(model_id)
    return JsonReply(body=entry.to_model_info())


HANDLERS: dict[str, Handler] = {
    "messages.create": _create_message,
    "messages.count_tokens": _count_tokens,
    "models.list": _list_models,
    "models.retrieve": _retrieve_model,
    **BATCH_HANDLERS,
}


class DefaultResponder:
    name = "default"

    async def respond(self, api: ApiRequest, state: "ServerState") -> Reply | None:
        handler = HANDLERS.get(api.endpoint)
        return await handler(api, state) if handler is not None else None

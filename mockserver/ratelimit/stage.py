"""The rate-limit stage: admit (or 429) before ``next``, charge the output after, report the buckets.

It acts only while emulation is on (in the request's namespace), on the endpoints the table marks rate-limited, and only for
calls from clients (batch items have limits of their own on the real API). Its answers carry
the buckets' ``anthropic-ratelimit-*`` headers; with emulation off the renderer shows
never-exhausted ones.

With a shared store that cannot be reached, the stage fails closed by default (the store's 503
answers the call) or, with ``fail_open``, lets calls through unlimited until the store is back.
"""

from __future__ import annotations

from typing import Any

from mockserver.cache.prompt_cache import PromptCache
from mockserver.pipeline.exchange import ApiRequest, ErrorReply, EventsReply, JsonReply, MessageReply, Next, Reply
from mockserver.protocol.catalog import ModelCatalog
from mockserver.protocol.endpoints import BY_NAME, COMPLETIONS_CREATE, EITHER_API, MESSAGES_CREATE, is_completion
from mockserver.protocol.tokens import count_request, count_text
from mockserver.ratelimit.limiter import RateLimiter
from mockserver.store.base import StoreUnavailable


class RateLimitStage:
    def __init__(
        self, limiter: RateLimiter, catalog: ModelCatalog, prompt_cache: PromptCache, organization_id: str, *, fail_open: bool = False
    ) -> None:
        self.limiter = limiter
        self.catalog = catalog
        self.prompt_cache = prompt_cache
        self.organization_id = organization_id
        self.fail_open = fail_open

    async def __call__(self, request: ApiRequest, next: Next) -> Reply:
        if not self.limiter.enabled or request.custom_id is not None or not self.limiter.active(request.namespace):
            return await next(request)
        endpoint = BY_NAME.get(request.endpoint)
        if endpoint is None or not endpoint.rate_limited:
            return await next(request)
        try:
            estimate = await self._estimate(request)
            refusal = await self.limiter.admit(request.endpoint, request.model, estimate, self.organization_id, request.namespace)
        except StoreUnavailable:
            if not self.fail_open:
                raise
            return await next(request)  # open: unlimited while the store is away
        if refusal is not None:
            reply: Reply = ErrorReply(error=refusal, origin="ratelimit")
        else:
            reply = await next(request)
            try:
                await self._settle(request, reply, estimate)
            except StoreUnavailable:
                if not self.fail_open:
                    raise
                return reply
        if endpoint.limit_headers:
            try:
                reply.limit_headers = await self.limiter.headers(request.model, request.namespace)
            except StoreUnavailable:
                if not self.fail_open:
                    raise
        return reply

    async def _estimate(self, request: ApiRequest) -> int:
        """The input tokens taken at admission: the prompt minus what the prompt cache would
        serve, since cache reads do not count toward ITPM. Bedrock's and Vertex's Messages calls
        (``request.kind``) are charged as ``/v1/messages`` is; a Text Completions call (and
        Bedrock's invoke with a ``prompt``) takes its prompt's tokens (it has no prompt cache)."""
        body = request.body
        if _completion_call(request):
            prompt = body.get("prompt")
            return count_text(prompt) if isinstance(prompt, str) else 0
        if request.kind != MESSAGES_CREATE or not isinstance(body, dict):
            return 0
        tokens = count_request(body)
        if tokens.breakpoints and request.model is not None:
            entry = self.catalog.resolve(request.model)
            if entry is not None:
                split = await self.prompt_cache.peek(entry.id, body, tokens, entry.mock.min_cacheable_tokens, request.namespace)
                return split.input_tokens + split.cache_creation
        return tokens.total

    async def _settle(self, request: ApiRequest, reply: Reply, estimate: int) -> None:
        """Charge the output tokens of the reply, and correct the input estimate to what it reports.
        A Completion reports no ``usage``: its output is the completion's text counted as the
        estimator counts any text, and its input stays the prompt's count taken at admission."""
        if _completion_call(request):
            text = _completion_text(reply)
            if text:
                await self.limiter.settle(request.model, output_tokens=count_text(text), namespace=request.namespace)
            return
        if request.kind != MESSAGES_CREATE or not isinstance(reply, MessageReply):
            return
        usage = reply.message.get("usage") or {}
        used_input = int(usage.get("input_tokens") or 0) + int(usage.get("cache_creation_input_tokens") or 0)
        await self.limiter.settle(
            request.model,
            input_adjustment=used_input - estimate,
            output_tokens=int(usage.get("output_tokens") or 0),
            namespace=request.namespace,
        )


def _completion_call(request: ApiRequest) -> bool:
    """``POST /v1/complete``, or a Text Completions body through Bedrock's invoke (the body decides there)."""
    if request.kind == COMPLETIONS_CREATE:
        return isinstance(request.body, dict)
    return request.endpoint in EITHER_API and is_completion(request.body)


def _completion_text(reply: Reply) -> str:
    """The completion a reply carries: a JSON Completion's ``completion`` (the first-party shape
    and Bedrock's), or the ``completion`` pieces of its events joined. Other replies (an error,
    recorded or proxied bytes) carry none that is counted."""
    if isinstance(reply, JsonReply):
        return _piece(reply.body)
    if isinstance(reply, EventsReply):
        return "".join(_piece(event.data) for event in reply.events if event.event == "completion")
    return ""


def _piece(data: Any) -> str:
    text = data.get("completion") if isinstance(data, dict) else None
    return text if isinstance(text, str) else ""

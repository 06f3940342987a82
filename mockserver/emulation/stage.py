"""The emulated API: the end of the chain, answering every endpoint with zero configuration.

A table maps each endpoint to its handler (the composition root builds it from the features:
Messages and models here, batches from mockserver/batches/); an endpoint nobody handles is a
404, as on the real API. Messages come from the deterministic fake model (:mod:`.synth`), token
counts from the shared estimator, models from the catalog.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping, Sequence

from mockserver.cache.prompt_cache import PromptCache
from mockserver.emulation.fake_model import FakeModel
from mockserver.ids import IdGenerator
from mockserver.pipeline.exchange import ApiRequest, ErrorReply, JsonReply, MessageReply, Reply
from mockserver.protocol.catalog import ModelCatalog, ModelEntry
from mockserver.protocol.endpoints import BEDROCK_COUNT_TOKENS, COUNT_TOKENS, MESSAGES_CREATE, MODELS_LIST, MODELS_RETRIEVE
from mockserver.protocol.errors import ApiError, not_found
from mockserver.protocol.files import referenced_file_ids
from mockserver.protocol.pagination import paginate, parse_page_query
from mockserver.protocol.tokens import Files

Handler = Callable[[ApiRequest], Awaitable[Reply]]
FileLookup = Callable[[str, Sequence[str]], Awaitable[Files]]
"""``(namespace, file ids) -> the stored files among them`` (the Files API's records)."""


async def resolve_files(lookup: FileLookup | None, request: ApiRequest) -> Files | None:
    """The stored files a Messages body names by ``file_id``, looked up before validation (which
    does no I/O): an id missing from the answer is the API's 404. ``None`` when the body names no
    file (the common case costs one scan of its bytes) or there is no lookup."""
    if lookup is None or (request.raw_body and b"file_id" not in request.raw_body):
        return None
    ids = referenced_file_ids(request.body)
    return await lookup(request.namespace, ids) if ids else None


def _memo_key(request: ApiRequest) -> bytes | None:
    """The bytes that decide the answer, keying the fake model's memos: behind a platform's door
    the model is in the path, so the path is part of the key. ``None``: no bytes (an in-process
    caller's body), no memo."""
    if not request.raw_body:
        return None
    return request.raw_body if request.endpoint == request.kind else request.path.encode() + b"\0" + request.raw_body


class Emulation:
    """The last link: ``await emulation(request)`` answers anything the stages before passed on."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.handlers = dict(handlers)

    async def __call__(self, request: ApiRequest) -> Reply:
        # A platform's endpoint is answered as the first-party one it stands for.
        handler = self.handlers.get(request.endpoint) or self.handlers.get(request.kind)
        if handler is None:
            return ErrorReply(error=ApiError(404, "Not Found", type="not_found_error"), origin="none")
        return await handler(request)


class Messages:
    """``POST /v1/messages`` and ``count_tokens``: validation, then the fake model's answer."""

    def __init__(self, model: FakeModel, prompt_cache: PromptCache, ids: IdGenerator, files: FileLookup | None = None) -> None:
        self.model = model
        self.prompt_cache = prompt_cache
        self.ids = ids
        self.files = files

    def handlers(self) -> dict[str, Handler]:
        return {MESSAGES_CREATE: self.create, COUNT_TOKENS: self.count_tokens}

    async def message(self, request: ApiRequest) -> dict[str, Any]:
        """Validate a Messages body and write the fake model's answer to it (batch items too)."""
        return (await self._message(request))[0]

    async def _message(self, request: ApiRequest) -> tuple[dict[str, Any], bool]:
        """The Message, and whether it is a function of the request's bytes alone but for its id."""
        raw = _memo_key(request)
        files = await resolve_files(self.files, request)
        draft = self.model.draft(
            request.body, version=request.api_version, beta=request.beta, raw=raw, batch_item=request.custom_id is not None,
            files=files,
        )
        if draft.tokens.breakpoints:  # prompt caching: the usage depends on what earlier calls cached
            usage = await self.prompt_cache.apply(draft.model, draft.body, draft.tokens, draft.template["usage"], request.namespace)
            usage["input_tokens"] += draft.fed_back  # a server tool loop's results come on top of the prompt
            return self.model.message(draft, self.ids, usage=usage), False
        pure = raw is not None and files is None and not draft.needs_ids and not draft.runs_code
        return self.model.message(draft, self.ids), pure

    async def create(self, request: ApiRequest) -> Reply:
        message, pure = await self._message(request)
        return MessageReply(message=message, pure=pure)

    async def count_tokens(self, request: ApiRequest) -> Reply:
        files = await resolve_files(self.files, request)
        raw = _memo_key(request)
        total = self.model.count_tokens(request.body, version=request.api_version, beta=request.beta, raw=raw, files=files)
        if request.endpoint == BEDROCK_COUNT_TOKENS:  # Bedrock's CountTokens output (botocore's model)
            return JsonReply(body={"inputTokens": total})
        return JsonReply(body={"input_tokens": total}, pure=raw is not None and files is None)


class Models:
    """``GET /v1/models`` and ``/v1/models/{id}``, from the catalog."""

    def __init__(self, catalog: ModelCatalog, *, lenient: bool, any_model: bool) -> None:
        self.catalog = catalog
        self.lenient = lenient
        self.any_model = any_model

    def handlers(self) -> dict[str, Handler]:
        return {MODELS_LIST: self.list, MODELS_RETRIEVE: self.retrieve}

    async def list(self, request: ApiRequest) -> Reply:
        lifecycles = request.query.getall("lifecycle[]", None) or request.query.getall("lifecycle", None)
        page = parse_page_query(request.query, lenient=self.lenient)
        entries = self.catalog.list(set(lifecycles) if lifecycles else None)
        return JsonReply(body=paginate(entries, page, lambda e: e.id, ModelEntry.to_model_info, lenient=self.lenient))

    async def retrieve(self, request: ApiRequest) -> Reply:
        model_id = request.path_params["model_id"]
        entry = self.catalog.resolve(model_id)
        if entry is None:
            if not (self.lenient or self.any_model):
                raise not_found(f"model: {model_id}")
            entry = ModelEntry.for_unknown(model_id)
        return JsonReply(body=entry.to_model_info())

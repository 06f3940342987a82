"""Text Completions (``POST /v1/complete``), the legacy API: a ``prompt`` of ``\\n\\nHuman:`` /
``\\n\\nAssistant:`` turns in, one ``completion`` out, as JSON or as SSE ``completion`` events.

Only the Claude 1/2 generation answers it (all retired: a default server says 404 ``model:
…``, as for Messages; ``--any-model`` answers them); a newer model refuses with the API's
words. The text comes from the fake model, asked the prompt's last human turn. Wire details and
their evidence: docs/protocol.md "Text Completions".
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

from mockserver.emulation.synth import Synthesizer
from mockserver.ids import IdGenerator
from mockserver.pipeline.exchange import ApiRequest, EventsReply, JsonReply, Reply, SseEvent
from mockserver.protocol.catalog import ModelCatalog
from mockserver.protocol.endpoints import is_completion
from mockserver.protocol.errors import ApiError, invalid_request, not_found
from mockserver.protocol.schema import (
    MSG_BOOL, MSG_DICT, MSG_EXTRA, MSG_FINITE, MSG_FLOAT, MSG_INT, MSG_INT_FRACTION, MSG_LIST, MSG_REQUIRED, MSG_STR,
    RequestSchema, default_schema,
)

Handler = Callable[[ApiRequest], Awaitable[Reply]]
HUMAN = "\n\nHuman:"
ASSISTANT = "\n\nAssistant:"
_LEGACY_MODEL = re.compile(r"^claude-(?:instant-)?[12](?:[.-]|$)|^claude-(?:v\d|instant)")
_TURN = re.compile(r"\n\nHuman:(.*?)(?=\n\nAssistant:|\Z)", re.DOTALL)
# The body's types: SDK 0.49's CompletionCreateParams (the schema's ``completions`` root).
ROOT = "completions"
# The legacy API answers in pydantic v1's words (``max_tokens_to_sample: field required``, which a
# secrets scanner's detector matches); the schema speaks v2's, so its messages are translated. The
# v1 words of the type errors are **unconfirmed** (docs/protocol.md "Text Completions").
_V1_WORDS = {
    MSG_REQUIRED: "field required",
    MSG_EXTRA: "extra fields not permitted",
    MSG_STR: "str type expected",
    MSG_INT: "value is not a valid integer",
    MSG_INT_FRACTION: "value is not a valid integer",
    MSG_FINITE: "value is not a valid integer",
    MSG_FLOAT: "value is not a valid float",
    MSG_BOOL: "value could not be parsed to a boolean",
    MSG_LIST: "value is not a valid list",
    MSG_DICT: "value is not a valid dict",
}


def either(messages: Handler, completions: Handler) -> Handler:
    """For a door that takes both APIs in one body (Bedrock's invoke): the body decides."""

    async def handle(request: ApiRequest) -> Reply:
        return await (completions if is_completion(request.body) else messages)(request)

    return handle


def supports_completions(model_id: str) -> bool:
    """Claude 1.x, 2.x and Instant answer Text Completions; later models only the Messages API."""
    return bool(_LEGACY_MODEL.match(model_id))


class Completions:
    """``completions.create``: validation, then a completion from the fake model."""

    def __init__(
        self, catalog: ModelCatalog, synth: Synthesizer, ids: IdGenerator, *, lenient: bool, any_model: bool,
        schema: RequestSchema | None = None,
    ) -> None:
        self.catalog = catalog
        self.synth = synth
        self.ids = ids
        self.lenient = lenient
        self.any_model = any_model
        self._schema = schema  # the newest line's (default: the packaged one)
        self._types: RequestSchema | None = None  # the line's that has the root, on first use

    async def create(self, request: ApiRequest) -> Reply:
        body = request.body
        model = self.check(body)
        completion, stop_reason, stop = self._write(body)
        ident = self.ids.new("compl")
        bedrock = request.endpoint.startswith("bedrock.")
        if bedrock:  # Bedrock's Claude 2 bodies: completion, stop_reason, stop (AWS's model parameters docs)
            if not request.stream:
                return JsonReply(body={"completion": completion, "stop_reason": stop_reason, "stop": stop})
            chunks = [{"completion": piece, "stop_reason": None, "stop": None} for piece in _pieces(completion)]
            chunks.append({"completion": "", "stop_reason": stop_reason, "stop": stop})
            return EventsReply(events=[SseEvent("completion", chunk) for chunk in chunks])
        if not request.stream:
            return JsonReply(body=_completion(ident, completion, stop_reason, model, stop))
        pieces = _pieces(completion)
        events = [SseEvent("completion", _completion(ident, piece, None, model, None)) for piece in pieces]
        events.insert(min(2, len(events)), SseEvent("ping", {"type": "ping"}))  # as the docs' example stream
        events.append(SseEvent("completion", _completion(ident, "", stop_reason, model, stop)))
        return EventsReply(events=events)

    def check(self, body: Any) -> str:
        """The model's id, once the body passes the API's checks: every field's type by the SDK's
        params (as Messages, even with --lenient), in pydantic v1's words, then the model, then
        the rules (which --lenient relaxes)."""
        if self._types is None:
            self._types = (self._schema or default_schema()).defining(ROOT)
        errors = self._types.check(ROOT, body)
        if errors:
            loc, message = errors[0]
            raise invalid_request(f"{'.'.join(str(part) for part in loc) or 'body'}: {_V1_WORDS.get(message, message)}")
        model = self._model(body["model"])
        if not self.lenient:
            self._ranges(body)
            prompt = body["prompt"]
            if not prompt.startswith(HUMAN):
                raise invalid_request('prompt must start with "\\n\\nHuman:" turn')
            if not prompt.rstrip(" ").endswith(ASSISTANT):
                raise invalid_request('prompt must end with "\\n\\nAssistant:" turn')
        return model

    @staticmethod
    def _ranges(body: dict[str, Any]) -> None:
        """The numbers' ranges, as Messages checks them (its ``temperature`` / ``top_p`` wording is
        the API's); the wording for ``max_tokens_to_sample`` and ``top_k`` is **unconfirmed**."""
        if body["max_tokens_to_sample"] < 1:
            raise invalid_request("max_tokens_to_sample: ensure this value is greater than or equal to 1")
        for name in ("temperature", "top_p"):
            if name in body and not 0 <= body[name] <= 1:
                raise invalid_request(f"{name}: range: 0..1")
        if body.get("top_k", 0) < 0:
            raise invalid_request("top_k: ensure this value is greater than or equal to 0")

    def _model(self, model_id: str) -> str:
        entry = self.catalog.resolve(model_id)
        if entry is None or entry.lifecycle == "retired":
            if self.lenient or self.any_model:
                return model_id  # the stand-in never refuses what a real model might accept
            raise not_found(f"model: {model_id}")
        if not supports_completions(entry.id) and not self.lenient:
            raise ApiError(400, f'"{entry.id}" is not supported on this API. Please use the Messages API instead.', type="invalid_request_error")
        return entry.id

    def _write(self, body: dict[str, Any]) -> tuple[str, str, str | None]:
        """The completion, its stop reason and the stop sequence it met (``\\n\\nHuman:``, the
        one every prompt implies, unless the text ran out of tokens or met one of the caller's)."""
        turns = _TURN.findall(body["prompt"])
        question = turns[-1].strip() if turns else body["prompt"].strip()
        asked: dict[str, Any] = {
            "model": body["model"],
            "max_tokens": body["max_tokens_to_sample"],
            "messages": [{"role": "user", "content": question or "Hello"}],
        }
        if body.get("stop_sequences"):
            asked["stop_sequences"] = body["stop_sequences"]
        generated = self.synth.generate(asked)
        text = "".join(b.get("text", "") for b in generated.content if b.get("type") == "text")
        if generated.stop_reason == "max_tokens":
            return " " + text, "max_tokens", None
        if generated.stop_reason == "stop_sequence":
            return " " + text, "stop_sequence", generated.stop_sequence
        return " " + text, "stop_sequence", HUMAN


def _completion(ident: str, text: str, stop_reason: str | None, model: str, stop: str | None) -> dict[str, Any]:
    """The recorded shape (openllmetry ``test_anthropic_completion_legacy.yaml``, 2024-04):
    ``type, id, completion, stop_reason, model, stop, log_id`` with ``log_id`` equal to ``id``."""
    return {"type": "completion", "id": ident, "completion": text, "stop_reason": stop_reason, "model": model, "stop": stop, "log_id": ident}


def _pieces(text: str) -> list[str]:
    """The completion cut into word-sized deltas (each keeps its leading space; whitespace after
    the last word is a delta of its own, so the deltas join back to the whole completion)."""
    return re.findall(r"\s*\S+|\s+\Z", text) or [text]

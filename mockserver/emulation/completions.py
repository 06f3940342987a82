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
from mockserver.protocol.errors import ApiError, invalid_request, not_found

Handler = Callable[[ApiRequest], Awaitable[Reply]]
HUMAN = "\n\nHuman:"
ASSISTANT = "\n\nAssistant:"
_LEGACY_MODEL = re.compile(r"^claude-(?:instant-)?[12](?:[.-]|$)|^claude-(?:v\d|instant)")
_TURN = re.compile(r"\n\nHuman:(.*?)(?=\n\nAssistant:|\Z)", re.DOTALL)
# The fields /v1/complete takes (the SDK's CompletionCreateParams, 0.49).
_FIELDS = {"model", "prompt", "max_tokens_to_sample", "stop_sequences", "temperature", "top_p", "top_k", "metadata", "stream"}


def either(messages: Handler, completions: Handler) -> Handler:
    """For a door that takes both APIs in one body (Bedrock's invoke): the body decides."""

    async def handle(request: ApiRequest) -> Reply:
        return await (completions if is_completion(request.body) else messages)(request)

    return handle


def is_completion(body: Any) -> bool:
    """A Text Completions body (sent through a door that takes either API, as Bedrock's invoke)."""
    return isinstance(body, dict) and "prompt" in body and "messages" not in body


def supports_completions(model_id: str) -> bool:
    """Claude 1.x, 2.x and Instant answer Text Completions; later models only the Messages API."""
    return bool(_LEGACY_MODEL.match(model_id))


class Completions:
    """``completions.create``: validation, then a completion from the fake model."""

    def __init__(self, catalog: ModelCatalog, synth: Synthesizer, ids: IdGenerator, *, lenient: bool, any_model: bool) -> None:
        self.catalog = catalog
        self.synth = synth
        self.ids = ids
        self.lenient = lenient
        self.any_model = any_model

    async def create(self, request: ApiRequest) -> Reply:
        body = request.body
        model = self._check(body)
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

    def _check(self, body: Any) -> str:
        """The model's id, once the body passes the API's checks (pydantic v1 wording, as the
        legacy API answered: ``max_tokens_to_sample: field required``)."""
        if not isinstance(body, dict):
            raise invalid_request("body: value is not a valid dict")
        for name in ("model", "prompt", "max_tokens_to_sample"):
            if name not in body:
                raise invalid_request(f"{name}: field required")
        for name in sorted(set(body) - _FIELDS):
            raise invalid_request(f"{name}: extra fields not permitted")
        if not isinstance(body["model"], str):
            raise invalid_request("model: str type expected")
        if not isinstance(body["prompt"], str):
            raise invalid_request("prompt: str type expected")
        max_tokens = body["max_tokens_to_sample"]
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise invalid_request("max_tokens_to_sample: value is not a valid integer")
        if max_tokens < 1:
            raise invalid_request("max_tokens_to_sample: ensure this value is greater than or equal to 1")
        stops = body.get("stop_sequences")
        if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
            raise invalid_request("stop_sequences: value is not a valid list")
        model = self._model(body["model"])
        if not self.lenient:
            prompt = body["prompt"]
            if not prompt.startswith(HUMAN):
                raise invalid_request('prompt must start with "\\n\\nHuman:" turn')
            if not prompt.rstrip(" ").endswith(ASSISTANT):
                raise invalid_request('prompt must end with "\\n\\nAssistant:" turn')
        return model

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

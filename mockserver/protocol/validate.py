"""Request validation beyond the schema: the rules the real API applies to a well-typed body.

Order follows the API: schema (types, required and unknown fields) first, then the model, then
the rules below. Only the first problem is reported, as the API does. Messages are the real
API's wording where it is known (docs/protocol.md lists sources and the unconfirmed ones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from mockserver.protocol.versions import LEGACY_VERSION
from mockserver.protocol.catalog import ModelCatalog, ModelEntry
from mockserver.protocol.errors import ApiError, invalid_request, not_found
from mockserver.protocol.files import DOCUMENT_MEDIA_TYPES, file_expired, file_not_found
from mockserver.protocol.media import IMAGE_MEDIA_TYPES, FileFacts, read_base64
from mockserver.protocol.message import RESULT_BLOCK_TYPES
from mockserver.protocol.schema import RequestSchema
from mockserver.protocol.tokens import Files, RequestTokens, count_request

SAMPLING_PARAMS = frozenset({"temperature", "top_p", "top_k"})
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_PDF_PAGES = 100
MAX_CACHE_BREAKPOINTS = 4
MAX_USER_ID = 512
ROLE_ERROR = re.compile(r"^messages\.(\d+)\.role: Input should be ")
SAMPLING_REJECTING_SINCE = "2025-08-05"  # models from Opus 4.1 on reject temperature with top_p
# tool_use/tool_result pairing is checked for models from Sonnet 3.7 on: refusals are quoted for
# it and every later model, while a 2024-06 claude-3-opus call with an unanswered tool_use and a
# tool_result for another id got a 200 (docs/protocol.md, "Tool pairing"). Older (all retired)
# models and --any-model stand-ins are not checked.
PAIRING_CHECKED_SINCE = "2025-02-24"
# The blocks of a server tool loop: an assistant turn ending in one is a paused turn (pause_turn).
SERVER_TOOL_BLOCKS = frozenset({"server_tool_use", "mcp_tool_use"}) | RESULT_BLOCK_TYPES

# (thinking text, signature) -> True/False for our own signatures, None when not checkable.
SignatureCheck = Callable[[str, str], "bool | None"]


@dataclass
class CheckedRequest:
    """A body that passed validation, with what later stages need from it."""

    body: dict[str, Any]
    model: ModelEntry
    tokens: RequestTokens


@dataclass(frozen=True)
class Rules:
    schema: RequestSchema
    catalog: ModelCatalog
    lenient: bool = False
    any_model: bool = False
    signature_check: SignatureCheck | None = None

    # -- entry points --------------------------------------------------------------------------
    # ``files``: the stored files the body names by ``file_id``, resolved by the caller (this module
    # does no I/O); an id missing from it is the API's 404. ``None``: not resolved, not checked.
    def messages(self, body: Any, *, version: str | None, beta: bool, files: Files | None = None) -> CheckedRequest:
        return self._check("beta_messages" if beta else "messages", body, version, count_only=False, files=files)

    def count_tokens(self, body: Any, *, version: str | None, beta: bool, files: Files | None = None) -> CheckedRequest:
        return self._check("beta_count_tokens" if beta else "count_tokens", body, version, count_only=True, files=files)

    def batch_item(self, params: Any, *, version: str | None, beta: bool, files: Files | None = None) -> CheckedRequest:
        """Params of one batch request, validated when the batch processes it (not at create)."""
        checked = self._check("beta_messages" if beta else "messages", params, version, count_only=False, files=files)
        if checked.body.get("stream") is True:
            raise invalid_request('"stream=True" is not supported in the Message Batches API')
        if checked.body.get("max_tokens") == 0 and not self.lenient:
            raise invalid_request("max_tokens: must be greater than or equal to 1")
        return checked

    # -- the pipeline of checks ------------------------------------------------------------------
    def _check(self, root: str, body: Any, version: str | None, *, count_only: bool, files: Files | None = None) -> CheckedRequest:
        legacy = version == LEGACY_VERSION
        allow = SAMPLING_PARAMS if legacy and not count_only else frozenset()
        try:
            self.schema.validate_for(version, root, body, allow_extra=allow)
        except ApiError as error:
            raise _role_error(error, body) from None
        assert isinstance(body, dict)
        model = self._model(body["model"])
        if not self.lenient:
            if not count_only:
                self._max_tokens(body, model)
                self._sampling(body, model, legacy)
                self._stop_sequences(body)
                self._metadata(body)
            self._tools(body)
            self._forced_tools(body, model)
            self._thinking(body, model, count_only)
            self._effort(body, model)
            self._conversation(body, model, legacy, files)
            self._cache_control(body)
        tokens = count_request(body, files)
        if not self.lenient and model.max_input_tokens and tokens.total > model.max_input_tokens:
            raise invalid_request(f"prompt is too long: {tokens.total} tokens > {model.max_input_tokens} maximum")
        return CheckedRequest(body, model, tokens)

    def _model(self, model_id: str) -> ModelEntry:
        entry = self.catalog.resolve(model_id)
        if entry is not None and (entry.lifecycle != "retired" or self.lenient):
            return entry
        if self.lenient or self.any_model:
            return ModelEntry.for_unknown(model_id)
        raise not_found(f"model: {model_id}")

    def _max_tokens(self, body: dict[str, Any], model: ModelEntry) -> None:
        n = body["max_tokens"]
        if n < 0:
            raise invalid_request("max_tokens: must be greater than or equal to 0")
        if model.max_tokens is not None and n > model.max_tokens:
            raise invalid_request(
                f"max_tokens: {n} > {model.max_tokens}, which is the maximum allowed number of output tokens for {model.id}"
            )

    def _sampling(self, body: dict[str, Any], model: ModelEntry, legacy: bool) -> None:
        if not legacy:
            return
        for name in ("temperature", "top_p"):
            if name in body:
                value = body[name]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise invalid_request(f"{name}: Input should be a valid number")
                if not 0 <= value <= 1:
                    raise invalid_request(f"{name}: range: 0..1")
        if "top_k" in body:
            value = body["top_k"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                raise invalid_request("top_k: Input should be a valid integer")
        thinking = body.get("thinking") or {}
        if thinking.get("type") in ("enabled", "adaptive") and body.get("temperature", 1) != 1:
            raise invalid_request("`temperature` may only be set to 1 when thinking is enabled")
        newer = model.released >= SAMPLING_REJECTING_SINCE
        if newer and "temperature" in body and "top_p" in body:
            raise invalid_request("`temperature` and `top_p` cannot both be specified for this model. Please use only one.")

    def _stop_sequences(self, body: dict[str, Any]) -> None:
        for stop in body.get("stop_sequences") or ():
            if stop == "":
                raise invalid_request("stop_sequences: each stop sequence must be non-empty")
            if not stop.strip():
                raise invalid_request("stop_sequences: each stop sequence must contain non-whitespace")

    def _metadata(self, body: dict[str, Any]) -> None:
        user_id = (body.get("metadata") or {}).get("user_id")
        if isinstance(user_id, str) and len(user_id) > MAX_USER_ID:
            raise invalid_request(f"metadata.user_id: String should have at most {MAX_USER_ID} characters")

    def _tools(self, body: dict[str, Any]) -> None:
        tools = body.get("tools") or []
        names: set[str] = set()
        for i, tool in enumerate(tools):
            name = tool.get("name")
            if "input_schema" in tool:  # a custom (client) tool; server tools have fixed names
                if not TOOL_NAME.match(name):
                    raise invalid_request(f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
                schema_type = tool["input_schema"].get("type")
                if schema_type is None:
                    raise invalid_request(f"tools.{i}.custom.input_schema.type: Field required")
                if schema_type != "object":
                    raise invalid_request(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
            if name in names:
                raise invalid_request("tools: Tool names must be unique.")
            names.add(name)
        choice = _forcing_choice(body)
        if choice is not None:
            if not tools:
                raise invalid_request("tool_choice may only be specified while providing tools.")
            if choice["type"] == "tool" and choice.get("name") not in names:
                raise invalid_request(f"Tool '{choice.get('name')}' not found in provided tools")

    def _forced_tools(self, body: dict[str, Any], model: ModelEntry) -> None:
        choice = _forcing_choice(body)
        if choice is not None and not model.mock.forced_tool_use:
            raise invalid_request(f"tool_choice.{choice['type']}: forced tool use is not supported for this model.")

    def _thinking(self, body: dict[str, Any], model: ModelEntry, count_only: bool) -> None:
        thinking = body.get("thinking")
        if not isinstance(thinking, dict):
            return
        kind = thinking.get("type")
        if kind == "disabled":
            return
        if kind not in model.mock.thinking:
            if kind == "enabled" and "adaptive" in model.mock.thinking:
                raise invalid_request(
                    '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and '
                    '"output_config.effort" to control thinking behavior.'
                )
            raise invalid_request(f'"thinking.type.{kind}" is not supported for this model.')
        if kind == "enabled":
            budget = thinking["budget_tokens"]
            if budget < 1024:
                raise invalid_request("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
            if not count_only and budget >= body["max_tokens"]:
                raise invalid_request("`max_tokens` must be greater than `thinking.budget_tokens`.")
        if _forcing_choice(body) is not None:
            raise invalid_request("Thinking may not be enabled when tool_choice forces tool use.")

    def _effort(self, body: dict[str, Any], model: ModelEntry) -> None:
        effort = (body.get("output_config") or {}).get("effort")
        if effort is None:
            return
        if not model.supports("effort", effort):
            # The catalog's capabilities are read-only mappings (MappingProxyType), not dicts.
            offered = model.capabilities.get("effort", {})
            levels = sorted(k for k, v in offered.items() if isinstance(v, Mapping) and v.get("supported"))
            if not levels:  # wording unconfirmed (docs/protocol.md)
                raise invalid_request("This model does not support the effort parameter.")
            # pydantic__pydantic-ai/test_anthropic/test_anthropic_explicit_effort_xhigh_unsupported_model_errors.yaml
            raise invalid_request(f"This model does not support effort level '{effort}'. Supported levels: {', '.join(levels)}.")

    def _cache_control(self, body: dict[str, Any]) -> None:
        marks: list[tuple[str, str]] = []

        def visit(block: Any, path: str) -> None:
            if isinstance(block, dict) and isinstance(block.get("cache_control"), dict):
                marks.append((path, block["cache_control"].get("ttl") or "5m"))

        for i, tool in enumerate(body.get("tools") or []):
            visit(tool, f"tools.{i}")
        system = body.get("system")
        if isinstance(system, list):
            for i, block in enumerate(system):
                visit(block, f"system.{i}")
        for i, message in enumerate(body["messages"]):
            if isinstance(message.get("content"), list):
                for j, block in enumerate(message["content"]):
                    visit(block, f"messages.{i}.content.{j}")
        if len(marks) > MAX_CACHE_BREAKPOINTS:
            raise invalid_request(f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {len(marks)}.")
        seen_5m = False
        for path, ttl in marks:
            if ttl == "1h" and seen_5m:
                raise invalid_request(
                    f"{path}.cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block."
                )
            seen_5m = seen_5m or ttl == "5m"

    # -- the conversation --------------------------------------------------------------------------
    def _conversation(self, body: dict[str, Any], model: ModelEntry, legacy: bool, files: Files | None = None) -> None:
        messages: list[dict[str, Any]] = body["messages"]
        if not messages:
            raise invalid_request("messages: at least one message is required")
        if messages[0].get("role") == "system":
            raise invalid_request("messages.0: use the top-level 'system' parameter for the initial system prompt")
        last = len(messages) - 1
        images = documents = 0
        tool_ids: set[str] = set()
        for i, message in enumerate(messages):
            role, content = message["role"], message["content"]
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            if not blocks or (isinstance(content, str) and content == "" and not (i == last and role == "assistant")):
                if role == "user":
                    raise invalid_request(
                        f"messages.{i}: all messages must have non-empty content except for the optional final assistant message"
                    )
                continue  # an empty assistant turn is accepted anywhere (docs/protocol.md, "Text blocks")
            # A blank text block is refused only when nothing else in its message has content.
            blank_only = all(b.get("type") == "text" and not str(b.get("text", "")).strip() for b in blocks)
            for j, block in enumerate(blocks):
                kind = block.get("type")
                where = f"messages.{i}.content.{j}"
                if kind == "text":
                    self._text(block, i, j, role, last, legacy, blank_only)
                elif kind == "image":
                    images += 1
                    self._image(block, f"{where}.image", files)
                elif kind == "document":
                    documents += 1
                    if role == "assistant" and not legacy:
                        raise invalid_request(f"{where}: document blocks are not supported in assistant messages.")
                    self._document(block, f"{where}.document", files)
                elif kind == "container_upload" and files is not None:
                    _stored(files, block["file_id"])
                elif kind == "tool_result":
                    for k, inner in enumerate(block.get("content") if isinstance(block.get("content"), list) else ()):
                        if inner.get("type") == "image":
                            images += 1
                            self._image(inner, f"{where}.tool_result.content.{k}.image", files)
                        elif inner.get("type") == "document":
                            documents += 1
                            self._document(inner, f"{where}.tool_result.content.{k}.document", files)
                elif kind in ("tool_use", "server_tool_use"):
                    if block["id"] in tool_ids:
                        raise invalid_request("messages: `tool_use` ids must be unique")
                    tool_ids.add(block["id"])
        limit = 600 if (model.max_input_tokens or 0) >= 1_000_000 else 100
        if images + documents > limit:
            raise invalid_request(f"too many images and documents: {images} + {documents} > {limit}")
        if model.released >= PAIRING_CHECKED_SINCE:
            self._tool_pairing(messages)
        self._prefill(messages, model)
        self._thinking_blocks(messages)

    def _text(self, block: dict[str, Any], i: int, j: int, role: str, last: int, legacy: bool, blank_only: bool) -> None:
        text = block["text"]
        final_assistant = i == last and role == "assistant"
        if text == "" and not final_assistant:
            raise invalid_request("messages: text content blocks must be non-empty")
        if text and not text.strip() and blank_only and not final_assistant:
            raise invalid_request("messages: text content blocks must contain non-whitespace text")
        if role == "user" and block.get("citations") and not legacy:
            raise invalid_request(f"messages.{i}.content.{j}.text.citations: citations are not supported in user messages.")

    def _image(self, block: dict[str, Any], where: str, files: Files | None = None) -> None:
        source = block["source"]
        kind = source.get("type")
        if kind == "url":
            if not str(source["url"]).lower().startswith("https://"):
                raise invalid_request("Only HTTPS URLs are supported.")
            return
        if kind == "file" and files is not None:
            stored = _stored(files, source["file_id"])
            if not stored.is_image:
                raise _wrong_file_type(where, stored, "an image")
            if stored.image_size is None:
                raise invalid_request("Could not process image")
            longest = max(stored.image_size)
            if longest > 8000:
                raise invalid_request(f"{where}.source.file: image dimensions exceed max allowed size: {longest} pixels > 8000 pixels")
            return
        if kind != "base64":
            return
        data = source["data"]
        if data == "":
            raise invalid_request(f"{where}.source.base64: image cannot be empty")
        media = read_base64(data)
        if media is None:
            raise invalid_request(f"{where}.source.base64.data: invalid base64 data")
        if media.length > MAX_IMAGE_BYTES:
            raise invalid_request(f"{where}.source.base64: image exceeds 5 MB maximum: {media.length} bytes > {MAX_IMAGE_BYTES} bytes")
        actual = media.image_type
        size = media.image_size
        if actual is None or size is None:
            raise invalid_request("Could not process image")
        declared = source["media_type"]
        if declared in IMAGE_MEDIA_TYPES and actual != declared:
            raise invalid_request(
                f"{where}.source.base64: The image was specified using the {declared} media type, "
                f"but the image appears to be a {actual} image"
            )
        width, height = size
        if max(width, height) > 8000:
            raise invalid_request(
                f"{where}.source.base64.data: image dimensions exceed max allowed size: {max(width, height)} pixels > 8000 pixels"
            )

    def _document(self, block: dict[str, Any], where: str, files: Files | None = None) -> None:
        source = block["source"]
        if source.get("type") == "url" and not str(source["url"]).lower().startswith("https://"):
            raise invalid_request("Only HTTPS URLs are supported.")
        if source.get("type") == "file" and files is not None:
            stored = _stored(files, source["file_id"])
            if stored.mime_type not in DOCUMENT_MEDIA_TYPES:
                raise _wrong_file_type(where, stored, "a document")
            if (stored.pdf_pages or 0) > MAX_PDF_PAGES:
                raise invalid_request(f"A maximum of {MAX_PDF_PAGES} PDF pages may be provided.")
            return
        if source.get("type") != "base64":
            return
        media = read_base64(source["data"])
        pages = media.pdf_pages if media else None
        if pages is None:
            raise invalid_request(f"{where}.source.base64.data: The PDF specified was not valid.")
        if pages > MAX_PDF_PAGES:
            raise invalid_request(f"A maximum of {MAX_PDF_PAGES} PDF pages may be provided.")

    def _tool_pairing(self, messages: list[dict[str, Any]]) -> None:
        turns = _turns(messages)
        for n, (role, _, blocks) in enumerate(turns):
            if role != "assistant":
                continue
            uses = [b["id"] for b in blocks if b.get("type") == "tool_use"]
            if not uses or n == len(turns) - 1:
                continue
            _, next_index, next_blocks = turns[n + 1]
            answered = {b.get("tool_use_id") for b in next_blocks if b.get("type") == "tool_result"}
            missing = [u for u in uses if u not in answered]
            if missing:
                raise invalid_request(
                    f"messages.{next_index}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                    f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
                )
        for n, (role, index, blocks) in enumerate(turns):
            if role != "user":
                continue
            previous = turns[n - 1][2] if n > 0 and turns[n - 1][0] == "assistant" else []
            offered = {b.get("id") for b in previous if b.get("type") == "tool_use"}
            for j, block in enumerate(blocks):
                if block.get("type") == "tool_result" and block.get("tool_use_id") not in offered:
                    raise invalid_request(
                        f"messages.{index}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                    )

    def _prefill(self, messages: list[dict[str, Any]], model: ModelEntry) -> None:
        final = messages[-1]
        if final["role"] != "assistant":
            return
        content = final["content"]
        if isinstance(content, list) and content and content[-1].get("type") in SERVER_TOOL_BLOCKS:
            return  # a paused server tool turn sent back to be continued, not a prefill (docs/protocol.md)
        if not model.mock.prefill:
            raise invalid_request("Prefilling assistant messages is not supported for this model.")
        text = content if isinstance(content, str) else "".join(b.get("text", "") for b in content if b.get("type") == "text")
        if text and text != text.rstrip():
            raise invalid_request("messages: final assistant content cannot end with trailing whitespace")

    def _thinking_blocks(self, messages: list[dict[str, Any]]) -> None:
        """The latest assistant turn's thinking must come back exactly as this server sent it."""
        if self.signature_check is None:
            return
        for i in range(len(messages) - 1, -1, -1):
            if messages[i]["role"] != "assistant":
                continue
            content = messages[i]["content"]
            for j, block in enumerate(content if isinstance(content, list) else ()):
                if block.get("type") == "thinking" and self.signature_check(block["thinking"], block["signature"]) is False:
                    raise invalid_request(
                        f"messages.{i}.content.{j}: `thinking` or `redacted_thinking` blocks in the latest assistant message "
                        "cannot be modified. These blocks must remain as they were in the original response."
                    )
            return


def _stored(files: Files, file_id: str) -> FileFacts:
    """The stored file ``file_id`` names: the API's 404 when there is none (or it has expired)."""
    stored = files.get(file_id)
    if stored is None:
        raise file_not_found(file_id)
    if stored.expired:
        raise file_expired(file_id)
    return stored


def _wrong_file_type(where: str, stored: FileFacts, block: str) -> ApiError:
    """A file whose type the block cannot take: the Files docs' "Invalid file type (400): the file
    type doesn't match the content block type"; the wording is unconfirmed."""
    return invalid_request(f"{where}.source.file: file {stored.id} has type {stored.mime_type}, which {block} block cannot take.")


def _forcing_choice(body: dict[str, Any]) -> dict[str, Any] | None:
    """``tool_choice`` when it forces tool use (type ``any`` or ``tool``), else ``None``."""
    choice = body.get("tool_choice")
    return choice if isinstance(choice, dict) and choice.get("type") in ("any", "tool") else None


def _turns(messages: list[dict[str, Any]]) -> list[tuple[str, int, list[dict[str, Any]]]]:
    """Consecutive same-role messages merged into one turn (the API combines them)."""
    turns: list[tuple[str, int, list[dict[str, Any]]]] = []
    for i, message in enumerate(messages):
        role = message["role"]
        if role == "system":
            continue
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        if turns and turns[-1][0] == role:
            turns[-1][2].extend(blocks)
        else:
            turns.append((role, i, blocks))
    return turns


def _role_error(error: ApiError, body: Any) -> ApiError:
    """The API words a bad role its own way rather than as a pydantic literal error."""
    match = ROLE_ERROR.match(error.message)
    if match and isinstance(body, dict):
        try:
            role = body["messages"][int(match.group(1))]["role"]
        except (KeyError, IndexError, TypeError):
            return error
        if isinstance(role, str):
            return invalid_request(f'messages: Unexpected role "{role}". Allowed roles are "user" or "assistant"')
    return error

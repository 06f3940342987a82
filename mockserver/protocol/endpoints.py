"""The API's endpoints: method, path and the name the pipeline (and scenario rules) call them by."""

from __future__ import annotations

# (method, path, endpoint name)
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("POST", "/v1/messages", "messages.create"),
    ("POST", "/v1/messages/count_tokens", "messages.count_tokens"),
    ("POST", "/v1/messages/batches", "batches.create"),
    ("GET", "/v1/messages/batches", "batches.list"),
    ("GET", "/v1/messages/batches/{batch_id}", "batches.retrieve"),
    ("DELETE", "/v1/messages/batches/{batch_id}", "batches.delete"),
    ("POST", "/v1/messages/batches/{batch_id}/cancel", "batches.cancel"),
    ("GET", "/v1/messages/batches/{batch_id}/results", "batches.results"),
    ("GET", "/v1/models", "models.list"),
    ("GET", "/v1/models/{model_id}", "models.retrieve"),
)
ENDPOINT_NAMES: tuple[str, ...] = tuple(name for _, _, name in ROUTES)

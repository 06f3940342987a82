"""The address a client can reach this server at, for the URLs answers carry (``results_url``)."""

from __future__ import annotations

WILDCARD_HOSTS = ("http://0.0.0.0:", "http://[::]:")


def reachable_base_url(base_url: str, host: str | None) -> str:
    """Where ``results_url`` points: this server (the SDK fetches it verbatim, so a real-API URL
    would leak traffic). ``base_url`` is the address the server listens on; when that is a
    wildcard (``--host 0.0.0.0``) or unknown, the client's ``Host`` header, which it can reach."""
    if base_url and not base_url.startswith(WILDCARD_HOSTS):
        return base_url
    return f"http://{host}" if host else base_url

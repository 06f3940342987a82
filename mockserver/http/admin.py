"""The admin API under ``/_mock/``: script the server over HTTP, from any language or a shell.

    GET    /_mock/rules              the rules, in evaluation order, with hit counts
    POST   /_mock/rules              add rules (JSON, or YAML with a YAML content type)
    DELETE /_mock/rules              drop the rules added at run time
    GET    /_mock/rules/{name}       one rule
    DELETE /_mock/rules/{name}       drop one rule
    POST   /_mock/reset              rules, journal, prompt cache, rate limits (and batches) as at start
    GET    /_mock/journal            the request journal (?since=SEQ, ?limit=N, ?endpoint=NAME)
    DELETE /_mock/journal            forget it
    GET    /_mock/ratelimits         rate-limit settings and bucket levels
    PUT    /_mock/ratelimits         turn emulation on with these limits
    DELETE /_mock/ratelimits         turn it off
    GET    /_mock/chaos/report       chaos mode's report so far (?format=markdown; this worker's)

Every call acts on one namespace: the one ``x-mock-namespace`` (or ``?namespace=``) names,
else the server's default. Who may call it:

- with an admin token (``--admin-token-file``, ``$MOCKSERVER_ADMIN_TOKEN``), every call must
  carry it (``Authorization: Bearer <token>`` or ``x-admin-token``), from anywhere;
- without one, only this machine: the peer must be a loopback address, the ``Host`` header must
  name this machine (a name that resolved here is DNS rebinding), and an ``Origin`` header, which
  browsers send on cross-site calls, must be a local page's.

A body must be JSON or YAML by its content type: a web page can send ``text/plain`` or a form
across sites without asking first, but not those. Admin calls are not journaled: the journal is
what the client under test sent. Everything acts through the :class:`~mockserver.root.Api`, so
with a shared store a change made here is in force in every worker and replica once the call has
answered.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from typing import Any, Awaitable, Callable

import orjson
import yaml
from aiohttp import web
from aiohttp.web_request import BaseRequest

from mockserver.http.body import body_reader
from mockserver.http.sink import whole_response
from mockserver.pipeline.parse import NAMESPACE_HEADER, check_namespace
from mockserver.protocol.endpoints import MB
from mockserver.protocol.errors import ApiError, invalid_request, not_found
from mockserver.protocol.numbers import decimal
from mockserver.ratelimit.limiter import RateLimitConfig
from mockserver.root import Api
from mockserver.scenarios.errors import ScenarioError
from mockserver.documents import DocumentError, Yaml11Scalar, check_document, load_yaml_text

PREFIX = "/_mock"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
LOCAL_NAMES = ("localhost", "0.0.0.0", "::")


Handler = Callable[[BaseRequest, Api, str], Awaitable[web.StreamResponse]]


async def handle(http: BaseRequest, api: Api) -> web.StreamResponse:
    """One admin call: access check, then the handler its method and path name."""
    try:
        refusal = check_access(http, api.config.admin_token)
        if refusal is not None:
            raise refusal
        handler, param = _route(http.method, http.path[len(PREFIX):])
        return await handler(http, api, param)
    except ApiError as error:
        return whole_response(api.error_plan(error))


def _route(method: str, path: str) -> tuple[Handler, str]:
    found = ROUTES.get((method, path))
    if found is not None:
        return found, ""
    if path.startswith("/rules/") and len(path) > len("/rules/"):
        by_name = RULE_ROUTES.get(method)
        if by_name is not None:
            return by_name, path[len("/rules/"):]
    return _unknown, ""


# -- access --------------------------------------------------------------------------------------
def check_access(http: BaseRequest, token: str | None) -> ApiError | None:
    """``None`` when this caller may use the admin API, else the error refusing it."""
    if token is not None:
        given = http.headers.get("x-admin-token")
        if not given:
            scheme, _, value = http.headers.get("authorization", "").partition(" ")
            given = value.strip() if scheme.lower() == "bearer" else ""
        # surrogatepass: a header byte that was not UTF-8 is a wrong token, not an error of ours
        if not given or not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass")):
            return ApiError(
                401,
                "admin API: a valid admin token is required (Authorization: Bearer <token> or x-admin-token)",
                type="authentication_error",
            )
        return None
    peer = http.transport.get_extra_info("peername") if http.transport is not None else None
    host = peer[0] if isinstance(peer, (tuple, list)) and peer else None
    if not is_loopback(host):
        return _forbidden("only clients on this machine may use it")
    named = http.headers.get("Host")  # browsers always send it; an HTTP/1.0 tool may not
    if named is not None and not is_local_name(_hostname(named)):
        return _forbidden("the Host header must name this machine (localhost, 127.0.0.1, [::1]); another name that "
                          "reaches this port is DNS rebinding")
    origin = http.headers.get("Origin")
    if origin is not None and not is_local_name(_hostname(origin.partition("://")[2] or origin)):
        return _forbidden(f"a page at {origin} may not call it (a browser's cross-site request)")
    return None


def _forbidden(why: str) -> ApiError:
    return ApiError(403, f"admin API: {why}, unless the server has an admin token (--admin-token-file or "
                         "$MOCKSERVER_ADMIN_TOKEN)", type="permission_error")


def _hostname(authority: str) -> str:
    """``[::1]:8787`` -> ``::1``; ``localhost:8787`` -> ``localhost``."""
    authority = authority.strip()
    if authority.startswith("["):
        return authority[1:].partition("]")[0]
    return authority.rpartition(":")[0] if authority.count(":") == 1 else authority


def is_local_name(name: str) -> bool:
    name = name.lower().rstrip(".")
    return name in LOCAL_NAMES or name.endswith(".localhost") or is_loopback(name)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


# -- handlers ------------------------------------------------------------------------------------
def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body, default=str), content_type="application/json")


def namespace_of(http: BaseRequest, api: Api) -> str:
    """The namespace an admin call acts on: its header, else ``?namespace=``, else the default."""
    given = http.headers.get(NAMESPACE_HEADER)
    if given is not None:
        return check_namespace(given)
    given = http.query.get("namespace")
    if given is not None:
        return check_namespace(given, "namespace")
    return api.default_namespace


async def _index(http: BaseRequest, api: Api, _: str) -> web.StreamResponse:
    namespace = namespace_of(http, api)
    await api.admin.sync()
    return _json({
        "endpoints": [f"{PREFIX}/rules", f"{PREFIX}/reset", f"{PREFIX}/journal", f"{PREFIX}/ratelimits"],
        "namespace": namespace,
        "rules": len(api.book.rules_for(namespace)),
        "journal": len(await api.journal.read(namespace)) if api.journal.on else None,  # None: kept none (--journal-limit 0)
        "scenario_files": [str(p) for p in api.book.files],
        "rate_limits": api.limiter.active(namespace),
        "state": getattr(api.store, "description", "local"),
        "worker": {"index": api.config.worker, "pid": os.getpid()},
    })


async def _list_rules(http: BaseRequest, api: Api, _: str) -> web.StreamResponse:
    return _json({"data": [rule.to_json() for rule in await api.rules_for(namespace_of(http, api))]})


async def _read_document(http: BaseRequest, api: Api, yaml11: dict[tuple[Any, ...], Yaml11Scalar] | None = None) -> Any:
    """The body, JSON or YAML; ``yaml11`` gathers a YAML body's YAML-1.1-only scalars (load_yaml_text)."""
    raw = await body_reader(http, api.config.connections.body_timeout)(MB)
    if not raw.strip():
        raise invalid_request("admin API: the body is empty (send a rule, a list of rules, or {rules, rate_limits})")
    mime = http.content_type
    if mime not in YAML_TYPES and mime != "application/json" and not mime.endswith("+json"):
        raise ApiError(415, f"admin API: send the body as JSON or YAML (Content-Type: application/json or application/yaml), "
                            f"not {mime}", type="invalid_request_error")
    if mime in YAML_TYPES:
        try:
            # No aliases from the network: a few nested ``*refs`` can stand for billions of nodes
            # ("billion laughs"); nesting is bounded too. Scenario files, which the user writes,
            # may still use aliases.
            return load_yaml_text(raw, allow_aliases=False, yaml11=yaml11)
        except yaml.YAMLError as exc:
            raise invalid_request(f"admin API: invalid YAML: {exc}") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid_request(f"admin API: the body is not valid JSON: {exc}") from None


async def _add_rules(http: BaseRequest, api: Api, _: str) -> web.StreamResponse:
    namespace = namespace_of(http, api)
    yaml11: dict[tuple[Any, ...], Yaml11Scalar] = {}
    document = await _read_document(http, api, yaml11)
    try:
        rules = await api.add_rules(document, namespace=namespace, source="<admin>", label="admin", yaml11=yaml11)
    except ScenarioError as exc:
        raise invalid_request(str(exc)) from None
    return _json({"data": [rule.to_json() for rule in rules]}, status=201)


async def _clear_rules(http: BaseRequest, api: Api, _: str) -> web.StreamResponse:
    return _json({"deleted": await api.clear_rules(namespace=namespace_of(http, api))})


async def _get_rule(http: BaseRequest, api: Api, name: str) -> web.StreamResponse:
    rule = next((r for r in await api.rules_for(namespace_of(http, api)) if r.name == name), None)
    if rule is None:
        raise not_found(f"admin API: no rule named {name!r}")
    return _json(rule.to_json())


async def _delete_rule(http: BaseRequest, api: Api, name: str) -> web.StreamResponse:
    if not await api.remove_rule(name, namespace=namespace_of(http, api)):
        raise not_found(f"admin API: no rule named {name!r}")
    return _json({"deleted": 1})


async def _reset(http: BaseRequest, api: Api, _: str) -> web.StreamResponse:
    await api.reset(namespace_of(http, api))
    return _json({"reset": True})


async def _journal(http: BaseRequest, api: Api, _: str) -> web.StreamResponse:
    query = http.query
    namespace = namespace_of(http, api)
    since = decimal(query.get("since", "0"))  # a sequence number and a count: no sign
    limit = decimal(query["limit"]) if "limit" in query else None
    if since is None or (limit is None and "limit" in query):
        raise invalid_request("admin API: since and limit must be whole numbers (digits 0-9)")
    endpoint = query.get("endpoint")
    entries = [e for e in await api.journal.read(namespace, since=since) if endpoint is None or e.endpoint == endpoint]
    if limit is not None:
        entries = entries[-limit:] if limit > 0 else []
    # Each entry renders itself (and never fails to: JournalEntry.render); one entry's body sits
    # no deeper than it would alone.
    body = b'{"data":[' + b",".join(entry.render() for entry in entries) + b"]}"
    return web.Response(body=body, content_type="application/json")


async def _clear_journal(http: BaseRequest, api: Api, _: str) -> web.StreamResponse:
    await api.journal.clear(namespace_of(http, api))
    return _json({"cleared": True})


async def _get_limits(http: BaseRequest, api: Api, _: str) -> web.StreamResponse:
    await api.admin.sync()
    return _json(await api.limiter.to_json(namespace_of(http, api)))


async def _put_limits(http: BaseRequest, api: Api, _: str) -> web.StreamResponse:
    namespace = namespace_of(http, api)
    document = await _read_document(http, api)
    try:
        check_document(document, source="<admin>")
        config = RateLimitConfig.parse(document, source="<admin>", path="ratelimits")
    except DocumentError as exc:
        raise invalid_request(f"admin API: {exc}") from None
    await api.set_rate_limits(config, namespace=namespace)
    return _json(await api.limiter.to_json(namespace))


async def _delete_limits(http: BaseRequest, api: Api, _: str) -> web.StreamResponse:
    namespace = namespace_of(http, api)
    await api.set_rate_limits(None, namespace=namespace)
    return _json(await api.limiter.to_json(namespace))


async def _chaos_report(http: BaseRequest, api: Api, _: str) -> web.StreamResponse:
    """Chaos mode's live report (mockserver/chaos/): JSON, or ``?format=markdown``."""
    if api.chaos is None:
        raise not_found("admin API: chaos mode is off (start the server with --chaos SEED)")
    report = api.chaos.report()
    if http.query.get("format") in ("markdown", "md", "text"):
        from mockserver.chaos.report import render_markdown

        return web.Response(text=render_markdown(report), content_type="text/markdown")
    return _json(report)


async def _unknown(http: BaseRequest, api: Api, _: str) -> web.StreamResponse:
    raise not_found(f"admin API: no such endpoint {http.method} {http.path}")


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", ""): _index,
    ("GET", "/"): _index,
    ("GET", "/rules"): _list_rules,
    ("POST", "/rules"): _add_rules,
    ("DELETE", "/rules"): _clear_rules,
    ("POST", "/reset"): _reset,
    ("GET", "/journal"): _journal,
    ("DELETE", "/journal"): _clear_journal,
    ("GET", "/ratelimits"): _get_limits,
    ("PUT", "/ratelimits"): _put_limits,
    ("DELETE", "/ratelimits"): _delete_limits,
    ("GET", "/chaos/report"): _chaos_report,
}
RULE_ROUTES: dict[str, Handler] = {"GET": _get_rule, "DELETE": _delete_rule}

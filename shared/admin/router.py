"""Every path under ``/admin/`` (and the panel's page at ``GET /``): one table, one ``handle``.

:data:`ROUTES` is the single list of what the admin side serves: ``handle`` dispatches on it, and
the OpenAPI document (:mod:`.openapi`) is generated from it, so the two cannot drift apart.

Order of checks for an API endpoint: path and method (404 / 405), the config loaded, admin
identity (:mod:`.auth`: 404 ``admin_disabled``, 401, 403), then the handler. Every JSON answer is
scrubbed of the running config's provider secrets before it leaves, a last guard behind the
field masking (a key pasted into ``notes``, an upstream echoing a key).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope

from ..errors import GatewayError
from ..gateway import Gateway
from ..store import StoreUnavailable
from . import auth, config_api, config_ops, observe, openapi, probe, resources, writes
from .web import AdminCall, error_reply

log = logging.getLogger("gateway")

Handler = Callable[[AdminCall], Awaitable[Response]]
Direct = Callable[[Gateway, Scope, Receive, dict[str, str]], Awaitable[Response]]  # answers on its own (auth, panel, status)

API = "/admin/api"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # OpenAPI template: ``/admin/api/providers/{name}``
    summary: str
    handler: Handler | None = None
    direct: Direct | None = None
    auth: bool = True  # needs an admin identity
    disabled_ok: bool = False  # answers even when admin is disabled (status, the panel's files)
    body: str | None = None  # schema name (:mod:`.openapi`) of the request body
    answer: str | None = None  # schema name of the success answer
    status: int = 200
    query: tuple[tuple[str, bool, str], ...] = ()  # (name, required, description)
    tag: str = "config"
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m[1]}>.+)", re.escape(self.path))
        object.__setattr__(self, "pattern", re.compile(regex))


async def _login(gateway: Gateway, scope: Scope, receive: Receive, params: dict[str, str]) -> Response:
    return await auth.login(gateway, scope, receive)


async def _logout(gateway: Gateway, scope: Scope, receive: Receive, params: dict[str, str]) -> Response:
    return await auth.logout(gateway, scope, receive)


async def _session(gateway: Gateway, scope: Scope, receive: Receive, params: dict[str, str]) -> Response:
    return await auth.session(gateway, scope, receive)


async def _status(gateway: Gateway, scope: Scope, receive: Receive, params: dict[str, str]) -> Response:
    return await observe.status(gateway)


async def _openapi(call: AdminCall) -> Response:
    from .web import reply

    return reply(openapi.document(ROUTES))


def _panel() -> Any:
    """The panel module (another part of the package), or None in a build without it."""
    try:
        from . import panel  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    return panel


def _no_panel() -> Response:
    return error_reply(GatewayError(404, "The admin panel is not part of this build.", code="unknown_url"))


async def _index(gateway: Gateway, scope: Scope, receive: Receive, params: dict[str, str]) -> Response:
    panel = _panel()
    return panel.index() if panel is not None else _no_panel()  # type: ignore[no-any-return,unused-ignore]


async def _asset(gateway: Gateway, scope: Scope, receive: Receive, params: dict[str, str]) -> Response:
    panel = _panel()
    found = panel.asset(params["name"], Headers(scope=scope).get("if-none-match")) if panel is not None else None
    return found if isinstance(found, Response) else error_reply(GatewayError(404, f"No such file: {params['name']}", code="unknown_url"))


VERSION = (("version", True, "the config version this change is based on"),)

ROUTES: tuple[Route, ...] = (
    Route("GET", f"{API}/status", "Whether admin is enabled, and the gateway's version", direct=_status, auth=False,
          disabled_ok=True, answer="Status", tag="auth"),
    Route("POST", f"{API}/login", "Log in with an admin key: a session cookie and a CSRF token", direct=_login, auth=False,
          body="Login", answer="Session", tag="auth"),
    Route("POST", f"{API}/logout", "End the session", direct=_logout, status=204, tag="auth"),
    Route("GET", f"{API}/session", "The current session (its CSRF token again)", direct=_session, answer="Session", tag="auth"),
    Route("GET", f"{API}/openapi.json", "This document", handler=_openapi, auth=False, answer="Object", tag="meta"),
    Route("GET", f"{API}/config", "The config document, secrets masked", config_api.get_config, answer="Config"),
    Route("PUT", f"{API}/config", "Replace the config document", config_api.put_config, body="ConfigWrite", answer="ConfigWritten"),
    Route("GET", f"{API}/config.yaml", "The config document as YAML, secrets masked (version in X-Config-Version)",
          config_api.get_config_yaml, answer="Yaml"),
    Route("PUT", f"{API}/config.yaml", "Replace the config document with YAML text", config_api.put_config_yaml, body="Yaml",
          answer="ConfigWritten", query=VERSION),
    Route("POST", f"{API}/config/validate", "Check a config document without saving it", config_api.validate, body="ConfigCheck",
          answer="Validation"),
    Route("POST", f"{API}/config/reimport", "Re-seed the config from the file or environment config", config_api.reimport,
          body="VersionOnly", answer="ConfigWritten"),
    Route("GET", f"{API}/providers", "Providers, secrets masked, with the detected engine and upstream URL", resources.list_providers,
          answer="Providers", tag="providers"),
    Route("POST", f"{API}/providers", "Add a provider", resources.create_provider, body="ProviderWrite", answer="ProviderWritten",
          status=201, tag="providers"),
    Route("POST", f"{API}/providers/preview", "Engine and upstream URL of a provider being edited (no network)", probe.preview_provider,
          body="ProviderOnly", answer="Preview", tag="providers"),
    Route("POST", f"{API}/providers/models", "The provider's model list, fetched from its upstream", probe.fetch_models,
          body="ProviderOnly", answer="Models", tag="providers"),
    Route("PUT", f"{API}/providers/{{name}}", "Replace (or rename) a provider", resources.update_provider, body="ProviderWrite",
          answer="ProviderWritten", tag="providers"),
    Route("DELETE", f"{API}/providers/{{name}}", "Remove a provider (and its model mappings)", resources.delete_provider,
          answer="VersionOnly", query=VERSION, tag="providers"),
    Route("POST", f"{API}/providers/{{name}}/test", "One max_tokens=1 chat request through the provider", probe.test_provider,
          body="TestRequest", answer="TestResult", tag="providers"),
    Route("GET", f"{API}/keys", "Gateway keys, masked", resources.list_keys, answer="Keys", tag="keys"),
    Route("POST", f"{API}/keys", "Create a gateway key (its secret is shown once, in this answer)", resources.create_key,
          body="KeyWrite", answer="KeyWritten", status=201, tag="keys"),
    Route("PUT", f"{API}/keys/{{id}}", "Change a gateway key's role, models or preferences", resources.update_key, body="KeyWrite",
          answer="KeyWritten", tag="keys"),
    Route("DELETE", f"{API}/keys/{{id}}", "Revoke a gateway key", resources.delete_key, answer="VersionOnly", query=VERSION, tag="keys"),
    Route("GET", f"{API}/mappings", "Model mappings: unified name -> {provider: upstream model}", resources.list_mappings,
          answer="Mappings", tag="mappings"),
    Route("PUT", f"{API}/mappings/{{name}}", "Set a model mapping", resources.put_mapping, body="MappingWrite", answer="MappingsWritten",
          tag="mappings"),
    Route("DELETE", f"{API}/mappings/{{name}}", "Remove a model mapping", resources.delete_mapping, answer="VersionOnly", query=VERSION,
          tag="mappings"),
    Route("GET", f"{API}/health", "Channels and keys in cooldown, recent failures", observe.health, answer="Health", tag="observe"),
    Route("GET", f"{API}/usage", "Requests and tokens per day, key, model and provider", observe.usage, answer="Usage",
          query=(("days", False, "days back from today, 1-90 (default 7)"),), tag="observe"),
    Route("GET", f"{API}/audit", "Config changes, newest first", observe.audit, answer="Audit",
          query=(("limit", False, "entries, 1-1000 (default 50)"),), tag="observe"),
    Route("GET", "/", "The admin panel's page (browsers; other clients get /healthz's answer)", direct=_index, auth=False,
          disabled_ok=True, answer="Html", tag="panel"),
    Route("GET", "/admin/static/{name}", "The admin panel's scripts and styles", direct=_asset, auth=False, disabled_ok=True,
          answer="File", tag="panel"),
)


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | list[str]:
    """The route and its path parameters, or the methods the path allows (empty: unknown path)."""
    allowed: list[str] = []
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if found is None:
            continue
        if route.method == method or (method == "HEAD" and route.method == "GET"):
            return route, found.groupdict()
        allowed.append(route.method)
    return allowed


def _scrubbed(response: Response, secrets: set[str]) -> Response:
    """The answer with any provider secret in its body masked (normally there is none to find)."""
    body = bytes(response.body)
    found = [s for s in secrets if s.encode() in body]
    if not found:
        return response
    log.warning("admin answer carried a provider secret; masked before sending")
    for secret in sorted(found, key=len, reverse=True):
        body = body.replace(secret.encode(), config_ops.mask_secret(secret).encode())
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(body, status_code=response.status_code, headers=headers)


def _trace_key(scope: Scope, key_id: str) -> None:
    """The admin key id on the request's access-log line, as API requests carry theirs."""
    from ..app import TRACE

    trace = scope.get(TRACE)
    if trace is not None:
        trace.key_id = key_id


async def handle(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    """Answer one request under ``/admin/`` (or ``GET /``)."""
    path, method = scope["path"], scope["method"]
    found = match(method, path)
    if isinstance(found, list):
        if found:
            allow = ", ".join(dict.fromkeys(found))
            return error_reply(GatewayError(405, f"Method {method} is not allowed on {path}.", code="method_not_allowed",
                                            headers={"allow": allow}))
        return error_reply(GatewayError(404, f"Unknown admin path {path}; GET {API}/openapi.json lists the admin API.", code="unknown_url"))
    route, params = found
    try:
        if route.direct is not None:
            return await route.direct(gateway, scope, receive, params)
        runtime = await gateway.ready()
        identity = None
        if route.auth:
            identity = await auth.require_admin(gateway, runtime, scope)
            _trace_key(scope, identity.key_id)
        elif not route.disabled_ok and not auth.admin_enabled(runtime, gateway.settings):
            raise GatewayError(404, "The admin API is disabled: set ADMIN_API_KEY or add a key with role admin.", code="admin_disabled")
        assert route.handler is not None
        response = await route.handler(AdminCall(gateway, runtime, scope, receive, params, identity))
        return _scrubbed(response, writes.runtime_secrets(runtime, gateway.runtime))
    except GatewayError as exc:
        extra = getattr(exc, "extra", None)  # e.g. a conflict's current "version"
        return error_reply(exc, **(extra if isinstance(extra, dict) else {}))
    except StoreUnavailable as exc:  # the config and audit live only in the shared store: no fallback to answer from
        log.warning("admin API: %s on %s %s", exc, method, path)
        return error_reply(GatewayError(503, "The shared store did not answer; the config cannot be read or changed right now.",
                                        code="store_unavailable", headers={"retry-after": "5"}))
    except Exception:
        log.exception("admin API: unhandled error on %s %s", method, path)
        return error_reply(GatewayError(500, "The gateway hit an internal error; it has been logged.", code="internal_error"))

"""The ASGI application: every door (local, Vercel, Lambda, Cloud Functions) serves this object.

Routes: ``POST /v1/chat/completions``, the other OpenAI endpoints (embeddings, images, audio,
moderations: :data:`.media.MEDIA`), ``POST /v1/responses`` (:mod:`.inbound.responses`),
``POST /v1/messages`` (:mod:`.inbound.anthropic`, Anthropic's error shape), ``GET /v1/models``,
``GET /healthz`` (the ``/v1`` prefix is optional), the admin API and panel under ``/admin/`` (``GET /``
in a browser). Every other error is an OpenAI error object.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from . import __version__
from .config import GatewayConfig
from .cors import CorsPolicy
from .dispatch import Answer
from .errors import GatewayError
from .gateway import Gateway
from .logs import RequestLog, setup
from .media import MEDIA, Cut, MediaOperation
from .multipart import parse_form
from .operations import CHAT_COMPLETIONS
from .routing import KeyPolicy
from .runtime import Runtime
from .settings import Settings
from .store import Store

log = logging.getLogger("gateway")

TRACE = "gateway.request"  # the scope key of the request's RequestLog
BODY = "gateway.body"  # the scope key of the request body once read (a request run again reads it from there)
# Error codes a newer config could turn into an answer (a new key, model or channel; a change seen by admit):
# before answering one of them, the gateway checks the store's config version and runs the request again on
# a newer config (see Gateway.refresh).
RECHECK = frozenset({"config_changed", "invalid_api_key", "model_not_found", "model_not_allowed", "unsupported_endpoint"})
REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")  # a client's x-request-id is echoed only if it is this tame


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def error_response(exc: GatewayError) -> Response:
    return Response(exc.json_bytes(), status_code=exc.status, media_type="application/json", headers=exc.headers)


async def read_body(scope: Scope, receive: Receive, settings: Settings) -> bytes:
    """The request body, refusing one over ``MAX_REQUEST_BYTES`` before reading it all and one that
    does not arrive within ``REQUEST_BODY_TIMEOUT_SECONDS`` (a client dripping bytes must not hold
    an instance)."""
    limit = settings.max_body_bytes
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > limit:
                raise GatewayError(413, f"Request body too large: {value.decode()} bytes; the limit is {limit} bytes.",
                                   code="request_too_large")
            break
    pieces: list[bytes] = []
    size = 0
    more = True
    try:
        async with asyncio.timeout(settings.body_timeout):
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise GatewayError(400, "The client disconnected before sending the whole body.", code="client_disconnected")
                piece = message.get("body", b"")
                size += len(piece)
                if size > limit:
                    raise GatewayError(413, f"Request body too large; the limit is {limit} bytes.", code="request_too_large")
                pieces.append(piece)
                more = message.get("more_body", False)
    except TimeoutError:
        raise GatewayError(408, f"The request body did not arrive within {settings.body_timeout:g}s.", code="request_timeout") from None
    body = scope[BODY] = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    return body


def replay(scope: Scope, receive: Receive) -> Receive:
    """``receive`` for running a request again: its body as read the first time, if it was."""
    body = scope.get(BODY)
    if body is None:
        return receive
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # after the body: whatever the server has (a disconnect)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def parse_json(raw: bytes, max_containers: int) -> dict[str, Any]:
    """The body as a JSON object. Parse cost is bounded first: a body of ``{},{},…`` costs ~28 times
    its size in memory as Python objects, so one with more than ``max_containers`` objects and arrays
    (counted on the raw bytes, in C, before parsing; braces inside strings count too, which only
    makes the bound safer) is refused."""
    if len(raw) > max_containers and raw.count(b"{") + raw.count(b"[") > max_containers:
        raise GatewayError(413, f"The request body has more than {max_containers} JSON objects and arrays; "
                                "raise MAX_REQUEST_JSON_CONTAINERS to allow it.", code="request_too_large")
    try:
        body = json.loads(raw)
    except ValueError:
        raise GatewayError(400, "The request body is not valid JSON.", code="invalid_json") from None
    except RecursionError:  # a few kilobytes of "[[[[..." would otherwise be a 500
        raise GatewayError(400, "The request body is nested too deeply.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


async def read_json(scope: Scope, receive: Receive, settings: Settings) -> tuple[dict[str, Any], bytes]:
    """The request body as a JSON object, and its bytes (forwarded as they are when nothing changes)."""
    raw = await read_body(scope, receive, settings)
    return parse_json(raw, settings.max_json_containers), raw


def check_chat_body(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        if model is None or model == "":
            raise GatewayError(400, "you must provide a model parameter", param="model", code="missing_required_parameter")
        raise GatewayError(400, "'model' must be a string", param="model", code="invalid_type")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise GatewayError(400, "'messages' must be a non-empty array of message objects", param="messages",
                           code="missing_required_parameter" if messages is None else "invalid_type")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise GatewayError(400, "every message must be an object with a 'role'", param="messages", code="invalid_type")
    if "stream" in body and not isinstance(body["stream"], bool) and body["stream"] is not None:
        raise GatewayError(400, "'stream' must be a boolean", param="stream", code="invalid_type")
    return model


def render(answer: Answer) -> Response:
    """An :class:`Answer` as a Starlette response: streamed as it arrives, or whole with its
    ``after`` step (usage accounting) run once the body was sent."""
    if answer.stream is not None:
        return StreamingResponse(answer.stream, status_code=answer.status, media_type=answer.media_type, headers=answer.headers)
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type, headers=answer.headers,
                    background=BackgroundTask(answer.after) if answer.after is not None else None)


Endpoint = Callable[[Gateway, Scope, Receive], Awaitable[Response]]


def trace_of(scope: Scope) -> RequestLog:
    """The request's access-log record (set by :class:`GatewayApp`; a fresh one for a bare app call)."""
    trace = scope.get(TRACE)
    return trace if isinstance(trace, RequestLog) else RequestLog(new_request_id(), scope.get("method", ""), scope.get("path", ""))


def failed(trace: RequestLog, exc: GatewayError) -> Response:
    trace.error = exc.code or exc.type
    return error_response(exc)


async def chat_completions(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    started = time.perf_counter()
    trace = trace_of(scope)
    try:
        runtime = await gateway.ready()
        policy = gateway.authenticate(Headers(scope=scope), runtime)
        trace.key_id = policy.key_id
        body, raw = await read_json(scope, receive, gateway.settings)
        trace.model = model = check_chat_body(body)
        return render(await runtime.dispatcher.run(CHAT_COMPLETIONS, policy, body, model, started, raw, trace=trace))
    except GatewayError as exc:
        return failed(trace, exc)
    except Exception:
        log.exception("unhandled error (request %s)", trace.request_id)
        return failed(trace, GatewayError(500, "The gateway hit an internal error; it has been logged.", code="internal_error"))


class RelayedStream(StreamingResponse):
    """A stream whose end marks a break (:class:`.media.Cut`, binary audio) by not ending the body:
    the connection closes mid-answer, so the client sees an error rather than a short file."""

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        cut = False
        async for chunk in self.body_iterator:
            if isinstance(chunk, Cut):
                cut = True  # read on: the dispatcher records the request once the stream ends
            elif chunk:
                await send({"type": "http.response.body", "body": chunk.encode() if isinstance(chunk, str) else chunk, "more_body": True})
        if not cut:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def media_endpoint(op: MediaOperation) -> Endpoint:
    """The handler of a non-chat endpoint: the same steps as chat (auth, body, dispatch, errors),
    with a JSON body or a multipart upload, and the answer in whatever form the operation gives."""

    async def handler(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
        started = time.perf_counter()
        trace = trace_of(scope)
        try:
            runtime = await gateway.ready()
            headers = Headers(scope=scope)
            policy = gateway.authenticate(headers, runtime)
            trace.key_id = policy.key_id
            raw = await read_body(scope, receive, gateway.settings)
            if op.multipart:
                body: dict[str, Any] = parse_form(raw, headers.get("content-type"))
            else:
                body = parse_json(raw, gateway.settings.max_json_containers)
            trace.model = model = op.check(body, policy)
            answer = await runtime.dispatcher.run(op, policy, body, model, started, None if op.multipart else raw, trace=trace)
            if answer.stream is not None:
                return RelayedStream(answer.stream, status_code=answer.status, media_type=answer.media_type, headers=answer.headers)
            return render(answer)
        except GatewayError as exc:
            return failed(trace, exc)
        except Exception:
            log.exception("unhandled error (request %s)", trace.request_id)
            return failed(trace, GatewayError(500, "The gateway hit an internal error; it has been logged.", code="internal_error"))

    return handler


async def anthropic_messages(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    """``POST /v1/messages`` for Anthropic clients (shared/inbound/anthropic), imported on first use."""
    from .inbound.anthropic import routes

    return await routes.messages(gateway, scope, receive)


async def anthropic_count_tokens(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    from .inbound.anthropic import routes

    return await routes.count_tokens(gateway, scope, receive)


async def responses(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    """``POST /v1/responses`` (:mod:`.inbound.responses`, imported on first use)."""
    from .inbound.responses.endpoint import create_response

    return await create_response(gateway, scope, receive)


async def stored_responses(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    """``/v1/responses/{id}…``: a 400, this gateway stores no responses."""
    from .inbound.responses.endpoint import stored_response

    return await stored_response(gateway, scope, receive)


# The API endpoints, answered straight from the ASGI call (see GatewayApp); the ``/v1`` prefix is optional.
ENDPOINTS: dict[str, Endpoint] = {
    "/v1/chat/completions": chat_completions,
    "/chat/completions": chat_completions,
    **{prefix + path: media_endpoint(op) for path, op in MEDIA.items() for prefix in ("/v1", "")},
    "/v1/messages": anthropic_messages,
    "/messages": anthropic_messages,
    "/v1/messages/count_tokens": anthropic_count_tokens,
    "/messages/count_tokens": anthropic_count_tokens,
    "/v1/responses": responses,
    "/responses": responses,
}


class GatewayApp:
    """The ASGI entry point. ``POST`` to an API endpoint (:data:`ENDPOINTS`) — the hot path — is
    answered directly; every other request goes through the Starlette app (routing, 404/405,
    lifespan).

    Why: Starlette's router, exception middleware and Request objects cost a measured ~7% of the
    CPU of a forwarded request; one dict lookup costs nothing. The endpoint handler is the same
    function either way, so behaviour does not depend on the route taken.
    """

    def __init__(self, gateway: Gateway, app: Starlette) -> None:
        self.gateway = gateway
        self.app = app
        self.state = app.state
        self.cors = CorsPolicy(gateway.settings.cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if len(path) > 1 and path[-1] == "/":
            # ``/v1/models/`` is served as ``/v1/models``: no redirect, since a redirect's absolute URL
            # would be built from the client's own Host header.
            path = scope["path"] = path.rstrip("/") or "/"
        request_id = origin = preflight = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value
            elif name == b"origin":
                origin = value
            elif name == b"access-control-request-headers":
                preflight = value
        rid = request_id.decode("latin-1") if request_id is not None and REQUEST_ID.fullmatch(request_id) else new_request_id()
        trace = scope[TRACE] = RequestLog(rid, method, path)  # the scope is this request's own dict
        extra = [(b"x-request-id", rid.encode("latin-1"))]
        if origin is not None:
            if method == "OPTIONS":
                await self._preflight(origin, preflight, extra, send)
                return
            extra += self.cors.answer_headers(origin) or ()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                trace.status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            endpoint = ENDPOINTS.get(path) if method == "POST" else None
            if endpoint is not None:  # the hot path: the headers go straight into the response, no send wrapper
                response = await endpoint(self.gateway, scope, receive)
                if trace.error in RECHECK and (trace.error == "config_changed" or await self.gateway.is_stale()):
                    await self.gateway.refresh()
                    trace.error, trace.attempts = "", []
                    response = await endpoint(self.gateway, scope, replay(scope, receive))
                response.raw_headers.extend(extra)
                trace.status = response.status_code
                await response(scope, receive, send)
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            if path != "/healthz":  # health checks would drown the log
                trace.write()

    async def _preflight(self, origin: bytes, requested: bytes | None, extra: list[tuple[bytes, bytes]], send: Send) -> None:
        """``OPTIONS`` from a browser: 204 with the CORS grant, or 403 when the origin is not allowed."""
        grant = self.cors.preflight_headers(origin, requested)
        headers = [*extra, *(grant or ()), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 204 if grant is not None else 403, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def create_app(settings: Settings | None = None, config: GatewayConfig | None = None, store: Store | None = None,
               source: str | None = None) -> GatewayApp:
    gateway = Gateway(settings, config, store, source)
    setup(gateway.settings.log_level, gateway.settings.log_format)

    def route(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            return await endpoint(gateway, request.scope, request.receive)
        return handler

    async def key_policy(request: Request, model: str | None = None) -> tuple[Runtime, KeyPolicy]:
        """The runtime and the caller's key. An unknown key (or, given ``model``, a model the key
        lacks) first makes sure the config is current: a newer one may know it."""
        runtime = await gateway.ready()
        try:
            policy = gateway.authenticate(request.headers, runtime)
            if model is None or policy.routes.get(model):
                return runtime, policy
        except GatewayError:
            newer = await gateway.current()
            if newer is runtime:
                raise
            return newer, gateway.authenticate(request.headers, newer)
        newer = await gateway.current()
        return (runtime, policy) if newer is runtime else (newer, gateway.authenticate(request.headers, newer))

    async def get_model(request: Request) -> Response:
        """``GET /v1/models/{id}`` (``client.models.retrieve``): one model the key may use, else 404."""
        name = request.path_params["model"]
        try:
            runtime, policy = await key_policy(request, name)
        except GatewayError as exc:
            return error_response(exc)
        candidates = policy.routes.get(name)
        if not candidates:
            return error_response(runtime.dispatcher.unknown_model(name, CHAT_COMPLETIONS, None))
        return JSONResponse({"id": name, "object": "model", "created": 1700000000, "owned_by": candidates[0].channel.provider.name})

    async def list_models(request: Request) -> Response:
        try:
            _, policy = await key_policy(request)
        except GatewayError as exc:
            return error_response(exc)
        data = []
        for name in policy.models:
            owner = policy.routes[name][0].channel.provider.name
            data.append({"id": name, "object": "model", "created": 1700000000, "owned_by": owner})
        return JSONResponse({"object": "list", "data": data})

    async def healthz(request: Request) -> Response:
        try:
            runtime = await gateway.ready()
        except GatewayError as exc:
            return JSONResponse({"status": "error", "error": exc.message}, status_code=503)
        table = runtime.table
        return JSONResponse({"status": "ok", "version": __version__, "config": runtime.source, "config_version": runtime.version,
                             "providers": len(table.providers), "models": len(table.all_models), "store": gateway.store.name})

    async def admin(request: Request) -> Response:
        """``/admin/…`` (the admin API and panel): :mod:`.admin.router`, imported on first use, so
        neither the API path nor a cold start loads it."""
        from .admin import router

        return await router.handle(gateway, request.scope, request.receive)

    async def root(request: Request) -> Response:
        """``GET /``: the admin panel for a browser (it asks for HTML), the health answer otherwise."""
        if "text/html" in request.headers.get("accept", ""):
            return await admin(request)
        return await healthz(request)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            allow = (getattr(exc, "headers", None) or {}).get("Allow")
            return error_response(GatewayError(405, f"Method {request.method} is not allowed on {request.url.path}.",
                                               code="method_not_allowed", headers={"allow": allow} if allow else None))
        return error_response(GatewayError(404, f"Unknown path {request.url.path}. This gateway serves POST /v1/chat/completions, "
                                                f"POST /v1{', POST /v1'.join(MEDIA)}, POST /v1/responses, POST /v1/messages "
                                                "and GET /v1/models.", code="unknown_url"))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(GatewayError(500, "The gateway hit an internal error; it has been logged.", code="internal_error"))

    routes = [
        *(Route(path, route(endpoint), methods=["POST"]) for path, endpoint in ENDPOINTS.items()),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", get_model, methods=["GET"]),
        Route("/models/{model:path}", get_model, methods=["GET"]),
        Route("/v1/responses/{rest:path}", route(stored_responses), methods=["GET", "POST", "DELETE"]),
        Route("/responses/{rest:path}", route(stored_responses), methods=["GET", "POST", "DELETE"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/", root, methods=["GET"]),
        Route("/admin/{rest:path}", admin, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        """Servers that run ASGI lifespan (uvicorn) close connections on shutdown; serverless
        adapters with lifespan off simply never call this."""
        yield
        await gateway.aclose()

    handlers = {HTTPException: not_found, 404: not_found, 405: not_found, Exception: server_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.router.redirect_slashes = False  # see GatewayApp.__call__
    app.state.gateway = gateway
    return GatewayApp(gateway, app)


app = create_app()

"""The ASGI application: every door (local, Vercel, Lambda, Cloud Functions) serves this object.

Routes: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /healthz`` (the ``/v1`` prefix is
optional). Every error is an OpenAI error object.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import __version__
from .config import GatewayConfig
from .errors import GatewayError
from .gateway import Gateway
from .settings import Settings
from .store import Store

log = logging.getLogger("gateway")


def error_response(exc: GatewayError) -> Response:
    return Response(exc.json_bytes(), status_code=exc.status, media_type="application/json", headers=exc.headers)


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request body as a JSON object, refusing bodies over ``limit`` bytes before reading them all."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise GatewayError(413, f"Request body too large: {length} bytes; the limit is {limit} bytes.", code="request_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise GatewayError(413, f"Request body too large; the limit is {limit} bytes.", code="request_too_large")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks))
    except ValueError:
        raise GatewayError(400, "The request body is not valid JSON.", code="invalid_json") from None
    except RecursionError:  # a few kilobytes of "[[[[..." would otherwise be a 500
        raise GatewayError(400, "The request body is nested too deeply.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


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


def create_app(settings: Settings | None = None, config: GatewayConfig | None = None, store: Store | None = None) -> Starlette:
    gateway = Gateway(settings, config, store)

    async def chat_completions(request: Request) -> Response:
        started = time.perf_counter()
        try:
            await gateway.ready()
            policy = gateway.authenticate(request.headers)
            body = await read_json(request, gateway.settings.max_body_bytes)
            model = check_chat_body(body)
            assert gateway.proxy is not None
            return await gateway.proxy.handle(policy, body, model, started)
        except GatewayError as exc:
            return error_response(exc)

    async def list_models(request: Request) -> Response:
        try:
            table = await gateway.ready()
            policy = gateway.authenticate(request.headers)
        except GatewayError as exc:
            return error_response(exc)
        data = []
        for name in policy.models:
            owner = policy.routes[name][0].channel.provider.name
            data.append({"id": name, "object": "model", "created": 1700000000, "owned_by": owner})
        return JSONResponse({"object": "list", "data": data})

    async def healthz(request: Request) -> Response:
        try:
            table = await gateway.ready()
        except GatewayError as exc:
            return JSONResponse({"status": "error", "error": exc.message}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__, "config": gateway.source,
                             "providers": len(table.providers), "models": len(table.all_models), "store": gateway.store.name})

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            allow = (getattr(exc, "headers", None) or {}).get("Allow")
            return error_response(GatewayError(405, f"Method {request.method} is not allowed on {request.url.path}.", code="method_not_allowed",
                                               headers={"allow": allow} if allow else None))
        return error_response(GatewayError(404, f"Unknown path {request.url.path}. This gateway serves POST /v1/chat/completions and GET /v1/models.", code="unknown_url"))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(GatewayError(500, "The gateway hit an internal error; it has been logged.", code="internal_error"))

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/models", list_models, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/", healthz, methods=["GET"]),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        """Servers that run ASGI lifespan (uvicorn) close connections on shutdown; serverless
        adapters with lifespan off simply never call this."""
        yield
        await gateway.aclose()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: not_found, 404: not_found, 405: not_found, Exception: server_error})
    app.state.gateway = gateway
    return app


app = create_app()

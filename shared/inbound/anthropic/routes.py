"""The routes Anthropic clients call: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``
(``?beta=true`` too: the query string is not part of the path). Same steps as chat completions
(authenticate with ``x-api-key`` or Bearer, read the body, dispatch, access log), with Anthropic's
body checks and error shape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope

from ...app import Endpoint, read_json, render, trace_of
from ...errors import GatewayError
from ...gateway import Gateway
from ...logs import RequestLog
from ...providers.base import dumps
from ...routing import KeyPolicy
from ...runtime import Runtime
from .errors import error_response
from .operation import CountTokens, Messages, forwarded_headers
from .request import check_body
from .tokens import estimate_tokens

log = logging.getLogger("gateway")

INTERNAL = "The gateway hit an internal error; it has been logged."


def failed(trace: RequestLog, error: GatewayError) -> Response:
    trace.error = error.code or error.type
    return error_response(error, trace.request_id)


def moderation_view(body: dict[str, Any]) -> dict[str, Any]:
    """The texts a client sends (system, user turns, tool results), as the OpenAI-shaped body the
    moderation step reads."""
    texts: list[str] = []

    def collect(content: Any) -> None:
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "text":
                    collect(block.get("text"))
                elif isinstance(block, dict) and block.get("type") == "tool_result":
                    collect(block.get("content"))

    collect(body.get("system"))
    for message in body.get("messages") or ():
        if isinstance(message, dict) and message.get("role") != "assistant":
            collect(message.get("content"))
    return {"messages": [{"role": "user", "content": text} for text in texts if text]}


@dataclass
class Asked:
    """An authenticated request with a checked body (what both routes start from)."""

    runtime: Runtime
    policy: KeyPolicy
    body: dict[str, Any]
    raw: bytes
    model: str
    started: float


async def asked(gateway: Gateway, scope: Scope, receive: Receive, trace: RequestLog, max_tokens: bool) -> Asked:
    started = time.perf_counter()
    runtime = await gateway.ready()
    policy = gateway.authenticate(Headers(scope=scope), runtime)
    trace.key_id = policy.key_id
    body, raw = await read_json(scope, receive, gateway.settings)
    trace.model = model = check_body(body, max_tokens)
    return Asked(runtime, policy, body, raw, model, started)


Handler = Callable[[Gateway, Scope, Receive, RequestLog], Awaitable[Response]]


def route(handler: Handler) -> Endpoint:
    """A route answering every error in Anthropic's shape, and logging the unexpected ones."""

    async def endpoint(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
        trace = trace_of(scope)
        try:
            return await handler(gateway, scope, receive, trace)
        except GatewayError as exc:
            return failed(trace, exc)
        except Exception:
            log.exception("unhandled error (request %s)", trace.request_id)
            return failed(trace, GatewayError(500, INTERNAL, code="internal_error"))

    return endpoint


@route
async def messages(gateway: Gateway, scope: Scope, receive: Receive, trace: RequestLog) -> Response:
    request = await asked(gateway, scope, receive, trace, max_tokens=True)
    op = Messages(forwarded_headers(scope["headers"]))
    dispatcher, policy, model = request.runtime.dispatcher, request.policy, request.model
    if policy.moderation:
        if not dispatcher.candidates(policy, op, model):
            raise dispatcher.unknown_model(model, op, None)
        from ...moderation import moderate

        await moderate(dispatcher, policy, moderation_view(request.body))
    answer = await dispatcher.run(op, policy, request.body, model, request.started, request.raw, trace=trace)
    answer.headers["request-id"] = trace.request_id
    return render(answer)


@route
async def count_tokens(gateway: Gateway, scope: Scope, receive: Receive, trace: RequestLog) -> Response:
    """Passed to a channel that counts (Anthropic) when the model has one, else estimated locally
    (:mod:`.tokens`; the answer then carries ``x-gateway-token-count: estimate``). Counting is not
    generating: it does not count against the key's rate limits nor its usage."""
    request = await asked(gateway, scope, receive, trace, max_tokens=False)
    op = CountTokens(forwarded_headers(scope["headers"]))
    dispatcher, model = request.runtime.dispatcher, request.model
    candidates = dispatcher.candidates(request.policy, op, model)
    if candidates is None:
        raise dispatcher.unknown_model(model, op, None)
    if candidates:
        answer = await dispatcher.run(op, request.policy, request.body, model, request.started, request.raw, counted=False, trace=trace)
        answer.headers["request-id"] = trace.request_id
        return render(answer)
    headers = {"request-id": trace.request_id, "x-gateway-token-count": "estimate"}
    return Response(dumps({"input_tokens": estimate_tokens(request.body)}), media_type="application/json", headers=headers)

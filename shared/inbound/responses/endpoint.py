"""The HTTP handlers: ``POST /v1/responses``, and a clear 400 for the stored-response paths
(``GET``/``DELETE /v1/responses/{id}``, ``…/cancel``, ``…/input_items``): this gateway stores no
responses. ``app.py`` imports this module on the first such request.
"""

from __future__ import annotations

import time

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope

from ...app import failed, log, read_json, render, trace_of
from ...errors import GatewayError
from ...gateway import Gateway
from .operation import ResponsesOperation
from .request import STATELESS, check_body, translate


async def create_response(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    started = time.perf_counter()
    trace = trace_of(scope)
    try:
        runtime = await gateway.ready()
        policy = gateway.authenticate(Headers(scope=scope), runtime)
        trace.key_id = policy.key_id
        body, _ = await read_json(scope, receive, gateway.settings)
        trace.model = model = check_body(body)
        translation = translate(body)
        op = ResponsesOperation(body, translation)
        if translation.native and runtime.dispatcher.candidates(policy, op, model) == ():
            what, param = translation.native[0]
            raise GatewayError(400, f"{what} can only be served by a provider that serves the Responses API itself; the providers "
                                    f"of model '{model}' are reached through Chat Completions (see README, 'Responses API')",
                               param=param, code="unsupported_parameter")
        return render(await runtime.dispatcher.run(op, policy, translation.chat, model, started, None, trace=trace))
    except GatewayError as exc:
        return failed(trace, exc)
    except Exception:
        log.exception("unhandled error (request %s)", trace.request_id)
        return failed(trace, GatewayError(500, "The gateway hit an internal error; it has been logged.", code="internal_error"))


async def stored_response(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    trace = trace_of(scope)
    try:
        runtime = await gateway.ready()
        trace.key_id = gateway.authenticate(Headers(scope=scope), runtime).key_id
        raise GatewayError(400, f"{scope['method']} {scope['path']} is {STATELESS}: retrieving, deleting or cancelling a response "
                                "needs it stored; ask with 'stream' instead, and send the whole conversation in 'input'",
                           code="unsupported_endpoint")
    except GatewayError as exc:
        return failed(trace, exc)

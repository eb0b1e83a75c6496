"""Errors in Anthropic's shape (wire-formats-2.md 2.5): ``{"type": "error", "error": {"type", "message"}}``.

The gateway's errors keep their status (the README's error table); only the body changes, with the
Anthropic ``error.type`` of that status, so the Anthropic SDKs raise their usual exception classes.
A stream that broke after its first byte ends with the same object as an ``event: error``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from ...errors import GatewayError

# HTTP status -> Anthropic error.type; any other 4xx is invalid_request_error, any other 5xx api_error.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def error_object(error: GatewayError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(error.status), "message": error.message}}


def error_response(error: GatewayError, request_id: str) -> Response:
    """The whole error answer; ``request-id`` is the header Anthropic's SDKs expose as ``_request_id``."""
    body = {**error_object(error), "request_id": request_id}
    return Response(json.dumps(body, ensure_ascii=False).encode(), status_code=error.status, media_type="application/json",
                    headers={**error.headers, "request-id": request_id})


def error_event(error: GatewayError) -> bytes:
    """The in-band error that ends a broken stream (Anthropic streams have no ``[DONE]``)."""
    data = json.dumps(error_object(error), ensure_ascii=False, separators=(",", ":"))
    return b"event: error\ndata: " + data.encode() + b"\n\n"

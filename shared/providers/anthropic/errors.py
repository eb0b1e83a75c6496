"""Anthropic errors in OpenAI terms (providers.md section 11): error responses, ``error`` events
and error objects in 200 bodies, mapped through :data:`ERROR_TYPES`; plus :func:`invalid`, the
400 for a request the gateway refuses to translate before calling Anthropic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import InvalidRequest, UpstreamError, parse_error_body, text_of_value

# Anthropic error.type -> (status when only the type is known, as in a stream; OpenAI type; code).
ERROR_TYPES: dict[str, tuple[int, str, str | None]] = {
    "invalid_request_error": (400, "invalid_request_error", None),
    "authentication_error": (401, "authentication_error", "invalid_api_key"),
    "billing_error": (402, "insufficient_quota", "insufficient_quota"),
    "permission_error": (403, "permission_error", None),
    "not_found_error": (404, "invalid_request_error", "model_not_found"),
    "request_too_large": (413, "invalid_request_error", "request_too_large"),
    "rate_limit_error": (429, "rate_limit_error", "rate_limit_exceeded"),
    "api_error": (500, "server_error", None),
    "timeout_error": (504, "server_error", "timeout"),
    "overloaded_error": (503, "server_error", "overloaded"),
}

# 529 is Anthropic's own "overloaded"; OpenAI clients and our failover understand 503.
STATUS_REWRITES = {529: 503}


def invalid(message: str, param: str | None = None, code: str | None = None) -> InvalidRequest:
    """A request we refuse before calling Anthropic, naming the field at fault (``param``); the
    dispatcher hands 400s straight to the client."""
    return InvalidRequest(message, param, code)


def error_from_event(obj: Mapping[str, Any]) -> UpstreamError:
    """An ``error`` event (or an error object in a 200 body): the status comes from its type."""
    raw = obj.get("error")
    err: dict[str, Any] = raw if isinstance(raw, dict) else {}
    kind = err.get("type")
    status, openai_type, code = ERROR_TYPES.get(kind, (502, "server_error", None)) if isinstance(kind, str) else (502, "server_error", None)
    message = err.get("message") or kind or "the Anthropic stream reported an error"
    return UpstreamError(status, text_of_value(message), openai_type, code)


def parse_error(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """An Anthropic error response in OpenAI terms (providers.md section 11). 529 becomes 503 so
    the proxy fails over and OpenAI clients retry; Google-shaped bodies (Claude on Vertex) are read
    by the shared parser and keep their own type."""
    err = parse_error_body(status, data, headers)
    known = ERROR_TYPES.get(err.type or "")
    openai_type, code = (known[1], known[2]) if known else (err.type, err.code)
    if "prompt is too long" in err.message.lower():
        code = "context_length_exceeded"
    return UpstreamError(STATUS_REWRITES.get(status, status), err.message, openai_type, code, err.retry_after)

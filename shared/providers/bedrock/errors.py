"""Bedrock errors in OpenAI terms and failure classes (wire-formats-2 5.8): error responses (the
exception name in ``x-amzn-ErrorType``, ``{"message": ...}``) and exception events in a stream.

The status decides what the dispatcher does: 400 goes back to the client, 401/403 rejects the key
(a wrong or expired key pair, a bad signature, no model access), 429 rests the key (throttling),
anything else (5xx, 404 model not in this region, 424 model error) fails over to another channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import UpstreamError, loads, retry_after_of

# Exception name -> (status, OpenAI type, code). ``None`` status: keep the HTTP status.
EXCEPTIONS: dict[str, tuple[int | None, str, str | None]] = {
    "ValidationException": (400, "invalid_request_error", None),
    "ConflictException": (400, "invalid_request_error", None),
    "ServiceQuotaExceededException": (429, "insufficient_quota", "insufficient_quota"),  # the account's quota: this key pair's
    "AccessDeniedException": (403, "permission_error", None),
    "UnrecognizedClientException": (401, "authentication_error", "invalid_api_key"),
    "InvalidSignatureException": (401, "authentication_error", "invalid_api_key"),
    "IncompleteSignatureException": (401, "authentication_error", "invalid_api_key"),
    "MissingAuthenticationTokenException": (401, "authentication_error", "invalid_api_key"),
    "ExpiredTokenException": (401, "authentication_error", "invalid_api_key"),
    "ResourceNotFoundException": (404, "invalid_request_error", "model_not_found"),
    "ModelTimeoutException": (504, "server_error", "timeout"),
    "ModelErrorException": (502, "server_error", None),
    "ModelStreamErrorException": (502, "server_error", None),
    "ThrottlingException": (429, "rate_limit_error", "rate_limit_exceeded"),
    "ModelNotReadyException": (503, "server_error", "model_not_ready"),  # the model, not the key: fail over
    "InternalServerException": (500, "server_error", None),
    "ServiceUnavailableException": (503, "server_error", "overloaded"),
}
CONTEXT_HINTS = ("too long", "too many input tokens", "context length", "context window")


def exception_name(raw: Any) -> str:
    """``ThrottlingException:http://internal…`` or ``com.amazon…#ThrottlingException`` -> ``ThrottlingException``;
    stream events spell it ``throttlingException``."""
    name = str(raw or "").split(":")[0].rsplit("#", 1)[-1].strip()
    return name[:1].upper() + name[1:]


def error_of(name: str, message: str, status: int | None = None, retry_after: float | None = None) -> UpstreamError:
    known = EXCEPTIONS.get(name)
    if known is None:
        final = status if status is not None else 502
        kind = "invalid_request_error" if 400 <= final < 500 and final != 429 else "server_error"
        return UpstreamError(final, message, kind, name or None, retry_after)
    final, kind, code = known[0] or status or 502, known[1], known[2]
    if final == 400 and any(h in message.lower() for h in CONTEXT_HINTS):
        code = "context_length_exceeded"
    return UpstreamError(final, message, kind, code, retry_after)


def parse_error(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    try:
        body: Any = loads(data) if data.strip() else None
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    name = exception_name(headers.get("x-amzn-errortype") or body.get("__type") or body.get("code") or body.get("Code"))
    message = body.get("message") or body.get("Message")
    if not isinstance(message, str) or not message:
        message = data[:300].decode("utf-8", "replace").strip() or f"HTTP {status}"
    if name not in EXCEPTIONS and status in (401, 403):
        return UpstreamError(status, message, "authentication_error", name or None)
    error = error_of(name, message, status, retry_after_of(headers))
    if name not in EXCEPTIONS:
        error.status = status
    return error


def stream_exception(headers: Mapping[str, Any], payload: bytes) -> UpstreamError:
    """An ``exception`` (or ``error``) message in an event stream."""
    try:
        body: Any = loads(payload) if payload.strip() else {}
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    name = exception_name(headers.get(":exception-type") or headers.get(":error-code"))
    message = body.get("message") or body.get("Message") or headers.get(":error-message") or name or "the Bedrock stream reported an error"
    return error_of(name, str(message))

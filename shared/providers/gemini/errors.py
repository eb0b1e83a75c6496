"""Errors in OpenAI terms: :func:`google_error` for Google's ``{"error": {code, message, status,
details}}`` bodies (also used by Vertex), and :class:`BadRequest`, the 400 for a request the
gateway cannot translate for Gemini.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..base import InvalidRequest, UpstreamError, loads, parse_error_body

# Google status -> (gateway status, OpenAI type) where the HTTP status alone says the wrong thing.
GOOGLE_STATUS_OVERRIDES: dict[str, tuple[int, str]] = {
    # Billing / region / model-not-enabled: a property of the key or project, not of the request.
    "FAILED_PRECONDITION": (403, "permission_error"),
}
GOOGLE_REASON_OVERRIDES: dict[str, tuple[int, str, str]] = {
    # A bad Gemini API key is a 400 INVALID_ARGUMENT upstream: it must count as a key failure.
    "API_KEY_INVALID": (401, "authentication_error", "invalid_api_key"),
    "API_KEY_EXPIRED": (401, "authentication_error", "invalid_api_key"),
}
TOO_LONG = re.compile(r"exceeds the maximum number of tokens|input token count .* exceeds|too many tokens", re.I)


class BadRequest(InvalidRequest):
    """A request we cannot translate, naming the field at fault (``param``): the dispatcher hands
    400s back to the client without failover."""

    def __init__(self, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message, param, code)


def google_error_of(data: bytes) -> dict[str, Any] | None:
    """The ``error`` object of a Google error body (possibly a one-element array), or None."""
    try:
        body: Any = loads(data)
    except ValueError:
        return None
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    google = body.get("error") if isinstance(body, dict) else None
    return google if isinstance(google, dict) and isinstance(google.get("status"), str) else None


def google_error(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Google's ``{"error": {code, message, status, details}}`` (or a one-element array of it) in
    OpenAI terms; other shapes (Anthropic's on Vertex) fall through to the shared parser."""
    err = parse_error_body(status, data, headers)
    google = google_error_of(data)
    if google is None:
        return err
    state = google["status"]
    details = google.get("details")
    reasons = [d.get("reason") for d in details if isinstance(d, dict)] if isinstance(details, list) else []
    reasons = [r for r in reasons if isinstance(r, str) and r]
    code: str | None = state
    for reason in reasons:
        if reason in GOOGLE_REASON_OVERRIDES:
            err.status, err.type, code = GOOGLE_REASON_OVERRIDES[reason]
            break
    else:
        if state in GOOGLE_STATUS_OVERRIDES:
            err.status, err.type = GOOGLE_STATUS_OVERRIDES[state]
        elif err.status == 400 and TOO_LONG.search(err.message):
            code = "context_length_exceeded"
        elif err.status == 400:
            code = None
    err.code = code
    return err

"""OpenAI-style error objects.

Every error a client sees is ``{"error": {"message", "type", "param", "code"}}`` with a status an
OpenAI SDK understands. Code raises :class:`GatewayError`; the app turns it into a response.
"""

from __future__ import annotations

import json
from typing import Any

_DEFAULT_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class GatewayError(Exception):
    """An error with everything needed to answer the client."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _DEFAULT_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.code, self.param)

    def json_bytes(self) -> bytes:
        """The body as UTF-8 JSON. A message repeating a client's string may hold a lone surrogate
        (``"\\ud800"`` in the JSON it came from), which UTF-8 cannot encode: then the text is
        ASCII-escaped instead, valid JSON that means the same."""
        text = json.dumps(self.body(), ensure_ascii=False)
        try:
            return text.encode()
        except UnicodeEncodeError:
            return json.dumps(self.body()).encode()


def error_body(message: str, type: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def stream_error_event(error: GatewayError) -> bytes:
    """The SSE event that ends a stream which broke after it started (followed by ``[DONE]``)."""
    return b"data: " + error.json_bytes() + b"\n\n"

"""CORS for the bearer-token API, so browser apps (the openai npm package in a page, chat UIs) can
call the gateway directly.

The API authenticates with a header (``Authorization`` / ``x-api-key``), never with cookies, so
allowing every origin (``CORS_ALLOW_ORIGINS=*``, the default, as uni-api does) exposes nothing a
page could not already send from a server; credentials mode is never allowed. A list of origins
restricts it, and answers then carry ``Vary: Origin``.
"""

from __future__ import annotations

ALLOW_METHODS = b"GET, POST, OPTIONS"
# What a browser may read from an answer beyond the CORS-safelisted headers.
EXPOSE = b"x-request-id, x-gateway-provider, x-gateway-store, retry-after, server-timing, x-ratelimit-limit-requests, " \
         b"x-ratelimit-remaining-requests, x-ratelimit-reset-requests"
DEFAULT_ALLOW_HEADERS = b"authorization, content-type, x-api-key"
MAX_AGE = b"600"

Headers = list[tuple[bytes, bytes]]


class CorsPolicy:
    def __init__(self, origins: tuple[str, ...]) -> None:
        self.any = "*" in origins
        self.origins = frozenset(o.encode() for o in origins if o != "*")

    def answer_headers(self, origin: bytes) -> Headers | None:
        """Headers for an answer to a request from ``origin``, or None when the origin is not allowed."""
        if self.any:
            return [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", EXPOSE)]
        if origin in self.origins:
            return [(b"access-control-allow-origin", origin), (b"vary", b"Origin"), (b"access-control-expose-headers", EXPOSE)]
        return None

    def preflight_headers(self, origin: bytes, requested_headers: bytes | None) -> Headers | None:
        """Headers for an ``OPTIONS`` preflight; the requested headers are granted as asked (the SDKs
        send their own, e.g. ``x-stainless-*``, ``openai-organization``, ``anthropic-version``)."""
        base = self.answer_headers(origin)
        if base is None:
            return None
        return [*base, (b"access-control-allow-methods", ALLOW_METHODS),
                (b"access-control-allow-headers", requested_headers or DEFAULT_ALLOW_HEADERS),
                (b"access-control-max-age", MAX_AGE)]

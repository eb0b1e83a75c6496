"""Give the app back the path a client asked for when Vercel hands it the rewritten one.

``vercel.json`` rewrites every path to the one Python function as ``/api/index?path=<original path>``.
Depending on the runtime version, the function then sees either the original URL (Vercel keeps it and
appends ``path=`` to the query) or the rewritten URL. This ASGI wrapper turns the second form back
into the first, so the app routes both. Only the Vercel door uses it: no other door pays for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, unquote_plus

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The paths under which Vercel may present the function itself (``api/index.py`` serves ``/api``).
FUNCTION_PATHS = frozenset({"/api", "/api/", "/api/index", "/api/index.py"})
PATH_PARAM = "path"


def original_path(scope: Scope) -> Scope:
    """The scope with ``path`` taken from the ``path=`` query parameter, which is removed.

    A request to the function path without that parameter is left as it is (the app answers 404).
    Other query parameters are kept byte for byte.
    """
    raw_query = scope.get("query_string", b"").decode("latin-1")
    kept: list[str] = []
    found: str | None = None
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        if found is None and unquote_plus(name) == PATH_PARAM:
            found = unquote_plus(value)
        else:
            kept.append(part)
    if found is None:
        return scope
    path = "/" + found.lstrip("/")
    return {**scope, "path": path, "raw_path": quote(path).encode("ascii"),
            "query_string": "&".join(kept).encode("latin-1")}


class VercelPaths:
    """ASGI wrapper: ``/api/index?path=v1/models`` reaches the app as ``/v1/models``.

    ``__call__`` is a coroutine function on purpose: Vercel's Python runtime checks that to tell an
    ASGI app from a WSGI one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in FUNCTION_PATHS:
            scope = original_path(scope)
        await self.app(scope, receive, send)

"""STUB from the admin-auth branch, to be replaced by the admin API branch's router at merge.

It exists only so that the auth module can be exercised over HTTP before the real router lands:
the three session endpoints and ``/admin/api/whoami`` (any method), which answers with the
identity :func:`.auth.require_admin` finds. Nothing in ``app.py`` mounts it; the tests insert
:func:`routes` into the app's router themselves.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import GatewayError
from ..gateway import Gateway
from . import auth


def routes(gateway: Gateway) -> list[Route]:
    async def login(request: Request) -> Response:
        return await auth.login(gateway, request.scope, request.receive)

    async def logout(request: Request) -> Response:
        return await auth.logout(gateway, request.scope, request.receive)

    async def session(request: Request) -> Response:
        return await auth.session(gateway, request.scope, request.receive)

    async def whoami(request: Request) -> Response:
        try:
            identity = await auth.require_admin(gateway, await gateway.ready(), request.scope)
        except GatewayError as exc:
            return Response(exc.json_bytes(), status_code=exc.status, media_type="application/json", headers=exc.headers)
        return JSONResponse({"key_id": identity.key_id, "via": identity.via})

    return [
        Route("/admin/api/login", login, methods=["POST"]),
        Route("/admin/api/logout", logout, methods=["POST"]),
        Route("/admin/api/session", session, methods=["GET"]),
        Route("/admin/api/whoami", whoami, methods=["GET", "POST", "PUT", "DELETE"]),
    ]

"""Admin authentication — a STUB with the real module's interface, replaced by the auth branch.

Only Bearer / ``x-api-key`` admin keys are accepted here (no sessions, no CSRF); ``login``,
``logout`` and ``session`` answer 501. The admin API calls nothing but these names, so the real
module drops in without a change to the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope

from ..errors import GatewayError
from ..gateway import Gateway
from ..runtime import Runtime
from ..settings import Settings


@dataclass(frozen=True)
class AdminIdentity:
    key_id: str
    via: str  # "bearer" | "session"


def admin_enabled(runtime: Runtime, settings: Settings) -> bool:
    """Admin is on when some key that authenticates has role admin (an env or a config key)."""
    return any(policy.role == "admin" for policy in runtime.table.keys.values())


async def require_admin(gateway: Gateway, runtime: Runtime, scope: Scope) -> AdminIdentity:
    if not admin_enabled(runtime, gateway.settings):
        raise GatewayError(404, "The admin API is disabled: set ADMIN_API_KEY or add a key with role admin.", code="admin_disabled")
    try:
        policy = gateway.authenticate(Headers(scope=scope), runtime)
    except GatewayError:
        raise GatewayError(401, "This endpoint needs an admin key or an admin session.", code="admin_auth_required") from None
    if policy.role != "admin":
        raise GatewayError(403, "This endpoint needs an admin key.", code="admin_only")
    return AdminIdentity(policy.key_id, "bearer")


def _not_here() -> Response:
    error = GatewayError(501, "Admin sessions are not available in this build.", code="not_implemented")
    return Response(error.json_bytes(), status_code=501, media_type="application/json")


async def login(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    return _not_here()


async def logout(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    return _not_here()


async def session(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    return _not_here()

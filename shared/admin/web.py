"""One admin request: what a handler gets (:class:`AdminCall`) and how it answers (:func:`reply`).

Why a small object rather than Starlette's ``Request``: handlers need the gateway, the runtime the
request started on, the admin identity and the path parameters together, and body reading must go
through the gateway's own limits (``MAX_REQUEST_BYTES``, the body deadline, the JSON parse-cost
bound) exactly as on the API endpoints.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope

from ..errors import GatewayError
from ..gateway import Gateway
from ..runtime import Runtime
from .auth import AdminIdentity

JSON = "application/json"


@dataclass
class AdminCall:
    gateway: Gateway
    runtime: Runtime
    scope: Scope
    receive: Receive
    params: dict[str, str] = field(default_factory=dict)
    identity: AdminIdentity | None = None

    @property
    def headers(self) -> Headers:
        return Headers(scope=self.scope)

    @property
    def actor(self) -> str:
        return self.identity.key_id if self.identity is not None else ""

    def query(self, name: str) -> str | None:
        values = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get(name)
        return values[-1] if values else None

    def int_query(self, name: str, default: int | None, low: int, high: int | None = None) -> int:
        raw = self.query(name)
        if raw is None or raw == "":
            if default is None:
                raise GatewayError(400, f"query parameter '{name}' is required", param=name, code="missing_required_parameter")
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise GatewayError(400, f"query parameter '{name}' must be an integer {span}", param=name, code="invalid_value")
        return value

    async def body(self) -> bytes:
        from ..app import read_body

        return await read_body(self.scope, self.receive, self.gateway.settings)

    async def json(self) -> dict[str, Any]:
        from ..app import parse_json

        return parse_json(await self.body(), self.gateway.settings.max_json_containers)

    async def json_or_empty(self) -> dict[str, Any]:
        """The JSON body, or ``{}`` when there is none (every field optional)."""
        from ..app import parse_json

        raw = await self.body()
        return parse_json(raw, self.gateway.settings.max_json_containers) if raw.strip() else {}

    def is_json(self) -> bool:
        return (self.headers.get("content-type") or "").split(";")[0].strip().lower() in (JSON, "")


def version_of(body: dict[str, Any]) -> int:
    """The config version a write was based on (required: optimistic concurrency)."""
    version = body.get("version")
    if version is None:
        raise GatewayError(400, "'version' is required: the config version this change is based on (GET it first)",
                           param="version", code="missing_required_parameter")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise GatewayError(400, "'version' must be a non-negative integer", param="version", code="invalid_type")
    return version


def object_field(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if not isinstance(value, dict):
        raise GatewayError(400, f"'{name}' must be an object", param=name,
                           code="missing_required_parameter" if value is None else "invalid_type")
    return value


def _default(value: Any) -> Any:
    """YAML dates (``created_at: 2025-01-01``) and anything else JSON lacks, as text."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def dumps(data: Any) -> bytes:
    """UTF-8 JSON; ASCII-escaped when a string holds a lone surrogate (UTF-8 cannot encode it)."""
    text = json.dumps(data, ensure_ascii=False, default=_default)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(data, default=_default).encode()


def reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer; admin answers are never cached (they describe secrets' whereabouts)."""
    return Response(dumps(data), status_code=status, media_type=JSON, headers={"cache-control": "no-store", **(headers or {})})


def error_reply(exc: GatewayError, **extra: Any) -> Response:
    body: dict[str, Any] = {**exc.body(), **extra}
    return Response(dumps(body), status_code=exc.status, media_type=JSON, headers={"cache-control": "no-store", **exc.headers})

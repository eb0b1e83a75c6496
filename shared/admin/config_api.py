"""``/admin/api/config…``: the whole config document, as JSON or YAML, validated, or re-seeded from the file."""

from __future__ import annotations

import copy
from typing import Any

from starlette.responses import Response

from ..config import ConfigError, parse_document
from ..errors import GatewayError
from . import config_ops, writes
from .web import AdminCall, object_field, reply, version_of

YAML = "text/yaml; charset=utf-8"


def _yaml_text(document: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _parse_yaml(text: str) -> dict[str, Any]:
    try:
        return parse_document(text, "config")
    except ConfigError as exc:
        raise writes.invalid(exc) from None


async def _document(call: AdminCall) -> dict[str, Any]:
    """The request's config: ``{"config": {...}}`` as JSON, or YAML text (any other content type)."""
    if call.is_json():
        return object_field(await call.json(), "config")
    return _parse_yaml((await call.body()).decode("utf-8", "replace"))


async def get_config(call: AdminCall) -> Response:
    stored = await call.gateway.stored_config()
    meta = stored.meta or {}
    source = meta.get("source")
    if source == "seed":  # the store holds a copy of the file config: say which
        source = f"seed:{meta.get('from') or '?'}"
    return reply({"version": stored.version, "config": config_ops.mask_document(stored.document), "source": source,
                  "updated_at": meta.get("updated_at"), "updated_by": meta.get("updated_by")})


async def _put(call: AdminCall, version: int, document: dict[str, Any], action: str = "config.update",
               target: str = "config", source: str = "admin") -> Response:
    stored = await writes.current(call, version)
    resolved = config_ops.resolve_document(document, stored.document)
    new_version = await writes.commit(call, stored, resolved, action, target, source=source)
    return reply({"version": new_version, "config": config_ops.mask_document(resolved)})


async def put_config(call: AdminCall) -> Response:
    body = await call.json()
    return await _put(call, version_of(body), object_field(body, "config"))


async def get_config_yaml(call: AdminCall) -> Response:
    stored = await call.gateway.stored_config()
    return Response(_yaml_text(config_ops.mask_document(stored.document)), media_type=YAML,
                    headers={"x-config-version": str(stored.version), "cache-control": "no-store"})


async def put_config_yaml(call: AdminCall) -> Response:
    version = call.int_query("version", None, 0)
    return await _put(call, version, _parse_yaml((await call.body()).decode("utf-8", "replace")))


async def validate(call: AdminCall) -> Response:
    """Whether a document would be accepted, without writing it; masked values count as the stored secrets."""
    try:
        document = await _document(call)
        stored = await call.gateway.stored_config()
        writes.check(config_ops.resolve_document(document, stored.document))
    except ConfigError as exc:
        return reply({"ok": False, "errors": [{"path": p, "message": m} for p, m in writes.config_errors(exc)]})
    except GatewayError as exc:
        if exc.code != "invalid_config":
            raise
        path = (exc.param or "config").removeprefix("config").lstrip(".")
        return reply({"ok": False, "errors": [{"path": path, "message": exc.message}]})
    return reply({"ok": True})


async def reimport(call: AdminCall) -> Response:
    """Re-seed the stored config from the file / env config (CONFIG_YAML, CONFIG_PATH, CONFIG_URL)."""
    version = version_of(await call.json())
    try:
        own = await call.gateway.file_config()
    except ConfigError as exc:
        raise writes.invalid(exc) from None
    if own.document is None:
        raise GatewayError(404, "There is no file or environment config to import (CONFIG_YAML, CONFIG_PATH or CONFIG_URL).",
                           code="no_file_config")
    return await _put(call, version, copy.deepcopy(own.document), "config.reimport", own.source, source="seed")

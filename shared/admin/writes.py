"""The one write path of the admin API: every change to the config goes through :func:`commit`.

Optimistic concurrency: a write names the version it was based on; a stale one is a 409
``version_conflict`` carrying the current version (checked up front, and again atomically by the
store's compare-and-set). An invalid document is a 400 ``invalid_config`` naming the field, with
the loader's own messages (the same validation as a config file), and the store is untouched. A
change that would leave nobody able to administer the gateway is a 400 ``would_lock_out``; on a
serverless door without a shared store (each instance would keep its own config) every write is a
503 ``store_not_shared``. Every
write carries an audit entry: who, what, and the changed paths with masked old and new values.
"""

from __future__ import annotations

import os
from typing import Any

from ..config import ConfigError, GatewayConfig, parse_config_document
from ..errors import GatewayError
from ..runtime import Runtime
from ..store import StoredConfig
from . import config_ops
from .web import AdminCall

Document = dict[str, Any]


class Conflict(GatewayError):
    """409 ``version_conflict``; the answer also carries ``version``, the current one."""

    def __init__(self, current: int, based_on: int | None = None) -> None:
        what = f"version {based_on}" if based_on is not None else "the version this change was based on"
        super().__init__(409, f"The config changed since {what}: it is now version {current}. Reload it and apply the change again.",
                         code="version_conflict")
        self.version = current
        self.extra = {"version": current}


async def current(call: AdminCall, version: int) -> StoredConfig:
    """The stored config, if it is still ``version`` (else :class:`Conflict`, before any 400 about
    a document the client built on old data)."""
    stored = await call.gateway.stored_config()
    if stored.version != version:
        raise Conflict(stored.version, version)
    return stored


def config_errors(exc: ConfigError) -> list[tuple[str, str]]:
    """``(path, message)`` of each problem the loader found (path ``""``: the config as a whole)."""
    return list(exc.errors) or [("", str(exc))]


def check(document: Document) -> GatewayConfig:
    """Validate a document exactly as a config file is validated (``${NAME}`` expanded from the
    environment); raises :class:`ConfigError`."""
    return parse_config_document(document, "config", os.environ)


def invalid(exc: ConfigError, focus: tuple[str, str] | None = None) -> GatewayError:
    """400 ``invalid_config``: every problem in the message, the first one's field as ``param``
    (``config.providers[2].base_url``; with ``focus=("providers[2]", "provider")`` the edited
    object's own fields read ``provider.base_url``)."""
    errors = config_errors(exc)

    def param(path: str) -> str:
        if focus is not None and (path == focus[0] or path.startswith(focus[0] + ".") or path.startswith(focus[0] + "[")):
            return focus[1] + path[len(focus[0]):]
        return "config." + path if path else "config"

    message = "\n".join(f"{path}: {text}" for path, text in errors) or str(exc)
    return GatewayError(400, message, code="invalid_config", param=param(errors[0][0]) if errors else None)


def lock_out(call: AdminCall, after: Document) -> str | None:
    """Why the new document would leave no admin key that works, or None.

    ``ADMIN_API_KEY`` always works; a config key with ``role: admin`` works; the public development
    admin key (``adminadmin``) works only while the config defines no ``api_keys``."""
    env_keys = call.gateway.settings.env_keys
    if any(k.role == "admin" and not k.default for k in env_keys):
        return None
    entries = after.get("api_keys")
    entries = entries if isinstance(entries, list) else []
    if any(isinstance(k, dict) and k.get("role") == "admin" for k in entries):
        return None
    dev_admin = [k for k in env_keys if k.role == "admin" and k.default]
    if dev_admin and not entries:
        return None
    if dev_admin and any(config_ops.key_id(k.key) == call.actor for k in dev_admin):
        return ("Adding api_keys turns off the public development keys (adminadmin, temp_api_key…), and you are logged in "
                "with one: set ADMIN_API_KEY first (or include a key with role admin and use it).")
    return "This change would leave no admin key: keep a key with role admin in api_keys, or set ADMIN_API_KEY first."


async def commit(call: AdminCall, stored: StoredConfig, document: Document, action: str, target: str,
                 focus: tuple[str, str] | None = None, source: str = "admin") -> int:
    """Guard, validate and write ``document`` (based on ``stored``) with its audit entry, in one
    call (``Gateway.save_config`` validates with the loader and writes only a valid document); the new
    version (the same one when nothing changed: no empty versions, no empty audit entries).
    ``source="seed"``: the document is the file config again (re-import), served as the file is."""
    changes = config_ops.changes(stored.document, document)
    if not changes and stored.version and (source != "seed" or stored.meta.get("source") == "seed"):
        return stored.version  # (version 0: the store holds nothing, so the same document is written back)
    if call.gateway.store.name == "memory" and call.gateway.settings.platform != "local":
        raise GatewayError(503, "This deployment keeps its state in each instance's memory: a config saved here would reach only "
                                "this instance and be lost when it is recycled. Set REDIS_URL or UPSTASH_REDIS_REST_URL + "
                                "UPSTASH_REDIS_REST_TOKEN (Vercel KV's KV_REST_API_URL + KV_REST_API_TOKEN work too) to save "
                                "config changes.", code="store_not_shared")
    why = lock_out(call, document)
    if why is not None:
        raise GatewayError(400, why, code="would_lock_out")
    secrets = config_ops.provider_secrets(stored.document, document) | runtime_secrets(call.runtime)
    try:
        runtime = await call.gateway.save_config(document, stored.version, call.actor or None, action, target,
                                                 config_ops.scrub(changes, secrets), source=source)
    except ConfigError as exc:
        raise invalid(exc, focus) from None
    except GatewayError as exc:
        if exc.code != "version_conflict" or isinstance(exc, Conflict):
            raise
        told = exc.headers.get("x-config-version", "")
        version = int(told) if told.isdigit() else (await call.gateway.stored_config()).version
        raise Conflict(version, stored.version) from None
    return runtime.version


def runtime_secrets(*runtimes: Runtime | None) -> set[str]:
    """The provider secrets of running configs (``${NAME}`` references expanded): never in an answer."""
    return {secret for runtime in runtimes if runtime is not None
            for provider in runtime.table.providers.values() for credential in provider.credentials for secret in credential.secrets()}

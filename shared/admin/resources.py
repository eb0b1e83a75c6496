"""``/admin/api/providers``, ``/keys`` and ``/mappings``: one part of the config document at a time.

Each write reads the stored document at the client's version, edits a copy, and goes through
:func:`.writes.commit` (validation, lock-out guard, audit, compare-and-set), so these endpoints
can never store anything a whole-document ``PUT /config`` could not.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.responses import Response

from ..errors import GatewayError
from . import config_ops, writes
from .probe import describe, provider_fields
from .web import AdminCall, object_field, reply, version_of

Document = dict[str, Any]


def _list(document: Document, name: str) -> list[Any]:
    value = document.get(name)
    if not isinstance(value, list):
        value = document[name] = []
    return value


def _find_provider(document: Document, name: str) -> int:
    for i, p in enumerate(_list(document, "providers")):
        if isinstance(p, dict) and p.get("provider") == name:
            return i
    raise GatewayError(404, f"There is no provider named {name!r}.", code="not_found", param="name")


def _find_key(document: Document, key_id: str) -> int:
    for i, k in enumerate(_list(document, "api_keys")):
        if isinstance(k, dict) and config_ops.key_id(k.get("api")) == key_id:
            return i
    raise GatewayError(404, f"There is no gateway key with id {key_id!r}.", code="not_found", param="id")


def _mappings(document: Document) -> dict[str, Any]:
    value = document.get("model_mappings")
    return value if isinstance(value, dict) else {}


def _renamed(document: Document, old: str, new: str | None) -> None:
    """A provider renamed (``new``) or removed (None): its model mappings and its key rules
    (``old/*``) follow, so no rule is left pointing at a provider that is not there."""
    mappings = _mappings(document)
    for unified in list(mappings):
        targets = mappings[unified]
        if isinstance(targets, dict) and old in targets:
            targets = {(new if p == old else p): m for p, m in targets.items() if new is not None or p != old}
            if targets:
                mappings[unified] = targets
            else:
                del mappings[unified]
    if "model_mappings" in document and not mappings:
        del document["model_mappings"]
    if new is None:
        return
    for entry in _list(document, "api_keys"):
        if isinstance(entry, dict) and "model" in entry:
            entry["model"] = config_ops.map_rules(entry["model"], lambda r: new + r[len(old):] if r.startswith(old + "/") else r)


# -- providers -----------------------------------------------------------------------------------

async def list_providers(call: AdminCall) -> Response:
    stored = await call.gateway.stored_config()
    shown = []
    for p in _list(copy.deepcopy(stored.document), "providers"):
        if isinstance(p, dict):
            engine, url = await describe(p, call.gateway.settings)
            shown.append({**config_ops.mask_provider(p), "engine_detected": engine, "upstream_url": url})
    return reply({"version": stored.version, "providers": shown})


def _provider_body(body: dict[str, Any]) -> dict[str, Any]:
    provider = provider_fields(body)
    if not isinstance(provider.get("provider"), str) or not provider["provider"]:
        raise GatewayError(400, "'provider.provider' (the provider's name) is required", param="provider.provider",
                           code="missing_required_parameter")
    return provider


async def create_provider(call: AdminCall) -> Response:
    body = await call.json()
    provider = _provider_body(body)
    stored = await writes.current(call, version_of(body))
    document = copy.deepcopy(stored.document)
    providers = _list(document, "providers")
    name = provider["provider"]
    if any(isinstance(p, dict) and p.get("provider") == name for p in providers):
        raise GatewayError(409, f"A provider named {name!r} exists already.", code="already_exists", param="provider.provider")
    providers.append(config_ops.resolve_provider(provider, None, "provider"))
    version = await writes.commit(call, stored, document, "providers.create", name, (f"providers[{len(providers) - 1}]", "provider"))
    return reply({"version": version, "provider": config_ops.mask_provider(providers[-1])}, status=201)


async def update_provider(call: AdminCall) -> Response:
    body = await call.json()
    provider = _provider_body(body)
    stored = await writes.current(call, version_of(body))
    document = copy.deepcopy(stored.document)
    old_name, new_name = call.params["name"], provider["provider"]
    i = _find_provider(document, old_name)
    providers = _list(document, "providers")
    if new_name != old_name:
        if any(isinstance(p, dict) and p.get("provider") == new_name for p in providers):
            raise GatewayError(409, f"A provider named {new_name!r} exists already.", code="already_exists", param="provider.provider")
        _renamed(document, old_name, new_name)
    providers[i] = config_ops.resolve_provider(provider, providers[i], "provider")
    version = await writes.commit(call, stored, document, "providers.update", old_name, (f"providers[{i}]", "provider"))
    return reply({"version": version, "provider": config_ops.mask_provider(providers[i])})


async def delete_provider(call: AdminCall) -> Response:
    stored = await writes.current(call, call.int_query("version", None, 0))
    document = copy.deepcopy(stored.document)
    name = call.params["name"]
    del _list(document, "providers")[_find_provider(document, name)]
    _renamed(document, name, None)
    return reply({"version": await writes.commit(call, stored, document, "providers.delete", name)})


# -- gateway keys --------------------------------------------------------------------------------

def _shown_key(entry: dict[str, Any], all_keys: list[str]) -> dict[str, Any]:
    shown = config_ops.mask_key(entry, all_keys)
    return {"id": config_ops.key_id(entry.get("api")), **shown, "role": entry.get("role", "user"),
            "model": shown.get("model"), "preferences": shown.get("preferences") or {}}


async def list_keys(call: AdminCall) -> Response:
    stored = await call.gateway.stored_config()
    keys = config_ops.gateway_secrets(stored.document)
    entries = [k for k in _list(copy.deepcopy(stored.document), "api_keys") if isinstance(k, dict)]
    return reply({"version": stored.version, "keys": [_shown_key(k, keys) for k in entries]})


def _key_fields(body: dict[str, Any], stored_api: str | None) -> dict[str, Any]:
    """The editable fields of a gateway key; its secret is the server's (generated once, never edited)."""
    key = dict(object_field(body, "key"))
    key.pop("id", None)
    api = key.pop("api", None)
    if api is not None and api != stored_api and not (stored_api is not None and api == config_ops.mask_secret(stored_api)):
        raise GatewayError(400, "A gateway key's secret is generated by the server and cannot be set or changed; "
                                "create a new key and delete this one instead.", param="key.api", code="invalid_value")
    return key


async def create_key(call: AdminCall) -> Response:
    body = await call.json()
    fields = _key_fields(body, None)
    stored = await writes.current(call, version_of(body))
    document = copy.deepcopy(stored.document)
    secret = config_ops.new_gateway_key()
    entries = _list(document, "api_keys")
    known = config_ops.gateway_secrets(document)
    if "model" in fields:
        fields["model"] = config_ops.resolve_rules(fields["model"], known, "key.model")
    entries.append({"api": secret, **fields})
    key_id = config_ops.key_id(secret)
    version = await writes.commit(call, stored, document, "keys.create", key_id, (f"api_keys[{len(entries) - 1}]", "key"))
    shown = _shown_key(entries[-1], known + [secret])
    return reply({"version": version, "key": {**shown, "api": secret}}, status=201)


async def update_key(call: AdminCall) -> Response:
    body = await call.json()
    stored = await writes.current(call, version_of(body))
    document = copy.deepcopy(stored.document)
    key_id = call.params["id"]
    i = _find_key(document, key_id)
    entries = _list(document, "api_keys")
    secret = entries[i]["api"]
    fields = _key_fields(body, secret)
    if "model" in fields:
        fields["model"] = config_ops.resolve_rules(fields["model"], config_ops.gateway_secrets(document), "key.model")
    entries[i] = {"api": secret, **fields}
    version = await writes.commit(call, stored, document, "keys.update", key_id, (f"api_keys[{i}]", "key"))
    return reply({"version": version, "key": _shown_key(entries[i], config_ops.gateway_secrets(document))})


async def delete_key(call: AdminCall) -> Response:
    stored = await writes.current(call, call.int_query("version", None, 0))
    document = copy.deepcopy(stored.document)
    key_id = call.params["id"]
    del _list(document, "api_keys")[_find_key(document, key_id)]
    if not document["api_keys"]:
        del document["api_keys"]
    return reply({"version": await writes.commit(call, stored, document, "keys.delete", key_id)})


# -- model mappings ------------------------------------------------------------------------------

async def list_mappings(call: AdminCall) -> Response:
    stored = await call.gateway.stored_config()
    return reply({"version": stored.version, "mappings": _mappings(stored.document)})


async def put_mapping(call: AdminCall) -> Response:
    body = await call.json()
    targets = object_field(body, "targets")
    stored = await writes.current(call, version_of(body))
    document = copy.deepcopy(stored.document)
    name = call.params["name"]
    mappings = _mappings(document)
    mappings[name] = targets
    document["model_mappings"] = mappings
    version = await writes.commit(call, stored, document, "mappings.update", name, (f"model_mappings.{name}", "targets"))
    return reply({"version": version, "mappings": _mappings(document)})


async def delete_mapping(call: AdminCall) -> Response:
    stored = await writes.current(call, call.int_query("version", None, 0))
    document = copy.deepcopy(stored.document)
    name = call.params["name"]
    mappings = _mappings(document)
    if name not in mappings:
        raise GatewayError(404, f"There is no model mapping named {name!r}.", code="not_found", param="name")
    del mappings[name]
    if not mappings:
        document.pop("model_mappings", None)
    return reply({"version": await writes.commit(call, stored, document, "mappings.delete", name)})

"""Read-only views: ``status`` (no auth), ``health`` (cooldowns and recent failures), ``usage``
(per key, model and provider per day) and ``audit`` (who changed what).

Each costs a bounded number of store calls: health one ``admit`` (cooldown marks only: no limit,
no counter) and one ``recent_failures``; usage one ``get_usage`` per key and day, concurrently.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.responses import Response

from .. import __version__
from ..errors import GatewayError
from ..gateway import Gateway
from ..store.base import AdmitRequest
from ..store.keys import gateway_key_id, parked_id
from . import auth, config_ops
from .web import AdminCall, reply

MAX_DAYS = 90
PARALLEL_READS = 32  # usage reads in flight at once (90 days x many keys must not open hundreds of store calls)


async def status(gateway: Gateway) -> Response:
    """Whether the panel can log in at all, and which gateway this is (no auth, nothing secret)."""
    try:
        runtime = await gateway.ready()
        enabled = auth.admin_enabled(runtime, gateway.settings)
    except GatewayError:
        enabled = False
    return reply({"admin_enabled": enabled, "gateway_version": __version__})


async def health(call: AdminCall) -> Response:
    table = call.runtime.table
    channels = list({c.id: c for c in table.channels.values()}.values())  # aliases of one upstream model share a channel
    ids: list[str] = []
    for channel in channels:
        ids.append(channel.id)
    providers = {c.provider.name: c.provider for c in channels}
    for provider in providers.values():
        for credential in provider.credentials:
            ids += (credential.id, parked_id(credential.id))
    store = call.gateway.store
    result, failures = await asyncio.gather(store.admit(AdmitRequest(cooldown_ids=ids)), store.recent_failures(50))
    cooled = result.cooled

    def keys(channel: Any) -> list[dict[str, Any]]:
        return [{"id": c.id, "masked": config_ops.mask_secret(c.secret) if c.secret else c.kind,
                 "cooldown_seconds": round(cooled.get(c.id, 0.0), 3), "rejected": parked_id(c.id) in cooled}
                for c in channel.provider.credentials]

    return reply({"channels": [{"id": c.id, "provider": c.provider.name, "model": c.upstream_model,
                                "cooldown_seconds": round(cooled.get(c.id, 0.0), 3), "keys": keys(c)} for c in channels],
                  "recent_failures": failures})


def _day(offset: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() - offset * 86400))


def usage_rows(day: str, key_id: str, name: str | None, counters: dict[str, int]) -> list[dict[str, Any]]:
    """The rows of one usage hash: ``p:<provider>:<model>:<field>`` per provider; what the per-model
    totals (``<model>:<field>``) hold beyond those (counted before providers were recorded) has
    provider null."""
    totals: dict[tuple[str | None, str], dict[str, int]] = {}
    for name_field, value in counters.items():
        head, _, field = name_field.rpartition(":")
        if field not in ("requests", "prompt_tokens", "completion_tokens") or not head:
            continue
        key: tuple[str | None, str] = (None, head)
        if head.startswith("p:") and ":" in head[2:]:
            provider_name, _, model_name = head[2:].partition(":")
            key = (provider_name, model_name)
        totals.setdefault(key, {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0})[field] += int(value)
    for (provider, model), values in list(totals.items()):
        if provider is not None and (None, model) in totals:
            rest = totals[(None, model)]
            for field, value in values.items():
                rest[field] -= value
    rows = []
    for (provider, model), values in totals.items():
        if provider is None and not any(v > 0 for v in values.values()):
            continue
        rows.append({"day": day, "key_id": key_id, "key_name": name, "model": model, "provider": provider, **values})
    return rows


async def usage(call: AdminCall) -> Response:
    days = [_day(i) for i in range(call.int_query("days", 7, 1, MAX_DAYS))]
    stored = await call.gateway.stored_config()
    keys: dict[str, str | None] = {}
    entries = stored.document.get("api_keys")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict) and isinstance(entry.get("api"), str):
            name = entry.get("name")
            keys.setdefault(config_ops.key_id(entry["api"]), name if isinstance(name, str) else f"api_keys[{i}]")
    for env_key in call.gateway.settings.env_keys:
        keys.setdefault(gateway_key_id(env_key.key), env_key.source)
    pairs = [(day, key_id) for day in days for key_id in keys]
    gate = asyncio.Semaphore(PARALLEL_READS)

    async def read(day: str, key_id: str) -> dict[str, int]:
        async with gate:
            return await call.gateway.store.get_usage(key_id, day)

    results = await asyncio.gather(*(read(day, key_id) for day, key_id in pairs))
    rows = [row for (day, key_id), counters in zip(pairs, results, strict=True) for row in usage_rows(day, key_id, keys[key_id], counters)]
    return reply({"days": days, "rows": rows})


async def audit(call: AdminCall) -> Response:
    return reply({"entries": await call.gateway.store.get_audit(call.int_query("limit", 50, 1, 1000))})

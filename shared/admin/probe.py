"""Looking at one provider through its adapter: the URL it would call (no network), its model
list, and a one-token chat request. Provider keys are used here and never leave: every text that
could repeat one (an upstream's error message) is masked with the provider's own credentials.

Why through the adapter and nothing else: the engine registry knows each wire format (URL shape,
auth header, model list shape); a provider conditional here would be a second registry.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.responses import Response

from .. import discovery
from ..config import ConfigError, GatewayConfig
from ..errors import GatewayError
from ..providers.base import StreamContext, UpstreamError
from ..routing import Channel, Provider, compile_routes
from ..settings import Settings
from . import config_ops, writes
from .web import AdminCall, object_field, reply

TIMEOUT = 20.0  # seconds for one probe (model list or test request), connection included
PLACEHOLDER = "{model}"  # the model in a previewed URL when the provider lists none
ERROR_BYTES = 64 * 1024


def compile_one(provider: dict[str, Any], settings: Settings) -> tuple[Provider, Channel | None]:
    """One provider compiled alone, exactly as the gateway compiles it; raises :class:`ConfigError`."""
    config: GatewayConfig = writes.check({"providers": [provider]})
    compiled = config.providers[0]
    table = compile_routes(config.model_copy(update={"api_keys": []}), settings, {compiled.provider: [PLACEHOLDER]})
    found = table.providers[compiled.provider]
    channel = next((c for c in table.channels.values() if c.provider is found), None)
    return found, channel


async def preview(provider: Provider, channel: Channel | None) -> str:
    if channel is None:
        return ""
    url = await provider.adapter.preview_url(channel)
    return provider.mask(url.replace("%7Bmodel%7D", PLACEHOLDER))


async def describe(raw: dict[str, Any], settings: Settings | None = None) -> tuple[str, str]:
    """``(engine, upstream chat URL)`` of a stored provider; empty strings when it does not compile
    here (e.g. a ``${NAME}`` this process lacks)."""
    try:
        provider, channel = compile_one(raw, settings or Settings())
    except (ConfigError, LookupError):
        return "", ""
    return provider.engine, await preview(provider, channel)


def provider_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The body's ``provider`` object, without the read-only fields ``GET /providers`` adds (a
    provider read, edited and sent back must be accepted as it is)."""
    provider = dict(object_field(body, "provider"))
    provider.pop("engine_detected", None)
    provider.pop("upstream_url", None)
    return provider


async def _provider(call: AdminCall, resolve: bool) -> tuple[Provider, Channel | None]:
    """The request's ``provider``, its masked secrets resolved against the stored provider of the same name."""
    raw = provider_fields(await call.json())
    if resolve:
        stored = await call.gateway.stored_config()
        providers = stored.document.get("providers")
        same = next((p for p in providers if isinstance(p, dict) and p.get("provider") == raw.get("provider")), None) \
            if isinstance(providers, list) else None
        raw = config_ops.resolve_provider(raw, same, "provider")
    try:
        return compile_one(raw, call.gateway.settings)
    except ConfigError as exc:
        raise writes.invalid(exc, ("providers[0]", "provider")) from None


async def preview_provider(call: AdminCall) -> Response:
    provider, channel = await _provider(call, resolve=False)
    return reply({"engine": provider.engine, "upstream_url": await preview(provider, channel)})


async def fetch_models(call: AdminCall) -> Response:
    provider, _ = await _provider(call, resolve=True)
    return reply({"models": await discovery.fetch_models(provider, TIMEOUT)})


def _reply_text(body: bytes) -> str | None:
    try:
        message = json.loads(body)["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else None


async def chat_once(call: AdminCall, channel: Channel) -> dict[str, Any]:
    """One ``max_tokens: 1`` chat request on exactly this channel with the provider's first key."""
    from ..http_client import read_body, transport_failure
    from ..operations import CHAT_COMPLETIONS

    provider = channel.provider
    adapter = provider.adapter
    credential = provider.credentials[0] if provider.credentials else None
    body = CHAT_COMPLETIONS.body_for(channel, {"model": channel.alias, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1})
    started = time.perf_counter()
    status, text, error = 0, None, None
    try:
        async with asyncio.timeout(TIMEOUT):
            built = await adapter.build_request(channel, credential, body, False)
            response = await adapter.send(await adapter.prepare(channel, credential, built), TIMEOUT)
            status = response.status_code
            if status >= 400:
                data = await read_body(response, ERROR_BYTES, truncate=True, idle_timeout=TIMEOUT)
                raise adapter.parse_error(status, data, response.headers)
            data = await read_body(response, call.gateway.settings.upstream.max_bytes, idle_timeout=TIMEOUT)
            text = _reply_text(adapter.parse_response(channel, data, StreamContext(model=channel.alias)).body)
    except UpstreamError as exc:
        status, error = status or exc.status, f"HTTP {exc.status}: {exc.message}"
    except TimeoutError:
        status, error = 504, f"no answer within {TIMEOUT:g} s"
    except Exception as exc:  # the exchange failed (connection, a reply that is not HTTP): the operator sees why
        from ..failures import connection_failure

        status, error = connection_failure(exc) or transport_failure(exc)
    return {"ok": error is None and 200 <= status < 300, "status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            "reply": text, "error": provider.mask(error) if error is not None else None}


async def test_provider(call: AdminCall) -> Response:
    """``POST /providers/{name}/test``: the live config's channel of that provider and model."""
    name = call.params["name"]
    provider = call.runtime.table.providers.get(name)
    if provider is None:
        raise GatewayError(404, f"There is no provider named {name!r} in the running config.", code="not_found", param="name")
    body = await call.json_or_empty()
    model = body.get("model")
    channels = [c for c in call.runtime.table.channels.values() if c.provider is provider]
    if model is not None:
        channels = [c for c in channels if model in (c.alias, c.upstream_model)]
    if not channels:
        what = f"no model {model!r}" if model is not None else "no models"
        raise GatewayError(400, f"The provider {name!r} has {what}.", code="model_not_found", param="model")
    return reply(await chat_once(call, channels[0]))

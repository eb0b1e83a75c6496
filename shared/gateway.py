"""One gateway instance: settings, config, routing table, store. Built lazily on the first request
(serverless adapters may not run ASGI lifespan), then reused for the life of the instance."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from typing import Any

from .config import ConfigError, GatewayConfig, load_config
from .errors import GatewayError
from .proxy import ChatProxy
from .routing import KeyPolicy, RoutingTable, compile_routes, digest
from .settings import Settings
from .store import Store, make_store

log = logging.getLogger("gateway")

CONFIG_RETRY_SECONDS = 10  # a broken config (e.g. CONFIG_URL down) is tried again after this long


class Gateway:
    def __init__(self, settings: Settings | None = None, config: GatewayConfig | None = None, store: Store | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._config = config
        self.store: Store = store or make_store(self.settings)
        self.table: RoutingTable | None = None
        self.proxy: ChatProxy | None = None
        self.source = "given" if config is not None else "none"
        self._lock = asyncio.Lock()
        self._failure: tuple[float, GatewayError] | None = None  # (retry after, the error) while the config is broken

    async def ready(self) -> RoutingTable:
        """Load the config and compile the routing table once; raise a 503 while the config is broken."""
        if self.table is not None:
            return self.table
        if self._failure is not None and time.monotonic() < self._failure[0]:
            raise self._failure[1]  # a broken config is not re-read (or re-fetched) on every request
        async with self._lock:
            if self.table is None:
                try:
                    config = self._config
                    if config is None:
                        config, self.source = await load_config(self.settings)
                except ConfigError as exc:
                    log.error("configuration error:\n%s", exc)
                    error = GatewayError(503, f"gateway configuration error: {exc}", code="config_error",
                                         headers={"retry-after": str(CONFIG_RETRY_SECONDS)})
                    self._failure = (time.monotonic() + CONFIG_RETRY_SECONDS, error)
                    raise error from None
                discovered = await self._discover(config)
                table = compile_routes(config, self.settings, discovered)
                self.proxy = ChatProxy(table, self.store)
                self.table = table
                if self.settings.admin_disabled:
                    log.warning("ENVIRONMENT=production and ADMIN_API_KEY is not set: admin access is disabled")
                if not table.providers:
                    log.warning("no providers configured (source: %s): every model request answers 404. "
                                "Write an api.yaml (see README.md) or set CONFIG_YAML / CONFIG_PATH / CONFIG_URL.", self.source)
        return self.table

    async def aclose(self) -> None:
        """Close the store's connections and this loop's HTTP client (ASGI lifespan shutdown)."""
        from .http_client import close_client

        try:
            await self.store.close()
        finally:
            await close_client()

    async def _discover(self, config: GatewayConfig) -> dict[str, list[str]]:
        """Model lists for providers without ``model``: fetched from the upstream once per instance."""
        todo = [p for p in config.providers if p.model is None]
        if not todo:
            return {}
        from .providers import get_adapter
        from .routing import detect_engine

        probe = compile_routes(config.model_copy(update={"providers": todo, "api_keys": []}), self.settings)

        async def fetch(provider: Any) -> tuple[str, list[str]]:
            from .http_client import get_client

            try:
                adapter = get_adapter(detect_engine(provider.config))
                request = adapter.models_request(provider, provider.keys[0] if provider.keys else "")
                if request is None:
                    return provider.name, []
                response = await asyncio.wait_for(get_client().get(request.url, headers=request.headers), 15)
                models = adapter.parse_models(response.json()) if response.status_code == 200 else []
                if not models:
                    log.warning("provider %s: no models listed by its /models endpoint (HTTP %s)", provider.name, response.status_code)
                return provider.name, models
            except Exception as exc:
                log.warning("provider %s: could not fetch its model list (%s)", provider.name, type(exc).__name__)
                return provider.name, []

        return dict(await asyncio.gather(*(fetch(p) for p in probe.providers.values())))

    def authenticate(self, headers: Any) -> KeyPolicy:
        """``Authorization: Bearer <key>`` or ``x-api-key``, exact match only.

        Keys are looked up by SHA-256 digest, so the only comparison that runs on attacker input is
        on a hash (timing reveals nothing about the key), confirmed with a constant-time compare.
        """
        assert self.table is not None
        auth = headers.get("authorization") or ""
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("x-api-key", "").strip()
        if not key:
            raise GatewayError(401, "Missing API key: send 'Authorization: Bearer <key>' (or 'x-api-key').", code="invalid_api_key")
        d = digest(key)
        policy = self.table.keys.get(d)
        if policy is None or not hmac.compare_digest(policy.key_id, d.hex()[:16]):
            raise GatewayError(401, "Incorrect API key provided.", code="invalid_api_key")
        return policy

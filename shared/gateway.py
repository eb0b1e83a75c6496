"""One gateway instance: settings, store, and the runtime of the current config version.

The first request loads the config and builds the runtime (serverless adapters may not run ASGI
lifespan); ``reload`` builds the runtime of a new config and swaps it in atomically.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from typing import Any

from .config import ConfigError, GatewayConfig, load_config
from .errors import GatewayError
from .providers.base import merge_headers
from .routing import KeyPolicy, RoutingTable, compile_routes, digest
from .runtime import Runtime
from .settings import Settings
from .store import Store, make_store

log = logging.getLogger("gateway")

CONFIG_RETRY_SECONDS = 10  # a broken config (e.g. CONFIG_URL down) is tried again after this long
DISCOVERY_TIMEOUT = 15.0  # seconds for one provider's model list


class Gateway:
    def __init__(self, settings: Settings | None = None, config: GatewayConfig | None = None, store: Store | None = None,
                 source: str | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._config = config
        self.store: Store = store or make_store(self.settings)
        self.runtime: Runtime | None = None
        self._given_source = source or ("given" if config is not None else "none")
        self._lock = asyncio.Lock()
        self._failure: tuple[float, GatewayError] | None = None  # (retry after, the error) while the config is broken

    @property
    def table(self) -> RoutingTable | None:
        return self.runtime.table if self.runtime is not None else None

    @property
    def source(self) -> str:
        return self.runtime.source if self.runtime is not None else self._given_source

    async def ready(self) -> Runtime:
        """The current runtime; the first call loads the config. Raises a 503 while the config is broken."""
        runtime = self.runtime
        if runtime is not None:
            return runtime
        if self._failure is not None and time.monotonic() < self._failure[0]:
            raise self._failure[1]  # a broken config is not re-read (or re-fetched) on every request
        async with self._lock:
            if self.runtime is None:
                try:
                    config, source = (self._config, self._given_source) if self._config is not None else await load_config(self.settings)
                except ConfigError as exc:
                    log.error("configuration error:\n%s", exc)
                    error = GatewayError(503, f"gateway configuration error: {exc}", code="config_error",
                                         headers={"retry-after": str(CONFIG_RETRY_SECONDS)})
                    self._failure = (time.monotonic() + CONFIG_RETRY_SECONDS, error)
                    raise error from None
                runtime = await self.reload(config, source, version=1)
                if self.settings.admin_disabled and not runtime.table.dev_keys:
                    log.warning("ADMIN_API_KEY is not set: admin access is disabled")
            assert self.runtime is not None
            return self.runtime

    async def reload(self, config: GatewayConfig, source: str, version: int | None = None) -> Runtime:
        """Build the runtime of ``config`` (model discovery included) and swap it in; requests in
        flight keep the runtime they started with."""
        discovered = await self._discover(config)
        table = compile_routes(config, self.settings, discovered)
        current = self.runtime
        number = version if version is not None else (current.version + 1 if current is not None else 1)
        runtime = Runtime.build(number, table, self.store, source)
        self.runtime = runtime
        testing = sorted(p.name for p in table.providers.values() if p.adapter.for_testing)
        if testing and self.settings.production:
            log.warning("ENVIRONMENT=production with test-only providers (%s): their answers are made up, not a model's",
                        ", ".join(testing))
        if table.dev_keys:
            log.warning("DEVELOPMENT KEYS ARE ACTIVE: %s. Anyone who can reach this gateway can use them. Set ADMIN_API_KEY "
                        "and TEMP_API_KEY (or define api_keys in the config, or set ENVIRONMENT=production) before exposing it.",
                        ", ".join(table.dev_keys))
        if not table.providers:
            log.warning("no providers configured (source: %s): every model request answers 404. "
                        "Write an api.yaml (see README.md) or set CONFIG_YAML / CONFIG_PATH / CONFIG_URL.", source)
        return runtime

    async def aclose(self) -> None:
        """Close the store's connections and this loop's HTTP client (ASGI lifespan shutdown)."""
        from .http_client import close_client

        try:
            await self.store.close()
        finally:
            await close_client()

    async def _discover(self, config: GatewayConfig) -> dict[str, list[str]]:
        """Model lists for providers without ``model``: fetched from the upstream once per config version."""
        todo = [p for p in config.providers if p.model is None]
        if not todo:
            return {}
        probe = compile_routes(config.model_copy(update={"providers": todo, "api_keys": []}), self.settings)

        async def fetch(provider: Any) -> tuple[str, list[str]]:
            from .http_client import get_client

            try:
                adapter = provider.adapter
                request = adapter.models_request(provider, provider.credentials[0] if provider.credentials else None)
                if request is None:
                    return provider.name, []
                headers = merge_headers(request.headers, provider.headers)
                response = await asyncio.wait_for(get_client(provider.proxy).get(request.url, headers=headers), DISCOVERY_TIMEOUT)
                models = adapter.parse_models(response.json()) if response.status_code == 200 else []
                if not models:
                    log.warning("provider %s: no models listed by its /models endpoint (HTTP %s)", provider.name, response.status_code)
                return provider.name, models
            except Exception as exc:
                log.warning("provider %s: could not fetch its model list (%s)", provider.name, type(exc).__name__)
                return provider.name, []

        return dict(await asyncio.gather(*(fetch(p) for p in probe.providers.values())))

    def authenticate(self, headers: Any, runtime: Runtime | None = None) -> KeyPolicy:
        """``Authorization: Bearer <key>`` or ``x-api-key``, exact match only.

        Keys are looked up by SHA-256 digest, so the only comparison that runs on attacker input is
        on a hash (timing reveals nothing about the key), confirmed with a constant-time compare.
        """
        auth = headers.get("authorization") or ""
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("x-api-key", "").strip()
        if not key:
            raise GatewayError(401, "Missing API key: send 'Authorization: Bearer <key>' (or 'x-api-key').", code="invalid_api_key")
        d = digest(key)
        runtime = runtime or self.runtime
        assert runtime is not None, "authenticate() runs after ready()"
        policy = runtime.table.keys.get(d)
        if policy is None or not hmac.compare_digest(policy.key_id, d.hex()[:16]):
            raise GatewayError(401, "Incorrect API key provided.", code="invalid_api_key")
        return policy

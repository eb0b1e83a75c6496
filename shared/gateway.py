"""One gateway instance: settings, store, and the runtime of the current config version.

The first request loads the config and builds the runtime (serverless adapters may not run ASGI
lifespan); ``reload`` builds the runtime of a new config and swaps it in atomically.

Where the config comes from (README, "Where the config lives"): the shared store holds the config
document with a version number. An instance reads it once, at its first request; if the store is
empty, the instance's own config (CONFIG_YAML, CONFIG_PATH / api.yaml, CONFIG_URL) seeds it. While
the stored document is such a seed (``meta.source == "seed"``), each instance serves its own file
config, exactly as before the store held anything (a deploy with a new api.yaml takes effect as it
always did, and replaces the seed); once an admin saved a config (``"admin"``), that document is
the live config of every instance, and the file is ignored until an admin re-imports it.

Every instance learns of a new version in the ``admit`` call its requests already make: the store
refuses, with no side effect, an admit made with another version, and the request runs again on
the new config (``refresh``). Requests that fail before ``admit`` (an unknown key or model, which
a new config might know) ask the store for its version before answering.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import logging
import time
from typing import Any

from .config import ConfigError, GatewayConfig, load_config_document, parse_config_document
from .errors import GatewayError
from .routing import KeyPolicy, RoutingTable, compile_routes, digest
from .runtime import Runtime
from .settings import Settings
from .store import Store, StoredConfig, StoreUnavailable, make_store

log = logging.getLogger("gateway")

CONFIG_RETRY_SECONDS = 10  # a broken config (e.g. CONFIG_URL down) is tried again after this long
DISCOVERY_TIMEOUT = 15.0  # seconds for one provider's model list
STORE_SOURCE = "shared store"


def fingerprint(document: dict[str, Any] | None) -> str:
    """A config document's identity: tells a seed from the file config that made it."""
    return hashlib.sha256(json.dumps(document or {}, sort_keys=True, default=str).encode()).hexdigest()[:32]


def document_of(config: GatewayConfig) -> dict[str, Any]:
    """The mapping a config was read from (what the store keeps for it); for one built in code, its dump."""
    return config.document if config.document is not None else config.model_dump(mode="json", exclude_unset=True)


class FileConfig:
    """The instance's own config (file, environment or URL), read once: the seed, and the live
    config while the store holds only a seed."""

    def __init__(self, config: GatewayConfig, source: str, document: dict[str, Any] | None) -> None:
        self.config = config
        self.source = source
        self.document = document
        self.fingerprint = fingerprint(document)


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
        self._file: FileConfig | None = None
        self._discovered: dict[str, tuple[str, list[str]]] = {}  # provider -> (its config's fingerprint, models)
        self._version_check: asyncio.Future[int | None] | None = None  # the store-version read in flight (is_stale)

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
                    own = await self.file_config()
                except ConfigError as exc:
                    log.error("configuration error:\n%s", exc)
                    error = GatewayError(503, f"gateway configuration error: {exc}", code="config_error",
                                         headers={"retry-after": str(CONFIG_RETRY_SECONDS)})
                    self._failure = (time.monotonic() + CONFIG_RETRY_SECONDS, error)
                    raise error from None
                stored = await self._seeded(own)
                config, source, version = self._choose(own, stored)
                runtime = await self.reload(config, source, version)
                if self.settings.admin_disabled and not runtime.table.dev_keys:
                    log.warning("ADMIN_API_KEY is not set: admin access is disabled")
            assert self.runtime is not None
            return self.runtime

    async def file_config(self) -> FileConfig:
        """The instance's own config (given, CONFIG_YAML, CONFIG_PATH / api.yaml or CONFIG_URL),
        loaded once; raises :class:`ConfigError`."""
        if self._file is None:
            if self._config is not None:
                self._file = FileConfig(self._config, self._given_source, document_of(self._config))
            else:
                config, source, document = await load_config_document(self.settings)
                self._file = FileConfig(config, source, document)
        return self._file

    async def _seeded(self, own: FileConfig) -> StoredConfig | None:
        """The store's config document, after seeding it with ``own`` when it is empty or holds the
        seed of another file config; ``None`` when the store cannot be read (then ``own`` is served
        at version 0, and the first admit that reaches the store brings the instance up to date)."""
        for _ in range(3):  # a lost race with another instance's seed: read what won, and decide again
            try:
                stored = await self.store.get_config()
                if stored is not None and (stored.meta.get("source") != "seed" or own.document is None
                                           or stored.meta.get("fingerprint") == own.fingerprint):
                    edited = stored.meta.get("source") != "seed"
                    if edited and own.document is not None and stored.meta.get("seeded_from") != own.fingerprint:
                        log.warning("the config saved by an admin (version %d) is live; %s is not used (re-import it from the "
                                    "admin panel to apply it)", stored.version, own.source)
                    return stored
                base = stored.version if stored is not None else 0
                document = own.document if own.document is not None else {}
                meta: dict[str, Any] = {"source": "seed", "from": own.source, "fingerprint": own.fingerprint, "updated_at": time.time(),
                        "updated_by": None}
                audit: dict[str, Any] = {"at": time.time(), "key_id": None, "action": "config.seed", "target": own.source, "changes": []}
                version = await self.store.put_config(base, document, meta, audit)
                if version is not None:
                    return StoredConfig(version, document, meta)
            except StoreUnavailable as exc:
                log.info("%s: serving %s until the store answers", exc, own.source)
                return None
        return await self.store.get_config()

    def _choose(self, own: FileConfig, stored: StoredConfig | None) -> tuple[GatewayConfig, str, int]:
        """``(config, source, version)`` to serve for the store's document."""
        if stored is None:
            return own.config, own.source, 0
        if stored.meta.get("source") == "seed" and own.document is not None:
            return own.config, own.source, stored.version
        try:
            return parse_config_document(stored.document, f"{STORE_SOURCE} (version {stored.version})"), STORE_SOURCE, stored.version
        except ConfigError as exc:  # e.g. written by a newer gateway version: keep serving rather than 503 everything
            log.error("the config in the shared store does not load; serving %s instead:\n%s", own.source, exc)
            return own.config, own.source, stored.version

    async def refresh(self) -> Runtime:
        """Bring this instance up to the store's config version. One reload however many requests
        noticed the change at once (the ones that waited for the lock find it done)."""
        await self.ready()
        async with self._lock:
            runtime = self.runtime
            assert runtime is not None
            try:
                own = await self.file_config()
                stored = await self.store.get_config()
            except Exception as exc:  # a refresh that fails must never fail the request: it runs on what it has
                log.warning("config refresh failed: %s", f"{type(exc).__name__}: {exc}"[:300])
                return runtime
            if stored is None or stored.version == runtime.version:  # None: a store that lost its data; nothing to follow
                return runtime
            config, source, version = self._choose(own, stored)
            log.info("config version %d -> %d (%s)", runtime.version, version, stored.meta.get("source", "?"))
            return await self.reload(config, source, version)

    async def current(self) -> Runtime:
        """The runtime, first brought up to the store's version if that is another one: for answers a
        newer config could change (an unknown key or model), never on the success path."""
        runtime = await self.ready()
        return await self.refresh() if await self.is_stale() else runtime

    async def is_stale(self) -> bool:
        """Whether the store holds another config version than this instance runs: one store call,
        made only before answers a newer config could change (401, 403, 404), never on the success
        path. Concurrent checks share one call, so a flood of bad keys costs the store one read at
        a time per instance, not one per request."""
        runtime = self.runtime
        if runtime is None:
            return False
        check = self._version_check
        if check is None or check.done() or check.get_loop() is not asyncio.get_running_loop():  # serverless: a loop per call
            check = self._version_check = asyncio.ensure_future(self._stored_version())
        version = await asyncio.shield(check)
        return bool(version) and version != runtime.version  # None: unreadable; 0: the store holds no config

    async def _stored_version(self) -> int | None:
        try:
            return await self.store.config_version()
        except Exception:  # a store outage must not turn a 401 into a 500
            return None

    async def stored_config(self) -> StoredConfig:
        """The live config document and its version, for the admin API (secrets in clear: mask them).
        A store holding none (never seeded, or a Redis that lost its data) gives version 0 and the
        document this instance serves, so an edit starts from what is running."""
        runtime = await self.ready()
        stored = await self.store.get_config()
        if stored is not None:
            return stored
        return StoredConfig(0, copy.deepcopy(runtime.document), {"source": "none"})

    async def save_config(self, document: dict[str, Any], expected_version: int, actor: str | None, action: str, target: str,
                          changes: list[dict[str, Any]], source: str = "admin") -> Runtime:
        """Validate ``document`` like a file, write it if the store still holds ``expected_version``
        (else 409 ``version_conflict``, with the current version in ``exc.headers["x-config-version"]``),
        and run it here at once; other instances follow on their next request. Raises
        :class:`ConfigError` when the document is invalid (the store is left untouched)."""
        config = parse_config_document(document, "config")
        own = await self.file_config()
        now = time.time()
        meta: dict[str, Any] = {"source": source, "updated_at": now, "updated_by": actor}
        if source == "seed":
            meta.update({"from": own.source, "fingerprint": fingerprint(document)})
        else:
            meta["seeded_from"] = own.fingerprint
        audit = {"at": now, "key_id": actor, "action": action, "target": target, "changes": changes}
        version = await self.store.put_config(expected_version, document, meta, audit)
        if version is None:
            current = await self.store.config_version()
            raise GatewayError(409, f"the config changed since version {expected_version} (now version {current}); "
                                    "reload it and apply your change again", code="version_conflict",
                               headers={"x-config-version": str(current)})
        async with self._lock:
            if source == "seed":
                config, where, version = self._choose(own, StoredConfig(version, document, meta))
            else:
                where = STORE_SOURCE
            return await self.reload(config, where, version)

    async def reload(self, config: GatewayConfig, source: str, version: int) -> Runtime:
        """Build the runtime of ``config`` (model discovery included) and swap it in; requests in
        flight keep the runtime they started with."""
        discovered = await self._discover(config)
        table = compile_routes(config, self.settings, discovered)
        runtime = Runtime.build(version, table, self.store, source, document_of(config))
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
        """Model lists for providers without ``model``: fetched from the upstream once per provider
        config (a reload for another change reuses the lists of unchanged providers)."""
        todo = [p for p in config.providers if p.model is None]
        if not todo:
            return {}
        marks = {p.provider: fingerprint(p.model_dump(mode="json")) for p in todo}
        known = {name: self._discovered[name][1] for name, mark in marks.items()
                 if name in self._discovered and self._discovered[name][0] == mark}
        todo = [p for p in todo if p.provider not in known]
        if not todo:
            return known
        probe = compile_routes(config.model_copy(update={"providers": todo, "api_keys": [], "model_mappings": {}}), self.settings)

        async def fetch(provider: Any) -> tuple[str, list[str]]:
            from .discovery import fetch_models

            try:
                models = await fetch_models(provider, DISCOVERY_TIMEOUT)
            except GatewayError as exc:
                if exc.code != "no_model_list":  # an engine without a model list (Vertex) must name its models
                    log.warning("provider %s: could not fetch its model list: %s", provider.name, exc.message)
                return provider.name, []
            if not models:
                log.warning("provider %s: its /models endpoint lists no models", provider.name)
            else:
                self._discovered[provider.name] = (marks[provider.name], models)
            return provider.name, models

        return {**known, **dict(await asyncio.gather(*(fetch(p) for p in probe.providers.values())))}

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

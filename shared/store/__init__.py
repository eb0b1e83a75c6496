"""State stores behind one interface; ``make_store`` picks one from the settings."""

from __future__ import annotations

from ..settings import Settings
from .base import AdmitRequest, AdmitResult, LimitCheck, Store, StoredConfig, StoreUnavailable, Usage, WindowState
from .memory import MemoryStore

__all__ = ["AdmitRequest", "AdmitResult", "LimitCheck", "MemoryStore", "Store", "StoreUnavailable", "StoredConfig", "Usage", "WindowState",
           "make_store"]


def make_store(settings: Settings) -> Store:
    """Upstash when its URL and token are set, else Redis over TCP when ``REDIS_URL`` is set, else
    the in-process store. A shared store is wrapped in degraded mode (``resilient.py``), and its
    module (with the redis / upstash-redis import) is loaded only here, only when configured."""
    shared: Store
    if settings.upstash_url and settings.upstash_token:
        from .upstash import UpstashStore

        shared = UpstashStore(settings.upstash_url, settings.upstash_token, settings.store_prefix)
    elif settings.redis_url:
        from .redis_tcp import RedisStore

        shared = RedisStore(settings.redis_url, settings.store_prefix, timeout=settings.store_timeout)
    else:
        return MemoryStore()
    from .resilient import ResilientStore

    return ResilientStore(shared, timeout=settings.store_timeout, retry_after=settings.store_retry)

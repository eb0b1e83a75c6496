"""Process settings read from environment variables (UniAPI's names plus a few of our own).

Settings are read once into an immutable object and passed around; nothing else in the package
reads ``os.environ`` directly (except ``${NAME}`` expansion inside the YAML config).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger("gateway")

DEV_ADMIN_KEY = "adminadmin"
DEV_TEMP_KEYS = ("temp_api_key", "temp_api_key_one")


def _int(env: Mapping[str, str], name: str, default: int, what: str, low: int = 1, high: int | None = None) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}: expected {what}, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        raise ValueError(f"environment variable {name}: expected {what}, got {raw!r}")
    return value


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _float(env: Mapping[str, str], *names: str, default: float, high: float | None = None) -> float:
    what = "a positive number of seconds" + (f" (at most {high:g})" if high is not None else "")
    for name in names:
        raw = env.get(name)
        if raw not in (None, ""):
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"environment variable {name}: expected {what}, got {raw!r}") from None
            if not math.isfinite(value) or value <= 0 or (high is not None and value > high):
                raise ValueError(f"environment variable {name}: expected {what}, got {raw!r}")
            return value
    return default


MIB = 1024 * 1024
RETRY_AFTER_CEILING = 86400.0  # the largest MAX_RETRY_AFTER_SECONDS accepted (one day)


@dataclass(frozen=True)
class UpstreamLimits:
    """What the gateway accepts from an upstream (the README's environment table): a hostile or
    broken upstream must cost a bounded amount of memory, CPU and cooldown, never the instance."""

    max_bytes: int = 64 * MIB  # MAX_UPSTREAM_BYTES: a whole (non-stream) answer, compressed and decoded
    max_event_bytes: int = 8 * MIB  # MAX_SSE_EVENT_BYTES: one SSE event of a stream
    max_stream_bytes: int = 1024 * MIB  # MAX_UPSTREAM_STREAM_BYTES: a whole stream, decoded (0 = no cap)
    max_retry_after: float = 3600.0  # MAX_RETRY_AFTER_SECONDS: the longest Retry-After honoured

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> UpstreamLimits:
        size = "a positive integer number of bytes"
        return cls(
            max_bytes=_int(env, "MAX_UPSTREAM_BYTES", cls.max_bytes, size),
            max_event_bytes=_int(env, "MAX_SSE_EVENT_BYTES", cls.max_event_bytes, size),
            max_stream_bytes=_int(env, "MAX_UPSTREAM_STREAM_BYTES", cls.max_stream_bytes, "a number of bytes (0: no cap)", 0),
            max_retry_after=_float(env, "MAX_RETRY_AFTER_SECONDS", default=cls.max_retry_after, high=RETRY_AFTER_CEILING),
        )


@dataclass(frozen=True)
class EnvKey:
    """A gateway key that comes from the environment rather than from ``api_keys``."""

    key: str
    role: str  # "admin" or "user"
    source: str  # the variable name, for messages


@dataclass(frozen=True)
class Settings:
    production: bool = False
    env_keys: tuple[EnvKey, ...] = ()
    admin_disabled: bool = False
    timeout: float = 100.0
    config_yaml: str | None = None
    config_path: str | None = None
    config_url: str | None = None
    redis_url: str | None = None
    upstash_url: str | None = None
    upstash_token: str | None = None
    store_prefix: str = "unigw:"
    store_timeout: float = 0.5  # seconds: budget of one shared-store call before degraded mode
    store_retry: float = 5.0  # seconds: back-off before an unreachable shared store is tried again
    disable_database: bool = False
    max_body_bytes: int = 10 * 1024 * 1024
    upstream: UpstreamLimits = field(default_factory=UpstreamLimits)
    host: str = "0.0.0.0"
    port: int = 8000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        production = env.get("ENVIRONMENT", "").strip().lower() == "production"
        keys: list[EnvKey] = []
        admin = env.get("ADMIN_API_KEY") or (None if production else DEV_ADMIN_KEY)
        admin_disabled = admin is None
        if admin:
            keys.append(EnvKey(admin, "admin", "ADMIN_API_KEY"))
        for name, default in zip(("TEMP_API_KEY", "TEMP_API_KEY_ONE"), DEV_TEMP_KEYS, strict=True):
            value = env.get(name) or (None if production else default)
            if value:
                keys.append(EnvKey(value, "user", name))
        max_body = _int(env, "MAX_REQUEST_BYTES", 10 * 1024 * 1024, "a positive integer number of bytes")
        return cls(
            production=production,
            env_keys=tuple(keys),
            admin_disabled=admin_disabled,
            timeout=_float(env, "TIMEOUT_SECONDS", "TIMEOUT", default=100.0),
            config_yaml=env.get("CONFIG_YAML") or None,
            config_path=env.get("CONFIG_PATH") or None,
            config_url=env.get("CONFIG_URL") or None,
            redis_url=env.get("REDIS_URL") or None,
            upstash_url=env.get("UPSTASH_REDIS_REST_URL") or env.get("KV_REST_API_URL") or None,
            upstash_token=env.get("UPSTASH_REDIS_REST_TOKEN") or env.get("KV_REST_API_TOKEN") or None,
            store_prefix=env.get("STORE_PREFIX") or "unigw:",
            store_timeout=_float(env, "STORE_TIMEOUT_SECONDS", default=0.5),
            store_retry=_float(env, "STORE_RETRY_SECONDS", default=5.0),
            disable_database=_truthy(env.get("DISABLE_DATABASE")),
            max_body_bytes=max_body,
            upstream=UpstreamLimits.from_env(env),
            host=env.get("HOST") or "0.0.0.0",
            port=_int(env, "PORT", 8000, "a TCP port number (1-65535)", 1, 65535),
        )

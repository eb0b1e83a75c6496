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

from .logs import read_env
from .ratelimit import Window, parse_limits

log = logging.getLogger("gateway")

DEV_ADMIN_KEY = "adminadmin"
DEV_TEMP_KEYS = ("temp_api_key", "temp_api_key_one")
ENVIRONMENTS = ("development", "production")  # ENVIRONMENT's values; unset means neither
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_MAX_JSON_CONTAINERS = 200_000
ADMIN_SESSION_SECONDS = 8 * 3600  # an admin panel session's lifetime: a working day
ADMIN_LOGIN_LIMIT = (Window(10, 300),)  # failed admin logins per client address: 10 in 5 minutes


def _environment(env: Mapping[str, str]) -> str:
    raw = (env.get("ENVIRONMENT") or "").strip()
    if raw and raw.lower() not in ENVIRONMENTS:
        raise ValueError(f"environment variable ENVIRONMENT: expected 'production' or 'development' (or unset), got {raw!r}")
    return raw.lower()


def dev_keys_allowed(environment: str, host: str, where: str) -> bool:
    """Whether the public development keys (``adminadmin``, ``temp_api_key``, ``temp_api_key_one``)
    may stand in for unset ``ADMIN_API_KEY`` / ``TEMP_API_KEY`` / ``TEMP_API_KEY_ONE``: never in
    production; with ``ENVIRONMENT=development`` always; otherwise only on a local process bound
    to loopback (never on a serverless door, whose URL is public). Whether the config defines its
    own ``api_keys`` (which also turns them off) is decided when routes are compiled."""
    if environment == "production":
        return False
    if environment == "development":
        return True
    return where == "local" and host in LOOPBACK_HOSTS


# MAX_REQUEST_BYTES' default on each platform: the largest body the platform hands to the function, so the
# limit the gateway states is one the platform honours (README "Deploy" gives the sources and the reasoning).
BODY_LIMITS = {
    "vercel": 4_500_000,  # Vercel Functions: 4.5 MB request body
    "lambda": 6_000_000,  # Lambda: a 6 MB (6,291,456-byte) event carries the JSON body, headers and escaping
    "cloud-run": 32_000_000,  # Cloud Functions gen2 (Cloud Run): 32 MB HTTP request
    "local": 10 * 1024 * 1024,
}

# REQUEST_TIMEOUT_SECONDS' default on each platform: the whole-request bound (every attempt together) stays
# under the function's time limit, so the gateway answers its own 504 before the platform kills the call.
# The deploy files here give every serverless door 300 s (vercel.json maxDuration, template.yaml and
# serverless.yml Timeout, the Cloud Functions --timeout); 10 s are left to answer and record usage.
REQUEST_TIMEOUTS = {"vercel": 290.0, "lambda": 290.0, "cloud-run": 290.0, "local": 600.0}


def platform(env: Mapping[str, str]) -> str:
    """The platform this process runs on (a key of ``BODY_LIMITS``), from the variables the platform sets."""
    if env.get("VERCEL"):  # checked first: Vercel Functions run on AWS Lambda and may carry its variables too
        return "vercel"
    if env.get("AWS_LAMBDA_FUNCTION_NAME"):
        return "lambda"
    if env.get("K_SERVICE") or env.get("FUNCTION_TARGET"):
        return "cloud-run"
    return "local"


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


def _limits(env: Mapping[str, str], name: str, default: tuple[Window, ...]) -> tuple[Window, ...]:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return parse_limits(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}: {exc}") from None


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
    default: bool = False  # a public development key standing in for an unset variable


@dataclass(frozen=True)
class Settings:
    production: bool = False
    env_keys: tuple[EnvKey, ...] = ()
    admin_disabled: bool = False
    timeout: float = 100.0
    request_timeout: float = REQUEST_TIMEOUTS["local"]  # seconds: every attempt of one request together
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
    max_body_bytes: int = BODY_LIMITS["local"]
    max_json_containers: int = DEFAULT_MAX_JSON_CONTAINERS
    body_timeout: float = 30.0  # seconds for the whole request body to arrive
    header_timeout: float = 10.0  # local door: seconds for a request's head to arrive
    max_header_bytes: int = 64 * 1024  # local door: largest request head
    upstream: UpstreamLimits = field(default_factory=UpstreamLimits)
    host: str = "127.0.0.1"
    port: int = 8000
    environment: str = ""  # "", "development" or "production"
    cors_origins: tuple[str, ...] = ("*",)
    log_level: str = "INFO"
    log_format: str = "text"
    platform: str = "local"  # where this process runs: a key of BODY_LIMITS
    admin_session_seconds: int = ADMIN_SESSION_SECONDS  # ADMIN_SESSION_SECONDS
    admin_login_limit: tuple[Window, ...] = ADMIN_LOGIN_LIMIT  # ADMIN_LOGIN_LIMIT: failed logins per client address

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        environment = _environment(env)
        production = environment == "production"
        host = (env.get("HOST") or "").strip() or "127.0.0.1"
        log_level, log_format = read_env(env)
        where = platform(env)
        defaults = dev_keys_allowed(environment, host, where)
        keys: list[EnvKey] = []
        for name, role, dev_key in (("ADMIN_API_KEY", "admin", DEV_ADMIN_KEY), ("TEMP_API_KEY", "user", DEV_TEMP_KEYS[0]),
                                    ("TEMP_API_KEY_ONE", "user", DEV_TEMP_KEYS[1])):
            if env.get(name):
                keys.append(EnvKey(env[name], role, name))
            elif defaults:
                keys.append(EnvKey(dev_key, role, name, default=True))
        admin_disabled = not any(k.role == "admin" for k in keys)
        max_body = _int(env, "MAX_REQUEST_BYTES", BODY_LIMITS[where], "a positive integer number of bytes")
        return cls(
            production=production,
            env_keys=tuple(keys),
            admin_disabled=admin_disabled,
            timeout=_float(env, "TIMEOUT_SECONDS", "TIMEOUT", default=100.0),
            request_timeout=_float(env, "REQUEST_TIMEOUT_SECONDS", default=REQUEST_TIMEOUTS[where]),
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
            max_json_containers=_int(env, "MAX_REQUEST_JSON_CONTAINERS", DEFAULT_MAX_JSON_CONTAINERS, "a positive integer"),
            body_timeout=_float(env, "REQUEST_BODY_TIMEOUT_SECONDS", default=30.0),
            header_timeout=_float(env, "REQUEST_HEADER_TIMEOUT_SECONDS", default=10.0),
            max_header_bytes=_int(env, "MAX_REQUEST_HEADER_BYTES", 64 * 1024, "a positive integer number of bytes", 1024),
            upstream=UpstreamLimits.from_env(env),
            host=host,
            port=_int(env, "PORT", 8000, "a TCP port number (1-65535)", 1, 65535),
            environment=environment,
            cors_origins=tuple(o.strip().rstrip("/") for o in env.get("CORS_ALLOW_ORIGINS", "*").split(",") if o.strip()),
            log_level=log_level,
            log_format=log_format,
            platform=where,
            admin_session_seconds=_int(env, "ADMIN_SESSION_SECONDS", ADMIN_SESSION_SECONDS, "a positive number of seconds"),
            admin_login_limit=_limits(env, "ADMIN_LOGIN_LIMIT", ADMIN_LOGIN_LIMIT),
        )

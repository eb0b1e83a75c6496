"""The store's key layout and the id conventions behind it, in one place.

Every name the shared store sees is built here: ids of gateway keys, provider credentials and
channels (which double as cooldown ids), rate-limit buckets, rotation counters, and the physical
keys a backend writes (windows, cooldown marks, usage hashes). Backends add their ``prefix``
(``STORE_PREFIX``) in front of the physical names; the in-process store uses them as they are.

Why one module: the names are a contract between instances (and between versions of the gateway
running side by side during a deploy); building them in several places is how two instances end
up counting the same limit under two names.
"""

from __future__ import annotations

import hashlib

CREDENTIAL_MARK = "#"  # credential ids are "<provider>#<hash>"; channel ids are "<provider>/<model>"
GLOBAL_BUCKET = "rl:global"


def digest(secret: str) -> bytes:
    """SHA-256 of a secret: what keys are looked up and identified by (never the secret itself)."""
    return hashlib.sha256(secret.encode()).digest()


def gateway_key_id(secret: str) -> str:
    """A gateway key's public id: 16 hex digits of its digest (logs, usage, buckets)."""
    return digest(secret).hex()[:16]


def credential_id(provider: str, material: str) -> str:
    """A provider credential's id: the provider name and 12 hex digits of the secret material's digest."""
    return f"{provider}{CREDENTIAL_MARK}{digest(material).hex()[:12]}"


def is_credential_id(cooldown_id: str) -> bool:
    return CREDENTIAL_MARK in cooldown_id


PARKED_MARK = "!rejected"


def parked_id(credential: str) -> str:
    """The cooldown id of a credential its upstream rejected (401/402/403): kept apart from the
    credential's rate-limit cooldown so that every instance can tell the client which it is."""
    return credential + PARKED_MARK


def is_parked_id(cooldown_id: str) -> bool:
    return cooldown_id.endswith(PARKED_MARK)


def provider_of(cooldown_id: str) -> str:
    """The provider name in a credential or parked id (``<provider>#<hash>[!rejected]``)."""
    return cooldown_id.split(CREDENTIAL_MARK, 1)[0]


def channel_id(provider: str, upstream_model: str) -> str:
    return f"{provider}/{upstream_model}"


def key_bucket(key_id: str, bucket: str) -> str:
    """A gateway key's ``RATE_LIMIT`` bucket (``bucket`` is ``*`` or a model name / prefix)."""
    return f"rl:{key_id}:{bucket}"


def credential_bucket(credential: str, bucket: str) -> str:
    """A provider credential's ``api_key_rate_limit`` bucket."""
    return f"kl:{credential}:{bucket}"


def outcome_bucket(credential: str, ok: bool) -> str:
    """A provider credential's recent successes or failures (``smart_round_robin``)."""
    return f"sr:{credential}:{'ok' if ok else 'fail'}"


def rotation_counter(key_id: str, model: str) -> str:
    """The channel rotation counter of one gateway key and model (round robin, weighted round robin)."""
    return f"rr:{key_id}:{model}"


def key_rotation_counter(provider: str) -> str:
    """The provider-key rotation counter of one provider."""
    return f"kr:{provider}"


def window_key(bucket: str, seconds: float) -> str:
    """The sorted set (Redis) or log (memory) of one sliding window of a bucket."""
    return f"{bucket}:{format_seconds(seconds)}"


def cooldown_key(cooldown_id: str) -> str:
    return f"cd:{cooldown_id}"


def spend_counter(key_id: str, since: str) -> str:
    """A gateway key's spend in micro-dollars, counted from its ``created_at`` (``since``): a new
    ``created_at`` starts a new counter."""
    return f"spend:{key_id}:{since}"


def usage_key(key_id: str, day: str) -> str:
    """The per-day usage hash of a gateway key: fields ``<model>:requests|prompt_tokens|completion_tokens``."""
    return f"usage:{key_id}:{day}"


def admin_login_bucket(address: str, failures: bool) -> str:
    """A client address's admin logins: its failures or all its attempts (rate-limit buckets)."""
    return f"{'alf' if failures else 'ala'}:{address}"


ADMIN_SESSION_SECRET = "admin:secret"  # the key-value name of the 32 random bytes admin session cookies are signed with


def admin_revoked(nonce: str) -> str:
    """The key-value name marking one admin session as logged out (kept until the session would have expired)."""
    return f"admin:revoked:{nonce}"


def format_seconds(seconds: float) -> str:
    """Window length as it appears in key names and script arguments (``60``, or ``0.5`` in tests)."""
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


CONFIG_VERSION = "cfg:version"  # the config document's version: read by every admit
CONFIG_DOCUMENT = "cfg:document"  # {"version", "document", "meta"} as JSON, written with the version
AUDIT_LOG = "cfg:audit"  # the last AUDIT_KEPT admin changes, newest first
RECENT_FAILURES = "fail:recent"  # the last FAILURES_KEPT failed upstream attempts, newest first
AUDIT_KEPT = 200
FAILURES_KEPT = 100


def kv_key(name: str) -> str:
    """A small value with an expiry (admin sessions, login limits): ``kv:<name>``."""
    return f"kv:{name}"

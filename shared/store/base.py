"""The state-store interface: few, coarse operations, each one round trip.

Everything instances must share (rate-limit windows, rotation counters, cooldown marks, usage
counters) goes through these operations. Each maps to one Lua script or one pipeline on Redis, and
to a few dict operations in the in-process store, with the same semantics.

* ``admit``        before the upstream call: check and count every rate-limit window (all or
                   nothing: a denied request consumes no quota), advance rotation counters, read
                   cooldown marks and the usage of upstream-key limits.
* ``mark_failure`` failure path only: cooldown marks with expiry.
* ``record_usage`` after the answer: upstream-key uses and token usage, in one call.

The admin side (never on a request's success path) adds the config document with its version
(``get_config``, ``put_config``: an atomic compare-and-set), the audit trail, the recent failures,
and a small key-value space with expiry (``kv_*``: admin sessions, login limits). ``admit`` also
compares the config version the instance runs with the store's, in the same round trip: that is
how every instance learns of a change on its next request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..ratelimit import Window


@dataclass(frozen=True)
class LimitCheck:
    """Sliding-window limits on one bucket (e.g. ``key:<id>:*``)."""

    bucket: str
    windows: tuple[Window, ...]


@dataclass
class AdmitRequest:
    limits: list[LimitCheck] = field(default_factory=list)
    rotation: str | None = None
    key_rotations: list[str] = field(default_factory=list)
    cooldown_ids: list[str] = field(default_factory=list)
    usage_reads: list[LimitCheck] = field(default_factory=list)
    request_id: str = ""
    fail_closed: bool = False  # when the shared store is unreachable: deny (True) or admit (False)
    spend: SpendCheck | None = None  # the key's credits: denied, before any window counts, once spent
    config_version: int | None = None  # the config version this instance runs: another one in the store = stale
    # (a store holding no config, version 0, refuses nothing: a Redis that lost its data must not stop requests)


@dataclass(frozen=True)
class SpendCheck:
    """A gateway key's ``credits``: its spend counter and the cap, both in micro-dollars."""

    counter: str
    credits: int


@dataclass(frozen=True)
class WindowState:
    limit: int
    remaining: int
    reset: float  # seconds until a slot frees (0 when none is used)


@dataclass
class AdmitResult:
    allowed: bool
    retry_after: float = 0.0
    windows: list[WindowState] = field(default_factory=list)
    rotation: int = 0
    key_rotations: dict[str, int] = field(default_factory=dict)
    cooled: dict[str, float] = field(default_factory=dict)  # id -> seconds left
    at_limit: set[str] = field(default_factory=set)  # usage_reads buckets that are full
    counts: dict[str, int] = field(default_factory=dict)  # usage_reads bucket -> entries in its last window
    degraded: bool = False
    store_unavailable: bool = False  # denied only because the shared store is down and limits fail closed
    spent: int | None = None  # micro-dollars the key spent so far (when it has credits)
    credits_exhausted: bool = False  # denied because the key's spend reached its credits
    config_changed: bool = False  # denied, with no side effect: the store holds another config version
    config_version: int = 0  # the store's config version (when ``config_changed``)


@dataclass(frozen=True)
class Usage:
    key_id: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    spend_counter: str = ""  # the key's spend counter when it has credits: ``cost`` is added to it
    cost: int = 0  # micro-dollars
    provider: str = ""  # the provider that answered: also counted per provider (``p:<provider>:<model>:*``)


@dataclass(frozen=True)
class StoredConfig:
    """The config document the store holds: the api.yaml mapping as written (``${VAR}`` references
    unexpanded), its version (1, 2, ...: every write adds one) and who wrote it (``meta``: ``source``
    is ``seed`` for a copy of the file config, ``admin`` once an admin saved it; ``updated_at``,
    ``updated_by``, ``fingerprint``)."""

    version: int
    document: dict[str, Any]
    meta: dict[str, Any]


class StoreUnavailable(Exception):
    """The shared store did not answer an admin-side call (config, audit, sessions): unlike the
    request path, these never fall back to the in-process store, whose answer would be wrong."""


class Store(Protocol):
    name: str

    async def admit(self, request: AdmitRequest) -> AdmitResult: ...

    async def mark_failure(self, marks: list[tuple[str, float]], note: dict[str, Any] | None = None) -> None: ...

    async def record_usage(self, uses: list[LimitCheck], usage: Usage | None, request_id: str) -> None: ...

    async def get_usage(self, key_id: str, day: str) -> dict[str, int]: ...

    async def config_version(self) -> int: ...

    async def get_config(self) -> StoredConfig | None: ...

    async def put_config(self, expected_version: int, document: dict[str, Any], meta: dict[str, Any],
                         audit: dict[str, Any] | None) -> int | None: ...

    async def get_audit(self, limit: int) -> list[dict[str, Any]]: ...

    async def recent_failures(self, limit: int) -> list[dict[str, Any]]: ...

    async def kv_get(self, key: str) -> str | None: ...

    async def kv_set(self, key: str, value: str, ttl_seconds: float | None, only_if_absent: bool = False) -> bool: ...

    async def kv_delete(self, key: str) -> None: ...

    async def close(self) -> None: ...

"""One immutable runtime per config version: the routing table and the dispatcher built on it.

A request takes the gateway's current runtime once, at its start, and uses only that object until
its last byte: a reload (a new config version) builds a whole new runtime and swaps one reference,
so requests in flight finish on the runtime they started with and never see half of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .dispatch import Dispatcher
from .routing import RoutingTable
from .store import Store


@dataclass(frozen=True, eq=False)
class Runtime:
    version: int  # the store's config version (0: the store held none, or could not be read)
    table: RoutingTable
    dispatcher: Dispatcher
    source: str  # where its config came from, for /healthz and logs
    document: dict[str, Any] = field(default_factory=dict)  # that config as written (what the admin API edits)

    @classmethod
    def build(cls, version: int, table: RoutingTable, store: Store, source: str, document: dict[str, Any] | None = None) -> Runtime:
        return cls(version, table, Dispatcher(table, store, version), source, document or {})

"""The routing table: config compiled once into dict lookups.

``compile_routes`` turns the validated config into providers, channels (provider x upstream model)
and one policy per gateway key whose ``routes`` map a requested model name straight to its ordered
candidate channels. A request then costs one hash and two dict lookups, never a scan of the config.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .config.schema import GatewayConfig, ProviderConfig
from .credentials import Credential, mask
from .filters import ChannelFilter, compile_filter
from .providers import detect_engine, get_adapter
from .providers.base import BaseAdapter
from .ratelimit import Window
from .settings import Settings, UpstreamLimits
from .store import keys as layout
from .store.base import AdmitRequest, LimitCheck, SpendCheck
from .store.keys import digest

__all__ = ["Candidate", "Channel", "KeyPolicy", "Provider", "RoutingTable", "compile_routes", "detect_engine", "digest", "limits_for"]

log = logging.getLogger("gateway")

MAX_ATTEMPTS = 10
DEFAULT_PRICE = (1.0, 2.0)  # uni-api's default model_price: $ per million input, output tokens


def _spend(key_id: str, kp: Any) -> SpendCheck | None:
    """A key's ``credits`` as a spend check; the counter is named after ``created_at`` (UTC seconds)."""
    if kp is None or kp.credits is None:
        return None
    since = kp.created_at
    if since is None:
        start = "-"
    else:
        if not isinstance(since, dt.datetime):
            since = dt.datetime(since.year, since.month, since.day, tzinfo=dt.UTC)
        elif since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        start = str(int(since.timestamp()))
    return SpendCheck(layout.spend_counter(key_id, start), round(kp.credits * 1_000_000))


def _prefix_lookup(table: Mapping[str, Any] | None, *names: str) -> tuple[str, Any] | None:
    """``(prefix, value)`` for the longest key of ``table`` that prefixes any of ``names`` (``default`` excluded)."""
    best: tuple[str, Any] | None = None
    for prefix, value in (table or {}).items():
        if prefix != "default" and (best is None or len(prefix) > len(best[0])) and any(n.startswith(prefix) for n in names):
            best = (prefix, value)
    return best


def model_timeout(table: Mapping[str, float] | None, *names: str) -> float | None:
    """``model_timeout``: the longest matching model prefix, else the map's ``default``."""
    best = _prefix_lookup(table, *names)
    return best[1] if best is not None else (table or {}).get("default")


def limits_for(spec: Any, *names: str) -> tuple[str, tuple[Window, ...]] | None:
    """Resolve a limit spec for a model: ``(bucket, windows)`` or None.

    A plain string limits everything together (bucket ``*``); in a ``{model: limit}`` map an exact
    name, then the longest matching model prefix wins, and ``default`` applies to each other model
    separately.
    """
    if not spec:
        return None
    if isinstance(spec, tuple):
        return ("*", spec)
    for name in names:
        if name in spec:
            return (name, spec[name])
    best = _prefix_lookup(spec, *names)
    if best is not None:
        return best
    if "default" in spec:
        return (names[0], spec["default"])
    return None


@dataclass(frozen=True, eq=False)
class Provider:
    name: str
    engine: str
    base_url: str
    credentials: tuple[Credential, ...]
    tools: bool
    headers: Mapping[str, str]
    key_limit_spec: Any
    key_cooldown: float
    key_schedule: str
    cooldown_period: float
    config: ProviderConfig
    adapter: BaseAdapter
    key_rate_limit_cooldown: float | None = None  # api_key_rate_limit_cooldown_period: a key's rest after a 429
    key_quota_cooldown: float | None = None  # api_key_quota_cooldown_period: a key's rest once out of quota
    proxy: str | None = None  # the provider's proxy URL, else the global one; None: direct

    def mask(self, text: str) -> str:
        """Remove every secret of this provider's credentials from ``text``."""
        return mask(text, self.credentials)


@dataclass(frozen=True, eq=False)
class Channel:
    """One upstream model of one provider; the unit of routing and of cooldown."""

    id: str
    provider: Provider
    upstream_model: str
    alias: str
    timeout: float
    overrides: Mapping[str, Any]
    removes: tuple[str, ...]
    key_limits: Mapping[str, LimitCheck]  # credential id -> its api_key_rate_limit bucket for this model
    filter: ChannelFilter | None = None  # the provider's request filters (shared/filters.py), None when it has none
    implied: Mapping[str, Any] = field(default_factory=dict)  # request fields the alias implies (shared/model_names.py)
    keepalive: float | None = None  # keepalive_interval: seconds between SSE comments while a stream waits for its first event


@dataclass(frozen=True)
class Candidate:
    channel: Channel
    weight: int = 1


@dataclass(frozen=True, eq=False)
class KeyPolicy:
    key_id: str
    role: str
    source: str
    algorithm: str
    max_attempts: int
    limit_spec: Any
    moderation: bool
    routes: Mapping[str, tuple[Candidate, ...]]
    models: tuple[str, ...]
    spend: SpendCheck | None = None  # credits: the key's spend counter and cap (micro-dollars)
    _swrr: dict[str, tuple[int, ...]] = field(default_factory=dict)
    admissions: dict[tuple[str, str, bool], AdmitRequest] = field(default_factory=dict)  # built on first use (scheduling.admission)
    endpoint_routes: dict[tuple[str, str], tuple[Candidate, ...]] = field(default_factory=dict)  # (endpoint, model) -> channels serving it

    def swrr_cycle(self, model: str) -> tuple[int, ...]:
        """Smooth weighted round robin sequence (indices into the candidates), built once per model."""
        cycle = self._swrr.get(model)
        if cycle is None:
            weights = [c.weight for c in self.routes[model]]
            current = [0] * len(weights)
            total, out = sum(weights), []
            for _ in range(total):
                for i, w in enumerate(weights):
                    current[i] += w
                best = max(range(len(weights)), key=lambda i: current[i])
                current[best] -= total
                out.append(best)
            cycle = self._swrr[model] = tuple(out)
        return cycle


@dataclass(frozen=True, eq=False)
class RoutingTable:
    providers: Mapping[str, Provider]
    channels: Mapping[str, Channel]
    keys: Mapping[bytes, KeyPolicy]
    global_limits: tuple[Window, ...] | None
    cooldown_period: float
    error_triggers: tuple[str, ...]
    fail_closed: bool
    disable_usage: bool
    all_models: tuple[str, ...]
    dev_keys: tuple[str, ...] = ()  # the public development keys that are active, as "VARIABLE=key"
    upstream_limits: UpstreamLimits = field(default_factory=UpstreamLimits)  # what an upstream answer may cost
    request_timeout: float = 600.0  # seconds: every attempt of one request together (model_timeout bounds each)
    filtered: bool = False  # some provider has request filters: the dispatcher checks them
    model_price: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # $ per million tokens (in, out)

    def price(self, model: str) -> tuple[float, float]:
        """``model_price`` of a model: the longest prefix, else ``default``, else uni-api's 1 and 2 $/M tokens."""
        best = _prefix_lookup(self.model_price, model)
        return best[1] if best is not None else self.model_price.get("default", DEFAULT_PRICE)


def _provider_overrides(
    p: ProviderConfig, alias: str, upstream: str, all_names: set[str]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``post_body_parameter_overrides`` for one channel: ``{field: value}`` applies to every model,
    ``{model: {field: value}}`` (keyed by alias or upstream name) to that model only; ``__remove__``
    lists fields to delete. A key that names one of the provider's models is always per-model."""
    plain: dict[str, Any] = {}
    specific: dict[str, Any] = {}
    removes: list[str] = []
    for key, value in p.preferences.post_body_parameter_overrides.items():
        if key == "__remove__":
            removes.extend(value if isinstance(value, list) else [value])
        elif key in all_names and isinstance(value, dict):
            if key in (alias, upstream):
                specific.update(value)
        else:
            plain[key] = value
    plain.update(specific)
    if "__remove__" in plain:
        more = plain.pop("__remove__")
        removes.extend(more if isinstance(more, list) else [more])
    return plain, tuple(str(r) for r in removes)


def _model_pairs(p: ProviderConfig, discovered: Mapping[str, list[str]], mappings: Mapping[str, Mapping[str, str]]
                 ) -> tuple[tuple[str, str], ...]:
    """``(upstream model, alias)`` pairs of a provider: its ``model`` list (or the discovered one),
    then the global ``model_mappings`` that name it (an alias it already has keeps its own model)."""
    pairs: tuple[tuple[str, str], ...] = p.model if p.model is not None else tuple((m, m) for m in discovered.get(p.provider, []))
    aliases = {alias for _, alias in pairs}
    mapped = tuple((targets[p.provider], unified) for unified, targets in mappings.items()
                   if p.provider in targets and unified not in aliases)
    return pairs + mapped if mapped else pairs


def compile_routes(config: GatewayConfig, settings: Settings, discovered: Mapping[str, list[str]] | None = None) -> RoutingTable:
    """Build the routing table; ``discovered`` holds model lists fetched for providers without ``model``."""
    discovered = discovered or {}
    prefs = config.preferences
    providers: dict[str, Provider] = {}
    channels: dict[str, Channel] = {}
    by_alias: dict[str, list[Channel]] = {}
    by_provider: dict[str, list[Channel]] = {}
    for p in config.providers:
        engine = detect_engine(p)
        adapter = get_adapter(engine)
        provider = Provider(
            name=p.provider,
            engine=engine,
            base_url=(p.base_url or "").strip(),
            credentials=adapter.credentials(p),
            tools=p.tools,
            headers=dict(p.preferences.headers),
            key_limit_spec=p.preferences.api_key_rate_limit,
            key_cooldown=p.preferences.api_key_cooldown_period,
            key_schedule=p.preferences.api_key_schedule_algorithm,
            cooldown_period=prefs.cooldown_period if p.preferences.cooldown_period is None else p.preferences.cooldown_period,
            config=p,
            adapter=adapter,
            key_rate_limit_cooldown=p.preferences.api_key_rate_limit_cooldown_period,
            key_quota_cooldown=p.preferences.api_key_quota_cooldown_period,
            proxy=p.preferences.proxy or prefs.proxy,
        )
        providers[p.provider] = provider
        by_provider[p.provider] = []
        request_filter = compile_filter(p.provider, [dict(p), dict(p.preferences)])
        pairs = _model_pairs(p, discovered, config.model_mappings)
        all_names = {name for pair in pairs for name in pair}
        for upstream, alias in pairs:
            timeout = (
                model_timeout(p.preferences.model_timeout, alias, upstream)
                or model_timeout(prefs.model_timeout, alias, upstream)
                or settings.timeout
            )
            keepalive = (model_timeout(p.preferences.keepalive_interval, alias, upstream)
                         or model_timeout(prefs.keepalive_interval, alias, upstream))
            overrides, removes = _provider_overrides(p, alias, upstream, all_names)
            key_limits = {}
            channel_filter = request_filter
            resolved = limits_for(provider.key_limit_spec, alias, upstream)
            if resolved is not None:
                bucket, windows = resolved
                tpr = [w.limit for w in windows if w.seconds == 0]  # "<N>/tpr": a request size, not a window
                windows = tuple(w for w in windows if w.seconds)
                if windows:
                    key_limits = {c.id: LimitCheck(layout.credential_bucket(c.id, bucket), windows) for c in provider.credentials}
                if tpr:
                    channel_filter = replace(request_filter or ChannelFilter(p.provider), max_tokens=min(tpr))
            channel = Channel(
                id=layout.channel_id(p.provider, upstream),
                provider=provider,
                upstream_model=upstream,
                alias=alias,
                timeout=float(timeout),
                overrides=overrides,
                removes=removes,
                key_limits=key_limits,
                filter=channel_filter,
                implied=adapter.implied_fields(alias, upstream),
                keepalive=keepalive if keepalive and keepalive < timeout else None,  # uni-api ignores one not under the timeout
            )
            channels[f"{p.provider}\x00{alias}"] = channel
            by_alias.setdefault(alias, []).append(channel)
            by_provider[p.provider].append(channel)

    all_models = tuple(by_alias)

    key_index = {k.api: i for i, k in enumerate(config.api_keys)}
    grouped = {j for targets in config.key_groups().values() for j in targets}
    group_routes: dict[int, dict[str, list[Candidate]]] = {}  # routes of keys used as channel groups, built once

    def group(i: int) -> dict[str, list[Candidate]]:
        if i not in group_routes:
            group_routes[i] = build_routes(config.api_keys[i].model)
        return group_routes[i]

    def expand(rule: str) -> list[tuple[str, Channel]]:
        """Channels a single permission rule grants, as ``(alias, channel)``."""
        if rule in ("all", "*"):
            return [(c.alias, c) for cs in by_provider.values() for c in cs]
        if rule.startswith("<") and rule.endswith(">"):
            name = rule[1:-1]
            return [(name, c) for c in by_alias.get(name, [])]
        if "/" in rule:
            prov, _, model = rule.partition("/")
            if prov in by_provider:
                if model == "*":
                    return [(c.alias, c) for c in by_provider[prov]]
                return [(model, c) for c in by_provider[prov] if c.alias == model]
            j = key_index.get(prov)
            if j is not None and j in grouped:  # another gateway key: its channels, in its order (acyclic: schema)
                return [(alias, c.channel) for alias, cands in group(j).items() if model in ("*", alias) for c in cands]
            # No provider of that name: the rule is a literal model name such as "anthropic/claude".
        return [(rule, c) for c in by_alias.get(rule, [])]

    def build_routes(rules: tuple[tuple[str, int], ...] | None) -> dict[str, list[Candidate]]:
        routes: dict[str, list[Candidate]] = {}
        seen: dict[str, set[str]] = {}
        for rule, weight in rules if rules is not None else (("all", 1),):
            for alias, channel in expand(rule):
                if channel.id in seen.setdefault(alias, set()):
                    continue
                seen[alias].add(channel.id)
                routes.setdefault(alias, []).append(Candidate(channel, weight))
        return routes

    def policy(key_id: str, role: str, source: str, rules: tuple[tuple[str, int], ...] | None, kp: Any) -> KeyPolicy:
        routes = build_routes(rules)
        retry = kp.AUTO_RETRY if kp is not None else True
        max_attempts = MAX_ATTEMPTS if retry is True else 1 if retry is False else min(int(retry), MAX_ATTEMPTS)
        return KeyPolicy(
            key_id=key_id,
            role=role,
            source=source,
            algorithm=kp.SCHEDULING_ALGORITHM if kp is not None else "fixed_priority",
            max_attempts=max_attempts,
            limit_spec=kp.RATE_LIMIT if kp is not None else None,
            moderation=kp.ENABLE_MODERATION if kp is not None else False,
            routes={alias: tuple(cands) for alias, cands in routes.items()},
            models=tuple(routes),
            spend=_spend(key_id, kp),
        )

    keys: dict[bytes, KeyPolicy] = {}
    for i, k in enumerate(config.api_keys):
        d = digest(k.api)
        keys[d] = policy(layout.gateway_key_id(k.api), k.role, f"api_keys[{i}]", k.model, k.preferences)
    dev_keys: list[str] = []
    for env_key in settings.env_keys:
        if env_key.default and config.api_keys:
            continue  # the public development keys never stand beside keys the config defines
        if env_key.default:
            dev_keys.append(f"{env_key.source}={env_key.key}")
        d = digest(env_key.key)
        if d not in keys:  # a key listed in both keeps the config's settings
            keys[d] = policy(layout.gateway_key_id(env_key.key), env_key.role, env_key.source, None, None)

    return RoutingTable(
        providers=providers,
        channels=channels,
        keys=keys,
        global_limits=prefs.rate_limit,
        cooldown_period=prefs.cooldown_period,
        error_triggers=tuple(prefs.error_triggers),
        fail_closed=prefs.rate_limit_fail_closed,
        disable_usage=settings.disable_database,
        all_models=all_models,
        dev_keys=tuple(dev_keys),
        upstream_limits=settings.upstream,
        request_timeout=prefs.request_timeout or settings.request_timeout,
        filtered=any(c.filter is not None for c in channels.values()),
        model_price=prefs.model_price,
    )

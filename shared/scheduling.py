"""Channel order for one request, and the upstream key for each channel.

Everything here is a pure function of the admit result (rotation counters, cooldown marks, full
upstream-key limits), so every instance that reads the same shared counters makes the same choice.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from .credentials import Credential
from .ratelimit import Window
from .routing import Candidate, Channel, KeyPolicy, limits_for
from .store import AdmitRequest, AdmitResult, LimitCheck
from .store import keys as layout

ROTATING = ("round_robin", "weighted_round_robin", "smart_round_robin")
KEY_ROTATING = ("round_robin", "smart_round_robin")
# smart_round_robin: each provider key's outcomes of its last OUTCOMES_KEPT attempts within OUTCOME_SECONDS
OUTCOMES_KEPT, OUTCOME_SECONDS = 100, 72 * 3600


def outcome_checks(credential: str) -> tuple[LimitCheck, LimitCheck]:
    """The windows that hold a provider key's recent successes and failures (``smart_round_robin``)."""
    window = (Window(OUTCOMES_KEPT, OUTCOME_SECONDS),)
    return (LimitCheck(layout.outcome_bucket(credential, True), window), LimitCheck(layout.outcome_bucket(credential, False), window))


def admission(policy: KeyPolicy, model: str, candidates: tuple[Candidate, ...], global_limits: tuple[Window, ...] | None,
              fail_closed: bool = False, endpoint: str = "chat", counted: bool = True, config_version: int | None = None) -> AdmitRequest:
    """Everything the store must check, count and read before the first upstream call.

    It depends only on the key, the model, the endpoint (which channels serve it) and the config,
    so it is built once per (endpoint, model, counted) and key, and reused; stores treat it as
    read-only. ``counted=False`` (the gateway's own calls, e.g. moderation) checks no rate limit
    of the key: only rotation, cooldowns and credential limits. ``config_version`` (the runtime's,
    fixed for the policy's life) makes the store refuse, with no side effect, when it holds another.
    """
    cache_key = (endpoint, model, counted)
    request = policy.admissions.get(cache_key)
    if request is None:
        request = policy.admissions[cache_key] = _build_admission(policy, model, candidates, global_limits, fail_closed, counted)
        request.config_version = config_version
    return request


def _build_admission(policy: KeyPolicy, model: str, candidates: tuple[Candidate, ...], global_limits: tuple[Window, ...] | None,
                     fail_closed: bool, counted: bool) -> AdmitRequest:
    request = AdmitRequest(fail_closed=fail_closed)
    resolved = limits_for(policy.limit_spec, model) if counted else None
    if resolved is not None:
        bucket, windows = resolved
        request.limits.append(LimitCheck(layout.key_bucket(policy.key_id, bucket), windows))
    if global_limits:
        request.limits.append(LimitCheck(layout.GLOBAL_BUCKET, global_limits))
    if counted:
        request.spend = policy.spend
    if policy.algorithm in ROTATING and len(candidates) > 1:
        request.rotation = layout.rotation_counter(policy.key_id, model)
    seen: set[str] = set()
    for cand in candidates:
        channel = cand.channel
        request.cooldown_ids.append(channel.id)
        provider = channel.provider
        if provider.name not in seen:
            seen.add(provider.name)
            for credential in provider.credentials:
                request.cooldown_ids += (credential.id, layout.parked_id(credential.id))
            if len(provider.credentials) > 1 and provider.key_schedule in KEY_ROTATING:
                request.key_rotations.append(layout.key_rotation_counter(provider.name))
            if len(provider.credentials) > 1 and provider.key_schedule == "smart_round_robin":
                for credential in provider.credentials:
                    request.usage_reads += outcome_checks(credential.id)
        for check in channel.key_limits.values():
            if check not in request.usage_reads:
                request.usage_reads.append(check)
    return request


def order_channels(policy: KeyPolicy, model: str, candidates: tuple[Candidate, ...], result: AdmitResult) -> list[Channel]:
    """Apply the key's scheduling algorithm; channels in cooldown go last (tried only as a last resort)."""
    n = len(candidates)
    algorithm = policy.algorithm
    if n <= 1 or algorithm == "fixed_priority":
        ordered = list(candidates)
    elif algorithm == "round_robin":
        start = (result.rotation - 1) % n
        ordered = list(candidates[start:] + candidates[:start])
    elif algorithm in ("weighted_round_robin", "smart_round_robin"):
        cycle = policy.swrr_cycle(model)
        first = cycle[(result.rotation - 1) % len(cycle)]
        ordered = [candidates[first]] + [c for i, c in enumerate(candidates) if i != first]
    elif algorithm == "lottery":
        pool, ordered = list(candidates), []
        while pool:
            pick = random.choices(range(len(pool)), weights=[c.weight for c in pool])[0]
            ordered.append(pool.pop(pick))
    else:  # random
        ordered = random.sample(list(candidates), n)
    channels = [c.channel for c in ordered]
    if result.cooled:
        channels.sort(key=lambda ch: ch.id in result.cooled)  # stable: cooled ones move to the end
    return channels


def success_rate(credential: str, result: AdmitResult) -> float:
    """Recent success rate of a provider key, smoothed so that an unused key counts as 1/2 (and gets tried)."""
    ok_check, fail_check = outcome_checks(credential)
    ok, fail = result.counts.get(ok_check.bucket, 0), result.counts.get(fail_check.bucket, 0)
    return (ok + 1) / (ok + fail + 2)


def key_order(channel: Channel, result: AdmitResult) -> Iterator[Credential | None]:
    """The provider credentials to use for this channel, best first; unusable ones are left out:
    credentials in cooldown (bad, out of quota, or told to back off) and those at their
    ``api_key_rate_limit``. ``None`` once for a keyless upstream (e.g. a local server)."""
    provider = channel.provider
    credentials = provider.credentials
    n = len(credentials)
    if n == 0:
        yield None
        return
    if provider.key_schedule in KEY_ROTATING:
        start = (result.key_rotations.get(layout.key_rotation_counter(provider.name), 1) - 1) % n
        indices = [(start + i) % n for i in range(n)]
        if provider.key_schedule == "smart_round_robin":
            # Healthy keys (smoothed recent success rate of at least 1/2, unused ones included) share the load in
            # rotation; keys failing more often than not go last, the better ones first.
            rates = {i: success_rate(credentials[i].id, result) for i in indices}
            indices.sort(key=lambda i: 0.0 if rates[i] >= 0.5 else 1 - rates[i])
    elif provider.key_schedule == "random":
        indices = random.sample(range(n), n)
    else:
        indices = list(range(n))
    for i in indices:
        credential = credentials[i]
        if result.cooled and (credential.id in result.cooled or layout.parked_id(credential.id) in result.cooled):
            continue
        check = channel.key_limits.get(credential.id)
        if check is not None and check.bucket in result.at_limit:
            continue
        yield credential

"""What a failed attempt means: cooldown marks, retry on the same channel, and the client's answer.

Kept apart from the proxy's control flow so the rules of config.md ("what counts as a failure",
"cool the key, not the channel", "not the only candidate") read in one place.

Whatever an upstream said reaches the client only through :func:`describe`,
:func:`attempt_failed`, :func:`client_error` and :func:`stream_error`: the provider's keys masked,
then :func:`~.scrub.scrub` (key echoes, addresses); the masked but unscrubbed text goes to the log
at WARNING. A wait an upstream asks for becomes a cooldown mark or a ``Retry-After`` only as a
finite number of seconds, at most ``MAX_RETRY_AFTER_SECONDS``.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from .errors import GatewayError
from .providers.base import UpstreamError
from .routing import Channel
from .scrub import scrub
from .settings import RETRY_AFTER_CEILING
from .store import AdmitResult
from .store.keys import is_credential_id, is_parked_id, parked_id, provider_of

log = logging.getLogger("gateway")

CLIENT_ERRORS = {400, 413, 422}  # the request itself is bad: answer at once, no retry
REJECTED = {401, 402, 403}  # the upstream refused our provider key (bad, revoked, out of credit, not allowed)
KEY_ERRORS = REJECTED | {429}  # about the key, not the channel: the channel stays usable with its other keys
PARK_FIRST, PARK_MAX = 10.0, 300.0  # seconds a rejected key is parked: 10, 20, 40, … up to 300


@dataclass
class Failure:
    channel: Channel
    reason: str
    status: int  # upstream status, or 504 for timeouts, 502 for connection errors
    retry_after: float | None = None
    detail: str = ""  # for the log: the upstream's own words, keys masked (never sent to the client)
    quota: bool = False  # the upstream said the key is out of quota (is_quota)


# What upstreams say when a key is out of quota or credit (not merely told to slow down).
QUOTA_SIGNS = ("insufficient_quota", "billing_hard_limit_reached", "quota exceeded", "exceeded your current quota",
               "usage limit", "out of credits", "payment required", "resource_exhausted", "resource has been exhausted")


def is_quota(err: UpstreamError) -> bool:
    """A 402, or a 403/429 whose code or message says the key's quota or credit is used up."""
    if err.status == 402:
        return True
    text = f"{err.code or ''} {err.message}".lower()
    return err.status in (403, 429) and any(sign in text for sign in QUOTA_SIGNS)


class Parking:
    """How long a rejected credential is parked: short at first (the key may have been fixed a moment
    ago, or the rejection was a fluke), doubling while it keeps being rejected. Per instance; the
    park itself is a cooldown mark in the shared store, so every instance honours it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._parks: dict[str, tuple[float, float]] = {}  # credential id -> (seconds, when)

    def next(self, credential: str, configured: float) -> float:
        if configured > 0:  # api_key_cooldown_period says how long
            return configured
        now = self._clock()
        last = self._parks.get(credential)
        seconds = PARK_FIRST if last is None or now - last[1] > 2 * PARK_MAX else min(PARK_MAX, last[0] * 2)
        self._parks[credential] = (seconds, now)
        return seconds


def clamp_wait(seconds: float | None, ceiling: float) -> float | None:
    """A wait in seconds that is finite, not negative and at most ``ceiling``, or None."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, ceiling)


def attempt_failed(channel: Channel, status: int, detail: str, retry_after: float | None = None,
                   max_retry_after: float = RETRY_AFTER_CEILING, reason: str | None = None) -> Failure:
    """A failed attempt: ``detail`` kept for the log with the provider's keys masked (the dispatcher
    logs one WARNING per failed attempt); the client's summary gets ``reason``, or the detail
    scrubbed and shortened."""
    return Failure(channel, reason or _short(_clean(detail, channel)), status, clamp_wait(retry_after, max_retry_after),
                   channel.provider.mask(detail)[:1000])


def failure_marks(failure: Failure, key_id: str | None, n_candidates: int,
                  parking: Parking | None = None) -> tuple[list[tuple[str, float]], bool]:
    """Cooldown marks for one failure, and whether the same channel may be retried with another key.

    A rejected key (401/402/403) is parked (:class:`Parking`); a key told to back off (429) rests
    for ``Retry-After`` (or ``api_key_cooldown_period``). Either way the channel stays usable with
    its other keys. Everything else cools the channel, unless it was the only candidate.
    """
    provider = failure.channel.provider
    if failure.status in KEY_ERRORS and key_id is not None:
        if failure.quota and provider.key_quota_cooldown:  # out of quota: rests for api_key_quota_cooldown_period
            marks = [(key_id, max(provider.key_quota_cooldown, failure.retry_after or 0.0))]
        elif failure.status in REJECTED:
            marks = [(parked_id(key_id), (parking or Parking()).next(key_id, provider.key_cooldown))]
        else:
            rest = provider.key_cooldown if provider.key_rate_limit_cooldown is None else provider.key_rate_limit_cooldown
            seconds = max(rest, clamp_wait(failure.retry_after, RETRY_AFTER_CEILING) or 0.0)
            marks = [(key_id, seconds)] if 0 < seconds < math.inf else []
        if len(provider.credentials) > 1:
            return marks, True
        if marks:
            return marks, False
    if 0 < provider.cooldown_period < math.inf and n_candidates > 1:
        return [(failure.channel.id, provider.cooldown_period)], False
    return [], False


def final_error(failures: list[Failure], result: AdmitResult, no_channel_reason: str | None, model: str = "") -> GatewayError:
    """The client's answer when no attempt succeeded. 429 only when the cause is a rate limit; a
    provider key its upstream rejected is a 502 ``provider_key_rejected`` (an SDK must not read it as
    "slow down"); every failure of this request is named with its cause."""
    if not failures:
        parked = {cid: s for cid, s in result.cooled.items() if is_parked_id(cid)}
        if parked:
            providers = ", ".join(sorted({provider_of(cid) for cid in parked}))
            wait = math.ceil(min(parked.values()))
            return GatewayError(502, f"the upstream rejected the provider key of {providers} for model '{model}' (HTTP 401/402/403); "
                                     f"the key is parked and tried again in {wait}s: check it in the config",
                                code="provider_key_rejected", headers={"retry-after": str(wait)})
        cooled_keys = [s for cid, s in result.cooled.items() if is_credential_id(cid)]
        if cooled_keys:
            wait = math.ceil(min(cooled_keys))
            return GatewayError(429, f"every upstream key for this model is rate limited by its provider; retry in {wait}s",
                                code="rate_limit_exceeded", headers={"retry-after": str(wait)})
        return GatewayError(503, no_channel_reason or "no upstream channel is available for this model", code="no_channel_available")
    summary = "; ".join(f"{f.channel.provider.name} ({f.channel.upstream_model}): {f.reason}" for f in failures)
    if all(f.status == 429 for f in failures):
        waits = [f.retry_after for f in failures if f.retry_after and math.isfinite(f.retry_after)]
        headers = {"retry-after": str(math.ceil(min(waits)))} if waits else {}
        return GatewayError(429, f"every upstream is rate limited: {summary}", code="rate_limit_exceeded", headers=headers)
    if all(f.status == 504 for f in failures):
        return GatewayError(504, f"every upstream timed out: {summary}", code="timeout")
    if all(f.status in REJECTED for f in failures):
        return GatewayError(502, f"the upstream rejected the provider key ({len(failures)} attempts): {summary}; "
                                 "check the keys in the config", code="provider_key_rejected")
    return GatewayError(502, f"all upstream channels failed ({len(failures)} attempts): {summary}", code="upstream_failed")


def connection_failure(exc: BaseException) -> tuple[int, str] | None:
    """``(status, what happened)`` for a failure to reach the upstream, named for what it is; None
    for anything else (a broken answer: see ``http_client.transport_failure``).

    httpx-aiohttp reports every failure to connect as ``ConnectTimeout``; the real cause (a DNS
    failure, a refused connection, a TLS problem, a real timeout) is in the exception chain. The
    text names the kind, never the host or port (internal addresses stay in the log).
    """
    import ssl

    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    names = {type(e).__name__ for e in chain}
    if any(isinstance(e, socket.gaierror) for e in chain) or "ClientConnectorDNSError" in names:
        return 502, "DNS lookup of the upstream host failed"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return 502, "the upstream refused the connection"
    tls_errors = {"ClientConnectorCertificateError", "ClientConnectorSSLError", "ClientSSLError"}
    if any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in chain) or names & tls_errors:
        return 502, "TLS handshake with the upstream failed"
    if any(isinstance(e, ConnectionResetError | BrokenPipeError) for e in chain) or "ServerDisconnectedError" in names:
        return 502, "the upstream closed the connection"
    if "ConnectionTimeoutError" in names or (isinstance(exc, httpx.ConnectTimeout) and any(isinstance(e, TimeoutError) for e in chain)):
        return 504, "timed out connecting to the upstream"
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) or "ClientConnectorError" in names:
        return 502, "could not connect to the upstream"
    return None


def _short(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[:limit] + "…"


def _clean(text: str, channel: Channel) -> str:
    """Upstream text as a client may see it: the provider's keys masked, then scrubbed (key echoes,
    addresses, the upstream's own host)."""
    host = urlsplit(channel.provider.base_url or "").hostname
    return scrub(channel.provider.mask(text), (host,) if host else ())


def describe(err: UpstreamError, channel: Channel) -> str:
    """A short, key-free reason for the summary; upstream auth messages are never repeated."""
    if err.status in (401, 403):
        return f"HTTP {err.status}: the upstream rejected the provider key"
    return f"HTTP {err.status}: {_short(_clean(err.message, channel))}"


def client_error(err: UpstreamError, channel: Channel) -> GatewayError:
    """An upstream 400/413/422 is about the request itself: hand it back, translated, at once.
    When scrubbing changed its message, the masked original is logged at WARNING."""
    code = err.code if err.code and not err.code.isdigit() and scrub(err.code) == err.code else None
    if err.status == 413:
        code = code or "request_too_large"
    message = _clean(err.message, channel)
    if message != channel.provider.mask(err.message):
        log.warning("upstream %s (%s) answered HTTP %s: %s", channel.provider.name, channel.upstream_model, err.status,
                    channel.provider.mask(err.message)[:1000])
    return GatewayError(400 if err.status == 422 else err.status, _short(message, 2000), type="invalid_request_error", code=code,
                        param=err.param)


def stream_error(err: UpstreamError, channel: Channel) -> GatewayError:
    """The error event that ends a stream which broke after its first byte (before ``[DONE]``)."""
    log.warning("upstream %s (%s) stream broke: %s", channel.provider.name, channel.upstream_model,
                channel.provider.mask(err.message)[:1000])
    return GatewayError(err.status if err.status >= 500 else 502, _short(_clean(err.message, channel), 1000),
                        type="server_error", code="upstream_stream_error")

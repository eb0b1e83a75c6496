"""What a failed attempt means: cooldown marks, retry on the same channel, and the client's answer.

Kept apart from the proxy's control flow so the rules of config.md ("what counts as a failure",
"cool the key, not the channel", "not the only candidate") read in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import GatewayError
from .providers.base import UpstreamError
from .routing import Channel
from .store import AdmitResult
from .store.keys import is_credential_id

CLIENT_ERRORS = {400, 413, 422}  # the request itself is bad: answer at once, no retry
KEY_ERRORS = {401, 402, 403, 429}  # our provider key is bad, out of quota or told to back off


@dataclass
class Failure:
    channel: Channel
    reason: str
    status: int  # upstream status, or 504 for timeouts, 502 for connection errors
    retry_after: float | None = None


def failure_marks(failure: Failure, key_id: str | None, n_candidates: int) -> tuple[list[tuple[str, float]], bool]:
    """Cooldown marks for one failure, and whether the same channel may be retried with another key.

    Key problems (401/402/403/429) cool the key; the channel stays usable with its other keys.
    Everything else cools the channel, unless it was the only candidate.
    """
    provider = failure.channel.provider
    if failure.status in KEY_ERRORS and key_id is not None:
        seconds = max(provider.key_cooldown, failure.retry_after or 0.0)
        if seconds == 0 and failure.status != 429:
            seconds = provider.cooldown_period  # a bad or exhausted key: rest it like a channel
        marks = [(key_id, seconds)] if seconds > 0 else []
        if len(provider.credentials) > 1:
            return marks, True
        if marks:
            return marks, False
    if provider.cooldown_period > 0 and n_candidates > 1:
        return [(failure.channel.id, provider.cooldown_period)], False
    return [], False


def final_error(failures: list[Failure], result: AdmitResult, no_channel_reason: str | None) -> GatewayError:
    """The client's answer when no attempt succeeded: 429, 504, 503 or 502 with a summary."""
    if not failures:
        cooled_keys = [s for cid, s in result.cooled.items() if is_credential_id(cid)]
        if cooled_keys:
            wait = math.ceil(min(cooled_keys))
            return GatewayError(429, f"every upstream key for this model is cooling down after rate-limit or auth errors; retry in {wait}s",
                                code="rate_limit_exceeded", headers={"retry-after": str(wait)})
        return GatewayError(503, no_channel_reason or "no upstream channel is available for this model", code="no_channel_available")
    summary = "; ".join(f"{f.channel.provider.name} ({f.channel.upstream_model}): {f.reason}" for f in failures)
    if all(f.status == 429 for f in failures):
        waits = [f.retry_after for f in failures if f.retry_after]
        headers = {"retry-after": str(math.ceil(min(waits)))} if waits else {}
        return GatewayError(429, f"every upstream is rate limited: {summary}", code="rate_limit_exceeded", headers=headers)
    if all(f.status == 504 for f in failures):
        return GatewayError(504, f"every upstream timed out: {summary}", code="timeout")
    return GatewayError(502, f"all upstream channels failed ({len(failures)} attempts): {summary}", code="upstream_failed")


def describe(err: UpstreamError, channel: Channel) -> str:
    """A short, key-free reason for the summary; upstream auth messages are never repeated."""
    if err.status in (401, 403):
        return f"HTTP {err.status}: the upstream rejected the provider key"
    message = channel.provider.mask(err.message)
    if len(message) > 200:
        message = message[:200] + "…"
    return f"HTTP {err.status}: {message}"


def client_error(err: UpstreamError, channel: Channel) -> GatewayError:
    """An upstream 400/413/422 is about the request itself: hand it back, translated, at once."""
    code = err.code if err.code and not err.code.isdigit() else None
    if err.status == 413:
        code = code or "request_too_large"
    return GatewayError(400 if err.status == 422 else err.status, channel.provider.mask(err.message),
                        type="invalid_request_error", code=code, param=err.param)

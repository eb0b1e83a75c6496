"""The life of a chat request after authentication: admit, try channels in order, answer.

One store round trip (``admit``) before the first upstream call; cooldown marks only on the
failure path; usage recorded once at the end, awaited before the response completes (serverless
platforms may freeze the instance right after). Nothing is sent to the client until an upstream
answered with a good status and a good first event, so a failure before that moves on to the next
channel; once bytes went out there is no silent switch, and a broken stream ends with an error
event and ``[DONE]``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import httpx
from starlette.responses import Response, StreamingResponse

from .errors import GatewayError, stream_error_event
from .http_client import get_client
from .providers import get_adapter
from .providers.base import StreamContext, UpstreamError, dumps
from .routing import Channel, KeyPolicy, RoutingTable
from .scheduling import admission, key_limit, key_order, order_channels
from .sse import DONE
from .store import AdmitResult, LimitCheck, Store, Usage

log = logging.getLogger("gateway")

CLIENT_ERRORS = {400, 413, 422}
KEY_ERRORS = {401, 402, 403, 429}
STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


@dataclass
class Failure:
    channel: Channel
    reason: str
    status: int  # upstream status, or 504 for timeouts, 502 for connection errors
    retry_after: float | None = None


@dataclass
class Attempts:
    """What happened so far in one request; turned into headers, usage and the final error."""

    started: float
    store_ms: float = 0.0
    upstream_started: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    uses: list[LimitCheck] = field(default_factory=list)
    count: int = 0

    def server_timing(self) -> str:
        now = time.perf_counter()
        upstream = (now - self.upstream_started) * 1000 if self.upstream_started else 0.0
        total = (now - self.started) * 1000
        return f"store;dur={self.store_ms:.2f}, upstream;dur={upstream:.2f}, gateway;dur={total - upstream:.2f}, attempts;desc={self.count}"


def prepare_body(channel: Channel, body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI body for this channel: upstream model name, tools dropped when not supported."""
    payload = dict(body)
    payload["model"] = channel.upstream_model
    if not channel.provider.tools:
        for name in ("tools", "tool_choice", "parallel_tool_calls", "functions", "function_call"):
            payload.pop(name, None)
    return payload


def apply_overrides(channel: Channel, payload: dict[str, Any]) -> dict[str, Any]:
    """``post_body_parameter_overrides`` act on the final upstream payload (after translation)."""
    if channel.overrides or channel.removes:
        payload = {**payload, **channel.overrides}
        for name in channel.removes:
            payload.pop(name, None)
    return payload


def ratelimit_headers(result: AdmitResult) -> dict[str, str]:
    if not result.windows:
        return {}
    tight = min(result.windows, key=lambda w: (w.remaining, -w.reset))
    return {
        "x-ratelimit-limit-requests": str(tight.limit),
        "x-ratelimit-remaining-requests": str(max(0, tight.remaining)),
        "x-ratelimit-reset-requests": f"{tight.reset:.3f}s",
    }


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
        if len(provider.keys) > 1:
            return marks, True
        if marks:
            return marks, False
    if provider.cooldown_period > 0 and n_candidates > 1:
        return [(failure.channel.id, provider.cooldown_period)], False
    return [], False


def final_error(attempts: Attempts, result: AdmitResult, no_channel_reason: str | None) -> GatewayError:
    """The client's answer when no attempt succeeded: 429, 504, 503 or 502 with a summary."""
    failures = attempts.failures
    if not failures:
        cooled_keys = [s for cid, s in result.cooled.items() if "#" in cid]
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
                        type="invalid_request_error", code=code)


class ChatProxy:
    """Runs one chat completion request against the routing table and the store."""

    def __init__(self, table: RoutingTable, store: Store) -> None:
        self.table = table
        self.store = store

    async def handle(self, policy: KeyPolicy, body: dict[str, Any], model: str, started: float) -> Response:
        candidates = policy.routes.get(model)
        if not candidates:
            raise self._unknown_model(policy, model)
        stream = bool(body.get("stream"))
        attempts = Attempts(started=started)
        t = time.perf_counter()
        result = await self.store.admit(admission(policy, model, candidates, self.table.global_limits, self.table.fail_closed))
        attempts.store_ms = (time.perf_counter() - t) * 1000
        headers = ratelimit_headers(result)
        if result.degraded:
            headers["x-gateway-store"] = "degraded"
        if not result.allowed:
            wait = max(1, math.ceil(result.retry_after))
            if result.store_unavailable:
                raise GatewayError(503, f"the shared rate-limit store is unreachable and rate limits fail closed; retry in {wait}s",
                                   code="store_unavailable", headers={**headers, "retry-after": str(wait)})
            raise GatewayError(429, f"rate limit exceeded for this key; retry in {wait}s", code="rate_limit_exceeded",
                               headers={**headers, "retry-after": str(wait)})

        if policy.moderation:
            from .moderation import moderate

            try:
                await moderate(policy, body)
            except GatewayError as exc:
                exc.headers = {**headers, **exc.headers}
                raise
        options = body.get("stream_options")
        ctx = StreamContext(model=model, include_usage=bool(isinstance(options, dict) and options.get("include_usage")))
        channels = order_channels(policy, model, candidates, result)
        budget = max(c.channel.timeout for c in candidates)
        deadline = started + budget
        no_channel_reason = None
        try:
            for channel in channels:
                keys = list(key_order(channel, result))
                if not keys:
                    no_channel_reason = "every provider key of the candidate channels is at its api_key_rate_limit or cooling down"
                    continue
                for key_index in keys:
                    if attempts.count >= policy.max_attempts or time.perf_counter() >= deadline:
                        raise final_error(attempts, result, no_channel_reason)
                    attempts.count += 1
                    outcome = await self._attempt(channel, key_index, body, stream, ctx, attempts, deadline, headers, policy, model)
                    if isinstance(outcome, Response):
                        return outcome
                    key_id = channel.provider.key_ids[key_index] if key_index >= 0 else None
                    marks, same_channel = failure_marks(outcome, key_id, len(candidates))
                    if marks:
                        await self.store.mark_failure(marks)
                    if not same_channel:
                        break
            raise final_error(attempts, result, no_channel_reason)
        except GatewayError as exc:
            exc.headers = {**headers, **exc.headers, "server-timing": attempts.server_timing()}
            await self._record(attempts, policy, model, None, ok=False)
            raise

    def _unknown_model(self, policy: KeyPolicy, model: str) -> GatewayError:
        if model in self.table.all_models:
            return GatewayError(403, f"this API key is not allowed to use the model '{model}'", code="model_not_allowed", param="model")
        hint = "" if self.table.providers else " No providers are configured: add some to api.yaml (see README.md, 'Configuration')."
        return GatewayError(404, f"The model '{model}' does not exist or is not served by this gateway.{hint}", code="model_not_found", param="model")

    async def _attempt(self, channel: Channel, key_index: int, body: dict[str, Any], stream: bool, ctx: StreamContext,
                       attempts: Attempts, deadline: float, headers: dict[str, str], policy: KeyPolicy, model: str) -> Response | Failure:
        provider = channel.provider
        key = provider.keys[key_index] if key_index >= 0 else ""
        if key_index >= 0:
            check = key_limit(channel, provider.key_ids[key_index])
            if check is not None:
                attempts.uses.append(check)
        adapter = get_adapter(provider.engine)
        timeout = max(0.001, min(channel.timeout, deadline - time.perf_counter()))
        client = get_client()
        if not attempts.upstream_started:
            attempts.upstream_started = time.perf_counter()
        response = None
        try:
            async with asyncio.timeout(timeout):
                upstream = await adapter.build_request(channel, key, prepare_body(channel, body), stream)
                request = client.build_request(
                    upstream.method, upstream.url, headers=upstream.headers,
                    content=dumps(apply_overrides(channel, upstream.payload)),
                    timeout=httpx.Timeout(channel.timeout, connect=min(channel.timeout, 10.0)),
                )
                response = await client.send(request, stream=True)
                if response.status_code >= 400:
                    data = await response.aread()
                    raise adapter.parse_error(response.status_code, data, response.headers)
                if not stream:
                    data = await response.aread()
                    parsed = adapter.parse_response(channel, data, ctx)
                    self._check_triggers(data)
                    first = None
                else:
                    translator = adapter.stream(channel, ctx)
                    chunks = response.aiter_bytes()
                    first = []
                    while not first:
                        try:
                            chunk = await chunks.__anext__()
                        except StopAsyncIteration:
                            first = translator.finish()
                            if translator.error is None and not first:
                                raise UpstreamError(502, "the upstream stream ended without any event")
                            break
                        first = translator.feed(chunk)
                        if translator.error is not None:
                            break
                    if translator.error is not None:
                        raise translator.error
                    self._check_triggers(b"".join(first))
        except UpstreamError as err:
            await self._close(response)
            if err.status in CLIENT_ERRORS:
                raise client_error(err, channel) from None
            return self._fail(attempts, Failure(channel, describe(err, channel), err.status, err.retry_after))
        except TimeoutError:
            await self._close(response)
            return self._fail(attempts, Failure(channel, f"timed out after {timeout:.1f}s", 504))
        except (httpx.HTTPError, OSError) as exc:
            await self._close(response)
            status = 504 if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout) else 502
            return self._fail(attempts, Failure(channel, f"{type(exc).__name__}: {provider.mask(str(exc))[:200] or 'connection failed'}", status))

        headers = {**headers, "x-gateway-provider": provider.name, "server-timing": attempts.server_timing()}
        log.info("chat model=%s provider=%s attempts=%d stream=%s", model, provider.name, attempts.count, stream)
        if not stream:
            await self._record(attempts, policy, model, parsed.usage, ok=True)
            return Response(parsed.body, media_type="application/json", headers=headers)
        return StreamingResponse(
            self._relay(first, chunks, translator, response, attempts, policy, model, provider.mask),
            media_type="text/event-stream; charset=utf-8",
            headers={**headers, **STREAM_HEADERS},
        )

    async def _relay(self, first: list[bytes], chunks: AsyncIterator[bytes], translator: Any, response: httpx.Response,
                     attempts: Attempts, policy: KeyPolicy, model: str, mask: Any) -> AsyncIterator[bytes]:
        """Forward the rest of the stream as it arrives; a break becomes an error event + [DONE]."""
        error: GatewayError | None = None
        try:
            yield b"".join(first)
            async for chunk in chunks:
                events = translator.feed(chunk)
                if events:
                    yield b"".join(events) if len(events) > 1 else events[0]
                if translator.error is not None:
                    break
            else:
                tail = translator.finish()
                if tail:
                    yield b"".join(tail)
            if translator.error is not None:
                err = translator.error
                error = GatewayError(err.status if err.status >= 500 else 502, mask(err.message), type="server_error", code="upstream_stream_error")
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            error = GatewayError(502, f"the upstream stream broke: {type(exc).__name__}", type="server_error", code="upstream_stream_error")
        finally:
            await self._close(response)
        if error is not None:
            yield stream_error_event(error)
        yield DONE
        await self._record(attempts, policy, model, translator.usage, ok=error is None)

    def _check_triggers(self, data: bytes) -> None:
        for trigger in self.table.error_triggers:
            if trigger.encode() in data:
                raise UpstreamError(502, f"the answer matched the error trigger {trigger!r}")

    @staticmethod
    def _fail(attempts: Attempts, failure: Failure) -> Failure:
        attempts.failures.append(failure)
        return failure

    @staticmethod
    async def _close(response: httpx.Response | None) -> None:
        if response is not None:
            try:
                await response.aclose()
            except Exception:  # closing a broken connection must not mask the real outcome
                pass

    async def _record(self, attempts: Attempts, policy: KeyPolicy, model: str, usage: dict[str, Any] | None, ok: bool) -> None:
        """One call after the answer: upstream-key uses (for their limits) and token usage."""
        record = None
        if ok and not self.table.disable_usage:
            usage = usage if isinstance(usage, dict) else {}
            record = Usage(policy.key_id, model, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        if record is None and not attempts.uses:
            return
        try:
            await self.store.record_usage(attempts.uses, record, "")
        except Exception as exc:  # accounting must never break an answer
            log.warning("usage not recorded: %s", type(exc).__name__)

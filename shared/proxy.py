"""The life of a chat request after authentication: admit, try channels in order, answer.

One store round trip (``admit``) before the first upstream call; cooldown marks only on the
failure path; usage recorded once at the end, after the last byte was sent but still inside the
ASGI call, so it is awaited before the function returns (serverless platforms may freeze the
instance right after). Nothing is sent to the client until an upstream
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
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from .errors import GatewayError, stream_error_event
from .failures import CLIENT_ERRORS, Failure, client_error, describe, failure_marks, final_error
from .http_client import send
from .providers import get_adapter
from .providers.base import StreamContext, StreamTranslator, UpstreamError, dumps
from .routing import Channel, KeyPolicy, RoutingTable
from .scheduling import admission, key_order, order_channels
from .sse import DONE
from .store import AdmitResult, LimitCheck, Store, Usage

log = logging.getLogger("gateway")

TOOL_FIELDS = ("tools", "tool_choice", "parallel_tool_calls", "functions", "function_call")
STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


@dataclass
class Call:
    """One client request on its way through the channels: what was asked, and what happened."""

    policy: KeyPolicy
    model: str
    body: dict[str, Any]
    raw: bytes | None  # the client's bytes, forwarded as they are when nothing in the body changes
    started: float
    stream: bool = False
    ctx: StreamContext = field(default_factory=lambda: StreamContext(model=""))
    headers: dict[str, str] = field(default_factory=dict)
    deadline: float = 0.0
    store_ms: float = 0.0
    upstream_started: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    uses: list[LimitCheck] = field(default_factory=list)  # provider keys used (for api_key_rate_limit)
    count: int = 0

    def server_timing(self) -> str:
        now = time.perf_counter()
        upstream = (now - self.upstream_started) * 1000 if self.upstream_started else 0.0
        total = (now - self.started) * 1000
        return f"store;dur={self.store_ms:.2f}, upstream;dur={upstream:.2f}, gateway;dur={total - upstream:.2f}, attempts;desc={self.count}"


def prepare_body(channel: Channel, body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI body for this channel: upstream model name, tools dropped when not supported.

    Returns ``body`` itself when nothing changes, so the proxy can tell (by identity) that the
    client's bytes may be forwarded as they are.
    """
    strip = not channel.provider.tools and any(name in body for name in TOOL_FIELDS)
    if body.get("model") == channel.upstream_model and not strip:
        return body
    payload = dict(body)
    payload["model"] = channel.upstream_model
    if strip:
        for name in TOOL_FIELDS:
            payload.pop(name, None)
    return payload


def encode_payload(channel: Channel, payload: dict[str, Any], call: Call) -> bytes:
    """The upstream request body: the client's own bytes when the payload is still the client's body
    (OpenAI-compatible upstream, same model name, no overrides); JSON-encoded otherwise.
    ``post_body_parameter_overrides`` act on the final upstream payload (after translation)."""
    if channel.overrides or channel.removes:
        payload = {**payload, **channel.overrides}
        for name in channel.removes:
            payload.pop(name, None)
    if payload is call.body and call.raw is not None:
        return call.raw
    return dumps(payload)


def ratelimit_headers(result: AdmitResult) -> dict[str, str]:
    if not result.windows:
        return {}
    tight = min(result.windows, key=lambda w: (w.remaining, -w.reset))
    return {
        "x-ratelimit-limit-requests": str(tight.limit),
        "x-ratelimit-remaining-requests": str(max(0, tight.remaining)),
        "x-ratelimit-reset-requests": f"{tight.reset:.3f}s",
    }


class ChatProxy:
    """Runs chat completion requests against one routing table and the store."""

    def __init__(self, table: RoutingTable, store: Store) -> None:
        self.table = table
        self.store = store
        self.triggers = tuple(t.encode() for t in table.error_triggers)
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, policy: KeyPolicy, body: dict[str, Any], model: str, started: float, raw: bytes | None = None) -> Response:
        candidates = policy.routes.get(model)
        if not candidates:
            raise self._unknown_model(model)
        call = Call(policy, model, body, raw, started, stream=bool(body.get("stream")))
        t = time.perf_counter()
        result = await self.store.admit(admission(policy, model, candidates, self.table.global_limits, self.table.fail_closed))
        call.store_ms = (time.perf_counter() - t) * 1000
        call.headers = ratelimit_headers(result)
        if result.degraded:
            call.headers["x-gateway-store"] = "degraded"
        if not result.allowed:
            wait = max(1, math.ceil(result.retry_after))
            if result.store_unavailable:
                raise GatewayError(503, f"the shared rate-limit store is unreachable and rate limits fail closed; retry in {wait}s",
                                   code="store_unavailable", headers={**call.headers, "retry-after": str(wait)})
            raise GatewayError(429, f"rate limit exceeded for this key; retry in {wait}s", code="rate_limit_exceeded",
                               headers={**call.headers, "retry-after": str(wait)})
        try:
            if policy.moderation:
                from .moderation import moderate

                await moderate(policy, body)
            options = body.get("stream_options")
            call.ctx = StreamContext(model=model, include_usage=bool(isinstance(options, dict) and options.get("include_usage")))
            call.deadline = started + max(c.channel.timeout for c in candidates)
            return await self._try_channels(call, candidates, result)
        except GatewayError as exc:
            exc.headers = {**call.headers, **exc.headers, "server-timing": call.server_timing()}
            await self._record(call, None, ok=False)
            raise

    async def _try_channels(self, call: Call, candidates: tuple, result: AdmitResult) -> Response:
        """Attempt channels in scheduling order (and the same channel with its next key after a key
        failure) until one answers, the attempt cap or the time budget is reached."""
        no_channel_reason = None
        for channel in order_channels(call.policy, call.model, candidates, result):
            keys = list(key_order(channel, result))
            if not keys:
                no_channel_reason = "every provider key of the candidate channels is at its api_key_rate_limit or cooling down"
                continue
            for key_index in keys:
                if call.count >= call.policy.max_attempts or time.perf_counter() >= call.deadline:
                    raise final_error(call.failures, result, no_channel_reason)
                call.count += 1
                outcome = await self._attempt(call, channel, key_index)
                if isinstance(outcome, Response):
                    return outcome
                call.failures.append(outcome)
                key_id = channel.provider.key_ids[key_index] if key_index >= 0 else None
                marks, same_channel = failure_marks(outcome, key_id, len(candidates))
                if marks:
                    await self.store.mark_failure(marks)
                if not same_channel:
                    break
        raise final_error(call.failures, result, no_channel_reason)

    def _unknown_model(self, model: str) -> GatewayError:
        if model in self.table.all_models:
            return GatewayError(403, f"this API key is not allowed to use the model '{model}'", code="model_not_allowed", param="model")
        hint = "" if self.table.providers else " No providers are configured: add some to api.yaml (see README.md, 'Configuration')."
        return GatewayError(404, f"The model '{model}' does not exist or is not served by this gateway.{hint}", code="model_not_found", param="model")

    async def _attempt(self, call: Call, channel: Channel, key_index: int) -> Response | Failure:
        """One upstream call: a Response once the status and the first event are good, else a Failure."""
        provider = channel.provider
        key = provider.keys[key_index] if key_index >= 0 else ""
        if key_index >= 0:
            check = channel.key_limits.get(provider.key_ids[key_index])
            if check is not None:
                call.uses.append(check)
        adapter = get_adapter(provider.engine)
        timeout = max(0.001, min(channel.timeout, call.deadline - time.perf_counter()))
        if not call.upstream_started:
            call.upstream_started = time.perf_counter()
        response = None
        try:
            async with asyncio.timeout(timeout):
                upstream = await adapter.build_request(channel, key, prepare_body(channel, call.body), call.stream)
                content = encode_payload(channel, upstream.payload, call)
                response = await send(upstream.method, upstream.url, upstream.headers, content, channel.timeout)
                if response.status_code >= 400:
                    raise adapter.parse_error(response.status_code, await response.aread(), response.headers)
                if not call.stream:
                    data = await response.aread()
                    parsed = adapter.parse_response(channel, data, call.ctx)
                    self._check_triggers(data)
                else:
                    translator = adapter.stream(channel, call.ctx)
                    chunks = response.aiter_bytes()
                    first = await self._first_events(translator, chunks)
        except UpstreamError as err:
            await self._close(response)
            if err.status in CLIENT_ERRORS:
                raise client_error(err, channel) from None
            return Failure(channel, describe(err, channel), err.status, err.retry_after)
        except TimeoutError:
            await self._close(response)
            return Failure(channel, f"timed out after {timeout:.1f}s", 504)
        except (httpx.HTTPError, OSError) as exc:
            await self._close(response)
            status = 504 if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout) else 502
            return Failure(channel, f"{type(exc).__name__}: {provider.mask(str(exc))[:200] or 'connection failed'}", status)

        headers = {**call.headers, "x-gateway-provider": provider.name, "server-timing": call.server_timing()}
        log.debug("chat model=%s provider=%s attempts=%d stream=%s", call.model, provider.name, call.count, call.stream)
        if not call.stream:
            # Recorded right after the body is sent, within the same ASGI call: the client does not wait
            # for the store, and the platform cannot freeze the instance before the record is written.
            return Response(parsed.body, media_type="application/json", headers=headers,
                            background=BackgroundTask(self._record, call, parsed.usage, True))
        return StreamingResponse(self._relay(call, first, chunks, translator, response, provider.mask),
                                 media_type="text/event-stream; charset=utf-8", headers={**headers, **STREAM_HEADERS})

    async def _first_events(self, translator: StreamTranslator, chunks: AsyncIterator[bytes]) -> list[bytes]:
        """Read until the translator produced its first event (or reported an error)."""
        first: list[bytes] = []
        while not first:
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                first = translator.finish()
                if translator.error is None and not first:
                    raise UpstreamError(502, "the upstream stream ended without any event") from None
                break
            first = translator.feed(chunk)
            if translator.error is not None:
                break
        if translator.error is not None:
            raise translator.error
        self._check_triggers(b"".join(first))
        return first

    async def _relay(self, call: Call, first: list[bytes], chunks: AsyncIterator[bytes], translator: StreamTranslator,
                     response: httpx.Response, mask: Any) -> AsyncIterator[bytes]:
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
        except asyncio.CancelledError:
            # The client went away and the server cancels the stream. Any await here would be cancelled
            # too, so closing the upstream and recording the request run as a task of their own.
            self._spawn(self._abandon(call, translator, response))
            raise
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            error = GatewayError(502, f"the upstream stream broke: {type(exc).__name__}", type="server_error", code="upstream_stream_error")
        await self._close(response)
        if error is not None:
            yield stream_error_event(error)
        yield DONE
        await self._record(call, translator.usage, ok=error is None)

    async def _abandon(self, call: Call, translator: StreamTranslator, response: httpx.Response) -> None:
        """A stream the client left: stop reading the upstream, still count the request and its key use."""
        await self._close(response)
        await self._record(call, translator.usage, ok=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # the loop keeps only a weak reference to tasks
        task.add_done_callback(self._tasks.discard)

    def _check_triggers(self, data: bytes) -> None:
        for trigger in self.triggers:
            if trigger in data:
                raise UpstreamError(502, f"the answer matched the error trigger {trigger.decode()!r}")

    @staticmethod
    async def _close(response: httpx.Response | None) -> None:
        if response is not None:
            try:
                await response.aclose()
            except Exception:  # closing a broken connection must not mask the real outcome
                pass

    async def _record(self, call: Call, usage: dict[str, Any] | None, ok: bool) -> None:
        """One call after the answer: provider-key uses (for their limits) and token usage."""
        record = None
        if ok and not self.table.disable_usage:
            usage = usage if isinstance(usage, dict) else {}
            record = Usage(call.policy.key_id, call.model, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        if record is None and not call.uses:
            return
        try:
            await self.store.record_usage(call.uses, record, "")
        except Exception as exc:  # accounting must never break an answer
            log.warning("usage not recorded: %s", type(exc).__name__)

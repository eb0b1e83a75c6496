"""The life of a request after authentication, for every endpoint: admit, try channels, answer.

One store round trip (``admit``) before the first upstream call; cooldown marks only on the
failure path; usage recorded once at the end, after the last byte was sent but still inside the
ASGI call, so it is awaited before the function returns (serverless platforms may freeze the
instance right after). Nothing is sent to the client until an upstream answered with a good
status and a good first event, so a failure before that moves on to the next channel; once bytes
went out there is no silent switch, and a broken stream ends with an error event and ``[DONE]``.

Whatever an upstream sends is untrusted: a reply that is not HTTP, a body past its size limit
(``MAX_UPSTREAM_BYTES``, ``MAX_UPSTREAM_STREAM_BYTES``, ``MAX_SSE_EVENT_BYTES``), JSON of an
unexpected shape, an absurd ``Retry-After``. Once the request was sent, any exception while reading
the answer is a failed attempt (502, or 504 for a read timeout) that moves on to the next channel,
or, after the first byte, the stream's error event; never a 500.

What differs between endpoints is the :class:`~.operations.Operation`; the answer is a neutral
:class:`Answer` (status, headers, bytes or an async byte stream) that ``app.py`` renders.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import filters
from .credentials import Credential
from .errors import GatewayError
from .failures import (
    CLIENT_ERRORS,
    Failure,
    Parking,
    attempt_failed,
    client_error,
    connection_failure,
    describe,
    failure_marks,
    final_error,
    is_quota,
    stream_error,
)
from .http_client import body_chunks, read_body, transport_failure
from .logs import Attempt, RequestLog
from .operations import Operation, serves
from .providers.base import CHAT, StreamContext, StreamTranslator, UpstreamError
from .routing import Candidate, Channel, KeyPolicy, RoutingTable
from .scheduling import admission, key_order, order_channels, outcome_checks
from .sse import event_limit
from .store import AdmitResult, LimitCheck, Store, Usage

log = logging.getLogger("gateway")

JSON = "application/json"
SSE = "text/event-stream; charset=utf-8"
STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
ERROR_BODY_BYTES = 64 * 1024  # an upstream error body is read up to this size (the status already says it failed)
MAX_TOKENS = 10**9  # a reported token count above this is not believed (it would only poison the usage counters)
KEEPALIVE = b": keepalive\n\n"  # an SSE comment: clients ignore it, proxies see bytes moving
CREDITS_HEADER = "x-gateway-credits-remaining"  # dollars left of the key's credits, before this request's cost


@dataclass
class Answer:
    """A successful answer, independent of any web framework.

    ``body`` for a whole answer, or ``stream`` for one sent as it arrives; ``after`` runs once the
    whole body was sent (usage accounting), within the same ASGI call.
    """

    status: int
    headers: dict[str, str]
    media_type: str
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    after: Callable[[], Awaitable[None]] | None = None
    usage: dict[str, Any] | None = None


@dataclass
class Call:
    """One client request on its way through the channels: what was asked, and what happened."""

    op: Operation
    policy: KeyPolicy
    model: str
    body: dict[str, Any]
    raw: bytes | None  # the client's bytes, forwarded as they are when nothing in the body changes
    started: float
    stream: bool = False
    counted: bool = True  # False for the gateway's own calls (moderation): no usage of the key recorded
    ctx: StreamContext = field(default_factory=lambda: StreamContext(model=""))
    headers: dict[str, str] = field(default_factory=dict)
    deadline: float = 0.0
    store_ms: float = 0.0
    upstream_started: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    uses: list[LimitCheck] = field(default_factory=list)  # credentials used (for api_key_rate_limit)
    count: int = 0
    trace: RequestLog = field(default_factory=lambda: RequestLog("", "", ""))
    refused: dict[str, str] = field(default_factory=dict)  # channel id -> why its provider's filters refuse it

    def server_timing(self) -> str:
        now = time.perf_counter()
        upstream = (now - self.upstream_started) * 1000 if self.upstream_started else 0.0
        total = (now - self.started) * 1000
        return f"store;dur={self.store_ms:.2f}, upstream;dur={upstream:.2f}, gateway;dur={total - upstream:.2f}, attempts;desc={self.count}"


def ratelimit_headers(result: AdmitResult) -> dict[str, str]:
    if not result.windows:
        return {}
    tight = min(result.windows, key=lambda w: (w.remaining, -w.reset))
    return {
        "x-ratelimit-limit-requests": str(tight.limit),
        "x-ratelimit-remaining-requests": str(max(0, tight.remaining)),
        "x-ratelimit-reset-requests": f"{tight.reset:.3f}s",
    }


class ConfigChanged(GatewayError):
    """The store holds another config version than the one this request started on; raised by
    ``run`` straight after ``admit`` (which then counted nothing), so the app runs the request again
    on the new config. A client sees it only if that fails too: a retryable 503."""

    def __init__(self, version: int) -> None:
        super().__init__(503, "the gateway's configuration changed during this request; retry it", code="config_changed",
                         headers={"retry-after": "1"})
        self.version = version


class Dispatcher:
    """Runs requests of any operation against one routing table and the store."""

    def __init__(self, table: RoutingTable, store: Store, config_version: int | None = None) -> None:
        self.table = table
        self.store = store
        self.config_version = config_version  # checked against the store's in every admit (None: not checked)
        self.triggers = tuple(t.encode() for t in table.error_triggers)
        self.limits = table.upstream_limits
        self._tasks: set[asyncio.Task[None]] = set()
        self.parking = Parking()

    def candidates(self, policy: KeyPolicy, op: Operation, model: str) -> tuple[Candidate, ...] | None:
        """The key's channels for ``model`` that can serve ``op`` (None: the key has no such model).

        Every engine serves chat, so chat takes the routes as compiled; other endpoints keep only the
        channels whose adapter lists them, computed once per (endpoint, model) and key.
        """
        routes = policy.routes.get(model)
        if routes is None or op.endpoint == CHAT:
            return routes
        cached = policy.endpoint_routes.get((op.endpoint, model))
        if cached is None:
            cached = policy.endpoint_routes[(op.endpoint, model)] = tuple(c for c in routes if serves(op, c.channel))
        return cached

    async def run(self, op: Operation, policy: KeyPolicy, body: dict[str, Any], model: str, started: float,
                  raw: bytes | None = None, counted: bool = True, trace: RequestLog | None = None) -> Answer:
        """Answer one request, or raise :class:`GatewayError` with the client's error. ``trace``
        collects what happened for the access log (attempts, store time)."""
        candidates = self.candidates(policy, op, model)
        if not candidates:
            raise self.unknown_model(model, op, candidates)
        call = Call(op, policy, model, body, raw, started, stream=op.wants_stream(body), counted=counted,
                    trace=trace if trace is not None else RequestLog("", "", op.endpoint))
        if self.table.filtered:
            self._filter(call, candidates)
        t = time.perf_counter()
        request = admission(policy, model, candidates, self.table.global_limits if counted else None, self.table.fail_closed,
                            op.endpoint, counted, self.config_version)
        result = await self.store.admit(request)
        call.store_ms = call.trace.store_ms = (time.perf_counter() - t) * 1000
        if result.config_changed:  # nothing was counted: the request runs again on the new config
            raise ConfigChanged(result.config_version)
        call.headers = ratelimit_headers(result)
        if result.degraded:
            call.headers["x-gateway-store"] = "degraded"
        if result.spent is not None and policy.spend is not None:
            call.headers[CREDITS_HEADER] = f"{max(0, policy.spend.credits - result.spent) / 1_000_000:.6f}"
        if not result.allowed:
            self._refuse(call, result)
        try:
            if policy.moderation and op.moderated:
                from .moderation import moderate

                await moderate(self, policy, body)
            call.ctx = op.context(model, body)
            call.deadline = started + self.table.request_timeout  # each attempt also has its own model_timeout
            if call.stream:
                intervals = [c.channel.keepalive for c in candidates if c.channel.keepalive]
                if intervals:
                    return Answer(200, {**call.headers, **STREAM_HEADERS}, SSE,
                                  stream=self._kept_alive(call, candidates, result, min(intervals)))
            return await self._try_channels(call, candidates, result)
        except GatewayError as exc:
            exc.headers = {**call.headers, **exc.headers, "server-timing": call.server_timing()}
            await self._record(call, None, ok=False)
            raise

    @staticmethod
    def _filter(call: Call, candidates: tuple[Candidate, ...]) -> None:
        """Note the candidates whose provider's request filters refuse this request; when that is
        every one, the request is refused before the store or any upstream is called."""
        op, path = call.op, call.trace.path
        if not path.startswith("/"):  # the gateway's own call (moderation): the endpoint's own path
            path = "/chat/completions" if op.endpoint == CHAT else "/" + op.endpoint
        request = filters.Request(filters.endpoint_key(path), call.model, call.body,
                                  len(call.raw) if call.raw is not None else None, filters.request_type(path, call.body),
                                  filters.estimate_tokens(call.body))
        for cand in candidates:
            channel = cand.channel
            reason = channel.filter.refuses(request, channel.upstream_model) if channel.filter is not None else None
            if reason is not None:
                call.refused[channel.id] = reason
        if len(call.refused) == len(candidates):
            reasons = "; ".join(dict.fromkeys(call.refused.values()))
            too_big = all("max_request_body_bytes" in r or "/tpr" in r for r in call.refused.values())
            raise GatewayError(413 if too_big else 400, f"no provider of the model '{call.model}' accepts this request: {reasons}",
                               code="request_too_large" if too_big else "no_provider_accepts_request")

    @staticmethod
    def _refuse(call: Call, result: AdmitResult) -> None:
        if result.credits_exhausted:
            raise GatewayError(402, "this API key has used up its credits; ask the gateway's operator for more",
                               type="insufficient_quota", code="insufficient_quota", headers=call.headers)
        wait = max(1, math.ceil(result.retry_after))
        headers = {**call.headers, "retry-after": str(wait)}
        if result.store_unavailable:
            raise GatewayError(503, f"the shared rate-limit store is unreachable and rate limits fail closed; retry in {wait}s",
                               code="store_unavailable", headers=headers)
        raise GatewayError(429, f"rate limit exceeded for this key; retry in {wait}s", code="rate_limit_exceeded", headers=headers)

    async def _try_channels(self, call: Call, candidates: tuple[Candidate, ...], result: AdmitResult) -> Answer:
        """Attempt channels in scheduling order (and the same channel with its next credential after a
        credential failure) until one answers, the attempt cap or the time budget is reached."""
        no_channel_reason = None
        for channel in order_channels(call.policy, call.model, candidates, result):
            if call.refused and channel.id in call.refused:
                continue
            credentials = list(key_order(channel, result))
            if not credentials:
                no_channel_reason = "every provider key of the candidate channels is at its api_key_rate_limit or cooling down"
                continue
            for credential in credentials:
                if call.count >= call.policy.max_attempts or time.perf_counter() >= call.deadline:
                    raise final_error(call.failures, result, no_channel_reason, call.model)
                call.count += 1
                began = time.perf_counter()
                outcome = await self._attempt(call, channel, credential)
                ms = (time.perf_counter() - began) * 1000
                if credential is not None and channel.provider.key_schedule == "smart_round_robin":
                    call.uses.append(outcome_checks(credential.id)[0 if isinstance(outcome, Answer) else 1])
                if isinstance(outcome, Answer):
                    call.trace.attempts.append(Attempt(channel.provider.name, channel.upstream_model, outcome.status, ms))
                    return outcome
                call.trace.attempts.append(Attempt(channel.provider.name, channel.upstream_model, outcome.status, ms, outcome.reason))
                log.warning("request %s: %s attempt %d on %s (%s) failed after %.0f ms: %s", call.trace.request_id or "-",
                            call.op.endpoint, call.count, channel.provider.name, channel.upstream_model, ms,
                            outcome.detail or outcome.reason)
                call.failures.append(outcome)
                marks, same_channel = failure_marks(outcome, credential.id if credential else None, len(candidates), self.parking)
                note = {"channel": channel.id, "provider": channel.provider.name, "model": channel.upstream_model,
                        "credential": credential.id if credential else None, "status": outcome.status, "reason": outcome.reason}
                await self.store.mark_failure(marks, note)
                if not same_channel:
                    break
        raise final_error(call.failures, result, no_channel_reason, call.model)

    def unknown_model(self, model: str, op: Operation, candidates: tuple[Candidate, ...] | None) -> GatewayError:
        if candidates is not None:  # the key has the model, but no channel of it serves this endpoint
            return GatewayError(400, f"The model '{model}' is not served on {op.endpoint} by any of its providers.",
                                code="unsupported_endpoint", param="model")
        if model in self.table.all_models:
            return GatewayError(403, f"this API key is not allowed to use the model '{model}'", code="model_not_allowed", param="model")
        hint = "" if self.table.providers else " No providers are configured: add some to api.yaml (see README.md, 'Configuration')."
        return GatewayError(404, f"The model '{model}' does not exist or is not served by this gateway.{hint}",
                            code="model_not_found", param="model")

    async def _attempt(self, call: Call, channel: Channel, credential: Credential | None) -> Answer | Failure:
        """One upstream call: an Answer once the status and the first event are good, else a Failure."""
        provider = channel.provider
        adapter = provider.adapter
        op = call.op
        limits = self.limits
        if credential is not None:
            check = channel.key_limits.get(credential.id)
            if check is not None:
                call.uses.append(check)
        timeout = max(0.001, min(channel.timeout, call.deadline - time.perf_counter()))
        if not call.upstream_started:
            call.upstream_started = time.perf_counter()
        response = None
        sending = False  # from here on, an exception comes from the upstream exchange, not from us
        try:
            async with asyncio.timeout(timeout):
                body = op.body_for(channel, call.body)
                built = await op.build(adapter, channel, credential, body, call.stream)
                outbound = await adapter.prepare(channel, credential, built, call.raw if built.payload is call.body else None)
                sending = True
                response = await adapter.send(outbound, channel.timeout)
                if response.status_code >= 400:
                    data = await read_body(response, ERROR_BODY_BYTES, truncate=True, idle_timeout=channel.timeout)
                    raise adapter.parse_error(response.status_code, data, response.headers)
                if not call.stream:
                    data = await read_body(response, limits.max_bytes, idle_timeout=channel.timeout)
                    parsed = op.parse(adapter, channel, data, call.ctx)
                    self._check_triggers(data)
                else:
                    with event_limit(limits.max_event_bytes):
                        translator = op.translator(adapter, channel, call.ctx)
                    chunks = body_chunks(response, limits.max_stream_bytes, "stream", "MAX_UPSTREAM_STREAM_BYTES", channel.timeout)
                    first = await self._first_events(translator, chunks)
        except UpstreamError as err:
            await self._close(response)
            if err.status in CLIENT_ERRORS:
                raise client_error(err, channel) from None
            failure = attempt_failed(channel, err.status, f"HTTP {err.status}: {err.message}", err.retry_after,
                                     limits.max_retry_after, reason=describe(err, channel))
            failure.quota = is_quota(err)
            return failure
        except TimeoutError:
            await self._close(response)
            return attempt_failed(channel, 504, f"timed out after {timeout:.1f}s")
        except GatewayError:
            raise
        except Exception as exc:
            if not sending and not isinstance(exc, (httpx.HTTPError, OSError)):
                raise  # building the request failed: our bug, not the upstream's doing
            await self._close(response)
            status, reason = connection_failure(exc) or transport_failure(exc)
            return attempt_failed(channel, status, reason)

        headers = {**call.headers, "x-gateway-provider": provider.name, "server-timing": call.server_timing()}
        # Endpoints whose answer is the upstream's own kind of content (audio, plain text, relayed events) keep its type.
        relayed = response.headers.get("content-type") if getattr(op, "relays_media_type", False) else None
        log.debug("%s model=%s provider=%s attempts=%d stream=%s", op.endpoint, call.model, provider.name, call.count, call.stream)
        if not call.stream:
            # Recorded right after the body is sent, within the same ASGI call: the client does not wait
            # for the store, and the platform cannot freeze the instance before the record is written.
            async def after() -> None:
                await self._record(call, parsed.usage, True)

            return Answer(200, headers, relayed or JSON, body=parsed.body, after=after, usage=parsed.usage)
        return Answer(200, {**headers, **STREAM_HEADERS}, relayed or SSE,
                      stream=self._relay(call, first, chunks, translator, response, channel))

    async def _kept_alive(self, call: Call, candidates: tuple[Candidate, ...], result: AdmitResult,
                          interval: float) -> AsyncIterator[bytes]:
        """``keepalive_interval``: the stream starts at once and carries an SSE comment every ``interval``
        seconds while the channels are tried (failover still works: comments are not content); then
        the answer's events, or the protocol's error event if every channel failed."""
        task = asyncio.ensure_future(self._try_channels(call, candidates, result))
        try:
            while not task.done():
                done, _ = await asyncio.wait({task}, timeout=interval)
                if not done:
                    yield KEEPALIVE
            try:
                answer = task.result()
            except GatewayError as exc:
                await self._record(call, None, ok=False)
                for event in call.op.stream_end(exc):
                    yield event
                return
        finally:
            if not task.done():  # the client left while the channels were tried
                task.cancel()
        if answer.stream is not None:
            async for chunk in answer.stream:
                yield chunk

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
                     response: httpx.Response, channel: Channel) -> AsyncIterator[bytes]:
        """Forward the rest of the stream as it arrives; a break becomes an error event + [DONE].

        Each gap between events is bounded by the channel's timeout: a read that times out breaks
        the stream, and so do bytes that keep trickling in without ever completing an event."""
        error: GatewayError | None = None
        try:
            yield b"".join(first)
            gap = channel.timeout
            last = time.monotonic()
            async for chunk in chunks:
                events = translator.feed(chunk)
                if events:
                    yield b"".join(events) if len(events) > 1 else events[0]
                    last = time.monotonic()
                elif time.monotonic() - last > gap:
                    raise UpstreamError(504, f"the upstream sent no complete event for {gap:g}s")
                if translator.error is not None:
                    break
            else:
                tail = translator.finish()
                if tail:
                    yield b"".join(tail)
            if translator.error is not None:
                error = stream_error(translator.error, channel)
        except asyncio.CancelledError:
            # The client went away and the server cancels the stream. Any await here would be cancelled
            # too, so closing the upstream and recording the request run as a task of their own.
            self._spawn(self._abandon(call, translator, response))
            raise
        except UpstreamError as err:
            error = stream_error(err, channel)
        except Exception as exc:  # whatever the transport or a translator raised: never a 500 after the first byte
            status, reason = transport_failure(exc)
            error = stream_error(UpstreamError(status, f"the upstream stream broke: {reason}"), channel)
        await self._close(response)
        for event in call.op.stream_end(error):
            yield event
        await self._record(call, translator.usage, ok=error is None)

    async def _abandon(self, call: Call, translator: StreamTranslator, response: httpx.Response) -> None:
        """A stream the client left: stop reading the upstream, still count the request and its key use."""
        await self._close(response)
        await self._record(call, translator.usage, ok=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
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
        """One call after the answer: credential uses (for their limits) and token usage."""
        record = None
        spend = call.policy.spend
        if ok and call.counted and (spend is not None or not self.table.disable_usage):
            usage = usage if isinstance(usage, dict) else {}
            prompt, completion = tokens(usage.get("prompt_tokens")), tokens(usage.get("completion_tokens"))
            provider = call.trace.attempts[-1].provider if call.trace.attempts else ""
            record = Usage(call.policy.key_id, call.model, prompt, completion, provider=provider)
            if spend is not None:  # $ per million tokens x tokens = micro-dollars
                price_in, price_out = self.table.price(call.model)
                cost = math.ceil(prompt * price_in + completion * price_out)
                record = Usage(record.key_id, record.model, prompt, completion, spend.counter, cost, provider)
        if record is None and not call.uses:
            return
        try:
            await self.store.record_usage(call.uses, record, "")
        except Exception as exc:  # accounting must never break an answer
            log.warning("usage not recorded: %s", type(exc).__name__)


def tokens(value: Any) -> int:
    """A token count as an upstream reported it, or 0 when it is not a sane count ("lots", [3], -5,
    NaN, 1e400): a hostile usage object must not break accounting, nor poison the usage counters."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, float):
        value = int(value) if math.isfinite(value) else 0
    elif isinstance(value, str):
        value = int(value) if value.isascii() and value.isdigit() and len(value) < 12 else 0
    elif not isinstance(value, int):
        return 0
    return value if 0 <= value <= MAX_TOKENS else 0


__all__ = ["Answer", "Call", "ConfigChanged", "Dispatcher", "ratelimit_headers", "tokens"]

"""Upstreams that serve the Responses API themselves: which ones, and their event streams.

Policy (:func:`passes_through`): a provider's ``preferences.responses_api`` says ``passthrough``
or ``translate``; unset, only OpenAI's own host (``api.openai.com``) and Azure's v1 form
(``…/openai/v1``) get the request as it came, since most OpenAI-compatible hosts (vLLM, Ollama,
Groq, DeepSeek...) do not serve ``/responses`` and would answer 404 to every request. Passthrough
keeps what translation cannot (built-in tools, OpenAI's encrypted reasoning); ``store`` is always
sent false, so nothing is kept under the provider's key.

:class:`ResponsesPassthrough` forwards the upstream's events as they are and only watches them: the
opening ``response.created`` / ``response.in_progress`` are held back until the first real event, so
an upstream that fails right away (``error`` or ``response.failed`` first) still fails over; the
terminal event's usage is recorded; a stream cut before its terminal event ends with an ``error``
event and ``response.failed`` numbered after the upstream's own events.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...errors import GatewayError
from ...providers.base import UpstreamError
from ...providers.openai import OpenAIAdapter
from ...sse import EventFramer, parse_block
from .response import chat_usage_of, mapping
from .stream import Events, error_events

if TYPE_CHECKING:
    from ...routing import Provider

RESPONSES = "responses"
OPENING = ("response.created", "response.in_progress", "response.queued")
TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def passes_through(provider: Provider) -> bool:
    adapter = provider.adapter
    if not adapter.supports(RESPONSES):
        return False
    mode = provider.config.preferences.responses_api
    if mode is not None:
        return mode == "passthrough"
    return isinstance(adapter, OpenAIAdapter) and adapter.serves_responses(provider)


def upstream_error(obj: dict[str, Any]) -> UpstreamError:
    """An ``error`` event (flat or nested) or a ``response.failed`` as an upstream failure."""
    err = mapping(obj.get("error")) or mapping(mapping(obj.get("response")).get("error")) or obj
    code = err.get("code")
    status = 429 if code in ("rate_limit_exceeded", "insufficient_quota") else 502
    kind = err.get("type")
    message = str(err.get("message") or "the upstream reported an error")
    return UpstreamError(status, message, kind if isinstance(kind, str) else "server_error",
                         code if isinstance(code, str | int) and not isinstance(code, bool) else None)


class ResponsesPassthrough:
    """Forward Responses events as bytes; watch for errors, usage and the terminal event."""

    def __init__(self) -> None:
        self.usage: dict[str, Any] | None = None
        self.error: UpstreamError | None = None
        self._framer = EventFramer()
        self._held: list[bytes] = []  # the opening events, until something real arrives
        self._started = False
        self._response: dict[str, Any] = {}  # from response.created, for a response.failed of our own
        self._items: dict[int, Any] = {}  # finished output items, for the same
        self._seq = -1
        self._errored = False  # the upstream sent an error event (after the start)
        self._ended = False  # a terminal event (or [DONE]) was seen

    def feed(self, chunk: bytes) -> list[bytes]:
        return self._events(self._framer.feed(chunk))

    def finish(self) -> list[bytes]:
        out = self._events(self._framer.close())
        if self.error is not None or self._ended:
            return out
        if self._errored:  # the upstream said what broke; only the lifecycle's end is missing
            out.append(self._events_after()("response.failed", response=self._failed_response(None)))
        else:
            self.error = UpstreamError(502, "the upstream stream ended before response.completed")
        return out

    def failure(self, error: GatewayError) -> list[bytes]:
        return error_events(self._events_after(), error, self._failed_response(error))

    def _events_after(self) -> Events:
        events = Events()
        events.seq = self._seq + 1
        return events

    def _failed_response(self, error: GatewayError | None) -> dict[str, Any]:
        out = {**self._response, "status": "failed", "output": [self._items[i] for i in sorted(self._items)]}
        if error is not None:
            out["error"] = {"code": error.code or "server_error", "message": error.message}
        return out

    def _events(self, blocks: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for block in blocks:
            if self._ended or self.error is not None:
                break
            event, data = parse_block(block)
            if data is None:
                continue  # comment / keep-alive
            if data.strip() == "[DONE]":
                self._ended = self._ended or self._errored
                break
            try:
                obj = json.loads(data)
            except ValueError:
                self.error = UpstreamError(502, "the upstream stream sent an event that is not JSON")
                break
            if not isinstance(obj, dict):
                continue
            kind = obj.get("type") or event
            seq = obj.get("sequence_number")
            if isinstance(seq, int) and not isinstance(seq, bool):
                self._seq = max(self._seq, seq)
            encoded = block + b"\n\n"
            if kind in OPENING and not self._started:
                if kind == "response.created" and isinstance(obj.get("response"), dict):
                    self._response = obj["response"]
                self._held.append(encoded)
                continue
            if kind in ("error", "response.failed") and not self._started:
                self.error = upstream_error(obj)  # nothing was sent yet: the next channel may answer
                break
            if not self._started:
                self._started = True
                out += self._held
                self._held = []
            self._watch(kind, obj)
            out.append(encoded)
        return out

    def _watch(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == "error":
            self._errored = True
        elif kind == "response.output_item.done" and isinstance(obj.get("output_index"), int):
            self._items[obj["output_index"]] = obj.get("item")
        elif kind in TERMINAL:
            self._ended = True
            response = obj.get("response")
            if isinstance(response, dict):
                self.usage = chat_usage_of(response.get("usage"))

"""``POST /v1/messages`` end to end: the official ``anthropic`` SDK -> gateway -> fake upstreams of
every wire format (Anthropic, OpenAI, Azure, Gemini, Vertex Gemini, Vertex Claude) -> back.

Channels that speak Anthropic get the request as it came and answer as they do; the others get it
through their chat translation and answer as Anthropic messages and events. Plus what chat has and
this route shares: failover, rate limits, auth, unknown models, moderation, usage, the access log,
broken streams (ending in Anthropic's ``error`` event), and ``count_tokens``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import pytest

from shared.providers import google_auth
from tests.builders import config, gateway_key, provider
from tests.conftest import ROOT, USER
from tests.fakes.anthropic_fake import RECORDED_TOOL_MESSAGE, RECORDED_TOOL_STREAM, FakeAnthropic
from tests.fakes.anthropic_fake import Reply as AReply
from tests.fakes.gemini_fake import Call, FakeGoogle, GeminiReply, make_service_account
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.openai_fake import Reply as OReply

UPSTREAM = "claude-sonnet-4-20250514"
VERTEX_CLAUDE = "claude-sonnet-4@20250514"
EMAIL = "gateway-test@test-project.iam.gserviceaccount.com"
ANT_KEY = "sk-ant-key-1"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
KINDS = ["anthropic", "openai", "azure", "gemini", "vertex-gemini", "vertex-claude"]
NATIVE = {"anthropic", "vertex-claude"}


def client(gw, **kw: Any) -> anthropic.Anthropic:
    """The SDK as Claude Code configures it: the gateway's root URL (no /v1), a gateway key."""
    return anthropic.Anthropic(base_url=gw.url, **({"api_key": USER} | kw), max_retries=0)


def ask(text: str = "hello", **kw: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 1000, "messages": [{"role": "user", "content": text}], **kw}


def blocks(message: Any) -> list[dict[str, Any]]:
    return [b.model_dump(exclude_none=True) for b in message.content]


@dataclass
class Upstream:
    """One fake upstream of some wire format behind the alias ``m``, scripted in its own terms."""

    kind: str
    fake: Any
    entry: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def native(self) -> bool:
        return self.kind in NATIVE

    @property
    def google(self) -> bool:
        return self.kind in ("gemini", "vertex-gemini")

    def text(self, text: str) -> None:
        self.fake.then(AReply(text=text) if self.native else GeminiReply(text=text) if self.google else OReply(text=text))

    def tool_call(self, call_id: str, name: str, args: dict[str, Any]) -> None:
        if self.native:
            self.fake.then(AReply(tool_calls=[{"id": call_id, "name": name, "input": args}]))
        elif self.google:
            self.fake.then(GeminiReply(calls=[Call(name, args)]))
        else:
            self.fake.then(OReply(tool_calls=[{"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]))

    def thinking(self, thoughts: str, text: str) -> None:
        self.fake.then(AReply(thinking=thoughts, text=text) if self.native else GeminiReply(thoughts=thoughts, text=text) if self.google
                       else OReply(reasoning=thoughts, text=text))

    def sent(self, n: int = -1) -> dict[str, Any]:
        return self.fake.requests[n]["body"]

    def tool_result_seen(self) -> Any:
        """The tool result the upstream got in its last request, in its own format."""
        body = self.sent()
        if self.native:
            return [b for b in body["messages"][-1]["content"] if b["type"] == "tool_result"][0]["content"]
        if self.google:
            return [p for p in body["contents"][-1]["parts"] if "functionResponse" in p][0]["functionResponse"]["response"]["result"]
        return [m for m in body["messages"] if m["role"] == "tool"][0]["content"]


@pytest.fixture(scope="module")
def account():
    return make_service_account()


def make_upstream(kind: str, fake_factory, account) -> Upstream:
    if kind == "anthropic":
        fake = fake_factory(kind=FakeAnthropic)
        return Upstream(kind, fake, provider("up", fake, path="/v1/messages", api=ANT_KEY, models=[{UPSTREAM: "m"}]))
    if kind in ("openai", "azure"):
        fake = fake_factory("up", flavour=kind)
        extra = {"engine": "azure", "path": ""} if kind == "azure" else {}
        return Upstream(kind, fake, provider("up", fake, models=[{"gpt-4o": "m"}], **extra))
    google_auth.reset()
    fake = fake_factory(kind=FakeGoogle, accounts={EMAIL: account[1]})
    if kind == "gemini":
        return Upstream(kind, fake, provider("up", fake, path="/v1beta", api="gemini-key-1", models=[{"gemini-2.5-flash": "m"}]))
    model = VERTEX_CLAUDE if kind == "vertex-claude" else "gemini-2.5-flash"
    entry = provider("up", fake, path="", api=None, models=[{model: "m"}], project_id="test-project", client_email=EMAIL,
                     private_key="${VERTEX_PRIVATE_KEY}", token_uri=f"{fake.url}/token", region="us-east5")
    return Upstream(kind, fake, entry, {"VERTEX_PRIVATE_KEY": account[0]})


@pytest.fixture(scope="module", params=KINDS)
def kind_upstream(request, module_fake_factory, account):
    """One upstream per format and one gateway in front of it, shared by the module's tests of that format."""
    google_auth.reset()  # a token cached for another fake Google would be refused by this one
    return make_upstream(request.param, module_fake_factory, account)


@pytest.fixture(scope="module")
def kind_gateway(kind_upstream, module_gateway_factory):
    return module_gateway_factory(config(kind_upstream.entry), env=kind_upstream.env)


@pytest.fixture
def up(kind_upstream):
    kind_upstream.fake.reset()  # the previous test's requests and script
    return kind_upstream


@pytest.fixture
def gw(up, kind_gateway):
    return kind_gateway


# --------------------------------------------------------------------------- every upstream format


def test_create_and_stream_text(up, gw) -> None:
    answer = client(gw).messages.create(**ask())
    assert answer.content[0].type == "text" and answer.content[0].text.endswith("says: hello")
    assert answer.stop_reason == "end_turn" and answer.model == "m" and answer.id.startswith("msg_") and answer.role == "assistant"
    assert answer.usage.input_tokens >= 1 and answer.usage.output_tokens >= 1
    with client(gw).messages.stream(**ask("hello there")) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.endswith("says: hello there") and blocks(final) == [{"type": "text", "text": text}]
    assert final.stop_reason == "end_turn" and final.model == "m" and final.usage.output_tokens >= 1
    assert up.sent().get("stream") is True or up.fake.requests[-1]["path"].endswith(("streamGenerateContent", "streamRawPredict"))


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_tool_round_trip(up, gw, stream: bool) -> None:
    up.tool_call("toolu_01A", "get_weather", {"city": "Paris"})
    question = {"role": "user", "content": "Weather in Paris?"}
    request = {"model": "m", "max_tokens": 1000, "tools": [WEATHER], "messages": [question]}
    if stream:
        with client(gw).messages.stream(**request) as events:
            first = events.get_final_message()
    else:
        first = client(gw).messages.create(**request)
    assert first.stop_reason == "tool_use"
    call = [b for b in first.content if b.type == "tool_use"][0]
    assert call.name == "get_weather" and call.input == {"city": "Paris"} and call.id
    up.text("It is sunny.")
    second = client(gw).messages.create(**{**request, "messages": [question, {"role": "assistant", "content": blocks(first)}, {
        "role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "21C, sunny"}]}]})
    assert blocks(second) == [{"type": "text", "text": "It is sunny."}] and second.stop_reason == "end_turn"
    assert up.tool_result_seen() == "21C, sunny"


def test_base64_image(up, gw) -> None:
    client(gw).messages.create(**ask(messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "text", "text": "What is this?"}]}]))
    body = up.sent()
    if up.native:
        assert body["messages"][0]["content"][0] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    elif up.google:
        assert body["contents"][0]["parts"][0] == {"inlineData": {"mimeType": "image/png", "data": PNG}}
    else:
        assert body["messages"][0]["content"][0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_thinking(up, gw, stream: bool) -> None:
    up.thinking("Six times seven.", "42")
    request = ask("6*7?", max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 2048})
    if stream:
        with client(gw).messages.stream(**request) as events:
            kinds = {e.type for e in events}
            answer = events.get_final_message()
        assert "thinking" in kinds  # the SDK's own thinking event, from thinking_delta
    else:
        answer = client(gw).messages.create(**request)
    thinking, text = answer.content
    assert thinking.type == "thinking" and thinking.thinking == "Six times seven." and text.text == "42"
    body = up.sent()
    if up.native:
        assert thinking.signature == AReply().signature and body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    elif up.google:
        assert thinking.signature == "" and body["generationConfig"]["thinkingConfig"]["includeThoughts"] is True
    else:
        assert thinking.signature == "" and body["reasoning_effort"] == "low"


def test_count_tokens(up, gw) -> None:
    raw = client(gw).messages.with_raw_response.count_tokens(model="m", messages=[{"role": "user", "content": "count these words please"}],
                                                             system="Be terse.")
    count = raw.parse().input_tokens
    assert count >= 1 and raw.headers["request-id"] == raw.headers["x-request-id"]
    if up.kind == "anthropic":
        sent = up.fake.requests[-1]
        assert sent["path"] == "/v1/messages/count_tokens" and sent["body"]["model"] == UPSTREAM and "x-gateway-token-count" not in raw.headers
        assert sent["headers"]["anthropic-version"] == raw.http_request.headers["anthropic-version"]  # the client's own
    else:
        assert raw.headers["x-gateway-token-count"] == "estimate" and not up.fake.requests  # no upstream call at all


# --------------------------------------------------------------------------- Anthropic upstreams: as it came


def test_anthropic_upstream_gets_the_clients_bytes_and_headers(fake_factory, gateway_factory) -> None:
    fake = fake_factory(kind=FakeAnthropic)
    gw = gateway_factory(config(provider("a", fake, path="/v1/messages", api=ANT_KEY, models=[UPSTREAM])))
    body = {"model": UPSTREAM, "max_tokens": 2000, "metadata": {"user_id": "u-1"},
            "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [{**WEATHER, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}, "title": "a.pdf",
                 "citations": {"enabled": True}, "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Summarise.", "cache_control": {"type": "ephemeral"}}]}]}
    raw = json.dumps(body, indent=1).encode()  # unusual spacing: only the very same bytes can match
    response = httpx.post(gw.url + "/v1/messages?beta=true", content=raw, timeout=30, headers={
        "x-api-key": USER, "anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31,extended-cache-ttl-2025-04-11",
        "content-type": "application/json"})
    assert response.status_code == 200, response.text
    sent = fake.requests[0]
    assert sent["raw"] == raw and sent["key"] == ANT_KEY
    assert sent["headers"]["anthropic-beta"] == "prompt-caching-2024-07-31,extended-cache-ttl-2025-04-11"
    assert response.json()["model"] == UPSTREAM and response.headers["request-id"] == response.headers["x-request-id"]


def test_anthropic_upstream_renamed_model_keeps_everything_else(fake_factory, gateway_factory) -> None:
    fake = fake_factory(kind=FakeAnthropic)
    gw = gateway_factory(config(provider("a", fake, path="/v1/messages", api=ANT_KEY, models=[{UPSTREAM: "claude"}])))
    request = {"model": "claude", "max_tokens": 500, "stop_sequences": ["END"],
               "system": [{"type": "text", "text": "Sys", "cache_control": {"type": "ephemeral"}}],
               "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]}
    answer = client(gw).beta.messages.create(**request, betas=["interleaved-thinking-2025-05-14"], extra_body={"top_k": 5})
    assert answer.model == "claude"
    sent = fake.requests[0]
    assert sent["body"] == {**request, "top_k": 5, "model": UPSTREAM} and sent["path"] == "/v1/messages"
    assert sent["headers"]["anthropic-beta"] == "interleaved-thinking-2025-05-14"


def test_anthropic_answers_and_streams_pass_back_as_they_came(fake_factory, gateway_factory) -> None:
    fake = fake_factory(kind=FakeAnthropic)
    gw = gateway_factory(config(provider("a", fake, path="/v1/messages", api=ANT_KEY, models=[{UPSTREAM: "claude"}])))
    message = {**RECORDED_TOOL_MESSAGE, "container": None, "stop_details": None, "future_field": {"x": 1}}
    fake.then(AReply(message=message), AReply(raw_stream=RECORDED_TOOL_STREAM))
    got = httpx.post(gw.url + "/v1/messages", json={**ask(), "model": "claude"}, headers={"x-api-key": USER}, timeout=30).json()
    assert got == {**message, "model": "claude"}
    response = httpx.post(gw.url + "/v1/messages", json={**ask(), "model": "claude", "stream": True}, headers={"x-api-key": USER}, timeout=30)
    upstream_events = [e for e in RECORDED_TOOL_STREAM.decode().split("\n\n") if e]
    events = [e for e in response.text.split("\n\n") if e]
    assert events[1:] == upstream_events[1:]  # byte for byte after message_start (where only the model changes)
    start = json.loads(events[0].split("data: ", 1)[1])
    assert start["message"]["model"] == "claude" and {**start["message"], "model": UPSTREAM} == json.loads(upstream_events[0].split("data: ", 1)[1])["message"]


def test_anthropic_headers_are_not_sent_to_other_upstreams(fake_factory, gateway_factory) -> None:
    fake = fake_factory("oa")
    gw = gateway_factory(config(provider("oa", fake, models=[{"gpt-4o": "m"}])))
    client(gw).beta.messages.create(**ask(betas=["interleaved-thinking-2025-05-14"]))
    assert not any(name.startswith("anthropic-") for name in fake.requests[0]["headers"])
    assert fake.requests[0]["key"] == "sk-upstream-key-1"


# --------------------------------------------------------------------------- translation details


def test_cache_tokens_and_usage_recorded_from_an_openai_upstream(fake_factory, gateway_factory) -> None:
    fake = fake_factory("oa")
    gw = gateway_factory(config(provider("oa", fake, models=[{"gpt-4o": "m"}])))
    cached = {"prompt_tokens": 1200, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 1000}}
    fake.then(OReply(text="a b", usage=cached), OReply(text="a b", usage=cached))
    want = {"input_tokens": 200, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 0, "output_tokens": 7}
    assert client(gw).messages.create(**ask()).usage.model_dump(exclude_none=True) == want
    with client(gw).messages.stream(**ask()) as stream:
        assert stream.get_final_message().usage.model_dump(exclude_none=True) == want
    assert fake.requests[1]["body"]["stream_options"] == {"include_usage": True}
    assert wait_for_usage(gw, "m", 2) == {"m:requests": 2, "m:prompt_tokens": 2400, "m:completion_tokens": 14,
                                          "p:oa:m:requests": 2, "p:oa:m:prompt_tokens": 2400, "p:oa:m:completion_tokens": 14}


def test_cache_tokens_and_usage_recorded_from_an_anthropic_upstream(fake_factory, gateway_factory) -> None:
    fake = fake_factory(kind=FakeAnthropic)
    gw = gateway_factory(config(provider("a", fake, path="/v1/messages", api=ANT_KEY, models=[{UPSTREAM: "m"}])))
    usage = {"input_tokens": 5, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 20, "output_tokens": 3}
    fake.then(AReply(text="x", usage=usage), AReply(text="x", usage=usage))
    assert client(gw).messages.create(**ask()).usage.input_tokens == 5
    with client(gw).messages.stream(**ask()) as stream:
        got = stream.get_final_message().usage
    assert (got.input_tokens, got.cache_read_input_tokens, got.cache_creation_input_tokens, got.output_tokens) == (5, 1000, 20, 3)
    assert wait_for_usage(gw, "m", 2) == {"m:requests": 2, "m:prompt_tokens": 2050, "m:completion_tokens": 6,
                                          "p:a:m:requests": 2, "p:a:m:prompt_tokens": 2050, "p:a:m:completion_tokens": 6}


def wait_for_usage(gw, model: str, requests: int) -> dict[str, int]:
    """The day's usage counters of the test key (recorded after the answer, so polled briefly)."""
    from shared.routing import digest
    from shared.store.memory import day_of

    key_id = digest(USER).hex()[:16]
    deadline = time.time() + 5
    while True:
        usage = asyncio.run(gw.gateway.store.get_usage(key_id, day_of(time.time())))
        if usage.get(f"{model}:requests", 0) >= requests or time.time() > deadline:
            return usage


@pytest.mark.parametrize("finish,stop", [("length", "max_tokens"), ("content_filter", "refusal"), ("stop", "end_turn")])
def test_stop_reasons_from_an_openai_upstream(fake_factory, gateway_factory, finish: str, stop: str) -> None:
    fake = fake_factory("oa")
    gw = gateway_factory(config(provider("oa", fake, models=[{"gpt-4o": "m"}])))
    fake.then(OReply(text="cut", finish_reason=finish), OReply(text="cut", finish_reason=finish))
    assert client(gw).messages.create(**ask()).stop_reason == stop
    with client(gw).messages.stream(**ask()) as stream:
        assert stream.get_final_message().stop_reason == stop


def test_documents_and_what_only_anthropic_can_take(fake_factory, gateway_factory) -> None:
    fake = fake_factory("oa")
    gw = gateway_factory(config(provider("oa", fake, models=[{"gpt-4o": "m"}])))
    client(gw).messages.create(**ask(messages=[{"role": "user", "content": [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}, "title": "a.pdf"},
        {"type": "text", "text": "Summarise."}]}], system="Be terse.", stop_sequences=["END"], extra_body={"temperature": 0.2}))
    body = fake.requests[0]["body"]
    assert body["messages"] == [{"role": "system", "content": "Be terse."}, {"role": "user", "content": [
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
        {"type": "text", "text": "Summarise."}]}]
    assert (body["max_completion_tokens"], body["stop"], body["temperature"]) == (1000, ["END"], 0.2)
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gw).messages.create(**ask(tools=[{"type": "web_search_20250305", "name": "web_search"}]))
    assert caught.value.body["error"]["type"] == "invalid_request_error" and "web_search_20250305" in caught.value.body["error"]["message"]
    assert len(fake.requests) == 1


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_async_client_stream(fake_factory, gateway_factory, account, kind: str) -> None:
    gw = gateway_factory(config(make_upstream(kind, fake_factory, account).entry))

    async def go() -> tuple[str, Any]:
        async with anthropic.AsyncAnthropic(base_url=gw.url, auth_token=USER, max_retries=0) as aclient:
            async with aclient.messages.stream(**ask("async words")) as stream:
                text = "".join([t async for t in stream.text_stream])
                return text, await stream.get_final_message()

    text, final = asyncio.run(go())
    assert text.endswith("says: async words") and final.content[0].text == text


# --------------------------------------------------------------------------- what chat has, on this route


def test_failover_first_channel_503_then_the_second(fake_factory, gateway_factory) -> None:
    first, second = fake_factory("first"), fake_factory("second")
    gw = gateway_factory(config(provider("first", first, models=[{"gpt-4o": "m"}]), provider("second", second, models=[{"gpt-4o": "m"}])))
    first.then(OReply(status=503))
    assert client(gw).messages.create(**ask()).content[0].text == "second says: hello"
    gw2 = gateway_factory(config(provider("first", first, models=[{"gpt-4o": "m"}]), provider("second", second, models=[{"gpt-4o": "m"}])))
    first.then(OReply(first_event_error=True))
    with client(gw2).messages.stream(**ask()) as stream:
        assert "".join(stream.text_stream) == "second says: hello"
    assert len(first.requests) == 2


def test_an_anthropic_529_and_an_early_error_event_fail_over_to_a_translated_channel(fake_factory, gateway_factory) -> None:
    busy, spare = fake_factory(kind=FakeAnthropic), fake_factory("spare")
    entries = (provider("busy", busy, path="/v1/messages", api=ANT_KEY, models=[{UPSTREAM: "m"}]), provider("spare", spare, models=[{"gpt-4o": "m"}]))
    busy.then(AReply(status=529), AReply(error_event_after=1))
    assert client(gateway_factory(config(*entries))).messages.create(**ask()).content[0].text == "spare says: hello"
    with client(gateway_factory(config(*entries))).messages.stream(**ask()) as stream:
        assert stream.get_final_message().content[0].text == "spare says: hello"
    assert len(busy.requests) == 2


def test_rate_limit_is_a_429_rate_limit_error(fake_factory, gateway_factory) -> None:
    fake = fake_factory("oa")
    gw = gateway_factory(config(provider("oa", fake, models=[{"gpt-4o": "m"}]), keys=[gateway_key("sk-limited", RATE_LIMIT="1/min")]))
    client(gw, api_key="sk-limited").messages.create(**ask())
    with pytest.raises(anthropic.RateLimitError) as caught:
        client(gw, api_key="sk-limited").messages.create(**ask())
    assert caught.value.status_code == 429 and caught.value.body["error"]["type"] == "rate_limit_error"
    assert int(caught.value.response.headers["retry-after"]) >= 1 and caught.value.request_id == caught.value.response.headers["x-request-id"]


def test_auth_errors_and_both_ways_of_sending_the_key(fake_factory, gateway_factory) -> None:
    fake = fake_factory("oa")
    gw = gateway_factory(config(provider("oa", fake, models=[{"gpt-4o": "m"}])))
    assert client(gw, api_key=USER).messages.create(**ask()).content  # x-api-key (ANTHROPIC_API_KEY)
    assert client(gw, api_key=None, auth_token=USER).messages.create(**ask()).content  # Bearer (ANTHROPIC_AUTH_TOKEN)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client(gw, api_key="sk-wrong").messages.create(**ask())
    assert caught.value.status_code == 401 and caught.value.body["error"]["type"] == "authentication_error"
    assert caught.value.body["type"] == "error" and caught.value.body["request_id"].startswith("req_")


def test_unknown_model_forbidden_model_and_a_missing_max_tokens(fake_factory, gateway_factory) -> None:
    fake = fake_factory("oa")
    gw = gateway_factory(config(provider("oa", fake, models=["gpt-4o", "gpt-4o-mini"]), keys=[gateway_key("sk-narrow", ["gpt-4o"])]))
    with pytest.raises(anthropic.NotFoundError) as caught:
        client(gw, api_key="sk-narrow").messages.create(**ask(model="claude-nope"))
    assert caught.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        client(gw, api_key="sk-narrow").messages.create(**ask(model="gpt-4o-mini"))
    assert denied.value.body["error"]["type"] == "permission_error"
    with pytest.raises(anthropic.NotFoundError):
        client(gw, api_key="sk-narrow").messages.count_tokens(model="claude-nope", messages=[{"role": "user", "content": "x"}])
    response = httpx.post(gw.url + "/v1/messages", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
                          headers={"authorization": "Bearer sk-narrow"}, timeout=10)
    assert response.status_code == 400 and response.json()["error"] == {"type": "invalid_request_error", "message": "max_tokens: Field required"}
    assert not fake.requests


def test_an_upstream_400_comes_back_as_invalid_request_error(fake_factory, gateway_factory) -> None:
    fake = fake_factory("oa")
    gw = gateway_factory(config(provider("oa", fake, models=[{"gpt-4o": "m"}])))
    fake.then(OReply(status=400, error_body={"error": {"message": "max_tokens is too large", "type": "invalid_request_error", "param": None,
                                                       "code": None}}))
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gw).messages.create(**ask())
    assert caught.value.body["error"] == {"type": "invalid_request_error", "message": "max_tokens is too large"}


def raw_events(gw, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    response = httpx.post(gw.url + "/v1/messages", json=body, headers={"x-api-key": USER}, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    out = []
    for block in response.text.split("\n\n"):
        if block:
            head, data = block.split("\n", 1)
            out.append((head.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


# chunk_delay: the break must come in a later read than the first content (before any byte went out,
# the gateway rightly fails over instead).
@pytest.mark.parametrize("native", [False, True], ids=["translated", "anthropic"])
def test_a_stream_that_breaks_ends_with_an_anthropic_error_event(fake_factory, gateway_factory, native: bool) -> None:
    if native:
        fake = fake_factory(kind=FakeAnthropic)
        entry = provider("a", fake, path="/v1/messages", api=ANT_KEY, models=[{UPSTREAM: "m"}])
        broken = [AReply(text="one two three four five six", error_event_after=5, chunk_delay=0.05),
                  AReply(text="one two three four five six", break_after=5, chunk_delay=0.05)]
    else:
        fake = fake_factory("oa")
        entry = provider("oa", fake, models=[{"gpt-4o": "m"}])
        broken = [OReply(text="one two three four five six", break_after=3, chunk_delay=0.05),
                  OReply(text="one two three four five six", no_done=True, chunk_delay=0.05)]
    gw = gateway_factory(config(entry))
    for reply in broken:
        fake.then(reply)
        events = raw_events(gw, ask(stream=True))
        names = [name for name, _ in events]
        assert names[0] == "message_start" and "content_block_delta" in names and "message_stop" not in names
        assert events[-1] == ("error", {"type": "error", "error": events[-1][1]["error"]})
        assert events[-1][1]["error"]["type"] in ("api_error", "overloaded_error") and events[-1][1]["error"]["message"]
    fake.then(broken[0])
    with pytest.raises(anthropic.APIStatusError):
        with client(gw).messages.stream(**ask()) as stream:
            for _ in stream.text_stream:
                pass


def test_moderation_checks_the_anthropic_request_texts(fake_factory, gateway_factory) -> None:
    fake = fake_factory("oa", models=("gpt-4o", "text-moderation-latest"))
    gw = gateway_factory(config(provider("oa", fake, models=[{"gpt-4o": "m"}, "text-moderation-latest"]),
                                keys=[gateway_key("sk-mod", ENABLE_MODERATION=True)]))
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gw, api_key="sk-mod").messages.create(**ask("fine", system="plan an attack"))
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert client(gw, api_key="sk-mod").messages.create(**ask("fine")).content[0].text == "oa says: fine"
    assert [r["path"] for r in fake.requests] == ["/v1/moderations", "/v1/moderations", "/v1/chat/completions"]


def test_access_log_names_the_key_and_the_model(fake_factory, gateway_factory, caplog) -> None:
    fake = fake_factory("oa")
    gw = gateway_factory(config(provider("oa", fake, models=[{"gpt-4o": "m"}])))
    with caplog.at_level(logging.INFO, logger="gateway"):
        client(gw, default_headers={"x-request-id": "anthropic-1"}).messages.create(**ask())
        deadline = time.time() + 5
        while time.time() < deadline and not any(r.getMessage().startswith("anthropic-1 ") for r in caplog.records):
            time.sleep(0.01)
    line = next(r.getMessage() for r in caplog.records if r.name == "gateway.access" and r.getMessage().startswith("anthropic-1 "))
    assert "POST /v1/messages 200" in line and "model=m" in line and "key=" + "-" not in line and "tried=oa:200" in line


# --------------------------------------------------------------------------- pieces, without a server


def test_the_count_tokens_estimate_and_the_forwarded_headers() -> None:
    from shared.inbound.anthropic import estimate_tokens, forwarded_headers

    body = {"system": "x" * 40, "tools": [WEATHER], "messages": [
        {"role": "user", "content": [{"type": "text", "text": "y" * 80}, {"type": "image", "source": {"type": "url", "url": "https://e/x.png"}}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "z" * 40}]}]}
    tool_chars = len(json.dumps(WEATHER, ensure_ascii=False))
    chars = 40 + 80 + len("get_weather") + len('{"city": "Paris"}') + 40 + tool_chars
    assert estimate_tokens(body) == -(-chars // 4) + 1600 + 3 * 3
    raw = [(b"anthropic-beta", b"a-1"), (b"x-api-key", b"secret"), (b"anthropic-beta", b"b-2"), (b"anthropic-version", b"2023-06-01")]
    assert forwarded_headers(raw) == {"anthropic-beta": "a-1,b-2", "anthropic-version": "2023-06-01"}


def test_the_gateway_loads_the_anthropic_routes_only_when_asked() -> None:
    import subprocess
    import sys

    code = "import sys, shared.app; print(sorted(m for m in sys.modules if m.startswith(('shared.inbound', 'shared.providers.anthropic'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr

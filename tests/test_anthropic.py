"""The Anthropic adapter end to end: the official OpenAI SDK (sync and async) -> gateway -> a fake
Anthropic server that validates bodies like the real API -> back; plus direct checks of
``to_anthropic`` for the translation rules that need no server.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest

from shared.providers.anthropic import (
    DEFAULT_MAX_TOKENS, JSON_OBJECT_INSTRUCTION, THINKING_BUDGETS, parse_error, to_anthropic,
)
from shared.providers.base import UpstreamError
from tests.builders import config, provider
from tests.conftest import USER
from tests.fakes.anthropic_fake import RECORDED_TOOL_STREAM, FakeAnthropic, Reply, error_body, validate

KEY = "sk-ant-key-1"
UPSTREAM = "claude-sonnet-4-20250514"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME_TOOL = {"type": "function", "function": {"name": "get_time"}}  # no parameters at all


def claude_provider(fake: FakeAnthropic, name: str = "claude", api: str | list[str] = KEY, **fields: Any) -> dict:
    """A provider on the fake's Messages endpoint serving UPSTREAM as ``claude``."""
    return provider(name, fake, path="/v1/messages", api=api, models=[{UPSTREAM: "claude"}], **fields)


@pytest.fixture
def claude(fake_factory, gateway_factory):
    """One fake Anthropic upstream behind one gateway: ``(fake, gateway)``."""
    fake = fake_factory(kind=FakeAnthropic)
    return fake, gateway_factory(config(claude_provider(fake)))


def hello(**kw: Any) -> dict[str, Any]:
    return {"model": "claude", "messages": [{"role": "user", "content": "hello"}], **kw}


def collect(chunks: list[Any]) -> dict[str, Any]:
    """SDK stream chunks -> content, tool calls, finish reason, usage (providers.md 10.4)."""
    content, reasoning, calls, finish, usage = "", "", {}, None, None
    for c in chunks:
        if c.usage is not None:
            usage = c.usage.model_dump(exclude_none=True)
        for choice in c.choices:
            delta = choice.delta
            content += delta.content or ""
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            for fragment in delta.tool_calls or []:
                call = calls.setdefault(fragment.index, {"id": fragment.id, "name": fragment.function.name, "arguments": ""})
                call["arguments"] += fragment.function.arguments or ""
            finish = choice.finish_reason or finish
    return {"content": content, "reasoning": reasoning, "calls": [calls[i] for i in sorted(calls)], "finish": finish, "usage": usage}


# --------------------------------------------------------------------------- text


def test_text_answer_and_what_reaches_anthropic(claude) -> None:
    fake, gw = claude
    answer = gw.client().chat.completions.create(**hello())
    assert answer.choices[0].message.content == "claude says: hello"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "claude" and answer.id.startswith("chatcmpl-msg_fake")
    assert answer.usage.prompt_tokens >= 1 and answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    request = fake.requests[0]
    assert request["path"] == "/v1/messages"
    assert request["headers"]["x-api-key"] == KEY and request["headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request["headers"]
    assert request["body"] == {"model": UPSTREAM, "max_tokens": DEFAULT_MAX_TOKENS,
                               "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]}


def test_text_stream_sync(claude) -> None:
    fake, gw = claude
    chunks = list(gw.client().chat.completions.create(**hello(stream=True)))
    assert chunks[0].choices[0].delta.role == "assistant"
    got = collect(chunks)
    assert got["content"] == "claude says: hello" and got["finish"] == "stop" and got["usage"] is None
    assert len({c.id for c in chunks}) == 1
    assert fake.requests[0]["body"]["stream"] is True


def test_text_stream_async_with_usage_including_cache_tokens(claude) -> None:
    fake, gw = claude
    fake.then(Reply(text="cached answer", usage={"input_tokens": 5, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 20, "output_tokens": 3}))

    async def go() -> list[Any]:
        stream = await gw.async_client().chat.completions.create(**hello(stream=True, stream_options={"include_usage": True}))
        return [c async for c in stream]

    chunks = asyncio.run(go())
    got = collect(chunks)
    assert got["content"] == "cached answer"
    assert chunks[-1].choices == []
    assert got["usage"] == {"prompt_tokens": 1025, "completion_tokens": 3, "total_tokens": 1028,
                            "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 20}}
    assert "stream_options" not in fake.requests[0]["body"]


def test_non_stream_usage_includes_cache_tokens(claude) -> None:
    fake, gw = claude
    fake.then(Reply(usage={"input_tokens": 7, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 0, "output_tokens": 4}))
    usage = gw.client().chat.completions.create(**hello()).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (307, 4, 311)
    assert usage.prompt_tokens_details.cached_tokens == 300


def test_system_and_developer_messages_are_hoisted_and_same_role_turns_merged(claude) -> None:
    fake, gw = claude
    gw.client().chat.completions.create(model="claude", messages=[
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "one"},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
    ])
    body = fake.requests[0]["body"]
    assert body["system"] == "Be terse.\n\nAnswer in French."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}]


def test_provider_headers_are_merged_over_the_defaults(fake_factory, gateway_factory) -> None:
    fake = fake_factory(kind=FakeAnthropic)
    gw = gateway_factory(config(claude_provider(fake, preferences={"headers": {
        "Anthropic-Version": "2099-01-01", "anthropic-beta": "fine-grained-tool-streaming-2025-05-14"}})))
    gw.client().chat.completions.create(**hello())
    headers = fake.requests[0]["headers"]
    assert headers["anthropic-version"] == "2099-01-01" and headers["anthropic-beta"] == "fine-grained-tool-streaming-2025-05-14"


def test_models_are_discovered_from_v1_models(fake_factory, gateway_factory) -> None:
    fake = fake_factory(kind=FakeAnthropic, models=("claude-opus-4-1", "claude-haiku-4-5"))
    gw = gateway_factory(config(provider("claude", fake, path="/v1/messages", api=KEY)))
    ids = {m.id for m in gw.client().models.list()}
    assert {"claude-opus-4-1", "claude-haiku-4-5"} <= ids
    assert gw.client().chat.completions.create(model="claude-haiku-4-5", messages=[{"role": "user", "content": "x"}]).choices[0].message.content


# --------------------------------------------------------------------------- tools


def test_tool_round_trip_non_stream_with_parallel_calls_and_a_call_without_arguments(claude) -> None:
    fake, gw = claude
    client = gw.client()
    fake.then(Reply(text="Let me look.", tool_calls=[{"id": "toolu_A", "name": "get_weather", "input": {"city": "Paris"}},
                                                     {"id": "toolu_B", "name": "get_time", "input": {}}]))
    messages: list[Any] = [{"role": "user", "content": "Weather and time in Paris?"}]
    first = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER_TOOL, TIME_TOOL])
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls" and message.content == "Let me look."
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("toolu_A", "get_weather", {"city": "Paris"}), ("toolu_B", "get_time", {})]
    assert message.tool_calls[1].function.arguments == "{}"
    assert fake.requests[0]["body"]["tools"][1] == {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}

    messages += [message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": "toolu_A", "content": "21C"},
                 {"role": "tool", "tool_call_id": "toolu_B", "content": [{"type": "text", "text": "12:00"}]}]
    second = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER_TOOL, TIME_TOOL])
    assert second.choices[0].message.content == "claude says: results: toolu_A=21C; toolu_B=12:00"
    sent = fake.requests[1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]  # both results in ONE user turn
    assert sent[1]["content"] == [{"type": "text", "text": "Let me look."},
                                  {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {"city": "Paris"}},
                                  {"type": "tool_use", "id": "toolu_B", "name": "get_time", "input": {}}]
    assert sent[2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_A", "content": "21C"},
                                  {"type": "tool_result", "tool_use_id": "toolu_B", "content": "12:00"}]


def test_tool_round_trip_stream_async(claude) -> None:
    fake, gw = claude
    fake.then(Reply(tool_calls=[{"id": "toolu_A", "name": "get_weather", "input": {"city": "Zürich"}},
                                {"id": "toolu_B", "name": "get_time", "input": {}}]))
    client = gw.async_client()

    async def go() -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
        messages: list[Any] = [{"role": "user", "content": "Weather and time?"}]
        stream = await client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER_TOOL, TIME_TOOL], stream=True)
        chunks = [c async for c in stream]
        first = collect(chunks)
        calls = [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}} for c in first["calls"]]
        messages += [{"role": "assistant", "content": None, "tool_calls": calls}]
        messages += [{"role": "tool", "tool_call_id": c["id"], "content": f"ok-{i}"} for i, c in enumerate(calls)]
        stream = await client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER_TOOL, TIME_TOOL], stream=True)
        return first, collect([c async for c in stream]), chunks

    first, second, chunks = asyncio.run(go())
    assert first["finish"] == "tool_calls" and first["content"] == ""
    assert [(c["id"], c["name"]) for c in first["calls"]] == [("toolu_A", "get_weather"), ("toolu_B", "get_time")]
    assert json.loads(first["calls"][0]["arguments"]) == {"city": "Zürich"} and first["calls"][1]["arguments"] == "{}"
    headers = [f for c in chunks for ch in c.choices for f in ch.delta.tool_calls or [] if f.id]
    assert [h.index for h in headers] == [0, 1] and all(h.function.name for h in headers)
    assert second["content"] == "claude says: results: toolu_A=ok-0; toolu_B=ok-1" and second["finish"] == "stop"
    assert [m["role"] for m in fake.requests[1]["body"]["messages"]] == ["user", "assistant", "user"]


def test_tool_call_stream_sync_from_the_recorded_fixture(claude) -> None:
    fake, gw = claude
    fake.then(Reply(raw_stream=RECORDED_TOOL_STREAM))
    chunks = list(gw.client().chat.completions.create(**hello(stream=True, tools=[WEATHER_TOOL], stream_options={"include_usage": True})))
    got = collect(chunks)
    assert got["content"] == "I'll check the current weather in Paris for you."
    assert got["calls"] == [{"id": "toolu_01NRLabsLyVHZPKxbKvkfSMn", "name": "get_weather", "arguments": '{"location": "Paris"}'}]
    assert got["finish"] == "tool_calls"
    assert got["usage"] == {"prompt_tokens": 377, "completion_tokens": 65, "total_tokens": 442, "prompt_tokens_details": {"cached_tokens": 0}}


def test_tool_options_reach_anthropic_translated(claude) -> None:
    fake, gw = claude
    client = gw.client()
    cases = [
        ({"tool_choice": "auto"}, {"type": "auto"}),
        ({"tool_choice": "none"}, {"type": "none"}),
        ({"tool_choice": "required"}, {"type": "any"}),
        ({"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}, {"type": "tool", "name": "get_weather"}),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}),
        ({"tool_choice": "required", "parallel_tool_calls": False}, {"type": "any", "disable_parallel_tool_use": True}),
    ]
    for options, expected in cases:
        client.chat.completions.create(**hello(tools=[WEATHER_TOOL, TIME_TOOL], **options))
        assert fake.requests[-1]["body"]["tool_choice"] == expected, options


# --------------------------------------------------------------------------- content and options


def test_images_base64_and_url_arrive_as_image_blocks(claude) -> None:
    fake, gw = claude
    gw.client().chat.completions.create(model="claude", messages=[{"role": "user", "content": [
        {"type": "text", "text": "Compare these."},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
    ]}])
    assert fake.requests[0]["body"]["messages"][0]["content"] == [
        {"type": "text", "text": "Compare these."},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_sampling_stop_user_max_tokens_and_json_mode_are_translated(claude) -> None:
    fake, gw = claude
    gw.client().chat.completions.create(**hello(
        temperature=1.6, top_p=0.9, stop="END", user="user-42", max_tokens=100, max_completion_tokens=300,
        seed=1, presence_penalty=0.5, logprobs=True, response_format={"type": "json_object"}, metadata={"a": "b"}, store=True))
    body = fake.requests[0]["body"]
    assert body["temperature"] == 1.0 and body["top_p"] == 0.9 and body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "user-42"} and body["max_tokens"] == 300
    assert body["system"] == JSON_OBJECT_INSTRUCTION
    assert not {"seed", "presence_penalty", "logprobs", "response_format", "store", "stop", "user"} & set(body)


@pytest.mark.parametrize("stop_reason,finish", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("pause_turn", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"), ("refusal", "content_filter"), ("brand_new", "stop"),
])
def test_every_finish_reason_stream_and_non_stream(claude, stop_reason: str, finish: str) -> None:
    fake, gw = claude
    tool_calls = [{"id": "toolu_X", "name": "get_time", "input": {}}] if stop_reason == "tool_use" else None
    fake.then(Reply(text="x", tool_calls=tool_calls, stop_reason=stop_reason), Reply(text="x", tool_calls=tool_calls, stop_reason=stop_reason))
    client = gw.client()
    assert client.chat.completions.create(**hello(tools=[TIME_TOOL])).choices[0].finish_reason == finish
    assert collect(list(client.chat.completions.create(**hello(tools=[TIME_TOOL], stream=True))))["finish"] == finish


def test_reasoning_effort_thinking_and_reasoning_content_round_trip(claude) -> None:
    fake, gw = claude
    client = gw.client()
    fake.then(Reply(thinking="First, 2+2.", text="4", tool_calls=[{"id": "toolu_T", "name": "get_time", "input": {}}]),
              Reply(thinking="Streaming thoughts.", text="done"))
    messages: list[Any] = [{"role": "user", "content": "2+2?"}]
    answer = client.chat.completions.create(model="claude", messages=messages, reasoning_effort="medium", temperature=0.3, tools=[TIME_TOOL])
    body = fake.requests[0]["body"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": THINKING_BUDGETS["medium"]}
    assert body["max_tokens"] > THINKING_BUDGETS["medium"] and "temperature" not in body
    message = answer.choices[0].message
    assert message.reasoning_content == "First, 2+2." and message.content == "4"
    assert message.thinking_blocks == [{"type": "thinking", "thinking": "First, 2+2.", "signature": "EqQBCgIYAhIMfakeSignature=="}]

    # The signed block goes back first in the assistant turn, as Anthropic requires in a tool loop.
    messages += [message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": "toolu_T", "content": "noon"}]
    chunks = list(client.chat.completions.create(model="claude", messages=messages, reasoning_effort="medium", tools=[TIME_TOOL], stream=True))
    assert fake.requests[1]["body"]["messages"][1]["content"][0] == {"type": "thinking", "thinking": "First, 2+2.", "signature": "EqQBCgIYAhIMfakeSignature=="}
    got = collect(chunks)
    assert got["reasoning"] == "Streaming thoughts." and got["content"] == "done"


# --------------------------------------------------------------------------- errors


def test_upstream_400_is_returned_as_400(claude) -> None:
    fake, gw = claude
    fake.then(Reply(status=400, error_body=error_body(400, "prompt is too long: 210000 tokens > 200000 maximum")))
    with pytest.raises(openai.BadRequestError) as info:
        gw.client().chat.completions.create(**hello())
    assert "prompt is too long" in info.value.message and info.value.code == "context_length_exceeded"
    assert len(fake.requests) == 1


def test_untranslatable_requests_are_refused_before_calling_anthropic(claude) -> None:
    fake, gw = claude
    client = gw.client()
    for kw in ({"n": 2}, {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}):
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(**{**hello(), **kw})
    assert fake.requests == []


def test_upstream_401_is_a_key_failure_that_never_leaks_the_key(fake_factory, gateway_factory) -> None:
    fake = fake_factory(kind=FakeAnthropic)
    gw = gateway_factory(config(claude_provider(fake, api="sk-ant-wrong-secret-key")))
    with pytest.raises(openai.APIStatusError) as info:
        gw.client().chat.completions.create(**hello())
    assert info.value.status_code == 502
    raw = info.value.response.text + json.dumps(dict(info.value.response.headers))
    assert "wrong-secret" not in raw and "rejected the provider key" in raw


def test_a_bad_key_is_skipped_for_the_next_key_of_the_same_provider(fake_factory, gateway_factory) -> None:
    fake = fake_factory(kind=FakeAnthropic)
    gw = gateway_factory(config(claude_provider(fake, api=["sk-ant-wrong-secret-key", KEY])))
    for _ in range(2):
        assert gw.client().chat.completions.create(**hello()).choices[0].message.content == "claude says: hello"
    assert {r["key"] for r in fake.requests} <= {"sk-ant-wrong-secret-key", KEY}


def test_529_overloaded_fails_over_to_the_next_channel(fake_factory, gateway_factory) -> None:
    busy, spare = fake_factory("busy", kind=FakeAnthropic), fake_factory("spare", kind=FakeAnthropic)
    gw = gateway_factory(config(claude_provider(busy, name="busy"), claude_provider(spare, name="spare")))
    busy.then(Reply(status=529), Reply(status=529))
    answer = gw.client().chat.completions.create(**hello())
    assert answer.choices[0].message.content == "spare says: hello"
    assert len(busy.requests) == 1
    error = parse_error(529, json.dumps(error_body(529, "Overloaded")).encode(), {})
    assert (error.status, error.type, error.code) == (503, "server_error", "overloaded")


def test_529_and_an_early_overloaded_event_fail_over_when_streaming(fake_factory, gateway_factory) -> None:
    busy, spare = fake_factory("busy", kind=FakeAnthropic), fake_factory("spare", kind=FakeAnthropic)
    gw = gateway_factory(config(claude_provider(busy, name="busy"), claude_provider(spare, name="spare")))
    busy.then(Reply(status=529))
    assert collect(list(gw.client().chat.completions.create(**hello(stream=True))))["content"] == "spare says: hello"
    # An error event right after message_start: nothing was sent to the client yet, so it fails over too.
    gw2 = gateway_factory(config(claude_provider(busy, name="busy"), claude_provider(spare, name="spare")))
    busy.then(Reply(error_event_after=1))
    assert collect(list(gw2.client().chat.completions.create(**hello(stream=True))))["content"] == "spare says: hello"
    assert len(busy.requests) == 2


def raw_stream(gw, body: dict[str, Any]) -> list[str]:
    response = httpx.post(gw.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {USER}"}, timeout=30)
    assert response.status_code == 200
    return [e for e in response.text.split("\n\n") if e]


# chunk_delay: the break must come in a later read than the first content (when both arrive in the
# first read, nothing has been sent yet and the proxy rightly fails over instead).
@pytest.mark.parametrize("reply", [Reply(text="one two three four five six", error_event_after=4, chunk_delay=0.05),
                                   Reply(text="one two three four five six", no_stop=True, chunk_delay=0.05),
                                   Reply(text="one two three four five six", break_after=5, chunk_delay=0.05)],
                         ids=["error-event", "no-message-stop", "connection-drop"])
def test_a_stream_that_breaks_after_content_ends_with_an_error_chunk_and_done(claude, reply: Reply) -> None:
    fake, gw = claude
    fake.then(reply)
    events = raw_stream(gw, hello(stream=True))
    assert json.loads(events[0][6:])["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert events[-1] == "data: [DONE]"
    error = json.loads(events[-2][6:])["error"]
    assert error["type"] == "server_error" and error["code"] == "upstream_stream_error"
    fake.then(reply)
    with pytest.raises(openai.APIError):
        list(gw.client().chat.completions.create(**hello(stream=True)))


# --------------------------------------------------------------------------- to_anthropic rules


def test_translation_rules_without_a_server() -> None:
    body = to_anthropic({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None},  # empty: dropped
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "not json"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "r"},
        {"role": "user", "content": "and?"},
    ], "tools": [{"type": "function", "function": {"name": "f", "parameters": {"properties": {}}}}]})
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "f", "input": {"_raw": "not json"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "r"}, {"type": "text", "text": "and?"}]},
    ]
    assert body["tools"] == [{"name": "f", "input_schema": {"properties": {}, "type": "object"}}]
    assert validate({"model": "m", **body}) is None


def test_thinking_budget_rules() -> None:
    user = [{"role": "user", "content": "x"}]
    assert to_anthropic({"messages": user, "reasoning_effort": "high", "max_completion_tokens": 5000})["thinking"] == {"type": "enabled", "budget_tokens": 4999}
    small = to_anthropic({"messages": user, "reasoning_effort": "low", "max_tokens": 1000})
    assert "thinking" not in small and small["max_tokens"] == 1000  # no room for the 1024 minimum
    assert "thinking" not in to_anthropic({"messages": user, "reasoning_effort": "none"})
    forced = to_anthropic({"messages": user, "reasoning_effort": "high", "tools": [TIME_TOOL], "tool_choice": "required"})
    assert "thinking" not in forced and forced["tool_choice"] == {"type": "any"}
    native = to_anthropic({"messages": user, "thinking": {"type": "enabled", "budget_tokens": 2000}, "top_k": 5})
    assert native["thinking"] == {"type": "enabled", "budget_tokens": 2000} and native["max_tokens"] == 2000 + 4096 and "top_k" not in native
    with pytest.raises(UpstreamError) as info:
        to_anthropic({"messages": user, "reasoning_effort": "enormous"})
    assert info.value.status == 400


def test_system_cache_control_json_schema_and_allowed_tools() -> None:
    body = to_anthropic({"messages": [
        {"role": "system", "content": [{"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": {"type": "object"}}},
        "tools": [WEATHER_TOOL, TIME_TOOL],
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "get_time"}}]}}})
    assert body["system"][0] == {"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}
    assert "person" in body["system"][1]["text"] and '{"type": "object"}' in body["system"][1]["text"]
    assert [t["name"] for t in body["tools"]] == ["get_time"] and body["tool_choice"] == {"type": "any"}
    for bad in ({"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]},
                {"role": "function", "name": "f", "content": "x"},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAA"}}]}):
        with pytest.raises(UpstreamError):
            to_anthropic({"messages": [bad]})

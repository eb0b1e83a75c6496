"""``POST /v1/responses`` end to end: the official OpenAI SDK's ``responses`` API -> gateway -> fake
upstreams of every format -> back.

Translated to chat for the built-in mock engine, OpenAI-compatible hosts, Azure deployments,
Anthropic, Gemini and Vertex; passed through to upstreams that serve the Responses API themselves
(``responses_api: passthrough``, Azure's v1 form). Plus what it shares with chat (failover, rate
limits, moderation, the access log) and its own errors (stateless: ``previous_response_id``,
stored-response paths, ``item_reference``; built-in tools where nothing passes through).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx
import openai
import pytest

from shared.providers.anthropic import THINKING_BUDGETS
from tests.builders import config, gateway_key, provider
from tests.conftest import USER
from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.anthropic_fake import Reply as ClaudeReply
from tests.fakes.gemini_fake import Call, FakeGoogle, GeminiReply
from tests.fakes.openai_fake import Reply
from tests.fakes.responses_fake import FakeResponsesOpenAI
from tests.test_vertex import EMAIL, account, vertex_provider  # noqa: F401 (account is a fixture)

WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
CALL = {"id": "call_w1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
AUTH = {"authorization": f"Bearer {USER}"}


def mock_provider(name: str = "m") -> dict[str, Any]:
    return provider(name, None, api=None, models=["mock-model"], engine="mock")


def passthrough(name: str, fake: Any, **fields: Any) -> dict[str, Any]:
    return provider(name, fake, models=["gpt-4o"], preferences={"responses_api": "passthrough"}, **fields)


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON of every event of a raw Responses stream, checking each ``event:`` line names its type."""
    out = []
    for block in response.text.split("\n\n"):
        lines = [line for line in block.split("\n") if line]
        if not lines:
            continue
        data = json.loads("".join(line[6:] for line in lines if line.startswith("data: ")))
        names = [line[7:] for line in lines if line.startswith("event: ")]
        assert names == [data["type"]], block
        out.append(data)
    return out


def raw_stream(gw: Any, **body: Any) -> list[dict[str, Any]]:
    response = httpx.post(gw.url + "/v1/responses", headers=AUTH, json={"stream": True, **body}, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream"), response.text
    return sse_events(response)


def check_sequence(events: list[dict[str, Any]]) -> None:
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created" and events[1]["type"] == "response.in_progress"


# --------------------------------------------------------------------------- the mock engine (translated)


def test_text_non_stream_stream_and_the_stream_helper_with_the_mock_engine(gateway_factory) -> None:
    gw = gateway_factory(config(mock_provider()))
    client = gw.client()
    answer = client.responses.create(model="mock-model", input="Hello there", instructions="Be brief.")
    assert answer.output_text == "mock answer to: Hello there" and answer.status == "completed"
    assert answer.id.startswith("resp_") and answer.output[0].id.startswith("msg_") and answer.instructions == "Be brief."
    assert (answer.usage.input_tokens, answer.usage.output_tokens, answer.usage.total_tokens) == (4, 5, 9)
    assert answer.store is False

    events = list(client.responses.create(model="mock-model", input="Hello stream", stream=True))
    assert [e.type for e in events] == ["response.created", "response.in_progress", "response.output_item.added",
                                        "response.content_part.added"] + ["response.output_text.delta"] * 5 + [
        "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "mock answer to: Hello stream"

    with client.responses.stream(model="mock-model", input="Hello helper") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "mock answer to: Hello helper"
    assert final.usage is not None and final.usage.output_tokens == 5


@pytest.mark.parametrize("stream", [False, True])
def test_function_call_round_trip_with_the_mock_engine(gateway_factory, stream: bool) -> None:
    gw = gateway_factory(config(mock_provider()))
    client = gw.client()
    asked: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        with client.responses.stream(model="mock-model", input=asked, tools=[WEATHER]) as events:
            first = events.get_final_response()
    else:
        first = client.responses.create(model="mock-model", input=asked, tools=[WEATHER])
    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather" and json.loads(call.arguments) == {"city": "mock"}
    assert call.call_id == "call_mock_1" and call.id.startswith("fc_")
    then = asked + [call.model_dump(exclude_none=True), {"type": "function_call_output", "call_id": call.call_id, "output": "21C"}]
    second = client.responses.create(model="mock-model", input=then, tools=[WEATHER])
    assert second.output_text == "mock got the tool result: 21C"


# --------------------------------------------------------------------------- OpenAI-compatible host (translated)


def test_request_fields_reach_a_chat_upstream_translated(fake_factory, gateway_factory) -> None:
    fake = fake_factory("up")
    gw = gateway_factory(config(provider("up", fake, models=["gpt-4o"])))
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": False}
    answer = gw.client().responses.create(
        model="gpt-4o", instructions="Answer in French.",
        input=[{"role": "developer", "content": "No emojis."},
               {"type": "message", "role": "user", "content": [
                   {"type": "input_text", "text": "What is this?"},
                   {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "original"}]},
               {"role": "assistant", "content": [{"type": "output_text", "text": "A picture."}]},
               {"role": "user", "content": "Say it as JSON"}],
        temperature=0.3, top_p=0.9, max_output_tokens=123, parallel_tool_calls=False, user="u-1", store=True,
        metadata={"k": "v"}, reasoning={"effort": "low", "summary": "auto"}, tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}})
    assert answer.output_text == "up says: Say it as JSON"
    sent = fake.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"] == {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Answer in French."}, {"role": "developer", "content": "No emojis."},
                     {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                                  {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}}]},
                     {"role": "assistant", "content": "A picture."}, {"role": "user", "content": "Say it as JSON"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": WEATHER["parameters"]}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "temperature": 0.3, "top_p": 0.9, "parallel_tool_calls": False, "user": "u-1", "max_completion_tokens": 123,
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}},
        "reasoning_effort": "low",
    }
    # The echo fields repeat the request; store is reported as it is: false.
    assert (answer.temperature, answer.max_output_tokens, answer.parallel_tool_calls, answer.store) == (0.3, 123, False, False)
    assert answer.reasoning.effort == "low" and answer.tools[0].name == "get_weather"


def test_stream_from_a_chat_upstream_asks_for_usage_and_translates_parallel_tool_calls(fake_factory, gateway_factory) -> None:
    fake = fake_factory("up")
    second = {"id": "call_t2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    fake.then(Reply(tool_calls=[CALL, second]))
    gw = gateway_factory(config(provider("up", fake, models=["gpt-4o"])))
    events = raw_stream(gw, model="gpt-4o", input="weather and time", tools=[WEATHER, {"type": "function", "name": "get_time"}])
    check_sequence(events)
    assert fake.requests[0]["body"]["stream_options"] == {"include_usage": True}
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert [(e["output_index"], e["item"]["call_id"], e["item"]["name"]) for e in added] == [(0, "call_w1", "get_weather"), (1, "call_t2", "get_time")]
    done = {e["output_index"]: e["item"] for e in events if e["type"] == "response.output_item.done"}
    assert [done[i]["id"] for i in (0, 1)] == [e["item"]["id"] for e in added]  # stable item ids
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta" and e["output_index"] == 0)
    assert deltas == done[0]["arguments"] == '{"city": "Paris"}'
    final = events[-1]
    assert final["type"] == "response.completed" and final["response"]["output"] == [done[0], done[1]]
    assert final["response"]["usage"]["input_tokens"] == 3 and final["response"]["usage"]["input_tokens_details"] == {"cached_tokens": 0}


@pytest.mark.parametrize("stream", [False, True])
def test_a_length_stop_is_an_incomplete_response(fake_factory, gateway_factory, stream: bool) -> None:
    fake = fake_factory("up")
    fake.then(Reply(text="cut off", finish_reason="length"))
    gw = gateway_factory(config(provider("up", fake, models=["gpt-4o"])))
    if stream:
        events = raw_stream(gw, model="gpt-4o", input="long story", max_output_tokens=2)
        assert events[-1]["type"] == "response.incomplete"
        response = events[-1]["response"]
    else:
        response = gw.client().responses.create(model="gpt-4o", input="long story", max_output_tokens=2).model_dump()
    assert response["status"] == "incomplete" and response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["output"][0]["content"][0]["text"] == "cut off"


# --------------------------------------------------------------------------- passthrough


def test_passthrough_to_an_upstream_that_serves_responses(fake_factory, gateway_factory) -> None:
    fake = fake_factory("native", kind=FakeResponsesOpenAI)
    gw = gateway_factory(config(provider("native", fake, models=[{"gpt-4o-2024-08-06": "gpt-4o"}],
                                         preferences={"responses_api": "passthrough"})))
    client = gw.client()
    tools: list[Any] = [WEATHER, {"type": "web_search"}]  # a built-in tool passes through
    answer = client.responses.create(model="gpt-4o", input="hello", tools=tools, store=True, include=["reasoning.encrypted_content"])
    assert answer.output_text == "native responses: hello" and answer.id == "resp_native"
    sent = fake.requests[0]
    assert sent["path"] == "/v1/responses" and sent["headers"]["authorization"] == "Bearer sk-upstream-key-1"
    assert sent["body"] == {"model": "gpt-4o-2024-08-06", "input": "hello", "tools": tools, "store": False,
                            "include": ["reasoning.encrypted_content"]}

    with client.responses.stream(model="gpt-4o", input="streamed hello") as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    assert final.output_text == "native responses: streamed hello" and types[0] == "response.created" and types[-1] == "response.completed"
    assert final.usage is not None and final.usage.input_tokens_details.cached_tokens == 8


def test_passthrough_failing_before_its_first_event_fails_over_and_a_broken_one_ends_with_error(fake_factory, gateway_factory) -> None:
    a, b = fake_factory("a", kind=FakeResponsesOpenAI), fake_factory("b", kind=FakeResponsesOpenAI)
    gw = gateway_factory(config(passthrough("a", a), passthrough("b", b), cooldown_period=0))
    a.then(Reply(first_event_error=True))  # created, in_progress, error: nothing reached the client yet
    events = raw_stream(gw, model="gpt-4o", input="hi")
    check_sequence(events)
    assert events[-1]["type"] == "response.completed" and events[-1]["response"]["id"] == "resp_b"

    a.then(Reply(break_after=5))
    response = httpx.post(gw.url + "/v1/responses", headers=AUTH, json={"model": "gpt-4o", "input": "one two three", "stream": True})
    events = sse_events(response)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))  # ours continue the upstream's numbering
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2]["error"]["code"] == "upstream_stream_error" and events[-1]["response"]["status"] == "failed"

    a.then(Reply(break_after=5))
    with pytest.raises(openai.APIError, match="upstream stream broke"):
        list(gw.client().responses.create(model="gpt-4o", input="one two three", stream=True))


def test_azure_v1_passes_through_and_the_deployment_form_is_translated(fake_factory, gateway_factory) -> None:
    fake = fake_factory("az", kind=FakeResponsesOpenAI, flavour="azure")
    gw = gateway_factory(config(provider("v1", fake, path="/openai/v1", models=[{"dep-v1": "gpt-v1"}], engine="azure"),
                                provider("dep", fake, path="", models=[{"dep-chat": "gpt-dep"}], engine="azure")))
    client = gw.client()
    assert client.responses.create(model="gpt-v1", input="hi").output_text == "az responses: hi"
    assert client.responses.create(model="gpt-dep", input="hi").output_text == "az says: hi"
    v1, dep = fake.requests
    assert v1["path"] == "/openai/v1/responses" and v1["headers"]["api-key"] == "sk-upstream-key-1" and v1["body"]["model"] == "dep-v1"
    assert dep["path"] == "/openai/deployments/dep-chat/chat/completions" and dep["query"]["api-version"]


def test_built_in_tools_need_a_passthrough_channel(fake_factory, gateway_factory) -> None:
    chat, native = fake_factory("chat"), fake_factory("native", kind=FakeResponsesOpenAI)
    gw = gateway_factory(config(provider("chat", chat, models=["gpt-4o", "other"]), passthrough("native", native)))
    client = gw.client()
    for _ in range(2):  # whatever the order, only the passthrough channel may take it
        assert client.responses.create(model="gpt-4o", input="news?", tools=[{"type": "web_search"}]).output_text == "native responses: news?"
    assert chat.requests == []
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="other", input="news?", tools=[WEATHER, {"type": "web_search"}])
    assert err.value.body["param"] == "tools[1].type" and "built-in tool 'web_search'" in err.value.body["message"]
    assert chat.requests == []


# --------------------------------------------------------------------------- Anthropic


def claude_gateway(fake_factory, gateway_factory) -> tuple[FakeAnthropic, Any]:
    fake = fake_factory(kind=FakeAnthropic)
    gw = gateway_factory(config(provider("claude", fake, path="/v1/messages", api="sk-ant-key-1",
                                         models=[{"claude-sonnet-4-20250514": "claude"}])))
    return fake, gw


def test_anthropic_text_stream_and_usage_with_cache_tokens(fake_factory, gateway_factory) -> None:
    fake, gw = claude_gateway(fake_factory, gateway_factory)
    fake.then(ClaudeReply(usage={"cache_read_input_tokens": 100, "cache_creation_input_tokens": 20}))
    client = gw.client()
    answer = client.responses.create(model="claude", input="hello claude", instructions="Be terse.", max_output_tokens=300)
    assert answer.output_text == "claude says: hello claude" and answer.model == "claude"
    body = fake.requests[0]["body"]
    assert body["system"] == "Be terse." and body["max_tokens"] == 300 and body["messages"][0]["content"][0]["text"] == "hello claude"
    usage = answer.usage
    assert usage.input_tokens_details.cached_tokens == 100 and usage.input_tokens_details.cache_write_tokens == 20
    assert usage.input_tokens == 100 + 20 + fake_input_tokens(body)

    with client.responses.stream(model="claude", input="stream please") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == final.output_text == "claude says: stream please"


def fake_input_tokens(body: dict[str, Any]) -> int:
    return max(1, len(json.dumps(body.get("messages") or []).split()))


def test_anthropic_thinking_and_tool_loop_keeps_the_signed_thinking(fake_factory, gateway_factory) -> None:
    fake, gw = claude_gateway(fake_factory, gateway_factory)
    client = gw.client()
    fake.then(ClaudeReply(thinking="Paris, so weather.", text="Checking.", tool_calls=[{"id": "toolu_W", "name": "get_weather",
                                                                                       "input": {"city": "Paris"}}]),
              ClaudeReply(thinking="It is sunny.", text="Sunny in Paris."))
    asked: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    events = raw_stream(gw, model="claude", input=asked, tools=[WEATHER], reasoning={"effort": "medium"})
    check_sequence(events)
    assert fake.requests[0]["body"]["thinking"] == {"type": "enabled", "budget_tokens": THINKING_BUDGETS["medium"]}
    kinds = [e["type"] for e in events]
    assert kinds.index("response.reasoning_summary_text.delta") < kinds.index("response.output_text.delta") < kinds.index(
        "response.function_call_arguments.delta")
    output = events[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["reasoning", "message", "function_call"]
    reasoning, message, call = output
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Paris, so weather."}] and reasoning["encrypted_content"].startswith("ugw1.")
    assert message["content"][0]["text"] == "Checking." and call["call_id"] == "toolu_W" and json.loads(call["arguments"]) == {"city": "Paris"}

    # The client sends the items back (as Codex and the Agents SDK do with store: false): the signed block leads the turn.
    then = asked + output + [{"type": "function_call_output", "call_id": "toolu_W", "output": "sunny"}]
    answer = client.responses.create(model="claude", input=then, tools=[WEATHER], reasoning={"effort": "medium"})
    assert answer.output_text == "Sunny in Paris." and answer.output[0].type == "reasoning"
    sent = fake.requests[1]["body"]["messages"]
    assert sent[1]["role"] == "assistant" and sent[1]["content"][0] == {"type": "thinking", "thinking": "Paris, so weather.",
                                                                        "signature": "EqQBCgIYAhIMfakeSignature=="}
    assert [b["type"] for b in sent[1]["content"]] == ["thinking", "text", "tool_use"]
    assert sent[2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_W", "content": "sunny"}


# --------------------------------------------------------------------------- Gemini and Vertex


def test_gemini_tool_round_trip_keeps_the_thought_signature_in_call_id(fake_factory, gateway_factory) -> None:
    google = fake_factory(kind=FakeGoogle)
    gw = gateway_factory(config(provider("g", google, path="/v1beta", api="gemini-key-1", models=["gemini-3-pro-preview"])))
    google.then(GeminiReply(calls=[Call("get_weather", {"city": "Paris"}, signature="c2lnbmF0dXJlLW9uZQ==")]), GeminiReply(text="21C it is."))
    client = gw.client()
    with client.responses.stream(model="gemini-3-pro-preview", input="Weather in Paris?", tools=[WEATHER]) as stream:
        first = stream.get_final_response()
    call = first.output[0]
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Paris"} and "_ts_" in call.call_id
    then: list[Any] = [{"role": "user", "content": "Weather in Paris?"}, call.model_dump(exclude_none=True),
                       {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp": 21}'}]
    answer = client.responses.create(model="gemini-3-pro-preview", input=then, tools=[WEATHER])  # the fake checks the signature
    assert answer.output_text == "21C it is."
    replayed = google.requests[1]["body"]["contents"][1]["parts"][0]
    assert replayed["thoughtSignature"] == "c2lnbmF0dXJlLW9uZQ==" and replayed["functionCall"]["name"] == "get_weather"


@pytest.mark.parametrize("model,text", [("gemini-2.5-flash", "gemini says: hi vertex"), ("claude-sonnet-4@20250514", "claude says: hi vertex")])
def test_vertex_gemini_and_claude_stream_and_non_stream(fake_factory, gateway_factory, account, model: str, text: str) -> None:  # noqa: F811
    from shared.providers import google_auth

    google_auth.reset()
    google = fake_factory(kind=FakeGoogle, accounts={EMAIL: account[1]})
    gw = gateway_factory(config(vertex_provider(google)), env={"VERTEX_PRIVATE_KEY": account[0]})
    client = gw.client()
    assert client.responses.create(model=model, input="hi vertex").output_text == text
    with client.responses.stream(model=model, input="hi vertex") as stream:
        assert stream.get_final_response().output_text == text
    google_auth.reset()


# --------------------------------------------------------------------------- shared with chat, and errors


def test_failover_before_the_first_byte_and_a_broken_translated_stream(fake_factory, gateway_factory) -> None:
    a, b = fake_factory("a"), fake_factory("b")
    gw = gateway_factory(config(provider("a", a, models=["gpt-4o"]), provider("b", b, models=["gpt-4o"]), cooldown_period=0))
    a.then(Reply(status=503), Reply(first_event_error=True))
    client = gw.client()
    assert client.responses.create(model="gpt-4o", input="hi").output_text == "b says: hi"
    assert raw_stream(gw, model="gpt-4o", input="hi")[-1]["response"]["output"][0]["content"][0]["text"] == "b says: hi"

    a.then(Reply(break_after=2))
    events = raw_stream(gw, model="gpt-4o", input="one two three four")
    check_sequence(events)
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2]["error"]["code"] == "upstream_stream_error" and events[-2]["message"] == events[-2]["error"]["message"]
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "upstream_stream_error" and failed["output"] == []
    a.then(Reply(break_after=2))
    with pytest.raises(openai.APIError, match="upstream stream broke"):
        with client.responses.stream(model="gpt-4o", input="one two three four") as stream:
            list(stream)


def test_rate_limit_unknown_model_and_stateless_errors(fake_factory, gateway_factory) -> None:
    fake = fake_factory("up")
    gw = gateway_factory(config(provider("up", fake, models=["gpt-4o"]), keys=[gateway_key("sk-limited", RATE_LIMIT="1/min")]))
    limited = gw.client("sk-limited")
    limited.responses.create(model="gpt-4o", input="hi")
    with pytest.raises(openai.RateLimitError) as limit:
        limited.responses.create(model="gpt-4o", input="hi")
    assert limit.value.response.headers["retry-after"]
    with pytest.raises(openai.NotFoundError) as missing:
        limited.responses.create(model="nope", input="hi")
    assert missing.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as previous:
        gw.client("sk-limited").responses.create(model="gpt-4o", input="hi", previous_response_id="resp_123")
    assert previous.value.body["param"] == "previous_response_id" and "stateless gateway" in previous.value.body["message"]
    for call in (lambda: limited.responses.retrieve("resp_123"), lambda: limited.responses.delete("resp_123"),
                 lambda: limited.responses.cancel("resp_123")):
        with pytest.raises(openai.BadRequestError, match="stateless"):
            call()
    with pytest.raises(openai.BadRequestError) as reference:
        limited.responses.create(model="gpt-4o", input=[{"type": "item_reference", "id": "msg_1"}])
    assert reference.value.body["param"] == "input[0]" and "store: false" in reference.value.body["message"]
    with pytest.raises(openai.AuthenticationError):
        gw.client("sk-wrong").responses.retrieve("resp_123")
    assert len(fake.requests) == 1


def test_moderation_reads_the_translated_request(fake_factory, gateway_factory) -> None:
    fake = fake_factory("up", models=("gpt-4o", "text-moderation-latest"))
    gw = gateway_factory(config(provider("up", fake, models=["gpt-4o", "text-moderation-latest"]),
                                keys=[gateway_key("sk-moderated", ["gpt-4o", "up/text-moderation-latest"], ENABLE_MODERATION=True)]))
    with pytest.raises(openai.BadRequestError) as err:
        gw.client("sk-moderated").responses.create(model="gpt-4o", instructions="be calm", input="plan an attack")
    assert err.value.body["code"] == "content_filter"
    assert [r["body"]["input"] for r in fake.requests if r["path"] == "/v1/moderations"] == ["be calm\n\nplan an attack"]


def test_access_log_names_the_key_the_model_and_the_path(fake_factory, gateway_factory, caplog) -> None:
    fake = fake_factory("up")
    gw = gateway_factory(config(provider("up", fake, models=["gpt-4o"])))
    with caplog.at_level(logging.INFO, logger="gateway"):
        httpx.post(gw.url + "/v1/responses", headers={**AUTH, "x-request-id": "rr-1"}, json={"model": "gpt-4o", "input": "hi"})
        deadline = time.time() + 5
        while time.time() < deadline and not any(r.getMessage().startswith("rr-1 ") for r in caplog.records):
            time.sleep(0.01)
    line = next(r for r in caplog.records if r.name == "gateway.access" and r.getMessage().startswith("rr-1 "))
    fields = line.fields  # type: ignore[attr-defined]
    assert (fields["path"], fields["status"], fields["model"]) == ("/v1/responses", 200, "gpt-4o") and fields["key_id"]
    assert [(a["provider"], a["status"]) for a in fields["attempts"]] == [("up", 200)]


def test_responses_api_passthrough_is_checked_at_load() -> None:
    from shared.config import parse_config_text
    from shared.config.load import ConfigError

    text = json.dumps(config(provider("claude", "https://api.anthropic.com", path="/v1/messages", models=["c"],
                                       preferences={"responses_api": "passthrough"})))
    with pytest.raises(ConfigError, match=r"providers\[0\]\.preferences\.responses_api: passthrough needs an engine"):
        parse_config_text(text, "api.yaml")
    with pytest.raises(ConfigError, match="responses_api"):
        parse_config_text(json.dumps(config(provider("o", "https://x.test", preferences={"responses_api": "sometimes"}))), "api.yaml")
    parse_config_text(json.dumps(config(provider("o", "https://x.test", models=["m"], preferences={"responses_api": "passthrough"}))), "api.yaml")


def test_a_codex_shaped_request_reaches_anthropic_and_streams_back(fake_factory, gateway_factory) -> None:
    """What the Codex CLI sends with ``wire_api = "responses"`` (its fields, roles and part lists)."""
    fake, gw = claude_gateway(fake_factory, gateway_factory)
    fake.then(ClaudeReply(tool_calls=[{"id": "toolu_S", "name": "shell", "input": {"command": ["ls"]}}]), ClaudeReply(text="Two files."))
    shell = {"type": "function", "name": "shell", "description": "Runs a command", "strict": False,
             "parameters": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}},
                            "required": ["command"], "additionalProperties": False}}
    history: list[Any] = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions>read-only</permissions>"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>cwd=/w</environment_context>"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list the files"}]},
    ]
    body = {"model": "claude", "instructions": "You are Codex.", "input": history, "tools": [shell], "tool_choice": "auto",
            "parallel_tool_calls": False, "reasoning": None, "store": False, "stream": True, "include": [],
            "prompt_cache_key": "0199-session", "text": {"verbosity": "low"}}
    events = raw_stream(gw, **body)
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [item["type"] for item in done] == ["function_call"] and done[0]["call_id"] == "toolu_S"
    sent = fake.requests[0]["body"]
    assert sent["system"].startswith("You are Codex.") and "read-only" in sent["system"]
    assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    history += done + [{"type": "function_call_output", "call_id": "toolu_S", "output": "a.txt\nb.txt"}]
    events = raw_stream(gw, **{**body, "input": history})
    assert events[-1]["type"] == "response.completed" and events[-1]["response"]["output"][0]["content"][0]["text"] == "Two files."
    assert fake.requests[1]["body"]["messages"][-1]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_S", "content": "a.txt\nb.txt"}

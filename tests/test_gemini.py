"""Gemini through the gateway, driven by the official OpenAI SDK against a fake Gemini API.

The fake (tests/fakes/gemini_fake.py) speaks Gemini's wire format and rejects what the real API
rejects (bad roles, non-object function responses, unknown schema keywords, missing thought
signatures on Gemini 3), so a passing test means the translated request would be accepted.
"""

from __future__ import annotations

import base64
import json

import openai
import pytest

from shared.providers import gemini
from tests.builders import config, provider
from tests.fakes.gemini_fake import Call, FakeGoogle, GeminiReply

SIG_1 = base64.b64encode(bytes([251, 255, 254, 250]) + b"thought-signature-one").decode()  # has '+', '/', '='
SIG_2 = base64.b64encode(b"\xfb\xef second signature \xff").decode()
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False},
    "strict": True}}


@pytest.fixture
def google(fake_factory):
    return fake_factory(kind=FakeGoogle, keys=("gemini-key-1", "gemini-key-2"))


def gateway(gateway_factory, fake: FakeGoogle, model: str = "gemini-2.5-flash", keys: str | list[str] = "gemini-key-1",
            more: tuple[dict, ...] = ()):
    """Provider g on the fake Gemini API serving ``model``, keys tried in order; ``more`` providers after it."""
    return gateway_factory(config(provider("g", fake, path="/v1beta", api=keys, models=[model],
                                           preferences={"api_key_schedule_algorithm": "fixed_priority"}), *more))


def second_provider(fake: FakeGoogle) -> dict:
    """g2: the same fake Gemini API with the other key, for failover."""
    return provider("g2", fake, path="/v1beta", api="gemini-key-2", models=["gemini-2.5-flash"])


def collect(stream) -> dict:
    """Reassemble an OpenAI SDK stream into content, reasoning, tool calls, finish reason and usage."""
    out = {"content": "", "reasoning": "", "tools": {}, "finish": None, "usage": None, "roles": []}
    for chunk in stream:
        if chunk.usage is not None:
            out["usage"] = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.role:
                out["roles"].append(delta.role)
            out["content"] += delta.content or ""
            out["reasoning"] += (delta.model_extra or {}).get("reasoning_content") or ""
            for call in delta.tool_calls or ():
                slot = out["tools"].setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                if call.id:
                    slot["id"] = call.id
                if call.function and call.function.name:
                    slot["name"] = call.function.name
                if call.function and call.function.arguments:
                    slot["arguments"] += call.function.arguments
            if choice.finish_reason:
                out["finish"] = choice.finish_reason
    return out


# -- text ---------------------------------------------------------------------------------------

def test_text_non_stream_translates_request_and_answer(google, gateway_factory):
    gw = gateway(gateway_factory, google)
    answer = gw.client().chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "system", "content": "Be terse."}, {"role": "developer", "content": "No emojis."},
                  {"role": "user", "content": "hello there"}],
        temperature=0.5, top_p=0.9, max_completion_tokens=50, stop="END", seed=7, user="u1", store=True)
    assert answer.choices[0].message.content == "gemini says: hello there"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.object == "chat.completion" and answer.model == "gemini-2.5-flash"
    assert answer.usage.completion_tokens == 4 and answer.usage.total_tokens == answer.usage.prompt_tokens + 4
    sent = google.requests[0]
    assert sent["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent["key"] == "gemini-key-1" and sent["headers"]["x-goog-api-key"] == "gemini-key-1"
    body = sent["body"]
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse."}, {"text": "No emojis."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hello there"}]}]
    assert body["generationConfig"] == {"temperature": 0.5, "topP": 0.9, "seed": 7, "maxOutputTokens": 50, "stopSequences": ["END"]}


def test_text_stream_with_usage(google, gateway_factory):
    gw = gateway(gateway_factory, google)
    stream = gw.client().chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "one two three"}],
                                                 stream=True, stream_options={"include_usage": True}, max_tokens=30)
    got = collect(stream)
    assert got["content"] == "gemini says: one two three"
    assert got["roles"] == ["assistant"] and got["finish"] == "stop"
    assert got["usage"].completion_tokens == 5
    sent = google.requests[0]
    assert sent["path"].endswith(":streamGenerateContent") and sent["query"] == {"alt": "sse"}
    assert sent["body"]["generationConfig"] == {"maxOutputTokens": 30}


@pytest.mark.parametrize("ending", ["\r\n", "\n"])
def test_stream_framing_crlf_and_lf_and_late_usage(google, gateway_factory, ending):
    gw = gateway(gateway_factory, google)
    google.then(GeminiReply(text="a b c", line_ending=ending, usage_after_finish=True,
                            usage={"promptTokenCount": 11, "candidatesTokenCount": 4, "totalTokenCount": 15}))
    got = collect(gw.client().chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}],
                                                      stream=True, stream_options={"include_usage": True}))
    assert got["content"] == "a b c" and got["finish"] == "stop"
    assert (got["usage"].prompt_tokens, got["usage"].completion_tokens, got["usage"].total_tokens) == (11, 4, 15)


# -- tools and thought signatures ---------------------------------------------------------------

def test_tool_round_trip_non_stream_keeps_thought_signature(google, gateway_factory):
    """Gemini 3 rejects a replayed functionCall without its signature; the fake checks it is the one it issued."""
    gw = gateway(gateway_factory, google, model="gemini-3-pro-preview")
    client = gw.client()
    google.then(GeminiReply(calls=[Call("get_weather", {"city": "Paris"}, signature=SIG_1)]), GeminiReply(text="It is 21C."))
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="gemini-3-pro-preview", messages=messages, tools=[WEATHER_TOOL])
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls" and message.content is None
    call = message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id.startswith("call_") and len(call.id) > 30
    assert gemini.signature_of({"id": call.id}) == SIG_1
    # The usual SDK pattern: append the returned message object itself, then the tool result.
    messages += [message, {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'}]
    second = client.chat.completions.create(model="gemini-3-pro-preview", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "It is 21C." and second.choices[0].finish_reason == "stop"
    contents = google.requests[1]["body"]["contents"]
    assert contents[1] == {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                                                        "thoughtSignature": SIG_1}]}
    assert contents[2] == {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}]}
    declaration = google.requests[0]["body"]["tools"][0]["functionDeclarations"][0]
    assert declaration == {"name": "get_weather", "description": "Current weather",
                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def test_tool_round_trip_stream_parallel_calls(google, gateway_factory):
    gw = gateway(gateway_factory, google, model="gemini-3-flash-preview")
    client = gw.client()
    google.then(GeminiReply(thoughts="Two cities, two calls.", calls=[Call("get_weather", {"city": "Paris"}, signature=SIG_2),
                                                                        Call("get_weather", {"city": "Rome"})]),
                GeminiReply(text="Paris 21C, Rome 25C."))
    messages = [{"role": "user", "content": "Weather in Paris and Rome?"}]
    got = collect(client.chat.completions.create(model="gemini-3-flash-preview", messages=messages, tools=[WEATHER_TOOL],
                                                 stream=True, stream_options={"include_usage": True}))
    assert got["finish"] == "tool_calls" and got["reasoning"] == "Two cities, two calls."
    calls = [got["tools"][0], got["tools"][1]]
    assert [json.loads(c["arguments"]) for c in calls] == [{"city": "Paris"}, {"city": "Rome"}]
    assert calls[0]["id"] != calls[1]["id"]
    assert got["usage"].completion_tokens_details.reasoning_tokens == 4
    messages.append({"role": "assistant", "content": None, "tool_calls": [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]})
    messages.append({"role": "tool", "tool_call_id": calls[0]["id"], "content": "21C"})
    messages.append({"role": "tool", "tool_call_id": calls[1]["id"], "content": "[25, \"C\"]"})
    again = collect(client.chat.completions.create(model="gemini-3-flash-preview", messages=messages, tools=[WEATHER_TOOL], stream=True))
    assert again["content"] == "Paris 21C, Rome 25C."
    contents = google.requests[1]["body"]["contents"]
    assert contents[1]["parts"][0]["thoughtSignature"] == SIG_2
    assert "thoughtSignature" not in contents[1]["parts"][1]  # Gemini signs only the first call of a step
    assert contents[2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"result": "21C"}}},
        {"functionResponse": {"name": "get_weather", "response": {"result": [25, "C"]}}}]}


def test_history_without_signature_gets_the_documented_sentinel(google, gateway_factory):
    """Tool history written by the client (or another provider) has no signature: Gemini 3 still accepts it."""
    gw = gateway(gateway_factory, google, model="gemini-3-pro-preview")
    answer = gw.client().chat.completions.create(model="gemini-3-pro-preview", tools=[WEATHER_TOOL], messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "toolu_01abc", "type": "function",
                                                               "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "toolu_01abc", "content": "cold"}])
    assert answer.choices[0].message.content.startswith("gemini says")
    part = google.requests[0]["body"]["contents"][1]["parts"][0]
    assert part["thoughtSignature"] == gemini.SKIP_SIGNATURE


def test_tool_schemas_and_tool_choice_are_translated(google, gateway_factory):
    gw = gateway(gateway_factory, google)
    tools = [
        {"type": "function", "function": {"name": "lookup", "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": False,
            "properties": {"url": {"type": "string", "format": "uri"}, "kind": {"const": "page"},
                           "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
                           "note": {"type": ["string", "null"]},
                           "when": {"type": "string", "format": "date-time"}},
            "required": ["url"], "$defs": {"tag": {"type": "object", "properties": {"name": {"type": "string"}},
                                                    "additionalProperties": False}}}, "strict": True}},
        {"type": "function", "function": {"name": "ping", "description": "no args", "parameters": {"type": "object", "properties": {}}}},
    ]
    client = gw.client()
    choices = [("auto", {"mode": "AUTO"}), ("none", {"mode": "NONE"}), ("required", {"mode": "ANY"}),
               ({"type": "function", "function": {"name": "ping"}}, {"mode": "ANY", "allowedFunctionNames": ["ping"]})]
    for choice, expected in choices:
        client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}], tools=tools, tool_choice=choice)
        assert google.requests[-1]["body"]["toolConfig"] == {"functionCallingConfig": expected}
    declarations = google.requests[-1]["body"]["tools"][0]["functionDeclarations"]
    assert declarations[0]["parameters"] == {
        "type": "object", "required": ["url"],
        "properties": {"url": {"type": "string"}, "kind": {"enum": ["page"], "type": "string"},
                       "tags": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                       "note": {"type": "string", "nullable": True},
                       "when": {"type": "string", "format": "date-time"}}}
    assert declarations[1] == {"name": "ping", "description": "no args"}  # empty OBJECT properties are rejected by Gemini


def test_json_modes(google, gateway_factory):
    gw = gateway(gateway_factory, google)
    client = gw.client()
    client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}],
                                   response_format={"type": "json_object"})
    assert google.requests[-1]["body"]["generationConfig"] == {"responseMimeType": "application/json"}
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}],
                                   response_format={"type": "json_schema", "json_schema": {"name": "p", "strict": True, "schema": schema}})
    assert google.requests[-1]["body"]["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                           "required": ["name", "age"]}}


def test_images_inline_and_by_url(google, gateway_factory):
    gw = gateway(gateway_factory, google)
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    gw.client().chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}}]}])
    assert google.requests[0]["body"]["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": png}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp"}}]


# -- usage, reasoning, finish reasons -------------------------------------------------------------

def test_usage_details_and_reasoning_non_stream(google, gateway_factory):
    gw = gateway(gateway_factory, google)
    google.then(GeminiReply(text="42", thoughts="Let me think.",
                            usage={"promptTokenCount": 100, "cachedContentTokenCount": 60, "candidatesTokenCount": 7,
                                   "thoughtsTokenCount": 20, "totalTokenCount": 127}))
    answer = gw.client().chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}],
                                                 reasoning_effort="low")
    usage = answer.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 27, 127)
    assert usage.prompt_tokens_details.cached_tokens == 60 and usage.completion_tokens_details.reasoning_tokens == 20
    assert answer.choices[0].message.content == "42"
    assert answer.choices[0].message.model_extra["reasoning_content"] == "Let me think."
    assert google.requests[0]["body"]["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}


FINISH = [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
          ("BLOCKLIST", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"),
          ("OTHER", "stop"), ("MALFORMED_FUNCTION_CALL", "stop"), ("FINISH_REASON_UNSPECIFIED", "stop")]


@pytest.mark.parametrize("gemini_reason,openai_reason", FINISH)
def test_every_finish_reason(google, gateway_factory, gemini_reason, openai_reason):
    gw = gateway(gateway_factory, google)
    client = gw.client()
    google.then(GeminiReply(text="partial", finish_reason=gemini_reason), GeminiReply(text="partial", finish_reason=gemini_reason))
    answer = client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}])
    assert answer.choices[0].finish_reason == openai_reason and answer.choices[0].message.content == "partial"
    got = collect(client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}], stream=True))
    assert got["finish"] == openai_reason and got["content"] == "partial"


def test_candidate_cut_by_safety_without_content(google, gateway_factory):
    gw = gateway(gateway_factory, google)
    client = gw.client()
    google.then(GeminiReply(text="", finish_reason="SAFETY"), GeminiReply(text="", finish_reason="SAFETY"))
    answer = client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}])
    assert answer.choices[0].finish_reason == "content_filter" and answer.choices[0].message.content is None
    got = collect(client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}], stream=True))
    assert got["finish"] == "content_filter" and got["content"] == ""


@pytest.mark.parametrize("stream", [False, True])
def test_blocked_prompt_is_a_400_content_filter_without_failover(google, gateway_factory, stream):
    gw = gateway(gateway_factory, google, more=(second_provider(google),))
    google.then(GeminiReply(block_reason="PROHIBITED_CONTENT"))
    with pytest.raises(openai.BadRequestError) as info:
        answer = gw.client().chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}], stream=stream)
        if stream:
            list(answer)
    assert info.value.status_code == 400 and info.value.code == "content_filter"
    assert "PROHIBITED_CONTENT" in info.value.message
    assert len(google.requests) == 1


# -- errors ----------------------------------------------------------------------------------------

def test_invalid_argument_is_returned_to_the_client_without_failover(google, gateway_factory):
    gw = gateway(gateway_factory, google, more=(second_provider(google),))
    google.then(GeminiReply(status=400, error_body=[{"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                                               "message": "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576)."}}]))
    with pytest.raises(openai.BadRequestError) as info:
        gw.client().chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "context_length_exceeded" and "exceeds the maximum" in info.value.message
    assert len(google.requests) == 1


def test_bad_api_key_is_a_key_failure_and_the_next_key_is_used(google, gateway_factory):
    gw = gateway(gateway_factory, google, keys=["wrong-key", "gemini-key-2"])
    answer = gw.client().chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "gemini says: hi"
    assert [r["key"] for r in google.requests] == ["wrong-key", "gemini-key-2"]
    assert "wrong-key" not in json.dumps(answer.model_dump())


@pytest.mark.parametrize("array", [False, True])
def test_resource_exhausted_gives_429_with_retry_after_from_retry_info(google, gateway_factory, array):
    gw = gateway(gateway_factory, google)
    google.then(GeminiReply(status=429, retry_delay="7s", error_array=array))
    with pytest.raises(openai.RateLimitError) as info:
        gw.client().chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}])
    assert info.value.response.headers["retry-after"] == "7"


@pytest.mark.parametrize("status", [503, 500, 403, 404])
def test_unavailable_and_permission_errors_fail_over(google, gateway_factory, status):
    gw = gateway(gateway_factory, google, more=(second_provider(google),))
    google.then(GeminiReply(status=status))
    answer = gw.client().chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "gemini says: hi"
    assert [r["key"] for r in google.requests] == ["gemini-key-1", "gemini-key-2"]


def test_error_before_first_event_fails_over_in_stream_mode(google, gateway_factory):
    gw = gateway(gateway_factory, google, more=(second_provider(google),))
    google.then(GeminiReply(status=503, error_array=True))
    got = collect(gw.client().chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert got["content"] == "gemini says: hi"


def test_stream_broken_midway_ends_with_an_error_event(google, gateway_factory):
    gw = gateway(gateway_factory, google)
    google.then(GeminiReply(text="one two three four five", break_after=2))
    seen = []
    with pytest.raises(openai.APIError) as info:
        for chunk in gw.client().chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}], stream=True):
            seen.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(seen) == "one two"
    assert "upstream" in info.value.message


def test_stream_without_finish_reason_is_reported_as_truncated(google, gateway_factory):
    gw = gateway(gateway_factory, google)
    google.then(GeminiReply(text="cut short", no_finish=True))
    with pytest.raises(openai.APIError) as info:
        list(gw.client().chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}], stream=True))
    assert "finishReason" in info.value.message


def test_untranslatable_requests_are_400_before_any_upstream_call(google, gateway_factory):
    gw = gateway(gateway_factory, google)
    client = gw.client()
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gemini-2.5-flash", n=2, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gemini-2.5-flash", messages=[
            {"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}])
    assert "nope" in info.value.message
    assert google.requests == []


def test_gemini_provider_without_model_list_discovers_its_chat_models(google, gateway_factory):
    gw = gateway_factory(config(provider("gemini", google, path="/v1beta", api="gemini-key-1")))
    client = gw.client()
    assert sorted(m.id for m in client.models.list()) == ["gemini-2.5-flash", "gemini-2.5-pro"]  # not the embedding model
    answer = client.chat.completions.create(model="gemini-2.5-pro", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content
    assert sum(1 for r in google.requests if r["path"] == "/v1beta/models") == 1

"""AWS Bedrock through the gateway: Converse / ConverseStream with SigV4, against a fake Bedrock that
verifies every signature (tests/fakes/bedrock_fake.py), through the official OpenAI SDK.
"""

from __future__ import annotations

import base64
import itertools
import json
import struct
import zlib
from datetime import UTC, datetime

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.config.schema import GatewayConfig, ProviderConfig
from shared.providers import bedrock, detect_engine, get_adapter
from shared.providers.base import StreamContext
from shared.providers.bedrock import eventstream, sigv4
from shared.providers.bedrock.stream import ConverseStream
from tests.builders import config, provider
from tests.fakes.bedrock_fake import (
    ACCESS_KEY,
    ACCESS_KEY_2,
    SECRET_KEY,
    SECRET_KEY_2,
    FakeBedrock,
    Reply,
    event,
    exception_frame,
)
from tests.test_gemini import WEATHER_TOOL, collect

CLAUDE = "us.anthropic.claude-sonnet-4-20250514-v1:0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0"
NOVA = "amazon.nova-pro-v1:0"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake image bytes").decode()


@pytest.fixture
def fake(fake_factory):
    return fake_factory(kind=FakeBedrock)


def bedrock_provider(fake: FakeBedrock, name: str = "bd", keys=((ACCESS_KEY, SECRET_KEY),), api=None, **fields) -> dict:
    entry = provider(name, fake, path="", api=api, models=[{CLAUDE: "claude"}, {ARN: "claude-profile"}, {NOVA: "nova"}],
                     engine="bedrock", region="us-east-1", **fields)
    if keys:
        entry["aws_access_key"] = [a for a, _ in keys] if len(keys) > 1 else keys[0][0]
        entry["aws_secret_key"] = [s for _, s in keys] if len(keys) > 1 else keys[0][1]
    return entry


def ask(client, model: str = "claude", text: str = "hello", **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kw)


# -- text -------------------------------------------------------------------------------------------

def test_text_non_stream_is_signed_and_translated(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake)))
    answer = ask(gw.client(), "claude", "hi bedrock", max_tokens=64, temperature=1.5, top_p=0.9, stop=["END"])
    assert answer.choices[0].message.content == "bedrock says: hi bedrock"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens == 4 and answer.usage.total_tokens == answer.usage.prompt_tokens + 4
    sent = fake.requests[0]
    assert sent["ok"] and sent["who"] == ACCESS_KEY and sent["model"] == CLAUDE and sent["operation"] == "converse"
    assert sent["raw_path"] == "/model/us.anthropic.claude-sonnet-4-20250514-v1:0/converse"
    assert sent["headers"]["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "/us-east-1/bedrock/aws4_request" in sent["headers"]["authorization"]
    assert "x-amz-security-token" not in sent["headers"]
    assert sent["body"] == {"messages": [{"role": "user", "content": [{"text": "hi bedrock"}]}],
                            "inferenceConfig": {"maxTokens": 64, "temperature": 1.0, "topP": 0.9, "stopSequences": ["END"]}}


def test_inference_profile_arn_in_the_path_is_signed_as_sent(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake)))
    assert ask(gw.client(), "claude-profile").choices[0].message.content == "bedrock says: hello"
    sent = fake.requests[0]
    assert sent["ok"] and sent["model"] == ARN
    assert sent["raw_path"] == ("/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile%2F"
                                "us.anthropic.claude-sonnet-4-20250514-v1:0/converse")


def test_system_messages_merged_turns_and_no_default_max_tokens(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake)))
    gw.client().chat.completions.create(model="nova", messages=[
        {"role": "system", "content": "Be terse."}, {"role": "user", "content": "one"}, {"role": "user", "content": "two"}],
        response_format={"type": "json_object"}, reasoning_effort="high")
    body = fake.requests[0]["body"]
    assert body["system"][0] == {"text": "Be terse."} and "JSON object" in body["system"][1]["text"]
    assert body["messages"] == [{"role": "user", "content": [{"text": "one"}, {"text": "two"}]}]
    assert "inferenceConfig" not in body and "additionalModelRequestFields" not in body  # no thinking for a non-Claude model


def test_reasoning_effort_becomes_claude_thinking_and_reasoning_comes_back(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake)))
    fake.then(Reply(reasoning="Let me think.", text="Done."))
    answer = ask(gw.client(), "claude", "think", reasoning_effort="low", temperature=0.3)
    body = fake.requests[0]["body"]
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert body["inferenceConfig"] == {"maxTokens": 2048 + 4096}  # no temperature while thinking
    message = answer.choices[0].message
    assert message.content == "Done." and message.model_extra["reasoning_content"] == "Let me think."
    assert message.model_extra["thinking_blocks"] == [{"type": "thinking", "thinking": "Let me think.",
                                                       "signature": "EqQBCgIYAhfakeBedrockSignature=="}]


@pytest.mark.parametrize("split", [False, True])
def test_stream_text_and_usage(fake, gateway_factory, split):
    gw = gateway_factory(config(bedrock_provider(fake)))
    fake.then(Reply(split=split, usage={"cacheReadInputTokens": 5}))
    got = collect(ask(gw.client(), "claude", "streamed words here", stream=True, stream_options={"include_usage": True}))
    assert got["content"] == "bedrock says: streamed words here" and got["finish"] == "stop"
    assert got["roles"] == ["assistant"]
    assert got["usage"].completion_tokens == 5 and got["usage"].prompt_tokens_details.cached_tokens == 5
    sent = fake.requests[0]
    assert sent["ok"] and sent["operation"] == "converse-stream"


def test_stream_reasoning_then_text(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake)))
    fake.then(Reply(reasoning="Pondering.", text="Answer."))
    got = collect(ask(gw.client(), "claude", "x", stream=True))
    assert got["reasoning"] == "Pondering." and got["content"] == "Answer." and got["finish"] == "stop"


@pytest.mark.parametrize("stop, finish", [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
                                          ("guardrail_intervened", "content_filter"), ("malformed_model_output", "stop")])
@pytest.mark.parametrize("stream", [False, True])
def test_finish_reasons(fake, gateway_factory, stop, finish, stream):
    gw = gateway_factory(config(bedrock_provider(fake)))
    fake.then(Reply(stop_reason=stop))
    answer = ask(gw.client(), "claude", stream=stream)
    assert (collect(answer)["finish"] if stream else answer.choices[0].finish_reason) == finish


# -- tools and images -------------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip(fake, gateway_factory, stream):
    gw = gateway_factory(config(bedrock_provider(fake)))
    client = gw.client()
    fake.then(Reply(tool_calls=[{"id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "get_weather", "input": {"city": "Paris"}},
                                {"id": "tooluse_second", "name": "get_weather", "input": {}}]),
              Reply(text="Sunny in Paris."))
    messages: list = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER_TOOL], tool_choice="required",
                                           stream=stream)
    if stream:
        got = collect(first)
        assert got["finish"] == "tool_calls"
        calls = [got["tools"][0], got["tools"][1]]
        assert [c["id"] for c in calls] == ["tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "tooluse_second"]
        assert json.loads(calls[0]["arguments"]) == {"city": "Paris"} and calls[1]["arguments"] == "{}"
        replayed = [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]
        messages.append({"role": "assistant", "tool_calls": replayed})
    else:
        assert first.choices[0].finish_reason == "tool_calls"
        calls_out = first.choices[0].message.tool_calls
        assert calls_out[0].id == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q" and json.loads(calls_out[0].function.arguments) == {"city": "Paris"}
        messages.append(first.choices[0].message)
    messages.append({"role": "tool", "tool_call_id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "content": "sunny"})
    messages.append({"role": "tool", "tool_call_id": "tooluse_second", "content": ""})
    second = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER_TOOL], stream=stream)
    assert (collect(second)["content"] if stream else second.choices[0].message.content) == "Sunny in Paris."
    first_body, body = fake.requests[0]["body"], fake.requests[1]["body"]
    spec = first_body["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["name"] == "get_weather" and spec["inputSchema"]["json"]["required"] == ["city"]
    assert first_body["toolConfig"]["toolChoice"] == {"any": {}}
    assert body["messages"][1]["content"][0] == {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "get_weather",
                                                             "input": {"city": "Paris"}}}
    results = body["messages"][2]["content"]
    assert results[0] == {"toolResult": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "content": [{"text": "sunny"}],
                                         "status": "success"}}
    assert results[1]["toolResult"]["content"] == [{"text": "(empty)"}]


def test_tool_choice_forms_and_foreign_tool_ids(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake)))
    client = gw.client()
    named = {"type": "function", "function": {"name": "get_weather"}}
    plain = [{"role": "user", "content": "a"}]
    client.chat.completions.create(model="claude", messages=plain, tools=[WEATHER_TOOL], tool_choice=named)
    client.chat.completions.create(model="claude", messages=plain, tools=[WEATHER_TOOL], tool_choice="none")
    odd = "call/with spaces+and#signs"
    client.chat.completions.create(model="claude", tools=[WEATHER_TOOL], messages=[
        {"role": "user", "content": "a"},
        {"role": "assistant", "tool_calls": [{"id": odd, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": odd, "content": "ok"}])
    bodies = [r["body"] for r in fake.requests]
    assert bodies[0]["toolConfig"]["toolChoice"] == {"tool": {"name": "get_weather"}}
    assert "toolConfig" not in bodies[1]  # "none" without tool history: no tools at all
    use = bodies[2]["messages"][1]["content"][0]["toolUse"]["toolUseId"]
    assert use != odd and use == bodies[2]["messages"][2]["content"][0]["toolResult"]["toolUseId"]


def test_image_input_from_a_data_url(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake)))
    answer = gw.client().chat.completions.create(model="claude", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}])
    assert answer.choices[0].message.content == "bedrock says: What is this?"
    assert fake.requests[0]["body"]["messages"][0]["content"][1] == {"image": {"format": "png", "source": {"bytes": PNG}}}


def test_http_image_urls_and_n_are_refused_before_any_call(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake)))
    with pytest.raises(openai.BadRequestError) as info:
        gw.client().chat.completions.create(model="claude", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
    assert "base64 data URLs" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        ask(gw.client(), "claude", n=2)
    assert "Bedrock" in info.value.message
    assert fake.requests == []


# -- credentials and errors -------------------------------------------------------------------------

def test_wrong_secret_is_rejected_by_the_signature_check(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake, keys=((ACCESS_KEY, "not-the-secret-key-000000"),))))
    with pytest.raises(openai.APIStatusError) as info:
        ask(gw.client())
    assert info.value.status_code == 502 and info.value.code == "provider_key_rejected"
    assert fake.rejected == ["InvalidSignatureException"]
    assert "not-the-secret" not in str(info.value.body)


def test_throttling_moves_to_the_next_key_pair(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake, keys=((ACCESS_KEY, SECRET_KEY), (ACCESS_KEY_2, SECRET_KEY_2)))))
    fake.then(Reply(error="ThrottlingException", message="Too many requests, please wait before trying again."))
    assert ask(gw.client()).choices[0].message.content == "bedrock says: hello"
    first, second = fake.requests
    assert {first["who"], second["who"]} == {ACCESS_KEY, ACCESS_KEY_2}


def test_throttling_of_the_only_key_is_a_429(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake)))
    fake.then(Reply(error="ThrottlingException", message="Too many requests"))
    with pytest.raises(openai.RateLimitError):
        ask(gw.client())


def test_access_denied_is_a_rejected_key_and_the_other_pair_answers(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake, keys=((ACCESS_KEY, SECRET_KEY), (ACCESS_KEY_2, SECRET_KEY_2)))))
    fake.then(Reply(error="AccessDeniedException", message="You don't have access to the model"))
    assert ask(gw.client()).choices[0].message.content == "bedrock says: hello"
    assert len(fake.requests) == 2 and fake.requests[0]["who"] != fake.requests[1]["who"]


def test_validation_exception_is_the_clients_400(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake)))
    fake.then(Reply(error="ValidationException", message="Input is too long for requested model."))
    with pytest.raises(openai.BadRequestError) as info:
        ask(gw.client())
    assert info.value.code == "context_length_exceeded" and len(fake.requests) == 1


@pytest.mark.parametrize("error", ["InternalServerException", "ServiceUnavailableException", "ModelNotReadyException"])
def test_server_errors_fail_over_to_the_second_channel(fake_factory, gateway_factory, error):
    first, second = fake_factory(kind=FakeBedrock), fake_factory(kind=FakeBedrock)
    gw = gateway_factory(config(bedrock_provider(first, "one"), bedrock_provider(second, "two"), keys=[{"api": "temp_api_key"}]))
    first.then(Reply(error=error))
    second.then(Reply(text="from two"))
    answer = gw.client().chat.completions.with_raw_response.create(model="claude", messages=[{"role": "user", "content": "x"}])
    assert answer.parse().choices[0].message.content == "from two" and answer.headers["x-gateway-provider"] == "two"
    assert len(first.requests) == 1 and len(second.requests) == 1


def test_exception_before_content_fails_over_in_a_stream(fake_factory, gateway_factory):
    first, second = fake_factory(kind=FakeBedrock), fake_factory(kind=FakeBedrock)
    gw = gateway_factory(config(bedrock_provider(first, "one"), bedrock_provider(second, "two"), keys=[{"api": "temp_api_key"}]))
    first.then(Reply(exception_after=1, exception="serviceUnavailableException"))
    second.then(Reply(text="recovered"))
    got = collect(ask(gw.client(), stream=True))
    assert got["content"] == "recovered" and got["finish"] == "stop"
    assert len(first.requests) == 1 and len(second.requests) == 1


def test_mid_stream_exception_ends_with_an_error_event_and_done(fake, gateway_factory):
    gw = gateway_factory(config(bedrock_provider(fake)))
    fake.then(Reply(text="one two three", exception_after=3, exception="modelStreamErrorException", delay=0.05))
    with httpx.Client(base_url=gw.url, headers={"authorization": "Bearer temp_api_key"}) as client:
        response = client.post("/v1/chat/completions", json={"model": "claude", "stream": True,
                                                              "messages": [{"role": "user", "content": "x"}]})
    events = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert error["code"] == "upstream_stream_error" and "modelStreamErrorException" in error["message"]
    assert "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-2]) == "one two"


@pytest.mark.parametrize("broken", ["corrupt", "truncate"])
def test_corrupt_or_truncated_stream_is_an_upstream_failure(fake, gateway_factory, broken):
    gw = gateway_factory(config(bedrock_provider(fake)))
    fake.then(Reply(**{broken: True}))
    with httpx.Client(base_url=gw.url, headers={"authorization": "Bearer temp_api_key"}) as client:
        response = client.post("/v1/chat/completions", json={"model": "claude", "stream": True,
                                                              "messages": [{"role": "user", "content": "x"}]})
    if response.status_code == 200:  # content went out before the damage: an error event, then [DONE]
        assert '"upstream_stream_error"' in response.text and response.text.rstrip().endswith("data: [DONE]")
    else:
        assert response.status_code == 502


def test_environment_credentials_with_session_token(fake_factory, gateway_factory, monkeypatch):
    fake = fake_factory(kind=FakeBedrock, tokens={ACCESS_KEY_2: "FQoGZXIvYXdzEXAMPLETOKEN"})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_2)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY_2)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEXAMPLETOKEN")
    gw = gateway_factory(config(bedrock_provider(fake, keys=())))
    assert ask(gw.client()).choices[0].message.content == "bedrock says: hello"
    sent = fake.requests[0]
    assert sent["ok"] and sent["who"] == ACCESS_KEY_2 and sent["headers"]["x-amz-security-token"] == "FQoGZXIvYXdzEXAMPLETOKEN"
    assert "x-amz-security-token" in sent["headers"]["authorization"]
    # rotated under the running function: the next request signs with the new ones
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    assert ask(gw.client()).choices[0].message.content == "bedrock says: hello"
    assert fake.requests[1]["ok"] and fake.requests[1]["who"] == ACCESS_KEY


def test_no_credentials_anywhere_is_a_clear_failure(fake, gateway_factory, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    gw = gateway_factory(config(bedrock_provider(fake, keys=())))
    with pytest.raises(openai.APIStatusError) as info:
        ask(gw.client())
    assert info.value.status_code == 502 and "no AWS credentials" in info.value.message and fake.requests == []


def test_bedrock_api_key_is_sent_as_bearer(fake_factory, gateway_factory):
    fake = fake_factory(kind=FakeBedrock, api_keys=("bedrock-api-key-123456",))
    gw = gateway_factory(config(bedrock_provider(fake, keys=(), api="bedrock-api-key-123456")))
    assert ask(gw.client()).choices[0].message.content == "bedrock says: hello"
    assert fake.requests[0]["who"] == "bearer:bedrock-api-key-123456"


# -- config and detection ---------------------------------------------------------------------------

def test_detection_by_host_and_region_from_it():
    for host in ("bedrock-runtime.us-east-1.amazonaws.com", "bedrock-runtime.eu-west-3.amazonaws.com",
                 "bedrock-runtime-fips.us-west-2.amazonaws.com"):
        cfg = ProviderConfig(provider="p", base_url=f"https://{host}")
        assert detect_engine(cfg) == "bedrock"
        assert bedrock.region_of(cfg) == host.split(".")[1]
    assert detect_engine(ProviderConfig(provider="p", aws_access_key="AKID", aws_secret_key="s", region="us-east-1")) == "bedrock"
    for other in ("https://abc.execute-api.us-east-1.amazonaws.com/v1", "https://my-lb.elb.amazonaws.com/v1"):
        assert detect_engine(ProviderConfig(provider="p", base_url=other)) == "openai"
    assert detect_engine(ProviderConfig(provider="p", engine="aws")) == "bedrock"
    assert bedrock.model_url(ProviderConfig(provider="p", region="eu-central-1"), NOVA, True) == \
        "https://bedrock-runtime.eu-central-1.amazonaws.com/model/amazon.nova-pro-v1:0/converse-stream"


def _problems(**fields) -> str:
    with pytest.raises(ValueError) as info:
        GatewayConfig.model_validate({"providers": [{"provider": "b", "engine": "bedrock", "model": [NOVA], **fields}]})
    return str(info.value)


def test_config_errors():
    assert "providers[0].aws_access_key: aws_access_key and aws_secret_key come in pairs" in _problems(
        region="us-east-1", aws_access_key="AKID")
    assert "come in pairs: 2 access key(s), 1 secret key(s)" in _problems(region="us-east-1", aws_access_key=["a", "b"], aws_secret_key="s")
    assert "aws_session_token" in _problems(region="us-east-1", aws_access_key=["a", "b"], aws_secret_key=["s", "t"],
                                            aws_session_token="x")
    assert "providers[0].region" in _problems(base_url="https://proxy.example.com", aws_access_key="a", aws_secret_key="s")
    with pytest.raises(ValueError, match="model list"):
        GatewayConfig.model_validate({"providers": [{"provider": "b", "engine": "bedrock", "region": "us-east-1"}]})
    ok = GatewayConfig.model_validate({"providers": [{"provider": "b", "base_url": "https://bedrock-runtime.us-west-2.amazonaws.com",
                                                      "aws_access_key": ["a1", "a2"], "aws_secret_key": ["s1", "s2"], "model": [NOVA]}]})
    credentials = get_adapter("bedrock").credentials(ok.providers[0])
    assert [c.kind for c in credentials] == ["aws", "aws"] and credentials[0].id != credentials[1].id
    assert credentials[1].parts == {"access_key": "a2", "secret_key": "s2"}


# -- SigV4 and the event-stream decoder --------------------------------------------------------------

WORKED_URL = "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse"
WORKED_BODY = b'{"messages":[{"role":"user","content":[{"text":"Hello"}]}],"inferenceConfig":{"maxTokens":64}}'


@pytest.mark.parametrize("token, signed, signature", [
    ("", "content-type;host;x-amz-date", "d41b03c2a28acb4a63cb5cbfd0af15bebb0e83fe64f78a1944c558d594589151"),
    ("FQoGZXIvYXdzEXAMPLETOKEN", "content-type;host;x-amz-date;x-amz-security-token",
     "2ce574c44c69f9fd76a6a712cb0246b7d6b829328f040c305b9c4b6082cda10d"),
])
def test_sigv4_matches_the_worked_example(token, signed, signature):
    headers = {"Content-Type": "application/json", "Host": "bedrock-runtime.us-east-1.amazonaws.com"}
    added = sigv4.sign("POST", WORKED_URL, headers, WORKED_BODY, access_key="AKIDEXAMPLE", session_token=token,
                       secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region="us-east-1", now=datetime(2025, 1, 15, 12, tzinfo=UTC))
    assert added["x-amz-date"] == "20250115T120000Z"
    assert added["authorization"] == ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250115/us-east-1/bedrock/aws4_request, "
                                      f"SignedHeaders={signed}, Signature={signature}")
    assert sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20250115", "us-east-1").hex() == \
        "37edfb24f5de86dab7e5ace2798293a9db6342415fcd636d42c7a7199dbe6188"
    assert sigv4.canonical_uri("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx-v1%3A0/converse") == \
        "/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A1%253Ainference-profile%252Fx-v1%253A0/converse"


def test_eventstream_test_vector():
    vector = eventstream.encode({":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"},
                                b'{"contentBlockIndex":0,"delta":{"text":"Hi"}}')
    assert len(vector) == 148 and vector[:12].hex() == "0000009400000057b4ab9aee" and vector[-4:].hex() == "1f944657"
    (message,) = eventstream.Decoder().feed(vector)
    assert message.headers[":event-type"] == "contentBlockDelta" and json.loads(message.payload)["delta"] == {"text": "Hi"}


RECORDED = b"".join([
    event("messageStart", {"role": "assistant"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "User wants"}}}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "EqQBCgIYAh"}}}),
    event("contentBlockStop", {"contentBlockIndex": 0}),
    event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Let me"}}),
    event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": " check."}}),
    event("contentBlockStop", {"contentBlockIndex": 1}),
    event("contentBlockStart", {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_kZJM", "name": "get_weather"}}}),
    event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"city\":\"Pa"}}}),
    event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "ris\"}"}}}),
    event("contentBlockStop", {"contentBlockIndex": 2}),
    event("messageStop", {"stopReason": "tool_use"}),
    event("metadata", {"usage": {"inputTokens": 30, "outputTokens": 20, "totalTokens": 50}, "metrics": {"latencyMs": 812}}),
])


def translate(pieces: list[bytes]) -> tuple[dict, ConverseStream]:
    translator = ConverseStream(StreamContext(model="m", include_usage=True))
    out: list[bytes] = []
    for piece in pieces:
        out.extend(translator.feed(piece))
    out.extend(translator.finish())
    got = {"content": "", "reasoning": "", "args": "", "finish": None, "usage": None, "ids": []}
    for raw in out:
        obj = json.loads(raw.decode().removeprefix("data: ").strip())
        if obj.get("usage"):
            got["usage"] = obj["usage"]
        for choice in obj["choices"]:
            delta = choice["delta"]
            got["content"] += delta.get("content") or ""
            got["reasoning"] += delta.get("reasoning_content") or ""
            for call in delta.get("tool_calls") or ():
                got["ids"] += [call["id"]] if call.get("id") else []
                got["args"] += call["function"].get("arguments") or ""
            got["finish"] = choice["finish_reason"] or got["finish"]
    return got, translator


WHOLE = {"content": "Let me check.", "reasoning": "User wants", "args": '{"city":"Paris"}', "finish": "tool_calls",
         "usage": {"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50}, "ids": ["tooluse_kZJM"]}


def test_decoder_in_one_piece_and_in_one_byte_pieces():
    for pieces in ([RECORDED], [RECORDED[i:i + 1] for i in range(len(RECORDED))]):
        got, translator = translate(pieces)
        assert got == WHOLE and translator.error is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(RECORDED) - 1), max_size=30, unique=True))
def test_decoder_at_random_boundaries(cuts):
    bounds = [0, *sorted(cuts), len(RECORDED)]
    got, translator = translate([RECORDED[a:b] for a, b in itertools.pairwise(bounds)])
    assert got == WHOLE and translator.error is None


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=len(RECORDED) - 1), st.integers(min_value=1, max_value=255), st.integers(1, 64))
def test_any_flipped_byte_is_an_error_never_a_crash(position, flip, piece):
    broken = bytearray(RECORDED)
    broken[position] ^= flip
    data = bytes(broken)
    _, translator = translate([data[i:i + piece] for i in range(0, len(data), piece)])
    assert translator.error is not None and translator.error.status == 502


def test_truncated_stream_and_exception_frame():
    _, translator = translate([RECORDED[:-3]])
    assert translator.error is not None and "cut" in translator.error.message
    _, translator = translate([event("messageStart", {"role": "assistant"}), exception_frame("throttlingException", "slow down")])
    assert translator.error is not None and translator.error.status == 429 and translator.error.message == "slow down"
    # a frame whose lengths are impossible is refused at once, not waited for
    prelude = struct.pack("!II", 8, 0)
    bad = prelude + struct.pack("!I", zlib.crc32(prelude))
    _, translator = translate([bad])
    assert translator.error is not None and "lengths" in translator.error.message


def test_error_responses_map_to_failure_classes():
    def status(name: str, http: int, message: str = "m") -> int:
        headers = {"x-amzn-errortype": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
        return bedrock.parse_error(http, json.dumps({"message": message}).encode(), headers).status
    assert status("ValidationException", 400) == 400
    assert status("ThrottlingException", 429) == 429
    assert status("AccessDeniedException", 403) == 403 and status("UnrecognizedClientException", 403) == 401
    assert status("InvalidSignatureException", 403) == 401 and status("ExpiredTokenException", 403) == 401
    assert status("ModelNotReadyException", 429) == 503 and status("ServiceUnavailableException", 503) == 503
    assert status("InternalServerException", 500) == 500 and status("ResourceNotFoundException", 404) == 404
    assert status("SomethingNewException", 418) == 418
    err = bedrock.parse_error(500, b"<html>oops</html>", {})
    assert err.status == 500 and "oops" in err.message


def test_readme_bedrock_example_loads():
    import os
    import re

    import yaml

    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")) as fh:
        readme = fh.read()
    section = readme[readme.index("### AWS Bedrock (Converse)"):]
    block = section[section.index("```yaml") + 7:section.index("```", section.index("```yaml") + 7)]
    parsed = GatewayConfig.model_validate(yaml.safe_load(re.sub(r"\$\{(\w+)\}", r"\1-value", block)))
    (entry,) = parsed.providers
    assert detect_engine(entry) == "bedrock" and bedrock.region_of(entry) == "us-east-1"
    assert [m[1] for m in entry.model] == ["claude-sonnet", "nova-pro", "claude-profile"]
    assert len(get_adapter("bedrock").credentials(entry)) == 2


def test_thinking_blocks_and_cache_hints_are_sent_back_in_converse_form():
    body = {"messages": [
        {"role": "system", "content": [{"type": "text", "text": "Long context.", "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "thinking_blocks": [{"type": "thinking", "thinking": "hmm", "signature": "sig=="}],
         "tool_calls": [{"id": "tooluse_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
        {"role": "tool", "tool_call_id": "tooluse_1", "content": "42"}]}
    out = bedrock.to_converse(body, CLAUDE)
    assert out["system"] == [{"text": "Long context."}, {"cachePoint": {"type": "default"}}]
    assert out["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig=="}}},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "f", "input": {"a": 1}}}]
    assert out["messages"][2]["content"][0]["toolResult"]["content"] == [{"text": "42"}]

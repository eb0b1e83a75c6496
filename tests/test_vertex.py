"""Vertex AI through the gateway: Gemini and Claude models, OAuth2 tokens from a service account.

The service account is a throwaway RSA key made here; the fake token endpoint verifies the JWT
assertion google-auth signs with it and issues tokens that the fake Vertex endpoints then require.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from types import SimpleNamespace

import openai
import pytest

from shared.providers import google_auth, vertex
from tests.builders import config, provider
from tests.fakes.gemini_fake import Call, FakeGoogle, GeminiReply, make_service_account
from tests.test_gemini import WEATHER_TOOL, collect

EMAIL = "gateway-test@test-project.iam.gserviceaccount.com"
SIG = base64.b64encode(b"\xfb\xff vertex signature \xfe").decode()
CLAUDE = "claude-sonnet-4@20250514"
PROJECT_PATH = "/v1/projects/test-project/locations"


@pytest.fixture(scope="module")
def account():
    return make_service_account()


@pytest.fixture
def google(account, fake_factory):
    google_auth.reset()
    yield fake_factory(kind=FakeGoogle, accounts={EMAIL: account[1]})
    google_auth.reset()


def vertex_provider(fake: FakeGoogle, name: str = "vx", region: str = "us-east5") -> dict:
    """A Vertex provider signing with the service account whose key is in $VERTEX_PRIVATE_KEY
    (an empty region is left unset: the gateway's default applies)."""
    return provider(name, fake, path="", api=None, models=["gemini-2.5-flash", "gemini-3-pro-preview", CLAUDE],
                    project_id="test-project", client_email=EMAIL, private_key="${VERTEX_PRIVATE_KEY}",
                    token_uri=f"{fake.url}/token", region=region or None)


def gateway(gateway_factory, fake: FakeGoogle, account, *providers: dict):
    return gateway_factory(config(*(providers or (vertex_provider(fake),))), env={"VERTEX_PRIVATE_KEY": account[0]})


def ask(client, model: str, text: str = "hello", **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kw)


# -- Gemini on Vertex ------------------------------------------------------------------------------

def test_gemini_non_stream_with_service_account_token(google, gateway_factory, account):
    gw = gateway(gateway_factory, google, account)
    answer = ask(gw.client(), "gemini-2.5-flash", "hello vertex")
    assert answer.choices[0].message.content == "gemini says: hello vertex"
    sent = google.requests[0]
    assert sent["path"] == f"{PROJECT_PATH}/us-east5/publishers/google/models/gemini-2.5-flash:generateContent"
    assert sent["token"] in google.tokens and sent["headers"]["authorization"] == f"Bearer {sent['token']}"
    assert sent["body"]["contents"] == [{"role": "user", "parts": [{"text": "hello vertex"}]}]
    claims = google.token_requests[0]["claims"]
    assert claims["iss"] == EMAIL and claims["scope"] == google_auth.SCOPE


def test_gemini_stream(google, gateway_factory, account):
    gw = gateway(gateway_factory, google, account)
    got = collect(ask(gw.client(), "gemini-2.5-flash", "streamed words", stream=True, stream_options={"include_usage": True}))
    assert got["content"] == "gemini says: streamed words" and got["finish"] == "stop"
    assert got["usage"].completion_tokens == 4
    sent = google.requests[0]
    assert sent["path"].endswith("/publishers/google/models/gemini-2.5-flash:streamGenerateContent") and sent["query"] == {"alt": "sse"}


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_tool_round_trip_with_thought_signature(google, gateway_factory, account, stream):
    gw = gateway(gateway_factory, google, account)
    client = gw.client()
    google.then(GeminiReply(calls=[Call("get_weather", {"city": "Lyon"}, signature=SIG)]), GeminiReply(text="Mild."))
    messages = [{"role": "user", "content": "Weather in Lyon?"}]
    first = client.chat.completions.create(model="gemini-3-pro-preview", messages=messages, tools=[WEATHER_TOOL], stream=stream)
    if stream:
        got = collect(first)
        assert got["finish"] == "tool_calls"
        call = got["tools"][0]
        messages.append({"role": "assistant", "tool_calls": [{"id": call["id"], "type": "function",
                                                              "function": {"name": call["name"], "arguments": call["arguments"]}}]})
        call_id = call["id"]
    else:
        assert first.choices[0].finish_reason == "tool_calls"
        messages.append(first.choices[0].message)
        call_id = first.choices[0].message.tool_calls[0].id
    messages.append({"role": "tool", "tool_call_id": call_id, "content": "mild"})
    second = client.chat.completions.create(model="gemini-3-pro-preview", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "Mild."
    replayed = google.requests[1]["body"]["contents"]
    assert replayed[1]["parts"][0]["thoughtSignature"] == SIG
    assert replayed[2]["parts"][0]["functionResponse"] == {"name": "get_weather", "response": {"result": "mild"}}


# -- Claude on Vertex ------------------------------------------------------------------------------

def test_claude_non_stream_uses_raw_predict(google, gateway_factory, account):
    gw = gateway(gateway_factory, google, account)
    answer = ask(gw.client(), CLAUDE, "hi claude", max_tokens=64, temperature=0.2)
    assert answer.choices[0].message.content == "claude says: hi claude"
    assert answer.choices[0].finish_reason == "stop" and answer.usage.completion_tokens == 4
    sent = google.requests[0]
    assert sent["path"] == f"{PROJECT_PATH}/us-east5/publishers/anthropic/models/{CLAUDE}:rawPredict"
    body = sent["body"]
    assert body["anthropic_version"] == "vertex-2023-10-16" and "model" not in body and "stream" not in body
    assert body["max_tokens"] == 64 and body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi claude"}]}]


def test_claude_stream_uses_stream_raw_predict(google, gateway_factory, account):
    gw = gateway(gateway_factory, google, account)
    got = collect(ask(gw.client(), CLAUDE, "stream please", stream=True, stream_options={"include_usage": True}))
    assert got["content"] == "claude says: stream please" and got["finish"] == "stop"
    assert got["usage"].completion_tokens == 4
    sent = google.requests[0]
    assert sent["path"].endswith(f"/publishers/anthropic/models/{CLAUDE}:streamRawPredict")
    assert sent["body"]["stream"] is True and "model" not in sent["body"]


@pytest.mark.parametrize("stream", [False, True])
def test_claude_tool_round_trip(google, gateway_factory, account, stream):
    gw = gateway(gateway_factory, google, account)
    client = gw.client()
    google.then(GeminiReply(calls=[Call("get_weather", {"city": "Nice"}, id="toolu_01NiceCall")]), GeminiReply(text="Sunny in Nice."))
    messages = [{"role": "user", "content": "Weather in Nice?"}]
    first = client.chat.completions.create(model=CLAUDE, messages=messages, tools=[WEATHER_TOOL], stream=stream)
    if stream:
        got = collect(first)
        assert got["finish"] == "tool_calls"
        call = got["tools"][0]
        assert call["id"] == "toolu_01NiceCall" and json.loads(call["arguments"]) == {"city": "Nice"}
        messages.append({"role": "assistant", "tool_calls": [{"id": call["id"], "type": "function",
                                                              "function": {"name": call["name"], "arguments": call["arguments"]}}]})
    else:
        assert first.choices[0].finish_reason == "tool_calls"
        messages.append(first.choices[0].message)
    messages.append({"role": "tool", "tool_call_id": "toolu_01NiceCall", "content": "sunny"})
    second = client.chat.completions.create(model=CLAUDE, messages=messages, tools=[WEATHER_TOOL], stream=stream)
    text = collect(second)["content"] if stream else second.choices[0].message.content
    assert text == "Sunny in Nice."
    sent = google.requests[1]["body"]["messages"]
    assert sent[1]["content"][0] == {"type": "tool_use", "id": "toolu_01NiceCall", "name": "get_weather", "input": {"city": "Nice"}}
    assert sent[2]["content"][0]["type"] == "tool_result" and sent[2]["content"][0]["tool_use_id"] == "toolu_01NiceCall"
    assert google.requests[0]["body"]["tools"][0]["name"] == "get_weather"


# -- tokens ----------------------------------------------------------------------------------------

def test_token_is_fetched_once_for_many_requests_including_concurrent_ones(google, gateway_factory, account):
    gw = gateway(gateway_factory, google, account)

    async def burst():
        async with gw.async_client() as client:
            return await asyncio.gather(*(ask(client, "gemini-2.5-flash", f"q{i}") for i in range(8)))

    answers = asyncio.run(burst())  # a cold cache: eight requests, one refresh
    assert len(answers) == 8
    client = gw.client()
    for i in range(5):
        ask(client, CLAUDE if i % 2 else "gemini-2.5-flash", f"seq{i}")
    assert google.token_hits == 1
    assert len({r["token"] for r in google.requests}) == 1 and len(google.requests) == 13


def test_token_is_refreshed_shortly_before_expiry(google, gateway_factory, account, monkeypatch):
    gw = gateway(gateway_factory, google, account)
    client = gw.client()
    ask(client, "gemini-2.5-flash")
    real = time.time
    monkeypatch.setattr(google_auth, "_clock", lambda: real() + 3599 - google_auth.REFRESH_MARGIN - 120)
    ask(client, "gemini-2.5-flash")
    assert google.token_hits == 1  # still comfortably valid
    monkeypatch.setattr(google_auth, "_clock", lambda: real() + 3599 - google_auth.REFRESH_MARGIN + 5)
    ask(client, "gemini-2.5-flash")  # inside the margin: refreshed before use
    monkeypatch.setattr(google_auth, "_clock", real)  # the new token's hour counts from the real now
    ask(client, "gemini-2.5-flash")
    assert google.token_hits == 2
    tokens = [r["token"] for r in google.requests]
    assert tokens[0] == tokens[1] != tokens[2] == tokens[3]


def test_refused_service_account_is_a_clear_failure(google, gateway_factory, account):
    other_pem, _ = make_service_account()  # signs with a key the token endpoint does not know
    gw = gateway_factory(config(vertex_provider(google)), env={"VERTEX_PRIVATE_KEY": other_pem})
    with pytest.raises(openai.APIStatusError) as info:
        ask(gw.client(), "gemini-2.5-flash")
    assert info.value.status_code == 502
    assert google.requests == [] and google.token_requests[0]["ok"] is False
    assert "BEGIN PRIVATE KEY" not in info.value.message


# -- regions and URLs ------------------------------------------------------------------------------

def test_global_region_through_the_gateway(google, gateway_factory, account):
    gw = gateway(gateway_factory, google, account, vertex_provider(google, region="global"))
    ask(gw.client(), "gemini-2.5-flash")
    ask(gw.client(), CLAUDE)
    assert google.requests[0]["path"] == f"{PROJECT_PATH}/global/publishers/google/models/gemini-2.5-flash:generateContent"
    assert google.requests[1]["path"] == f"{PROJECT_PATH}/global/publishers/anthropic/models/{CLAUDE}:rawPredict"


def test_default_region_is_us_central1(google, gateway_factory, account):
    gw = gateway(gateway_factory, google, account, vertex_provider(google, region=""))
    ask(gw.client(), "gemini-2.5-flash")
    assert google.requests[0]["path"].startswith(f"{PROJECT_PATH}/us-central1/publishers/google/")


@pytest.mark.parametrize("region,root", [
    ("global", "https://aiplatform.googleapis.com/v1/projects/p/locations/global"),
    ("us-central1", "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1"),
    ("eu", "https://aiplatform.eu.rep.googleapis.com/v1/projects/p/locations/eu"),
    (None, "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1"),
])
def test_public_urls(region, root):
    config = SimpleNamespace(base_url=None, project_id="p", region=region, provider="vx")
    assert vertex.model_url(config, "gemini-2.5-pro", vertex.GOOGLE, True) == \
        f"{root}/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    assert vertex.model_url(config, CLAUDE, vertex.ANTHROPIC, False) == f"{root}/publishers/anthropic/models/{CLAUDE}:rawPredict"


# -- errors ----------------------------------------------------------------------------------------

def test_quota_error_in_array_form_gives_429_with_retry_after(google, gateway_factory, account):
    gw = gateway(gateway_factory, google, account)
    google.then(GeminiReply(status=429, error_array=True, retry_delay="12s"))
    with pytest.raises(openai.RateLimitError) as info:
        ask(gw.client(), CLAUDE)
    assert info.value.response.headers["retry-after"] == "12"


def test_claude_overloaded_fails_over_to_the_next_vertex_provider(google, gateway_factory, account):
    gw = gateway(gateway_factory, google, account, vertex_provider(google, "vx1"), vertex_provider(google, "vx2", region="europe-west1"))
    google.then(GeminiReply(status=529, error_body={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    answer = ask(gw.client(), CLAUDE, "again")
    assert answer.choices[0].message.content == "claude says: again"
    assert [r["region"] for r in google.requests] == ["us-east5", "europe-west1"]
    assert google.token_hits == 1  # the same service account: one token for both providers


def test_vertex_invalid_argument_goes_back_to_the_client(google, gateway_factory, account):
    gw = gateway(gateway_factory, google, account)
    google.then(GeminiReply(status=400, error_array=True))
    with pytest.raises(openai.BadRequestError):
        ask(gw.client(), "gemini-2.5-flash")
    assert len(google.requests) == 1


def test_google_auth_is_imported_only_when_a_vertex_channel_is_used():
    code = ("import sys, shared.app, shared.providers.vertex, shared.providers.gemini\n"
            "loaded = [m for m in sys.modules if m.startswith(('google.auth', 'google.oauth2'))]\n"
            "assert not loaded, loaded\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
    assert "google.auth" not in out.stderr and "google.oauth2" not in out.stderr


def test_private_key_pasted_with_escaped_newlines_is_accepted(account):
    """Keys copied from the JSON key file into an env var keep their ``\\n`` escapes."""
    config = SimpleNamespace(client_email=EMAIL, private_key=account[0].replace("\n", "\\n"), project_id="p", token_uri=None)
    sa = google_auth.service_account_of(config)
    assert sa.private_key == account[0] and sa.token_uri == google_auth.DEFAULT_TOKEN_URI

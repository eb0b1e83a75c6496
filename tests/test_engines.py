"""OpenAI-compatible engines: OpenAI, Azure, OpenRouter and Cloudflare, stream and non-stream."""

from __future__ import annotations

import openai
import pytest

from shared.config.schema import ProviderConfig
from shared.routing import detect_engine
from tests.builders import config, provider
from tests.fakes.openai_fake import Reply

MSG = [{"role": "user", "content": "hello"}]


def stream_text(client, model="gpt-4o", **kw) -> tuple[str, list]:
    chunks = list(client.chat.completions.create(model=model, messages=MSG, stream=True, **kw))
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks


@pytest.mark.parametrize("base_url,engine", [
    ("https://generativelanguage.googleapis.com/v1beta", "gemini"),
    ("https://proxy.example/v1beta", "gemini"),
    ("https://us-central1-aiplatform.googleapis.com", "vertex"),
    ("https://myres.openai.azure.com", "azure"),
    ("https://api.cloudflare.com/client/v4", "cloudflare"),
    ("https://api.anthropic.com/v1/messages", "anthropic"),
    ("https://proxy.example/v1/messages", "anthropic"),
    ("https://openrouter.ai/api/v1/chat/completions", "openrouter"),
    ("https://api.deepseek.com/chat/completions", "openai"),
])
def test_engine_is_detected_from_the_base_url(base_url, engine):
    assert detect_engine(ProviderConfig(provider="p", base_url=base_url)) == engine


def test_engine_detection_from_project_id_and_account_id_and_explicit_engine():
    assert detect_engine(ProviderConfig(provider="p", project_id="proj")) == "vertex"
    assert detect_engine(ProviderConfig(provider="p", cf_account_id="acc")) == "cloudflare"
    assert detect_engine(ProviderConfig(provider="p", base_url="https://x.example/v1", engine="claude")) == "anthropic"
    assert detect_engine(ProviderConfig(provider="p", base_url="https://x.example/v1/messages", engine="gpt")) == "openai"


def test_openai_engine_stream_and_json_with_include_usage(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"])))
    client = gw.client()
    answer = client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    text, chunks = stream_text(client, stream_options={"include_usage": True})
    assert text == "a says: hello" and chunks[-1].usage.completion_tokens == 3 and chunks[-1].choices == []
    text, chunks = stream_text(client)
    assert all(c.usage is None for c in chunks)
    assert fake.requests[-1]["path"] == "/v1/chat/completions"
    assert fake.requests[-1]["headers"]["authorization"] == "Bearer sk-upstream-key-1"


def test_async_client_works_too(fake_factory, gateway_factory):
    import asyncio

    fake = fake_factory("a")
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"])))

    async def run():
        client = gw.async_client()
        answer = await client.chat.completions.create(model="gpt-4o", messages=MSG)
        parts = [c.choices[0].delta.content or "" async for c in await client.chat.completions.create(
            model="gpt-4o", messages=MSG, stream=True) if c.choices]
        many = await asyncio.gather(*(client.chat.completions.create(model="gpt-4o", messages=MSG) for _ in range(20)))
        return answer, "".join(parts), many

    answer, text, many = asyncio.run(run())
    assert answer.choices[0].message.content == text == "a says: hello"
    assert all(m.choices[0].message.content == "a says: hello" for m in many)


@pytest.mark.parametrize("form", ["resource", "deployment-url", "v1"])
def test_azure_deployment_urls_api_version_and_api_key_header(fake_factory, gateway_factory, form):
    fake = fake_factory("az", flavour="azure")
    path = {
        "resource": "",
        "deployment-url": "/openai/deployments/my-dep/chat/completions?api-version=2025-04-01-preview",
        "v1": "/openai/v1",
    }[form]
    gw = gateway_factory(config(provider("az", fake, path=path, engine="azure", models=[{"gpt-4o-deploy": "gpt-4o"}])))
    client = gw.client()
    answer = client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert answer.choices[0].message.content == "az says: hello"
    text, chunks = stream_text(client, stream_options={"include_usage": True})
    assert text == "az says: hello"
    assert all(c.id for c in chunks)  # the empty-choices prompt-filter chunk (blank id) was dropped
    assert chunks[-1].usage is not None
    sent = fake.requests[-1]
    assert sent["headers"]["api-key"] == "sk-upstream-key-1" and "authorization" not in sent["headers"]
    expected = {
        "resource": ("/openai/deployments/gpt-4o-deploy/chat/completions", {"api-version": "2024-10-21"}),
        "deployment-url": ("/openai/deployments/my-dep/chat/completions", {"api-version": "2025-04-01-preview"}),
        "v1": ("/openai/v1/chat/completions", {}),
    }[form]
    assert (sent["path"], sent["query"]) == expected


def test_azure_content_filter_400_is_returned_as_content_filter(fake_factory, gateway_factory):
    fake = fake_factory("az", flavour="azure")
    fake.then(Reply(status=400, error_body={"error": {"message": "The response was filtered", "type": None, "param": "prompt",
                                                      "code": "content_filter", "status": 400}}))
    gw = gateway_factory(config(provider("az", fake, path="", engine="azure", models=["gpt-4o"])))
    with pytest.raises(openai.BadRequestError) as err:
        gw.client().chat.completions.create(model="gpt-4o", messages=MSG)
    assert err.value.body["code"] == "content_filter" and err.value.body["type"] == "invalid_request_error"


def test_openrouter_keepalive_comments_and_attribution_headers(fake_factory, gateway_factory):
    fake = fake_factory("or", flavour="openrouter")
    gw = gateway_factory(config(provider("or", fake, path="/api/v1/chat/completions", engine="openrouter",
                                         models=["anthropic/claude-sonnet-4"], preferences={"headers": {"X-Title": "My App"}})))
    client = gw.client()
    text, _ = stream_text(client, model="anthropic/claude-sonnet-4")
    assert text == "or says: hello"
    sent = fake.requests[-1]["headers"]
    assert sent["x-title"] == "My App" and sent["http-referer"]
    assert client.chat.completions.create(model="anthropic/claude-sonnet-4", messages=MSG).choices[0].message.content == "or says: hello"


def test_openrouter_in_band_error_in_a_200_body_fails_over(fake_factory, gateway_factory):
    bad, good = fake_factory("or", flavour="openrouter"), fake_factory("b")
    gw = gateway_factory(config(provider("or", bad, path="/api/v1", engine="openrouter", models=["gpt-4o"]),
                                provider("b", good, models=["gpt-4o"])))
    bad.then(Reply(body={"choices": [{"message": {"content": ""}, "finish_reason": "error",
                                      "error": {"code": 502, "message": "provider unavailable"}}]}))
    answer = gw.client().chat.completions.create(model="gpt-4o", messages=MSG)
    assert answer.choices[0].message.content == "b says: hello"
    assert len(bad.requests) == 1


def test_cloudflare_openai_compatible_endpoint_with_account_id(fake_factory, gateway_factory):
    fake = fake_factory("cf")
    gw = gateway_factory(config(provider("cf", fake, path="/client/v4", cf_account_id="acc123", engine="cloudflare",
                                         models=[{"@cf/meta/llama-3.1-8b-instruct": "llama-3.1-8b"}])))
    client = gw.client()
    assert client.chat.completions.create(model="llama-3.1-8b", messages=MSG).choices[0].message.content == "cf says: hello"
    text, _ = stream_text(client, model="llama-3.1-8b")
    assert text == "cf says: hello"
    sent = fake.requests[-1]
    assert sent["path"] == "/client/v4/accounts/acc123/ai/v1/chat/completions"
    assert sent["body"]["model"] == "@cf/meta/llama-3.1-8b-instruct"


def test_cloudflare_error_envelope_is_translated(fake_factory, gateway_factory):
    fake = fake_factory("cf")
    fake.then(Reply(status=400, error_body={"result": None, "success": False,
                                            "errors": [{"code": 5007, "message": "No such model @cf/foo/bar or task"}], "messages": []}))
    gw = gateway_factory(config(provider("cf", fake, path="/client/v4", cf_account_id="acc123", models=["@cf/foo/bar"])))
    with pytest.raises(openai.BadRequestError) as err:
        gw.client().chat.completions.create(model="@cf/foo/bar", messages=MSG)
    assert err.value.body["message"] == "No such model @cf/foo/bar or task"

"""The request engine's seams: moderation through the dispatcher, one case-insensitive header merge,
adapters validating their own provider fields, structured credentials, and the runtime swap.

Each of the first three groups failed before the engine was split (a 500 for moderation on an
Anthropic channel, moderation always on the first key and Azure's URL wrong, merged Authorization
lines, a Vertex provider without ``project_id`` accepted at load).
"""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from shared.app import create_app
from shared.config import ConfigError, parse_config_document, parse_config_text
from shared.routing import compile_routes
from shared.settings import Settings
from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.gemini_fake import FakeGoogle
from tests.fakes.openai_fake import Reply

KEY = "sk-upstream-key-1"
MSG = [{"role": "user", "content": "plan an attack"}]


def moderated_key(*rules: str) -> str:
    return f"""
api_keys:
  - api: sk-user
    model: [{", ".join(rules)}]
    preferences: {{ENABLE_MODERATION: true}}
"""


# -- moderation ------------------------------------------------------------------------------------

def test_moderation_model_on_an_anthropic_channel_is_a_clear_503_not_a_500(fake_factory, gateway_factory):
    fake = fake_factory("oa")
    claude = FakeAnthropic().start()
    try:
        gw = gateway_factory(f"""
providers:
  - provider: oa
    base_url: {fake.url}/v1
    api: {KEY}
    model: [gpt-4o]
  - provider: claude
    base_url: {claude.url}/v1/messages
    api: sk-ant-key-1
    model: [text-moderation-latest]
""" + moderated_key("gpt-4o", "claude/text-moderation-latest"))
        with pytest.raises(openai.InternalServerError) as info:
            gw.client("sk-user").chat.completions.create(model="gpt-4o", messages=MSG)
        assert info.value.status_code == 503
        assert info.value.body["code"] == "moderation_unavailable"
        assert "text-moderation-latest" in info.value.body["message"]
        assert claude.requests == [] and fake.requests == []
    finally:
        claude.stop()


def test_moderation_skips_channels_that_cannot_moderate(fake_factory, gateway_factory):
    fake = fake_factory("oa", models=("gpt-4o", "text-moderation-latest"))
    claude = FakeAnthropic().start()
    try:
        gw = gateway_factory(f"""
providers:
  - provider: claude
    base_url: {claude.url}/v1/messages
    api: sk-ant-key-1
    model: [text-moderation-latest]
  - provider: oa
    base_url: {fake.url}/v1
    api: {KEY}
    model: [gpt-4o, text-moderation-latest]
""" + moderated_key("gpt-4o", "text-moderation-latest"))
        with pytest.raises(openai.BadRequestError) as info:
            gw.client("sk-user").chat.completions.create(model="gpt-4o", messages=MSG)
        assert info.value.body["code"] == "content_filter"
        assert claude.requests == []
    finally:
        claude.stop()


def test_moderation_rotates_provider_keys_and_fails_over_a_rejected_key(fake_factory, gateway_factory):
    fake = fake_factory("oa", keys=("sk-good-key-2",), models=("gpt-4o", "text-moderation-latest"))
    gw = gateway_factory(f"""
providers:
  - provider: oa
    base_url: {fake.url}/v1
    api: [sk-bad-key-1, sk-good-key-2]
    model: [gpt-4o, text-moderation-latest]
""" + moderated_key("gpt-4o", "oa/text-moderation-latest"))
    client = gw.client("sk-user")
    # The first key is refused by the upstream: moderation moves on to the second key (and cools the
    # first), so the flagged message is refused instead of slipping through on a failed check.
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert info.value.body["code"] == "content_filter"
    moderation_keys = [r["key"] for r in fake.requests if r["path"].endswith("/moderations")]
    assert moderation_keys[-1] == "sk-good-key-2"
    # The bad key is cooling down now: later checks go straight to the good one.
    fake.requests.clear()
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert [r["key"] for r in fake.requests if r["path"].endswith("/moderations")] == ["sk-good-key-2"]


def test_moderation_spreads_over_keys_round_robin(fake_factory, gateway_factory):
    fake = fake_factory("oa", keys=("sk-key-a-1111", "sk-key-b-2222"), models=("gpt-4o", "text-moderation-latest"))
    gw = gateway_factory(f"""
providers:
  - provider: oa
    base_url: {fake.url}/v1
    api: [sk-key-a-1111, sk-key-b-2222]
    model: [gpt-4o, text-moderation-latest]
""" + moderated_key("gpt-4o", "oa/text-moderation-latest"))
    for _ in range(4):
        gw.client("sk-user").chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    # Moderation and chat share the provider's key rotation: the load is spread evenly over both keys
    # (before, every moderation call used the first key).
    used = [r["key"] for r in fake.requests]
    assert len(used) == 8 and used.count("sk-key-a-1111") == used.count("sk-key-b-2222") == 4


def test_moderation_does_not_count_against_the_keys_rate_limit(fake_factory, gateway_factory):
    fake = fake_factory("oa", models=("gpt-4o", "text-moderation-latest"))
    gw = gateway_factory(f"""
providers:
  - provider: oa
    base_url: {fake.url}/v1
    api: {KEY}
    model: [gpt-4o, text-moderation-latest]
api_keys:
  - api: sk-user
    model: [gpt-4o, oa/text-moderation-latest]
    preferences: {{ENABLE_MODERATION: true, RATE_LIMIT: 2/min}}
""")
    client = gw.client("sk-user")
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])


def test_azure_moderation_uses_the_deployment_url_and_api_key(fake_factory, gateway_factory):
    fake = fake_factory("az", flavour="azure", models=("gpt-4o", "text-moderation-latest"))
    gw = gateway_factory(f"""
providers:
  - provider: az
    base_url: {fake.url}
    engine: azure
    api: {KEY}
    model: [gpt-4o, text-moderation-latest]
""" + moderated_key("gpt-4o", "az/text-moderation-latest"))
    with pytest.raises(openai.BadRequestError) as info:
        gw.client("sk-user").chat.completions.create(model="gpt-4o", messages=MSG)
    assert info.value.body["code"] == "content_filter"
    sent = [r for r in fake.requests if r["path"].endswith("/moderations")][0]
    assert sent["path"] == "/openai/deployments/text-moderation-latest/moderations"
    assert sent["query"] == {"api-version": "2024-10-21"}
    assert sent["headers"]["api-key"] == KEY and "authorization" not in sent["headers"]


# -- configured headers replace built ones, whatever their case -------------------------------------

@pytest.mark.parametrize("flavour,engine,header", [
    ("openai", "openai", "Authorization"),
    ("openai", "openai", "AUTHORIZATION"),
    ("azure", "azure", "Api-Key"),
])
def test_a_configured_auth_header_replaces_the_built_one(fake_factory, gateway_factory, flavour, engine, header):
    fake = fake_factory("h", flavour=flavour, keys=("sk-from-header-9",))
    value = "Bearer sk-from-header-9" if flavour == "openai" else "sk-from-header-9"
    base = f"{fake.url}/v1" if flavour == "openai" else fake.url
    gw = gateway_factory(f"""
providers:
  - provider: h
    base_url: {base}
    engine: {engine}
    api: {KEY}
    model: [gpt-4o]
    preferences:
      headers: {{{header}: "{value}"}}
""")
    answer = gw.client().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "h says: hi"
    assert fake.requests[-1]["key"] == "sk-from-header-9"


def test_a_configured_gemini_key_header_replaces_the_built_one(gateway_factory):
    google = FakeGoogle(keys=("gemini-key-from-header",)).start()
    try:
        gw = gateway_factory(f"""
providers:
  - provider: g
    base_url: {google.url}/v1beta
    api: gemini-key-1
    model: [gemini-2.5-flash]
    preferences:
      headers: {{X-Goog-Api-Key: gemini-key-from-header}}
""")
        answer = gw.client().chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content
        assert google.requests[-1]["headers"]["x-goog-api-key"] == "gemini-key-from-header"
    finally:
        google.stop()


# -- adapters validate their own provider fields at load ---------------------------------------------

@pytest.mark.parametrize("fields,missing", [
    ("engine: vertex\n    client_email: a@b.iam.gserviceaccount.com\n    private_key: k", "project_id"),
    ("project_id: p\n    private_key: k", "client_email"),
    ("project_id: p\n    client_email: a@b.iam.gserviceaccount.com", "private_key"),
    ("engine: azure", "base_url"),
    ("engine: cloudflare\n    base_url: https://api.cloudflare.com/client/v4", "cf_account_id"),
])
def test_a_provider_missing_what_its_engine_needs_is_a_config_error_naming_the_field(fields, missing):
    text = f"providers:\n  - provider: p\n    {fields}\n    model: [m]\n"
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "api.yaml", {})
    assert f"api.yaml: providers[0].{missing}:" in str(info.value)


def test_the_gateway_answers_a_config_error_for_such_a_provider_instead_of_an_upstream_failure():
    text = "providers:\n  - provider: v\n    engine: vertex\n    model: [gemini-2.5-pro]\n"
    app = create_app(Settings.from_env({"CONFIG_YAML": text}))

    async def run() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            return await client.post("/v1/chat/completions", headers={"authorization": "Bearer temp_api_key"},
                                     json={"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": "hi"}]})

    response = asyncio.run(run())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "config_error"
    assert "providers[0].project_id" in response.json()["error"]["message"]


# -- structured credentials ------------------------------------------------------------------------

def test_every_provider_has_credentials_with_ids_and_masked_secrets():
    config = parse_config_text("""
providers:
  - provider: oa
    base_url: https://api.example.com/v1
    api: [sk-first-key-0001, sk-second-key-0002]
    model: [gpt-4o]
  - provider: vx
    project_id: p
    client_email: svc@p.iam.gserviceaccount.com
    private_key: "-----BEGIN PRIVATE KEY-----secret-----END PRIVATE KEY-----"
    model: [gemini-2.5-pro]
""", "api.yaml", {})
    table = compile_routes(config, Settings.from_env({}))
    oa, vx = table.providers["oa"], table.providers["vx"]
    assert [c.kind for c in oa.credentials] == ["api_key", "api_key"]
    assert len({c.id for c in oa.credentials}) == 2 and all(c.id.startswith("oa#") for c in oa.credentials)
    assert [c.kind for c in vx.credentials] == ["service_account"] and vx.credentials[0].id.startswith("vx#")
    text = "upstream said: sk-second-key-0002 and -----BEGIN PRIVATE KEY-----secret-----END PRIVATE KEY-----"
    assert "sk-second-key-0002" not in oa.mask(text) and "secret-----END" not in vx.mask(text)
    assert "sk-first" not in repr(oa.credentials[0])
    # Compiling the same config twice names every credential the same way (instances must agree).
    again = compile_routes(config, Settings.from_env({}))
    assert [c.id for c in again.providers["oa"].credentials] == [c.id for c in oa.credentials]


# -- one runtime per config version ------------------------------------------------------------------

def test_reload_swaps_the_runtime_and_requests_in_flight_finish_on_the_old_one(fake_factory):
    old, new = fake_factory("old"), fake_factory("new")
    old.then(Reply(stall=0.6))

    def document(fake):  # type: ignore[no-untyped-def]
        return {"providers": [{"provider": "p", "base_url": f"{fake.url}/v1", "api": KEY, "model": ["gpt-4o"]}]}

    app = create_app(Settings.from_env({}), parse_config_document(document(old), "test", {}))
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}

    async def run() -> tuple[str, str, int, int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw",
                                     headers={"authorization": "Bearer temp_api_key"}) as client:
            first = asyncio.create_task(client.post("/v1/chat/completions", json=body))
            await asyncio.sleep(0.2)  # the first request is waiting on the old upstream now
            gateway = app.state.gateway
            before = gateway.runtime.version
            runtime = await gateway.save_config(document(new), before, None, "test", "p", [])
            second = await client.post("/v1/chat/completions", json=body)
            return ((await first).json()["choices"][0]["message"]["content"], second.json()["choices"][0]["message"]["content"],
                    before, runtime.version)

    first_text, second_text, before, after = asyncio.run(run())
    assert first_text == "old says: hi" and second_text == "new says: hi"
    assert (before, after) == (1, 2)
    assert len(old.requests) == 1 and len(new.requests) == 1

"""Gateway keys: how clients present them and what happens when they are wrong."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.builders import CHAT_COMPLETIONS, config, gateway_key, provider
from tests.conftest import DEV_ENV

KEY = "sk-gw-Valid-Key-7788"
HI = [{"role": "user", "content": "hi"}]
BODY = {"model": "gpt-4o", "messages": HI}


@pytest.fixture(scope="module")
def gw(module_fake_factory, module_gateway_factory):
    """One fake upstream and one gateway for the whole module: these tests only read."""
    fake = module_fake_factory("a")
    return module_gateway_factory(config(provider("a", fake, path=CHAT_COMPLETIONS, models=["gpt-4o"]),
                                         keys=[gateway_key(KEY), gateway_key("sk-gw-config-admin-1", role="admin")]), env=DEV_ENV)


def assert_openai_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize("headers", [
    {"authorization": f"Bearer {KEY}"},
    {"authorization": f"bearer {KEY}"},
    {"authorization": f"BEARER {KEY}"},
    {"x-api-key": KEY},
], ids=["Bearer", "lowercase bearer", "uppercase BEARER", "x-api-key"])
def test_key_is_accepted_in_every_supported_header(gw, headers):
    response = httpx.post(gw.url + "/v1/chat/completions", headers=headers, json=BODY)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "a says: hi"


def test_sdk_client_authenticates_with_its_api_key(gw):
    assert gw.client(KEY).chat.completions.create(model="gpt-4o", messages=HI).choices[0].message.content == "a says: hi"


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer"}, {"x-api-key": ""}, {"authorization": f"Basic {KEY}"}],
                         ids=["no header", "bare Bearer word", "empty x-api-key", "Basic scheme"])
def test_missing_key_is_401_with_an_openai_error_object(gw, headers):
    response = httpx.post(gw.url + "/v1/chat/completions", headers=headers, json=BODY)
    error = assert_openai_error(response, 401, "invalid_api_key")
    assert error["type"] == "authentication_error"
    assert "Missing API key" in error["message"]
    assert KEY not in response.text


def test_wrong_key_is_401_for_the_sdk(gw):
    with pytest.raises(openai.AuthenticationError) as info:
        gw.client("sk-gw-not-a-real-key").chat.completions.create(model="gpt-4o", messages=HI)
    assert info.value.status_code == 401
    assert info.value.body["code"] == "invalid_api_key"
    assert "sk-gw-not-a-real-key" not in str(info.value)


@pytest.mark.parametrize("candidate", [
    KEY[:-1],            # a valid key is a prefix of it
    KEY[:6],             # just the common "sk-gw-" start
    KEY + "0",           # valid key plus a suffix
    KEY + " extra",      # valid key, a space, more text
    KEY.lower(),         # different case
    KEY.upper(),
    "adminadmin" + "x",  # the dev admin key plus a suffix
    "admin",             # a prefix of the dev admin key
    "ADMINADMIN",
], ids=["prefix", "short prefix", "suffix", "space suffix", "lowercase", "uppercase", "admin suffix", "admin prefix", "admin case"])
@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_near_miss_keys_are_rejected_and_never_echoed(gw, candidate, header):
    value = f"Bearer {candidate}" if header == "authorization" else candidate
    response = httpx.post(gw.url + "/v1/chat/completions", headers={header: value}, json=BODY)
    error = assert_openai_error(response, 401, "invalid_api_key")
    assert error["message"] == "Incorrect API key provided."
    assert candidate not in response.text


def test_model_list_also_requires_a_key(gw):
    assert_openai_error(httpx.get(gw.url + "/v1/models"), 401, "invalid_api_key")
    assert_openai_error(httpx.get(gw.url + "/v1/models", headers={"authorization": "Bearer nope-nope"}), 401, "invalid_api_key")
    with pytest.raises(openai.AuthenticationError):
        gw.client("nope-nope").models.list()
    assert [m.id for m in gw.client(KEY).models.list().data] == ["gpt-4o"]


def test_bad_key_is_rejected_before_the_body_is_looked_at(gw):
    response = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer wrong-key-123"},
                          content=b"{not json")
    assert_openai_error(response, 401, "invalid_api_key")


@pytest.mark.parametrize("key,role,source", [
    ("adminadmin", "admin", "ADMIN_API_KEY"),
    ("temp_api_key", "user", "TEMP_API_KEY"),
    ("temp_api_key_one", "user", "TEMP_API_KEY_ONE"),
    (KEY, "user", "api_keys[0]"),
    ("sk-gw-config-admin-1", "admin", "api_keys[1]"),
])
def test_role_and_origin_of_each_key_are_recorded(gw, key, role, source):
    assert httpx.post(gw.url + "/v1/chat/completions", headers={"x-api-key": key}, json=BODY).status_code == 200
    policy = gw.gateway.authenticate({"authorization": f"Bearer {key}"})
    assert (policy.role, policy.source) == (role, source)

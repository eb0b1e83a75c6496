"""UniAPI's environment keys (ADMIN_API_KEY, TEMP_API_KEY, TEMP_API_KEY_ONE, ENVIRONMENT) and timeouts."""

from __future__ import annotations

import logging
import time

import httpx
import openai
import pytest

from shared.settings import Settings
from tests.builders import CHAT_COMPLETIONS, config, gateway_key, provider
from tests.fakes.openai_fake import Reply
from tests.conftest import DEV_ENV

HI = [{"role": "user", "content": "hi"}]
DEFAULT_KEYS = ("adminadmin", "temp_api_key", "temp_api_key_one")


def two_providers(fake_a, fake_b, *keys: dict) -> dict:
    """a serves gpt-4o, b claude-3-5-sonnet; gateway keys from the config as given (none: no section)."""
    return config(provider("a", fake_a, path=CHAT_COMPLETIONS, models=["gpt-4o"]),
                  provider("b", fake_b, path=CHAT_COMPLETIONS, models=["claude-3-5-sonnet"]),
                  keys=keys)


def one_provider(fake, *keys: dict) -> dict:
    return config(provider("a", fake, path=CHAT_COMPLETIONS, models=["gpt-4o"]), keys=keys)


def status_for(gw, key: str) -> int:
    return httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": "gpt-4o", "messages": HI}).status_code


def test_development_default_keys_work_out_of_the_box(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(one_provider(fake))
    for key in DEFAULT_KEYS:
        answer = gw.client(key).chat.completions.create(model="gpt-4o", messages=HI)
        assert answer.choices[0].message.content == "a says: hi"
    assert len(fake.requests) == 3


def test_setting_admin_api_key_replaces_the_adminadmin_default(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(one_provider(fake), env={"ADMIN_API_KEY": "sk-my-admin-key", "TEMP_API_KEY": "sk-my-temp-key"})
    assert status_for(gw, "sk-my-admin-key") == 200
    assert status_for(gw, "sk-my-temp-key") == 200
    assert status_for(gw, "adminadmin") == 401
    assert status_for(gw, "temp_api_key") == 401
    assert status_for(gw, "temp_api_key_one") == 200  # not overridden, so its default stays


@pytest.mark.parametrize("environment", ["production", "Production"])
def test_production_rejects_every_default_key(fake_factory, gateway_factory, environment):
    fake = fake_factory("a")
    gw = gateway_factory(one_provider(fake), env={"ENVIRONMENT": environment})
    for key in DEFAULT_KEYS:
        with pytest.raises(openai.AuthenticationError) as info:
            gw.client(key).chat.completions.create(model="gpt-4o", messages=HI)
        assert info.value.status_code == 401
    assert fake.requests == []


def test_production_accepts_keys_that_are_set_explicitly(fake_factory, gateway_factory):
    fake = fake_factory("a")
    env = {"ENVIRONMENT": "production", "ADMIN_API_KEY": "sk-prod-admin", "TEMP_API_KEY": "sk-prod-temp",
           "TEMP_API_KEY_ONE": "sk-prod-temp-one"}
    gw = gateway_factory(one_provider(fake), env=env)
    for key in ("sk-prod-admin", "sk-prod-temp", "sk-prod-temp-one"):
        assert status_for(gw, key) == 200
    for key in DEFAULT_KEYS:
        assert status_for(gw, key) == 401


def test_production_without_admin_key_logs_a_warning_and_has_no_admin(fake_factory, gateway_factory, caplog):
    fake = fake_factory("a")
    with caplog.at_level(logging.WARNING, logger="gateway"):
        gw = gateway_factory(one_provider(fake), env={"ENVIRONMENT": "production", "TEMP_API_KEY": "sk-prod-temp"})
        assert status_for(gw, "sk-prod-temp") == 200  # the instance loads its config on the first request
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("ADMIN_API_KEY" in w and "admin" in w and "disabled" in w for w in warnings), warnings
    assert status_for(gw, "adminadmin") == 401
    assert not any(p.role == "admin" for p in gw.gateway.table.keys.values())


def test_development_does_not_warn_about_the_admin_key(fake_factory, gateway_factory, caplog):
    fake = fake_factory("a")
    with caplog.at_level(logging.WARNING, logger="gateway"):
        gw = gateway_factory(one_provider(fake))
        status_for(gw, "adminadmin")
    assert not any("admin access is disabled" in r.getMessage() for r in caplog.records)
    # ...but says loudly that the public development keys are active.
    assert any("DEVELOPMENT KEYS ARE ACTIVE" in r.getMessage() for r in caplog.records)


def test_env_keys_may_call_every_model_while_config_keys_are_restricted(fake_factory, gateway_factory):
    fake_a, fake_b = fake_factory("a"), fake_factory("b")
    gw = gateway_factory(two_providers(fake_a, fake_b, gateway_key("sk-only-a", ["a/*"])), env=DEV_ENV)
    for key in DEFAULT_KEYS:
        client = gw.client(key)
        assert sorted(m.id for m in client.models.list().data) == ["claude-3-5-sonnet", "gpt-4o"]
        assert client.chat.completions.create(model="claude-3-5-sonnet", messages=HI).choices[0].message.content == "b says: hi"
        assert client.chat.completions.create(model="gpt-4o", messages=HI).choices[0].message.content == "a says: hi"
    with pytest.raises(openai.PermissionDeniedError):
        gw.client("sk-only-a").chat.completions.create(model="claude-3-5-sonnet", messages=HI)


def test_key_in_both_env_and_api_keys_keeps_the_config_restrictions(fake_factory, gateway_factory):
    fake_a, fake_b = fake_factory("a"), fake_factory("b")
    gw = gateway_factory(two_providers(fake_a, fake_b, gateway_key("sk-team-key", ["a/*"])),
                         env={"TEMP_API_KEY": "sk-team-key"})
    client = gw.client("sk-team-key")
    assert [m.id for m in client.models.list().data] == ["gpt-4o"]
    assert client.chat.completions.create(model="gpt-4o", messages=HI).choices[0].message.content == "a says: hi"
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="claude-3-5-sonnet", messages=HI)
    assert info.value.body["param"] == "model"
    assert fake_b.requests == []


def test_admin_env_key_listed_in_api_keys_as_user_keeps_the_config_role(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(one_provider(fake, gateway_key("sk-shared-admin", role="user")),
                         env={"ADMIN_API_KEY": "sk-shared-admin"})
    assert status_for(gw, "sk-shared-admin") == 200
    assert gw.gateway.authenticate({"authorization": "Bearer sk-shared-admin"}).role == "user"


# -- TIMEOUT_SECONDS / TIMEOUT ------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["TIMEOUT_SECONDS", "TIMEOUT"])
def test_timeout_variable_bounds_each_upstream_attempt(fake_factory, gateway_factory, variable):
    fake = fake_factory("a")
    fake.default = Reply(stall=2.0)  # answers after 2 s: would succeed with the 100 s default
    gw = gateway_factory(one_provider(fake), env={variable: "0.5"})
    started = time.perf_counter()
    with pytest.raises(openai.APIStatusError) as info:
        gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    elapsed = time.perf_counter() - started
    assert info.value.status_code == 504
    assert info.value.body["code"] == "timeout"
    assert 0.4 <= elapsed < 1.9, elapsed


def test_timeout_seconds_wins_over_its_alias_and_default_is_100():
    assert Settings.from_env({}).timeout == 100.0
    assert Settings.from_env({"TIMEOUT": "7"}).timeout == 7.0
    assert Settings.from_env({"TIMEOUT_SECONDS": "5", "TIMEOUT": "7"}).timeout == 5.0


@pytest.mark.parametrize("value", ["soon", "0", "-3", "nan", "inf"])
@pytest.mark.parametrize("variable", ["TIMEOUT_SECONDS", "TIMEOUT"])
def test_bad_timeout_value_is_a_clear_error_naming_the_variable(variable, value):
    with pytest.raises(ValueError) as info:
        Settings.from_env({variable: value})
    assert str(info.value).startswith(f"environment variable {variable}: expected a positive number of seconds")
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("variable,value", [("MAX_REQUEST_BYTES", "lots"), ("MAX_REQUEST_BYTES", "0"),
                                            ("PORT", "http"), ("PORT", "70000")])
def test_bad_numeric_settings_name_the_variable(variable, value):
    with pytest.raises(ValueError) as info:
        Settings.from_env({variable: value})
    assert str(info.value).startswith(f"environment variable {variable}: expected ")


# -- MAX_REQUEST_BYTES: each platform's own body limit by default ------------------------------------

@pytest.mark.parametrize("env, limit", [
    ({}, 10 * 1024 * 1024),  # python main.py
    ({"VERCEL": "1"}, 4_500_000),  # Vercel Functions: 4.5 MB
    ({"VERCEL": "1", "AWS_LAMBDA_FUNCTION_NAME": "vercel-fn"}, 4_500_000),  # Vercel runs on Lambda: Vercel wins
    ({"AWS_LAMBDA_FUNCTION_NAME": "uni-gateway"}, 6_000_000),  # Lambda: 6 MB event
    ({"K_SERVICE": "uni-gateway", "FUNCTION_TARGET": "gateway"}, 32_000_000),  # Cloud Functions gen2: 32 MB
    ({"K_SERVICE": "uni-gateway"}, 32_000_000),
])
def test_max_request_bytes_defaults_to_the_platform_limit(env, limit):
    assert Settings.from_env(env).max_body_bytes == limit


@pytest.mark.parametrize("platform_env", [{}, {"VERCEL": "1"}, {"AWS_LAMBDA_FUNCTION_NAME": "f"}, {"K_SERVICE": "s"}])
def test_explicit_max_request_bytes_wins_on_every_platform(platform_env):
    assert Settings.from_env({**platform_env, "MAX_REQUEST_BYTES": "123456"}).max_body_bytes == 123456

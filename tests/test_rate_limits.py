"""Per-key, per-model, global and per-upstream-key rate limits (sliding windows)."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.builders import config, gateway_key, provider
from tests.conftest import DEV_ENV

MSG = [{"role": "user", "content": "hi"}]


def post(gw, key="sk-user", model="gpt-4o"):
    return httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": model, "messages": MSG})


def one_provider(fake, *keys: dict, models: tuple[str, ...] = ("gpt-4o",), provider_prefs: dict | None = None,
                 **prefs) -> dict:
    """Provider a serving ``models``, the given gateway keys, and global preferences."""
    return config(provider("a", fake, models=list(models), preferences=provider_prefs), keys=keys, **prefs)


def test_key_rate_limit_answers_429_with_retry_after_and_ratelimit_headers(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(one_provider(fake, gateway_key("sk-user", RATE_LIMIT="3/min")))
    ok = [post(gw) for _ in range(3)]
    assert [r.status_code for r in ok] == [200, 200, 200]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in ok] == ["2", "1", "0"]
    assert ok[0].headers["x-ratelimit-limit-requests"] == "3"
    denied = post(gw)
    assert denied.status_code == 429
    assert denied.json()["error"]["code"] == "rate_limit_exceeded"
    assert 55 <= int(denied.headers["retry-after"]) <= 60
    assert len(fake.requests) == 3
    with pytest.raises(openai.RateLimitError):
        gw.client("sk-user").chat.completions.create(model="gpt-4o", messages=MSG)


def test_lowercase_rate_limit_spelling_is_enforced_too(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(one_provider(fake, gateway_key("sk-user", rate_limit="1/min")))
    assert [post(gw).status_code for _ in range(2)] == [200, 429]


def test_every_window_must_pass_and_denied_requests_consume_nothing(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(one_provider(fake, gateway_key("sk-user", RATE_LIMIT="2/s,3/min")))
    assert [post(gw).status_code for _ in range(3)] == [200, 200, 429]  # the 2/s window bites
    time.sleep(1.1)
    # The denied request above did not count against 3/min: one more is admitted, then 3/min bites.
    assert [post(gw).status_code for _ in range(2)] == [200, 429]
    time.sleep(1.1)
    assert post(gw).status_code == 429


def test_windows_slide(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(one_provider(fake, gateway_key("sk-user", RATE_LIMIT="2/1s")))
    assert [post(gw).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(1.05)
    assert post(gw).status_code == 200


def test_per_model_limits_with_a_default_for_other_models(fake_factory, gateway_factory):
    fake = fake_factory("a", models=("gpt-4o", "cheap", "other"))
    gw = gateway_factory(one_provider(fake, gateway_key("sk-user", RATE_LIMIT={"gpt-4o": "1/min", "default": "2/min"}),
                                      models=("gpt-4o", "cheap", "other")))
    assert [post(gw, model="gpt-4o").status_code for _ in range(2)] == [200, 429]
    assert [post(gw, model="cheap").status_code for _ in range(3)] == [200, 200, 429]
    assert [post(gw, model="other").status_code for _ in range(3)] == [200, 200, 429]  # default is per model


def test_rate_limits_are_per_key(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(one_provider(fake, gateway_key("sk-one", RATE_LIMIT="1/min"), gateway_key("sk-two", RATE_LIMIT="1/min")))
    assert [post(gw, "sk-one").status_code, post(gw, "sk-two").status_code, post(gw, "sk-one").status_code] == [200, 200, 429]


def test_global_rate_limit_is_shared_by_every_caller(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(one_provider(fake, gateway_key("sk-one"), gateway_key("sk-two"), rate_limit="2/min"), env=DEV_ENV)
    assert [post(gw, "sk-one").status_code, post(gw, "sk-two").status_code, post(gw, "temp_api_key").status_code] == [200, 200, 429]


def test_api_key_rate_limit_spreads_load_over_upstream_keys_then_stops(fake_factory, gateway_factory):
    fake = fake_factory("a", keys=("sk-k1", "sk-k2"))
    gw = gateway_factory(config(provider("a", fake, api=["sk-k1", "sk-k2"], models=["gpt-4o"], preferences={
        "api_key_rate_limit": "1/min", "api_key_schedule_algorithm": "fixed_priority"})))
    assert [post(gw, "temp_api_key").status_code for _ in range(2)] == [200, 200]
    assert [r["key"] for r in fake.requests] == ["sk-k1", "sk-k2"]  # k1 full: k2 used despite fixed priority
    third = post(gw, "temp_api_key")
    assert third.status_code == 503 and third.json()["error"]["code"] == "no_channel_available"
    assert len(fake.requests) == 2


def test_api_key_rate_limit_per_model_map(fake_factory, gateway_factory):
    fake = fake_factory("a", models=("gpt-4o", "mini"))
    gw = gateway_factory(one_provider(fake, models=("gpt-4o", "mini"),
                                      provider_prefs={"api_key_rate_limit": {"gpt-4o": "1/min", "default": "2/min"}}))
    assert [post(gw, "temp_api_key", "gpt-4o").status_code for _ in range(2)] == [200, 503]
    assert [post(gw, "temp_api_key", "mini").status_code for _ in range(3)] == [200, 200, 503]

"""uni-api config parity (issue 15): the settings of uni-api's current api.yaml, each enforced."""

from __future__ import annotations

import time

import openai
import pytest

from shared.settings import Settings
from tests.builders import UPSTREAM_KEY as KEY
from tests.builders import config, provider
from tests.fakes.openai_fake import Reply

MSG = [{"role": "user", "content": "hi"}]


def ask(client, model: str = "gpt-4o", **kw):
    return client.chat.completions.create(model=model, messages=MSG, **kw)


# -- timeouts: model_timeout per attempt, request_timeout for the whole request ------------------------


def test_after_a_timeout_the_next_channel_gets_its_own_full_model_timeout(fake_factory, gateway_factory):
    slow, good = fake_factory("a"), fake_factory("b")
    slow.default = Reply(stall=5)
    good.default = Reply(stall=0.4)  # needs most of its own timeout: it must not inherit a's spent budget
    gw = gateway_factory(config(provider("a", slow, api=KEY, models=["gpt-4o"]),
                                provider("b", good, api=KEY, models=["gpt-4o"]),
                                model_timeout={"default": 0.6}))
    raw = gw.client().chat.completions.with_raw_response.create(model="gpt-4o", messages=MSG)
    assert raw.parse().choices[0].message.content == "b says: hi"
    assert raw.headers["x-gateway-provider"] == "b"


def test_request_timeout_caps_every_attempt_together(fake_factory, gateway_factory):
    a, b = fake_factory("a"), fake_factory("b")
    a.default = b.default = Reply(stall=5)
    gw = gateway_factory(config(provider("a", a, api=KEY, models=["gpt-4o"]),
                                provider("b", b, api=KEY, models=["gpt-4o"]),
                                model_timeout={"default": 1}, request_timeout=1.5))
    started = time.perf_counter()
    with pytest.raises(openai.APIStatusError) as err:
        ask(gw.client())
    elapsed = time.perf_counter() - started
    assert err.value.status_code == 504 and err.value.body["code"] == "timeout"
    assert 1.4 <= elapsed < 1.95, elapsed  # without the cap: 2 s (two full attempts)
    assert len(a.requests) == 1 and len(b.requests) == 1


def test_request_timeout_seconds_variable_is_the_default_and_the_config_wins(fake_factory, gateway_factory):
    a, b = fake_factory("a"), fake_factory("b")
    a.default = b.default = Reply(stall=5)
    cfg = config(provider("a", a, api=KEY, models=["gpt-4o"]), provider("b", b, api=KEY, models=["gpt-4o"]),
                 model_timeout={"default": 1})
    gw = gateway_factory(cfg, env={"REQUEST_TIMEOUT_SECONDS": "0.5"})
    started = time.perf_counter()
    with pytest.raises(openai.APIStatusError):
        ask(gw.client())
    assert time.perf_counter() - started < 0.95
    assert len(b.requests) == 0  # the budget was spent on a


@pytest.mark.parametrize("env, seconds", [
    ({}, 600.0), ({"VERCEL": "1"}, 290.0), ({"AWS_LAMBDA_FUNCTION_NAME": "f"}, 290.0), ({"K_SERVICE": "s"}, 290.0),
    ({"VERCEL": "1", "REQUEST_TIMEOUT_SECONDS": "55"}, 55.0),
])
def test_request_timeout_defaults_to_fit_the_platform(env, seconds):
    assert Settings.from_env(env).request_timeout == seconds


def test_bad_request_timeout_is_refused():
    with pytest.raises(ValueError, match="REQUEST_TIMEOUT_SECONDS"):
        Settings.from_env({"REQUEST_TIMEOUT_SECONDS": "0"})

"""Retries, failure classes, cooldowns, timeouts and broken streams."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.builders import UPSTREAM_KEY as KEY
from tests.builders import config, gateway_key, provider
from tests.fakes.openai_fake import Reply
from tests.fakes.server import free_port

MSG = [{"role": "user", "content": "hi"}]


def ask(client, **kw):
    return client.chat.completions.create(model="gpt-4o", messages=MSG, **kw)


def two_channels(a, b, key_prefs: dict | None = None, a_prefs: dict | None = None, **prefs) -> dict:
    """Providers a then b, both serving gpt-4o with KEY; gateway key sk-user; global preferences."""
    return config(provider("a", a, api=KEY, models=["gpt-4o"], preferences=a_prefs),
                  provider("b", b, api=KEY, models=["gpt-4o"]),
                  keys=[gateway_key("sk-user", **(key_prefs or {}))], **prefs)


@pytest.fixture
def ab(fake_factory):
    return fake_factory("a"), fake_factory("b")


FAILURES = {
    "500": Reply(status=500), "502": Reply(status=502), "503": Reply(status=503), "429": Reply(status=429),
    "408": Reply(status=408), "401": Reply(status=401), "403": Reply(status=403), "404": Reply(status=404),
}
CASES = [(name, reply, stream) for name, reply in FAILURES.items() for stream in (False, True)]
CASES.append(("first-chunk-error", Reply(first_event_error=True), True))  # in-band errors exist in streams only


@pytest.mark.parametrize("name,reply,stream", CASES, ids=[f"{n}-{'stream' if s else 'json'}" for n, _, s in CASES])
def test_a_failed_attempt_moves_on_to_the_next_channel(ab, gateway_factory, name, reply, stream):
    a, b = ab
    a.then(reply)
    gw = gateway_factory(two_channels(a, b))
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in ask(gw.client("sk-user"), stream=True) if c.choices)
    else:
        text = ask(gw.client("sk-user")).choices[0].message.content
    assert text == "b says: hi"
    assert len(a.requests) == 1 and len(b.requests) == 1


def test_connection_refused_and_timeout_move_on(fake_factory, gateway_factory):
    b = fake_factory("b")
    dead = f"http://127.0.0.1:{free_port()}"
    staller = fake_factory("a")
    staller.default = Reply(stall=5)
    gw = gateway_factory(config(provider("dead", dead, api=KEY, models=["gpt-4o"]),
                                provider("slow", staller, api=KEY, models=["gpt-4o"], preferences={"model_timeout": {"gpt-4o": 0.5}}),
                                provider("b", b, api=KEY, models=["gpt-4o"])))
    started = time.time()
    raw = gw.client().chat.completions.with_raw_response.create(model="gpt-4o", messages=MSG)
    assert raw.parse().choices[0].message.content == "b says: hi"
    assert raw.headers["x-gateway-provider"] == "b"
    assert "attempts;desc=3" in raw.headers["server-timing"]
    assert time.time() - started < 3


@pytest.mark.parametrize("status", [400, 413, 422])
def test_request_errors_from_upstream_are_returned_at_once_without_retry(ab, gateway_factory, status):
    a, b = ab
    a.then(Reply(status=status, error_body={"error": {"message": "context too long", "type": "invalid_request_error",
                                                      "param": "messages", "code": "context_length_exceeded"}}))
    gw = gateway_factory(two_channels(a, b))
    with pytest.raises(openai.APIStatusError) as err:
        ask(gw.client("sk-user"))
    assert err.value.status_code == (400 if status == 422 else status)
    assert err.value.body["message"] == "context too long"
    assert err.value.body["code"] == "context_length_exceeded"
    assert len(b.requests) == 0


def test_auto_retry_false_makes_a_single_attempt(ab, gateway_factory):
    a, b = ab
    a.then(Reply(status=500))
    gw = gateway_factory(two_channels(a, b, key_prefs={"AUTO_RETRY": False}))
    with pytest.raises(openai.APIStatusError) as err:
        ask(gw.client("sk-user"))
    assert err.value.status_code == 502 and len(b.requests) == 0


def test_auto_retry_integer_caps_the_number_of_attempts(fake_factory, gateway_factory):
    fakes = [fake_factory(n) for n in "abc"]
    for f in fakes:
        f.default = Reply(status=500)
    gw = gateway_factory(config(*(provider(f.name, f, api=KEY, models=["gpt-4o"]) for f in fakes),
                                keys=[gateway_key("sk-user", AUTO_RETRY=2)]))
    with pytest.raises(openai.APIStatusError):
        ask(gw.client("sk-user"))
    assert [len(f.requests) for f in fakes] == [1, 1, 0]


def test_all_channels_failing_gives_502_with_reasons_and_no_upstream_key(ab, gateway_factory):
    a, b = ab
    a.default = Reply(status=503, error_body={"error": {"message": f"overloaded, key {KEY} is fine", "type": "server_error"}})
    b.keys = {"some-other-key"}  # b answers 401 and echoes the key it got
    gw = gateway_factory(two_channels(a, b))
    r = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer sk-user"},
                   json={"model": "gpt-4o", "messages": MSG})
    assert r.status_code == 502
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert "a (gpt-4o): HTTP 503" in err["message"] and "b (gpt-4o): HTTP 401" in err["message"]
    assert KEY not in r.text and "Incorrect API key" not in r.text
    assert KEY not in str(dict(r.headers))


def test_all_channels_timing_out_gives_504(ab, gateway_factory):
    a, b = ab
    a.default = b.default = Reply(stall=3)
    gw = gateway_factory(two_channels(a, b, model_timeout={"default": 0.4}))
    with pytest.raises(openai.APIStatusError) as err:
        ask(gw.client("sk-user"))
    assert err.value.status_code == 504 and err.value.body["code"] == "timeout"


def test_all_channels_rate_limited_gives_429_with_retry_after(ab, gateway_factory):
    a, b = ab
    a.default = Reply(status=429, headers={"retry-after": "7"})
    b.default = Reply(status=429, headers={"retry-after": "3"})
    gw = gateway_factory(two_channels(a, b))
    r = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer sk-user"},
                   json={"model": "gpt-4o", "messages": MSG})
    assert r.status_code == 429 and r.headers["retry-after"] == "3"


def test_failed_channel_is_skipped_during_its_cooldown_and_used_again_after(ab, gateway_factory):
    a, b = ab
    a.then(Reply(status=500))
    gw = gateway_factory(two_channels(a, b, cooldown_period=1.5))
    client = gw.client("sk-user")
    assert ask(client).choices[0].message.content == "b says: hi"  # a failed, b answered
    for _ in range(3):
        assert ask(client).choices[0].message.content == "b says: hi"
    assert len(a.requests) == 1  # fixed_priority would pick a first: it was skipped while cooling
    time.sleep(1.7)
    assert ask(client).choices[0].message.content == "a says: hi"


def test_cooled_channel_is_still_tried_as_a_last_resort(ab, gateway_factory):
    a, b = ab
    a.then(Reply(status=500))
    gw = gateway_factory(two_channels(a, b, cooldown_period=60))
    client = gw.client("sk-user")
    ask(client)
    b.then(Reply(status=500))
    assert ask(client).choices[0].message.content == "a says: hi"


def test_cooldown_is_not_applied_to_the_only_candidate(fake_factory, gateway_factory):
    a = fake_factory("a")
    a.then(Reply(status=500))
    gw = gateway_factory(config(provider("a", a, api=KEY, models=["gpt-4o"]), cooldown_period=60))
    with pytest.raises(openai.APIStatusError):
        ask(gw.client())
    assert ask(gw.client()).choices[0].message.content == "a says: hi"
    assert gw.gateway.store._cooldowns == {}


def test_cooldown_period_zero_disables_cooldown(ab, gateway_factory):
    a, b = ab
    a.then(Reply(status=500))
    gw = gateway_factory(two_channels(a, b, cooldown_period=0))
    ask(gw.client("sk-user"))
    assert ask(gw.client("sk-user")).choices[0].message.content == "a says: hi"


def test_provider_cooldown_period_overrides_the_global_one(ab, gateway_factory):
    a, b = ab
    a.then(Reply(status=500))
    gw = gateway_factory(two_channels(a, b, a_prefs={"cooldown_period": 0.5}, cooldown_period=600))
    ask(gw.client("sk-user"))
    time.sleep(0.7)
    assert ask(gw.client("sk-user")).choices[0].message.content == "a says: hi"


def test_bad_upstream_key_is_cooled_and_the_next_key_is_used(fake_factory, gateway_factory):
    fake = fake_factory("a", keys=("sk-good",))
    gw = gateway_factory(config(provider("a", fake, api=["sk-revoked", "sk-good"], models=["gpt-4o"], preferences={
        "api_key_cooldown_period": 60, "api_key_schedule_algorithm": "fixed_priority"})))
    client = gw.client()
    assert ask(client).choices[0].message.content == "a says: hi"
    assert [r["key"] for r in fake.requests] == ["sk-revoked", "sk-good"]
    ask(client)
    ask(client)
    assert [r["key"] for r in fake.requests[2:]] == ["sk-good", "sk-good"]  # the revoked key rests


def test_retry_after_429_cools_that_upstream_key_for_that_long(fake_factory, gateway_factory):
    fake = fake_factory("a", keys=("sk-k1", "sk-k2"))
    fake.then(Reply(status=429, headers={"retry-after": "1"}))
    gw = gateway_factory(config(provider("a", fake, api=["sk-k1", "sk-k2"], models=["gpt-4o"],
                                         preferences={"api_key_schedule_algorithm": "fixed_priority"})))
    client = gw.client()
    ask(client)
    assert [r["key"] for r in fake.requests] == ["sk-k1", "sk-k2"]
    ask(client)
    assert fake.requests[-1]["key"] == "sk-k2"
    time.sleep(1.2)
    ask(client)
    assert fake.requests[-1]["key"] == "sk-k1"


def test_single_key_told_to_back_off_answers_429_without_calling_upstream(fake_factory, gateway_factory):
    fake = fake_factory("a")
    fake.then(Reply(status=429, headers={"retry-after": "30"}))
    gw = gateway_factory(config(provider("a", fake, api=KEY, models=["gpt-4o"])))
    with pytest.raises(openai.RateLimitError):
        ask(gw.client())
    r = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer temp_api_key"},
                   json={"model": "gpt-4o", "messages": MSG})
    assert r.status_code == 429 and 25 <= int(r.headers["retry-after"]) <= 30
    assert len(fake.requests) == 1


def test_model_timeout_uses_the_longest_matching_prefix(fake_factory, gateway_factory):
    fake = fake_factory("a", models=("gpt-4o", "gpt-4o-mini"))
    fake.default = Reply(stall=1.0)
    gw = gateway_factory(config(provider("a", fake, api=KEY, models=["gpt-4o", "gpt-4o-mini"]),
                                model_timeout={"gpt-4o": 0.3, "gpt-4o-mini": 3, "default": 0.1}))
    client = gw.client()
    with pytest.raises(openai.APIStatusError) as err:
        ask(client)
    assert err.value.status_code == 504
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert answer.choices[0].message.content == "a says: hi"


def test_error_trigger_in_the_answer_counts_as_a_failure(ab, gateway_factory):
    a, b = ab
    a.then(Reply(text="Sorry, upstream quota exhausted today"), Reply(text="Sorry, upstream quota exhausted today"))
    gw = gateway_factory(two_channels(a, b, error_triggers=["quota exhausted"]))
    assert ask(gw.client("sk-user")).choices[0].message.content == "b says: hi"
    text = "".join(c.choices[0].delta.content or "" for c in ask(gw.client("sk-user"), stream=True) if c.choices)
    assert text == "b says: hi"


def test_stream_broken_midway_ends_with_an_error_event_and_done(ab, gateway_factory):
    a, b = ab
    a.then(Reply(text="one two three four five", break_after=2))
    gw = gateway_factory(two_channels(a, b))
    with httpx.stream("POST", gw.url + "/v1/chat/completions", headers={"authorization": "Bearer sk-user"},
                      json={"model": "gpt-4o", "messages": MSG, "stream": True}) as r:
        body = r.read().decode()
    assert r.status_code == 200
    events = [e for e in body.split("\n\n") if e]
    assert '" two"' in events[-3]  # what was already sent stays sent
    assert events[-2].startswith('data: {"error"') and "upstream_stream_error" in events[-2]
    assert events[-1] == "data: [DONE]"
    assert len(b.requests) == 0  # no silent switch once bytes reached the client


def test_sdk_raises_on_a_stream_that_breaks_after_it_started(ab, gateway_factory):
    a, b = ab
    a.then(Reply(text="one two three four", break_after=1))
    gw = gateway_factory(two_channels(a, b))
    got = []
    with pytest.raises(openai.APIError):
        for chunk in ask(gw.client("sk-user"), stream=True):
            if chunk.choices:
                got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "one"


def test_upstream_stream_ending_without_done_is_reported_not_truncated_silently(ab, gateway_factory):
    a, b = ab
    a.then(Reply(no_done=True))
    gw = gateway_factory(two_channels(a, b))
    with httpx.stream("POST", gw.url + "/v1/chat/completions", headers={"authorization": "Bearer sk-user"},
                      json={"model": "gpt-4o", "messages": MSG, "stream": True}) as r:
        body = r.read().decode()
    assert body.endswith('data: [DONE]\n\n') and '"error"' in body.split("\n\n")[-3]


def test_streams_are_forwarded_as_they_arrive(ab, gateway_factory):
    a, b = ab
    a.default = Reply(text="w1 w2 w3 w4 w5", chunk_delay=0.3)
    gw = gateway_factory(two_channels(a, b))
    stamps = []
    start = time.time()
    for chunk in ask(gw.client("sk-user"), stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.time() - start)
    assert len(stamps) == 5
    assert stamps[-1] - stamps[0] > 1.0  # spread out, not delivered in one burst at the end


def test_a_stream_the_client_leaves_is_still_counted(ab, gateway_factory):
    import asyncio

    from shared.store.memory import day_of

    a, b = ab
    a.default = Reply(text="w1 w2 w3 w4 w5 w6 w7 w8", chunk_delay=0.2)
    gw = gateway_factory(two_channels(a, b))
    with httpx.stream("POST", gw.url + "/v1/chat/completions", headers={"authorization": "Bearer sk-user"},
                      json={"model": "gpt-4o", "messages": MSG, "stream": True}) as r:
        for line in r.iter_lines():
            if '"w2"' in line or " w2" in line:
                break  # leave after two words of eight
    policy = next(p for p in gw.gateway.table.keys.values() if p.source == "api_keys[0]")
    deadline = time.time() + 5
    usage = {}
    while time.time() < deadline and not usage:
        usage = asyncio.run(gw.gateway.store.get_usage(policy.key_id, day_of(time.time())))
        time.sleep(0.05)
    assert usage.get("gpt-4o:requests") == 1

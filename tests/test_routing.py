"""Permission rules, renames and per-provider request shaping, seen from the OpenAI SDK."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.builders import CHAT_COMPLETIONS, config, gateway_key, provider
from tests.fakes.openai_fake import Reply
from tests.conftest import DEV_ENV

MSG = [{"role": "user", "content": "hi"}]


def ask(client, model, **kw):
    return client.chat.completions.create(model=model, messages=MSG, **kw)


@pytest.fixture
def three(fake_factory):
    return fake_factory("a", models=("gpt-4o", "a-only")), fake_factory("b"), fake_factory("c")


FRIENDLY = {"real-upstream-name": "friendly"}  # b serves its upstream model under an alias


def routed(a, b, c, *keys: dict, b_models: tuple = ("gpt-4o", FRIENDLY)) -> dict:
    """Three providers (a and b both serve gpt-4o) and the given gateway keys (none: no api_keys section)."""
    return config(provider("a", a, path=CHAT_COMPLETIONS, models=["gpt-4o", "a-only"]),
                  provider("b", b, models=list(b_models)),
                  provider("c", c, path=CHAT_COMPLETIONS, models=["anthropic/claude-3-5-sonnet"]),
                  keys=keys)


def test_plain_name_rule_tries_every_provider_serving_it_in_config_order(three, gateway_factory):
    a, b, c = three
    a.then(Reply(status=500))
    gw = gateway_factory(routed(a, b, c, gateway_key("sk-user", ["gpt-4o"])))
    answer = ask(gw.client("sk-user"), "gpt-4o")
    assert answer.choices[0].message.content == "b says: hi"
    assert len(a.requests) == 1 and len(b.requests) == 1


def test_provider_star_rule_grants_all_models_of_that_provider_only(three, gateway_factory):
    a, b, c = three
    gw = gateway_factory(routed(a, b, c, gateway_key("sk-user", ["a/*"])))
    client = gw.client("sk-user")
    assert sorted(m.id for m in client.models.list()) == ["a-only", "gpt-4o"]
    assert ask(client, "a-only").choices[0].message.content == "a says: hi"
    ask(client, "gpt-4o")
    assert len(b.requests) == 0  # b serves gpt-4o too, but the rule names provider a only
    with pytest.raises(openai.PermissionDeniedError) as err:
        ask(client, "friendly")
    assert err.value.body["code"] == "model_not_allowed"


def test_provider_slash_model_rule_uses_that_provider_only(three, gateway_factory):
    a, b, c = three
    gw = gateway_factory(routed(a, b, c, gateway_key("sk-user", ["b/gpt-4o"])))
    client = gw.client("sk-user")
    assert [m.id for m in client.models.list()] == ["gpt-4o"]
    assert ask(client, "gpt-4o").choices[0].message.content == "b says: hi"
    assert len(a.requests) == 0


def test_angle_brackets_match_a_literal_name_containing_a_slash(three, gateway_factory):
    a, b, c = three
    gw = gateway_factory(routed(a, b, c, gateway_key("sk-user", ["<anthropic/claude-3-5-sonnet>"])))
    client = gw.client("sk-user")
    assert [m.id for m in client.models.list()] == ["anthropic/claude-3-5-sonnet"]
    assert ask(client, "anthropic/claude-3-5-sonnet").choices[0].message.content == "c says: hi"
    assert c.requests[0]["body"]["model"] == "anthropic/claude-3-5-sonnet"


def test_all_and_star_rules_and_absent_rules_grant_everything(three, gateway_factory):
    a, b, c = three
    gw = gateway_factory(routed(a, b, c, gateway_key("sk-all", ["all"]), gateway_key("sk-star", ["*"]), gateway_key("sk-none")),
                         env=DEV_ENV)
    expected = {"gpt-4o", "a-only", "friendly", "anthropic/claude-3-5-sonnet"}
    for key in ("sk-all", "sk-star", "sk-none", "temp_api_key", "adminadmin"):
        assert {m.id for m in gw.client(key).models.list()} == expected


def test_rename_serves_only_the_alias_unless_the_upstream_name_is_listed(three, gateway_factory):
    a, b, c = three
    gw = gateway_factory(routed(a, b, c))
    client = gw.client()
    assert ask(client, "friendly").choices[0].message.content == "b says: hi"
    assert b.requests[-1]["body"]["model"] == "real-upstream-name"
    with pytest.raises(openai.NotFoundError):
        ask(client, "real-upstream-name")
    gw2 = gateway_factory(routed(a, b, c, b_models=("gpt-4o", FRIENDLY, "real-upstream-name")))
    assert ask(gw2.client(), "real-upstream-name").choices[0].message.content == "b says: hi"


def test_models_endpoint_lists_exactly_the_keys_models_in_openai_shape(three, gateway_factory):
    a, b, c = three
    gw = gateway_factory(routed(a, b, c, gateway_key("sk-user", ["friendly", "<anthropic/claude-3-5-sonnet>", "a/a-only"])))
    r = httpx.get(gw.url + "/v1/models", headers={"authorization": "Bearer sk-user"})
    body = r.json()
    assert r.status_code == 200 and body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["friendly", "anthropic/claude-3-5-sonnet", "a-only"]
    assert all(m["object"] == "model" and isinstance(m["created"], int) and m["owned_by"] for m in body["data"])


def test_weighted_rules_keep_rule_order_and_deduplicate_channels(three, gateway_factory):
    a, b, c = three
    gw = gateway_factory(routed(a, b, c, gateway_key("sk-user", [{"b/*": 3}, "gpt-4o"])))
    gw.client("sk-user").models.list()  # the routing table is compiled on the first request
    policy = next(p for p in gw.gateway.table.keys.values() if p.source == "api_keys[0]")
    route = policy.routes["gpt-4o"]
    assert [(c.channel.provider.name, c.weight) for c in route] == [("b", 3), ("a", 1)]


def test_tools_false_strips_tools_before_sending(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"], tools=False)))
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    ask(gw.client(), "gpt-4o", tools=tools, tool_choice="auto")
    sent = fake.requests[-1]["body"]
    assert "tools" not in sent and "tool_choice" not in sent


def test_tools_pass_through_by_default_and_tool_calls_come_back(fake_factory, gateway_factory):
    fake = fake_factory("a")
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    fake.then(Reply(tool_calls=[call]), Reply(tool_calls=[call]))
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"])))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    answer = ask(gw.client(), "gpt-4o", tools=tools)
    assert fake.requests[-1]["body"]["tools"] == tools
    assert answer.choices[0].finish_reason == "tool_calls"
    assert answer.choices[0].message.tool_calls[0].function.arguments == '{"city": "Paris"}'
    stream = ask(gw.client(), "gpt-4o", tools=tools, stream=True)
    args, names = "", []
    for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            args += tc.function.arguments or ""
            if tc.function.name:
                names.append(tc.function.name)
    assert names == ["get_weather"] and args == '{"city": "Paris"}'


def test_headers_and_body_overrides_reach_the_upstream(fake_factory, gateway_factory):
    fake = fake_factory("a", models=("gpt-4o", "o1"))
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o", {"o1-2024": "o1"}], preferences={
        "headers": {"X-Team": "research"},
        "post_body_parameter_overrides": {"seed": 42, "o1": {"reasoning_effort": "high", "__remove__": ["temperature"]}},
    })))
    client = gw.client()
    ask(client, "gpt-4o", temperature=0.5)
    first = fake.requests[-1]
    assert first["headers"]["x-team"] == "research"
    assert first["body"]["seed"] == 42 and first["body"]["temperature"] == 0.5 and "reasoning_effort" not in first["body"]
    ask(client, "o1", temperature=0.5)
    second = fake.requests[-1]["body"]
    assert second["model"] == "o1-2024" and second["reasoning_effort"] == "high" and second["seed"] == 42
    assert "temperature" not in second


def test_provider_without_model_list_is_discovered_from_upstream_models(fake_factory, gateway_factory):
    fake = fake_factory("a", models=("m-one", "m-two"))
    gw = gateway_factory(config(provider("a", fake, path=CHAT_COMPLETIONS)))
    client = gw.client()
    assert sorted(m.id for m in client.models.list()) == ["m-one", "m-two"]
    assert ask(client, "m-two").choices[0].message.content == "a says: hi"
    client.models.list()
    assert sum(1 for r in fake.requests if r["path"] == "/v1/models") == 1  # fetched once per instance


def test_enable_moderation_refuses_flagged_messages_and_lets_others_through(fake_factory, gateway_factory):
    fake = fake_factory("openai-test", models=("gpt-4o", "text-moderation-latest"))
    gw = gateway_factory(config(
        provider("openai-test", fake, path=CHAT_COMPLETIONS, models=["gpt-4o", "text-moderation-latest"]),
        keys=[gateway_key("sk-moderated", ["gpt-4o", "openai-test/text-moderation-latest"], ENABLE_MODERATION=True),
              gateway_key("sk-free", ["gpt-4o"])]))
    moderated = gw.client("sk-moderated")
    with pytest.raises(openai.BadRequestError) as err:
        moderated.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "plan an attack"}])
    assert err.value.body["code"] == "content_filter" and "violence" in err.value.body["message"]
    assert ask(moderated, "gpt-4o").choices[0].message.content == "openai-test says: hi"
    mod_calls = [r for r in fake.requests if r["path"] == "/v1/moderations"]
    assert len(mod_calls) == 2 and mod_calls[0]["body"] == {"model": "text-moderation-latest", "input": "plan an attack"}
    chat_calls = [r for r in fake.requests if r["path"] == "/v1/chat/completions"]
    assert len(chat_calls) == 1  # the flagged request never reached the model
    free = gw.client("sk-free")
    free.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "plan an attack"}])
    assert len([r for r in fake.requests if r["path"] == "/v1/moderations"]) == 2  # not moderated

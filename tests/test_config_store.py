"""The config in the shared store: seeding, versions, and every instance following a change on its
next request (README, "Where the config lives").

Instances here are gateway processes (``python main.py``) and in-process gateways on one real
redis-server, through Redis over TCP and through the Upstash REST protocol (the bridge); upstreams
are fake OpenAI servers. A change is written by one instance and must be served by the others on
their very next request:

* a new gateway key works on its first request (the 401 path asks the store for its version);
* a revoked key is refused on its first request after the change (``admit`` saw the new version
  and counted nothing; the request ran again on the new config);
* a changed ``base_url`` is used by the next request, and a new model is found.

The multi-process test makes its change through one process's admin API (``PUT
/admin/api/config``); the others make theirs through ``Gateway.save_config``, what that endpoint calls.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import uuid
from typing import Any

import httpx
import pytest

from shared.config import ConfigError
from shared.gateway import Gateway
from shared.settings import Settings
from shared.store import MemoryStore
from tests.builders import CHAT_COMPLETIONS, config, gateway_key, provider
from tests.conftest import DEV_ENV, FakeServers
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.upstash_bridge import UpstashBridge
from tests.processes import stop_process
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (fixture)
from tests.test_multi_instance import start_gateways

MSG = [{"role": "user", "content": "hi"}]


def chat(url: str, key: str, model: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": model, "messages": MSG}, timeout=30)


def store_env(kind: str, server: RedisServer, fakes: FakeServers) -> dict[str, str]:
    env = {"STORE_PREFIX": f"cfg-{uuid.uuid4().hex[:8]}:", "STORE_TIMEOUT_SECONDS": "5"}
    if kind == "redis":
        env["REDIS_URL"] = server.url
    else:
        bridge = fakes(server.port, kind=UpstashBridge)
        env.update(UPSTASH_REDIS_REST_URL=bridge.url, UPSTASH_REDIS_REST_TOKEN=bridge.token)
    return env


def first(fake: FakeOpenAI, second: FakeOpenAI) -> dict[str, Any]:
    return config(provider("p1", fake, path=CHAT_COMPLETIONS, models=["m1"]),
                  keys=[gateway_key("sk-old"), gateway_key("sk-stays")])


def changed(fake: FakeOpenAI, second: FakeOpenAI) -> dict[str, Any]:
    """p1 moves to the second upstream, p2 and its model m2 are new, sk-old is revoked, sk-new is new."""
    return config(provider("p1", second, path=CHAT_COMPLETIONS, models=["m1"]),
                  provider("p2", second, path=CHAT_COMPLETIONS, models=["m2"]),
                  keys=[gateway_key("sk-new"), gateway_key("sk-stays")])


@pytest.mark.parametrize("kind", ["redis", "upstash"])
def test_a_change_written_by_one_instance_is_served_by_the_others_on_their_next_request(kind, redis_server) -> None:  # noqa: F811
    with FakeServers() as fakes, tempfile.TemporaryDirectory() as logdir:
        one, two = fakes("one"), fakes("two")
        env = store_env(kind, redis_server, fakes)
        procs, urls = start_gateways({k: v for k, v in env.items() if k != "STORE_TIMEOUT_SECONDS"},
                                     json.dumps(first(one, two)), logdir)
        try:
            for url in urls:  # each instance has served a request on the first config
                assert chat(url, "sk-old", "m1").status_code == 200
            assert len(one.requests) == 3 and not two.requests
            health = httpx.get(urls[0] + "/healthz").json()
            assert health["config_version"] == 1

            # The change goes through instance 0's admin API, as the panel sends it.
            admin = {"authorization": f"Bearer {DEV_ENV['ADMIN_API_KEY']}"}
            current = httpx.get(urls[0] + "/admin/api/config", headers=admin).json()
            assert current["version"] == 1 and current["source"] == "seed:CONFIG_YAML"
            saved = httpx.put(urls[0] + "/admin/api/config", headers=admin, json={"version": 1, "config": changed(one, two)})
            assert saved.status_code == 200 and saved.json()["version"] == 2, saved.text
            new_key = chat(urls[0], "sk-new", "m2")  # unknown to instance 0 until it asks the store
            assert new_key.status_code == 200, new_key.text
            revoked = chat(urls[1], "sk-old", "m1")  # known to instance 1's old config: admit says stale
            assert revoked.status_code == 401, revoked.text
            moved = chat(urls[2], "sk-stays", "m1")  # instance 2: same key and model, new base_url
            assert moved.status_code == 200 and moved.headers["x-gateway-provider"] == "p1"
            assert len(one.requests) == 3, "nothing went to the old upstream after the change"
            assert [r["body"]["model"] for r in two.requests] == ["m2", "m1"]
            for url in urls:
                assert httpx.get(url + "/healthz").json()["config_version"] == 2
                assert chat(url, "sk-old", "m1").status_code == 401
                assert chat(url, "sk-new", "m1").status_code == 200
        finally:
            stop_process(*procs, timeout=5)


# -- seeding and precedence, in-process gateways on one store --------------------------------------------------

@pytest.fixture
def shared_env(redis_server, fake_factory) -> dict[str, str]:  # noqa: F811
    return store_env("redis", redis_server, fake_factory)


def test_the_first_instance_seeds_the_store_with_the_config_as_written(gateway_factory, fake_factory) -> None:
    fake = fake_factory("a")
    store = MemoryStore()
    text = f"providers:\n  - provider: a\n    base_url: {fake.url}/v1\n    api: ${{UP_KEY}}\n    model: [m]\n"
    gw = gateway_factory(text, env={"UP_KEY": "sk-upstream-key-1"}, store=store)
    assert gw.client().chat.completions.create(model="m", messages=MSG).choices[0].message.content
    stored = asyncio.run(store.get_config())
    assert stored is not None and stored.version == 1
    assert stored.meta["source"] == "seed"
    assert stored.document["providers"][0]["api"] == "${UP_KEY}"  # the secret stays in the environment
    [entry] = asyncio.run(store.get_audit(10))
    assert entry["action"] == "config.seed" and entry["version"] == 1


def test_while_the_store_holds_a_seed_each_instance_serves_its_own_file(shared_env, fake_factory, gateway_factory) -> None:
    a, b, c = fake_factory("a"), fake_factory("b"), fake_factory("c")
    one = gateway_factory(config(provider("p", a, models=["m"])), env={**DEV_ENV, **shared_env})
    assert one.client().chat.completions.create(model="m", messages=MSG).model
    # A new deploy (another file) starts: it replaces the seed with its own.
    two = gateway_factory(config(provider("p", b, models=["m"])), env={**DEV_ENV, **shared_env})
    assert two.client().chat.completions.create(model="m", messages=MSG).model
    stored = asyncio.run(two.gateway.store.get_config())
    assert stored.version == 2 and stored.document["providers"][0]["base_url"].startswith(b.url)
    # The old instance notices the new version, and still serves its own file (as it did before the store).
    assert one.client().chat.completions.create(model="m", messages=MSG).model
    assert (len(a.requests), len(b.requests)) == (2, 1)
    assert one.gateway.runtime.version == 2

    # An admin saves a config: now it is live everywhere, whatever each file says.
    asyncio.run(two.gateway.save_config(config(provider("p", c, models=["m"])), 2, "admin-id", "config.replace", "config", []))
    for gw in (one, two):
        assert gw.client().chat.completions.create(model="m", messages=MSG).model
    assert (len(a.requests), len(b.requests), len(c.requests)) == (2, 1, 2)
    assert one.gateway.source == "shared store"

    # Re-importing a file hands control back to the files.
    own = asyncio.run(one.gateway.file_config())
    asyncio.run(one.gateway.save_config(own.document, 3, "admin-id", "config.reimport", own.source, [], source="seed"))
    for gw in (one, two):
        assert gw.client().chat.completions.create(model="m", messages=MSG).model
    assert (len(a.requests), len(b.requests), len(c.requests)) == (3, 2, 2)


def test_a_stale_write_is_refused_and_an_invalid_one_leaves_the_store_untouched(shared_env, fake_factory, gateway_factory) -> None:
    from shared.errors import GatewayError

    a = fake_factory("a")
    gw = gateway_factory(config(provider("p", a, models=["m"])), env={**DEV_ENV, **shared_env})
    assert gw.client().chat.completions.create(model="m", messages=MSG).model
    gateway = gw.gateway

    async def run() -> None:
        doc = config(provider("p", a, models=["m", "m2"]))
        await gateway.save_config(doc, 1, "x", "config.replace", "config", [])
        with pytest.raises(GatewayError) as stale:
            await gateway.save_config(doc, 1, "y", "config.replace", "config", [])
        assert stale.value.status == 409 and stale.value.code == "version_conflict"
        assert stale.value.headers["x-config-version"] == "2"
        bad = config(provider("p", a, models=["m"], preferences={"api_key_rate_limit": "lots"}))
        with pytest.raises(ConfigError) as invalid:
            await gateway.save_config(bad, 2, "x", "config.replace", "config", [])
        assert invalid.value.errors[0][0] == "providers[0].preferences.api_key_rate_limit"
        stored = await gateway.store.get_config()
        assert stored.version == 2 and stored.document == doc
        assert [e["action"] for e in await gateway.store.get_audit(5)] == ["config.replace", "config.seed"]

    asyncio.run(run())
    assert [m.id for m in gw.client().models.list()] == ["m", "m2"]


def test_a_stored_config_that_does_not_load_falls_back_to_the_file(shared_env, fake_factory, gateway_factory, caplog) -> None:
    a = fake_factory("a")
    seedling = Gateway(Settings.from_env({**DEV_ENV, **shared_env}))
    # e.g. written by a newer gateway version with a field this one does not know
    assert asyncio.run(seedling.store.put_config(0, {"providers": [], "future_field": 1}, {"source": "admin"}, None)) == 1
    caplog.set_level(logging.ERROR, logger="gateway")
    gw = gateway_factory(config(provider("p", a, models=["m"])), env={**DEV_ENV, **shared_env})
    assert gw.client().chat.completions.create(model="m", messages=MSG).model
    assert "future_field" in caplog.text and gw.gateway.runtime.version == 1


# -- model mappings (UniAPI's global mapping) -------------------------------------------------------------------

def test_a_model_mapping_routes_one_unified_name_to_a_model_per_provider(fake_factory, gateway_factory) -> None:
    a, b = fake_factory("a"), fake_factory("b")
    cfg = config(provider("a", a, models=["gpt-4o"]), provider("b", b, models=["other"]))
    cfg["model_mappings"] = {"smart": {"a": "gpt-4o", "b": "claude-x"}}
    cfg["api_keys"] = [gateway_key("sk-rr", ["smart"], SCHEDULING_ALGORITHM="round_robin")]
    gw = gateway_factory(cfg, env=DEV_ENV)
    client = gw.client("sk-rr")
    assert [m.id for m in client.models.list()] == ["smart"]
    for _ in range(2):
        assert client.chat.completions.create(model="smart", messages=MSG).model == "smart"
    assert [r["body"]["model"] for r in a.requests + b.requests] == ["gpt-4o", "claude-x"]


def test_a_mapping_naming_an_unknown_provider_is_a_config_error_with_its_path(gateway_factory) -> None:
    cfg = config(provider("a", "http://127.0.0.1:9", models=["m"]))
    cfg["model_mappings"] = {"smart": {"nope": "m"}}
    with pytest.raises(ConfigError, match=r"model_mappings\.smart\.nope: no provider is named 'nope'"):
        gateway_factory(cfg)



# -- model discovery reads a bounded list ---------------------------------------------------------------------

def test_model_discovery_refuses_a_list_over_its_size_limit(fake_factory, gateway_factory, monkeypatch, caplog) -> None:
    import shared.discovery

    fake = fake_factory("a", models=tuple(f"model-{i}" for i in range(200)))  # ~12 KB of JSON
    cfg = config(provider("small", fake), provider("big", fake))
    cfg["providers"][0]["model"] = ["m"]
    monkeypatch.setattr(shared.discovery, "MAX_MODEL_LIST_BYTES", 4096)
    caplog.set_level(logging.WARNING, logger="gateway")
    gw = gateway_factory(cfg, env=DEV_ENV)
    assert [m.id for m in gw.client().models.list()] == ["m"]  # "big" listed nothing: its list was too large
    assert "provider big: could not fetch its model list" in caplog.text
    monkeypatch.setattr(shared.discovery, "MAX_MODEL_LIST_BYTES", 1 << 20)
    answer = httpx.post(gw.url + "/admin/api/providers/models", headers={"authorization": f"Bearer {DEV_ENV['ADMIN_API_KEY']}"},
                        json={"provider": cfg["providers"][1]})
    assert answer.status_code == 200 and len(answer.json()["models"]) == 200


def test_a_store_that_lost_its_data_stops_nothing_and_the_next_save_writes_the_config_back(
        redis_server, shared_env, fake_factory, gateway_factory) -> None:  # noqa: F811
    a = fake_factory("a")
    gw = gateway_factory(config(provider("p", a, models=["m"])), env={**DEV_ENV, **shared_env})
    admin = {"authorization": f"Bearer {DEV_ENV['ADMIN_API_KEY']}"}
    assert gw.client().chat.completions.create(model="m", messages=MSG).model
    document = httpx.get(gw.url + "/admin/api/config", headers=admin).json()["config"]
    httpx.put(gw.url + "/admin/api/config", headers=admin, json={"version": 1, "config": {**document, "api_keys": []}}).raise_for_status()
    redis = redis_server.client()
    redis.delete(*redis.keys(shared_env["STORE_PREFIX"] + "*"))  # a Redis without persistence, restarted
    assert gw.client().chat.completions.create(model="m", messages=MSG).model  # the running config serves on
    shown = httpx.get(gw.url + "/admin/api/config", headers=admin).json()
    assert shown["version"] == 0 and shown["config"]["providers"][0]["provider"] == "p"
    saved = httpx.put(gw.url + "/admin/api/config", headers=admin, json={"version": 0, "config": shown["config"]})
    assert saved.status_code == 200 and saved.json()["version"] == 1
    assert gw.client().chat.completions.create(model="m", messages=MSG).model


def test_a_model_added_on_another_instance_is_found_by_models_retrieve(shared_env, fake_factory, gateway_factory) -> None:
    a = fake_factory("a")
    one = gateway_factory(config(provider("p", a, models=["m"])), env={**DEV_ENV, **shared_env})
    two = gateway_factory(config(provider("p", a, models=["m"])), env={**DEV_ENV, **shared_env})
    assert one.client().models.retrieve("m").id == "m" and two.client().models.retrieve("m").id == "m"
    asyncio.run(two.gateway.save_config(config(provider("p", a, models=["m", "m2"])), 1, None, "config.replace", "config", []))
    assert one.client().models.retrieve("m2").id == "m2"  # a known key, an unknown model: the store is asked first

"""Proofs that state is shared: three gateway processes (``python main.py``) on one redis-server,
once through Redis over TCP and once through the Upstash REST protocol (the bridge), with fake
upstreams in this process.

* a ``5/min`` key admits exactly 5 of 50 concurrent requests spread over the three instances;
* round_robin over two channels alternates exactly while requests hop between instances;
* a channel that failed (5xx) on one instance is skipped by the others during its cooldown, and
  used again after it;
* a 429 with ``Retry-After`` on one provider key cools that key on every instance.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Iterator

import httpx
import pytest

from tests.builders import CHAT_COMPLETIONS, config, gateway_key, provider
from tests.conftest import FakeServers
from tests.fakes.openai_fake import FakeOpenAI, Reply
from tests.fakes.server import free_port
from tests.fakes.upstash_bridge import UpstashBridge
from tests.conftest import DEV_ENV
from tests.processes import stop_process
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COOLDOWN = 2
STORE_ENV = ("REDIS_URL", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "KV_REST_API_URL", "KV_REST_API_TOKEN",
             "ENVIRONMENT", "CONFIG_PATH", "CONFIG_URL", "STORE_PREFIX")


def cluster_config(main: FakeOpenAI, cd1: FakeOpenAI, kk: FakeOpenAI) -> dict:
    """One provider (or two) per proof; the gateway keys each reach the models of one proof."""
    return config(
        provider("rl", main, path=CHAT_COMPLETIONS, api="sk-up", models=["m-rl"]),
        provider("rr1", main, path=CHAT_COMPLETIONS, api="sk-up", models=["m-rr"]),
        provider("rr2", main, path=CHAT_COMPLETIONS, api="sk-up", models=["m-rr"]),
        provider("cd1", cd1, path=CHAT_COMPLETIONS, api="sk-up", models=["m-cd"]),
        provider("cd2", main, path=CHAT_COMPLETIONS, api="sk-up", models=["m-cd"]),
        provider("kk", kk, path=CHAT_COMPLETIONS, api=["sk-k1", "sk-k2"], models=["m-k"]),
        keys=[gateway_key("sk-rl", ["m-rl"], RATE_LIMIT="5/min"),
              gateway_key("sk-rr", ["m-rr"], SCHEDULING_ALGORITHM="round_robin"),
              gateway_key("sk-cd", ["m-cd"]),
              gateway_key("sk-k", ["m-k"])],
        cooldown_period=COOLDOWN,
    )


class Cluster:
    def __init__(self, kind: str, urls: list[str], main: FakeOpenAI, cd1: FakeOpenAI, kk: FakeOpenAI) -> None:
        self.kind, self.urls, self.main, self.cd1, self.kk = kind, urls, main, cd1, kk
        self.http = httpx.Client(timeout=30)

    def chat(self, instance: int, key: str, model: str) -> httpx.Response:
        return self.http.post(f"{self.urls[instance % 3]}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                              json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


def start_gateways(env_extra: dict[str, str], config_text: str, logdir: str) -> tuple[list[subprocess.Popen], list[str]]:
    env = {k: v for k, v in os.environ.items() if k not in STORE_ENV}
    env.update(DEV_ENV, **env_extra, CONFIG_YAML=config_text, HOST="127.0.0.1", LOG_LEVEL="WARNING",
               STORE_TIMEOUT_SECONDS="5")  # a loaded test machine must not push a shared store into degraded mode
    procs, urls = [], []
    for i in range(3):
        port = free_port()
        with open(os.path.join(logdir, f"gateway-{i}.log"), "wb") as log:  # the child keeps its own copy of the file
            procs.append(subprocess.Popen([sys.executable, "main.py"], cwd=ROOT, env={**env, "PORT": str(port)},
                                          stdout=log, stderr=subprocess.STDOUT))
        urls.append(f"http://127.0.0.1:{port}")
    deadline = time.time() + 30
    for proc, url in zip(procs, urls):
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                stop_process(*procs, timeout=5)
                pytest.fail(f"a gateway did not start: {open(os.path.join(logdir, 'gateway-0.log')).read()[-2000:]}")
            time.sleep(0.05)
    return procs, urls


@pytest.fixture(scope="module", params=["redis", "upstash"])
def cluster(request, redis_server: RedisServer) -> Iterator[Cluster]:  # noqa: F811
    with FakeServers() as fakes, tempfile.TemporaryDirectory() as logdir:
        main = fakes("main", keys=("sk-up",))
        cd1 = fakes("cd1", keys=("sk-up",))
        kk = fakes("kk", keys=("sk-k1", "sk-k2"))
        env = {"STORE_PREFIX": f"multi-{uuid.uuid4().hex[:8]}:"}
        if request.param == "redis":
            env["REDIS_URL"] = redis_server.url
        else:
            bridge = fakes(redis_server.port, kind=UpstashBridge)
            env.update(UPSTASH_REDIS_REST_URL=bridge.url, UPSTASH_REDIS_REST_TOKEN=bridge.token)
        procs, urls = start_gateways(env, json.dumps(cluster_config(main, cd1, kk)), logdir)
        try:
            for url in urls:
                assert httpx.get(url + "/healthz").json()["store"] == request.param
            c = Cluster(request.param, urls, main, cd1, kk)
            for i in range(3):  # warm each instance (its HTTP client, its store connection) with a key of its own
                assert shared(c.chat(i, "temp_api_key", "m-rl")).status_code == 200
            main.requests.clear()
            yield c
            c.http.close()
        finally:
            stop_process(*procs, timeout=5)


def shared(response: httpx.Response) -> httpx.Response:
    assert "x-gateway-store" not in response.headers, "the shared store went degraded: the test proves nothing"
    return response


def test_a_rate_limit_holds_across_instances(cluster: Cluster) -> None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(*(
                client.post(f"{cluster.urls[i % 3]}/v1/chat/completions", headers={"authorization": "Bearer sk-rl"},
                            json={"model": "m-rl", "messages": [{"role": "user", "content": f"n{i}"}]})
                for i in range(50)))

    responses = [shared(r) for r in asyncio.run(burst())]
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 5 and statuses.count(429) == 45, statuses
    assert sum(1 for r in cluster.main.requests if r["body"]["model"] == "m-rl") == 5
    assert all(int(r.headers["retry-after"]) >= 1 for r in responses if r.status_code == 429)


def test_round_robin_alternates_across_instances(cluster: Cluster) -> None:
    providers = []
    for i in range(8):
        r = shared(cluster.chat(i, "sk-rr", "m-rr"))
        assert r.status_code == 200
        providers.append(r.headers["x-gateway-provider"])
    assert providers == ["rr1", "rr2"] * 4


def test_a_failed_channel_cools_down_on_every_instance(cluster: Cluster) -> None:
    cluster.cd1.then(Reply(status=500))
    first = shared(cluster.chat(0, "sk-cd", "m-cd"))  # cd1 answers 500, cd2 serves
    failed_at = time.monotonic()
    assert first.status_code == 200 and first.headers["x-gateway-provider"] == "cd2"
    assert len(cluster.cd1.requests) == 1
    for instance in (1, 2):  # other instances skip cd1 while it cools down
        r = shared(cluster.chat(instance, "sk-cd", "m-cd"))
        assert r.status_code == 200 and r.headers["x-gateway-provider"] == "cd2"
    assert time.monotonic() - failed_at < COOLDOWN, "too slow to prove anything"
    assert len(cluster.cd1.requests) == 1
    time.sleep(max(0.0, failed_at + COOLDOWN + 0.2 - time.monotonic()))
    r = shared(cluster.chat(1, "sk-cd", "m-cd"))
    assert r.status_code == 200 and r.headers["x-gateway-provider"] == "cd1"
    assert len(cluster.cd1.requests) == 2


def test_an_upstream_429_cools_that_key_on_every_instance(cluster: Cluster) -> None:
    cluster.kk.then(Reply(status=429, headers={"retry-after": "30"}))
    first = shared(cluster.chat(0, "sk-k", "m-k"))
    assert first.status_code == 200  # retried at once with the provider's other key
    bad, good = cluster.kk.requests[0]["key"], cluster.kk.requests[1]["key"]
    assert bad != good
    for i in range(1, 7):  # the key rotation alone would give the cooled key every other request
        assert shared(cluster.chat(i, "sk-k", "m-k")).status_code == 200
    assert [r["key"] for r in cluster.kk.requests[2:]] == [good] * 6

"""Redis killed and restarted under load: nothing is lost, the instances recover, limits hold again.

Two gateway processes (``python main.py``) share one redis-server; one has rate limits failing
open (the default), the other ``rate_limit_fail_closed: true``. A load of bounded requests (plain
and streamed, with and without a rate limit) runs on both while redis-server is SIGKILLed and,
a second later, started again on the same port. Every request must get a well-formed answer (200;
503 ``store_unavailable`` only for a rate-limited key on the fail-closed instance), none a 500,
none a hang; both instances must leave degraded mode within seconds of Redis coming back; and a
fresh ``5/min`` key must then admit exactly 5 requests across both instances.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Iterator

import httpx
import pytest

from tests.door_process import ServerProcess
from tests.fakes.openai_fake import FakeOpenAI
from tests.redis_server import RedisServer

LIMIT = 5
REQUEST_TIMEOUT = 10.0  # a hang shows up as a timeout of the load loop's client
RECOVERY_SECONDS = 6.0

CONFIG = """
providers:
  - provider: main
    base_url: {upstream}/v1/chat/completions
    api: sk-up
    model: [gpt-4o]
api_keys:
  - api: sk-free
  - api: sk-limited
    preferences: {{RATE_LIMIT: 100000/min}}
  - api: sk-fresh
    preferences: {{RATE_LIMIT: {limit}/min}}
{extra}
"""


@dataclass
class Outcome:
    instance: int
    key: str
    stream: bool
    status: int  # 0: the request raised (timeout, broken connection)
    wellformed: bool
    degraded: bool
    code: str | None
    at: float


@dataclass
class Rig:
    redis: RedisServer
    gateways: list[ServerProcess]
    upstream: FakeOpenAI


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    upstream = FakeOpenAI("main", keys=("sk-up",)).start()
    redis = RedisServer().start()
    prefix = f"fault-{uuid.uuid4().hex[:8]}:"
    gateways = []
    try:
        for extra in ("", "preferences: {rate_limit_fail_closed: true}"):
            env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "UPSTASH", "KV_", "CONFIG", "STORE_"))}
            env.update(CONFIG_YAML=CONFIG.format(upstream=upstream.url, limit=LIMIT, extra=extra), REDIS_URL=redis.url,
                       STORE_PREFIX=prefix, STORE_TIMEOUT_SECONDS="1", STORE_RETRY_SECONDS="0.5", HOST="127.0.0.1",
                       LOG_LEVEL="WARNING")
            gateway = ServerProcess([sys.executable, "main.py"], env)
            gateway.env["PORT"] = str(gateway.port)
            gateways.append(gateway.start())
        yield Rig(redis, gateways, upstream)
    finally:
        for gateway in gateways:
            gateway.stop()
        redis.stop()
        upstream.stop()


def ask(client: httpx.Client, url: str, key: str, stream: bool) -> tuple[int, bool, bool, str | None]:
    """(status, well formed, degraded, error code) of one chat request."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    with client.stream("POST", url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}) as r:
        text = r.read().decode()
        degraded = r.headers.get("x-gateway-store") == "degraded"
    if r.status_code != 200:
        error = json.loads(text)["error"]
        return r.status_code, set(error) == {"message", "type", "param", "code"}, degraded, error["code"]
    if not stream:
        return 200, json.loads(text)["choices"][0]["message"]["content"] == "main says: hi", degraded, None
    blocks = [b for b in text.split("\n\n") if b]
    events = [json.loads(b[6:]) for b in blocks[:-1]]
    said = "".join(c["delta"].get("content") or "" for e in events for c in e.get("choices") or [])
    return 200, blocks[-1] == "data: [DONE]" and not any("error" in e for e in events) and said == "main says: hi", degraded, None


def load(rig: Rig, stop: threading.Event, outcomes: list[Outcome], worker: int) -> None:
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        n = worker
        while not stop.is_set():
            instance, key, stream = n % 2, ("sk-free", "sk-limited")[(n // 2) % 2], bool((n // 4) % 2)
            n += 1
            try:
                status, wellformed, degraded, code = ask(client, rig.gateways[instance].url, key, stream)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                status, wellformed, degraded, code = 0, False, False, type(exc).__name__
            outcomes.append(Outcome(instance, key, stream, status, wellformed, degraded, code, time.monotonic()))


def acceptable(o: Outcome) -> bool:
    if not o.wellformed:
        return False
    if o.status == 200:
        return True
    # Only the fail-closed instance may refuse, only a rate-limited key, and only because the store is down.
    return o.status == 503 and o.instance == 1 and o.key == "sk-limited" and o.code == "store_unavailable" and o.degraded


def test_redis_killed_and_restarted_under_load(rig: Rig) -> None:
    outcomes: list[Outcome] = []
    stop = threading.Event()
    workers = [threading.Thread(target=load, args=(rig, stop, outcomes, w), daemon=True) for w in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.0)
        killed = time.monotonic()
        assert rig.redis.proc is not None
        rig.redis.proc.kill()  # SIGKILL: no goodbye to the clients
        rig.redis.proc.wait(5)
        time.sleep(1.0)
        rig.redis.start()  # same port, empty: every window and mark is gone
        restarted = time.monotonic()

        recovered: dict[int, float] = {}
        with httpx.Client(timeout=REQUEST_TIMEOUT) as probe:
            while len(recovered) < 2 and time.monotonic() - restarted < RECOVERY_SECONDS + 4:
                for i, gateway in enumerate(rig.gateways):
                    if i not in recovered:
                        status, _, degraded, _ = ask(probe, gateway.url, "sk-free", False)
                        if status == 200 and not degraded:
                            recovered[i] = time.monotonic() - restarted
                time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for worker in workers:
            worker.join(REQUEST_TIMEOUT + 5)

    assert len(outcomes) > 50, len(outcomes)
    bad = [o for o in outcomes if not acceptable(o)]
    assert not bad, bad[:10]
    during = [o for o in outcomes if killed <= o.at <= restarted + 0.5]
    assert any(o.degraded for o in during), "the outage was never noticed: was redis-server really killed?"
    assert sorted(recovered) == [0, 1] and max(recovered.values()) < RECOVERY_SECONDS, recovered

    # Limits hold again: a fresh limited key admits exactly LIMIT requests across both instances.
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        results = [ask(client, rig.gateways[i % 2].url, "sk-fresh", False) for i in range(2 * LIMIT)]
    assert [r[0] for r in results].count(200) == LIMIT, results
    assert all(r[0] in (200, 429) and r[1] and not r[2] for r in results), results
    assert rig.redis.client().keys("fault-*:rl:*")  # counted in the restarted Redis

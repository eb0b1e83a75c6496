"""Scheduling algorithms and upstream-key rotation: exact distributions where the algorithm is
deterministic, bounded ones where it is random."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.builders import config, gateway_key, provider

MSG = [{"role": "user", "content": "hi"}]


def served_by(client, n: int, model: str = "gpt-4o") -> list[str]:
    out = []
    for _ in range(n):
        raw = client.chat.completions.with_raw_response.create(model=model, messages=MSG)
        out.append(raw.headers["x-gateway-provider"])
    return out


@pytest.fixture
def abc(fake_factory):
    return [fake_factory(name) for name in "abc"]


def scheduled(fakes, algorithm: str, rules: list | None = None) -> dict:
    """A provider per fake, all serving gpt-4o, and key sk-user scheduling them with ``algorithm``."""
    return config(*(provider(f.name, f, models=["gpt-4o"]) for f in fakes),
                  keys=[gateway_key("sk-user", rules or ["gpt-4o"], SCHEDULING_ALGORITHM=algorithm)])


def test_fixed_priority_always_starts_with_the_first_candidate(abc, gateway_factory):
    gw = gateway_factory(scheduled(abc, "fixed_priority"))
    assert served_by(gw.client("sk-user"), 6) == ["a"] * 6


def test_round_robin_rotates_the_starting_channel_by_one_per_request(abc, gateway_factory):
    gw = gateway_factory(scheduled(abc, "round_robin"))
    assert served_by(gw.client("sk-user"), 7) == ["a", "b", "c", "a", "b", "c", "a"]


def test_round_robin_position_is_per_key_and_model(fake_factory, gateway_factory):
    fakes = [fake_factory(n, models=("gpt-4o", "other")) for n in "ab"]
    gw = gateway_factory(config(*(provider(f.name, f, models=["gpt-4o", "other"]) for f in fakes),
                                keys=[gateway_key("sk-one", SCHEDULING_ALGORITHM="round_robin"),
                                      gateway_key("sk-two", SCHEDULING_ALGORITHM="round_robin")]))
    one, two = gw.client("sk-one"), gw.client("sk-two")
    assert served_by(one, 1) == ["a"]
    assert served_by(two, 1) == ["a"]  # another key starts its own rotation
    assert served_by(one, 1, "other") == ["a"]  # and so does another model
    assert served_by(one, 2) == ["b", "a"]


def test_weighted_round_robin_gives_exactly_five_three_two_in_ten_requests_smoothly(abc, gateway_factory):
    gw = gateway_factory(scheduled(abc, "weighted_round_robin", [{"a/*": 5}, {"b/*": 3}, {"c/*": 2}]))
    order = served_by(gw.client("sk-user"), 20)
    assert Counter(order[:10]) == {"a": 5, "b": 3, "c": 2}
    assert Counter(order[10:]) == {"a": 5, "b": 3, "c": 2}
    # Smooth: the heaviest channel never runs more than twice in a row.
    assert "a,a,a" not in ",".join(order)
    assert order[:10] == order[10:]


def test_weighted_round_robin_treats_unweighted_channels_as_weight_one(abc, gateway_factory):
    gw = gateway_factory(scheduled(abc, "weighted_round_robin", [{"a/*": 2}, "b/*", "c/*"]))
    assert Counter(served_by(gw.client("sk-user"), 8)) == {"a": 4, "b": 2, "c": 2}


def test_lottery_draws_in_proportion_to_weight(abc, gateway_factory):
    gw = gateway_factory(scheduled(abc, "lottery", [{"a/*": 6}, {"b/*": 3}, {"c/*": 1}]))
    counts = Counter(served_by(gw.client("sk-user"), 300))
    # Expected 180/90/30; bounds are > 4 standard deviations wide.
    assert 140 <= counts["a"] <= 220 and 55 <= counts["b"] <= 125 and 8 <= counts["c"] <= 55


def test_random_uses_every_channel_roughly_evenly(abc, gateway_factory):
    gw = gateway_factory(scheduled(abc, "random"))
    counts = Counter(served_by(gw.client("sk-user"), 240))
    assert set(counts) == {"a", "b", "c"} and all(50 <= v <= 110 for v in counts.values())


UPSTREAM_KEYS = ["sk-upstream-key-1", "sk-upstream-key-2", "sk-upstream-key-3"]


def keys_config(fake, schedule: str) -> dict:
    return config(provider("a", fake, api=UPSTREAM_KEYS, models=["gpt-4o"],
                           preferences={"api_key_schedule_algorithm": schedule}))


def test_upstream_keys_rotate_round_robin_by_default(fake_factory, gateway_factory):
    fake = fake_factory("a", keys=("sk-upstream-key-1", "sk-upstream-key-2", "sk-upstream-key-3"))
    gw = gateway_factory(keys_config(fake, "round_robin"))
    served_by(gw.client(), 6)
    assert [r["key"][-1] for r in fake.requests] == list("123123")


def test_upstream_keys_fixed_priority_always_uses_the_first(fake_factory, gateway_factory):
    fake = fake_factory("a", keys=("sk-upstream-key-1", "sk-upstream-key-2", "sk-upstream-key-3"))
    gw = gateway_factory(keys_config(fake, "fixed_priority"))
    served_by(gw.client(), 4)
    assert [r["key"][-1] for r in fake.requests] == list("1111")


def test_upstream_keys_random_uses_all_keys(fake_factory, gateway_factory):
    fake = fake_factory("a", keys=("sk-upstream-key-1", "sk-upstream-key-2", "sk-upstream-key-3"))
    gw = gateway_factory(keys_config(fake, "random"))
    served_by(gw.client(), 60)
    counts = Counter(r["key"] for r in fake.requests)
    assert len(counts) == 3 and min(counts.values()) >= 8

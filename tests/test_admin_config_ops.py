"""The admin API's document rules, as pure functions: masking, masked values meaning "unchanged", diffs."""

from __future__ import annotations

import json

import pytest

from shared.admin import config_ops
from shared.errors import GatewayError
from shared.store.keys import gateway_key_id

P1 = "sk-provider-secret-AAAA1111"
P2 = "sk-provider-secret-BBBB2222"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
G1 = "sk-gateway-key-number-one-0001"
G2 = "sk-gateway-key-number-two-0002"


def document():
    return {
        "providers": [
            {"provider": "a", "base_url": "https://a.example/v1", "api": [P1, P2], "model": ["gpt-4o"],
             "preferences": {"headers": {"Authorization": "Bearer header-secret-9999", "x-version": "2024-01-01"}}},
            {"provider": "b", "base_url": "https://b.example/v1", "api": "${B_KEY}", "private_key": PEM},
        ],
        "api_keys": [{"api": G1, "role": "admin"}, {"api": G2, "model": [f"{G1}/*", {"a/*": 2}]}],
        "preferences": {"cooldown_period": 60},
    }


def secrets():
    return [P1, P2, PEM, G1, G2, "header-secret-9999"]


def test_every_secret_is_masked_and_the_shape_kept():
    shown = config_ops.mask_document(document())
    text = json.dumps(shown)
    for secret in secrets():
        assert secret not in text
    a, b = shown["providers"]
    assert a["api"] == ["…1111", "…2222"]
    assert a["preferences"]["headers"]["Authorization"] == "…9999"
    assert b["api"] == "${B_KEY}"  # a reference says where the secret lives; it is not the secret
    assert b["private_key"] == "…---\n"
    assert shown["api_keys"][0]["api"] == "…0001"
    assert shown["api_keys"][1]["model"] == ["…0001/*", {"a/*": 2}]  # a key group names another key: masked too
    assert shown["preferences"] == {"cooldown_period": 60}
    assert document() == document()  # not modified in place
    assert config_ops.mask_secret("short") == "…"


def test_masked_values_sent_back_resolve_to_the_stored_secrets():
    stored = document()
    resolved = config_ops.resolve_document(config_ops.mask_document(stored), stored)
    assert resolved == stored


def test_masked_keys_resolve_by_suffix_when_reordered_and_new_keys_are_kept():
    stored = document()
    sent = config_ops.mask_document(stored)
    sent["providers"][0]["api"] = ["…2222", "sk-brand-new-key-3333", "…1111"]
    resolved = config_ops.resolve_document(sent, stored)
    assert resolved["providers"][0]["api"] == [P2, "sk-brand-new-key-3333", P1]


def test_a_masked_value_matching_no_stored_secret_is_a_400_naming_the_field():
    stored = document()
    sent = config_ops.mask_document(stored)
    sent["providers"][0]["api"] = ["…1111", "…zzzz"]
    with pytest.raises(GatewayError) as info:
        config_ops.resolve_document(sent, stored)
    assert info.value.status == 400 and info.value.param == "config.providers[0].api[1]"
    sent = config_ops.mask_document(stored)
    sent["providers"][0]["provider"] = "renamed"  # masked secrets of a provider that is not stored under that name
    with pytest.raises(GatewayError) as info:
        config_ops.resolve_document(sent, stored)
    assert info.value.param == "config.providers[0].api[0]"


def test_changes_name_paths_with_masked_values_and_match_providers_by_name():
    old = document()
    new = document()
    new["providers"][0]["api"] = [P1, "sk-rotated-secret-CCCC3333"]
    new["providers"][1]["base_url"] = "https://b2.example/v1"
    new["providers"].reverse()  # order alone is not a change of either provider
    new["api_keys"][1]["role"] = "admin"
    changes = config_ops.changes(old, new)
    by_path = {c["path"]: c for c in changes}
    assert by_path["providers[a].api"] == {"path": "providers[a].api", "old": ["…1111", "…2222"], "new": ["…1111", "…3333"]}
    assert by_path["providers[b].base_url"]["new"] == "https://b2.example/v1"
    assert by_path[f"api_keys[{gateway_key_id(G2)}].role"] == {"path": f"api_keys[{gateway_key_id(G2)}].role", "old": None,
                                                               "new": "admin"}
    assert len(changes) == 3
    text = json.dumps(changes)
    for secret in [*secrets(), "sk-rotated-secret-CCCC3333"]:
        assert secret not in text


def test_a_removed_provider_is_one_change_with_its_secrets_masked():
    old = document()
    new = document()
    del new["providers"][0]
    (change,) = config_ops.changes(old, new)
    assert change["path"] == "providers[a]" and change["new"] is None and change["old"]["api"] == ["…1111", "…2222"]


def test_scrub_masks_secrets_anywhere():
    assert config_ops.scrub({"notes": f"my key is {P1}", "n": [P2]}, {P1, P2}) == {"notes": "my key is …1111", "n": ["…2222"]}

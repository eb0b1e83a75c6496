"""The admin API over real HTTP: a gateway in a thread, a fake OpenAI upstream, httpx as the client.

Every answer and every audit entry any test sees is scanned for the raw secrets at the end of the
test (:class:`Admin` keeps them): no provider key and no gateway key may appear except the one
``POST /keys`` shows once.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

from shared.admin import router
from shared.app import create_app
from shared.settings import Settings
from shared.store.keys import gateway_key_id
from tests.builders import UPSTREAM_KEY, config, gateway_key, provider
from tests.conftest import RunningGateway
from tests.fakes.openai_fake import FakeOpenAI, Reply
from tests.fakes.server import ThreadServer

ADMIN_KEY = "sk-admin-key-for-the-tests-0000"
USER_KEY = "sk-user-key-for-the-tests-1111"
CONFIG_ADMIN = "sk-config-admin-key-of-tests-2222"
SECOND_UPSTREAM = "sk-second-upstream-key-ABCD9999"
ENV = {"ADMIN_API_KEY": ADMIN_KEY, "TEMP_API_KEY": USER_KEY}
HI = [{"role": "user", "content": "hi"}]
SECRETS = (UPSTREAM_KEY, SECOND_UPSTREAM, ADMIN_KEY, USER_KEY, CONFIG_ADMIN)


class Admin:
    """An httpx client on ``/admin/api`` that remembers every answer's text (for the secret scan)."""

    def __init__(self, url: str, key: str | None = ADMIN_KEY) -> None:
        self.url = url
        self.headers = {"authorization": f"Bearer {key}"} if key else {}
        self.seen: list[str] = []
        self.shown_once: set[str] = set()
        self.http = httpx.Client(timeout=30)  # one connection, kept alive

    def __call__(self, method: str, path: str, **kw) -> httpx.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        response = self.http.request(method, self.url + "/admin/api" + path, headers=headers, **kw)
        self.seen.append(response.text)
        return response

    def get(self, path: str, **kw) -> httpx.Response:
        return self("GET", path, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw) -> dict:
        response = self(method, path, **kw)
        assert response.status_code == status, response.text
        return response.json()

    def version(self) -> int:
        return self.ok("GET", "/config")["version"]

    def assert_no_secrets(self, *extra: str) -> None:
        self.seen.append(json.dumps(self.ok("GET", "/audit", params={"limit": 1000})))
        for text in self.seen:
            for secret in (*SECRETS, *extra):
                if secret not in self.shown_once:
                    assert secret not in text, f"a secret reached an admin answer: {text[:300]}"


def chat(gw, key: str, model: str = "gpt-4o") -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": model, "messages": HI}, timeout=30)


def error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    return body


@pytest.fixture(scope="module")
def fake(module_fake_factory) -> FakeOpenAI:
    return module_fake_factory("up", models=("gpt-4o", "gpt-4o-mini"))


@pytest.fixture
def base_config(fake):
    return config(provider("openai", fake, models=["gpt-4o"]),
                  provider("spare", fake, api=[UPSTREAM_KEY, SECOND_UPSTREAM], models=[{"gpt-4o-mini": "mini"}]),
                  cooldown_period=30)


@pytest.fixture
def gw(gateway_factory, base_config, fake):
    fake.reset()
    return gateway_factory(base_config, env={**ENV, "CONFIG_YAML": json.dumps(base_config)})


@pytest.fixture
def admin(gw):
    client = Admin(gw.url)
    yield client
    client.assert_no_secrets()


# -- auth -------------------------------------------------------------------------------------------

def concrete(path: str) -> str:
    return re.sub(r"\{\w+\}", "x", path)


API_ROUTES = [r for r in router.ROUTES if r.path.startswith("/admin/api/") and r.auth and r.direct is None]


@pytest.mark.parametrize("route", API_ROUTES, ids=[f"{r.method} {r.path}" for r in API_ROUTES])
def test_every_endpoint_needs_an_admin_key(gw, route):
    path = concrete(route.path)
    error(httpx.request(route.method, gw.url + path), 401, "admin_auth_required")
    error(httpx.request(route.method, gw.url + path, headers={"authorization": "Bearer sk-nobody"}), 401, "admin_auth_required")
    body = error(httpx.request(route.method, gw.url + path, headers={"authorization": f"Bearer {USER_KEY}"}), 403, "admin_only")
    assert body["error"]["message"] == "This endpoint needs an admin key."


def test_status_and_openapi_need_no_key_and_the_document_lists_every_route(gw):
    status = httpx.get(gw.url + "/admin/api/status").json()
    assert status["admin_enabled"] is True and isinstance(status["gateway_version"], str)
    doc = httpx.get(gw.url + "/admin/api/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    served = {(r.method.lower(), r.path) for r in router.ROUTES}
    listed = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert listed == served
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(doc)))
    assert refs <= set(doc["components"]["schemas"])


def test_unknown_admin_path_and_wrong_method(admin, gw):
    error(admin.get("/nothing-here"), 404, "unknown_url")
    response = admin("PATCH", "/config")
    error(response, 405, "method_not_allowed")
    assert "PUT" in response.headers["allow"]


def test_admin_is_disabled_without_any_admin_key(gateway_factory, fake):
    gw = gateway_factory(config(provider("openai", fake, models=["gpt-4o"])), env={"ENVIRONMENT": "production", "TEMP_API_KEY": USER_KEY})
    assert httpx.get(gw.url + "/admin/api/status").json()["admin_enabled"] is False
    error(httpx.get(gw.url + "/admin/api/config", headers={"authorization": f"Bearer {USER_KEY}"}), 404, "admin_disabled")
    error(httpx.get(gw.url + "/admin/api/openapi.json"), 404, "admin_disabled")


def test_a_serverless_door_without_a_shared_store_refuses_config_writes(gateway_factory, base_config):
    gw = gateway_factory(base_config, env={**ENV, "VERCEL": "1"})  # on Vercel, with the in-process store
    client = Admin(gw.url)
    stored = client.ok("GET", "/config")
    body = error(client("PUT", "/config", json={"version": stored["version"], "config": {**stored["config"], "api_keys": []}}),
                 503, "store_not_shared")
    assert "REDIS_URL" in body["error"]["message"]
    assert client.version() == stored["version"]


def test_root_is_health_for_clients_and_the_panel_for_browsers(gw):
    assert httpx.get(gw.url + "/").json()["status"] == "ok"
    page = httpx.get(gw.url + "/", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code in (200, 404)  # 404: a build without the panel's module
    assert page.status_code == 404 or page.headers["content-type"].startswith("text/html")


# -- the config document --------------------------------------------------------------------------

def test_config_read_is_masked_and_sent_back_unchanged_keeps_the_secrets(admin, gw, fake):
    read = admin.ok("GET", "/config")
    assert read["config"]["providers"][0]["api"] == "…ey-1"
    assert read["config"]["providers"][1]["api"] == ["…ey-1", "…9999"]
    assert read["source"] and "updated_at" in read
    sent = read["config"]
    sent["preferences"]["cooldown_period"] = 45
    written = admin.ok("PUT", "/config", json={"version": read["version"], "config": sent})
    assert written["version"] == read["version"] + 1
    assert written["config"]["preferences"]["cooldown_period"] == 45
    assert written["config"]["providers"][0]["api"] == "…ey-1"
    assert chat(gw, ADMIN_KEY).status_code == 200
    assert fake.requests[-1]["key"] == UPSTREAM_KEY  # the stored secret, not "…ey-1"
    assert gw.gateway.runtime.version == written["version"]


def test_a_stale_version_is_a_409_with_the_current_version(admin):
    read = admin.ok("GET", "/config")
    read["config"]["preferences"]["cooldown_period"] = 5
    admin.ok("PUT", "/config", json={"version": read["version"], "config": read["config"]})
    read["config"]["preferences"]["cooldown_period"] = 6
    body = error(admin("PUT", "/config", json={"version": read["version"], "config": read["config"]}), 409, "version_conflict")
    assert body["version"] == read["version"] + 1
    error(admin("DELETE", "/providers/openai", params={"version": read["version"]}), 409, "version_conflict")
    error(admin("PUT", "/config", json={"config": read["config"]}), 400, "missing_required_parameter")


def test_an_invalid_change_is_a_400_naming_the_field_and_nothing_is_stored(admin, gw):
    read = admin.ok("GET", "/config")
    read["config"]["providers"][1]["preferences"] = {"api_key_rate_limit": "lots"}
    body = error(admin("PUT", "/config", json={"version": read["version"], "config": read["config"]}), 400, "invalid_config")
    assert body["error"]["param"] == "config.providers[1].preferences.api_key_rate_limit"
    assert "providers[1].preferences.api_key_rate_limit" in body["error"]["message"]
    assert admin.version() == read["version"]
    read = admin.ok("GET", "/config")
    read["config"]["providers"][0]["api"] = "…nope"
    body = error(admin("PUT", "/config", json={"version": read["version"], "config": read["config"]}), 400, "invalid_config")
    assert body["error"]["param"] == "config.providers[0].api"
    assert admin.version() == read["version"]


def test_yaml_round_trip(admin, gw, fake):
    response = admin.get("/config.yaml")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/yaml")
    version = int(response.headers["x-config-version"])
    text = response.text
    assert "cooldown_period: 30" in text and "…ey-1" in text
    written = admin.ok("PUT", "/config.yaml", params={"version": version}, content=text.replace("cooldown_period: 30", "cooldown_period: 7"),
                       headers={"content-type": "application/yaml"})
    assert written["version"] == version + 1 and written["config"]["preferences"]["cooldown_period"] == 7
    assert chat(gw, ADMIN_KEY).status_code == 200 and fake.requests[-1]["key"] == UPSTREAM_KEY
    body = error(admin("PUT", "/config.yaml", params={"version": version + 1}, content="providers: [\n",
                       headers={"content-type": "text/plain"}), 400, "invalid_config")
    assert "line" in body["error"]["message"]


def test_validate_answers_without_writing(admin):
    read = admin.ok("GET", "/config")
    assert admin.ok("POST", "/config/validate", json={"config": read["config"]}) == {"ok": True}
    bad = {"providers": [{"provider": "x", "base_url": "https://x.example/v1", "api": "k", "preferences": {"api_key_rate_limit": "x"}}]}
    answer = admin.ok("POST", "/config/validate", json={"config": bad})
    assert answer["ok"] is False and answer["errors"][0]["path"] == "providers[0].preferences.api_key_rate_limit"
    answer = admin.ok("POST", "/config/validate", content="providers:\n  - provider: x\n    nonsense: 1\n",
                      headers={"content-type": "application/yaml"})
    assert answer["ok"] is False and answer["errors"][0]["path"] == "providers[0].nonsense"
    assert admin.version() == read["version"]


def test_reimport_restores_the_file_config(admin, gw):
    read = admin.ok("GET", "/config")
    del read["config"]["providers"][1]
    version = admin.ok("PUT", "/config", json={"version": read["version"], "config": read["config"]})["version"]
    assert len(admin.ok("GET", "/providers")["providers"]) == 1
    written = admin.ok("POST", "/config/reimport", json={"version": version})
    assert written["version"] == version + 1 and len(written["config"]["providers"]) == 2


def test_reimport_without_a_file_config_is_a_404(gateway_factory):
    server = gateway_factory.start(RunningGateway(ThreadServer(app := create_app(Settings.from_env(ENV))), app))  # no config at all
    admin = Admin(server.url)
    error(admin("POST", "/config/reimport", json={"version": admin.version()}), 404, "no_file_config")


# -- providers --------------------------------------------------------------------------------------

def test_providers_crud(admin, gw, fake):
    listed = admin.ok("GET", "/providers")
    first = listed["providers"][0]
    assert first["engine_detected"] == "openai" and first["upstream_url"] == fake.url + "/v1/chat/completions"
    assert first["api"] == "…ey-1"
    version = listed["version"]
    new = {"provider": "extra", "base_url": fake.url + "/v1", "api": UPSTREAM_KEY, "model": [{"gpt-4o-mini": "small"}]}
    created = admin.ok("POST", "/providers", 201, json={"version": version, "provider": new})
    assert created["version"] == version + 1 and created["provider"]["api"] == "…ey-1"
    assert chat(gw, ADMIN_KEY, "small").status_code == 200 and fake.requests[-1]["body"]["model"] == "gpt-4o-mini"
    error(admin("POST", "/providers", json={"version": version + 1, "provider": new}), 409, "already_exists")
    renamed = {**created["provider"], "provider": "renamed"}  # the masked key sent back: unchanged
    updated = admin.ok("PUT", "/providers/extra", json={"version": version + 1, "provider": renamed})
    assert updated["provider"]["provider"] == "renamed"
    assert chat(gw, ADMIN_KEY, "small").status_code == 200 and fake.requests[-1]["key"] == UPSTREAM_KEY
    assert chat(gw, ADMIN_KEY, "small").headers["x-gateway-provider"] == "renamed"
    error(admin("PUT", "/providers/nothing", json={"version": version + 2, "provider": renamed}), 404, "not_found")
    bad = {**renamed, "base_url": 5}
    body = error(admin("PUT", "/providers/renamed", json={"version": version + 2, "provider": bad}), 400, "invalid_config")
    assert body["error"]["param"] == "provider.base_url"
    admin.ok("DELETE", "/providers/renamed", params={"version": version + 2})
    error(chat(gw, ADMIN_KEY, "small"), 404, "model_not_found")
    audit = admin.ok("GET", "/audit")["entries"]
    assert [e["action"] for e in audit[:3]] == ["providers.delete", "providers.update", "providers.create"]
    assert all(e["key_id"] == gateway_key_id(ADMIN_KEY) for e in audit[:3])
    created_entry = audit[2]
    assert created_entry["target"] == "extra" and created_entry["changes"][0]["path"] == "providers[extra]"
    assert created_entry["changes"][0]["new"]["api"] == "…ey-1"


def test_preview_needs_no_network(admin):
    answer = admin.ok("POST", "/providers/preview", json={"provider": {"provider": "p", "base_url": "https://api.anthropic.com/v1"}})
    assert answer == {"engine": "anthropic", "upstream_url": "https://api.anthropic.com/v1/messages"}
    answer = admin.ok("POST", "/providers/preview", json={"provider": {"provider": "p", "base_url": "https://host.example/v1"}})
    assert answer == {"engine": "openai", "upstream_url": "https://host.example/v1/chat/completions"}
    answer = admin.ok("POST", "/providers/preview", json={"provider": {"provider": "g", "api": "k",
                                                                    "base_url": "https://generativelanguage.googleapis.com/v1beta",
                                                                    "model": ["gemini-2.5-flash"]}})
    assert answer["engine"] == "gemini" and answer["upstream_url"].endswith("/models/gemini-2.5-flash:generateContent")
    body = error(admin("POST", "/providers/preview", json={"provider": {"provider": "p", "engine": "nope"}}), 400, "invalid_config")
    assert body["error"]["param"] == "provider.engine"


def test_fetch_models_resolves_the_masked_key_and_masks_upstream_errors(admin, fake):
    shown = admin.ok("GET", "/providers")["providers"][0]
    assert admin.ok("POST", "/providers/models", json={"provider": shown}) == {"models": ["gpt-4o", "gpt-4o-mini"]}
    assert fake.requests[-1]["key"] == UPSTREAM_KEY and fake.requests[-1]["path"] == "/v1/models"
    wrong = "sk-wrong-key-that-the-fake-echoes-7777"
    body = error(admin("POST", "/providers/models", json={"provider": {**shown, "api": wrong}}), 502, "upstream_error")
    assert body["upstream_status"] == 401
    admin.assert_no_secrets(wrong)


def test_the_test_button_sends_one_token_through_that_provider(admin, fake):
    answer = admin.ok("POST", "/providers/openai/test", json={})
    assert answer["ok"] is True and answer["status"] == 200 and answer["reply"] == "up says: ping" and answer["error"] is None
    assert fake.requests[-1]["body"]["max_tokens"] == 1 and fake.requests[-1]["body"]["model"] == "gpt-4o"
    answer = admin.ok("POST", "/providers/spare/test", json={"model": "mini"})
    assert answer["ok"] is True and fake.requests[-1]["body"]["model"] == "gpt-4o-mini"
    fake.then(Reply(status=500))
    answer = admin.ok("POST", "/providers/openai/test")
    assert answer["ok"] is False and answer["status"] == 500 and "fake up error 500" in answer["error"]
    error(admin("POST", "/providers/openai/test", json={"model": "other"}), 400, "model_not_found")
    error(admin("POST", "/providers/nothing/test", json={}), 404, "not_found")


# -- gateway keys ---------------------------------------------------------------------------------

def test_a_new_key_is_shown_once_works_at_once_and_a_revoked_key_stops_at_once(admin, gw):
    version = admin.version()
    created = admin.ok("POST", "/keys", 201, json={"version": version, "key": {"role": "user", "model": ["gpt-4o"]}})
    secret = created["key"]["api"]
    admin.shown_once.add(secret)
    assert re.fullmatch(r"sk-[A-Za-z0-9_-]{48}", secret) and created["key"]["id"] == gateway_key_id(secret)
    assert chat(gw, secret).status_code == 200
    keys = admin.ok("GET", "/keys")
    assert [k["id"] for k in keys["keys"]] == [gateway_key_id(secret)] and keys["keys"][0]["api"] == "…" + secret[-4:]
    assert secret not in admin.get("/keys").text and secret not in admin.get("/config").text
    assert secret not in admin.get("/config.yaml").text and secret not in json.dumps(admin.ok("GET", "/audit"))
    error(chat(gw, secret, "mini"), 403, "model_not_allowed")
    updated = admin.ok("PUT", f"/keys/{created['key']['id']}", json={"version": version + 1, "key": {"role": "user", "model": ["all"]}})
    assert updated["key"]["model"] == ["all"] and chat(gw, secret, "mini").status_code == 200
    error(admin("PUT", f"/keys/{created['key']['id']}", json={"version": version + 2, "key": {"api": "sk-chosen-by-me-000000"}}),
          400, "invalid_value")
    admin.ok("DELETE", f"/keys/{created['key']['id']}", params={"version": version + 2})
    error(chat(gw, secret), 401, "invalid_api_key")
    error(admin("DELETE", "/keys/0123456789abcdef", params={"version": version + 3}), 404, "not_found")


def test_the_first_key_cannot_lock_out_a_dev_key_admin(gateway_factory, fake):
    gw = gateway_factory(config(provider("openai", fake, models=["gpt-4o"])))  # no ADMIN_API_KEY: dev keys on loopback
    admin = Admin(gw.url, "adminadmin")
    version = admin.version()
    body = error(admin("POST", "/keys", json={"version": version, "key": {"role": "user"}}), 400, "would_lock_out")
    assert "ADMIN_API_KEY" in body["error"]["message"]
    created = admin.ok("POST", "/keys", 201, json={"version": version, "key": {"role": "admin"}})
    assert chat(gw, created["key"]["api"]).status_code == 200
    error(admin.get("/config"), 401, "admin_auth_required")  # the development keys are off now
    Admin(gw.url, created["key"]["api"]).ok("GET", "/config")


def test_the_last_admin_key_cannot_be_deleted(gateway_factory, fake):
    gw = gateway_factory(config(provider("openai", fake, models=["gpt-4o"]), keys=[gateway_key(CONFIG_ADMIN, role="admin")]),
                         env={"ENVIRONMENT": "production"})  # no ADMIN_API_KEY, and no development keys to fall back on
    admin = Admin(gw.url, CONFIG_ADMIN)
    body = error(admin("DELETE", f"/keys/{gateway_key_id(CONFIG_ADMIN)}", params={"version": admin.version()}), 400, "would_lock_out")
    assert "ADMIN_API_KEY" in body["error"]["message"]
    admin.assert_no_secrets()


# -- model mappings -----------------------------------------------------------------------------------

def test_a_mapping_lists_the_unified_name_and_routes_to_the_mapped_model(admin, gw, fake):
    version = admin.version()
    written = admin.ok("PUT", "/mappings/gpt-unified", json={"version": version, "targets": {"spare": "gpt-4o-mini"}})
    assert written["mappings"] == {"gpt-unified": {"spare": "gpt-4o-mini"}}
    assert admin.ok("GET", "/mappings")["mappings"] == {"gpt-unified": {"spare": "gpt-4o-mini"}}
    models = httpx.get(gw.url + "/v1/models", headers={"authorization": f"Bearer {ADMIN_KEY}"}).json()
    assert "gpt-unified" in [m["id"] for m in models["data"]]
    answer = chat(gw, ADMIN_KEY, "gpt-unified")
    assert answer.status_code == 200 and fake.requests[-1]["body"]["model"] == "gpt-4o-mini"
    body = error(admin("PUT", "/mappings/bad", json={"version": version + 1, "targets": {"nobody": "x"}}), 400, "invalid_config")
    assert body["error"]["param"].startswith("targets") or body["error"]["param"].startswith("config.model_mappings")
    admin.ok("DELETE", "/providers/spare", params={"version": version + 1})  # deleting the provider takes its mappings along
    assert admin.ok("GET", "/mappings")["mappings"] == {}
    error(admin("DELETE", "/mappings/gpt-unified", params={"version": version + 2}), 404, "not_found")


# -- observability ------------------------------------------------------------------------------------

def test_health_shows_cooldowns_rejected_keys_and_recent_failures(gateway_factory, fake):
    fake.reset()
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"]), provider("b", fake, api=[UPSTREAM_KEY, SECOND_UPSTREAM],
                                                                                   models=["gpt-4o"])), env=ENV)
    admin = Admin(gw.url)
    fake.then(Reply(status=500))
    assert chat(gw, ADMIN_KEY).status_code == 200  # a fails (500: cooled down), b answers with its first key
    assert chat(gw, ADMIN_KEY).status_code == 200  # b's second key is rejected by the upstream (parked), its first answers
    health = admin.ok("GET", "/health")
    channels = {c["id"]: c for c in health["channels"]}
    assert set(channels) == {"a/gpt-4o", "b/gpt-4o"}
    assert channels["a/gpt-4o"]["cooldown_seconds"] > 0 and channels["b/gpt-4o"]["cooldown_seconds"] == 0
    keys = channels["b/gpt-4o"]["keys"]
    assert [k["masked"] for k in keys] == ["…ey-1", "…9999"] and [k["rejected"] for k in keys] == [False, True]
    assert {f["status"] for f in health["recent_failures"]} == {500, 401}
    assert {f["credential"] for f in health["recent_failures"] if f["status"] == 401} == {keys[1]["id"]}
    admin.assert_no_secrets()


def test_usage_per_key_model_and_provider(admin, gw):
    assert chat(gw, USER_KEY).status_code == 200
    assert chat(gw, USER_KEY, "mini").status_code == 200
    usage = admin.ok("GET", "/usage", params={"days": 3})
    assert len(usage["days"]) == 3
    rows = [r for r in usage["rows"] if r["key_id"] == gateway_key_id(USER_KEY)]
    assert {(r["model"], r["provider"], r["requests"]) for r in rows} >= {("gpt-4o", "openai", 1)}
    assert all(r["key_name"] == "TEMP_API_KEY" for r in rows)
    error(admin.get("/usage", params={"days": 91}), 400, "invalid_value")


def test_audit_entries_carry_who_what_and_masked_changes(admin):
    read = admin.ok("GET", "/config")
    read["config"]["providers"][1]["api"] = ["…9999", "sk-added-in-the-test-5555"]
    admin.ok("PUT", "/config", json={"version": read["version"], "config": read["config"]})
    (entry,) = admin.ok("GET", "/audit", params={"limit": 1})["entries"]
    assert entry["action"] == "config.update" and entry["key_id"] == gateway_key_id(ADMIN_KEY)
    assert entry["changes"] == [{"path": "providers[spare].api", "old": ["…ey-1", "…9999"], "new": ["…9999", "…5555"]}]
    admin.assert_no_secrets("sk-added-in-the-test-5555")


def test_two_instances_on_one_store_see_each_others_writes_and_conflicts(gateway_factory, base_config):
    from shared.store import MemoryStore

    store = MemoryStore()  # one store shared by two gateways, as two instances share Redis
    one, two = (gateway_factory(base_config, env=ENV, store=store) for _ in range(2))
    first, second = Admin(one.url), Admin(two.url)
    version = first.version()
    assert second.version() == version
    created = first.ok("POST", "/keys", 201, json={"version": version, "key": {}})
    first.shown_once.add(created["key"]["api"])
    assert chat(two, created["key"]["api"]).status_code == 200  # the other instance knows the key at once
    body = error(second("PUT", "/mappings/x", json={"version": version, "targets": {"openai": "gpt-4o"}}), 409, "version_conflict")
    assert body["version"] == version + 1
    assert second.ok("GET", "/audit")["entries"][0]["action"] == "keys.create"
    first.assert_no_secrets()
    second.assert_no_secrets()


def test_session_endpoints_and_panel_files_are_routed(gw):
    for method, path in (("POST", "/admin/api/login"), ("POST", "/admin/api/logout"), ("GET", "/admin/api/session")):
        response = httpx.request(method, gw.url + path, json={"key": "nope"})
        assert response.status_code not in (404, 405), response.text  # answered by the auth module
    error(httpx.get(gw.url + "/admin/static/no-such-file.js"), 404, "unknown_url")


def test_renaming_a_provider_carries_its_key_rules_and_mappings_along(gateway_factory, base_config):
    cfg = {**base_config, "api_keys": [gateway_key(CONFIG_ADMIN, role="admin"), gateway_key(USER_KEY, ["openai/*"])],
           "model_mappings": {"uni": {"openai": "gpt-4o"}}}
    gw = gateway_factory(cfg, env={"ENVIRONMENT": "production"})
    admin = Admin(gw.url, CONFIG_ADMIN)
    listed = admin.ok("GET", "/providers")
    renamed = {**listed["providers"][0], "provider": "oa"}
    admin.ok("PUT", "/providers/openai", json={"version": listed["version"], "provider": renamed})
    keys = admin.ok("GET", "/keys")["keys"]
    assert keys[1]["model"] == ["oa/*"] and admin.ok("GET", "/mappings")["mappings"] == {"uni": {"oa": "gpt-4o"}}
    assert chat(gw, USER_KEY).headers["x-gateway-provider"] == "oa"
    assert chat(gw, USER_KEY, "uni").status_code == 200
    admin.assert_no_secrets()


def test_answers_match_the_schemas_the_openapi_document_declares(admin, gw):
    import jsonschema

    doc = httpx.get(gw.url + "/admin/api/openapi.json").json()
    assert chat(gw, USER_KEY).status_code == 200
    version = admin.version()
    answers = {
        ("GET", "/admin/api/status"): admin.get("/status"),
        ("GET", "/admin/api/config"): admin.get("/config"),
        ("GET", "/admin/api/providers"): admin.get("/providers"),
        ("POST", "/admin/api/providers/preview"): admin("POST", "/providers/preview", json={"provider": {"provider": "p"}}),
        ("POST", "/admin/api/keys"): admin("POST", "/keys", json={"version": version, "key": {"role": "user"}}),
        ("GET", "/admin/api/keys"): admin.get("/keys"),
        ("PUT", "/admin/api/mappings/{name}"): admin("PUT", "/mappings/m", json={"version": version + 1, "targets": {"openai": "gpt-4o"}}),
        ("GET", "/admin/api/mappings"): admin.get("/mappings"),
        ("POST", "/admin/api/providers/{name}/test"): admin("POST", "/providers/openai/test"),
        ("GET", "/admin/api/health"): admin.get("/health"),
        ("GET", "/admin/api/usage"): admin.get("/usage"),
        ("GET", "/admin/api/audit"): admin.get("/audit"),
        ("DELETE", "/admin/api/mappings/{name}"): admin("DELETE", "/mappings/m", params={"version": version + 2}),
    }
    admin.shown_once.add(answers[("POST", "/admin/api/keys")].json()["key"]["api"])
    for (method, path), response in answers.items():
        operation = doc["paths"][path][method.lower()]
        (status, declared), *_ = operation["responses"].items()
        assert response.status_code == int(status), (path, response.text)
        schema = {**declared["content"]["application/json"]["schema"], "components": doc["components"]}
        jsonschema.Draft202012Validator(schema).validate(response.json())
    conflict = admin("PUT", "/config", json={"version": 0, "config": {}})
    schema = {**doc["paths"]["/admin/api/config"]["put"]["responses"]["409"]["content"]["application/json"]["schema"],
              "components": doc["components"]}
    jsonschema.Draft202012Validator(schema).validate(conflict.json())


# -- hostile input: never a 500, always an error object ---------------------------------------------

HOSTILE_BODIES = [
    b"", b"not json", b"[]", b"null", b"42", b'"text"', b"{", b"[" * 5000 + b"]" * 5000,
    json.dumps({"version": "one", "config": []}).encode(), json.dumps({"version": -1, "config": {"providers": "x"}}).encode(),
    json.dumps({"version": True, "provider": ["a"], "key": "k", "targets": [1], "model": {"x": 1}}).encode(),
    json.dumps({"version": 1e400, "config": {"providers": [{"provider": None}]}}).encode().replace(b"Infinity", b"1e400"),
    json.dumps({"version": 1, "config": {"providers": [{"provider": "\ud800", "base_url": "http://[::1"}]}}).encode(),
    json.dumps({"version": 1, "provider": {"provider": "p", "base_url": "ftp://x", "api": {"k": 1}, "model": [[1]]}}).encode(),
    json.dumps({"version": 1, "key": {"role": "root", "model": 5, "preferences": []}}).encode(),
    json.dumps({"key": "x" * 100_000}).encode(),
]
WRITE_ROUTES = [r for r in router.ROUTES if r.method in ("POST", "PUT", "DELETE") and r.path.startswith("/admin/api/")]


@pytest.mark.parametrize("route", WRITE_ROUTES, ids=[f"{r.method} {r.path}" for r in WRITE_ROUTES])
def test_hostile_bodies_and_parameters_get_errors_never_a_500(admin, gw, route):
    names = ("x", "..%2F%00", "\u00e9" * 300) if "{" in route.path else ("",)
    types = ("application/json", "application/yaml") if route.path.endswith(("yaml", "validate")) else ("application/json",)
    for name in names:
        path = route.path.replace("{name}", name).replace("{id}", name)
        for raw in HOSTILE_BODIES:
            for content_type in types:
                response = admin(route.method, path[len("/admin/api"):], content=raw,
                                 headers={"content-type": content_type}, params={"version": "NaN"})
                assert response.status_code < 500 or response.json()["error"]["code"] == "upstream_error", \
                    (route.method, path, raw[:60], response.status_code, response.text[:300])
                if response.status_code >= 400:
                    error_object = response.json()["error"]
                    assert {"message", "type", "param", "code"} <= set(error_object), response.text
    assert admin.ok("GET", "/config")["config"]["providers"][0]["provider"] == "openai"  # nothing hostile was stored


def test_hostile_query_parameters_get_errors_never_a_500(admin):
    for path in ("/usage", "/audit", "/config", "/config.yaml", "/health", "/keys", "/providers", "/mappings"):
        for value in ("NaN", "-1", "0", "1e9", "99999999999999999999", "", "\u00e9", "1;DROP"):
            response = admin("GET", path, params={"days": value, "limit": value, "version": value})
            assert response.status_code < 500, (path, value, response.text[:300])
            if response.status_code >= 400:
                assert response.json()["error"]["param"] in ("days", "limit", "version"), response.text

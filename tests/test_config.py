"""Where the config comes from, ``${NAME}`` expansion, and strict validation messages.

Gateways here are started without a config object, so they load it themselves on the first request
exactly as a serverless instance does (CONFIG_YAML, CONFIG_PATH, ./api.yaml, CONFIG_URL).
"""

from __future__ import annotations

import asyncio
import json
import textwrap

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from shared.app import create_app
from shared.config import ConfigError, load_config
from shared.settings import Settings
from tests.builders import CHAT_COMPLETIONS, config, gateway_key, provider
from tests.fakes.server import ThreadServer, free_port

ADMIN = "adminadmin"
GATEWAY_VARS = ("CONFIG_YAML", "CONFIG_PATH", "CONFIG_URL", "ADMIN_API_KEY", "TEMP_API_KEY", "TEMP_API_KEY_ONE",
                "ENVIRONMENT", "TIMEOUT", "TIMEOUT_SECONDS", "MAX_REQUEST_BYTES", "REDIS_URL", "UPSTASH_REDIS_REST_URL",
                "UPSTASH_REDIS_REST_TOKEN", "KV_REST_API_URL", "KV_REST_API_TOKEN")
PROVIDER_KEY = "sk-live-provider-SECRET-4417"
OTHER_PROVIDER_KEY = "sk-live-other-SECRET-9921"
GATEWAY_KEY = "sk-gw-team-SECRET-5150"


def config_serving(model: str) -> str:
    """A config whose only provider serves ``model`` (never called: /v1/models is enough to tell configs apart)."""
    return textwrap.dedent(f"""\
        providers:
          - provider: p-{model}
            base_url: http://127.0.0.1:9/v1/chat/completions
            api: {PROVIDER_KEY}
            model: [{model}]
        """)


class ConfigServer:
    """A tiny HTTP server standing in for the place CONFIG_URL points at; counts fetches."""

    def __init__(self, text: str, status: int = 200) -> None:
        self.text, self.status = text, status
        self.fetches: list[dict[str, str]] = []

        async def serve(request: Request) -> PlainTextResponse:
            self.fetches.append({"url": str(request.url), "authorization": request.headers.get("authorization", "")})
            return PlainTextResponse(self.text, status_code=self.status)

        self.server = ThreadServer(Starlette(routes=[Route("/{path:path}", serve)]))

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture
def environ(monkeypatch, tmp_path):
    """A clean process environment in an empty working directory (so no stray ./api.yaml)."""
    for name in GATEWAY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.fixture
def serve(environ):
    """``serve()`` starts a gateway that reads its settings and config from the process environment."""
    started: list[ThreadServer] = []

    def start() -> str:
        server = ThreadServer(create_app(Settings.from_env(), None)).start()
        started.append(server)
        return server.url

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def config_server():
    started: list[ConfigServer] = []

    def start(text: str, status: int = 200) -> ConfigServer:
        srv = ConfigServer(text, status)
        srv.server.start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.server.stop()


def served_models(url: str, key: str = ADMIN) -> list[str]:
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    return [m.id for m in client.models.list().data]


def load(**env: str) -> str:
    """Load the config the way main.py does; return the ConfigError message (the test expects one)."""
    with pytest.raises(ConfigError) as info:
        asyncio.run(load_config(Settings.from_env(env)))
    return str(info.value)


# -- sources and precedence --------------------------------------------------------------------


def test_config_yaml_variable_wins_over_config_path_cwd_file_and_url(environ, serve, config_server, tmp_path):
    url_source = config_server(config_serving("from-url"))
    (tmp_path / "api.yaml").write_text(config_serving("from-cwd"))
    (tmp_path / "custom.yaml").write_text(config_serving("from-path"))
    environ.setenv("CONFIG_YAML", config_serving("from-yaml"))
    environ.setenv("CONFIG_PATH", str(tmp_path / "custom.yaml"))
    environ.setenv("CONFIG_URL", f"http://127.0.0.1:{url_source.port}/api.yaml")
    url = serve()
    assert served_models(url) == ["from-yaml"]
    assert httpx.get(url + "/healthz").json()["config"] == "CONFIG_YAML"
    assert url_source.fetches == []


def test_config_path_wins_over_cwd_api_yaml_and_url(environ, serve, config_server, tmp_path):
    url_source = config_server(config_serving("from-url"))
    (tmp_path / "api.yaml").write_text(config_serving("from-cwd"))
    (tmp_path / "custom.yaml").write_text(config_serving("from-path"))
    environ.setenv("CONFIG_PATH", str(tmp_path / "custom.yaml"))
    environ.setenv("CONFIG_URL", f"http://127.0.0.1:{url_source.port}/api.yaml")
    assert served_models(serve()) == ["from-path"]
    assert url_source.fetches == []


def test_api_yaml_in_working_directory_wins_over_config_url(environ, serve, config_server, tmp_path):
    url_source = config_server(config_serving("from-url"))
    (tmp_path / "api.yaml").write_text(config_serving("from-cwd"))
    environ.setenv("CONFIG_URL", f"http://127.0.0.1:{url_source.port}/api.yaml")
    assert served_models(serve()) == ["from-cwd"]
    assert url_source.fetches == []


def test_config_url_is_fetched_once_per_instance_however_many_requests(environ, serve, config_server):
    url_source = config_server(config_serving("from-url"))
    environ.setenv("CONFIG_URL", f"http://reader:pa55word@127.0.0.1:{url_source.port}/api.yaml?token=tok-SECRET-77")
    url = serve()
    for _ in range(4):
        assert served_models(url) == ["from-url"]
    health = httpx.get(url + "/healthz").json()
    assert len(url_source.fetches) == 1
    # The full URL (query string and basic auth) is what gets fetched...
    assert "token=tok-SECRET-77" in url_source.fetches[0]["url"]
    assert url_source.fetches[0]["authorization"].startswith("Basic ")
    # ...but what the gateway shows about its source has neither.
    assert health["config"] == f"CONFIG_URL http://127.0.0.1:{url_source.port}/api.yaml"


@pytest.mark.parametrize("failure", ["server answers 404", "nothing listening"])
def test_config_url_failure_at_cold_start_is_a_clear_error_naming_the_url_without_secrets(environ, serve, config_server, failure):
    if failure == "server answers 404":
        port = config_server("not here", status=404).port
    else:
        port = free_port()
    environ.setenv("CONFIG_URL", f"http://reader:pa55word@127.0.0.1:{port}/api.yaml?token=tok-SECRET-77")
    url = serve()
    response = httpx.post(url + "/v1/chat/completions", headers={"authorization": f"Bearer {ADMIN}"},
                          json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "config_error"
    assert f"CONFIG_URL http://127.0.0.1:{port}/api.yaml" in error["message"]
    assert "fetch failed" in error["message"]
    reason = "HTTP 404" if failure == "server answers 404" else "could not connect"
    assert reason in error["message"]
    for secret in ("tok-SECRET-77", "pa55word", "token=", "reader"):
        assert secret not in response.text
    assert httpx.get(url + "/healthz").status_code == 503


def test_a_failed_config_url_is_not_refetched_on_every_request(environ, serve, config_server):
    source = config_server("not here", status=404)
    environ.setenv("CONFIG_URL", f"http://127.0.0.1:{source.port}/api.yaml")
    url = serve()
    answers = [httpx.post(url + "/v1/chat/completions", headers={"authorization": f"Bearer {ADMIN}"},
                          json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}) for _ in range(5)]
    assert [r.status_code for r in answers] == [503] * 5
    assert answers[-1].headers["retry-after"] == "10"
    assert len(source.fetches) == 1  # tried again only after the back-off


def test_config_url_that_is_not_http_is_rejected_before_any_fetch(environ):
    message = load(CONFIG_URL="ftp://files.example.com/api.yaml")
    assert "CONFIG_URL" in message and "http:// or https://" in message


def test_json_config_text_works_in_config_yaml(environ, serve, fake_factory):
    fake = fake_factory("j")
    environ.setenv("CONFIG_YAML", json.dumps(config(provider("j", fake, path=CHAT_COMPLETIONS, models=["gpt-4o"]),
                                                    keys=[gateway_key(GATEWAY_KEY, ["j/*"])])))
    client = openai.OpenAI(base_url=serve() + "/v1", api_key=GATEWAY_KEY, max_retries=0)
    answer = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "json works"}])
    assert answer.choices[0].message.content == "j says: json works"


def test_config_path_that_does_not_exist_names_the_file(environ, tmp_path):
    message = load(CONFIG_PATH=str(tmp_path / "missing.yaml"))
    assert str(tmp_path / "missing.yaml") in message and "cannot read" in message


# -- ${NAME} expansion -------------------------------------------------------------------------

EXPANDING_CONFIG = """\
providers:
  - provider: envy
    base_url: ${FAKE_BASE}/v1/chat/completions
    api: ${UPSTREAM_KEY:-sk-upstream-key-1}
    model: [gpt-4o]
"""


def test_provider_key_and_url_from_environment_reach_the_upstream(environ, serve, fake_factory):
    fake = fake_factory("envy", keys=("sk-from-the-secret-store",))
    environ.setenv("FAKE_BASE", fake.url)
    environ.setenv("UPSTREAM_KEY", "sk-from-the-secret-store")
    environ.setenv("CONFIG_YAML", EXPANDING_CONFIG)
    client = openai.OpenAI(base_url=serve() + "/v1", api_key=ADMIN, max_retries=0)
    answer = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "envy says: hi"
    assert fake.requests[-1]["key"] == "sk-from-the-secret-store"


@pytest.mark.parametrize("upstream_key", [None, ""], ids=["unset", "set but empty"])
def test_default_after_colon_dash_is_used_when_the_variable_is_unset_or_empty(environ, serve, fake_factory, upstream_key):
    fake = fake_factory("envy")  # accepts sk-upstream-key-1, the default in the config
    environ.setenv("FAKE_BASE", fake.url)
    if upstream_key is not None:
        environ.setenv("UPSTREAM_KEY", upstream_key)
    environ.setenv("CONFIG_YAML", EXPANDING_CONFIG)
    client = openai.OpenAI(base_url=serve() + "/v1", api_key=ADMIN, max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert fake.requests[-1]["key"] == "sk-upstream-key-1"


def test_missing_variable_without_default_names_variable_and_path_but_no_value(environ, tmp_path):
    environ.setenv("PRESENT_KEY", "sk-present-SECRET-1234")
    path = tmp_path / "api.yaml"
    path.write_text(textwrap.dedent("""\
        providers:
          - provider: a
            base_url: https://api.example.com/v1/chat/completions
            api: ["${PRESENT_KEY}", "${MISSING_KEY}"]
            model: [gpt-4o]
        """))
    message = load(CONFIG_PATH=str(path))
    assert str(path) in message
    assert "providers[0].api[1]" in message
    assert "MISSING_KEY" in message and "not set" in message
    assert "sk-present-SECRET-1234" not in message


def test_missing_variable_answers_503_over_http_without_leaking_values(environ, serve):
    environ.setenv("PRESENT_KEY", "sk-present-SECRET-1234")
    environ.setenv("CONFIG_YAML", "providers:\n  - provider: a\n    api: ${PRESENT_KEY}\n    base_url: ${NO_SUCH_BASE}\n")
    response = httpx.get(serve() + "/v1/models", headers={"authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "config_error" and error["type"] == "server_error"
    assert "CONFIG_YAML" in error["message"] and "providers[0].base_url" in error["message"]
    assert "NO_SUCH_BASE" in error["message"]
    assert "sk-present-SECRET-1234" not in response.text


# -- strict validation -------------------------------------------------------------------------

GOOD_PROVIDERS = f"""\
providers:
  - provider: first
    base_url: https://api.example.com/v1/chat/completions
    api: {PROVIDER_KEY}
    model: [gpt-4o]
  - provider: second
    base_url: https://api.example.org/v1/chat/completions
    api: [{OTHER_PROVIDER_KEY}, sk-live-third-SECRET-0042]
    model: [gpt-4o]
"""

INVALID = {
    "unknown top-level key": (
        GOOD_PROVIDERS + "provders: []\n",
        "provders", "unknown field", "providers, api_keys, preferences"),
    "unknown nested key": (
        GOOD_PROVIDERS + "    preferences:\n      api_key_ratelimit: 2/min\n",
        "providers[1].preferences.api_key_ratelimit", "unknown field", "api_key_rate_limit"),
    "wrong type": (
        GOOD_PROVIDERS + "    tools: sometimes\n",
        "providers[1].tools", "boolean", None),
    "bad provider rate-limit string": (
        GOOD_PROVIDERS + f"""\
  - provider: third
    base_url: https://api.example.net/v1/chat/completions
    api: sk-live-fourth-SECRET-7
    model: [gpt-4o]
    preferences:
      api_key_rate_limit: 10/fortnight
""",
        "providers[2].preferences.api_key_rate_limit", "fortnight", "min, hour, day"),
    "bad key rate-limit string": (
        GOOD_PROVIDERS + f"api_keys:\n  - api: {GATEWAY_KEY}\n    preferences:\n      RATE_LIMIT: lots\n",
        "api_keys[0].preferences.RATE_LIMIT", "'lots' is not a limit", "10/min"),
    "zero weight": (
        GOOD_PROVIDERS + f"api_keys:\n  - api: {GATEWAY_KEY}\n    model:\n      - first/*: 0\n",
        "api_keys[0].model", "weight", "positive integer"),
    "weight that is not a number": (
        GOOD_PROVIDERS + f"api_keys:\n  - api: {GATEWAY_KEY}\n    model:\n      - first/*: heavy\n",
        "api_keys[0].model", "weight", "positive integer"),
    "bad engine": (
        GOOD_PROVIDERS + "    engine: gpt5\n",
        "providers[1].engine", "unknown engine 'gpt5'", "openai"),
    "duplicate provider names": (
        GOOD_PROVIDERS.replace("provider: second", "provider: first"),
        "providers[1].provider", "'first' is used twice", "unique"),
    "bad scheduling algorithm": (
        GOOD_PROVIDERS + f"api_keys:\n  - api: {GATEWAY_KEY}\n    preferences:\n      SCHEDULING_ALGORITHM: fastest\n",
        "api_keys[0].preferences.SCHEDULING_ALGORITHM", "weighted_round_robin", None),
    "duplicate gateway key": (
        GOOD_PROVIDERS + f"api_keys:\n  - api: {GATEWAY_KEY}\n  - api: {GATEWAY_KEY}\n",
        "api_keys[1].api", "listed twice", None),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_config_file_is_rejected_with_source_path_and_expectation(environ, tmp_path, case):
    text, path, problem, expected = INVALID[case]
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(text)
    message = load(CONFIG_PATH=str(config_file))
    assert f"{config_file}: {path}: " in message, message
    assert problem in message, message
    if expected:
        assert expected in message, message
    for secret in (PROVIDER_KEY, OTHER_PROVIDER_KEY, "sk-live-third-SECRET-0042", "sk-live-fourth-SECRET-7", GATEWAY_KEY, "SECRET"):
        assert secret not in message


def test_invalid_config_yaml_variable_is_named_as_the_source(environ):
    message = load(CONFIG_YAML=GOOD_PROVIDERS + "    engine: gpt5\n")
    assert message.startswith("CONFIG_YAML: providers[1].engine: unknown engine")
    assert "SECRET" not in message


def test_provider_key_pasted_into_the_wrong_field_is_not_echoed(environ):
    # A key pasted where a rate limit belongs: the validator quotes bad limit strings, but never a key.
    message = load(CONFIG_YAML=GOOD_PROVIDERS + f"    preferences:\n      api_key_rate_limit: {OTHER_PROVIDER_KEY}\n")
    assert "providers[1].preferences.api_key_rate_limit" in message
    assert OTHER_PROVIDER_KEY not in message and "SECRET" not in message


def test_several_problems_are_all_reported_at_once(environ):
    message = load(CONFIG_YAML=GOOD_PROVIDERS + "    engine: gpt5\n    tools: sometimes\nprovders: []\n")
    assert "providers[1].engine" in message and "providers[1].tools" in message and "provders" in message


def rate_limited_config(fake, *keys: dict, **global_prefs) -> dict:
    return config(provider("a", fake, path=CHAT_COMPLETIONS, models=["gpt-4o"]), keys=keys, **global_prefs)


def test_key_rate_limit_is_enforced_in_either_spelling(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(rate_limited_config(fake, gateway_key("sk-upper-1", RATE_LIMIT="1/min"),
                                             gateway_key("sk-lower-1", rate_limit="1/min")))
    for key in ("sk-upper-1", "sk-lower-1"):
        client = gw.client(key)
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "one"}])
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "two"}])
    assert len(fake.requests) == 2


@pytest.mark.parametrize("spelling", ["RATE_LIMIT", "rate_limit"])
def test_global_rate_limit_is_enforced_in_either_spelling(fake_factory, gateway_factory, spelling):
    fake = fake_factory("a")
    gw = gateway_factory(rate_limited_config(fake, **{spelling: "1/min"}))
    gw.client("adminadmin").chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "one"}])
    with pytest.raises(openai.RateLimitError):  # one window for every caller
        gw.client("temp_api_key").chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "two"}])
    assert len(fake.requests) == 1


@pytest.mark.parametrize("where", ["api_keys", "global"])
def test_giving_both_rate_limit_spellings_is_an_error(environ, where):
    both = "RATE_LIMIT: 2/min\n      rate_limit: 3/min\n" if where == "api_keys" else "RATE_LIMIT: 2/min\n  rate_limit: 3/min\n"
    text = (f"api_keys:\n  - api: {GATEWAY_KEY}\n    preferences:\n      {both}" if where == "api_keys"
            else f"preferences:\n  {both}")
    message = load(CONFIG_YAML=text)
    path = "api_keys[0].preferences" if where == "api_keys" else "preferences"
    assert f"CONFIG_YAML: {path}: " in message
    assert "'RATE_LIMIT' and 'rate_limit'" in message and "only one" in message
    assert GATEWAY_KEY not in message


def test_yaml_syntax_error_shows_line_and_column_but_not_the_offending_text(environ, tmp_path):
    config_file = tmp_path / "api.yaml"
    config_file.write_text(textwrap.dedent(f"""\
        providers:
          - provider: a
            api: {PROVIDER_KEY}: oops
            model: [gpt-4o]
        """))
    message = load(CONFIG_PATH=str(config_file))
    assert message.startswith(f"{config_file}: invalid YAML at line 3, column ")
    assert PROVIDER_KEY not in message and "SECRET" not in message


def test_top_level_that_is_not_a_mapping_is_explained(environ):
    message = load(CONFIG_YAML="- provider: a\n- provider: b\n")
    assert message.startswith("CONFIG_YAML: ") and "mapping" in message and "providers" in message


def test_valid_example_config_with_every_documented_field_loads(environ, tmp_path):
    """The documented fields all validate (so strictness does not reject what README promises)."""
    config_file = tmp_path / "api.yaml"
    config_file.write_text(textwrap.dedent(f"""\
        providers:
          - provider: openai
            base_url: https://api.openai.com/v1/chat/completions
            api: [{PROVIDER_KEY}, {OTHER_PROVIDER_KEY}]
            model:
              - gpt-4o
              - gpt-4o-2024-08-06: gpt-4o-snapshot
            tools: false
            engine: gpt
            notes: https://platform.openai.com/docs
            preferences:
              api_key_rate_limit: {{gpt-4o: 10/min, default: "100/min,1000/day"}}
              api_key_cooldown_period: 60
              api_key_schedule_algorithm: fixed_priority
              model_timeout: {{gpt-4o: 30, default: 10}}
              cooldown_period: 0
              headers: {{X-Team: research}}
              post_body_parameter_overrides: {{temperature: 0.1, __remove__: [logit_bias]}}
          - provider: cf
            api: cf-token-value
            cf_account_id: 8ec0abc
            model: ['@cf/meta/llama-3.1-8b-instruct': llama-3.1-8b]
        api_keys:
          - api: {GATEWAY_KEY}
            role: admin
            model: [gpt-4o, {{"openai/*": 5}}, "<anthropic/claude-3-5-sonnet>", all]
            preferences:
              SCHEDULING_ALGORITHM: weighted_round_robin
              AUTO_RETRY: 3
              rate_limit: 2/min
              ENABLE_MODERATION: false
        preferences:
          model_timeout: {{gpt-4o: 10, default: 100}}
          cooldown_period: 300
          rate_limit: 1000/hour
          error_triggers: [upstream is overloaded]
        """))
    config, source = asyncio.run(load_config(Settings.from_env({"CONFIG_PATH": str(config_file)})))
    assert source == str(config_file)
    assert [p.provider for p in config.providers] == ["openai", "cf"]
    assert config.providers[0].engine == "openai"
    assert config.api_keys[0].preferences.AUTO_RETRY == 3
    assert config.api_keys[0].model[1] == ("openai/*", 5)


def test_empty_sections_are_read_as_empty():
    from shared.config import parse_config_text

    config = parse_config_text("providers:\napi_keys:\npreferences:\n", "api.yaml", {})
    assert config.providers == [] and config.api_keys == [] and config.preferences.cooldown_period == 300

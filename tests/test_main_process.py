"""``python main.py`` as a user runs it: a real process configured only through its environment."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.fakes.server import ThreadServer, free_port
from tests.processes import stop_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, "main.py")
GATEWAY_VARS = {"CONFIG_YAML", "CONFIG_PATH", "CONFIG_URL", "ADMIN_API_KEY", "TEMP_API_KEY", "TEMP_API_KEY_ONE",
                "ENVIRONMENT", "TIMEOUT", "TIMEOUT_SECONDS", "MAX_REQUEST_BYTES", "REDIS_URL", "UPSTASH_REDIS_REST_URL",
                "UPSTASH_REDIS_REST_TOKEN", "KV_REST_API_URL", "KV_REST_API_TOKEN", "HOST", "PORT", "LOG_LEVEL"}
HI = [{"role": "user", "content": "hi"}]


class MainProcess:
    def __init__(self, cwd, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {k: v for k, v in os.environ.items() if k not in GATEWAY_VARS}
        full_env.update({"HOST": "127.0.0.1", "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}, **env)
        self.stderr_path = os.path.join(cwd, "stderr.log")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([sys.executable, MAIN], cwd=cwd, env=full_env,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr)

    @property
    def stderr(self) -> str:
        with open(self.stderr_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def wait_healthy(self, deadline: float = 20.0) -> dict:
        end = time.time() + deadline
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"main.py exited with {self.proc.returncode}:\n{self.stderr}")
            try:
                response = httpx.get(self.url + "/healthz", timeout=1)
                return response.json()
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"main.py did not start listening:\n{self.stderr}")

    def wait_exit(self, deadline: float = 20.0) -> int:
        return self.proc.wait(deadline)

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)
        self._stderr.close()


@pytest.fixture
def run_main(tmp_path):
    started: list[MainProcess] = []

    def start(env: dict[str, str] | None = None) -> MainProcess:
        proc = MainProcess(str(tmp_path), env or {})
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def config_url():
    """An HTTP server holding the config text, counting how often it is fetched."""
    state = {"text": "", "fetches": 0}

    async def serve(request: Request) -> PlainTextResponse:
        state["fetches"] += 1
        return PlainTextResponse(state["text"])

    server = ThreadServer(Starlette(routes=[Route("/{path:path}", serve)])).start()
    state["url"] = server.url
    yield state
    server.stop()


def test_main_without_any_config_starts_and_every_model_request_hints_to_configure_providers(run_main):
    gateway = run_main()
    health = gateway.wait_healthy()
    assert health["status"] == "ok"
    assert (health["config"], health["providers"], health["models"]) == ("none", 0, 0)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="adminadmin", max_retries=0)
    assert client.models.list().data == []
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=HI)
    error = info.value.body
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert "No providers are configured" in error["message"] and "api.yaml" in error["message"]
    assert "no providers configured" in gateway.stderr


def test_main_exits_1_when_config_url_cannot_be_fetched_naming_the_url_without_secrets(run_main):
    port = free_port()  # nothing listens there
    gateway = run_main({"CONFIG_URL": f"https://deploy:hunter22@127.0.0.1:{port}/cfg/api.yaml?token=tok-SECRET-9"})
    assert gateway.wait_exit() == 1
    stderr = gateway.stderr
    assert "configuration error" in stderr
    assert f"CONFIG_URL https://127.0.0.1:{port}/cfg/api.yaml: fetch failed" in stderr
    for secret in ("tok-SECRET-9", "hunter22", "token=", "deploy:"):
        assert secret not in stderr
    assert "Traceback" not in stderr


def test_main_exits_1_on_a_broken_api_yaml_in_the_working_directory(run_main, tmp_path):
    (tmp_path / "api.yaml").write_text(textwrap.dedent("""\
        providers:
          - provider: openai
            base_url: https://api.openai.com/v1/chat/completions
            api: sk-proj-SECRET-abc123def456
            model: [gpt-4o]
            preferences:
              api_key_ratelimit: 10/min
        """))
    gateway = run_main()
    assert gateway.wait_exit() == 1
    stderr = gateway.stderr
    assert "api.yaml: providers[0].preferences.api_key_ratelimit: unknown field" in stderr
    assert "api_key_rate_limit" in stderr  # what was expected
    assert "SECRET" not in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("variable,value", [("TIMEOUT", "soon"), ("TIMEOUT_SECONDS", "-1"), ("PORT", "eighty")])
def test_main_exits_1_on_a_bad_environment_value_naming_the_variable(run_main, variable, value):
    gateway = run_main({variable: value})
    assert gateway.wait_exit() == 1
    assert f"environment variable {variable}: expected" in gateway.stderr
    assert "Traceback" not in gateway.stderr


def test_production_deployment_from_config_url_fetches_once_and_warns_about_missing_admin_key(run_main, config_url, fake_factory):
    fake = fake_factory("a")
    config_url["text"] = textwrap.dedent(f"""\
        providers:
          - provider: a
            base_url: {fake.url}/v1/chat/completions
            api: ${{UPSTREAM_KEY}}
            model: [gpt-4o]
        """)
    gateway = run_main({"ENVIRONMENT": "production", "TEMP_API_KEY": "sk-prod-user-1", "UPSTREAM_KEY": "sk-upstream-key-1",
                        "CONFIG_URL": config_url["url"] + "/api.yaml?sig=abc"})
    health = gateway.wait_healthy()
    assert health["config"] == f"CONFIG_URL {config_url['url']}/api.yaml"
    user = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-prod-user-1", max_retries=0)
    for _ in range(3):
        assert user.chat.completions.create(model="gpt-4o", messages=HI).choices[0].message.content == "a says: hi"
    assert fake.requests[-1]["key"] == "sk-upstream-key-1"
    for default in ("adminadmin", "temp_api_key", "temp_api_key_one"):
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=gateway.url + "/v1", api_key=default, max_retries=0).models.list()
    assert config_url["fetches"] == 1
    assert "ADMIN_API_KEY is not set: admin access is disabled" in gateway.stderr

"""Shared fixtures: fake upstreams and gateways, each a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import sys
from typing import Callable, Iterator

import openai
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from shared.app import create_app  # noqa: E402
from shared.config import parse_config_text  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.fakes.openai_fake import FakeOpenAI  # noqa: E402
from tests.fakes.server import ThreadServer  # noqa: E402

ADMIN = "adminadmin"
USER = "temp_api_key"


class RunningGateway:
    """A gateway app served by uvicorn in a thread, with clients pointed at it."""

    def __init__(self, server: ThreadServer, app) -> None:
        self.server = server
        self.app = app
        self.url = server.url

    @property
    def gateway(self):
        return self.app.state.gateway

    def client(self, key: str = USER, **kw) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, **kw)

    def async_client(self, key: str = USER, **kw) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, **kw)


@pytest.fixture
def fake_factory() -> Iterator[Callable[..., FakeOpenAI]]:
    """``fake_factory("a", flavour="azure")`` starts a fake upstream, stopped after the test."""
    started: list[FakeOpenAI] = []

    def make(name: str = "fake", **kw) -> FakeOpenAI:
        fake = FakeOpenAI(name, **kw).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    """One fake OpenAI upstream for a whole module (the door tests start their processes once per module)."""
    fake = FakeOpenAI("up").start()
    yield fake
    fake.stop()


@pytest.fixture
def fresh_upstream(upstream: FakeOpenAI) -> None:
    """Forget the previous test's requests and script (use with ``pytestmark = usefixtures(...)``)."""
    upstream.reset()


@pytest.fixture
def gateway_factory() -> Iterator[Callable[..., RunningGateway]]:
    """``gateway_factory(yaml_text, env={...}, store=...)`` starts a gateway on a free port."""
    started: list[ThreadServer] = []

    def make(config_text: str = "", env: dict[str, str] | None = None, store=None) -> RunningGateway:
        settings = Settings.from_env(env or {})
        config = parse_config_text(config_text, "test-config", env or {})
        app = create_app(settings, config, store)
        server = ThreadServer(app).start()
        started.append(server)
        return RunningGateway(server, app)

    yield make
    for server in started:
        server.stop()

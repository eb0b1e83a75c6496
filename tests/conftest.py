"""Shared fixtures: fake upstreams and gateways, each a real HTTP server on 127.0.0.1.

Fakes and gateways are started through one small collector (:class:`Started`) whatever their kind
and whatever the fixture's scope, so every test stops what it started in the same way.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Iterator, Protocol, Self, TypeVar

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
# UniAPI's key variables set to the development values. The development keys stand in for unset
# variables only while the config defines no api_keys; a deploy that sets the variables keeps them
# beside its api_keys, so tests that need both set them.
DEV_ENV = {"ADMIN_API_KEY": ADMIN, "TEMP_API_KEY": USER, "TEMP_API_KEY_ONE": "temp_api_key_one"}


class Server(Protocol):
    def start(self) -> Any: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=Server)


class RunningGateway:
    """A gateway app served by uvicorn in a thread, with clients pointed at it."""

    def __init__(self, server: ThreadServer, app) -> None:
        self.server = server
        self.app = app
        self.url = server.url

    @property
    def gateway(self):
        return self.app.state.gateway

    def start(self) -> "RunningGateway":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def client(self, key: str = USER, **kw) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, **kw)

    def async_client(self, key: str = USER, **kw) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, **kw)


class Started:
    """Starts servers and remembers them; ``stop_all()`` stops them in the order they were started."""

    def __init__(self) -> None:
        self.servers: list[Server] = []

    def start(self, server: S) -> S:
        server.start()
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


class FakeServers(Started):
    """``fakes("a", flavour="azure")`` starts a FakeOpenAI; ``fakes(kind=FakeAnthropic)`` or
    ``fakes(port, kind=UpstashBridge)`` any other fake: the arguments go to ``kind``'s constructor."""

    def __call__(self, *args: Any, kind: Callable[..., Any] = FakeOpenAI, **kw: Any) -> Any:
        return self.start(kind(*args, **kw))


def start_gateway(config: str | dict[str, Any] = "", env: dict[str, str] | None = None, store=None) -> RunningGateway:
    """A gateway on a free port, not yet started. ``config`` is YAML text or a builder's dict
    (tests/builders.py); a dict goes through the same parser as JSON text, so it is validated alike."""
    text = config if isinstance(config, str) else json.dumps(config)
    settings = Settings.from_env(env or {})
    app = create_app(settings, parse_config_text(text, "test-config", env or {}), store)
    return RunningGateway(ThreadServer(app), app)


class Gateways(Started):
    """``gateways(config, env={...}, store=...)`` starts a gateway (see :func:`start_gateway`)."""

    def __call__(self, config: str | dict[str, Any] = "", env: dict[str, str] | None = None, store=None) -> RunningGateway:
        return self.start(start_gateway(config, env, store))


@pytest.fixture
def fake_factory() -> Iterator[FakeServers]:
    """Fakes started by a test (see :class:`FakeServers`), stopped after it."""
    with FakeServers() as fakes:
        yield fakes


@pytest.fixture(scope="module")
def module_fake_factory() -> Iterator[FakeServers]:
    """Fakes shared by a whole module, stopped after its last test."""
    with FakeServers() as fakes:
        yield fakes


@pytest.fixture(scope="module")
def upstream(module_fake_factory: FakeServers) -> FakeOpenAI:
    """One fake OpenAI upstream for a whole module (the door tests start their processes once per module)."""
    return module_fake_factory("up")


@pytest.fixture
def fresh_upstream(upstream: FakeOpenAI) -> None:
    """Forget the previous test's requests and script (use with ``pytestmark = usefixtures(...)``)."""
    upstream.reset()


@pytest.fixture
def gateway_factory() -> Iterator[Gateways]:
    """``gateway_factory(config, env={...}, store=...)`` starts a gateway on a free port, stopped after the test."""
    with Gateways() as gateways:
        yield gateways


@pytest.fixture(scope="module")
def module_gateway_factory() -> Iterator[Gateways]:
    """Gateways shared by a whole module (for tests that only read)."""
    with Gateways() as gateways:
        yield gateways

"""A real ``redis-server`` on a free 127.0.0.1 port, for the store tests (no Redis mocks).

The tests must fail loudly, never skip, when ``redis-server`` is missing: CI installs it with
``apt-get install redis-server``.

Use in a test module::

    from tests.redis_server import redis_server  # noqa: F401  (a pytest fixture)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Iterator

import pytest

from tests.fakes.server import free_port
from tests.processes import stop_process


def redis_binary() -> str:
    path = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
    if path is None:
        pytest.fail("redis-server is not installed, and the store tests need a real one: "
                    "install it with `apt-get install -y redis-server` (CI's .ci/run does this)", pytrace=False)
    return path


class RedisServer:
    """One redis-server process: ``start()``, ``stop()``, ``url``, and a sync client for checks."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self._dir = tempfile.mkdtemp(prefix="redis-test-")

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._dir, "--logfile", "", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.time() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self.stop()
                pytest.fail(f"redis-server did not start on port {self.port}: {err}", pytrace=False)
            time.sleep(0.01)

    def stop(self) -> None:
        stop_process(self.proc, timeout=5)
        self.proc = None

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server for the test module, flushed by the tests that need a clean slate."""
    server = RedisServer().start()
    yield server
    server.stop()
    shutil.rmtree(server._dir, ignore_errors=True)

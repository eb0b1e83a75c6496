"""Run an ASGI app under uvicorn in a background thread on a free 127.0.0.1 port."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadServer:
    """``with ThreadServer(app) as srv: srv.url``: a real server, stopped on exit."""

    def __init__(self, app, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="auto",
                                loop="asyncio", http="h11", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "ThreadServer":
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)

    def __enter__(self) -> "ThreadServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class FakeUpstream:
    """What every fake provider server shares: a catch-all route to ``handle``, the requests it
    received, a script of replies the test queues with ``then`` (``default`` when it runs out), and
    start/stop of its thread server. Subclasses implement ``handle`` and name their ``reply_type``."""

    reply_type: type = object

    def __init__(self) -> None:
        from starlette.applications import Starlette
        from starlette.routing import Route

        self.requests: list[dict] = []
        self.script: list = []
        self.default = self.reply_type()
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])
        self.server = ThreadServer(self.app)

    async def handle(self, request):  # pragma: no cover - every fake overrides it
        raise NotImplementedError

    def then(self, *replies):
        self.script.extend(replies)
        return self

    def reset(self) -> None:
        self.requests.clear()
        self.script.clear()
        self.default = self.reply_type()

    @property
    def url(self) -> str:
        return self.server.url

    def start(self):
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

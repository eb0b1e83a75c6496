"""An Upstash REST endpoint in front of a real redis-server, so the ``upstash-redis`` client is
exercised over real HTTP against real Redis semantics (Lua, TTLs, errors).

The protocol, as the client (upstash-redis 1.8.0, ``upstash_redis/http.py``) uses it:

* ``POST /`` with a JSON array ``["SET", "k", "v"]`` → ``{"result": …}`` or ``{"error": "…"}``
  (arguments may be JSON strings or numbers);
* ``POST /pipeline`` with an array of commands → an array of ``{"result"}``/``{"error"}``;
* ``POST /multi-exec``: the same, inside MULTI/EXEC;
* ``Authorization: Bearer <token>``, 401 ``{"error": "Unauthorized"}`` otherwise;
* with ``Upstash-Encoding: base64`` (the client's default) every bulk string in a result is
  base64-encoded; status replies such as ``OK`` are sent as they are.

It speaks RESP to Redis itself (a few lines) rather than through redis-py, whose reply callbacks
and error-prefix stripping would change the results. Every HTTP request is logged with its time,
for the round-trip tests.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .server import ThreadServer


class RespError(Exception):
    """An error reply from Redis, with its prefix kept (``NOSCRIPT …``, ``ERR …``)."""


class Status(str):
    """A simple-string reply (``+OK``), which Upstash never base64-encodes."""


async def read_reply(reader: asyncio.StreamReader) -> Any:
    line = (await reader.readline())[:-2]
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return Status(rest.decode())
    if kind == b"-":
        return RespError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else (await reader.readexactly(n + 2))[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [await read_reply(reader) for _ in range(n)]
    raise ConnectionError(f"unexpected reply from redis: {line[:50]!r}")


def encode_command(args: list[Any]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def to_json(value: Any, b64: bool) -> Any:
    if isinstance(value, Status):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode() if b64 else value.decode(errors="replace")
    if isinstance(value, list):
        return [to_json(v, b64) for v in value]
    return value


def entry(value: Any, b64: bool) -> dict[str, Any]:
    return {"error": str(value)} if isinstance(value, RespError) else {"result": to_json(value, b64)}


@dataclass
class Logged:
    time: float
    path: str
    commands: list[list[Any]]


@dataclass
class UpstashBridge:
    redis_port: int
    token: str = "bridge-token"
    log: list[Logged] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        routes = [Route("/", self.single, methods=["POST"]), Route("/pipeline", self.pipeline, methods=["POST"]),
                  Route("/multi-exec", self.multi_exec, methods=["POST"])]
        self.server = ThreadServer(Starlette(routes=routes))

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> "UpstashBridge":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def clear(self) -> None:
        with self._lock:
            self.log.clear()

    # -- redis ---------------------------------------------------------
    async def _run(self, commands: list[list[Any]]) -> list[Any]:
        """Send commands on a fresh connection and read their replies (pipelined). A connection per
        HTTP request keeps the bridge free of pooled sockets to clean up; loopback connects are cheap."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        try:
            writer.write(b"".join(encode_command(c) for c in commands))
            await writer.drain()
            return [await read_reply(reader) for _ in commands]
        finally:
            writer.close()
            await writer.wait_closed()

    # -- http ----------------------------------------------------------
    async def _commands(self, request: Request, path: str) -> tuple[Any, bool] | JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "ERR failed to parse command"}, status_code=400)
        commands = body if path != "/" else [body]
        if not isinstance(commands, list) or not all(isinstance(c, list) and c for c in commands):
            return JSONResponse({"error": "ERR command must be a non-empty JSON array"}, status_code=400)
        with self._lock:
            self.log.append(Logged(time.time(), path, commands))
        return commands, request.headers.get("upstash-encoding", "").lower() == "base64"

    async def single(self, request: Request) -> JSONResponse:
        parsed = await self._commands(request, "/")
        if isinstance(parsed, JSONResponse):
            return parsed
        commands, b64 = parsed
        [reply] = await self._run(commands)
        return JSONResponse(entry(reply, b64), status_code=400 if isinstance(reply, RespError) else 200)

    async def pipeline(self, request: Request) -> JSONResponse:
        parsed = await self._commands(request, "/pipeline")
        if isinstance(parsed, JSONResponse):
            return parsed
        commands, b64 = parsed
        return JSONResponse([entry(r, b64) for r in await self._run(commands)])

    async def multi_exec(self, request: Request) -> JSONResponse:
        parsed = await self._commands(request, "/multi-exec")
        if isinstance(parsed, JSONResponse):
            return parsed
        commands, b64 = parsed
        replies = await self._run([["MULTI"], *commands, ["EXEC"]])
        result = replies[-1]
        if isinstance(result, RespError):  # EXECABORT: a command was rejected while queueing
            return JSONResponse({"error": str(result)}, status_code=400)
        return JSONResponse([entry(r, b64) for r in result])

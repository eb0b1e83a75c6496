"""The yardstick: the leanest sensible forwarder (raw ASGI, uvicorn + httptools + uvloop, one aiohttp session).

``UPSTREAM_URL=http://127.0.0.1:P/v1/chat/completions PORT=Q python -m bench.reference``

It does what any gateway must do at the minimum: read the body, parse the JSON (to know whether
to stream), forward it with the upstream key, and relay the answer (stream chunks as they arrive).
No auth, routing, limits or accounting: the gap to it is the price of those features.
"""

from __future__ import annotations

import json
import os

import aiohttp
import uvicorn

UPSTREAM = os.environ["UPSTREAM_URL"]
HEADERS = {"content-type": "application/json", "authorization": "Bearer " + os.environ.get("UPSTREAM_KEY", "sk-bench-upstream")}
JSON = [(b"content-type", b"application/json")]
SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
session: aiohttp.ClientSession | None = None


async def app(scope, receive, send):
    global session
    if scope["type"] != "http":
        return  # lifespan is off
    if session is None:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    try:
        stream = json.loads(body).get("stream") is True
    except (ValueError, AttributeError):
        await send({"type": "http.response.start", "status": 400, "headers": JSON})
        await send({"type": "http.response.body", "body": b'{"error":{"message":"invalid JSON"}}'})
        return
    async with session.post(UPSTREAM, data=body, headers=HEADERS) as resp:
        if not stream or resp.status != 200:
            data = await resp.read()
            await send({"type": "http.response.start", "status": resp.status, "headers": JSON})
            await send({"type": "http.response.body", "body": data})
            return
        await send({"type": "http.response.start", "status": 200, "headers": SSE})
        async for chunk in resp.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    uvicorn.run(app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ["PORT"]), loop="uvloop",
                http="httptools", lifespan="off", log_level="warning", access_log=False)

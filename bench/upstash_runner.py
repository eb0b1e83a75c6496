"""Serve the tests' Upstash REST bridge (``tests/fakes/upstash_bridge.py``, used as is) in its own
process on a given port, plus ``GET /__bench_count``: how many REST requests it has served.

``python -m bench.upstash_runner --port P --redis-port R --token T``

Runs under uvicorn with uvloop + httptools so the bridge costs as little as it can; it still
stands in for a remote Upstash, so latency figures for that row say more about the bridge than
about Upstash (whose round trips cross a network). The request count is what matters there.
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.fakes.upstash_bridge import UpstashBridge  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args(argv)
    bridge = UpstashBridge(args.redis_port, token=args.token)
    app = bridge.server.server.config.app  # the bridge's Starlette app; its own thread server is never started
    total = 0

    async def count(request: Request) -> PlainTextResponse:
        nonlocal total
        with bridge._lock:  # the bridge logs every request; fold the log into a counter so it stays small
            total += len(bridge.log)
            bridge.log.clear()
        return PlainTextResponse(str(total))

    app.router.routes.insert(0, Route("/__bench_count", count, methods=["GET"]))
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools", lifespan="off",
                log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

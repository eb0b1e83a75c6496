"""Profile the gateway's hot path under load with py-spy (a sampling profiler; install it yourself:
``pip install py-spy``; it is not a project dependency).

    python -m bench.profile                   # plain chat completions, 32 connections, 8 s
    python -m bench.profile --stream          # streamed ones
    python -m bench.profile --root /tmp/copy  # the gateway of another tree (e.g. a patched copy)
    python -m bench.profile --target reference

Starts the fake upstream and the gateway (in-process store) on 127.0.0.1, drives them with wrk and
samples the gateway process; prints where the CPU goes by package (self time), the heaviest
functions (self) and the gateway's own frames (inclusive). Everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from .procs import Procs, clean_env, cpu_seconds, free_port, wait_until
from .run import BODY, CLIENT_KEY, PY, ROOT, STREAM_BODY, UPSTREAM_KEY, gateway_env, probe, start_redis

PACKAGES = ("uvicorn", "starlette", "httpx_aiohttp", "httpx", "aiohttp", "yarl", "multidict", "json", "logging", "asyncio",
            "shared", "uvloop", "httptools", "orjson", "redis", "upstash_redis", "urllib", "http/cookiejar", "email", "bench")


def owner(frame: str) -> str:
    m = re.search(r"\(([^()]*):\d+\)$", frame)
    path = m[1] if m else frame
    for key in PACKAGES:
        if path.startswith(key) or f"/{key}" in path:
            return key.replace("http/", "http.")
    return "other: " + path.rsplit("/", 1)[-1]


def analyze(raw_path: str, top: int = 25) -> str:
    by_pkg: collections.Counter[str] = collections.Counter()
    by_self: collections.Counter[str] = collections.Counter()
    shared_incl: collections.Counter[str] = collections.Counter()
    total = 0
    with open(raw_path) as fh:
        for line in fh:
            stack, _, n = line.rstrip().rpartition(" ")
            if not n.isdigit():
                continue
            count = int(n)
            total += count
            frames = stack.split(";")
            by_pkg[owner(frames[-1])] += count
            by_self[frames[-1]] += count
            for f in set(frames):
                if "shared/" in f:
                    shared_incl[re.sub(r":\d+\)$", ")", f)] += count
    # Functions (not lines) inclusive: a frame may appear on several lines of one stack; count it once.
    shared_funcs: collections.Counter[str] = collections.Counter()
    with open(raw_path) as fh:
        for line in fh:
            stack, _, n = line.rstrip().rpartition(" ")
            if not n.isdigit():
                continue
            for f in {re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if "shared/" in f}:
                shared_funcs[f] += int(n)
    out = [f"{total} samples", "", "self time by package:"]
    out += [f"  {100 * n / total:5.1f}%  {k}" for k, n in by_pkg.most_common(20)]
    out += ["", "heaviest lines (self):"]
    out += [f"  {100 * n / total:5.1f}%  {k}" for k, n in by_self.most_common(top)]
    out += ["", "gateway functions (inclusive):"]
    out += [f"  {100 * n / total:5.1f}%  {k}" for k, n in shared_funcs.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--conns", type=int, default=32)
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument("--stream", action="store_true", help="profile streamed requests")
    parser.add_argument("--root", default=ROOT, help="tree whose main.py runs (default: this repo)")
    parser.add_argument("--target", choices=["gateway", "reference"], default="gateway")
    parser.add_argument("--store", choices=["memory", "redis"], default="memory", help="the gateway's store (redis: starts a redis-server)")
    parser.add_argument("--log-level", default=None, help="LOG_LEVEL for the gateway (default: main.py's)")
    parser.add_argument("--raw", help="keep py-spy's collapsed stacks here")
    args = parser.parse_args(argv)
    pyspy = shutil.which("py-spy")
    if not pyspy:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="gwprof-")
    procs = Procs(os.path.join(tmp, "logs"))
    spy = None
    try:
        fake_port = free_port()
        fake = procs.start("upstream", [PY, "-m", "bench.fake_upstream", "--port", str(fake_port)], fake_port, clean_env(), ROOT)
        up_headers = {"content-type": "application/json", "authorization": f"Bearer {UPSTREAM_KEY}"}
        wait_until(lambda: probe(fake_port, "/v1/chat/completions", up_headers), 15, 0.01, fake)
        port = free_port()
        if args.target == "reference":
            env = clean_env({"UPSTREAM_URL": f"http://127.0.0.1:{fake_port}/v1/chat/completions", "PORT": str(port)})
            server = procs.start("reference", [PY, "-m", "bench.reference"], port, env, ROOT)
        else:
            redis = None
            if args.store == "redis":
                redis, why = start_redis(procs, tmp)
                if redis is None:
                    print(why, file=sys.stderr)
                    return 2
            env = gateway_env(port, f"http://127.0.0.1:{fake_port}", args.store, redis, None, None, args.log_level)
            server = procs.start("gateway", [PY, "main.py"], port, env, os.path.abspath(args.root))
        headers = {"content-type": "application/json", "authorization": f"Bearer {CLIENT_KEY}"}
        wait_until(lambda: probe(port, "/v1/chat/completions", headers), 30, 0.01, server)
        body = STREAM_BODY if args.stream else BODY
        script = os.path.join(tmp, "post.lua")
        with open(script, "w") as fh:
            fh.write('wrk.method = "POST"\n' f"wrk.body = [==[{body.decode()}]==]\n")
            for k, v in headers.items():
                fh.write(f'wrk.headers["{k}"] = "{v}"\n')
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        subprocess.run(["wrk", "-t1", f"-c{args.conns}", "-d2s", "-s", script, url], capture_output=True, timeout=60)  # warm-up
        raw = args.raw or os.path.join(tmp, "profile.raw")
        spy = subprocess.Popen([pyspy, "record", "-p", str(server.pid), "-r", str(args.rate), "-d", str(args.seconds + 1),
                                "--format", "raw", "-o", raw, "--nonblocking"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(0.5)
        before = cpu_seconds(server.pid)
        out = subprocess.run(["wrk", "-t1", f"-c{args.conns}", f"-d{args.seconds}s", "-s", script, url],
                             capture_output=True, text=True, timeout=args.seconds + 60)
        used = cpu_seconds(server.pid) - before
        try:
            spy.wait(args.seconds + 30)
        except subprocess.TimeoutExpired:
            spy.kill()
        m = re.search(r"(\d+) requests in", out.stdout)
        n = int(m[1]) if m else 0
        print(f"{args.target} ({'stream' if args.stream else 'plain'}), {n} requests, "
              f"{used * 1000 / max(n, 1):.3f} ms CPU/request while sampled (py-spy adds overhead)\n")
        if os.path.exists(raw):
            print(analyze(raw))
        else:
            print("py-spy wrote nothing:", spy.stdout.read().decode() if spy.stdout else "", file=sys.stderr)
            return 1
        return 0
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
            spy.wait(5)
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

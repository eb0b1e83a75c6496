"""Benchmark the gateway against a lean reference forwarder and the upstream itself, in one run.

    python -m bench            # full run (a few minutes on a quiet 2-core machine)
    python -m bench --quick    # seconds-long smoke run (small counts, one round)

Everything runs on 127.0.0.1: a fast fake upstream (``bench/fake_upstream.py``), the reference
forwarder (``bench/reference.py``), the gateway (``python main.py``) with the in-process store, and
with the Redis TCP / Upstash REST stores when those exist and a ``redis-server`` is available.
Targets are measured interleaved, round after round (the order rotates), and each figure is the
median over rounds. Results: a Markdown table on stdout, ``bench/results/latest.json`` (+ ``.md``)
and, for a full run, ``bench/RESULTS.md``. See ``bench/README.md`` for what each column means.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .client import Connection
from .fake_upstream import CHUNKS, MODEL
from .procs import Proc, Procs, clean_env, cpu_seconds, free_port, rss_mb, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
PY = sys.executable

UPSTREAM_KEY = "sk-bench-upstream"
CLIENT_KEY = "sk-bench-client-0123456789"
# A typical small chat request (~1 KB: a system prompt and a short conversation), so that parsing
# and re-serialising the body costs what it costs in real use.
BODY = json.dumps({"model": MODEL, "messages": [
    {"role": "system", "content": "You are a helpful assistant. Answer briefly and precisely; use plain text, "
                                  "no Markdown. If you are unsure, say so. " * 2},
    {"role": "user", "content": "What is the capital of France, and roughly how many people live there?"},
    {"role": "assistant", "content": "Paris. About 2.1 million people live in the city proper and about 12 million "
                                     "in the wider metropolitan area."},
    {"role": "user", "content": "And which river runs through it? Give me one sentence of history about the river "
                                "and one about the bridges, please."},
], "max_tokens": 256, "temperature": 0.2, "user": "bench-user-42"}, separators=(",", ":")).encode()
STREAM_BODY = BODY[:-1] + b',"stream":true}'


def set_body_kb(kb: float) -> None:
    """Pad the conversation to about ``kb`` KB (more turns of text), e.g. to see JSON costs grow with size."""
    global BODY, STREAM_BODY
    obj = json.loads(BODY)
    turn = "Here is some more context for the question, with a few non-ASCII letters (é, ü, ß) and digits 12345. " * 10
    i = 0
    while len(json.dumps(obj, ensure_ascii=False).encode()) < kb * 1024:
        obj["messages"].insert(-1, {"role": "assistant" if i % 2 else "user", "content": turn})
        i += 1
    BODY = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    STREAM_BODY = BODY[:-1] + b',"stream":true}'
N_EVENTS = CHUNKS + 1  # 20 content events + [DONE]

DOORS = [("shared.app", "shared/app.py"), ("api.index", "api/index.py"),
         ("functions.aws.handler", "functions/aws/handler.py"), ("functions.gcp.main", "functions/gcp/main.py")]

# The budget (issue "Benchmark and performance budget"): ratios are against the reference, same run.
BUDGET = {"cpu_ratio": 2.0, "rps_ratio": 0.5, "added_p50_memory_ms": 0.6, "added_p50_redis_ms": 1.0,
          "added_ttfc_ms": 0.5, "cold_ratio": 2.0, "rss_mb": 60.0}

GATEWAY_CONFIG = """\
providers:
  - provider: bench
    base_url: {upstream}/v1/chat/completions
    api: {upstream_key}
    model: [{model}]
api_keys:
  - api: {client_key}
    model: [all]
{key_prefs}"""


@dataclass
class Mode:
    rounds: int
    lat_n: int  # requests per round at c=1
    stream_n: int  # streamed requests per round
    warmup: int  # requests per target before the first round
    duration: int  # seconds of wrk per target per round
    conns: int
    cold_runs: int
    import_runs: int
    store_ops_n: int


QUICK = Mode(rounds=1, lat_n=60, stream_n=3, warmup=20, duration=1, conns=32, cold_runs=1, import_runs=1, store_ops_n=10)
FULL = Mode(rounds=5, lat_n=1000, stream_n=20, warmup=300, duration=5, conns=32, cold_runs=5, import_runs=5, store_ops_n=100)


@dataclass
class Target:
    name: str
    kind: str  # direct | reference | gateway
    store: str | None = None  # memory | redis | upstash (gateway rows)
    proc: Proc | None = None
    port: int = 0
    path: str = "/v1/chat/completions"
    headers: dict[str, str] = field(default_factory=dict)
    skipped: str | None = None
    error: str | None = None
    store_name: str | None = None  # what the gateway's /healthz reports
    root: str = ROOT  # the tree whose main.py runs (variants: a patched copy)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.skipped is None


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))]


def med(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


# ---------------------------------------------------------------- measurements

def check_answer(answer, stream: bool) -> None:
    if answer.status != 200:
        raise RuntimeError(f"HTTP {answer.status}: {answer.body[:300]!r}")
    if stream:
        if not answer.body.endswith(b"data: [DONE]\n\n") or len(answer.event_times) != N_EVENTS:
            raise RuntimeError(f"stream incomplete: {len(answer.event_times)} events, tail {answer.body[-80:]!r}")
    elif b'"choices"' not in answer.body:
        raise RuntimeError(f"no choices in {answer.body[:300]!r}")


def latency_c1(t: Target, n: int) -> dict[str, float]:
    times, degraded = [], 0
    pid = t.proc.pid if t.proc else None
    with Connection("127.0.0.1", t.port) as conn:
        cpu = cpu_seconds(pid) if pid else 0.0
        for _ in range(n):
            answer = conn.request("POST", t.path, BODY, t.headers)
            check_answer(answer, False)
            times.append(answer.total * 1000)
            degraded += answer.headers.get("x-gateway-store") == "degraded"
        cpu = cpu_seconds(pid) - cpu if pid else None
    # CPU per request with no batching of events (one request in flight): steadier than under saturation.
    return {"p50_ms": pct(times, 50), "p99_ms": pct(times, 99), "n": n, "degraded": degraded,
            "cpu_ms_per_req": cpu * 1000 / n if cpu is not None else None}


def stream_c1(t: Target, n: int) -> dict[str, float]:
    ttfc, total, separate = [], [], []
    with Connection("127.0.0.1", t.port) as conn:
        for _ in range(n):
            answer = conn.request("POST", t.path, STREAM_BODY, t.headers)
            check_answer(answer, True)
            ttfc.append(answer.first_event * 1000)
            total.append(answer.total * 1000)
            separate.append(len(set(answer.event_times)))
    return {"ttfc_ms": statistics.median(ttfc), "total_ms": statistics.median(total),
            "separate_arrivals": statistics.median(separate), "n": n}


def wrk_script(tmp: str, headers: dict[str, str], body: bytes) -> str:
    path = os.path.join(tmp, f"post_{abs(hash((tuple(headers.items()), body)))}.lua")
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body.decode()}]==]"]
    for name, value in headers.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    lines.append("""done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests":%d,"duration_us":%d,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,'
    .. '"max_us":%.0f,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end""")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def throughput(t: Target, mode: Mode, script: str, watch: dict[str, int]) -> dict[str, Any]:
    before = {k: cpu_seconds(pid) for k, pid in watch.items()}
    cmd = ["wrk", "-t1", f"-c{mode.conns}", f"-d{mode.duration}s", "--timeout", "10s", "-s", script,
           f"http://127.0.0.1:{t.port}{t.path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=mode.duration + 60)
    after = {k: cpu_seconds(pid) for k, pid in watch.items()}
    match = re.search(r"^BENCHJSON (.*)$", out.stdout, re.M)
    if out.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
    w = json.loads(match[1])
    n = w["requests"]
    secs = w["duration_us"] / 1e6
    errors = w["connect"] + w["read"] + w["write"] + w["status"] + w["timeout"]
    if n == 0 or errors > 0.01 * n:
        raise RuntimeError(f"wrk: {errors} errors in {n} requests ({w})")
    cpu = {k: (after[k] - before[k]) for k in watch}
    return {"rps": n / secs, "p50_ms": w["p50_us"] / 1000, "p99_ms": w["p99_us"] / 1000, "requests": n, "errors": errors,
            "cpu_ms_per_req": cpu["server"] * 1000 / n,
            "cpu_core_pct": {k: 100 * v / secs for k, v in cpu.items()},
            "cpu_ms_per_req_by_process": {k: v * 1000 / n for k, v in cpu.items()}}


def probe(port: int, path: str, headers: dict[str, str]) -> bool:
    with Connection("127.0.0.1", port, timeout=10) as conn:
        return conn.request("POST", path, BODY, headers).status == 200


# ---------------------------------------------------------------- stores

def resp_command(port: int, *args: str) -> bytes:
    """One Redis command over a raw socket (RESP), for INFO and PING: no client library needed."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if data.startswith((b"+", b"-", b":")) and data.endswith(b"\r\n"):
                break
            if data.startswith(b"$"):
                head, _, rest = data.partition(b"\r\n")
                if len(rest) >= int(head[1:]) + 2:
                    break
        return data


IGNORED_COMMANDS = {"info", "ping", "hello", "client", "select", "command", "config", "auth", "monitor"}


def commandstats(port: int) -> dict[str, int]:
    text = resp_command(port, "INFO", "commandstats").decode()
    stats = {}
    for name, calls in re.findall(r"cmdstat_([^:]+):calls=(\d+)", text):
        if name.split("|")[0] not in IGNORED_COMMANDS:
            stats[name] = int(calls)
    return stats


def start_redis(procs: Procs, workdir: str) -> tuple[Proc | None, str | None]:
    exe = shutil.which("redis-server")
    if not exe:
        return None, "redis-server not installed"
    port = free_port()
    proc = procs.start("redis-server", [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                        "--dir", workdir, "--loglevel", "warning"], port, clean_env(), workdir)
    wait_until(lambda: resp_command(port, "PING").startswith(b"+PONG"), 10, 0.01, proc)
    return proc, None


class UpstashBridge:
    """tests/fakes/upstash_bridge.py run in a subprocess (bench/upstash_runner.py), counting REST requests."""

    def __init__(self, proc: Proc, url: str, token: str) -> None:
        self.proc, self.url, self.token = proc, url, token

    def count(self) -> int | None:
        try:
            with Connection("127.0.0.1", self.proc.port, timeout=5) as conn:
                answer = conn.request("GET", "/__bench_count")
            return int(answer.body) if answer.status == 200 else None
        except (OSError, ValueError):
            return None


def start_upstash(procs: Procs, redis: Proc | None, workdir: str) -> tuple[UpstashBridge | None, str | None]:
    if not os.path.exists(os.path.join(ROOT, "shared", "store", "upstash.py")):
        return None, "shared/store/upstash.py does not exist yet"
    if not os.path.exists(os.path.join(ROOT, "tests", "fakes", "upstash_bridge.py")):
        return None, "tests/fakes/upstash_bridge.py (the REST bridge) does not exist yet"
    if redis is None:
        return None, "needs redis-server"
    port = free_port()
    token = "bench-upstash-token"
    proc = procs.start("upstash-bridge", [PY, "-m", "bench.upstash_runner", "--port", str(port), "--redis-port", str(redis.port),
                                          "--token", token], port, clean_env(), ROOT)
    bridge = UpstashBridge(proc, f"http://127.0.0.1:{port}", token)
    try:
        wait_until(lambda: bridge.count() is not None, 20, 0.02, proc)
    except RuntimeError as exc:
        procs.stop(proc)
        return None, f"the REST bridge did not start: {str(exc)[-300:]}"
    return bridge, None


# ---------------------------------------------------------------- servers

def gateway_env(port: int, upstream: str, store: str, redis: Proc | None, bridge: UpstashBridge | None,
                key_limit: str | None, log_level: str | None) -> dict[str, str]:
    key_prefs = f"    preferences:\n      rate_limit: {key_limit}\n" if key_limit else ""
    env = {"HOST": "127.0.0.1", "PORT": str(port),
           "CONFIG_YAML": GATEWAY_CONFIG.format(upstream=upstream, upstream_key=UPSTREAM_KEY, model=MODEL,
                                                client_key=CLIENT_KEY, key_prefs=key_prefs)}
    if log_level:
        env["LOG_LEVEL"] = log_level
    if store == "redis" and redis is not None:
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis.port}/0"
    if store == "upstash" and bridge is not None:
        env["UPSTASH_REDIS_REST_URL"] = bridge.url
        env["UPSTASH_REDIS_REST_TOKEN"] = bridge.token
    return clean_env(env)


def healthz_store(port: int) -> str | None:
    with Connection("127.0.0.1", port, timeout=5) as conn:
        answer = conn.request("GET", "/healthz")
    try:
        return json.loads(answer.body).get("store")
    except ValueError:
        return None


def cold_start(procs: Procs, name: str, cmd: list[str], env_for_port: Callable[[int], dict[str, str]], path: str,
               headers: dict[str, str], runs: int, cwd: str) -> list[float]:
    """Process start → first successful chat answer, in ms (polling a fresh connection every 1 ms)."""
    out = []
    for i in range(runs):
        port = free_port()
        env = env_for_port(port)
        start = time.perf_counter()
        proc = procs.start(f"cold-{name}-{i}", cmd, port, env, cwd)
        try:
            wait_until(lambda: probe(port, path, headers), 30, 0.001, proc)
            out.append((time.perf_counter() - start) * 1000)
        finally:
            procs.stop(proc)
    return out


# ---------------------------------------------------------------- import cost

def _importtime_lines(stderr: str) -> list[tuple[int, int, int, str]]:
    """(self_us, cumulative_us, depth, name) for every ``-X importtime`` line."""
    rows = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m:
            rows.append((int(m[1]), int(m[2]), len(m[3]) // 2, m[4]))
    return rows


def import_cost(runs: int) -> list[dict[str, Any]]:
    env = clean_env()
    base = subprocess.run([PY, "-X", "importtime", "-c", "pass"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    baseline = {name for _, _, _, name in _importtime_lines(base.stderr)}
    results = []
    for module, path in DOORS:
        entry: dict[str, Any] = {"module": module, "path": path, "exists": os.path.exists(os.path.join(ROOT, path))}
        results.append(entry)
        if not entry["exists"]:
            entry["skipped"] = f"{path} does not exist yet"
            continue
        # One warm-up run writes the .pyc files: the figures are for warm .pyc, like a deployed bundle.
        subprocess.run([PY, "-c", f"import {module}"], cwd=ROOT, env=env, capture_output=True, timeout=120)
        totals, walls, by_package = [], [], []
        for _ in range(runs):
            t = time.perf_counter()
            r = subprocess.run([PY, "-X", "importtime", "-c", f"import {module}"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=120)
            wall = (time.perf_counter() - t) * 1000
            if r.returncode != 0:
                entry["error"] = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
                break
            lines = [row for row in _importtime_lines(r.stderr) if row[3] not in baseline]
            totals.append(sum(cum for _, cum, depth, _ in lines if depth == 0) / 1000)
            walls.append(wall)
            packages: dict[str, int] = {}
            for self_us, _, _, name in lines:
                root = name.split(".")[0]
                packages[root] = packages.get(root, 0) + self_us
            by_package.append(packages)
        if totals:
            t = time.perf_counter()
            subprocess.run([PY, "-c", "pass"], cwd=ROOT, env=env, capture_output=True, timeout=60)
            bare = (time.perf_counter() - t) * 1000
            entry["total_ms"] = statistics.median(totals)
            entry["process_wall_ms"] = statistics.median(walls)
            entry["bare_interpreter_ms"] = bare
            names = set().union(*by_package)
            top = sorted(((statistics.median([p.get(n, 0) for p in by_package]) / 1000, n) for n in names), reverse=True)
            entry["top_packages_ms"] = {n: round(ms, 1) for ms, n in top[:10]}
    return results


# ---------------------------------------------------------------- report

def fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}"
    return str(v)


COLUMNS = [
    ("target", "name"),
    ("c=1 p50 ms", "lat_p50_ms"), ("c=1 p99 ms", "lat_p99_ms"), ("added p50 ms", "added_p50_ms"),
    ("req/s @32", "rps"), ("p50 @32 ms", "tp_p50_ms"), ("p99 @32 ms", "tp_p99_ms"), ("CPU ms/req", "cpu_ms_per_req"), ("CPU ms/req c=1", "cpu_ms_per_req_c1"),
    ("stream CPU ms/req", "stream_cpu_ms_per_req"), ("1st chunk ms", "ttfc_ms"), ("added 1st chunk ms", "added_ttfc_ms"), ("20 chunks ms", "stream_total_ms"),
    ("added 20 chunks ms", "added_stream_total_ms"), ("buffered", "buffered"),
    ("cold start ms", "cold_start_ms"), ("RSS MB", "rss_mb"), ("store ops/req", "store_ops_per_req"),
]


def summarize(targets: list[Target]) -> list[dict[str, Any]]:
    """Medians over rounds; 'added' figures are per-round differences to the direct upstream, then the median."""
    direct = next(t for t in targets if t.kind == "direct")
    rows = []
    for t in targets:
        row: dict[str, Any] = {"name": t.name, "kind": t.kind, "store": t.store, "available": t.available}
        if t.skipped:
            row["skipped"] = t.skipped
        if t.error:
            row["error"] = t.error
        if t.store_name:
            row["store_reported"] = t.store_name
        rs = t.rounds

        def series(key: str, sub: str) -> list[float | None]:
            return [r.get(key, {}).get(sub) for r in rs]

        def added(key: str, sub: str) -> float | None:
            if t.kind == "direct":
                return None
            diffs = []
            for r, d in zip(rs, direct.rounds):
                a, b = r.get(key, {}).get(sub), d.get(key, {}).get(sub)
                if a is not None and b is not None:
                    diffs.append(a - b)
            return med(diffs)

        if t.available and rs:
            row.update({
                "lat_p50_ms": med(series("lat", "p50_ms")), "lat_p99_ms": med(series("lat", "p99_ms")),
                "added_p50_ms": added("lat", "p50_ms"), "added_p99_ms": added("lat", "p99_ms"),
                "rps": med(series("tp", "rps")), "tp_p50_ms": med(series("tp", "p50_ms")), "tp_p99_ms": med(series("tp", "p99_ms")),
                "cpu_ms_per_req": med(series("tp", "cpu_ms_per_req")), "cpu_ms_per_req_c1": med(series("lat", "cpu_ms_per_req")),
                "streams_per_s": med(series("stp", "rps")), "stream_cpu_ms_per_req": med(series("stp", "cpu_ms_per_req")),
                "ttfc_ms": med(series("stream", "ttfc_ms")), "added_ttfc_ms": added("stream", "ttfc_ms"),
                "stream_total_ms": med(series("stream", "total_ms")), "added_stream_total_ms": added("stream", "total_ms"),
                "separate_arrivals": med(series("stream", "separate_arrivals")),
            })
            sep = row["separate_arrivals"]
            row["buffered"] = None if sep is None else sep < N_EVENTS / 2
            upstream_cpu = [r.get("tp", {}).get("cpu_core_pct", {}).get("upstream") for r in rs]
            row["upstream_cpu_core_pct"] = med(upstream_cpu)
            store_cpu = [r.get("tp", {}).get("cpu_ms_per_req_by_process", {}).get("store") for r in rs]
            row["store_backend_cpu_ms_per_req"] = med(store_cpu)
        row.update(t.extra)
        row["rounds"] = rs
        rows.append(row)
    return rows


def evaluate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {(r["kind"], r["store"]): r for r in rows}
    ref = by.get(("reference", None), {})
    lines = []

    def line(text: str, measured: float | None, limit: float, lower_is_better: bool = True, extra: str = "") -> None:
        if measured is None:
            status = "N/A"
        else:
            status = "PASS" if (measured <= limit if lower_is_better else measured >= limit) else "MISS"
        lines.append({"line": text, "measured": measured, "limit": limit, "status": status, "detail": extra})

    for store in ("memory", "redis", "upstash"):
        g = by.get(("gateway", store))
        if not g or not g.get("available"):
            continue
        label = f"gateway ({store})"
        cpu, rcpu = g.get("cpu_ms_per_req"), ref.get("cpu_ms_per_req")
        line(f"{label} CPU/request ≤ {BUDGET['cpu_ratio']:g}× reference", cpu / rcpu if cpu and rcpu else None,
             BUDGET["cpu_ratio"], extra=f"{fmt(cpu, 3)} ms vs {fmt(rcpu, 3)} ms")
        scpu, rscpu = g.get("stream_cpu_ms_per_req"), ref.get("stream_cpu_ms_per_req")
        line(f"{label} CPU/streamed request ≤ {BUDGET['cpu_ratio']:g}× reference", scpu / rscpu if scpu and rscpu else None,
             BUDGET["cpu_ratio"], extra=f"{fmt(scpu, 3)} ms vs {fmt(rscpu, 3)} ms, 20 chunks each")
        rps, rrps = g.get("rps"), ref.get("rps")
        line(f"{label} throughput ≥ {BUDGET['rps_ratio']:g}× reference", rps / rrps if rps and rrps else None,
             BUDGET["rps_ratio"], lower_is_better=False, extra=f"{fmt(rps)} vs {fmt(rrps)} req/s")
        if store in ("memory", "redis"):
            limit = BUDGET["added_p50_memory_ms" if store == "memory" else "added_p50_redis_ms"]
            line(f"{label} added p50 latency at c=1 ≤ {limit:g} ms", g.get("added_p50_ms"), limit,
                 extra=f"reference adds {fmt(ref.get('added_p50_ms'), 3)} ms")
        if store == "memory":
            line(f"{label} added time to first streamed chunk ≤ {BUDGET['added_ttfc_ms']:g} ms", g.get("added_ttfc_ms"),
                 BUDGET["added_ttfc_ms"], extra=f"reference adds {fmt(ref.get('added_ttfc_ms'), 3)} ms")
            buffered = g.get("buffered")
            lines.append({"line": f"{label} streams without buffering", "measured": g.get("separate_arrivals"),
                          "limit": N_EVENTS / 2, "status": "N/A" if buffered is None else ("MISS" if buffered else "PASS"),
                          "detail": f"{fmt(g.get('separate_arrivals'), 0)} of {N_EVENTS} events arrived separately"})
            cold, rcold = g.get("cold_start_ms"), ref.get("cold_start_ms")
            line(f"{label} cold start ≤ {BUDGET['cold_ratio']:g}× reference", cold / rcold if cold and rcold else None,
                 BUDGET["cold_ratio"], extra=f"{fmt(cold, 0)} ms vs {fmt(rcold, 0)} ms")
            line(f"{label} RSS after load ≤ {BUDGET['rss_mb']:g} MB", g.get("rss_mb"), BUDGET["rss_mb"],
                 extra=f"reference {fmt(ref.get('rss_mb'), 1)} MB")
    return lines


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    out = [f"Benchmark ({result['meta']['mode']} mode, {result['meta']['rounds']} round(s), medians; "
           f"{result['meta']['cpus']} CPUs, load {result['meta']['loadavg_start']} → {result['meta']['loadavg_end']})", ""]
    try:
        busy = float(result["meta"]["loadavg_start"].split()[0]) > 1.0
    except (ValueError, IndexError):
        busy = False
    if busy:
        out += ["⚠ The machine was busy when the run started (1-minute load above 1 on "
                f"{result['meta']['cpus']} CPUs): absolute figures are noisy; compare ratios within this run only.", ""]
    out.append("| " + " | ".join(c for c, _ in COLUMNS) + " |")
    out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|")
    for r in rows:
        if not r.get("available"):
            out.append(f"| {r['name']} | " + " | ".join(["skipped"] + [""] * (len(COLUMNS) - 2)) + " |")
            continue
        cells = []
        for _, key in COLUMNS:
            v = r.get(key)
            if key == "name":
                cells.append(str(v) + (" ⚠ error" if r.get("error") else "") + (" ⚠ degraded" if r.get("degraded_during_load") else ""))
            elif key in ("cpu_ms_per_req", "stream_cpu_ms_per_req", "cpu_ms_per_req_c1"):
                cells.append(fmt(v, 3))
            elif key in ("cold_start_ms",):
                cells.append(fmt(v, 0))
            elif key in ("rss_mb",):
                cells.append(fmt(v, 1))
            elif key in ("added_p50_ms", "added_ttfc_ms", "lat_p50_ms", "ttfc_ms"):
                cells.append(fmt(v, 3))
            else:
                cells.append(fmt(v))
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    up = result["upstream"]
    out.append(f"Fake upstream alone (wrk, {result['meta']['conns']} connections): {fmt(up.get('rps'))} req/s, "
               f"{fmt(up.get('cpu_ms_per_req'), 4)} ms CPU/req, {up.get('workers')} worker(s); "
               f"during the forwarders' runs it used at most {fmt(up.get('max_cpu_core_pct_during_forwarders'), 0)}% of a core.")
    skipped = [r for r in rows if not r.get("available")]
    for r in skipped:
        out.append(f"- {r['name']}: skipped ({r['skipped']})")
    for r in rows:
        if r.get("degraded_during_load"):
            out.append(f"- {r['name']}: ⚠ degraded: the store missed its time budget under load, so some answers were "
                       "served from the in-process store (see the gateway's log warning); its figures at 32 connections "
                       "are not the store's")
    errors = [r for r in rows if r.get("error")]
    for r in errors:
        out.append(f"- {r['name']}: ERROR {r['error']}")
    out.append("")
    out.append("Budget (ratios against the reference in the same run):")
    out.append("")
    for b in result["budget"]:
        m = b["measured"]
        shown = "—" if m is None else (f"{m:.2f}×" if "×" in b["line"] else f"{m:.3f}" if isinstance(m, float) else str(m))
        out.append(f"- **{b['status']}** {b['line']}: measured {shown} ({b['detail']})")
    out.append("")
    out.append("Import cost of each door (`python -X importtime -c 'import <module>'`, warm .pyc, ms):")
    out.append("")
    out.append("| module | import ms | process wall ms | heaviest packages (self ms) |")
    out.append("|---|---:|---:|---|")
    for d in result["imports"]:
        if "total_ms" in d:
            top = ", ".join(f"{n} {ms:g}" for n, ms in list(d["top_packages_ms"].items())[:6])
            out.append(f"| `{d['module']}` | {d['total_ms']:.0f} | {d['process_wall_ms']:.0f} | {top} |")
        else:
            out.append(f"| `{d['module']}` | — | — | {d.get('skipped') or 'ERROR ' + d.get('error', '?')} |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- main

def versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("uvicorn", "uvloop", "httptools", "starlette", "httpx", "httpx-aiohttp", "aiohttp", "redis", "upstash-redis"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    try:
        line = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5).stdout.split("\n")[0]
        out["wrk"] = line.split(" Copyright")[0].removeprefix("wrk ").strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "?"


def run(args: argparse.Namespace) -> dict[str, Any]:
    mode = dataclasses.replace(QUICK if args.quick else FULL)
    if args.rounds:
        mode.rounds = args.rounds
    if args.duration:
        mode.duration = args.duration
    if args.cold_runs:
        mode.cold_runs = args.cold_runs
    if args.lat_n:
        mode.lat_n = args.lat_n
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    started = time.time()
    deadline = started + args.max_seconds
    tmp = tempfile.mkdtemp(prefix="gwbench-")
    procs = Procs(os.path.join(tmp, "logs"))
    targets: list[Target] = []
    result: dict[str, Any] = {}
    phases: dict[str, float] = {}
    mark = [time.perf_counter()]

    def phase(name: str) -> None:
        now = time.perf_counter()
        phases[name] = round(now - mark[0], 2)
        mark[0] = now

    try:
        # -- servers
        fake_port = free_port()
        fake = procs.start("upstream", [PY, "-m", "bench.fake_upstream", "--port", str(fake_port), "--workers", str(args.upstream_workers),
                                        "--chunk-delay-ms", str(args.chunk_delay_ms)], fake_port, clean_env(), ROOT)
        upstream_headers = {"content-type": "application/json", "authorization": f"Bearer {UPSTREAM_KEY}"}
        wait_until(lambda: probe(fake_port, "/v1/chat/completions", upstream_headers), 15, 0.01, fake)
        upstream_url = f"http://127.0.0.1:{fake_port}"
        targets.append(Target("upstream (direct)", "direct", proc=fake, port=fake_port, headers=upstream_headers))

        ref_env = lambda port: clean_env({"UPSTREAM_URL": upstream_url + "/v1/chat/completions", "UPSTREAM_KEY": UPSTREAM_KEY,
                                          "PORT": str(port), "HOST": "127.0.0.1"})
        ref_cmd = [PY, "-m", "bench.reference"]
        ref_port = free_port()
        ref = procs.start("reference", ref_cmd, ref_port, ref_env(ref_port), ROOT)
        client_headers = {"content-type": "application/json", "authorization": f"Bearer {CLIENT_KEY}"}
        targets.append(Target("reference forwarder", "reference", proc=ref, port=ref_port, headers=client_headers))

        want_redis = not args.no_stores or (args.variant and args.variant_store != "memory")
        want_bridge = not args.no_stores or (args.variant and args.variant_store == "upstash")
        redis, redis_skip = start_redis(procs, tmp) if want_redis else (None, "disabled by --no-stores")
        bridge, bridge_skip = start_upstash(procs, redis, tmp) if want_bridge else (None, "disabled by --no-stores")
        gw_cmd = [PY, "main.py"]
        for store in ("memory", "redis", "upstash"):
            t = Target(f"gateway ({store})", "gateway", store=store, headers=client_headers)
            targets.append(t)
            if store != "memory" and args.no_stores:
                t.skipped = "disabled by --no-stores"
            if store == "redis":
                if redis is None:
                    t.skipped = redis_skip
                elif not os.path.exists(os.path.join(ROOT, "shared", "store", "redis_tcp.py")):
                    t.skipped = "shared/store/redis_tcp.py does not exist yet"
            elif store == "upstash" and bridge is None:
                t.skipped = bridge_skip
            if t.skipped:
                continue
            env_for = (lambda s: lambda port: gateway_env(port, upstream_url, s, redis, bridge, args.key_rate_limit, args.log_level))(store)
            t.extra["env_for"] = env_for
            t.port = free_port()
            t.proc = procs.start(f"gateway-{store}", gw_cmd, t.port, env_for(t.port), ROOT)
        for spec in args.variant:
            label, _, path = spec.partition("=")
            path = os.path.abspath(path)
            if not label or not os.path.exists(os.path.join(path, "main.py")):
                raise SystemExit(f"--variant {spec!r}: expected LABEL=PATH to a tree with main.py")
            t = Target(f"variant {label} ({args.variant_store})", "variant", store=args.variant_store, headers=client_headers, root=path)
            targets.append(t)
            if args.variant_store != "memory" and (redis is None or (args.variant_store == "upstash" and bridge is None)):
                t.skipped = f"no {args.variant_store} store available"
                continue
            env_for = (lambda port: gateway_env(port, upstream_url, args.variant_store, redis, bridge, args.key_rate_limit,
                                                args.log_level))
            t.extra["env_for"] = env_for
            t.port = free_port()
            t.proc = procs.start(f"variant-{label}", gw_cmd, t.port, env_for(t.port), path)
        for t in targets:
            if t.kind == "direct" or not t.available:
                continue
            try:
                wait_until(lambda: probe(t.port, t.path, t.headers), 30, 0.01, t.proc)
                if t.kind in ("gateway", "variant"):
                    t.store_name = healthz_store(t.port)
                    if t.store != "memory" and t.store_name in (None, "memory"):
                        t.skipped = f"make_store did not pick the {t.store} store (/healthz says {t.store_name!r})"
                        procs.stop(t.proc)
            except Exception as exc:  # noqa: BLE001 - one broken target must not hide the others
                t.error = f"did not start: {str(exc)[-400:]}"
        live = [t for t in targets if t.available and not t.error]

        phase("start servers")
        # -- warm-up
        for t in live:
            try:
                latency_c1(t, mode.warmup)
                stream_c1(t, 2)
            except Exception as exc:  # noqa: BLE001
                t.error = f"warm-up: {exc}"
        live = [t for t in live if not t.error]

        # -- the fake upstream alone (wrk on it directly): its ceiling and its CPU per request
        scripts = {}
        for t in live:
            for body in (BODY, STREAM_BODY):
                key = (tuple(t.headers.items()), body)
                if key not in scripts:
                    scripts[key] = wrk_script(tmp, t.headers, body)
        watch_base = {"upstream": fake.pid}
        if redis is not None:
            watch_base["store"] = redis.pid
        if bridge is not None:
            watch_base["bridge"] = bridge.proc.pid

        phase("warm-up")
        # -- rounds, interleaved; the order rotates each round
        for rnd in range(mode.rounds):
            order = live[rnd % len(live):] + live[: rnd % len(live)]
            for t in order:
                r: dict[str, Any] = {"round": rnd}
                t.rounds.append(r)
                if time.time() > deadline:
                    t.error = t.error or "time limit reached"
                    continue
                try:
                    r["lat"] = latency_c1(t, mode.lat_n)
                    r["stream"] = stream_c1(t, mode.stream_n)
                    watch = {"server": t.proc.pid, **watch_base} if t.proc else dict(watch_base)
                    if t.kind == "direct":
                        watch = {"server": fake.pid, **{k: v for k, v in watch_base.items() if k != "upstream"}}
                    r["tp"] = throughput(t, mode, scripts[(tuple(t.headers.items()), BODY)], watch)
                    r["stp"] = throughput(t, mode, scripts[(tuple(t.headers.items()), STREAM_BODY)], watch)
                    if t.store in ("redis", "upstash") and "unavailable" in t.proc.log_tail(100_000):
                        t.extra["degraded_during_load"] = True  # the store timed out: some answers came from memory
                    if t.kind == "direct":
                        r["tp"]["cpu_core_pct"]["upstream"] = r["tp"]["cpu_core_pct"]["server"]
                except Exception as exc:  # noqa: BLE001
                    t.error = f"round {rnd}: {str(exc)[-400:]}"
            live = [t for t in live if not t.error]

        phase("rounds")
        # -- after load: RSS, then store round trips (exact counts at c=1)
        for t in targets:
            if t.proc is not None and t.proc.alive() and t.available:
                t.extra["rss_mb"] = rss_mb(t.proc.pid)
        for t in live:
            if t.kind not in ("gateway", "variant"):
                continue
            try:
                t.extra.update(store_ops(t, redis, bridge, mode.store_ops_n))
            except Exception as exc:  # noqa: BLE001
                t.error = f"store ops: {exc}"

        phase("store ops")
        # -- cold start: stop the warm servers first so they don't compete
        cold_targets = [t for t in targets if t.kind in ("reference", "gateway", "variant") and t.available and not t.error]
        for t in cold_targets:
            procs.stop(t.proc)
        for t in cold_targets if not args.skip_cold else []:
            if time.time() > deadline:
                break
            try:
                if t.kind == "reference":
                    times = cold_start(procs, "reference", ref_cmd, ref_env, t.path, t.headers, mode.cold_runs, ROOT)
                else:
                    times = cold_start(procs, t.name.replace(" ", "-").replace("(", "").replace(")", ""), gw_cmd,
                                       t.extra["env_for"], t.path, t.headers, mode.cold_runs, t.root)
                t.extra["cold_start_ms"] = statistics.median(times)
                t.extra["cold_start_runs_ms"] = times
            except Exception as exc:  # noqa: BLE001
                t.error = f"cold start: {str(exc)[-400:]}"
        for t in targets:
            t.extra.pop("env_for", None)

        phase("cold start")
        imports = import_cost(mode.import_runs) if time.time() < deadline and not args.skip_imports else []
        phase("imports")

        rows = summarize(targets)
        direct_row = rows[0]
        fwd_cpu = [r.get("upstream_cpu_core_pct") for r in rows[1:] if r.get("upstream_cpu_core_pct") is not None]
        upstream = {"rps": direct_row.get("rps"), "cpu_ms_per_req": direct_row.get("cpu_ms_per_req"),
                    "workers": args.upstream_workers, "chunk_delay_ms": args.chunk_delay_ms,
                    "max_cpu_core_pct_during_forwarders": max(fwd_cpu) if fwd_cpu else None}
        result = {
            "meta": {"mode": "quick" if args.quick else "full", "rounds": mode.rounds, "duration_s": mode.duration,
                     "conns": mode.conns, "lat_n": mode.lat_n, "stream_n": mode.stream_n, "chunks": CHUNKS,
                     "body_bytes": len(BODY),
                     "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                     "versions": versions(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                     "elapsed_s": round(time.time() - started, 1), "loadavg_start": args.loadavg_start, "loadavg_end": loadavg(),
                     "phases_s": phases, "key_rate_limit": args.key_rate_limit, "gateway_log_level": args.log_level or "main.py default (INFO)"},
            "upstream": upstream,
            "rows": rows,
            "imports": imports,
        }
        result["budget"] = evaluate(rows)
        result["table_markdown"] = markdown(result)
        return result
    finally:
        procs.stop_all()
        if args.keep_logs:
            print(f"logs kept in {procs.log_dir}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


class RedisMonitor:
    """``MONITOR`` on a raw socket while a block runs: counts the commands clients send (top level),
    leaving out those run inside Lua scripts (tagged ``[db lua]``)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.top_level: dict[str, int] = {}
        self.in_scripts = 0
        self._stop = threading.Event()

    def __enter__(self) -> "RedisMonitor":
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.sock.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
        buf = b""
        while b"\r\n" not in buf:
            buf += self.sock.recv(4096)
        self._buf = buf.split(b"\r\n", 1)[1]  # after +OK
        self.sock.settimeout(0.05)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self) -> None:
        buf = self._buf
        while True:
            try:
                data = self.sock.recv(65536)
                if not data:
                    break
                buf += data
            except socket.timeout:
                if self._stop.is_set():
                    break
                continue
            *lines, buf = buf.split(b"\r\n")
            for line in lines:
                m = re.match(rb'\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"', line)
                if not m:
                    continue
                if m[1] == b"lua":
                    self.in_scripts += 1
                else:
                    name = m[2].decode().lower()
                    if name not in IGNORED_COMMANDS:
                        self.top_level[name] = self.top_level.get(name, 0) + 1

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.1)  # let the last lines arrive
        self._stop.set()
        self.thread.join(5)
        self.sock.close()


def quiesce(probe_fn: Callable[[], Any], settle: float = 0.3, timeout: float = 15.0) -> None:
    """Wait until ``probe_fn()`` stops changing (e.g. a REST bridge still draining a backlog)."""
    deadline = time.time() + timeout
    last, since = probe_fn(), time.time()
    while time.time() < deadline:
        time.sleep(0.05)
        now = probe_fn()
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= settle:
            return


def store_ops(t: Target, redis: Proc | None, bridge: UpstashBridge | None, n: int) -> dict[str, Any]:
    """Remote store operations per request, counted exactly over n plain + n streamed requests at c=1.

    Redis: commands sent by clients (MONITOR, Lua-internal ones left out; a pipeline would count
    as its commands), with the INFO commandstats delta (which includes the script-internal calls)
    kept as detail. Upstash: HTTP requests the REST bridge served.
    """
    if t.store == "memory":
        return {"store_ops_per_req": 0.0, "store_ops_detail": "in-process: no remote calls"}
    out: dict[str, Any] = {}
    quiesce(lambda: (commandstats(redis.port) if redis else None, bridge.count() if bridge else None))
    for label, body in (("plain", BODY), ("stream", STREAM_BODY)):
        before = commandstats(redis.port) if redis else {}
        count_before = bridge.count() if (bridge and t.store == "upstash") else None
        with RedisMonitor(redis.port) as mon, Connection("127.0.0.1", t.port) as conn:
            for _ in range(n):
                answer = conn.request("POST", t.path, body, t.headers)
                check_answer(answer, body is STREAM_BODY)
                if answer.headers.get("x-gateway-store") == "degraded":
                    raise RuntimeError("the gateway answered in degraded mode (store unreachable or too slow)")
        after = commandstats(redis.port) if redis else {}
        delta = {k: (after.get(k, 0) - before.get(k, 0)) / n for k in after if after.get(k, 0) != before.get(k, 0)}
        out[f"redis_commandstats_per_req_{label}"] = {k: round(v, 3) for k, v in sorted(delta.items())}
        out[f"redis_top_level_per_req_{label}"] = {k: round(v / n, 3) for k, v in sorted(mon.top_level.items())}
        out[f"redis_in_scripts_per_req_{label}"] = round(mon.in_scripts / n, 3)
        if count_before is not None:
            count_after = bridge.count()
            out[f"rest_requests_per_req_{label}"] = (count_after - count_before) / n if count_after is not None else None
    if t.store == "upstash":
        out["store_ops_per_req"] = out.get("rest_requests_per_req_plain")
        out["store_ops_detail"] = "HTTP requests to the REST bridge per plain request"
    else:
        out["store_ops_per_req"] = round(sum(out["redis_top_level_per_req_plain"].values()), 3)
        out["store_ops_detail"] = "Redis commands sent per plain request (MONITOR; script-internal calls excluded)"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Gateway benchmark and performance budget.")
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run: small counts, one round")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, quick 1)")
    parser.add_argument("--duration", type=int, help="seconds of wrk per target per round (default 5, quick 1)")
    parser.add_argument("--out", default=os.path.join(BENCH, "results", "latest.json"), help="JSON output path")
    parser.add_argument("--results-md", help="also write the Markdown report here (a full run defaults to bench/RESULTS.md)")
    parser.add_argument("--body-kb", type=float, help="pad the request body to about this many KB (default: a ~0.7 KB chat)")
    parser.add_argument("--upstream-workers", type=int, default=1, help="fake upstream processes (default 1)")
    parser.add_argument("--chunk-delay-ms", type=float, default=2.0, help="delay between the fake's stream chunks")
    parser.add_argument("--key-rate-limit", default=None, help="rate_limit for the benchmark key, e.g. '1000000/min' (default none)")
    parser.add_argument("--log-level", default=None, help="LOG_LEVEL for the gateway (default: main.py's default)")
    parser.add_argument("--no-stores", action="store_true", help="skip the Redis and Upstash rows")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=PATH",
                        help="also measure the gateway of another tree (e.g. a patched copy), in-process store; repeatable")
    parser.add_argument("--variant-store", choices=["memory", "redis", "upstash"], default="memory",
                        help="the store the --variant gateways use (default memory)")
    parser.add_argument("--lat-n", type=int, help="requests per target and round at c=1 (default 1000, quick 60)")
    parser.add_argument("--cold-runs", type=int, help="process starts per target for the cold-start figure (default 5, quick 1)")
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold-start measurement")
    parser.add_argument("--skip-imports", action="store_true", help="skip the import-time measurement")
    parser.add_argument("--max-seconds", type=float, default=1200, help="stop measuring after this long (default 1200)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (path printed)")
    args = parser.parse_args(argv)
    args.loadavg_start = loadavg()
    if args.body_kb:
        set_body_kb(args.body_kb)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    result = run(args)
    text = result["table_markdown"]
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1, default=str)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as fh:
        fh.write(text)
    results_md = args.results_md or (None if args.quick or args.variant else os.path.join(BENCH, "RESULTS.md"))
    if results_md:
        with open(results_md, "w") as fh:
            fh.write("# Benchmark results\n\nWritten by `python -m bench` (see bench/README.md); refresh on a quiet machine.\n\n")
            fh.write(f"Run {result['meta']['started']}, Python {result['meta']['python']}, {result['meta']['platform']}, "
                     f"versions: {', '.join(f'{k} {v}' for k, v in result['meta']['versions'].items())}.\n\n")
            fh.write(text)
    print(f"JSON: {args.out}", file=sys.stderr)
    errors = [r["name"] for r in result["rows"] if r.get("error")]
    if errors:
        print(f"errors in: {', '.join(errors)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Cold-start figures for the deploy doors: import cost and process start -> first answered request.

    python scripts/coldstart.py [--runs 5] [--top 12]

For each door it measures, as the median of fresh processes:

* import (ms): wall time of importing the door module, with warm bytecode caches (``.pyc``) and with
  bytecode for the standard library only (the installed packages and the gateway's own code compiled
  on import). Vercel and Cloud Functions compile bytecode at build time; a zip made by ``sam build``
  or serverless-python-requirements carries none (wheels are unpacked, not compiled; ``slim``
  deletes any), and Lambda's /var/task is read-only, so Lambda pays the second figure on every cold start.
* first answer (ms): process spawn -> the first chat completion answered (config load, routing, one
  upstream call to a local fake), with the same two bytecode caches. For Lambda the process is a
  minimal runtime loop that imports the handler and invokes it with a Function URL event.

Each measurement has its own cache directory (``PYTHONPYCACHEPREFIX``); the work tree is not written.

Then the heaviest imports of ``import shared.app`` by ``python -X importtime`` (cumulative ms).
Numbers are for this machine; compare them with each other, not with a cloud's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import httpx  # noqa: E402

from tests.door_process import USER_KEY, door_env  # noqa: E402
from tests.fakes.openai_fake import FakeOpenAI  # noqa: E402
from tests.fakes.server import free_port  # noqa: E402

GCP_IMPORT = "import sys; sys.path.insert(0, 'functions/gcp'); import main"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
LAMBDA_LOOP = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from functions.aws.handler import handler
for line in sys.stdin:
    print(json.dumps(handler(json.loads(line), None)), flush=True)
"""


def import_ms(statement: str, env: dict[str, str]) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def bytecode_envs(warm_up: Callable[[dict[str, str]], object], env: dict[str, str],
                  tmp: str) -> tuple[dict[str, str], dict[str, str]]:
    """Two environments with their own bytecode caches (``PYTHONPYCACHEPREFIX``), filled by calling
    ``warm_up(env)`` once: one with everything compiled, one with the standard library only."""
    warm, stdlib = os.path.join(tmp, "warm"), os.path.join(tmp, "stdlib")
    writing = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    warm_up({**writing, "PYTHONPYCACHEPREFIX": warm})
    shutil.copytree(warm, stdlib)
    for directory, _, files in os.walk(stdlib):
        if "site-packages" in directory or ROOT.lstrip(os.sep) in directory:
            for name in files:
                os.remove(os.path.join(directory, name))
    return ({**env, "PYTHONPYCACHEPREFIX": warm, "PYTHONDONTWRITEBYTECODE": "1"},
            {**env, "PYTHONPYCACHEPREFIX": stdlib, "PYTHONDONTWRITEBYTECODE": "1"})


def first_answer_server(argv: list[str], env: dict[str, str], port: int) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT,
                                      headers={"authorization": f"Bearer {USER_KEY}"}, timeout=10)
                assert response.status_code == 200, response.text
                return (time.perf_counter() - started) * 1000
            except httpx.TransportError:
                if proc.poll() is not None or time.perf_counter() - started > 60:
                    raise RuntimeError(f"{argv} did not start")
                time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait(10)


def first_answer_lambda(env: dict[str, str]) -> float:
    event = {"version": "2.0", "rawPath": "/v1/chat/completions", "rawQueryString": "",
             "headers": {"host": "x.lambda-url.us-east-1.on.aws", "authorization": f"Bearer {USER_KEY}",
                         "content-type": "application/json"},
             "requestContext": {"http": {"method": "POST", "path": "/v1/chat/completions", "sourceIp": "203.0.113.7"}},
             "body": json.dumps(CHAT), "isBase64Encoded": False}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", LAMBDA_LOOP, ROOT], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin and proc.stdout
    try:
        proc.stdin.write(json.dumps(event) + "\n")
        proc.stdin.flush()
        response = json.loads(proc.stdout.readline())
        assert response["statusCode"] == 200, response
        return (time.perf_counter() - started) * 1000
    finally:
        proc.stdin.close()
        proc.wait(10)


def heaviest_imports(statement: str, env: dict[str, str], top: int) -> list[tuple[int, str]]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    rows = []
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line[len("import time:"):].split("|")
            rows.append((int(cumulative), name.rstrip()))
    # Keep each package's outermost entry: the lines with the least indentation per top-level name.
    seen: dict[str, tuple[int, str]] = {}
    for cumulative, name in rows:
        key = name.strip()
        if key not in seen or cumulative > seen[key][0]:
            seen[key] = (cumulative, name)
    return sorted(seen.values(), reverse=True)[:top]


def median(samples: list[float]) -> str:
    return f"{statistics.median(samples):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()

    fake = FakeOpenAI("up").start()
    env = door_env(fake.url)
    ff = os.path.join(os.path.dirname(sys.executable), "functions-framework")
    doors = {  # label: (import statement, how to get a first answer from a fresh process)
        "Vercel (api/index.py)": ("import api.index", lambda port: [
            sys.executable, "-m", "uvicorn", "api.index:app", "--port", str(port), "--log-level", "warning"]),
        "AWS Lambda (functions/aws/handler.py)": ("import functions.aws.handler", None),
        "Cloud Functions (functions/gcp/main.py)": (GCP_IMPORT, lambda port: [
            ff, "--target", "gateway", "--source", "functions/gcp/main.py", "--port", str(port)]),
    }
    try:
        started = time.perf_counter()
        for _ in range(args.runs):
            subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        print(f"Interpreter start-up (python -c pass): {(time.perf_counter() - started) * 1000 / args.runs:.0f} ms\n")
        print("| door | import, all .pyc (ms) | import, stdlib .pyc only (ms) "
              "| spawn -> first chat answer, all .pyc (ms) | same, stdlib .pyc only (ms) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for label, (statement, server) in doors.items():
            def answer(run_env: dict[str, str]) -> float:
                if server is None:
                    return first_answer_lambda(run_env)
                port = free_port()
                return first_answer_server(server(port), run_env, port)

            with tempfile.TemporaryDirectory() as tmp:
                warm_env, stdlib_env = bytecode_envs(answer, env, tmp)  # one answer compiles all it imports
                row = [[import_ms(statement, e) for _ in range(args.runs)] for e in (warm_env, stdlib_env)]
                row += [[answer(e) for _ in range(args.runs)] for e in (warm_env, stdlib_env)]
            print(f"| {label} | " + " | ".join(median(samples) for samples in row) + " |")
        print("\nHeaviest imports of `import shared.app` (cumulative ms, all .pyc, one run):")
        with tempfile.TemporaryDirectory() as tmp:
            warm_env, _ = bytecode_envs(lambda e: import_ms("import shared.app", e), env, tmp)
            for cumulative, name in heaviest_imports("import shared.app", warm_env, args.top):
                print(f"  {cumulative / 1000:7.1f}  {name}")
    finally:
        fake.stop()


if __name__ == "__main__":
    main()

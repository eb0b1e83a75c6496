"""Helpers for the door tests: a door runs as a real process, configured only through its environment.

Each door imports ``shared.app`` at start-up and reads the environment then, exactly as on its cloud,
so the tests start a fresh process with ``CONFIG_YAML`` pointing at a fake upstream instead of
reusing the app object of the test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from typing import Any, Iterator

import httpx

from tests.builders import CHAT_COMPLETIONS, config, provider
from tests.fakes.server import free_port
from tests.processes import stop_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_KEY = "sk-door-admin-0123456789"
USER_KEY = "sk-door-user-0123456789"
UPSTREAM_KEY = "sk-upstream-key-1"
MODELS = ["gpt-4o", "text-embedding-3-small", "tts-1", "whisper-1"]  # what the doors' config serves (from the fake upstream)

# Variables a developer's shell or CI might carry that would change what the door loads.
GATEWAY_VARS = ("ADMIN_API_KEY", "TEMP_API_KEY", "TEMP_API_KEY_ONE", "ENVIRONMENT", "TIMEOUT_SECONDS", "TIMEOUT",
                "CONFIG_YAML", "CONFIG_PATH", "CONFIG_URL", "REDIS_URL", "UPSTASH_REDIS_REST_URL",
                "UPSTASH_REDIS_REST_TOKEN", "KV_REST_API_URL", "KV_REST_API_TOKEN", "DISABLE_DATABASE",
                "STORE_PREFIX", "PORT", "HOST", "PYTHONPATH", "MAX_REQUEST_BYTES",
                # set by the platforms themselves; they change defaults such as MAX_REQUEST_BYTES'
                "VERCEL", "AWS_LAMBDA_FUNCTION_NAME", "K_SERVICE", "FUNCTION_TARGET")


def door_env(upstream_url: str, **extra: str) -> dict[str, str]:
    """A production-mode environment whose config serves :data:`MODELS` from the fake upstream."""
    env = {k: v for k, v in os.environ.items() if k not in GATEWAY_VARS}
    env.update(
        ENVIRONMENT="production",
        ADMIN_API_KEY=ADMIN_KEY,
        TEMP_API_KEY=USER_KEY,
        CONFIG_YAML=json.dumps(config(provider("up", upstream_url, path=CHAT_COMPLETIONS, api=UPSTREAM_KEY, models=MODELS))),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class ServerProcess:
    """A door serving HTTP on a free 127.0.0.1 port; ``argv`` may use ``{port}``. Stopped by ``stop()``."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str = ROOT) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [a.format(port=self.port) for a in argv]
        self.env = env
        self.cwd = cwd
        self.log = tempfile.TemporaryFile()
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_in = 0.0  # seconds from spawn to the first answered request

    def start(self, probe: str = "/healthz", timeout: float = 60.0) -> "ServerProcess":
        spawned = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = spawned + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv} exited with {self.proc.returncode}:\n{self.output()}")
            try:
                httpx.get(self.url + probe, timeout=2.0)
                break
            except httpx.TransportError:
                if time.perf_counter() > deadline:
                    output = self.output()  # read before stop() closes the log
                    self.stop()
                    raise RuntimeError(f"{self.argv} did not answer within {timeout} s:\n{output}") from None
                time.sleep(0.02)
        self.started_in = time.perf_counter() - spawned
        return self

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)
        self.log.close()


SPEECH = {"model": "tts-1", "voice": "alloy", "input": "door"}


def speech_audio(chunks: int = 5) -> bytes:
    """What the fake upstream's speech answer for :data:`SPEECH` is (tests/fakes/openai_media.py)."""
    return b"".join(bytes([n]) + b"[mp3 audio of door]" for n in range(chunks))


def chat_body(text: str = "hello", stream: bool = False, model: str = "gpt-4o") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any] | str]:
    """The ``data:`` payloads of an SSE stream: parsed JSON objects, and the string ``[DONE]``."""
    for line in lines:
        if line.startswith("data: "):
            payload = line[6:].strip()
            yield payload if payload == "[DONE]" else json.loads(payload)


def stream_text(events: list[dict[str, Any] | str]) -> str:
    return "".join((e["choices"][0]["delta"].get("content") or "")
                   for e in events if isinstance(e, dict) and e.get("choices"))

"""Logging on every door: the level (``LOG_LEVEL``), the format (``LOG_FORMAT=text|json``), and the
one access-log line each request leaves.

Why here and not in ``main.py``: the serverless doors import the app and nothing else, so the app
sets up its own logger. It behaves like ``logging.basicConfig``: a handler on stderr is added only
when the process has none (a platform's runtime or a test harness may have installed its own, and
records then go there). ``LOG_FORMAT=json`` always writes through its own handler, one JSON object
per line, for platforms that index JSON logs (CloudWatch, Cloud Logging, Vercel log drains).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"

log = logging.getLogger("gateway")
access = logging.getLogger("gateway.access")
_installed: logging.Handler | None = None


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted, as ``logging.lastResort`` does:
    a process that swaps it (a test harness capturing output) never leaves us writing to a closed file."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the record's ``fields`` (the
    access log's structured data)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def read_env(env: Mapping[str, str]) -> tuple[str, str]:
    """``(level, format)`` from the environment; a ``ValueError`` naming the variable when unknown."""
    level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    if level not in LEVELS:
        raise ValueError(f"environment variable LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, got {level!r}")
    fmt = (env.get("LOG_FORMAT") or "text").strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"environment variable LOG_FORMAT: expected 'text' or 'json', got {fmt!r}")
    return level, fmt


def setup(level: str, fmt: str) -> None:
    """Configure the ``gateway`` loggers once per process (later calls only adjust the level)."""
    global _installed
    log.setLevel(level)
    if _installed is not None:
        return
    if fmt == "json":
        handler: logging.Handler = StderrHandler()
        handler.setFormatter(JsonFormatter())
        log.addHandler(handler)
        log.propagate = False  # the platform's own handler would print each line a second time
        _installed = handler
    elif not logging.getLogger().handlers:
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        logging.getLogger().addHandler(handler)
        _installed = handler


@dataclass
class Attempt:
    provider: str
    model: str  # the upstream model
    status: int  # upstream status, 502/504 for connection failures and timeouts
    ms: float
    cause: str = ""  # why it failed ("" when it answered)


@dataclass
class RequestLog:
    """What one request did, filled in along the way and written as one access-log line at its end."""

    request_id: str
    method: str
    path: str
    started: float = field(default_factory=time.perf_counter)
    key_id: str = ""
    model: str = ""
    status: int = 0
    store_ms: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)
    error: str = ""  # the error code sent to the client

    def fields(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id, "method": self.method, "path": self.path, "status": self.status,
            "key_id": self.key_id or None, "model": self.model or None,
            "attempts": [{"provider": a.provider, "model": a.model, "status": a.status, "ms": round(a.ms, 1),
                          **({"cause": a.cause} if a.cause else {})} for a in self.attempts],
            "store_ms": round(self.store_ms, 2), "ms": round((time.perf_counter() - self.started) * 1000, 1),
            **({"error": self.error} if self.error else {}),
        }

    def write(self) -> None:
        if not access.isEnabledFor(logging.INFO):
            return
        f = self.fields()
        tried = " ".join(f"{a['provider']}:{a['status']}:{a['ms']}ms" for a in f["attempts"]) or "-"
        access.info("%s %s %s %s key=%s model=%s tried=%s attempts=%d store=%sms total=%sms%s", f["request_id"], f["method"],
                    f["path"], f["status"], f["key_id"] or "-", f["model"] or "-", tried, len(f["attempts"]), f["store_ms"],
                    f["ms"], f" error={self.error}" if self.error else "", extra={"fields": f})

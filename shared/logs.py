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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"

log = logging.getLogger("gateway")
access = logging.getLogger("gateway.access")
_installed: StderrHandler | None = None


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted, as ``logging.lastResort`` does:
    a process that swaps it (a test harness capturing output) never leaves us writing to a closed file."""

    formatter_is_json = False

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def write_line(self, line: str) -> None:
        """A line already formatted, under the handler's lock (as ``emit`` does)."""
        with self.lock:  # type: ignore[union-attr]
            stream = self.stream
            stream.write(line + "\n")
            stream.flush()

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
        if isinstance(fields, Mapping):
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
        handler = StderrHandler()
        handler.formatter_is_json = True
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
    ms: float = 0.0  # the whole request, set when the line is written

    def fields(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id, "method": self.method, "path": self.path, "status": self.status,
            "key_id": self.key_id or None, "model": self.model or None,
            "attempts": [{"provider": a.provider, "model": a.model, "status": a.status, "ms": round(a.ms, 1),
                          **({"cause": a.cause} if a.cause else {})} for a in self.attempts],
            "store_ms": round(self.store_ms, 2), "ms": round(self.ms or (time.perf_counter() - self.started) * 1000, 1),
            **({"error": self.error} if self.error else {}),
        }

    def __str__(self) -> str:
        """The text line; built only when a handler formats the record (so a filtered one costs nothing)."""
        tried = " ".join(f"{a.provider}:{a.status}:{a.ms:.1f}ms" for a in self.attempts) or "-"
        return (f"{self.request_id} {self.method} {self.path} {self.status} key={self.key_id or '-'} model={self.model or '-'} "
                f"tried={tried} attempts={len(self.attempts)} store={self.store_ms:.2f}ms total={self.ms:.1f}ms"
                + (f" error={self.error}" if self.error else ""))

    def write(self) -> None:
        """One access-log line (logger ``gateway.access``, INFO). The text and the JSON fields are
        built lazily, by the formatter that prints them: on the hot path a line costs one log call."""
        if not access.isEnabledFor(logging.INFO):
            return
        self.ms = (time.perf_counter() - self.started) * 1000
        if _installed is not None and logging.root.handlers == [_installed] and not _installed.formatter_is_json:
            # Only our own text handler would print it: write the line it would print, without a
            # LogRecord (a measured ~10 µs of the hot path).
            _installed.write_line(f"INFO gateway.access: {self}")
            return
        access.info("%s", self, extra={"fields": LazyFields(self)})


class LazyFields(Mapping[str, Any]):
    """A request's structured fields (``LOG_FORMAT=json``, tests), computed on first use."""

    def __init__(self, entry: RequestLog) -> None:
        self._entry = entry
        self._data: dict[str, Any] | None = None

    def _fields(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self._entry.fields()
        return self._data

    def __getitem__(self, name: str) -> Any:
        return self._fields()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields())

    def __len__(self) -> int:
        return len(self._fields())

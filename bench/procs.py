"""Processes the benchmark starts, and what /proc says about them (CPU time, RSS)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import IO

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants (via /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants, in seconds (all threads included)."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / CLK_TCK


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` and its live descendants, in MiB."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total / 1024


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for servers: no gateway settings inherited from the caller, .pyc files written."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "REDIS_URL", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN",
                        "KV_REST_API_URL", "KV_REST_API_TOKEN", "CONFIG_PATH", "CONFIG_URL", "CONFIG_YAML",
                        "ENVIRONMENT", "LOG_LEVEL", "PYTHONPROFILEIMPORTTIME")}
    env.update(extra or {})
    return env


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    port: int
    log_path: str
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, n: int = 2000) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, 2)
                size = fh.tell()
                fh.seek(max(0, size - n))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Procs:
    """Every process the benchmark started; ``stop_all`` ends them (their own process groups only)."""

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []
        os.makedirs(log_dir, exist_ok=True)

    def start(self, name: str, cmd: list[str], port: int, env: dict[str, str], cwd: str) -> Proc:
        log_path = os.path.join(self.log_dir, f"{name}.log")
        log = open(log_path, "wb")
        popen = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        proc = Proc(name, popen, port, log_path, log)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 5.0) -> None:
        """SIGTERM to the process and the workers it forked (found by pid, checked by process group), then SIGKILL."""
        family = [p for p in tree(proc.pid) if p != proc.pid] if proc.alive() else []
        if proc.alive():
            proc.popen.terminate()
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(5)
        for pid in family:  # workers still there after their parent left
            try:
                if os.getpgid(pid) == proc.pid:
                    os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if proc._log is not None:
            proc._log.close()
            proc._log = None
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.procs)):
            self.stop(proc)


def wait_until(check, timeout: float, interval: float = 0.002, proc: Proc | None = None) -> float:
    """Call ``check()`` until it returns true; seconds waited. Raises when ``proc`` dies or on timeout."""
    start = time.perf_counter()
    deadline = start + timeout
    while True:
        try:
            if check():
                return time.perf_counter() - start
        except Exception:  # refused, reset, not ready yet
            pass
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited with code {proc.popen.returncode}:\n{proc.log_tail()}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{proc.name if proc else 'server'} not ready after {timeout:.0f}s"
                               + (f":\n{proc.log_tail()}" if proc else ""))
        time.sleep(interval)

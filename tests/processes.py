"""Stopping the processes the tests start (doors, ``main.py``, redis-server, the Lambda runtime loop).

One sequence for all of them, so that none is left running when a test fails halfway, and no pipe
is left open to warn as an unclosed file at exit: terminate, give it ``timeout`` seconds, kill what
is still there, reap it, close our ends of its pipes.
"""

from __future__ import annotations

import subprocess
from typing import Any

KILL_WAIT = 5.0  # seconds to reap a killed process (SIGKILL cannot be ignored: this is only a guard)


def stop_process(*procs: subprocess.Popen[Any] | None, timeout: float = 10.0) -> None:
    """Stop every process given (``None`` is skipped). All are asked to terminate first, then each
    is waited for, so several gateways shut down side by side rather than one after another."""
    running = [p for p in procs if p is not None]
    for proc in running:
        if proc.poll() is None:
            proc.terminate()
    for proc in running:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(KILL_WAIT)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:  # e.g. unflushed input to a process that is gone (a broken pipe)
                    pass

"""Helpers for tests that start a real server process on 127.0.0.1: a free port, waiting until it answers,
and stopping it."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ok(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 120.0) -> None:
    """Poll ``url`` until it answers 200; fail with the process's log if it exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, f"the server exited:\n{log.read_text()[-2000:]}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer within {timeout_s:.0f} s"
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process``, killing it if it has not exited after 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)

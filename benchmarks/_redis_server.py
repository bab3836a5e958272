"""A throwaway redis-server for the benchmarks that share a rate limit through Redis.

Started on a free loopback port without persistence and stopped afterwards; None when
``redis-server`` is not installed (``scripts/ensure-redis.sh`` installs it), so the
variants needing it are skipped with a note rather than failing the run.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

_START_TIMEOUT = 15.0


def free_port() -> int:
    """A free 127.0.0.1 port (the tests' Redis fixtures use it too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pings(port: int) -> bool:
    """Whether a Redis on ``port`` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server() -> Iterator[str | None]:
    """The URL of a fresh redis-server (None when none is installed); stopped after."""
    exe = shutil.which("redis-server")
    if exe is None:
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as folder:
        command = [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
        command += ["--appendonly", "no", "--dir", folder, "--daemonize", "no"]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + _START_TIMEOUT
            while not pings(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the benchmark's redis-server did not start")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)

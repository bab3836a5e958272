"""Machine facts, CPU pinning, child processes and memory/CPU readings (Linux first)."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The project root (children run with it as their working directory)."""
CLIENT_CPU = 0
SERVER_CPU = 1
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_VERSIONED = ("aiohttp", "attrs", "cattrs", "anyio", "orjson", "httpx", "yarl", "multidict")


def usable_cpus() -> set[int]:
    """CPUs this process may run on now (all of them where affinity is unsupported)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def can_pin() -> bool:
    """Pinning client and server apart needs affinity support and two CPUs."""
    return hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > max(CLIENT_CPU, SERVER_CPU)


def pin(cpu: int) -> bool:
    """Pin this process to one CPU; False (and no change) when that is impossible.

    Children inherit their parent's mask, so a server started by the (pinned)
    client widens its own mask here rather than testing the inherited one.
    """
    if not can_pin():
        return False
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:  # e.g. a cpuset that does not include this CPU
        return False
    return True


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path("/proc/self/statm").read_text().split()
        return int(fields[1]) * _PAGE_SIZE
    return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (``ru_maxrss`` is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used by process ``pid`` (None where /proc is missing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the ")" that closes the command name; utime and stime are 14th/15th.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_total() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def machine_info() -> dict[str, str]:
    """What the results depend on: CPU, cores, OS, Python and library versions."""
    info = {
        "cpu": _cpu_model(),
        "cpus": str(os.cpu_count()),
        "memory": _memory_total(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    for name in ("lensmor-async", *_VERSIONED):
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info[name] = "not installed"
    return info


def child_env() -> dict[str, str]:
    """The environment for child processes: the project root importable, no bytecode noise."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.pop("PYTHONASYNCIODEBUG", None)
    return env


@contextlib.contextmanager
def child(module: str, args: Sequence[str], *, timeout: float = 30.0) -> Iterator[ChildProcess]:
    """Start ``python -m module args``; wait for its ``READY <json>`` line; stop it after."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield ChildProcess(proc, _ready_line(proc, timeout))
    finally:
        _stop(proc)


class ChildProcess:
    """A running child and the text after ``READY`` on its first line."""

    def __init__(self, proc: subprocess.Popen[str], ready: str) -> None:
        self.proc = proc
        self.ready = ready

    @property
    def pid(self) -> int:
        return self.proc.pid


def _ready_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("READY "):
            return line[len("READY ") :].strip()
        if not line and proc.poll() is not None:
            break
    raise RuntimeError(f"child process did not become ready (exit code {proc.poll()})")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


def run_child(module: str, args: Sequence[str], *, timeout: float) -> str:
    """Run ``python -m module args`` to completion and return its last stdout line."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{module} printed nothing")
    return lines[-1]

"""Child processes the suite starts, each in its own process group.

Stopping a child stops its whole group (gunicorn's or uvicorn's workers, Locust's
workers) and nothing else: the suite only ever signals processes it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import psutil

from loadtests.infra.privileges import RunAs

STOP_TIMEOUT_S = 10.0


INTERRUPTS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C and termination signals until the block is done: stopping a child must
    not be cut short half-way (that is how orphans are made). They are delivered after."""
    usable = (
        hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def interrupts_to_main_thread() -> None:
    """Called first in the suite's helper threads. A signal sent to the process goes to any
    thread that does not block it; blocked here, Ctrl-C always reaches the main thread,
    where ``interrupts_deferred`` can hold it."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)


def pinned(argv: list[str], cpus: Iterable[int] | None) -> list[str]:
    """``argv`` wrapped so that it runs on ``cpus`` only (unchanged when None)."""
    if cpus is None or not hasattr(os, "sched_setaffinity"):
        return argv
    cpu_list = ",".join(str(cpu) for cpu in sorted(cpus))
    return [sys.executable, "-m", "loadtests.infra.pin", cpu_list, "--", *argv]


class Supervised:
    """A started child process and its process group."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        log_path: Path,
        cpus: Iterable[int] | None = None,
        cwd: Path | None = None,
        run_as: RunAs | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        account = run_as.popen_kwargs() if run_as else {"cwd": cwd}
        # Another account may not reach the venv's Python that runs the pinning shim;
        # such a child (PgBouncer: one process, it forks nothing) is pinned once started.
        self.popen = subprocess.Popen(
            argv if run_as else pinned(argv, cpus),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, out of reach of terminal ^C
            **account,
        )
        if run_as and cpus is not None and hasattr(os, "sched_setaffinity"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.popen.pid, set(cpus))

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def processes(self) -> list[psutil.Process]:
        """The child and all its descendants, for CPU accounting."""
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM the group, SIGKILL whatever is left after ``timeout``. Returns the exit code."""
        with interrupts_deferred():
            return self._stop(timeout)

    def _stop(self, timeout: float) -> int | None:
        members = self.processes()
        if self.popen.poll() is not None and not members:
            # Leader reaped and nothing left in its group: the group id may already
            # belong to someone else, so signal nothing.
            self._log.close()
            return self.popen.returncode
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(max(0.1, deadline - time.monotonic()))
        _, alive = psutil.wait_procs(members, timeout=max(0.1, deadline - time.monotonic()))
        if self.popen.poll() is None or alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            for proc in alive:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
        self._log.close()
        return self.popen.returncode

"""``worker``: this host joins a run's Locust master and generates its share of the load
(the master: ``run --master-bind HOST:PORT --expect-workers N``; README, "Running on
more than one machine")."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
from typing import Any

from loadtests.errors import SuiteError
from loadtests.infra.ports import parse_address
from loadtests.paths import PROJECT_ROOT
from loadtests.recording.wire import AGAIN_PREFIX, REFUSED_PREFIX, WORKER_NAME_ENV
from loadtests.run.generator import LOCUSTFILE

STOP_GRACE_S = 10.0
CONNECT_FAILED = "Failed to connect to master"  # Locust's words, after 5 minutes of retries


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "worker",
        help="join a run's Locust master from this host (run --master-bind on the master)",
        description=(
            "Start a Locust worker with the suite's own Locust code and join the master at "
            "HOST:PORT. The master refuses a worker running another suite version or other "
            "scenario definitions; the worker stays for every scenario of the master's run "
            "and ends when the run ends."
        ),
    )
    parser.add_argument("--master", required=True, metavar="HOST:PORT", help="the master")
    parser.add_argument("--name", help="this worker's name in the report (default: host name)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    host, port = parse_address(args.master, "--master")
    name = args.name or socket.gethostname()
    argv = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
        "--master-host", host, "--master-port", str(port), "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), WORKER_NAME_ENV: name}
    print(f"worker {name}: joining the Locust master at {host}:{port} (Ctrl-C leaves)", flush=True)
    # A run of several scenarios is several Locust runs: the master says when another
    # follows, and the worker joins it, until the last one ends.
    again = False
    while again := _join(argv, env, again):
        print(f"worker {name}: the master's next run follows: joining it", flush=True)
    print(f"worker {name}: the master's run ended", flush=True)
    return 0


def _join(argv: list[str], env: dict[str, str], again: bool) -> bool:
    """One Locust worker through one of the master's runs; True when another follows."""
    # In this command's process group: whatever ends the command (Ctrl-C, or the whole
    # group killed) ends the worker too; no Locust outlives it.
    process = subprocess.Popen(argv, env=env, cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = process.communicate()
    except KeyboardInterrupt:
        _stop(process)
        raise
    lines = [line for line in stderr.splitlines() if line.strip()]
    refused = next((line for line in lines if line.startswith(REFUSED_PREFIX)), None)
    if refused is not None:
        raise SuiteError(refused.removeprefix("error: "))
    if again and process.returncode != 0 and any(CONNECT_FAILED in line for line in lines):
        raise SuiteError("the master's next run never started (it stopped early): see its output")
    if process.returncode != 0:
        last = lines[-1] if lines else "no output"
        raise SuiteError(f"the Locust worker exited with code {process.returncode}: {last}")
    return any(line.startswith(AGAIN_PREFIX) for line in lines)


def _stop(process: subprocess.Popen[str]) -> None:
    """Leave as Locust leaves on Ctrl-C (telling the master), then make sure."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.communicate(timeout=STOP_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue

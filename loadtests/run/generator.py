"""The load generator processes (Locust) the suite starts, headless or with the web UI."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from loadtests.errors import SuiteError
from loadtests.infra.cpu import CpuLayout
from loadtests.infra.processes import Supervised
from loadtests.paths import PROJECT_ROOT
from loadtests.plan import SCENARIOS, ScenarioPlan, StepPlan, id_ranges
from loadtests.recording import wire
from loadtests.recording.wire import (
    ID_RANGES_ENV,
    PROGRESS_PREFIX,
    WINDOW_PREFIX,
    WORKER_PREFIX,
    WindowMeta,
    WorkerEvent,
)

LOCUSTFILE = PROJECT_ROOT / "loadtests" / "locust" / "locustfile.py"
HANG_GRACE_S = 60.0  # on top of the plan's duration before a Locust run counts as hung
Parsed = TypeVar("Parsed", bound=BaseModel)
POLL_S = 0.2  # how often the runner reads Locust's log: a switch reaches the extras this late

WindowListener = Callable[[WindowMeta], None]  # told of each window at its switch


@dataclass(frozen=True)
class RemoteWorkers:
    """Locust as the master of ``expected`` workers that join from other hosts
    (``python -m loadtests worker --master HOST:PORT``), waited for ``timeout_s``."""

    bind_host: str
    bind_port: int
    expected: int
    timeout_s: float = 60.0

    def args(self) -> list[str]:
        return [
            "--master", "--master-bind-host", self.bind_host,
            "--master-bind-port", str(self.bind_port), "--expect-workers", str(self.expected),
            "--expect-workers-max-wait", f"{self.timeout_s:g}",
        ]  # fmt: skip


def plan_args(plan: StepPlan) -> list[str]:
    return [
        "--steps", ",".join(str(users) for users in plan.steps),
        "--step-seconds", str(plan.measure_s),
        "--warmup-seconds", str(plan.warmup_s),
    ]  # fmt: skip


HEADLESS = ["--headless", "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"]


def headless_args(plan: StepPlan, user_class: str, results: Path, *extra: str) -> list[str]:
    """Locust's options for one headless run through ``plan``, its statistics to ``results``."""
    return [*HEADLESS, *extra, *plan_args(plan), "--results-file", str(results), user_class]


def start(
    args: Sequence[str],
    host: str,
    seed_spec: dict[str, Any],
    log: Path,
    cpus: Sequence[int] | None,
    processes: int = 1,
    remote: RemoteWorkers | None = None,
) -> Supervised:
    """``locust -f loadtests/locust/locustfile.py ARGS`` against the service, logging to ``log``."""
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE),
            "--host", host, *args]  # fmt: skip
    if remote is not None:
        argv += remote.args()
    elif processes > 1:
        argv += ["--processes", str(processes)]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONUNBUFFERED": "1"}
    env[ID_RANGES_ENV] = json.dumps(id_ranges(seed_spec))
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ {shlex.join(argv)}\n")
    return Supervised("locust", argv, env, log, cpus, cwd=PROJECT_ROOT)


def following(
    plan: ScenarioPlan,
    schedule: Path,
    seed_spec: dict[str, Any],
    results: Path,
    args: Sequence[str],
    layout: CpuLayout,
    processes: int,
    remote: RemoteWorkers | None = None,
) -> Supervised:
    """A headless Locust that follows ``schedule`` (every variant's turns) on the cores the
    services do not use; its statistics to ``results``, its log beside them."""
    first_host = wire.read_schedule(schedule).segments[0].host
    return start(
        [*HEADLESS, *args, "--schedule", str(schedule), "--results-file", str(results),
         SCENARIOS[plan.scenario].user_class],
        first_host,
        seed_spec,
        results.with_suffix(".log"),
        layout.other_cpus if layout.pinned else None,
        processes,
        remote,
    )  # fmt: skip


def run_together(
    hosts: Sequence[str],
    plan: StepPlan,
    user_class: str,
    seed_spec: dict[str, Any],
    work: Path,
    cpus: Sequence[int] | None,
) -> list[wire.Recorded]:
    """One headless Locust per host, all started together through ``plan``; waits until
    every one has finished and returns what each recorded (``work/locust-N.json``, its
    log beside it). Raises SuiteError if one hangs or records nothing."""
    locusts: list[Supervised] = []
    outputs = [work / f"locust-{index}.json" for index in range(len(hosts))]
    try:
        for index, host in enumerate(hosts):
            args = headless_args(plan, user_class, outputs[index])
            locusts.append(start(args, host, seed_spec, work / f"locust-{index}.log", cpus))
        deadline = time.monotonic() + plan.total_s() + HANG_GRACE_S
        while any(locust.alive() for locust in locusts):
            if time.monotonic() > deadline:
                raise SuiteError(f"Locust did not finish; see the logs in {work}")
            time.sleep(0.5)
    finally:
        for locust in locusts:
            locust.stop()
    for locust, output in zip(locusts, outputs, strict=True):
        if not output.exists():
            raise SuiteError(f"Locust wrote no statistics: {locust.log_tail(3)} (see {work})")
    return [wire.read(output) for output in outputs]


def wait(
    locust: Supervised,
    seconds: float,
    log: Path,
    on_window: WindowListener | None = None,
    schedule: wire.Schedule | None = None,
) -> str:
    """Forward progress lines until Locust exits (``seconds`` planned). Returns 'finished'
    or why it did not. With its ``schedule``, every window Locust announces moves the
    deadline to what is left of the plan after it: the open model's waits between turns
    (loadtests/locust/settle.py) are progress, not a hang."""
    deadline = time.monotonic() + seconds + HANG_GRACE_S

    def announced(window: WindowMeta) -> None:
        nonlocal deadline
        if schedule is not None and 0 <= window.window < len(schedule.segments):
            left = schedule.total_s - schedule.segments[window.window].switch_s
            deadline = max(deadline, time.monotonic() + left + HANG_GRACE_S)
        if on_window is not None:
            on_window(window)

    offset = 0
    while True:
        offset = forward_progress(log, offset, announced)
        if not locust.alive():
            forward_progress(log, offset)
            code = locust.popen.returncode
            return (
                "finished" if code == 0 else f"Locust exited with code {code}: {locust.log_tail(3)}"
            )
        if time.monotonic() > deadline:
            locust.stop()
            return f"Locust did not finish within {seconds + HANG_GRACE_S:.0f} s"
        time.sleep(POLL_S)


def forward_progress(log: Path, offset: int, on_window: WindowListener | None = None) -> int:
    """Print the progress lines written to ``log`` since ``offset`` (and tell ``on_window``
    of each switch to a window); return the new offset."""
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except OSError:
        return offset
    complete = chunk.rfind(b"\n") + 1
    for line in chunk[:complete].decode(errors="replace").splitlines():
        if line.startswith(PROGRESS_PREFIX):
            print("   " + line[len(PROGRESS_PREFIX) :], flush=True)
        elif (event := _worker_event(line)) is not None:
            print("   " + describe(event), flush=True)
        elif on_window is not None and (
            (window := _parsed(line, WINDOW_PREFIX, WindowMeta)) is not None
        ):  # a garbled line announces no window
            on_window(window)
    return offset + complete


def describe(event: WorkerEvent) -> str:
    who = f"Locust worker {event.name}" + (
        f" ({event.hostname})" if event.hostname != event.name else ""
    )
    return f"{who} {event.event}" + (f": {event.reason}" if event.reason else "")


def worker_events(log: Path) -> list[WorkerEvent]:
    """Every worker the master saw join, refused or lost, from its log."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [event for line in lines if (event := _worker_event(line)) is not None]


def _worker_event(line: str) -> WorkerEvent | None:
    """The master's line about a worker, or None (another line, or a garbled one)."""
    return _parsed(line, WORKER_PREFIX, WorkerEvent)


def _parsed(line: str, prefix: str, model: type[Parsed]) -> Parsed | None:
    """The JSON after ``prefix`` as ``model``; None for another line or a garbled one."""
    if not line.startswith(prefix):
        return None
    try:
        return model.model_validate_json(line[len(prefix) :])
    except ValueError:
        return None


def missing_workers(remote: RemoteWorkers, log: Path) -> str:
    """Why a master's run did not start: who joined, who was refused."""
    events = worker_events(log)
    joined = [e.name for e in events if e.event == "joined"]
    refused = [f"{e.name} refused ({e.reason})" for e in events if e.event == "refused"]
    return (
        f"{len(joined)} of {remote.expected} Locust worker(s) joined within "
        f"{remote.timeout_s:g} s at {remote.bind_host}:{remote.bind_port}"
        + (f" ({', '.join(joined)})" if joined else "")
        + (f"; {'; '.join(refused)}" if refused else "")
        + ": start them with `python -m loadtests worker --master HOST:PORT`"
    )

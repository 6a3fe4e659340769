"""A second, independent load generator: wrk beside Locust on ``GET /users/{id}``.

Every number in a report comes from Locust. Had Locust shaped them (its own CPU on the
cores it shares with PostgreSQL, its HTTP client, gevent's scheduling), nothing else in
the run would show it. So at the end of a run each variant's service is started once
more and driven by both generators in turn, at the same concurrency with the same
warm-up and measured window: Locust's get-user scenario, then wrk (C, one thread, pinned
to the cores Locust uses) through ``crosscheck.lua``, which draws user ids the way the
scenario does. The trust panel shows both side by side, and a difference of more than
15% in throughput or p50 is a warning.

wrk runs with Locust's 30 s network timeout: with its default 2 s ``--timeout`` it would
leave slower responses out of its latency statistics. It counts responses with a status
above 399 apart but keeps their latency in its histogram; a report says so when there
were any. Its p50 is read after wrk's own coordinated-omission correction, which adds
samples only for responses slower than twice the mean: in a closed model with a steady
median, it moves the median by little.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loadtests.errors import SuiteError
from loadtests.infra import cpu, database
from loadtests.infra.postgres import server_processes
from loadtests.infra.processes import Supervised
from loadtests.plan import DRAIN_S, GET_USER, NETWORK_TIMEOUT_S, SCENARIOS, StepPlan, id_ranges
from loadtests.report import crosscheck as report_crosscheck
from loadtests.results.models import (
    CrossCheck,
    CrossCheckRun,
    GeneratorFigures,
    Step,
)
from loadtests.run import generator, measure
from loadtests.run.extras.base import Extra
from loadtests.run.service import ServiceUnderTest
from loadtests.run.state import Run, RunOptions

WARMUP_S = 3
WINDOW_S = 8  # whole seconds: wrk's --duration takes no fractions
WRK_TIMEOUT_S = int(NETWORK_TIMEOUT_S)  # as Locust's: slow answers stay in the statistics
SCENARIO = "get-user"
SCRIPT = Path(__file__).with_name("crosscheck.lua")
OUTPUT_PREFIX = "loadtests-wrk: "  # the line crosscheck.lua's done() prints
START_STOP_S = 8.0  # a service start and stop, Locust's start, per variant
INSTALL = "install it with `apt-get install wrk` (Debian, Ubuntu) or `brew install wrk` (macOS)"
NOT_INSTALLED = f"wrk is not installed, so the second load generator did not run; {INSTALL}"


def find_wrk() -> str | None:
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    """``wrk debian/4.1.0-3+b2 [epoll]`` (wrk prints it and its usage with ``-v``)."""
    try:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown version"
    return out.split(" Copyright", 1)[0].strip() or "unknown version"


def estimated_seconds(users: int | None, variants: int) -> float:
    if users is None:
        return 0.0
    return variants * (2 * (WARMUP_S + WINDOW_S) + DRAIN_S + START_STOP_S)


def announce(users: int | None) -> str | None:
    """The line ``run`` prints before it starts: what the cross-check will do, or why not."""
    if users is None:
        return None
    if find_wrk() is None:
        return f"cross-check skipped: {NOT_INSTALLED}"
    return (
        f"cross-check: {GET_USER} at {users} users from Locust and from wrk, "
        f"{WARMUP_S} s warm-up + {WINDOW_S} s measured each, per variant after the rounds"
    )


# -- measuring ---------------------------------------------------------------------------------


def wrk_argv(
    wrk: str, url: str, users: int, seconds: int, max_user_id: int, seed: int
) -> list[str]:
    return [
        wrk, "--threads", "1", "--connections", str(users), "--duration", f"{seconds}s",
        "--timeout", f"{WRK_TIMEOUT_S}s", "--script", str(SCRIPT), url,
        "--", str(max_user_id), str(seed),
    ]  # fmt: skip


def parse(output: str) -> GeneratorFigures:
    """wrk's figures from the JSON line ``done()`` printed (microseconds in, ms out)."""
    line = next((ln for ln in output.splitlines() if ln.startswith(OUTPUT_PREFIX)), None)
    if line is None:
        raise SuiteError("wrk printed no figures: " + " | ".join(output.strip().splitlines()[-2:]))
    data = json.loads(line[len(OUTPUT_PREFIX) :])
    errors, answered = data["errors"], int(data["requests"])
    failures = {
        "http_error": errors["status"],  # a status above 399; wrk does not say which
        "timeout": errors["timeout"],  # answered after the --timeout
        "connection": errors["connect"] + errors["read"] + errors["write"],  # no answer
    }
    failures = {kind: int(count) for kind, count in failures.items() if count}
    successes = max(0, answered - failures.get("http_error", 0) - failures.get("timeout", 0))
    seconds = data["duration_us"] / 1e6
    timed = answered - failures.get("timeout", 0)  # the responses in wrk's histogram
    return GeneratorFigures(
        requests=successes + sum(failures.values()),
        successes=successes,
        failures=failures,
        seconds=round(seconds, 3),
        throughput_rps=round(successes / seconds, 1) if seconds > 0 else 0.0,
        p50_ms=round(data["latency_us"]["p50"] / 1000, 3) if timed > 0 else None,
        latency_includes_failures=bool(failures.get("http_error")),
    )


def run_wrk(argv: list[str], seconds: float, log: Path, cpus: Sequence[int] | None) -> str:
    """Run wrk to the end; its output."""
    process = Supervised("wrk", argv, os.environ, log, cpus)
    try:
        deadline = time.monotonic() + seconds + WRK_TIMEOUT_S + 10
        while process.alive():
            if time.monotonic() > deadline:
                raise SuiteError(f"wrk did not finish; see {log}")
            time.sleep(0.2)
    finally:
        process.stop()
    if process.popen.returncode != 0:
        raise SuiteError(f"wrk exited with code {process.popen.returncode}: {process.log_tail(2)}")
    return log.read_text(errors="replace")


def figures_of(step: Step) -> GeneratorFigures:
    return GeneratorFigures(
        requests=step.requests,
        successes=step.successes,
        failures=dict(step.failures.by_kind),
        seconds=step.window.seconds,
        throughput_rps=step.throughput_rps,
        p50_ms=step.latency_ms.p50 if step.successes else None,
        latency_includes_failures=step.latency_includes_failures,
    )


def measure_locust(
    url: str, cross: CrossCheck, seed_spec: dict[str, Any], work: Path, cpus: Sequence[int] | None
) -> GeneratorFigures:
    plan = StepPlan((cross.users,), cross.warmup_seconds, cross.window_seconds)
    user_class = SCENARIOS[SCENARIO].user_class
    (recorded,) = generator.run_together([url], plan, user_class, seed_spec, work, cpus)
    steps = measure.steps(recorded, None)
    if not steps:
        raise SuiteError(f"Locust's window did not close; see {work}")
    return figures_of(steps[-1])


def measure_wrk(
    wrk: str, url: str, cross: CrossCheck, max_user_id: int, work: Path, cpus: Sequence[int] | None
) -> tuple[GeneratorFigures, list[str]]:
    """A warm-up run, then the measured one; the figures and the measured command."""
    seed = random.randrange(1, 2**31)
    warmup, window = int(cross.warmup_seconds), int(cross.window_seconds)
    argv = wrk_argv(wrk, url, cross.users, warmup, max_user_id, seed)
    run_wrk(argv, warmup, work / "wrk-warmup.log", cpus)
    argv = wrk_argv(wrk, url, cross.users, window, max_user_id, seed + 1)
    return parse(run_wrk(argv, window, work / "wrk.log", cpus)), argv


def prepared(users: int, warmup_s: int = WARMUP_S, window_s: int = WINDOW_S) -> CrossCheck:
    """The cross-check's record before anything ran (with why it will not, if so)."""
    wrk = find_wrk()
    return CrossCheck(
        endpoint=GET_USER,
        users=users,
        warmup_seconds=warmup_s,
        window_seconds=window_s,
        wrk_version=wrk_version(wrk) if wrk else None,
        note=None if wrk else NOT_INSTALLED,
    )


def run_cross_check(
    result: CrossCheck,
    services: Sequence[ServiceUnderTest],
    target: database.Target,
    layout: cpu.CpuLayout,
    seed_spec: dict[str, Any],
    work: Path,
    progress: Callable[[str], None] = print,
) -> None:
    """Each service once: started, driven by Locust, then by wrk, stopped. ``result`` is
    filled in as it goes, so an interrupted run keeps what was measured."""
    wrk = find_wrk()
    if wrk is None or result.note:
        progress(f"\ncross-check skipped: {result.note or NOT_INSTALLED}")
        return
    progress(
        f"\n== cross-check | {GET_USER} at {result.users} users: Locust, then wrk, "
        f"{result.warmup_seconds:g} s warm-up + {result.window_seconds:g} s measured each"
    )
    database.reset(target)  # GET only from here on: one reset serves every variant
    cpus = layout.other_cpus if layout.pinned else None
    max_user_id = id_ranges(seed_spec)["user"]
    for service in services:
        outcome = CrossCheckRun(variant=service.variant.name)
        result.runs.append(outcome)
        where = work / service.variant.name.replace(":", "_")
        try:
            service.start(where / "service.log")
        except SuiteError as exc:
            outcome.error = str(exc)
            progress(f"   {service.label}: not measured ({exc})")
            continue
        try:
            with cpu.pinned_to_others(layout, lambda: server_processes(target.embedded)):
                outcome.locust = measure_locust(service.url, result, seed_spec, where, cpus)
                outcome.wrk, argv = measure_wrk(wrk, service.url, result, max_user_id, where, cpus)
            result.wrk_command = shlex.join(argv)
        except SuiteError as exc:
            outcome.error = str(exc)
        finally:
            service.stop()
        progress(f"   {service.label}: {report_crosscheck.line(outcome)}")


# -- the run's extra ------------------------------------------------------------------------


class CrossCheckExtra(Extra):
    """After every round: each variant driven by Locust and by wrk in turn."""

    def __init__(self, users: int, variants: int) -> None:
        self.users, self.variants = users, variants

    def announce(self) -> str | None:
        return announce(self.users)

    def estimated_seconds(self) -> float:
        return estimated_seconds(self.users, self.variants)

    def after_run(self, run: Run) -> None:
        result = run.results.cross_check = prepared(self.users)
        run_cross_check(
            result, list(run.services.values()), run.target, run.layout, run.seed_spec,
            run.run_dir / "crosscheck",
        )  # fmt: skip
        run.save()


def create(options: RunOptions) -> Extra | None:
    if options.cross_check is None:
        return None
    return CrossCheckExtra(options.cross_check, len(options.variant_names))

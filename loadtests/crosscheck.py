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

from loadtests import cpu, database, generator
from loadtests.errors import SuiteError
from loadtests.infra.postgres import server_processes
from loadtests.infra.processes import Supervised
from loadtests.plan import DRAIN_S, GET_USER, SCENARIOS, StepPlan, id_ranges
from loadtests.report import fmt
from loadtests.results import measure
from loadtests.results.models import (
    CrossCheck,
    CrossCheckRun,
    GeneratorFigures,
    RunResults,
    Step,
)
from loadtests.service import ServiceUnderTest

TOLERANCE = 0.15  # wrk's figure may differ from Locust's by this fraction of Locust's
WARMUP_S = 3
WINDOW_S = 8  # whole seconds: wrk's --duration takes no fractions
WRK_TIMEOUT_S = 30  # Locust's network_timeout (loadtests/locust/scenarios.py)
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


def run(
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
        progress(f"   {service.label}: {_line(outcome)}")


def _line(outcome: CrossCheckRun) -> str:
    parts = []
    for name, figures in (("Locust", outcome.locust), ("wrk", outcome.wrk)):
        if figures is not None:
            failed = sum(figures.failures.values())
            parts.append(
                f"{name} {fmt.number(figures.throughput_rps)} req/s, p50 {fmt.ms(figures.p50_ms)}"
                + (f", {failed:,} failed" if failed else "")
            )
    if outcome.error:
        parts.append(f"not measured ({outcome.error})")
    return " | ".join(parts)


# -- reading it back -----------------------------------------------------------------------------


def change(locust: float | None, wrk: float | None) -> float | None:
    """wrk's figure relative to Locust's: +0.2 is 20% more."""
    if not locust or wrk is None:
        return None
    return wrk / locust - 1


def _metrics(run: CrossCheckRun) -> list[tuple[str, float | None, float | None, str]]:
    locust, wrk = run.locust, run.wrk
    return [
        ("throughput", locust and locust.throughput_rps, wrk and wrk.throughput_rps, "req/s"),
        ("p50", locust and locust.p50_ms, wrk and wrk.p50_ms, "ms"),
    ]


def disagreements(results: RunResults) -> list[str]:
    """Warnings: a variant the generators disagree on by more than TOLERANCE, or one that
    could not be cross-checked."""
    cross = results.cross_check
    if cross is None:
        return []
    found = []
    for run in cross.runs:
        label = results.label(run.variant)
        if run.error:
            found.append(f"Cross-check, {label}: not measured ({run.error}).")
            continue
        gaps = [
            f"{metric} {_value(locust, unit)} from Locust, {_value(wrk, unit)} from wrk "
            f"({gap:+.0%})"
            for metric, locust, wrk, unit in _metrics(run)
            if (gap := change(locust, wrk)) is not None and abs(gap) > TOLERANCE
        ]
        if gaps:
            found.append(
                f"The two load generators disagree on {label} ({cross.endpoint} at "
                f"{cross.users} users): {'; '.join(gaps)}. They ran one after the other, so "
                "the machine's drift between two windows is part of it; if it recurs, Locust "
                "itself is part of the numbers."
            )
    return found


def summary(results: RunResults) -> list[str]:
    """The terminal's lines after the run's table."""
    cross = results.cross_check
    if cross is None:
        return []
    if cross.note:
        return [f"\ncross-check skipped: {cross.note}"]
    lines = [f"\ncross-check, {cross.endpoint} at {cross.users} users:"]
    lines += [f"  {results.label(run.variant)}: {_line(run)}" for run in cross.runs]
    lines += [f"  {text}" for text in disagreements(results)]
    return lines


def _value(value: float | None, unit: str) -> str:
    return fmt.ms(value) if unit == "ms" else f"{fmt.number(value)} req/s"


def view(results: RunResults) -> dict[str, Any]:
    """The trust panel's cross-check: one row per variant, both generators side by side."""
    cross = results.cross_check
    rows = []
    for run in cross.runs if cross else []:
        row: dict[str, Any] = {"variant": run.variant, "error": run.error}
        for metric, locust, wrk, _ in _metrics(run):
            gap = change(locust, wrk)
            row[metric] = {
                "locust": locust,
                "wrk": wrk,
                "change": gap,
                "flagged": gap is not None and abs(gap) > TOLERANCE,
            }
        row["failures"] = {
            name: sum(figures.failures.values())
            for name, figures in (("Locust", run.locust), ("wrk", run.wrk))
            if figures is not None and figures.failures
        }
        row["wrk_latency_includes_failures"] = bool(run.wrk and run.wrk.latency_includes_failures)
        rows.append(row)
    return {"cross": cross, "rows": rows, "tolerance": TOLERANCE, "timeout": WRK_TIMEOUT_S}

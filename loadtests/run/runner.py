"""``run``: every variant under the same rising load, measured the same way.

A run is rounds x scenarios x variants. For each (round, scenario) the variants run in
a recorded random order whose first variant is never the previous block's first; for
each variant: reset the database to the seeded state, start the service pinned to its
own cores, wait until it is healthy, run Locust headless with the rising-concurrency
shape on the other cores, then stop the service and everything it started.

This module is the loop and nothing else. What is measured beside it (the database's
ceiling, a fault, the write audit, the second load generator) are extras
(``loadtests/run/extras/``) that the loop calls at fixed moments.

``results.json`` is rewritten after every variant's run; an interrupted run keeps what
was measured, marked partial. Nothing in the loop assumes two variants: the first one
listed is the baseline every report compares to.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from loadtests.errors import SuiteError
from loadtests.infra import cpu, database, pgbouncer
from loadtests.infra.postgres import server_processes
from loadtests.infra.processes import Supervised
from loadtests.plan import ScenarioPlan
from loadtests.recording import wire
from loadtests.results.models import LocustFiles, ServiceFailure, VariantRun
from loadtests.run import extras, generator, measure
from loadtests.run.extras import Extra
from loadtests.run.order import run_order
from loadtests.run.service import ServiceUnderTest
from loadtests.run.service_log import failures as service_log_failures
from loadtests.run.setup import prepare
from loadtests.run.state import Run, RunOptions

VARIANT_RUN_OVERHEAD_S = 8.0  # reset, start, health check, Locust start and stop


def estimated_seconds(options: RunOptions, found: list[Extra] | None = None) -> float:
    per_round = sum(
        len(s.variants) * (s.plan.total_s + VARIANT_RUN_OVERHEAD_S) for s in options.scenarios
    )
    beside = found if found is not None else extras.enabled(options)
    return options.rounds * per_round + sum(extra.estimated_seconds() for extra in beside)


def run(options: RunOptions, finished: Callable[[Path], None] = lambda _: None) -> Path:
    """Run everything; returns the run directory. Raises SuiteError on bad input.
    ``finished`` gets the run directory once the run has ended, however it ended (the
    command builds the reports there)."""
    if options.pgbouncer:
        pgbouncer.find_binary()  # a missing PgBouncer stops the run before anything starts
    with database.command_target() as target:
        return _run(options, target, finished)


def _run(options: RunOptions, target: database.Target, finished: Callable[[Path], None]) -> Path:
    current = None
    try:
        current = prepare(options, target)
        _execute(current, extras.enabled(options))
    except KeyboardInterrupt:
        if current is not None:
            current.results.run.status = "partial"
            current.results.run.error = "interrupted"
            print("\ninterrupted: everything the run started is stopped; partial results kept")
        raise
    except SuiteError as exc:
        if current is not None:
            current.results.run.status = "failed"
            current.results.run.error = str(exc)
        raise
    finally:
        if current is not None:
            if current.bouncer is not None:
                current.bouncer.stop()
            _finish(current)
            finished(current.run_dir)
    return current.run_dir


def _execute(current: Run, beside: list[Extra]) -> None:
    options = current.options
    total, done = options.expected_runs(), 0
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    current.results.run.order_seed = seed
    orders = {
        s.scenario: run_order(s.variants, options.rounds, seed + index)
        for index, s in enumerate(options.scenarios)
    }
    estimate = estimated_seconds(options, beside)
    for round_number in range(1, options.rounds + 1):
        for plan in options.scenarios:
            for extra in beside:
                extra.before_scenario(current, plan)
            for position, name in enumerate(next(orders[plan.scenario]), start=1):
                left = estimate * (total - done) / total
                print(
                    f"\n[{done + 1}/{total}] about {left / 60:.0f} min left in the run", flush=True
                )
                done += 1
                # Filled in place, so whatever was measured is in the results even if the
                # variant's run is interrupted.
                outcome = VariantRun(
                    variant=name, round=round_number, position=position, status="running"
                )
                current.results.scenarios[plan.scenario].runs.append(outcome)
                _run_variant(current, beside, plan, current.services[name], outcome)
                current.save()
    for extra in beside:
        extra.after_run(current)


def _finish(current: Run) -> None:
    run_meta = current.results.run
    outcomes = [o for s in current.results.scenarios.values() for o in s.runs]
    if run_meta.status == "running":
        complete = len(outcomes) == current.options.expected_runs() and all(
            o.status == "complete" for o in outcomes
        )
        run_meta.status = "complete" if complete else "partial"
    for outcome in outcomes:
        if outcome.status == "running":
            outcome.status, outcome.error = "partial", "interrupted"
    run_meta.finished_at = time.time()
    run_meta.duration_s = round(run_meta.finished_at - current.started, 1)
    current.save()


def _tag(scenario: str, outcome: VariantRun, rounds: int) -> str:
    # Colons would make a relative link look like a URL scheme.
    tag = f"{scenario}-{outcome.variant.replace(':', '_')}"
    return f"{tag}-r{outcome.round}" if rounds > 1 else tag


def _run_variant(
    current: Run,
    beside: list[Extra],
    plan: ScenarioPlan,
    service: ServiceUnderTest,
    outcome: VariantRun,
) -> None:
    run_dir, rounds = current.run_dir, current.options.rounds
    tag = _tag(plan.scenario, outcome, rounds)
    round_text = f" round {outcome.round}" if rounds > 1 else ""
    print(f"\n== {plan.scenario}{round_text} | {service.label} ({service.describe()})", flush=True)
    outcome.reset_seconds = round(database.reset(current.target), 3)
    database.reset_statement_stats(current.target.url)
    outcome.locust = LocustFiles(
        html=f"locust/{tag}.html", csv_prefix=f"locust/{tag}", log=f"locust/{tag}.log"
    )
    service_log = run_dir / "logs" / f"{tag}.log"
    try:
        service.start(service_log)
    except SuiteError as exc:
        # A service that cannot start stops the run (exit code 2), recorded as failed.
        outcome.status, outcome.error = "failed", str(exc)
        raise
    locust_dir = run_dir / "locust"
    results_file = locust_dir / f"{tag}.json"
    locust = None
    try:
        args = [
            "--csv", str(locust_dir / tag), "--html", str(locust_dir / f"{tag}.html"),
            "--run-label", f"{service.variant.name} {plan.scenario}",
            *[arg for extra in beside for arg in extra.locust_args(current, plan, tag)],
        ]  # fmt: skip
        locust = generator.headless(
            plan, service.url, current.seed_spec, results_file, args, current.layout,
            current.options.locust_processes,
        )  # fmt: skip
        _measure(current, beside, plan, service, outcome, locust, tag)
    except KeyboardInterrupt:
        # Keep the steps Locust had finished (it writes them as it goes).
        with contextlib.suppress(SuiteError, OSError):
            _fill(current, outcome, wire.read(results_file), None)
        outcome.status, outcome.error = "partial", "interrupted"
        raise
    except SuiteError as exc:
        outcome.status, outcome.error = "failed", str(exc)
        print(f"   failed: {exc}", flush=True)
    finally:
        try:
            if locust is not None and locust.alive():
                locust.stop()
        finally:
            service.stop()
            outcome.service_failures = [
                ServiceFailure(**f) for f in service_log_failures(service_log)
            ]
    for extra in beside:
        extra.after_variant(current, plan, outcome)


def _measure(
    current: Run,
    beside: list[Extra],
    plan: ScenarioPlan,
    service: ServiceUnderTest,
    outcome: VariantRun,
    locust: Supervised,
    tag: str,
) -> None:
    """Wait for Locust with the CPU sampled and the extras around it; then the steps."""

    def postgres() -> list[psutil.Process]:
        # Read each time: a restart (--fault db-restart) replaces the server mid-run.
        return server_processes(current.target.embedded)

    groups = {
        "generator": locust.processes,
        "service": service.processes,
        "database": postgres,
        "suite": lambda: [psutil.Process()],  # the runner itself, sampling all of this
    }
    if current.bouncer is not None:
        groups["pgbouncer"] = current.bouncer.process.processes
    log = current.run_dir / "locust" / f"{tag}.log"
    with (
        cpu.pinned_to_others(current.layout, postgres),
        cpu.CpuMonitor(groups) as monitor,
        extras.around_variant(beside, current, plan, outcome) as on_window,
    ):
        status = generator.wait(locust, plan.plan, log, on_window)
    results_file = current.run_dir / "locust" / f"{tag}.json"
    if not results_file.exists():
        raise SuiteError(f"Locust wrote no statistics ({status}); see {log}")
    recorded = wire.read(results_file)
    _fill(current, outcome, recorded, monitor)
    outcome.status = "complete" if recorded.complete and status == "finished" else "partial"
    if status != "finished":
        outcome.error = status


def _fill(
    current: Run, outcome: VariantRun, recorded: wire.Recorded, monitor: cpu.CpuMonitor | None
) -> None:
    stats = database.statement_stats(current.target.url)
    measure.fill(outcome, recorded, monitor, current.layout, stats)

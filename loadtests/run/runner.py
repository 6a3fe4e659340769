"""``run``: every variant under the same rising load, taking turns, measured the same way.

For each scenario: reset the database to the seeded state, start every variant's service
at once (pinned to the service cores; an idle one costs nothing), then run one Locust
that follows the scenario's schedule (loadtests/recording/schedule.py): at each step,
blocks in which every variant gets one measured window, in a fresh random order per
block. The generator stays up and switches its target; the block is the replicate the
verdicts pair. Then stop everything and turn what Locust recorded into every variant's
steps.

This module is the loop and nothing else. What is measured beside it (the database's
ceiling, a fault, the write audit, the second load generator) are extras
(``loadtests/run/extras/``) that the loop calls at fixed moments.

``results.json`` is rewritten after every scenario; an interrupted run keeps what was
measured, marked partial. Nothing in the loop assumes two variants: the first one listed
is the baseline every report compares to.
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
from loadtests.recording import schedule, wire
from loadtests.results.models import LocustFiles, ServiceFailure, VariantRun
from loadtests.run import contract_probe, extras, generator, measure
from loadtests.run.extras import Extra
from loadtests.run.service_log import failures as service_log_failures
from loadtests.run.setup import prepare
from loadtests.run.state import Run, RunOptions
from loadtests.run.statements import WindowStatements

SCENARIO_OVERHEAD_S = 12.0  # reset, services' start and health, Locust start and stop
RESET = (
    "once per scenario, before its services start: the variants then take turns in every "
    "block, so whatever the writes change in the data reaches all of them alike"
)

NOT_RESET = (
    "Every scenario runs on the data as it stands, with the writes of earlier scenarios and "
    "runs in it; the variants of a scenario still share it alike (they take turns in "
    "blocks), but its figures do not compare like for like with another run's"
)


def estimated_seconds(options: RunOptions, found: list[Extra] | None = None) -> float:
    beside = found if found is not None else extras.enabled(options)
    loads = sum(s.total_s + SCENARIO_OVERHEAD_S for s in options.scenarios)
    return loads + sum(extra.estimated_seconds() for extra in beside)


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
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    current.results.run.order_seed = seed
    started, estimate = time.monotonic(), estimated_seconds(options, beside)
    refused = current.reset_refused = database.reset_blocker(current.target)
    if refused is not None:
        print(f"note: the database cannot be reset here: {refused}. {NOT_RESET}", flush=True)
    for index, plan in enumerate(options.scenarios):
        left = max(0.0, estimate - (time.monotonic() - started)) / 60
        print(f"\n[{index + 1}/{len(options.scenarios)}] about {left:.0f} min left", flush=True)
        for extra in beside:
            extra.before_scenario(current, plan)
        _run_scenario(current, beside, plan, seed + index)
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


def _run_scenario(current: Run, beside: list[Extra], plan: ScenarioPlan, seed: int) -> None:
    scenario = current.results.scenarios[plan.scenario]
    scenario.order_seed, refused = seed, current.reset_refused
    scenario.reset = RESET if refused is None else f"not reset ({refused}): {NOT_RESET}"
    scenario.reset_refused = refused
    outcomes = {name: VariantRun(variant=name, status="running") for name in plan.variants}
    scenario.runs.extend(outcomes.values())  # filled in place: kept if interrupted
    tag, locust_dir = plan.scenario, current.run_dir / "locust"
    scenario.locust = LocustFiles(
        html=f"locust/{tag}.html", csv_prefix=f"locust/{tag}", log=f"locust/{tag}.log"
    )
    print(f"\n== {plan.scenario} | {', '.join(plan.variants)}", flush=True)
    current.reset_database()
    services = {name: current.services[name] for name in plan.variants}
    logs = {name: current.run_dir / "logs" / f"{tag}-{_safe(name)}.log" for name in services}
    locust = None
    try:
        for name, service in services.items():
            print(f"   {service.label}: {service.describe()}", flush=True)
            service.start(logs[name])
        external = [s for s in services.values() if s.external]
        if external:  # before any load: does every target answer like the baseline?
            baseline = services[plan.variants[0]]
            contract_probe.check(baseline, [s for s in external if s is not baseline])
        changes = {k: v for extra in beside for k, v in extra.schedule_changes().items()}
        hosts = {name: service.url for name, service in services.items()}
        turns = schedule.build(
            plan.plan, hosts, seed, connections=current.options.connections, **changes
        )
        schedule_file = locust_dir / f"{tag}.schedule.json"
        wire.write(schedule_file, turns)
        args = [
            "--csv", str(locust_dir / tag), "--html", str(locust_dir / f"{tag}.html"),
            "--run-label", plan.scenario,
            *[arg for extra in beside for arg in extra.locust_args(current, plan)],
        ]  # fmt: skip
        if current.options.remote and plan.scenario != current.options.scenarios[-1].scenario:
            args.append("--again")  # the remote workers stay for the next scenario
        results_file = locust_dir / f"{tag}.json"
        locust = generator.following(
            plan, schedule_file, current.seed_spec, results_file, args, current.layout,
            current.options.locust_processes, current.options.remote,
        )  # fmt: skip
        _measure(current, beside, plan, outcomes, locust, turns, results_file)
    except SuiteError as exc:
        for outcome in outcomes.values():
            outcome.status, outcome.error = "failed", str(exc)
        print(f"   failed: {exc}", flush=True)
        raise
    finally:
        try:
            if locust is not None and locust.alive():
                locust.stop()
        finally:
            for name, service in services.items():
                service.stop()
                outcomes[name].service_failures = [
                    ServiceFailure(**f) for f in service_log_failures(logs[name])
                ]
    for extra in beside:
        extra.after_scenario(current, plan, outcomes)


def _measure(
    current: Run,
    beside: list[Extra],
    plan: ScenarioPlan,
    outcomes: dict[str, VariantRun],
    locust: Supervised,
    turns: wire.Schedule,
    results_file: Path,
) -> None:
    """Wait for Locust with the CPU sampled, the statements counted per window and the
    extras around it; then every variant's steps."""

    def postgres() -> list[psutil.Process]:
        # Read each time: a restart (--fault db-restart) replaces the server mid-run.
        return server_processes(current.target.embedded)

    groups = {
        "generator": locust.processes,
        "database": postgres,
        "suite": lambda: [psutil.Process()],  # the runner itself, sampling all of this
        **{cpu.service_group(name): current.services[name].processes for name in outcomes},
    }
    if current.bouncer is not None:
        groups["pgbouncer"] = current.bouncer.process.processes
    log = results_file.with_suffix(".log")
    monitor, counted = cpu.CpuMonitor(groups), WindowStatements(current.target.url)
    status, recorded = "interrupted", None
    try:
        with (
            cpu.pinned_to_others(current.layout, postgres),
            monitor,
            counted,
            extras.around_scenario(beside, current, plan, outcomes) as on_window,
        ):

            def announce(window: wire.WindowMeta) -> None:
                counted.window(window)
                on_window(window)

            remote = current.options.remote
            waited = turns.total_s + (remote.timeout_s if remote else 0.0)
            status = generator.wait(locust, waited, log, announce, turns)
    finally:
        # Whatever Locust wrote so far is kept, also after Ctrl-C.
        with contextlib.suppress(SuiteError):
            recorded = wire.read(results_file)
            measure.fill(outcomes, recorded, monitor, current.layout, counted)
            scenario = current.results.scenarios[plan.scenario]
            scenario.recorded = measure.recorded_totals(recorded)
            scenario.locust_counts = measure.locust_counts(recorded)
            scenario.generators = measure.generator_hosts(recorded)
    remote = current.options.remote
    if remote is not None and (recorded is None or not recorded.windows):
        raise SuiteError(generator.missing_workers(remote, log))
    if recorded is None:
        raise SuiteError(f"Locust wrote no statistics ({status}); see {log}")
    lost = [w for w in recorded.workers.values() if w.lost_at is not None]
    if lost and status == "finished":
        # A worker gone mid-run took its share of the load with it: as a local failure.
        status = f"Locust worker {lost[0].name} was lost (no heartbeat) during the run"
    complete = recorded.complete and status == "finished"
    for outcome in outcomes.values():
        outcome.status = "complete" if complete else "partial"
        outcome.error = None if status == "finished" else status


def _safe(name: str) -> str:
    return name.replace(":", "_")  # a colon would make a relative link look like a URL scheme

"""``run``: every variant under the same rising load, measured the same way.

A run is rounds x scenarios x variants. For each (round, scenario) the variants run in a
recorded random order whose first variant is never the previous block's first; for each
variant: reset the database to the seeded state, start the service pinned to its own
cores, wait until it is healthy, run Locust headless with the rising-concurrency shape on
the other cores, then stop the service and everything it started.

``results.json`` is rewritten after every variant's run; an interrupted run keeps what
was measured, marked partial. Nothing in the runner assumes two variants: the first one
listed is the baseline every report compares to.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil

from loadtests import (
    audit,
    ceiling,
    cpu,
    crosscheck,
    database,
    environment,
    faults,
    files,
    generator,
    noise,
)
from loadtests.errors import SuiteError
from loadtests.infra import pgbouncer
from loadtests.infra.postgres import ServerState, server_processes
from loadtests.infra.processes import Supervised
from loadtests.paths import PROJECT_ROOT
from loadtests.plan import SCENARIOS, ScenarioPlan, StepPlan
from loadtests.results import measure, store
from loadtests.results.models import (
    Ceiling,
    CpuLayoutInfo,
    DatabaseInfo,
    Environment,
    Fairness,
    FaultPlan,
    LocustCounts,
    LocustFiles,
    PgBouncerInfo,
    Plan,
    RunInfo,
    RunResults,
    ScenarioResults,
    Seed,
    ServiceFailure,
    SettingDifference,
    Statements,
    VariantInfo,
    VariantRun,
)
from loadtests.service import ServiceUnderTest
from loadtests.service_log import failures as service_log_failures
from loadtests.variants import Variant
from services.common.urls import redacted

LOCUST_GRACE_S = 60.0  # on top of the plan's duration before a Locust run counts as hung
VARIANT_RUN_OVERHEAD_S = 8.0  # reset, start, health check, Locust start and stop
CEILING_S = ceiling.MEASURE_S + 3.0  # pgbench and a reset, once per scenario

FAIRNESS_NOTES = [
    "Every variant runs pinned to the same service cores with the same shared settings "
    "(pool, timeouts, keep-alive, JSON encoder, access logs off); what a variant changes is "
    "listed below as a difference from the baseline.",
    "Every variant sends the SQL of services/common (queries.py for the ORM modes, sql.py for "
    "raw asyncpg), closes its session before the response is sent, and keeps "
    "expire_on_commit=False.",
    "Inherent differences: gunicorn restarts a worker whose main loop is stuck for 60 s "
    "(uvicorn has no such watchdog); psycopg2's connect timeout is whole seconds.",
]


@dataclass
class RunOptions:
    scenarios: tuple[ScenarioPlan, ...]
    variants: dict[str, Variant]  # every variant the scenarios name
    rounds: int = 1
    locust_processes: int = 1
    out_root: Path = PROJECT_ROOT / "reports"
    profile: str | None = None
    pin: bool = True
    port: int | None = None
    shared: dict[str, Any] = field(default_factory=dict)  # env overrides for every variant
    command: str = ""
    pgbouncer: bool = False
    seed: int | None = None
    cross_check: int | None = None  # users of the wrk-vs-Locust cross-check; None: off
    fault: FaultPlan | None = None  # injected into every variant's run (loadtests/faults.py)
    audit: bool = False  # check every acknowledged write after each run (loadtests/audit.py)
    ceiling: bool = True  # pgbench on the scenario's SQL before the variants run it

    @property
    def variant_names(self) -> list[str]:
        return list(dict.fromkeys(v for s in self.scenarios for v in s.variants))

    def expected_runs(self) -> int:
        return self.rounds * sum(len(s.variants) for s in self.scenarios)

    def estimated_seconds(self) -> float:
        per_round = sum(
            len(s.variants) * (s.plan.total_s + VARIANT_RUN_OVERHEAD_S) for s in self.scenarios
        )
        checked = crosscheck.estimated_seconds(self.cross_check, len(self.variant_names))
        ceilings = len(self.scenarios) * CEILING_S if self.ceiling else 0.0
        return self.rounds * per_round + ceilings + checked


@dataclass
class Run:
    """A run in progress: its directory, its results and what it started."""

    options: RunOptions
    run_dir: Path
    layout: cpu.CpuLayout
    target: database.Target
    services: dict[str, ServiceUnderTest]
    results: RunResults
    seed_spec: dict[str, int]
    bouncer: pgbouncer.PgBouncer | None = None
    started: float = field(default_factory=time.time)

    def save(self) -> None:
        store.write(self.run_dir, self.results)


def run(options: RunOptions) -> Path:
    """Run everything; returns the run directory. Raises SuiteError on bad input."""
    if options.pgbouncer:
        pgbouncer.find_binary()  # a missing PgBouncer stops the run before anything starts
    with database.command_target() as target:
        return _run(options, target)


def _run(options: RunOptions, target: database.Target) -> Path:
    current = None
    try:
        current = _prepare(options, target)
        _execute(current)
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
            _build_reports(current)
    return current.run_dir


def _build_reports(current: Run) -> None:
    """The run's HTML report and the index; a report problem never hides the run's own."""
    from loadtests.report import index_page, run_page

    try:
        page = run_page.build(current.run_dir)
        print(f"report: {page}", flush=True)
        index_page.build(current.options.out_root)
    except Exception as exc:  # results.json is kept, and `report` can rebuild from it
        print(
            f"the HTML report could not be built ({exc}); rebuild it with "
            f"`python -m loadtests report {current.run_dir}`",
            flush=True,
        )


def _prepare(options: RunOptions, target: database.Target) -> Run:
    seed = database.ensure_seeded(target)
    layout = cpu.plan_layout(options.pin)
    # Every variant's settings are checked before anything starts.
    services = {
        name: ServiceUnderTest.prepare(
            options.variants[name], target.url, layout, options.shared, options.port
        )
        for name in options.variant_names
    }
    run_dir = files.new_output_dir(options.out_root, _run_name(options), "locust")
    bouncer = None
    if options.pgbouncer:
        budget = max(s.settings.connection_budget for s in services.values())
        cpus = list(layout.other_cpus) if layout.pinned else None
        bouncer = pgbouncer.start(target.url, budget, run_dir / "logs" / "pgbouncer.log", cpus)
    try:
        return _configure(options, target, layout, services, run_dir, bouncer, seed)
    except BaseException:
        if bouncer is not None:  # not yet owned by a Run: stop it here
            bouncer.stop()
        raise


def _run_name(options: RunOptions) -> str:
    scenarios = [s.scenario for s in options.scenarios]
    label = options.profile if options.profile and len(scenarios) > 1 else "+".join(scenarios)
    return f"{files.stamp()}-{label}" + ("-pgbouncer" if options.pgbouncer else "")


def _configure(
    options: RunOptions,
    target: database.Target,
    layout: cpu.CpuLayout,
    services: dict[str, ServiceUnderTest],
    run_dir: Path,
    bouncer: pgbouncer.PgBouncer | None,
    seed: dict[str, Any],
) -> Run:
    # Every variant gets the database URL it must use (PgBouncer's when on) and the
    # prepared-statement setting that is safe there; ports stay as prepared.
    requested = next(iter(services.values())).settings.statement_cache
    in_force = pgbouncer.resolve_statement_cache(
        requested, bouncer.tracks_prepared if bouncer else None
    )
    url = bouncer.url() if bouncer else target.url
    for name, service in services.items():
        workers = {"WEB_WORKERS": service.settings.workers}
        shared = {**options.shared, "DB_STATEMENT_CACHE": in_force.value, **workers}
        services[name] = ServiceUnderTest.prepare(
            options.variants[name], url, layout, shared, service.settings.port
        )
    described = bouncer.describe() if bouncer else {"enabled": False}
    statement_cache = {"requested": requested.value, "in_force": in_force.value}
    results = _skeleton(options, target, layout, services, run_dir, seed)
    results.pgbouncer = PgBouncerInfo(**described, statement_cache=statement_cache)
    current = Run(options, run_dir, layout, target, services, results, seed["spec"], bouncer)
    current.save()
    return current


def _skeleton(
    options: RunOptions,
    target: database.Target,
    layout: cpu.CpuLayout,
    services: dict[str, ServiceUnderTest],
    run_dir: Path,
    seed: dict[str, Any],
) -> RunResults:
    return RunResults(
        run=RunInfo(
            id=run_dir.name,
            status="running",
            started_at=time.time(),
            finished_at=None,
            duration_s=None,
            profile=options.profile,
            command=options.command,
            scenarios=[s.scenario for s in options.scenarios],
            variants=options.variant_names,
            locust_processes=options.locust_processes,
            rounds=options.rounds,
            fault=options.fault,
            audit=options.audit,
        ),
        environment=Environment(machine=environment.machine(), versions=environment.versions()),
        database=DatabaseInfo(
            kind="embedded" if target.embedded else "external",
            url=redacted(target.url),
            settings=database.server_settings(target.url),
            seed=Seed(spec=seed["spec"], rows=seed["rows"], checksum=seed["checksum"]),
            pinned=bool(target.embedded and layout.pinned),
        ),
        pgbouncer=PgBouncerInfo(enabled=False),
        cpu_layout=CpuLayoutInfo(**layout.to_dict()),
        variants={name: _variant_info(service) for name, service in services.items()},
        fairness=_fairness(services),
        scenarios={
            s.scenario: ScenarioResults(
                description=SCENARIOS[s.scenario].description,
                user_class=SCENARIOS[s.scenario].user_class,
                variants=list(s.variants),
                plan=Plan(
                    steps=list(s.plan.steps),
                    warmup_seconds=s.plan.warmup_s,
                    step_seconds=s.plan.measure_s,
                ),
            )
            for s in options.scenarios
        },
    )


def _variant_info(service: ServiceUnderTest) -> VariantInfo:
    variant = service.variant
    return VariantInfo(
        name=variant.name,
        label=variant.display,
        service=variant.service.value,
        mode=variant.mode.value if variant.mode else None,
        stack=variant.stack,
        description=variant.description,
        antipattern=variant.antipattern,
        builtin=variant.builtin,
        process_model=service.describe(),
        settings=service.values(),
        connection_budget=service.connection_budget(),
    )


def _fairness(services: dict[str, ServiceUnderTest]) -> Fairness:
    """Every setting in which a variant differs from the baseline (the first listed)."""
    baseline_name, *others = services
    baseline = services[baseline_name].values()
    differences = []
    for name in others:
        values = services[name].values()
        for setting in dict.fromkeys([*baseline, *values]):
            if baseline.get(setting) != values.get(setting):
                differences.append(
                    SettingDifference(
                        variant=name,
                        setting=setting,
                        value=values.get(setting),
                        baseline=baseline.get(setting),
                    )
                )
    return Fairness(baseline=baseline_name, differences=differences, notes=FAIRNESS_NOTES)


def run_order(variants: tuple[str, ...], blocks: int, seed: int) -> Iterator[list[str]]:
    """A random order per block, from ``seed``, whose first variant is never the previous
    block's first: no variant always runs first, and none always right after a reset of
    the machine's caches by another."""
    rng = random.Random(seed)
    previous = None
    for _ in range(blocks):
        order = list(variants)
        rng.shuffle(order)
        if len(order) > 1 and order[0] == previous:
            swap = rng.randrange(1, len(order))
            order[0], order[swap] = order[swap], order[0]
        previous = order[0]
        yield order


def _execute(current: Run) -> None:
    options = current.options
    total, done = options.expected_runs(), 0
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    current.results.run.order_seed = seed
    current.results.run.noise_band = noise.current()
    blocks = [(r, s) for r in range(1, options.rounds + 1) for s in options.scenarios]
    orders = {
        s.scenario: run_order(s.variants, options.rounds, seed + index)
        for index, s in enumerate(options.scenarios)
    }
    for round_number, plan in blocks:
        if round_number == 1:
            _measure_ceiling(current, plan)
        order = next(orders[plan.scenario])
        for position, name in enumerate(order, start=1):
            left = options.estimated_seconds() * (total - done) / total
            print(f"\n[{done + 1}/{total}] about {left / 60:.0f} min left in the run", flush=True)
            done += 1
            # Filled in place, so whatever was measured is in the results even if the
            # variant's run is interrupted.
            outcome = VariantRun(
                variant=name, round=round_number, position=position, status="running"
            )
            current.results.scenarios[plan.scenario].runs.append(outcome)
            url = current.target.url
            _run_variant(current, plan, current.services[name], outcome)
            current.save()
            if current.target.url != url:  # a restart could not have its port back
                raise SuiteError(
                    "PostgreSQL came back on another port after the fault (now "
                    f"{current.target.describe()}): the next variants could not reach it"
                )
    _cross_check(current)


def _cross_check(current: Run) -> None:
    """wrk beside Locust, once per variant, after every round (loadtests/crosscheck.py)."""
    if current.options.cross_check is None:
        return
    result = current.results.cross_check = crosscheck.prepared(current.options.cross_check)
    crosscheck.run(
        result, list(current.services.values()), current.target, current.layout,
        current.seed_spec, current.run_dir / "crosscheck",
    )  # fmt: skip
    current.save()


def _measure_ceiling(current: Run, plan: ScenarioPlan) -> None:
    """pgbench on the scenario's SQL, on freshly reset data, before the variants run it."""
    target, layout = current.target, current.layout
    clients = max(current.services[name].connection_budget() for name in plan.variants)
    scripts = ceiling.script_text(plan.scenario)
    binary = ceiling.pgbench_binary(
        Path(target.embedded.bin_dir) if target.embedded else database.client_bin_dir()
    )
    result = current.results.scenarios[plan.scenario]
    skipped = (
        "the run was started with --no-ceiling"
        if not current.options.ceiling
        else "pgbench was not found next to the PostgreSQL binaries"
        if binary is None
        else None
    )
    if skipped:
        result.ceiling = Ceiling(
            tps=None, clients=clients, seconds=0, pinned=False, scripts=scripts, note=skipped
        )
        return
    print(f"\n== {plan.scenario} | database ceiling: pgbench, {clients} connections", flush=True)
    database.reset(target)
    cpus = layout.service_cpus if layout.pinned else None
    with cpu.pinned_to_others(layout, lambda: server_processes(target.embedded)):
        # Straight to PostgreSQL, also in a PgBouncer run: the ceiling is the database alone.
        measured = ceiling.measure(
            binary, target.url, plan.scenario, clients, current.seed_spec, cpus,
            ceiling.seconds_for(plan.plan.measure_s),
        )  # fmt: skip
    note = measured.error
    if note is None and not target.embedded:
        note = "an external server: PostgreSQL was not pinned and its CPU was not measured"
    result.ceiling = Ceiling(
        tps=measured.tps, clients=clients, seconds=measured.seconds,
        pinned=bool(layout.pinned and target.embedded), scripts=scripts, note=note,
    )  # fmt: skip
    done = f"{measured.tps:,.0f} requests/s" if measured.tps else f"not measured ({note})"
    print(f"   PostgreSQL alone: {done}", flush=True)
    current.save()


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
    current: Run, plan: ScenarioPlan, service: ServiceUnderTest, outcome: VariantRun
) -> None:
    layout, target, run_dir = current.layout, current.target, current.run_dir
    tag = _tag(plan.scenario, outcome, current.options.rounds)
    round_text = f" round {outcome.round}" if current.options.rounds > 1 else ""
    print(f"\n== {plan.scenario}{round_text} | {service.label} ({service.describe()})", flush=True)
    outcome.reset_seconds = round(database.reset(target), 3)
    database.reset_statement_stats(target.url)
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

    injector = _injector(current)
    ledger = _ledger_dir(current, plan, tag)

    def postgres() -> list[psutil.Process]:
        # Read each time: a restart (--fault db-restart) replaces the server mid-run.
        return server_processes(current.target.embedded)

    locust = None
    try:
        locust_out = run_dir / "locust" / f"{tag}.json"
        locust = _start_locust(current, plan, service, tag, locust_out, ledger)
        groups = {
            "generator": locust.processes,
            "service": service.processes,
            "database": postgres,
            "suite": _this_process,  # the runner itself, sampling all of this
        }
        if current.bouncer is not None:
            groups["pgbouncer"] = current.bouncer.process.processes
        with (
            cpu.pinned_to_others(layout, postgres),
            cpu.CpuMonitor(groups) as monitor,
            injector or contextlib.nullcontext(),
        ):
            on_window = injector.window if injector else None
            status = _wait_for_locust(locust, plan.plan, run_dir / outcome.locust.log, on_window)
        recorded = json.loads(locust_out.read_text()) if locust_out.exists() else None
        if recorded is None:
            raise SuiteError(f"Locust wrote no statistics ({status}); see {outcome.locust.log}")
        _measured(outcome, recorded, monitor, layout, current.target)
        if injector is not None:
            outcome.fault = injector.result(outcome.timeseries, plan.plan.steps)
            print(f"   {faults.summary(outcome.fault)}", flush=True)
        finished = recorded.get("complete") and status == "finished"
        outcome.status = "complete" if finished else "partial"
        if status != "finished":
            outcome.error = status
    except KeyboardInterrupt:
        _collect_partial(outcome, run_dir / "locust" / f"{tag}.json", layout, current.target)
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
    if ledger is not None:
        _audit(current, outcome, ledger)


def _ledger_dir(current: Run, plan: ScenarioPlan, tag: str) -> Path | None:
    """Where Locust records the writes of this variant's run, when they are audited."""
    if not (current.options.audit and SCENARIOS[plan.scenario].writes):
        return None
    ledger = current.run_dir / "ledger" / tag
    ledger.mkdir(parents=True, exist_ok=True)
    return ledger


def _audit(current: Run, outcome: VariantRun, ledger: Path) -> None:
    """Every acknowledged write against the database, before the next reset."""
    try:
        outcome.audit = audit.audit(current.target, ledger)
    except SuiteError as exc:
        reason = f"the audit could not run: {exc}"
        outcome.error = f"{outcome.error}; {reason}" if outcome.error else reason
        outcome.status = "failed"
        print(f"   {reason}", flush=True)
        return
    print(f"   {audit.summary(outcome.audit)}", flush=True)


def _injector(current: Run) -> faults.Injector | None:
    """The run's fault for one variant's run; a restarted server's new processes are
    pinned like the old ones, and the run follows the server to its new state."""
    fault, embedded = current.options.fault, current.target.embedded
    if fault is None or embedded is None:
        return None

    def back(state: ServerState) -> None:
        current.target = replace(current.target, url=state.url(current.target.name), embedded=state)
        if current.layout.pinned:
            cpu.pin(server_processes(state), current.layout.other_cpus)

    return faults.Injector(fault, embedded, on_back=back)


def _this_process() -> list[psutil.Process]:
    return [psutil.Process()]


def _collect_partial(
    outcome: VariantRun, path: Path, layout: cpu.CpuLayout, target: database.Target
) -> None:
    """After Ctrl-C: keep the steps Locust had finished (it writes them as it goes)."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        _measured(outcome, json.loads(path.read_text()), None, layout, target)
    outcome.status, outcome.error = "partial", "interrupted"


def _measured(
    outcome: VariantRun,
    recorded: dict[str, Any],
    monitor: cpu.CpuMonitor | None,
    layout: cpu.CpuLayout,
    target: database.Target,
) -> None:
    groups = list(monitor.groups) if monitor else []
    outcome.steps = measure.steps(recorded, monitor, layout.placement(groups))
    outcome.timeseries = measure.timeseries(recorded)
    outcome.recorded = measure.recorded_totals(recorded)
    outcome.locust_counts = LocustCounts(**recorded["locust"])
    stats = database.statement_stats(target.url)
    counts = {kind: calls for kind, (calls, _) in stats.items()} if stats else None
    requests = outcome.recorded.requests
    outcome.database_time = measure.database_time(recorded, stats)
    outcome.statements = Statements(
        counts=counts,
        per_request={k: round(v / requests, 3) for k, v in counts.items()}
        if counts and requests
        else None,
    )


def _start_locust(
    current: Run,
    plan: ScenarioPlan,
    service: ServiceUnderTest,
    tag: str,
    out: Path,
    ledger: Path | None,
) -> Supervised:
    options, locust_dir = current.options, current.run_dir / "locust"
    args = generator.headless_args(
        plan.plan, SCENARIOS[plan.scenario].user_class, out,
        "--csv", str(locust_dir / tag), "--html", str(locust_dir / f"{tag}.html"),
        "--run-label", f"{service.variant.name} {plan.scenario}",
        *(["--ledger-dir", str(ledger)] if ledger is not None else []),
    )  # fmt: skip
    layout = current.layout
    return generator.start(
        args,
        service.url,
        current.seed_spec,
        locust_dir / f"{tag}.log",
        layout.other_cpus if layout.pinned else None,
        options.locust_processes,
    )


def _wait_for_locust(
    locust: Supervised,
    plan: StepPlan,
    log: Path,
    on_window: generator.WindowListener | None = None,
) -> str:
    """Forward progress lines until Locust exits. Returns 'finished' or why it did not."""
    deadline = time.monotonic() + plan.total_s + LOCUST_GRACE_S
    offset = 0
    while True:
        offset = generator.forward_progress(log, offset, on_window)
        if not locust.alive():
            generator.forward_progress(log, offset)
            code = locust.popen.returncode
            return (
                "finished" if code == 0 else f"Locust exited with code {code}: {locust.log_tail(3)}"
            )
        if time.monotonic() > deadline:
            locust.stop()
            return f"Locust did not finish within {plan.total_s + LOCUST_GRACE_S:.0f} s"
        time.sleep(0.5)

"""``run``: both services in turn under the same rising load, measured the same way.

For each scenario and each service: reset the database to the seeded state, start the
service pinned to its own cores, wait until it is healthy, run Locust headless with the
rising-concurrency shape on the other cores, then stop the service and everything it
started. The service order alternates between scenarios so neither always goes first.
``results.json`` is rewritten after every service's run; an interrupted run keeps what
was measured, marked partial.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from loadtests import cpu, database, environment, generator, launcher, results
from loadtests.errors import SuiteError
from loadtests.infra import pgbouncer
from loadtests.infra.ports import free_port
from loadtests.infra.postgres import server_processes
from loadtests.infra.processes import Supervised
from loadtests.launcher import ServiceKind
from loadtests.paths import PROJECT_ROOT
from loadtests.plan import SCENARIOS, StepPlan
from loadtests.service_log import failures as service_log_failures
from services.common.settings import ServiceSettings
from services.common.urls import redacted

LOCUST_GRACE_S = 60.0  # on top of the plan's duration before a Locust run counts as hung

# Settings both services must share for a fair comparison (others apply to one only).
SHARED_SETTINGS = (
    "pool_size",
    "max_overflow",
    "pool_timeout",
    "connect_timeout",
    "workers",
    "keepalive",
    "json_encoder",
)


@dataclass
class RunOptions:
    services: list[ServiceKind]
    scenarios: tuple[str, ...]
    plan: StepPlan
    locust_processes: int = 1
    out_root: Path = PROJECT_ROOT / "reports"
    profile: str | None = None
    pin: bool = True
    port: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    pgbouncer: bool = False


@dataclass
class Run:
    """A run in progress: its directory, its results and what it started."""

    options: RunOptions
    run_dir: Path
    layout: cpu.CpuLayout
    target: database.Target
    settings: dict[str, ServiceSettings]
    results: dict[str, Any]
    bouncer: pgbouncer.PgBouncer | None = None
    started: float = field(default_factory=time.time)


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
            current.results["run"]["status"] = "partial"
            current.results["run"]["error"] = "interrupted"
            print("\ninterrupted: everything the run started is stopped; partial results kept")
        raise
    except SuiteError as exc:
        if current is not None:
            current.results["run"]["status"] = "failed"
            current.results["run"]["error"] = str(exc)
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
    database.ensure_seeded(target)
    layout = cpu.plan_layout(options.pin)
    overrides = launcher.with_default_workers(layout, target.url, options.overrides)
    settings = {}
    for service in options.services:
        settings[service.name] = launcher.build_settings(target.url, overrides)
        launcher.check_budget(service, settings[service.name], target.url)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    scenarios = "+".join(options.scenarios)
    label = options.profile if options.profile and len(options.scenarios) > 1 else scenarios
    if options.pgbouncer:
        label += "-pgbouncer"
    run_dir = _new_run_dir(options.out_root, f"{stamp}-{label}")
    bouncer = None
    if options.pgbouncer:
        budget = max(s.connection_budget for s in settings.values())
        cpus = list(layout.other_cpus) if layout.pinned else None
        bouncer = pgbouncer.start(target.url, budget, run_dir / "logs" / "pgbouncer.log", cpus)
    try:
        return _configure(options, target, layout, overrides, settings, run_dir, bouncer)
    except BaseException:
        if bouncer is not None:  # not yet owned by a Run: stop it here
            bouncer.stop()
        raise


def _new_run_dir(out_root: Path, name: str) -> Path:
    """A fresh run directory (a suffix if two runs start in the same second)."""
    for attempt in range(1, 100):
        run_dir = out_root / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            (run_dir / "locust").mkdir(parents=True, exist_ok=False)
            return run_dir
        except FileExistsError:
            continue
        except OSError as exc:
            raise SuiteError(f"cannot create the run directory {run_dir}: {exc.strerror}") from None
    raise SuiteError(f"cannot create a run directory under {out_root}")


def _configure(
    options: RunOptions,
    target: database.Target,
    layout: cpu.CpuLayout,
    overrides: dict[str, Any],
    settings: dict[str, ServiceSettings],
    run_dir: Path,
    bouncer: pgbouncer.PgBouncer | None,
) -> Run:
    # Every service gets its own port, the database URL it must use (PgBouncer's when on)
    # and the prepared-statement setting that is safe there.
    requested = next(iter(settings.values())).statement_cache
    in_force = pgbouncer.resolve_statement_cache(
        requested, bouncer.tracks_prepared if bouncer else None
    )
    url = bouncer.url() if bouncer else target.url
    for service in options.services:
        final = {**overrides, "DB_STATEMENT_CACHE": in_force.value}
        final["WEB_PORT"] = options.port or free_port()
        settings[service.name] = launcher.build_settings(url, final)
    current = Run(options, run_dir, layout, target, settings, {}, bouncer)
    current.results = _skeleton(current)
    described = bouncer.describe() if bouncer else {"enabled": False}
    statement_cache = {"requested": requested.value, "in_force": in_force.value}
    current.results["pgbouncer"] = {**described, "statement_cache": statement_cache}
    results.write(run_dir, current.results)
    return current


def _skeleton(current: Run) -> dict[str, Any]:
    options, target = current.options, current.target
    seed = database.require_seed(target)
    return {
        "schema_version": results.SCHEMA_VERSION,
        "run": {
            "id": current.run_dir.name,
            "status": "running",
            "started_at": current.started,
            "finished_at": None,
            "duration_s": None,
            "profile": options.profile,
            "command": options.command,
            "scenarios": list(options.scenarios),
            "services": [s.name for s in options.services],
            "steps": list(options.plan.steps),
            "warmup_seconds": options.plan.warmup_s,
            "step_seconds": options.plan.measure_s,
            "locust_processes": options.locust_processes,
        },
        "environment": {"machine": environment.machine(), "versions": environment.versions()},
        "database": {
            "kind": "embedded" if target.embedded else "external",
            "url": redacted(target.url),
            "settings": database.server_settings(target.url),
            "seed": {"spec": seed["spec"], "rows": seed["rows"], "checksum": seed["checksum"]},
            "pinned": bool(target.embedded and current.layout.pinned),
        },
        "pgbouncer": {"enabled": False},
        "cpu_layout": current.layout.to_dict(),
        "services": {
            service.name: {
                "label": service.label,
                "stack": service.stack,
                "process_model": service.describe(current.settings[service.name]),
                "settings": service.own_settings(current.settings[service.name]),
            }
            for service in options.services
        },
        "fairness": _fairness(current),
        "scenarios": {
            name: {
                "description": SCENARIOS[name].description,
                "user_class": SCENARIOS[name].user_class,
                "results": {},
            }
            for name in options.scenarios
        },
    }


def _fairness(current: Run) -> dict[str, Any]:
    """Settings that differ between the services: each one is a warning in the report.
    Both services are built from one set of overrides today, so this is a guard for
    per-service settings (tuning sweeps), not something a default run can trigger."""
    differences = []
    names = list(current.settings)
    if len(names) == 2:
        first, second = (launcher.kind(n).own_settings(current.settings[n]) for n in names)
        for key in SHARED_SETTINGS:
            if first.get(key) != second.get(key):
                differences.append(
                    {"setting": key, names[0]: first.get(key), names[1]: second.get(key)}
                )
    return {
        "differences": differences,
        "shared_settings": list(SHARED_SETTINGS),
        "notes": [
            "Flask serves each worker's requests with a thread pool (WEB_THREADS, at most its "
            "connection pool); FastAPI with one event loop per worker.",
            "Both services: access logs off, the same JSON encoder, the same SQL statements "
            "(services/common/queries.py), expire_on_commit=False, sessions closed before the "
            "response is sent, keep-alive and backlog equal.",
            "Inherent differences: gunicorn restarts a worker whose main loop is stuck for 60 s "
            "(uvicorn has no such watchdog); psycopg2's connect timeout is whole seconds; an "
            "unexpected non-database error makes Starlette log a traceback each time, where "
            "Flask logs one line (no scenario triggers one).",
        ],
    }


SERVICE_RUN_OVERHEAD_S = 8.0  # reset, start, health check, Locust start and stop


def _execute(current: Run) -> None:
    options = current.options
    total = len(options.scenarios) * len(options.services)
    done = 0
    for index, scenario in enumerate(options.scenarios):
        order = options.services if index % 2 == 0 else list(reversed(options.services))
        for position, service in enumerate(order):
            left = (total - done) * (options.plan.total_s + SERVICE_RUN_OVERHEAD_S)
            print(f"\n[{done + 1}/{total}] about {left / 60:.0f} min left in the run", flush=True)
            done += 1
            # Filled in place, so whatever was measured is in the results even if the
            # service's run is interrupted.
            outcome: dict[str, Any] = {"status": "running", "order": position + 1}
            current.results["scenarios"][scenario]["results"][service.name] = outcome
            _run_service(current, scenario, service, outcome)
            results.write(current.run_dir, current.results)


def _finish(current: Run) -> None:
    run_meta = current.results["run"]
    outcomes = [
        outcome["status"]
        for scenario in current.results["scenarios"].values()
        for outcome in scenario["results"].values()
    ]
    expected = len(current.options.scenarios) * len(current.options.services)
    if run_meta["status"] == "running":
        complete = len(outcomes) == expected and all(s == "complete" for s in outcomes)
        run_meta["status"] = "complete" if complete else "partial"
    for scenario in current.results["scenarios"].values():
        for outcome in scenario["results"].values():
            if outcome["status"] == "running":
                outcome.update(status="partial", error="interrupted")
    run_meta["finished_at"] = time.time()
    run_meta["duration_s"] = round(run_meta["finished_at"] - current.started, 1)
    results.write(current.run_dir, current.results)


def _run_service(
    current: Run, scenario: str, service: ServiceKind, outcome: dict[str, Any]
) -> None:
    settings = current.settings[service.name]
    layout, target, run_dir = current.layout, current.target, current.run_dir
    tag = f"{scenario}-{service.name}"
    print(f"\n== {scenario} | {service.stack} ({service.describe(settings)})", flush=True)
    reset_s = database.reset(target)
    database.reset_statement_stats(target.url)
    outcome.update(
        error=None,
        reset_seconds=round(reset_s, 3),
        locust={
            "html": f"locust/{tag}.html",
            "csv_prefix": f"locust/{tag}",
            "log": f"locust/{tag}.log",
        },
    )
    service_log = run_dir / "logs" / f"{tag}.log"
    try:
        process = launcher.start(
            service, settings, service_log, layout.service_cpus if layout.pinned else None
        )
    except SuiteError as exc:
        # A service that cannot start stops the run (exit code 2), recorded as failed.
        outcome.update(status="failed", error=str(exc))
        raise

    def postgres() -> list[psutil.Process]:
        return server_processes(target.embedded)

    locust = None
    try:
        locust_out = run_dir / "locust" / f"{tag}.json"
        locust = _start_locust(current, scenario, service, settings, locust_out)
        groups = {"generator": locust.processes, "service": process.processes, "database": postgres}
        if current.bouncer is not None:
            groups["pgbouncer"] = current.bouncer.process.processes
        with cpu.pinned_to_others(layout, postgres), cpu.CpuMonitor(groups) as monitor:
            status = _wait_for_locust(
                locust, current.options.plan, run_dir / outcome["locust"]["log"]
            )
        recorded = json.loads(locust_out.read_text()) if locust_out.exists() else None
        if recorded is None:
            raise SuiteError(
                f"Locust wrote no statistics ({status}); see {outcome['locust']['log']}"
            )
        outcome.update(
            _measurements(recorded, monitor, layout, target),
            status="complete" if recorded.get("complete") and status == "finished" else "partial",
        )
        if status != "finished":
            outcome["error"] = status
    except KeyboardInterrupt:
        _collect_partial(outcome, run_dir, tag, layout, target)
        raise
    except SuiteError as exc:
        outcome.update(status="failed", error=str(exc))
        print(f"   failed: {exc}", flush=True)
    finally:
        try:
            if locust is not None and locust.alive():
                locust.stop()
        finally:
            process.stop()
            outcome["service_failures"] = service_log_failures(service_log)


def _collect_partial(
    outcome: dict[str, Any], run_dir: Path, tag: str, layout: cpu.CpuLayout, target: database.Target
) -> None:
    """After Ctrl-C: keep the steps Locust had finished (it writes them as it goes)."""
    path = run_dir / "locust" / f"{tag}.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        outcome.update(_measurements(json.loads(path.read_text()), None, layout, target))
    outcome.update(status="partial", error="interrupted")


def _measurements(
    recorded: dict[str, Any],
    monitor: cpu.CpuMonitor | None,
    layout: cpu.CpuLayout,
    target: database.Target,
) -> dict[str, Any]:
    steps = results.step_results(recorded, monitor, layout.other_cpus)
    totals = results.recorded_totals(recorded)
    statements = database.statement_counts(target.url)
    requests = totals["requests"]
    return {
        "steps": steps,
        "timeseries": results.timeseries(recorded),
        "recorded": totals,
        "locust_counts": recorded["locust"],
        "statements": {
            "counts": statements,
            "per_request": {k: round(v / requests, 3) for k, v in statements.items()}
            if statements and requests
            else None,
        },
    }


def _start_locust(
    current: Run, scenario: str, service: ServiceKind, settings: ServiceSettings, out: Path
) -> Supervised:
    options, locust_dir = current.options, current.run_dir / "locust"
    tag = f"{scenario}-{service.name}"
    args = [
        "--headless",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--csv",
        str(locust_dir / tag),
        "--html",
        str(locust_dir / f"{tag}.html"),
        "--exit-code-on-error",
        "0",
        *generator.plan_args(options.plan),
        "--results-file",
        str(out),
        "--run-label",
        f"{service.name} {scenario}",
        SCENARIOS[scenario].user_class,
    ]
    layout = current.layout
    return generator.start(
        args,
        settings,
        current.results["database"]["seed"]["spec"],
        locust_dir / f"{tag}.log",
        layout.other_cpus if layout.pinned else None,
        options.locust_processes,
    )


def _wait_for_locust(locust: Supervised, plan: StepPlan, log: Path) -> str:
    """Forward progress lines until Locust exits. Returns 'finished' or why it did not."""
    deadline = time.monotonic() + plan.total_s + LOCUST_GRACE_S
    offset = 0
    while True:
        offset = generator.forward_progress(log, offset)
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

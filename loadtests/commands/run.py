"""``run``: the suite's main job, every variant under the same rising load."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from loadtests.commands import check
from loadtests.commands.generator_options import (
    add_generator_options,
    local_processes,
    remote_workers,
)
from loadtests.commands.service_options import (
    add_settings_options,
    add_variants_option,
    known_variants,
    overrides,
    variant_help,
)
from loadtests.errors import SuiteError
from loadtests.infra import database
from loadtests.infra.ports import check_port
from loadtests.paths import REPORTS_DIR
from loadtests.plan import (
    ARRIVAL_KINDS,
    DEFAULT_MAX_IN_FLIGHT,
    LOAD_MODELS,
    MAX_BLOCKS,
    PROFILES,
    SCENARIOS,
    PlanError,
    ScenarioPlan,
    StepPlan,
    parse_scenarios,
    parse_steps,
    profile,
)
from loadtests.recording.wire import CONNECTIONS
from loadtests.report import crosscheck, index_page, run_page, table
from loadtests.results import regression, store, thresholds
from loadtests.results.models import FaultPlan
from loadtests.run import extras, runner
from loadtests.run.extras import faults
from loadtests.run.extras.crosscheck import MAX_WRK_USERS
from loadtests.run.state import RunOptions
from loadtests.variants import masked, resolve, with_targets


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="run the load test: every variant under rising concurrency, taking turns",
        description=(
            "Start the database (seeding it on first use), then for each scenario: reset the "
            "data, start every variant's service pinned to the service cores, and drive them "
            "with one Locust through rising user counts; at every step the variants take "
            "turns in blocks (each variant one measured window per block, in a random order). "
            "Writes reports/<run>/results.json and the report."
        ),
    )
    names = ", ".join(f"{p.name} ({p.description})" for p in PROFILES.values())
    parser.add_argument("--profile", default="default", help=f"one of: {names}")
    parser.add_argument(
        "--services",
        help="variants, comma-separated; the first is the baseline "
        f"(built in: {variant_help()}; default: the profile's)",
    )
    add_variants_option(parser)
    parser.add_argument(
        "--target",
        action="append",
        metavar="NAME=URL",
        help="drive variant NAME at URL, a service already running that the suite does not "
        "start (repeatable); checked against the baseline before any load",
    )
    parser.add_argument(
        "--scenario",
        help="scenario(s), comma-separated: select-update, get-user, read, write, mixed",
    )
    parser.add_argument("--steps", help="rising user counts, e.g. 10,50,100,200")
    parser.add_argument(
        "--model",
        choices=LOAD_MODELS,
        help="closed (default): users in a loop; open: requests arrive at --rates per second "
        "whatever the answers, timed from their intended start (the profile's: open and "
        "open-smoke are open)",
    )
    parser.add_argument("--rates", help="the open model's rising arrival rates, e.g. 100,300")
    parser.add_argument(
        "--arrivals",
        choices=ARRIVAL_KINDS,
        help="the open model's arrivals: poisson (default) or evenly spaced",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        help=f"the open model's cap on requests in flight (default {DEFAULT_MAX_IN_FLIGHT}); "
        "an arrival beyond it is dropped and counted",
    )
    parser.add_argument(
        "--step-seconds", type=float, help="measured seconds of each variant's window"
    )
    parser.add_argument(
        "--warmup-seconds", type=float, help="unmeasured warm-up of a step's first turn (the ramp)"
    )
    parser.add_argument(
        "--switch-seconds",
        type=float,
        help="unmeasured warm-up after each switch of variant, at no users (default 1; "
        "1 s more per 100 users, at most 5 s)",
    )
    parser.add_argument(
        "--blocks", type=int, help="blocks per step: every variant gets one window in each"
    )
    parser.add_argument(
        "--top-blocks",
        type=int,
        help="blocks at the highest step (default: the profile's; --blocks when that is given)",
    )
    parser.add_argument("--rounds", type=int, help=argparse.SUPPRESS)  # gone: see _plans
    parser.add_argument("--seed", type=int, help="seed of the block orders (default: random)")
    add_generator_options(parser)
    parser.add_argument("--port", type=int, help="the services' port (default: a free one)")
    parser.add_argument("--out", type=Path, default=REPORTS_DIR, help="where run directories go")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--no-ceiling",
        action="store_true",
        help="skip the database's ceiling (pgbench on the scenario's SQL, about 10 s per "
        "scenario); the report then says it was not measured",
    )
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="route every variant through a transaction-mode PgBouncer (PATH or PGBOUNCER_BIN)",
    )
    parser.add_argument(
        "--cross-check",
        metavar="BLOCKS|off",
        help="in the first BLOCKS blocks of each scenario's highest step, every variant also "
        "gets a turn driven by wrk, and the report compares the two generators' figures and "
        "verdicts (default: the profile's; default and full 4, smoke and seeds off)",
    )
    parser.add_argument(
        "--connections",
        choices=CONNECTIONS,
        default="keep-alive",
        help="keep-alive (default): each user, or wrk connection, keeps its connection for "
        "a turn; close: both generators send Connection: close, a new connection per request",
    )
    parser.add_argument(
        "--fault",
        metavar="KIND@STEP",
        help="make the embedded database unavailable in the middle of step STEP (1 = the "
        "first) of every variant's run: "
        + "; ".join(f"{kind}: {what}" for kind, what in faults.KINDS.items()),
    )
    parser.add_argument(
        "--fault-seconds",
        type=float,
        help=f"how long the database is unavailable (default {faults.DEFAULT_SECONDS:g})",
    )
    parser.add_argument(
        "--audit",
        action="store_true",
        help="after each variant's run, check that every acknowledged write (POST /orders, "
        "PATCH /users/{id}) is in the database as acknowledged; scenarios with writes only",
    )
    parser.add_argument(
        "--check",
        type=Path,
        metavar="FILE",
        help="after the run, gate it on these thresholds (TOML, see `check`): exit 1 when "
        "one falls short",
    )
    add_settings_options(parser)
    parser.set_defaults(handler=handle)


def _cross_check(args: argparse.Namespace, plans: tuple[ScenarioPlan, ...]) -> int | None:
    """Blocks with wrk turns, or None. The audit counts every write against its ledger,
    and wrk's writes are in none: with --audit the profile's cross-check is left off."""
    text = args.cross_check
    if (text is None and args.audit) or (text is None and plans[0].plan.open):
        return None
    if plans[0].plan.open and text.strip().lower() != "off":
        raise SuiteError(
            "--cross-check drives wrk, a closed-model generator: it cannot check the open "
            "model (use --cross-check off)"
        )
    if text is None:
        blocks = profile(args.profile).cross_check
    elif text.strip().lower() == "off":
        return None
    else:
        blocks = int(text) if text.strip().isdigit() else 0
        if not 1 <= blocks <= MAX_BLOCKS:
            raise SuiteError(
                f"--cross-check must be a number of blocks from 1 to {MAX_BLOCKS} or off, "
                f"got '{text}'"
            )
    if blocks is None:
        return None
    if args.audit:
        raise SuiteError(
            "--cross-check cannot go with --audit: wrk's writes are in no ledger, so the "
            "audit would call them unexpected (use --cross-check off)"
        )
    for plan in plans:
        if plan.plan.steps[-1] > MAX_WRK_USERS:
            raise SuiteError(
                f"--cross-check: wrk runs a thread per connection, so at most {MAX_WRK_USERS} "
                f"users; {plan.scenario}'s highest step is {plan.plan.steps[-1]} (use "
                "--cross-check off)"
            )
    return blocks


def _plans(args: argparse.Namespace) -> tuple[ScenarioPlan, ...]:
    """The profile's scenario plans with the command line's changes applied."""
    if args.rounds is not None:
        raise PlanError(
            "--rounds is gone: the variants now take turns within every step; "
            "--blocks N sets how many turns each gets"
        )
    chosen = profile(args.profile)
    plans = chosen.scenarios
    if args.scenario is not None:
        template = plans[0]
        plans = tuple(replace(template, scenario=name) for name in parse_scenarios(args.scenario))
    if args.services is not None:
        catalogue = with_targets(known_variants(args), args.target or [])
        names = tuple(v.name for v in resolve(args.services, catalogue))
        plans = tuple(replace(p, variants=names) for p in plans)
    model = args.model or ("open" if any(p.plan.open for p in plans) else "closed")
    if model == "open" and args.steps is not None:
        raise PlanError("the open model's steps are arrival rates: use --rates, not --steps")
    if model == "closed" and args.rates is not None:
        raise PlanError("--rates is the open model's: add --model open (or use --steps)")
    if model == "closed" and (args.arrivals or args.max_in_flight is not None):
        raise PlanError("--arrivals and --max-in-flight are the open model's: add --model open")
    levels = args.rates if model == "open" else args.steps
    given = {
        "model": args.model,
        "arrivals": args.arrivals,
        "max_in_flight": args.max_in_flight,
        "steps": parse_steps(levels) if levels is not None else None,
        "warmup_s": args.warmup_seconds,
        "measure_s": args.step_seconds,
        "switch_s": args.switch_seconds,
        "blocks": args.blocks,
        "top_blocks": args.top_blocks,
    }
    changes = {name: value for name, value in given.items() if value is not None}
    if args.blocks is not None and args.top_blocks is None:
        changes["top_blocks"] = None  # as --help says: the highest step follows --blocks
    return tuple(replace(plan, plan=replace(plan.plan, **changes)) for plan in plans)


def options_from(args: argparse.Namespace) -> RunOptions:
    try:
        plans = _plans(args)
    except PlanError as exc:
        raise SuiteError(str(exc)) from None
    if args.out.exists() and not args.out.is_dir():
        raise SuiteError(f"--out {args.out} exists and is not a directory")
    catalogue = with_targets(known_variants(args), args.target or [])
    for plan in plans:
        resolve(",".join(plan.variants), catalogue)  # a profile naming an unknown variant
    return RunOptions(
        scenarios=plans,
        variants=catalogue,
        locust_processes=local_processes(args),
        out_root=args.out.resolve(),
        profile=args.profile,
        pin=not args.no_pin,
        port=args.port,
        shared=overrides(args),
        pgbouncer=args.pgbouncer,
        command=masked(shlex.join(["python", "-m", "loadtests", *sys.argv[1:]])),
        seed=args.seed,
        cross_check=_cross_check(args, plans),
        connections=args.connections,
        fault=_fault(args, plans),
        audit=_audit(args.audit, plans),
        ceiling=not args.no_ceiling,
        remote=remote_workers(args),
    )


def _fault(args: argparse.Namespace, plans: tuple[ScenarioPlan, ...]) -> FaultPlan | None:
    fault = faults.parse(args.fault, args.fault_seconds, [p.plan for p in plans])
    if fault is not None and database.external_url():
        raise SuiteError(
            "--fault needs the embedded PostgreSQL: the suite freezes or restarts only a "
            "server it started (unset DATABASE_URL)"
        )
    return fault


def _audit(wanted: bool, plans: tuple[ScenarioPlan, ...]) -> bool:
    if wanted and not any(SCENARIOS[p.scenario].writes for p in plans):
        with_writes = ", ".join(name for name, info in SCENARIOS.items() if info.writes)
        raise SuiteError(f"--audit needs a scenario with writes ({with_writes})")
    return wanted


def _top(steps: StepPlan) -> str:
    top = steps.blocks_at(steps.steps[-1])
    return f" ({top} at {steps.steps[-1]} {steps.level_unit})" if top != steps.blocks else ""


def build_reports(run_dir: Path) -> None:
    """The run's HTML report and the index; a report problem never hides the run's own."""
    try:
        page = run_page.build(run_dir)
        print(f"report: {page}", flush=True)
        index_page.build(run_dir.parent)
    except Exception as exc:  # results.json is kept, and `report` can rebuild from it
        print(
            f"the HTML report could not be built ({exc}); rebuild it with "
            f"`python -m loadtests report {run_dir}`",
            flush=True,
        )


def handle(args: argparse.Namespace) -> int:
    options = options_from(args)
    rules = thresholds.load(args.check) if args.check else None  # bad syntax: before the run
    if args.port is not None:
        check_port(args.port, "--port")
    for plan in options.scenarios:
        steps = plan.plan
        print(
            f"{plan.scenario}: {', '.join(plan.variants)}; steps "
            f"{','.join(map(str, steps.steps))} {steps.level_unit}"
            + (
                f" ({steps.arrivals} arrivals, at most {steps.max_in_flight} in flight)"
                if steps.open
                else ""
            )
            + f"; {steps.blocks} blocks per step"
            f"{_top(steps)}, each "
            f"variant's turn a warm-up of {steps.switch_for(steps.steps[0]):g}-"
            f"{steps.switch_for(steps.steps[-1]):g} s + {steps.measure_s:g} s measured "
            f"({steps.warmup_s:g} s for a step's first turn)",
            flush=True,
        )
    beside = extras.enabled(options)
    for notice in (extra.announce() for extra in beside):
        if notice:
            print(notice, flush=True)
    if options.remote is not None:
        remote = options.remote
        print(
            f"Locust is the master at {remote.bind_host}:{remote.bind_port}: waiting up to "
            f"{remote.timeout_s:g} s for {remote.expected} worker(s) at each scenario's start "
            f"(`python -m loadtests worker --master {remote.bind_host}:{remote.bind_port}`)",
            flush=True,
        )
    minutes = runner.estimated_seconds(options, beside) / 60
    print(f"about {minutes:.0f} min in all", flush=True)
    run_dir = runner.run(options, finished=build_reports)
    data = store.load(run_dir)
    print(table.render(data))
    for line in crosscheck.summary(data):
        print(line)
    where = run_dir / store.FILENAME
    print(f"\nresults: {where}  ({data.run.status}, {data.run.duration_s:.0f} s)")
    audits = [s.audit for s in data.scenarios.values() if s.audit is not None]
    if any(not found.ok for found in audits):
        print("the audit found lost, duplicated or unexpected writes: see the report", flush=True)
        return 1
    if rules is not None:
        verdict = check.verdict(data, rules, None, regression.TOLERANCES)
        if check.report(verdict, data, None, None) != 0:
            return 1
    return 0 if data.run.status == "complete" else 1

"""``run``: the suite's main job, both services under the same rising load."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from loadtests import launcher, results, runner, table
from loadtests.commands.service_options import add_settings_options, overrides
from loadtests.errors import SuiteError
from loadtests.infra.ports import check_port
from loadtests.paths import REPORTS_DIR
from loadtests.plan import PROFILES, PlanError, StepPlan, parse_scenarios, parse_steps, profile


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="run the load test: both services in turn under rising concurrency",
        description=(
            "Start the database (seeding it on first use), then for each scenario and "
            "service: reset the data, start the service pinned to its own cores, drive it "
            "with Locust through rising user counts, and write reports/<run>/results.json."
        ),
    )
    names = ", ".join(f"{p.name} ({p.description})" for p in PROFILES.values())
    parser.add_argument("--profile", default="default", help=f"one of: {names}")
    parser.add_argument(
        "--services", default="flask,fastapi", help="comma-separated (default both)"
    )
    parser.add_argument(
        "--scenario", help="scenario(s), comma-separated: select-update, read, write, mixed"
    )
    parser.add_argument("--steps", help="rising user counts, e.g. 10,50,100,200")
    parser.add_argument("--step-seconds", type=float, help="measured seconds per step")
    parser.add_argument("--warmup-seconds", type=float, help="unmeasured warm-up seconds per step")
    parser.add_argument(
        "--workers", type=int, default=1, help="Locust processes generating load (default 1)"
    )
    parser.add_argument("--port", type=int, help="the services' port (default: a free one)")
    parser.add_argument("--out", type=Path, default=REPORTS_DIR, help="where run directories go")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="route both services through a transaction-mode PgBouncer (PATH or PGBOUNCER_BIN)",
    )
    add_settings_options(parser, renamed={"--workers": "--service-workers"})
    parser.set_defaults(handler=handle)


def options_from(args: argparse.Namespace) -> runner.RunOptions:
    try:
        chosen = profile(args.profile)
        scenarios = (
            parse_scenarios(args.scenario) if args.scenario is not None else chosen.scenarios
        )
        plan = StepPlan(
            steps=parse_steps(args.steps) if args.steps is not None else chosen.plan.steps,
            warmup_s=args.warmup_seconds
            if args.warmup_seconds is not None
            else chosen.plan.warmup_s,
            measure_s=args.step_seconds if args.step_seconds is not None else chosen.plan.measure_s,
        )
    except PlanError as exc:
        raise SuiteError(str(exc)) from None
    if not 1 <= args.workers <= 32:
        raise SuiteError(f"--workers must be between 1 and 32, got {args.workers}")
    if args.out.exists() and not args.out.is_dir():
        raise SuiteError(f"--out {args.out} exists and is not a directory")
    return runner.RunOptions(
        services=launcher.parse_services(args.services),
        scenarios=scenarios,
        plan=plan,
        locust_processes=args.workers,
        out_root=args.out.resolve(),
        profile=args.profile,
        pin=not args.no_pin,
        port=args.port,
        overrides=overrides(args),
        pgbouncer=args.pgbouncer,
        command=shlex.join(["python", "-m", "loadtests", *sys.argv[1:]]),
    )


def handle(args: argparse.Namespace) -> int:
    options = options_from(args)
    if args.port is not None:
        check_port(args.port, "--port")
    minutes = len(options.scenarios) * len(options.services) * options.plan.total_s / 60
    plan, services = options.plan, ", ".join(s.name for s in options.services)
    print(
        f"running {', '.join(options.scenarios)} on {services}: steps "
        f"{','.join(map(str, plan.steps))} users, {plan.warmup_s:g} s warm-up + "
        f"{plan.measure_s:g} s measured each (about {minutes:.0f} min)",
        flush=True,
    )
    run_dir = runner.run(options)
    data = results.load(run_dir)
    print(table.render(data))
    run_meta = data["run"]
    where = run_dir / results.FILENAME
    print(f"\nresults: {where}  ({run_meta['status']}, {run_meta['duration_s']:.0f} s)")
    return 0 if data["run"]["status"] == "complete" else 1

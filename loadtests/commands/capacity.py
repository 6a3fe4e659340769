"""``capacity``: each variant's highest arrival rate within a latency target, with an
interval (the search: ``loadtests/run/capacity.py``; README, "Capacity at a latency
target")."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from loadtests.commands.generator_options import add_local_option, local_processes
from loadtests.commands.run import build_reports
from loadtests.commands.service_options import (
    add_settings_options,
    add_variants_option,
    known_variants,
    overrides,
    variant_help,
)
from loadtests.errors import SuiteError
from loadtests.infra.ports import check_port
from loadtests.paths import REPORTS_DIR
from loadtests.plan import (
    ARRIVAL_KINDS,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_VARIANTS,
    MAX_BLOCKS,
    PlanError,
    StepPlan,
    parse_scenarios,
    parse_steps,
)
from loadtests.report import capacity_page, fmt, index_page
from loadtests.results import capacity
from loadtests.results.capacity import CapacityResults, Phase
from loadtests.run.capacity import CONFIRM_BLOCKS, EXTEND, CapacityOptions, search
from loadtests.variants import masked, resolve

DEFAULT_SLO = "p99=250ms"
DEFAULT_RAMP = "225,340,500,750,1125"
MAX_ROUNDS = 6
MAX_EXTEND = 10


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "capacity",
        help="each variant's highest arrival rate within a latency target, with an interval",
        description=(
            "The open model against every variant: a coarse ramp of arrival rates, then a "
            "bisection of each variant's bracket, then the bracket measured again in blocks. "
            "Capacity is the highest rate at which the SLO's percentile (timed from each "
            "request's intended start) is within the SLO and errors plus dropped arrivals "
            "stay under --max-errors. Writes reports/<time>-capacity-<scenario>/ with "
            "capacity.json, its report and every probe run."
        ),
    )
    parser.add_argument(
        "--slo",
        default=DEFAULT_SLO,
        help=f"the latency target: p50, p95, p99 or p99.9 = a limit in ms or s "
        f"(default {DEFAULT_SLO})",
    )
    parser.add_argument(
        "--max-errors",
        default="1%",
        help="errors plus dropped arrivals must stay under this share (default 1%%)",
    )
    parser.add_argument("--scenario", default="select-update", help="one scenario")
    parser.add_argument(
        "--services",
        help=f"variants, comma-separated; the first is the baseline (built in: "
        f"{variant_help()}; default: {','.join(DEFAULT_VARIANTS)})",
    )
    add_variants_option(parser)
    parser.add_argument(
        "--ramp", default=DEFAULT_RAMP, help=f"the coarse ramp's rates (default {DEFAULT_RAMP})"
    )
    parser.add_argument(
        "--extend",
        type=int,
        default=EXTEND,
        help="runs past the ramp's ends at most, at its own ratio, for a variant within (or "
        f"beyond) the target at every ramp rate (default {EXTEND}; 0: none)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="bisection rounds after the ramp (default 2)"
    )
    parser.add_argument(
        "--confirm-blocks",
        type=int,
        default=CONFIRM_BLOCKS,
        help="blocks of the confirmation run: each variant's bracket's ends and middle "
        f"measured this many times (default {CONFIRM_BLOCKS})",
    )
    parser.add_argument(
        "--step-seconds", type=float, default=4.0, help="each probe's measured seconds"
    )
    parser.add_argument(
        "--warmup-seconds", type=float, default=4.0, help="a probe run's first warm-up"
    )
    parser.add_argument("--arrivals", choices=ARRIVAL_KINDS, default="poisson")
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=DEFAULT_MAX_IN_FLIGHT,
        help=f"requests in flight at most (default {DEFAULT_MAX_IN_FLIGHT}); an arrival "
        "beyond it is dropped and counts as a failure",
    )
    parser.add_argument("--seed", type=int, help="seed of the block orders")
    add_local_option(parser)
    parser.add_argument("--port", type=int, help="the services' port (default: a free one)")
    parser.add_argument("--out", type=Path, default=REPORTS_DIR, help="where results go")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    add_settings_options(parser)
    parser.set_defaults(handler=handle)


def options_from(args: argparse.Namespace) -> CapacityOptions:
    slo = capacity.parse_slo(args.slo)
    max_errors = capacity.parse_max_errors(args.max_errors)
    try:
        scenarios = parse_scenarios(args.scenario)
        ramp = parse_steps(args.ramp)
    except PlanError as exc:
        raise SuiteError(str(exc).replace("steps", "--ramp", 1)) from None
    if len(scenarios) != 1:
        raise SuiteError("capacity measures one scenario at a time: give one --scenario")
    if len(ramp) < 2:
        raise SuiteError("--ramp needs at least two rates, to bracket a capacity")
    if not 0 <= args.extend <= MAX_EXTEND:
        raise SuiteError(f"--extend must be between 0 and {MAX_EXTEND}, got {args.extend}")
    if not 0 <= args.rounds <= MAX_ROUNDS:
        raise SuiteError(f"--rounds must be between 0 and {MAX_ROUNDS}, got {args.rounds}")
    if not 1 <= args.confirm_blocks <= MAX_BLOCKS:
        raise SuiteError(
            f"--confirm-blocks must be between 1 and {MAX_BLOCKS}, got {args.confirm_blocks}"
        )
    workers = local_processes(args)
    if args.out.exists() and not args.out.is_dir():
        raise SuiteError(f"--out {args.out} exists and is not a directory")
    catalogue = known_variants(args)
    chosen = resolve(args.services or ",".join(DEFAULT_VARIANTS), catalogue)
    try:  # the plan's own checks: windows, rates and the cap
        StepPlan(
            ramp, args.warmup_seconds, args.step_seconds, model="open",
            max_in_flight=args.max_in_flight,
        )  # fmt: skip
    except PlanError as exc:
        raise SuiteError(str(exc)) from None
    return CapacityOptions(
        scenario=scenarios[0], variants=tuple(v.name for v in chosen), catalogue=catalogue,
        slo=slo, max_errors=max_errors, ramp=ramp, rounds=args.rounds, extend=args.extend,
        confirm_blocks=args.confirm_blocks, measure_s=args.step_seconds,
        warmup_s=args.warmup_seconds, arrivals=args.arrivals, max_in_flight=args.max_in_flight,
        workers=workers, out_root=args.out.resolve(), pin=not args.no_pin, port=args.port,
        shared=overrides(args), seed=args.seed,
        command=masked(shlex.join(["python", "-m", "loadtests", *sys.argv[1:]])),
    )  # fmt: skip


def table(found: CapacityResults) -> str:
    """Every variant's probes so far, one line per rate, and its estimate."""
    lines = []
    for variant in found.variants:
        label = found.labels[variant]
        rates: dict[int, list[capacity.Probe]] = {}
        for probe in found.probes:
            if probe.variant == variant:
                rates.setdefault(probe.rate, []).append(probe)
        cells = []
        for rate, probes in sorted(rates.items()):
            p = max(pr.latency_ms[found.slo.field] for pr in probes)
            verdict = "ok" if all(pr.within for pr in probes) else "OVER"
            cells.append(f"{rate}: {fmt.ms(p)} {verdict}")
        lines.append(f"  {label:<24} " + " | ".join(cells))
        if variant in found.estimates:
            lines.append(f"  {'':<24} -> {capacity_page.figure(found.estimates[variant])}")
    return "\n".join(lines)


def _progress(found: CapacityResults, phase: Phase) -> None:
    print(
        f"\n--- capacity after the {phase} ({len(found.runs)} run"
        f"{'s' if len(found.runs) != 1 else ''}): {found.slo.percentile} per rate, "
        f"worst probe\n{table(found)}",
        flush=True,
    )


def handle(args: argparse.Namespace) -> int:
    options = options_from(args)
    if args.port is not None:
        check_port(args.port, "--port")
    print(
        f"capacity of {', '.join(options.variants)} on {options.scenario} at "
        f"{options.slo.label}, errors + dropped under {options.max_errors:.1%}; ramp "
        f"{','.join(map(str, options.ramp))} req/s"
        + (f" (up to {options.extend} more past its ends where needed)" if options.extend else "")
        + f", {options.rounds} bisection rounds, "
        f"{options.confirm_blocks} confirmation blocks; about "
        f"{options.estimated_seconds() / 60:.0f} min",
        flush=True,
    )
    directory: Path | None = None

    def page(where: Path) -> None:
        nonlocal directory
        directory = where

    try:
        directory = search(options, finished=build_reports, progress=_progress, started=page)
    finally:
        if directory is not None:
            _report(directory)
    found = capacity.load(directory)
    print(f"\n{capacity_page.headline(found)}")
    for line in capacity_page.differences(found):
        print(line)
    print(f"\ncapacity: {directory / capacity.FILENAME}  ({found.status}, {found.duration_s} s)")
    return 0 if found.status == "complete" else 1


def _report(directory: Path) -> None:
    try:
        print(f"report: {capacity_page.build(directory)}", flush=True)
        index_page.build(directory.parent)
    except Exception as exc:  # capacity.json is kept whatever the page does
        print(f"the capacity report could not be built ({exc})", flush=True)

"""``overhead BASE OTHER``: what one variant costs against another, measured with both
running at the same time on the same cores (see loadtests/overhead.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from loadtests import files
from loadtests.commands.service_options import add_variants_option, known_variants
from loadtests.errors import SuiteError
from loadtests.paths import REPORTS_DIR
from loadtests.plan import PlanError, parse_scenarios
from loadtests.run import overhead
from loadtests.variants import resolve


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "overhead",
        help="the cost of a setting: two variants at the same time on the same cores",
        description=(
            "Run BASE and OTHER simultaneously, pinned to the same service cores, each driven "
            "by its own Locust at the same user count, several times; print OTHER's "
            "throughput relative to BASE's with a 95% confidence interval. The CPU's drift "
            "between runs cancels out, so costs of a few percent become measurable. Define "
            "OTHER in a --variants file, e.g. with settings = { SERVER_TIMING = 'off' }."
        ),
    )
    parser.add_argument("base", help="the variant the cost is measured against")
    parser.add_argument("other", help="the variant whose cost is measured")
    add_variants_option(parser)
    parser.add_argument("--scenario", default="select-update", help="default select-update")
    parser.add_argument("--users", type=int, default=50, help="users per variant (default 50)")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per run")
    parser.add_argument("--repeat", type=int, default=6, help="simultaneous runs (default 6)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    base, other = resolve(f"{args.base},{args.other}", known_variants(args))
    try:
        (scenario,) = parse_scenarios(args.scenario)
    except (PlanError, ValueError):
        raise SuiteError(f"--scenario takes one scenario, got '{args.scenario}'") from None
    if not 2 <= args.repeat <= 50:
        raise SuiteError(f"--repeat must be between 2 and 50, got {args.repeat}")
    if not 1 <= args.users <= 1000:
        raise SuiteError(f"--users must be between 1 and 1000, got {args.users}")
    if not 3 <= args.seconds <= 600:
        raise SuiteError(f"--seconds must be between 3 and 600, got {args.seconds:g}")
    work = REPORTS_DIR / f"overhead-{files.stamp()}"
    print(f"{other.name} against {base.name}, at the same time on the same cores: "
          f"{args.repeat} runs of {scenario} at {args.users} users each", flush=True)  # fmt: skip
    result = overhead.run(base, other, scenario, args.users, args.seconds, args.repeat, work)
    print(overhead.describe(result))
    print(f"details: {Path(work) / 'overhead.json'}")
    return 0
